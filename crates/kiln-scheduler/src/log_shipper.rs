//! Ships a running build's log into the store, so that every replica serves the same bytes.
//!
//! The runner writes `<data-dir>/logs/<uuid>.log` as fast as it can (see kiln-runner's
//! `build/log.rs`); the shipper tails that file from the side and stores what it finds as
//! pieces of at most [`MAX_LOG_CHUNK_BYTES`] at their byte offsets. While output flows it reads
//! again at once; when the file has nothing new it looks again after [`IDLE_PAUSE`]. Once the
//! build is complete ([`LogShipper::finish`]) it stores the rest, and only then is the build's
//! final state saved: a reader that sees a complete build finds its whole log.
//!
//! The stored copy takes disk space too when the store is on the data dir's disk (SQLite), so
//! the shipper keeps to the data dir's reserve as the runner does: below it, pieces wait; if
//! space has not come back when the build is complete, the stored log ends with a line saying
//! why (the file keeps the rest).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kiln_runner::disk::{DiskFull, DiskReserve};
use kiln_store::{MAX_LOG_CHUNK_BYTES, Store, StoreError};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long the shipper waits before looking at a log that had nothing new: what a follower on
/// another replica may lag behind, at worst, for a quiet build.
const IDLE_PAUSE: Duration = Duration::from_millis(50);
/// Pauses between tries while the store cannot write (a full disk, a lost connection).
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(2);

/// The shipper of one build's log.
pub struct LogShipper {
    /// Cancelled once the build is complete: its log file no longer grows.
    complete: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl LogShipper {
    /// Starts shipping the log file at `path` of build `uuid`, from what the store already
    /// holds of it, while `disk_reserve` allows. Retries while the store is
    /// unavailable, until `give_up` is cancelled.
    pub fn start(
        store: Arc<dyn Store>,
        uuid: String,
        path: PathBuf,
        disk_reserve: DiskReserve,
        give_up: CancellationToken,
    ) -> Self {
        let complete = CancellationToken::new();
        let tail = Tail {
            store,
            uuid,
            path,
            disk_reserve,
            complete: complete.clone(),
            give_up,
        };
        LogShipper {
            complete,
            task: Some(tokio::spawn(tail.ship())),
        }
    }

    /// The build is complete: stores what is left of its log, and returns once it is stored
    /// (or cannot be).
    pub async fn finish(&mut self) {
        self.complete.cancel();
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "the log shipper failed");
        }
    }
}

impl Drop for LogShipper {
    fn drop(&mut self) {
        // Not finished (the build's task failed): the shipper still stores the rest, then ends.
        self.complete.cancel();
    }
}

struct Tail {
    store: Arc<dyn Store>,
    uuid: String,
    path: PathBuf,
    disk_reserve: DiskReserve,
    complete: CancellationToken,
    give_up: CancellationToken,
}

impl Tail {
    async fn ship(self) {
        let Some(mut offset) = self.retrying(|| self.store.log_size(&self.uuid)).await else {
            return;
        };
        let mut file = None;
        // The next piece to store, once read: it waits there while the disk is short of space.
        let mut piece = Vec::with_capacity(MAX_LOG_CHUNK_BYTES);
        loop {
            // Looked at before the file is read: once the build is complete the file stops
            // growing, so a read after that which finds nothing new has found the end.
            let completed = self.complete.is_cancelled();
            if piece.is_empty()
                && let Err(e) = read_piece(&self.path, &mut file, offset, &mut piece).await
            {
                tracing::error!(build = %self.uuid, error = %e, "cannot read the build's log file");
                file = None;
                piece.clear();
            }
            let short_of_space = self.disk_reserve.check().err();
            match (piece.is_empty(), short_of_space) {
                (true, _) if completed => return,
                (false, Some(full)) if completed => return self.end_short(offset, &full).await,
                (true, _) | (false, Some(_)) => {
                    tokio::select! {
                        () = self.complete.cancelled() => {}
                        () = tokio::time::sleep(IDLE_PAUSE) => {}
                    }
                    continue;
                }
                (false, None) => {}
            }
            let stored = self
                .retrying(|| self.store.append_log(&self.uuid, offset, &piece))
                .await;
            if stored.is_none() {
                return;
            }
            offset += piece.len() as u64;
            piece.clear();
        }
    }

    /// Ends the stored log at `offset` with a line saying why the rest is not stored.
    async fn end_short(&self, offset: u64, full: &DiskFull) {
        let notice = kiln_runner::build::stamped(&format!(
            "The rest of the build log is not stored: {full}"
        ));
        tracing::warn!(build = %self.uuid, "{full}: the rest of the build's log is not stored");
        let _ = self
            .retrying(|| self.store.append_log(&self.uuid, offset, notice.as_bytes()))
            .await;
    }

    /// Runs a store call until it succeeds or fails for good; `None` then (logged, except for
    /// a deleted build, whose log no one reads).
    async fn retrying<T, F>(&self, call: impl Fn() -> F) -> Option<T>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        let mut pause = FIRST_RETRY;
        loop {
            match call().await {
                Ok(value) => return Some(value),
                Err(StoreError::NotFound) => return None,
                Err(e) if e.is_unavailable() && !self.give_up.is_cancelled() => {
                    tracing::warn!(build = %self.uuid, error = %e, "cannot store the build's log yet; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(LAST_RETRY);
                }
                Err(e) => {
                    tracing::error!(build = %self.uuid, error = %e, "cannot store the build's log");
                    return None;
                }
            }
        }
    }
}

/// Reads the next piece of the log (at most [`MAX_LOG_CHUNK_BYTES`], from `offset`) into
/// `piece`; empty when there is nothing new, or no file yet.
async fn read_piece(
    path: &std::path::Path,
    file: &mut Option<tokio::fs::File>,
    offset: u64,
    piece: &mut Vec<u8>,
) -> std::io::Result<()> {
    piece.clear();
    let file = match file {
        Some(file) => file,
        None => {
            let mut opened = match tokio::fs::File::open(path).await {
                Ok(opened) => opened,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            };
            opened.seek(std::io::SeekFrom::Start(offset)).await?;
            file.insert(opened)
        }
    };
    let limit = MAX_LOG_CHUNK_BYTES as u64;
    // Reads that reach the end return 0; later ones see what was appended since.
    (&mut *file).take(limit).read_to_end(piece).await?;
    Ok(())
}
