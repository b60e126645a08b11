//! Ships a build's log from the agent's spool file to the server in sequenced chunks. Each
//! chunk starts where the server said its stored log ends, so after a dropped connection the
//! next chunk resends what did not arrive: no gap, and no line twice. A chunk goes as an LZ4
//! block when the server takes them and it saves bytes (`kiln_domain::agent::log_chunk`).

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kiln_domain::agent::{MAX_LOG_CHUNK_BYTES, log_chunk};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::client::{CallError, LogChunk, ServerClient, kinds};

/// How often the spool is looked at while the build runs.
const POLL: Duration = Duration::from_millis(200);
/// The longest pause between retries while the server cannot be reached.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);

pub struct LogUploader {
    finish: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl LogUploader {
    /// Starts shipping `spool`, the log of build `uuid`, its chunks compressed when `lz4`
    /// (the server takes LZ4 blocks). `lost` is cancelled when the agent no longer holds the
    /// build; shipping then stops.
    pub fn start(
        client: Arc<ServerClient>,
        uuid: String,
        spool: PathBuf,
        lz4: bool,
        lost: CancellationToken,
    ) -> Self {
        let (finish, finishing) = watch::channel(false);
        let task = tokio::spawn(ship(client, uuid, spool, lz4, finishing, lost));
        LogUploader { finish, task }
    }

    /// Ships what is left and returns once the server has the whole spool, or the build is
    /// no longer the agent's.
    pub async fn finish(self) {
        let _ = self.finish.send(true);
        let _ = self.task.await;
    }
}

async fn ship(
    client: Arc<ServerClient>,
    uuid: String,
    spool: PathBuf,
    lz4: bool,
    mut finishing: watch::Receiver<bool>,
    lost: CancellationToken,
) {
    let mut stored = 0u64;
    let mut pause = POLL;
    loop {
        if lost.is_cancelled() {
            return;
        }
        let finish = *finishing.borrow();
        let chunk = match read_chunk(&spool, stored, lz4).await {
            Ok(chunk) => chunk,
            Err(e) => {
                tracing::warn!(build = %uuid, error = %e, "cannot read the build's log spool");
                None
            }
        };
        let Some(chunk) = chunk else {
            if finish {
                return;
            }
            tokio::select! {
                _ = finishing.changed() => {}
                () = tokio::time::sleep(POLL) => {}
                () = lost.cancelled() => return,
            }
            continue;
        };
        match client.log(&uuid, stored, chunk).await {
            Ok(size) => {
                stored = size;
                pause = POLL;
            }
            Err(e) if e.is(kinds::NOT_HELD) => {
                tracing::warn!(build = %uuid, "the build is no longer this agent's; its log stops here");
                return;
            }
            Err(CallError::Refused { kind, message }) => {
                // A refusal (a log past its limit) will not go away: the rest is dropped.
                tracing::error!(build = %uuid, %kind, %message, "the server refused the log");
                return;
            }
            Err(e @ CallError::Unreachable(_)) => {
                tracing::warn!(build = %uuid, error = %e, "cannot ship the log yet; retrying");
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = lost.cancelled() => return,
                }
                pause = (pause * 2).min(MAX_RETRY_PAUSE);
            }
        }
    }
}

/// Up to one chunk of the spool from `offset`, compressed when `lz4` and worth it; `None` when
/// there is nothing new.
async fn read_chunk(
    spool: &std::path::Path,
    offset: u64,
    lz4: bool,
) -> std::io::Result<Option<LogChunk>> {
    let spool = spool.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut file = match std::fs::File::open(&spool) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        file.seek(SeekFrom::Start(offset))?;
        let mut raw = Vec::with_capacity(MAX_LOG_CHUNK_BYTES);
        file.take(MAX_LOG_CHUNK_BYTES as u64)
            .read_to_end(&mut raw)?;
        if raw.is_empty() {
            return Ok(None);
        }
        let block = if lz4 { log_chunk::compress(&raw) } else { None };
        Ok(Some(block.map_or(LogChunk::Raw(raw), LogChunk::Lz4)))
    })
    .await
    .map_err(std::io::Error::other)?
}
