//! How a log chunk travels from the agent (`POST /builds/{uuid}/log`): raw, or, when the server
//! offers it at registration, as an LZ4 block (`lz4_flex`) after its raw length as 4 bytes
//! little-endian, announced by `Content-Encoding: lz4-block`. Build output is mostly text that
//! LZ4 shrinks several times for little CPU, so the agent reads back, and both sides move
//! through the socket, far fewer bytes. Offsets stay those of the raw log.

use super::MAX_LOG_CHUNK_BYTES;

/// The `Content-Encoding` of a compressed log chunk, and its name in
/// [`super::Registered::log_encodings`].
pub const LZ4_BLOCK: &str = "lz4-block";

/// `raw` as an LZ4 block, when that saves at least an eighth of it; `None` means: send it raw.
pub fn compress(raw: &[u8]) -> Option<Vec<u8>> {
    let block = lz4_flex::block::compress_prepend_size(raw);
    (block.len() <= raw.len() - raw.len() / 8).then_some(block)
}

/// The raw chunk of an LZ4 block: at most [`MAX_LOG_CHUNK_BYTES`], whatever the block claims,
/// and exactly as long as it claims.
pub fn decompress(block: &[u8]) -> Result<Vec<u8>, String> {
    let (length, compressed) = lz4_flex::block::uncompressed_size(block)
        .map_err(|_| "the LZ4 log chunk has no length".to_owned())?;
    if length > MAX_LOG_CHUNK_BYTES {
        return Err(format!(
            "the LZ4 log chunk claims {length} bytes; a log chunk is at most {MAX_LOG_CHUNK_BYTES}"
        ));
    }
    let mut raw = vec![0; length];
    let written = lz4_flex::block::decompress_into(compressed, &mut raw)
        .map_err(|e| format!("the log chunk is not a valid LZ4 block: {e}"))?;
    if written != length {
        return Err(format!(
            "the LZ4 log chunk holds {written} bytes but claims {length}"
        ));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(len: usize) -> Vec<u8> {
        b"[Container] 2026/12/01 05:00:00 Running command make\n"
            .iter()
            .copied()
            .cycle()
            .take(len)
            .collect()
    }

    #[test]
    fn text_round_trips_smaller() {
        for raw in [text(1), text(100), text(MAX_LOG_CHUNK_BYTES)] {
            match compress(&raw) {
                Some(block) => {
                    assert!(block.len() < raw.len());
                    assert_eq!(decompress(&block).unwrap(), raw);
                }
                None => assert!(raw.len() < 16, "{} bytes not compressed", raw.len()),
            }
        }
        assert_eq!(compress(b""), None);
    }

    #[test]
    fn incompressible_bytes_are_sent_raw() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..64 * 1024)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        assert_eq!(compress(&noise), None);
    }

    #[test]
    fn a_bomb_claiming_more_than_a_chunk_is_refused_before_any_allocation() {
        let mut bomb = ((MAX_LOG_CHUNK_BYTES + 1) as u32).to_le_bytes().to_vec();
        bomb.extend_from_slice(&lz4_flex::block::compress(&vec![b'a'; 1 << 20]));
        assert!(decompress(&bomb).unwrap_err().contains("at most"));
        let mut huge = u32::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(&[0x1f, b'a', 0xff, 0xff, 0xff, 0xff]);
        assert!(decompress(&huge).is_err());
    }

    #[test]
    fn a_block_holding_more_than_it_claims_is_refused() {
        // 1 MiB of output behind a claim of 1 KiB: decoding stops at the claimed length.
        let mut liar = 1024u32.to_le_bytes().to_vec();
        liar.extend_from_slice(&lz4_flex::block::compress(&vec![b'a'; 1 << 20]));
        assert!(decompress(&liar).is_err());
    }

    #[test]
    fn truncated_and_garbage_blocks_are_refused() {
        let block = compress(&text(1 << 20)).unwrap();
        for cut in [0, 1, 3, 4, 5, block.len() / 2, block.len() - 1] {
            assert!(decompress(&block[..cut]).is_err(), "cut at {cut}");
        }
        // A claim longer than what the block holds.
        let mut short = ((1u32 << 20) + 10).to_le_bytes().to_vec();
        short.extend_from_slice(&block[4..]);
        assert!(decompress(&short).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_body_is_decoded_or_refused_without_panic(
            claim in 0u32..=(MAX_LOG_CHUNK_BYTES as u32),
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
        ) {
            let mut block = claim.to_le_bytes().to_vec();
            block.extend_from_slice(&body);
            if let Ok(raw) = decompress(&block) {
                proptest::prop_assert_eq!(raw.len(), claim as usize);
            }
        }
    }
}
