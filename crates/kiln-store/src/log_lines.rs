//! Line numbers of a build's log, found without reading the log before them (docs/console.md,
//! "The build log"). The store keeps a *line mark* per whole block of [`LINE_MARK_BLOCK`]
//! bytes: how many line breaks the log holds before the block's end. A line's number is then
//! the mark before its block plus the breaks counted in at most one block, and a line is found
//! by a binary search over the marks and one block's read.
//!
//! Logs are append-only, so a mark never changes once its block is whole: any reader, on any
//! replica, adds the marks that are missing, and two readers adding the same mark agree.

use crate::{Store, StoreResult};

/// The bytes one line mark covers.
pub const LINE_MARK_BLOCK: u64 = 64 * 1024;
/// How many blocks one read takes while marks are added (4 MiB): few reads for a long log.
const BLOCKS_PER_READ: u64 = 64;

/// How many line breaks `bytes` holds.
pub fn line_breaks(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// Where the `nth` line break of `bytes` (from 1) is, if it holds that many.
fn nth_line_break(bytes: &[u8], nth: u64) -> Option<usize> {
    let skip = usize::try_from(nth.checked_sub(1)?).ok()?;
    bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(skip)
        .map(|(at, _)| at)
}

/// The line marks of one build's log, complete for the whole blocks it held when loaded.
#[derive(Debug)]
pub struct LineMarks {
    uuid: String,
    /// Entry `i`: the line breaks in the log's first `(i + 1) * LINE_MARK_BLOCK` bytes.
    marks: Vec<u64>,
}

impl LineMarks {
    /// The stored marks of build `uuid`'s log, with those of the whole blocks of its first
    /// `size` bytes that were missing added (and stored for every later reader).
    pub async fn load(store: &dyn Store, uuid: &str, size: u64) -> StoreResult<LineMarks> {
        let mut marks = store.log_line_marks(uuid).await?;
        let whole_blocks = size / LINE_MARK_BLOCK;
        let known = marks.len() as u64;
        if known < whole_blocks {
            let mut added = Vec::new();
            let mut breaks = marks.last().copied().unwrap_or(0);
            let mut block = known;
            while block < whole_blocks {
                let blocks = (whole_blocks - block).min(BLOCKS_PER_READ);
                let wanted = usize::try_from(blocks * LINE_MARK_BLOCK).unwrap_or(usize::MAX);
                let bytes = store
                    .read_log(uuid, block * LINE_MARK_BLOCK, wanted)
                    .await?;
                // Only whole blocks are marked: a log shorter than `size` stops here.
                for chunk in bytes.chunks_exact(LINE_MARK_BLOCK as usize) {
                    breaks += line_breaks(chunk);
                    added.push(breaks);
                }
                if bytes.len() < wanted {
                    break;
                }
                block += blocks;
            }
            store.add_log_line_marks(uuid, known, &added).await?;
            marks.extend(added);
        }
        Ok(LineMarks {
            uuid: uuid.to_owned(),
            marks,
        })
    }

    /// The last marked block at or before `block`, as (line breaks before its start, its
    /// start offset).
    fn before_block(&self, block: usize) -> (u64, u64) {
        let block = block.min(self.marks.len());
        match block.checked_sub(1) {
            Some(previous) => (self.marks[previous], block as u64 * LINE_MARK_BLOCK),
            None => (0, 0),
        }
    }

    /// The number (from 1) of the line that holds byte `offset`: reads at most one block.
    pub async fn line_at(&self, store: &dyn Store, offset: u64) -> StoreResult<u64> {
        let block = usize::try_from(offset / LINE_MARK_BLOCK).unwrap_or(usize::MAX);
        let (breaks, from) = self.before_block(block);
        let wanted = usize::try_from(offset - from).unwrap_or(usize::MAX);
        let bytes = store.read_log(&self.uuid, from, wanted).await?;
        Ok(1 + breaks + line_breaks(&bytes))
    }

    /// Where line `number` (from 1) starts; `None` when the log does not reach it (or its
    /// start is past the blocks marked and the block after them).
    pub async fn line_start(&self, store: &dyn Store, number: u64) -> StoreResult<Option<u64>> {
        let Some(breaks) = number.checked_sub(1) else {
            return Ok(None);
        };
        if breaks == 0 {
            return Ok(Some(0));
        }
        // The first block whose end comes after the line break that ends the line before.
        let block = self.marks.partition_point(|&m| m < breaks);
        let (before, from) = self.before_block(block);
        let bytes = store
            .read_log(&self.uuid, from, LINE_MARK_BLOCK as usize)
            .await?;
        Ok(nth_line_break(&bytes, breaks - before).map(|at| from + at as u64 + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::{line_breaks, nth_line_break};

    #[test]
    fn line_breaks_are_counted_and_found() {
        let text = b"a\nbb\n\nccc";
        assert_eq!(line_breaks(text), 3);
        assert_eq!(line_breaks(b""), 0);
        assert_eq!(nth_line_break(text, 1), Some(1));
        assert_eq!(nth_line_break(text, 2), Some(4));
        assert_eq!(nth_line_break(text, 3), Some(5));
        assert_eq!(nth_line_break(text, 4), None);
        assert_eq!(nth_line_break(text, 0), None);
    }
}
