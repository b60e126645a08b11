//! What every backend's log storage shares: packing a piece for the store, and joining stored
//! pieces into the bytes a reader asked for.
//!
//! A piece is stored as an LZ4 block (`lz4_flex`, the raw length in its first four bytes,
//! little-endian). Build output compresses several times over, and LZ4 packs hundreds of MB/s,
//! so the stored copy keeps up with a loud build where raw bytes would not: the database writes
//! a fraction of what the build printed.

use crate::{MAX_LOG_CHUNK_BYTES, StoreError, StoreResult};

/// A piece of a log as a backend stores it.
pub fn pack_log_piece(data: &[u8]) -> Vec<u8> {
    lz4_flex::compress_prepend_size(data)
}

/// A stored piece's bytes, checked against `raw_length` (what the backend recorded beside it).
pub fn unpack_log_piece(stored: &[u8], raw_length: u64) -> StoreResult<Vec<u8>> {
    let corrupt = |why: &str| StoreError::Corrupt(format!("log piece: {why}"));
    let (length, block) =
        lz4_flex::block::uncompressed_size(stored).map_err(|e| corrupt(&e.to_string()))?;
    // The length comes from the database: never allocate more than a piece can hold.
    if length > MAX_LOG_CHUNK_BYTES || length as u64 != raw_length {
        return Err(corrupt("length does not match"));
    }
    lz4_flex::block::decompress(block, length).map_err(|e| corrupt(&e.to_string()))
}

/// A log read from stored rows (`start_offset`, `raw_length`, packed data), in order of start,
/// the first starting at or before `offset`: the bytes `offset..offset + max_bytes` that follow
/// without a gap.
pub fn read_stored_pieces(
    rows: Vec<(i64, i64, Vec<u8>)>,
    offset: u64,
    max_bytes: usize,
) -> StoreResult<Vec<u8>> {
    let mut pieces = Vec::with_capacity(rows.len());
    for (start, raw_length, data) in rows {
        let (Ok(start), Ok(raw_length)) = (u64::try_from(start), u64::try_from(raw_length)) else {
            return Err(StoreError::Corrupt(format!(
                "log piece at offset {start} of {raw_length} bytes"
            )));
        };
        pieces.push((start, unpack_log_piece(&data, raw_length)?));
    }
    let pieces = pieces.iter().map(|(start, data)| (*start, data.as_slice()));
    Ok(join_log_pieces(pieces, offset, max_bytes))
}

/// The bytes `offset..offset + max_bytes` out of `pieces` (start offset and data, in order of
/// start, the first starting at or before `offset`). Stops at a gap, so a reader never gets
/// bytes that do not follow the ones before them.
pub fn join_log_pieces<'a>(
    pieces: impl IntoIterator<Item = (u64, &'a [u8])>,
    offset: u64,
    max_bytes: usize,
) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut position = offset;
    for (start, data) in pieces {
        let wanted = max_bytes - bytes.len();
        if wanted == 0 || start > position {
            break;
        }
        let skip = usize::try_from(position - start).unwrap_or(usize::MAX);
        let Some(rest) = data.get(skip..) else {
            continue;
        };
        let taken = &rest[..rest.len().min(wanted)];
        bytes.extend_from_slice(taken);
        position += taken.len() as u64;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::{join_log_pieces, pack_log_piece, unpack_log_piece};

    #[test]
    fn pieces_unpack_to_what_was_packed_and_refuse_what_was_not() {
        let text = b"[Container] 2026/11/30 12:00:00 Running command make\n".repeat(500);
        let packed = pack_log_piece(&text);
        assert!(packed.len() * 10 < text.len(), "a log compresses");
        assert_eq!(unpack_log_piece(&packed, text.len() as u64).unwrap(), text);
        assert_eq!(unpack_log_piece(&pack_log_piece(b""), 0).unwrap(), b"");
        assert!(unpack_log_piece(&packed, 1).is_err(), "another length");
        assert!(unpack_log_piece(&packed[..packed.len() - 3], text.len() as u64).is_err());
        assert!(
            unpack_log_piece(b"\xff\xff\xff\x7fxx", 0x7fff_ffff).is_err(),
            "no huge alloc"
        );
    }

    const PIECES: [(u64, &[u8]); 3] = [(0, b"abc"), (3, b"defg"), (7, b"h")];

    #[test]
    fn reads_cross_pieces_from_any_offset() {
        assert_eq!(join_log_pieces(PIECES, 0, 100), b"abcdefgh");
        assert_eq!(join_log_pieces(PIECES, 2, 3), b"cde");
        assert_eq!(join_log_pieces(PIECES, 3, 4), b"defg");
        assert_eq!(join_log_pieces(PIECES, 5, 100), b"fgh");
        assert_eq!(join_log_pieces(PIECES, 8, 100), b"");
        assert_eq!(join_log_pieces(PIECES, 1, 0), b"");
    }

    #[test]
    fn a_gap_ends_the_read() {
        let pieces: [(u64, &[u8]); 2] = [(0, b"ab"), (5, b"xy")];
        assert_eq!(join_log_pieces(pieces, 1, 100), b"b");
        assert_eq!(join_log_pieces(pieces, 3, 100), b"");
    }
}
