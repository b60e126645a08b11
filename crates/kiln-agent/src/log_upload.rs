//! Ships a build's log from the agent's spool file to the server. Each request streams the
//! spool from where the server said its stored log ends, reading on while the build writes
//! more, so reading, sending and the server's writing overlap; it ends at the spool's end (once
//! no more comes for a moment, or the build is over) or after [`MAX_REQUEST_BYTES`] or
//! [`MAX_REQUEST_TIME`], and its answer is the server's stored size. After a dropped
//! connection the next request resends from the last size heard: the server skips what it
//! already has, so no gap, and no line twice.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::client::{CallError, ServerClient, kinds};

/// How often the spool is looked at while the build runs and nothing is being sent.
const POLL: Duration = Duration::from_millis(200);
/// How long a request waits at the spool's end for more output, while the build runs, before
/// it ends.
const LINGER: Duration = Duration::from_millis(100);
/// How often the spool's end is looked at while a request lingers.
const LINGER_POLL: Duration = Duration::from_millis(5);
/// How long a piece short of [`READ_BYTES`] waits at the spool's end for more before it is sent.
const GATHER: Duration = Duration::from_millis(20);
/// The most a request carries, and the longest it reads on: its answer then comes soon, and a
/// cut connection costs at most that much sent again.
const MAX_REQUEST_BYTES: u64 = 64 * 1024 * 1024;
const MAX_REQUEST_TIME: Duration = Duration::from_secs(5);
/// The most read from the spool at once: one piece of the request's body.
const READ_BYTES: usize = 1024 * 1024;
/// Pieces read ahead of the connection.
const READ_AHEAD: usize = 2;
/// The longest pause between retries while the server cannot be reached.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);

pub struct LogUploader {
    finish: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl LogUploader {
    /// Starts shipping `spool`, the log of build `uuid`. `lost` is cancelled when the agent no
    /// longer holds the build; shipping then stops.
    pub fn start(
        client: Arc<ServerClient>,
        uuid: String,
        spool: PathBuf,
        lost: CancellationToken,
    ) -> Self {
        let (finish, finishing) = watch::channel(false);
        let task = tokio::spawn(ship(client, uuid, spool, finishing, lost));
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
        let size = match spool_size(&spool).await {
            Ok(size) => size,
            Err(e) => {
                tracing::warn!(build = %uuid, error = %e, "cannot read the build's log spool");
                0
            }
        };
        if size <= stored {
            if finish {
                return;
            }
            tokio::select! {
                _ = finishing.changed() => {}
                () = tokio::time::sleep(POLL) => {}
                () = lost.cancelled() => return,
            }
            continue;
        }
        let (body, reader) = spool_body(spool.clone(), stored, finishing.clone());
        let sent = client.log(&uuid, stored, body).await;
        // The reader ends with the body; an error reading the spool is as if it ended there.
        let unreadable = match reader.await {
            Ok(Ok(())) => false,
            Ok(Err(e)) => {
                tracing::warn!(build = %uuid, error = %e, "cannot read the build's log spool");
                true
            }
            Err(e) => {
                tracing::warn!(build = %uuid, error = %e, "the log spool's reader failed");
                true
            }
        };
        match sent {
            Ok(size) => {
                stored = size;
                pause = POLL;
                if unreadable {
                    if finish {
                        return;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(POLL) => {}
                        () = lost.cancelled() => return,
                    }
                }
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

/// The spool's length; 0 before the runner made it.
async fn spool_size(spool: &Path) -> std::io::Result<u64> {
    match tokio::fs::metadata(spool).await {
        Ok(meta) => Ok(meta.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

/// A request body of the spool from `offset`, read on a blocking thread as it is sent; and that
/// thread, which says whether the spool could be read. The body always ends cleanly: the
/// server's answer then says how much it stored.
fn spool_body(
    spool: PathBuf,
    offset: u64,
    finishing: watch::Receiver<bool>,
) -> (reqwest::Body, JoinHandle<std::io::Result<()>>) {
    let (pieces, received) = mpsc::channel::<Bytes>(READ_AHEAD);
    let reader =
        tokio::task::spawn_blocking(move || read_spool(&spool, offset, &finishing, &pieces));
    let body = futures::stream::unfold(received, |mut received| async move {
        let piece = received.recv().await?;
        Some((Ok::<_, std::io::Error>(piece), received))
    });
    (reqwest::Body::wrap_stream(body), reader)
}

/// Sends the spool's bytes from `offset` as pieces, reading on while the build writes more (see
/// the module's comment for where it stops). A piece is sent full ([`READ_BYTES`]), or once
/// the spool has had nothing new for [`GATHER`]: a loud build's log goes in few large pieces,
/// a quiet one's lines without waiting for more.
fn read_spool(
    spool: &Path,
    offset: u64,
    finishing: &watch::Receiver<bool>,
    pieces: &mpsc::Sender<Bytes>,
) -> std::io::Result<()> {
    let started = Instant::now();
    let mut file = std::fs::File::open(spool)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut left = MAX_REQUEST_BYTES;
    let mut piece = Vec::with_capacity(READ_BYTES);
    let mut idle_since: Option<Instant> = None;
    loop {
        let room = (READ_BYTES - piece.len()) as u64;
        let read = match (&mut file).take(room.min(left)).read_to_end(&mut piece) {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        left -= read as u64;
        let done = left == 0 || started.elapsed() >= MAX_REQUEST_TIME;
        if read > 0 {
            idle_since = None;
        }
        let idle = idle_since.get_or_insert_with(Instant::now).elapsed();
        // At the spool's end for now: once the build is over, nothing more comes.
        let at_end = read == 0 || piece.len() < READ_BYTES;
        let over = done || (at_end && (*finishing.borrow() || idle >= LINGER));
        if !piece.is_empty() && (piece.len() == READ_BYTES || over || (at_end && idle >= GATHER)) {
            let full = std::mem::replace(&mut piece, Vec::with_capacity(READ_BYTES));
            if pieces.blocking_send(Bytes::from(full)).is_err() {
                // The request is gone (a dropped connection): it is sent again.
                return Ok(());
            }
        }
        if over {
            return Ok(());
        }
        if at_end {
            std::thread::sleep(LINGER_POLL);
        }
    }
}
