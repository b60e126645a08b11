//! What every backend's log read shares: joining stored pieces into the bytes a reader asked
//! for.

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
    use super::join_log_pieces;

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
