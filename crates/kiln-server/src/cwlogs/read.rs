//! Reading events out of a stored build log a piece at a time: never the whole log (it may
//! be hundreds of MB), and never more than [`MAX_SCAN_BYTES`] for one request.

use kiln_domain::ApiError;
use kiln_domain::build::BuildRecord;
use kiln_store::{MAX_LOG_CHUNK_BYTES, Store};

use super::events::{Event, Splitter, last_kiln_time};
use crate::api::store_failure;

/// Most bytes of log one request reads; a reader past it gets the events found so far and a
/// token where it stopped (CloudWatch too may answer a page with few or no events).
pub const MAX_SCAN_BYTES: u64 = 16 * 1024 * 1024;
/// How far back a page that reads backwards looks.
pub const BACKWARD_WINDOW: u64 = 1024 * 1024;
/// How far back the time of a Kiln line is looked for; past it, a line takes the build's start.
pub const TIME_LOOKBACK: u64 = 1024 * 1024;
/// CloudWatch's limit on one page: 10,000 events or 1 MB of messages.
pub const MAX_EVENTS: usize = 10_000;
pub const MAX_PAGE_BYTES: usize = 1024 * 1024;

/// A build's log as it stands at the start of a request.
pub struct StoredLog<'a> {
    pub store: &'a dyn Store,
    pub build: &'a BuildRecord,
    /// Bytes stored when the request came in: nothing past it is read.
    pub size: u64,
}

/// What one forward read found.
pub struct Scan {
    pub events: Vec<Event>,
    /// Where the next read starts: past the last event taken (or skipped by the filter).
    pub end: u64,
    /// Whether the read reached the end of the stored log.
    pub reached_end: bool,
}

impl<'a> StoredLog<'a> {
    pub async fn open(store: &'a dyn Store, build: &'a BuildRecord) -> Result<Self, ApiError> {
        let size = store.log_size(&build.uuid).await.map_err(store_failure)?;
        Ok(StoredLog { store, build, size })
    }

    async fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, ApiError> {
        let len = usize::try_from(len.min(self.size.saturating_sub(offset))).unwrap_or(0);
        let mut bytes = Vec::with_capacity(len);
        while bytes.len() < len {
            let at = offset + bytes.len() as u64;
            let want = (len - bytes.len()).min(MAX_LOG_CHUNK_BYTES);
            let piece = self
                .store
                .read_log(&self.build.uuid, at, want)
                .await
                .map_err(store_failure)?;
            if piece.is_empty() {
                break;
            }
            bytes.extend_from_slice(&piece);
        }
        Ok(bytes)
    }

    fn start_millis(&self) -> i64 {
        (self.build.start_time * 1000.0) as i64
    }

    /// The time of the nearest Kiln line before `offset`, else the build's start.
    async fn time_before(&self, offset: u64) -> Result<i64, ApiError> {
        for lookback in [64 * 1024, TIME_LOOKBACK] {
            let from = offset.saturating_sub(lookback);
            let bytes = self.read(from, offset - from).await?;
            if let Some(at) = last_kiln_time(&bytes, from) {
                return Ok(at);
            }
            if from == 0 {
                break;
            }
        }
        Ok(self.start_millis())
    }

    /// Whether the stored bytes are the whole log for good: a partial last line is an event.
    fn final_size(&self) -> bool {
        self.build.is_complete()
    }

    /// Events from `from` on, while `keep` says an event is wanted, up to `max_events` /
    /// [`MAX_PAGE_BYTES`] of wanted events and `scan_budget` bytes read.
    pub async fn forward(
        &self,
        from: u64,
        max_events: usize,
        scan_budget: u64,
        keep: &(dyn Fn(&Event) -> bool + Sync),
    ) -> Result<Scan, ApiError> {
        let mut splitter = Splitter::new(from, self.time_before(from).await?);
        let mut events = Vec::new();
        let mut page_bytes = 0;
        let mut buffer: Vec<u8> = Vec::new();
        let mut read_to = from;
        loop {
            let at_end = read_to >= self.size;
            let mut used = 0;
            while let Some((taken, event)) =
                splitter.next(&buffer[used..], at_end && self.final_size())
            {
                if let Some(event) = event.filter(|e| keep(e)) {
                    if events.len() >= max_events
                        || page_bytes + event.message.len() > MAX_PAGE_BYTES
                    {
                        // Not taken: the next read starts with it.
                        splitter.position = event.start;
                        return Ok(Scan {
                            events,
                            end: splitter.position,
                            reached_end: false,
                        });
                    }
                    page_bytes += event.message.len();
                    events.push(event);
                }
                used += taken;
            }
            buffer.drain(..used);
            if at_end || read_to - from >= scan_budget {
                return Ok(Scan {
                    events,
                    end: splitter.position,
                    reached_end: at_end,
                });
            }
            let piece = self.read(read_to, MAX_LOG_CHUNK_BYTES as u64).await?;
            if piece.is_empty() {
                // Stored bytes that cannot be read (the build was deleted meanwhile).
                return Ok(Scan {
                    events,
                    end: splitter.position,
                    reached_end: true,
                });
            }
            read_to += piece.len() as u64;
            buffer.extend_from_slice(&piece);
        }
    }

