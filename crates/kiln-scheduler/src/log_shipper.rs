//! Gets a running build's log into the store, so that every replica serves the same bytes.
//!
//! The runner writes the log file as fast as it can (see kiln-runner's `build/log.rs`). Where
//! the store keeps logs as files ([`Store::log_file`], SQLite), that file is the store's own:
//! nothing is copied, and the shipper only announces new bytes ([`Store::log_grew`]) for live
//! followers. Otherwise (PostgreSQL) the runner writes a spool file in `<data-dir>/logs/`, and
//! the shipper tails it from the side and stores what it finds as pieces of at most
//! [`MAX_LOG_CHUNK_BYTES`] at their byte offsets. While output flows it reads again at once;
//! when the file has nothing new it looks again after [`IDLE_PAUSE`]. Once the build is
//! complete ([`LogShipper::finish`]) it stores the rest and removes the spool, and only then is
//! the build's final state saved: a reader that sees a complete build finds its whole log.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kiln_store::{MAX_LOG_CHUNK_BYTES, Store, StoreError};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long the shipper waits before looking at a log that had nothing new: what a follower
/// (on another replica, or of a file-kept log) may lag behind, at worst, for a quiet build.
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
    /// Starts on the log file at `path` of build `uuid` (the store's own file, or the spool to
    /// ship from what the store already holds of it). Retries while the store is unavailable,
    /// until `give_up` is cancelled.
    pub fn start(
        store: Arc<dyn Store>,
        uuid: String,
        path: PathBuf,
        give_up: CancellationToken,
    ) -> Self {
        let complete = CancellationToken::new();
        let tail = Tail {
            kept_by_store: store.log_file(&uuid).as_ref() == Some(&path),
            store,
            uuid,
            path,
            complete: complete.clone(),
            give_up,
        };
        LogShipper {
            complete,
            task: Some(tokio::spawn(tail.run())),
        }
    }

    /// Stores the rest of the log, now that the build is complete.
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
        self.complete.cancel();
    }
}

struct Tail {
    store: Arc<dyn Store>,
    uuid: String,
    path: PathBuf,
    /// The file is the store's own: announce, do not copy.
    kept_by_store: bool,
    complete: CancellationToken,
    give_up: CancellationToken,
}

impl Tail {
    async fn run(self) {
        if self.kept_by_store {
            self.announce().await;
        } else if self.ship().await {
            // Everything is stored (or the build is gone): the spool has served.
            if let Err(e) = tokio::fs::remove_file(&self.path).await
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(build = %self.uuid, error = %e, "cannot remove the log spool");
            }
        }
    }

    /// Announces each growth of a log the store keeps as this very file.
    async fn announce(&self) {
        let mut announced = 0;
        loop {
            let completed = self.complete.is_cancelled();
            let size = tokio::fs::metadata(&self.path)
                .await
                .map_or(0, |meta| meta.len());
            if size > announced {
                self.store.log_grew(&self.uuid);
                announced = size;
            }
            if completed {
                return;
            }
            tokio::select! {
                () = self.complete.cancelled() => {}
                () = tokio::time::sleep(IDLE_PAUSE) => {}
            }
        }
    }

    /// Copies the spool into the store; true once all of it is stored or the build is gone,
    /// false when the store kept failing until the shipper gave up (the spool stays, for the
    /// next start's recovery to ship).
    async fn ship(&self) -> bool {
        let mut offset = match self.retrying(|| self.store.log_size(&self.uuid)).await {
            Ok(size) => size,
            Err(ended) => return ended == Ended::BuildGone,
        };
        let mut file = None;
        let mut piece = Vec::with_capacity(MAX_LOG_CHUNK_BYTES);
        loop {
            let completed = self.complete.is_cancelled();
            if piece.is_empty()
                && let Err(e) = read_piece(&self.path, &mut file, offset, &mut piece).await
            {
                tracing::error!(build = %self.uuid, error = %e, "cannot read the build's log file");
                file = None;
                piece.clear();
            }
            if piece.is_empty() {
                if completed {
                    return true;
                }
                tokio::select! {
                    () = self.complete.cancelled() => {}
                    () = tokio::time::sleep(IDLE_PAUSE) => {}
                }
                continue;
            }
            let stored = self
                .retrying(|| self.store.append_log(&self.uuid, offset, &piece))
                .await;
            if let Err(ended) = stored {
                return ended == Ended::BuildGone;
            }
            offset += piece.len() as u64;
            piece.clear();
        }
    }

    async fn retrying<T, F>(&self, call: impl Fn() -> F) -> Result<T, Ended>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        let mut pause = FIRST_RETRY;
        loop {
            match call().await {
                Ok(value) => return Ok(value),
                Err(StoreError::NotFound) => return Err(Ended::BuildGone),
                Err(e) if e.is_unavailable() && !self.give_up.is_cancelled() => {
                    tracing::warn!(build = %self.uuid, error = %e, "cannot store the build's log yet; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(LAST_RETRY);
                }
                Err(e) => {
                    tracing::error!(build = %self.uuid, error = %e, "cannot store the build's log");
                    return Err(Ended::StoreFailed);
                }
            }
        }
    }
}

/// Why shipping stopped before the end.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The build was deleted: nothing more is wanted.
    BuildGone,
    /// The store kept failing (or Kiln is stopping): the spool keeps what is not stored.
    StoreFailed,
}

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