    /// The last events that end at `to` (a boundary between events, or the end of the stored
    /// log), up to `max_events` / [`MAX_PAGE_BYTES`], looking back at most
    /// [`BACKWARD_WINDOW`]; and where the page starts.
    pub async fn backward(
        &self,
        to: u64,
        max_events: usize,
        keep: &(dyn Fn(&Event) -> bool + Sync),
    ) -> Result<(Vec<Event>, u64, u64), ApiError> {
        let to = to.min(self.size);
        let from = to.saturating_sub(BACKWARD_WINDOW);
        let bytes = self.read(from, to - from).await?;
        // The first whole line of the window (a longer line starts at the window's edge).
        let skip = if from == 0 {
            0
        } else {
            bytes.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1)
        };
        let start = from + skip as u64;
        let mut splitter = Splitter::new(start, self.time_before(start).await?);
        // `to` is a boundary unless it is the end of a log that still grows.
        let at_end = to < self.size || self.final_size();
        let mut all = Vec::new();
        let mut rest = &bytes[skip..];
        while let Some((taken, event)) = splitter.next(rest, at_end) {
            all.extend(event.filter(|e| keep(e)));
            rest = &rest[taken..];
        }
        let mut page_bytes = 0;
        let mut first = all.len();
        while first > 0
            && all.len() - first < max_events
            && page_bytes + all[first - 1].message.len() <= MAX_PAGE_BYTES
        {
            page_bytes += all[first - 1].message.len();
            first -= 1;
        }
        let events = all.split_off(first);
        let page_start = match (first, events.first()) {
            (1.., Some(event)) => event.start,
            _ => start,
        };
        Ok((events, page_start, splitter.position))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed step fails the test.
mod tests {
    use std::sync::Arc;

    use kiln_domain::build::{BuildStatus, PhaseContext};
    use kiln_store_conformance::fixtures::{ACCOUNT, project, queued_build};
    use kiln_store_sqlite::SqliteStore;

    use super::*;

    /// A stored log of about 1.6 MiB (several pieces, more than one backward window): Kiln
    /// lines, output lines, empty lines, and a last line without its newline.
    async fn stored(dir: &std::path::Path) -> (Arc<dyn Store>, BuildRecord, Vec<u8>) {
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.join("kiln.db")).await.unwrap());
        store
            .create_project(&project(ACCOUNT, "p", 1.0))
            .await
            .unwrap();
        let mut build = queued_build(ACCOUNT, "p", 1, None);
        store.insert_build(&mut build, 0.0).await.unwrap();
        let mut log = Vec::new();
        for i in 0..60_000 {
            if i % 100 == 0 {
                let second = i / 100 % 60;
                log.extend(
                    format!("[Container] 2026/11/30 12:00:{second:02}.000000 step {i}\n").bytes(),
                );
            } else if i % 7 == 0 {
                log.push(b'\n');
            } else {
                log.extend(format!("output line {i}\n").bytes());
            }
        }
        log.extend(b"partial");
        let mut offset = 0;
        for piece in log.chunks(MAX_LOG_CHUNK_BYTES) {
            store.append_log(&build.uuid, offset, piece).await.unwrap();
            offset += piece.len() as u64;
        }
        (store, build, log)
    }

    fn reference(log: &[u8], at_end: bool, start: i64) -> Vec<Event> {
        let mut splitter = Splitter::new(0, start);
        let mut events = Vec::new();
        let mut rest = log;
        while let Some((taken, event)) = splitter.next(rest, at_end) {
            events.extend(event);
            rest = &rest[taken..];
        }
        events
    }

    #[tokio::test]
    async fn forward_and_backward_pages_cover_every_event_once() {
        let dir = tempfile::tempdir().unwrap();
        let (store, mut build, bytes) = stored(dir.path()).await;
        let all = |_: &Event| true;
        for complete in [false, true] {
            if complete {
                build.abort(
                    BuildStatus::Failed,
                    PhaseContext::ok(),
                    build.start_time + 1.0,
                );
            }
            let log = StoredLog::open(store.as_ref(), &build).await.unwrap();
            let expected = reference(&bytes, complete, (build.start_time * 1000.0) as i64);
            assert_eq!(expected.last().unwrap().message == "partial", complete);

            let mut forward = Vec::new();
            let mut from = 0;
            loop {
                let scan = log.forward(from, 2000, MAX_SCAN_BYTES, &all).await.unwrap();
                forward.extend(scan.events);
                if scan.end == from {
                    break;
                }
                from = scan.end;
            }
            assert_eq!(forward, expected, "forward, complete: {complete}");

            let mut pages = Vec::new();
            let mut to = log.size;
            loop {
                let (events, start, _) = log.backward(to, 2000, &all).await.unwrap();
                pages.push(events);
                if start == to {
                    break;
                }
                to = start;
            }
            let backward: Vec<Event> = pages.into_iter().rev().flatten().collect();
            assert_eq!(backward, expected, "backward, complete: {complete}");
        }
    }
}
