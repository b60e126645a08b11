//! The build log: Kiln's own `[Container]` lines and the output of the build's commands, which
//! Kiln alone writes to the log file, so that it can hold the log to its limit and mask the
//! build's secret values ([`mask`]).
//!
//! Commands and git write to a pipe (a FIFO in the work directory, which a container sees at the
//! same path). A thread per build reads it, counts every byte against the build's limit and
//! appends it to the log. Before each of Kiln's own lines, what is already in the pipe is
//! copied first, so a command's output comes before the line that says how it ended.
//!
//! Past the limit, output is dropped, the log ends with a line saying it was cut, and the build
//! is halted. A little room ([`CLOSING_ROOM`]) is kept below the limit for that line and Kiln's
//! last lines, so the log file never grows past the limit. Output is also dropped, and the build
//! halted, once the data dir's free space is below its reserve: checked every
//! [`DISK_CHECK_BYTES`], a loud build cannot fill a disk between two checks of the watchdog.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;

use rustix::event::{EventfdFlags, PollFd, PollFlags, eventfd, poll};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

use super::BuildLimits;
use super::halt::{Halt, HaltReason};
use mask::Masker;

mod mask;
use crate::disk::{Bytes, DiskReserve};

/// CodeBuild's agent timestamp, e.g. `2026/11/24 14:00:00.123456` (UTC).
const TIMESTAMP: &[FormatItem<'static>] =
    format_description!("[year]/[month]/[day] [hour]:[minute]:[second].[subsecond digits:6]");

/// A build log's size limit unless configured: far more than a build's useful output (GitLab
/// keeps 4 MiB, Travis CI stopped builds at 4 MB), small enough that a runaway build cannot
/// fill a disk.
pub const DEFAULT_MAX_LOG_BYTES: u64 = 64 * 1024 * 1024;
/// The smallest limit accepted: the closing room and some output.
pub const MIN_MAX_LOG_BYTES: u64 = 64 * 1024;
/// Room kept below the limit for the line saying the log was cut and Kiln's closing lines.
const CLOSING_ROOM: u64 = 16 * 1024;
/// The most read from the pipe at once, and the pipe's capacity when the kernel allows it (a
/// larger pipe means fewer switches between a loud command and Kiln).
const CHUNK_BYTES: usize = 1024 * 1024;
/// After a read smaller than [`BATCH_BYTES`], the copier lets output gather for this long
/// before reading again: a loud command writing 8 KiB at a time then costs one read and one
/// write per ~1 MiB instead of per 8 KiB. Kiln's own lines still copy what is pending first.
const BATCH_PAUSE: std::time::Duration = std::time::Duration::from_millis(1);
const BATCH_BYTES: u64 = 64 * 1024;
/// How much output is written between two checks of the data dir's free space.
const DISK_CHECK_BYTES: u64 = 4 * 1024 * 1024;

pub(super) struct BuildLog {
    shared: Arc<Shared>,
    output: Option<OutputPipe>,
}

/// What the copying thread and Kiln's own lines share.
struct Shared {
    /// The pipe's read end (non-blocking), once the pipe exists. Read only under `state`'s lock,
    /// so that what is read is appended in the order it was written.
    reader: OnceLock<OwnedFd>,
    state: Mutex<LogState>,
    halt: Halt,
}

struct LogState {
    file: File,
    written: u64,
    limit: u64,
    /// Whether the log reached its limit (the cut line is written).
    cut: bool,
    disk_reserve: Option<DiskReserve>,
    /// Output written since the last look at the free space.
    unchecked: u64,
    /// Whether output is dropped because the disk is below its reserve.
    disk_full: bool,
    ends_with_newline: bool,
    buffer: Vec<u8>,
    masker: Masker,
}

/// The write end commands get, and the thread copying from the read end.
struct OutputPipe {
    writer: File,
    /// Ends the thread when written to.
    stop: OwnedFd,
    thread: Option<JoinHandle<()>>,
}

impl BuildLog {
    /// Opens (or creates) the log for appending, at most `limits.max_log_bytes` long (existing
    /// content counts). Reaching the limit, the disk's reserve or failing to write halts the
    /// build through `halt`.
    pub(super) fn open(path: &Path, limits: &BuildLimits, halt: Halt) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        let state = LogState {
            file,
            written,
            limit: limits.max_log_bytes.max(MIN_MAX_LOG_BYTES),
            cut: false,
            disk_reserve: limits.disk_reserve.clone(),
            unchecked: 0,
            disk_full: false,
            ends_with_newline: true,
            buffer: Vec::new(),
            masker: Masker::default(),
        };
        Ok(Self {
            shared: Arc::new(Shared {
                reader: OnceLock::new(),
                state: Mutex::new(state),
                halt,
            }),
            output: None,
        })
    }

    /// Makes the pipe commands write to: a FIFO created at `fifo` (mode 0600; nothing may be
    /// there), and starts copying from it. Once only.
    pub(super) fn open_output(&mut self, fifo: &Path) -> std::io::Result<()> {
        if self.output.is_some() {
            return Err(std::io::Error::new(
                ErrorKind::AlreadyExists,
                "the build's output pipe is already open",
            ));
        }
        rustix::fs::mknodat(
            rustix::fs::CWD,
            fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )?;
        let no_follow = OFlags::NOFOLLOW | OFlags::CLOEXEC;
        // The read end first, so that opening the write end does not wait for a reader.
        let reader = rustix::fs::open(
            fifo,
            OFlags::RDONLY | OFlags::NONBLOCK | no_follow,
            Mode::empty(),
        )?;
        // Blocking: commands share this open file as their stdout.
        let writer = OpenOptions::new()
            .write(true)
            .custom_flags(OFlags::NOFOLLOW.bits() as i32)
            .open(fifo)?;
        // Best effort: the default 64 KiB works, only slower.
        let _ = rustix::pipe::fcntl_setpipe_size(&reader, CHUNK_BYTES);
        let stop = eventfd(0, EventfdFlags::CLOEXEC)?;
        let thread_stop = stop.try_clone()?;
        if self.shared.reader.set(reader).is_err() {
            return Err(std::io::Error::new(
                ErrorKind::AlreadyExists,
                "the build's output pipe is already open",
            ));
        }
        let shared = Arc::clone(&self.shared);
        let thread = std::thread::Builder::new()
            .name("kiln-build-log".to_owned())
            .spawn(move || copy_until_stopped(&shared, &thread_stop))?;
        self.output = Some(OutputPipe {
            writer,
            stop,
            thread: Some(thread),
        });
        Ok(())
    }

    /// What commands and git write to (their stdout and stderr): the pipe, once open.
    pub(super) fn output(&self) -> Option<&File> {
        self.output.as_ref().map(|output| &output.writer)
    }

    /// From now on, every occurrence of one of `values` in the log is written `***`.
    pub(super) fn mask(&self, values: impl IntoIterator<Item = String>) {
        let mut state = self.shared.lock();
        state.masker.add(values.into_iter().map(String::into_bytes));
    }

    /// `text` with the masked values written `***`.
    pub(super) fn masked(&self, text: &str) -> String {
        let state = self.shared.lock();
        String::from_utf8_lossy(&state.masker.masked(text.as_bytes())).into_owned()
    }

    /// Writes one `[Container] <timestamp> <text>` line, after the output already in the pipe.
    /// Best effort: a failed write halts the build, which reports why.
    pub(super) fn line(&self, text: &str) {
        let mut state = self.shared.lock();
        if let Some(reader) = self.shared.reader.get() {
            // What was written before now: a finished command's last words.
            let pending = rustix::io::ioctl_fionread(reader).unwrap_or(0);
            self.shared.copy(&mut state, pending);
        }
        state.flush_masker(&self.shared.halt);
        let line = state.masker.masked(stamped(text).as_bytes());
        state.append_line(&line, &self.shared.halt);
    }

    /// Stops copying, after copying what the pipe holds now; the build's processes must be
    /// ended first. Output written later is lost, and once the log is dropped its writers get
    /// EPIPE.
    pub(super) fn close_output(&mut self) {
        let Some(mut output) = self.output.take() else {
            return;
        };
        stop_thread(&mut output);
        drop(output.writer);
        if let Some(reader) = self.shared.reader.get() {
            let pending = rustix::io::ioctl_fionread(reader).unwrap_or(0);
            let mut state = self.shared.lock();
            self.shared.copy(&mut state, pending);
            state.flush_masker(&self.shared.halt);
        }
    }
}

impl Drop for BuildLog {
    fn drop(&mut self) {
        if let Some(output) = &mut self.output {
            stop_thread(output);
        }
    }
}

fn stop_thread(output: &mut OutputPipe) {
    let _ = rustix::io::write(&output.stop, &1u64.to_ne_bytes());
    if let Some(thread) = output.thread.take() {
        let _ = thread.join();
    }
}

/// The copying thread: waits for output (or `stop`) and appends it, one read per wait, so that
/// Kiln's own lines get the lock between reads; after a small read it pauses, so that output
/// arrives in batches.
fn copy_until_stopped(shared: &Shared, stop: &OwnedFd) {
    let Some(reader) = shared.reader.get() else {
        return;
    };
    loop {
        let mut fds = [
            PollFd::new(reader, PollFlags::IN),
            PollFd::new(stop, PollFlags::IN),
        ];
        match poll(&mut fds, None) {
            Ok(_) => {}
            Err(Errno::INTR) => continue,
            Err(_) => return,
        }
        if !fds[1].revents().is_empty() {
            return;
        }
        if !fds[0].revents().is_empty() {
            let copied = shared.copy(&mut shared.lock(), 1);
            match copied {
                None => return,
                Some(bytes) if bytes < BATCH_BYTES => std::thread::sleep(BATCH_PAUSE),
                Some(_) => {}
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Copies at least `wanted` bytes from the pipe (or until it is empty) into the log; returns
    /// how many, or `None` once the pipe is closed (no writer left).
    fn copy(&self, state: &mut LogState, wanted: u64) -> Option<u64> {
        let reader = self.reader.get()?;
        let mut buffer = std::mem::take(&mut state.buffer);
        buffer.resize(CHUNK_BYTES, 0);
        let mut copied = 0u64;
        let open = loop {
            match rustix::io::read(reader, &mut buffer[..]) {
                Ok(0) => {
                    state.flush_masker(&self.halt);
                    break false;
                }
                Ok(n) => {
                    state.append_masked_output(&buffer[..n], &self.halt);
                    copied += n as u64;
                    if copied >= wanted {
                        break true;
                    }
                }
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => break true,
                Err(_) => break false,
            }
        };
        state.buffer = buffer;
        open.then_some(copied)
    }
}

impl LogState {
    /// How much more may be written: below the closing room until the log is cut, up to the
    /// limit after.
    fn room(&self) -> u64 {
        let end = if self.cut {
            self.limit
        } else {
            self.limit - CLOSING_ROOM
        };
        end.saturating_sub(self.written)
    }

    /// Appends command output with the secret values masked (some held back, see [`mask`]).
    fn append_masked_output(&mut self, bytes: &[u8], halt: &Halt) {
        if self.masker.is_empty() {
            self.append_output(bytes, halt);
        } else {
            let masked = self.masker.feed(bytes);
            self.append_output(&masked, halt);
        }
    }

    /// Appends the output the masker holds back.
    fn flush_masker(&mut self, halt: &Halt) {
        let held = self.masker.flush();
        if !held.is_empty() {
            self.append_output(&held, halt);
        }
    }

    /// Appends command output, up to the limit; what goes past it cuts the log.
    fn append_output(&mut self, bytes: &[u8], halt: &Halt) {
        if self.cut || self.disk_full {
            return;
        }
        self.unchecked += bytes.len() as u64;
        if self.unchecked >= DISK_CHECK_BYTES {
            self.unchecked = 0;
            if let Some(Err(full)) = self.disk_reserve.as_ref().map(DiskReserve::check) {
                self.disk_full = true;
                halt.halt(HaltReason::DiskFull(format!("Build stopped: {full}")));
                return;
            }
        }
        let room = usize::try_from(self.room()).unwrap_or(usize::MAX);
        if bytes.len() <= room {
            self.write(bytes, halt);
        } else {
            self.write(&bytes[..room], halt);
            self.cut(halt);
        }
    }

    /// Appends one of Kiln's lines; one that does not fit below the closing room cuts the log,
    /// and past the limit lines are dropped.
    fn append_line(&mut self, line: &[u8], halt: &Halt) {
        if !self.cut && line.len() as u64 > self.room() {
            self.cut(halt);
        }
        if line.len() as u64 <= self.room() {
            self.write(line, halt);
        }
    }

    /// Ends the log with the line saying it was cut, and halts the build.
    fn cut(&mut self, halt: &Halt) {
        self.cut = true;
        if !self.ends_with_newline {
            self.write(b"\n", halt);
        }
        let notice = stamped(&format!(
            "The build log reached its limit of {} (max_log_bytes): the rest of the output is not logged, and the build is stopped",
            Bytes(self.limit)
        ));
        self.write(notice.as_bytes(), halt);
        halt.halt(HaltReason::LogLimit(self.limit));
    }

    fn write(&mut self, mut bytes: &[u8], halt: &Halt) {
        while !bytes.is_empty() {
            match (&self.file).write(bytes) {
                Ok(0) => {
                    halt.halt(HaltReason::LogUnwritable(
                        "the log file took no bytes".into(),
                    ));
                    return;
                }
                Ok(n) => {
                    self.written += n as u64;
                    self.ends_with_newline = bytes[n - 1] == b'\n';
                    bytes = &bytes[n..];
                }
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => {
                    halt.halt(match err.kind() {
                        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => HaltReason::DiskFull(
                            format!("Build stopped: disk full: cannot write the build log: {err}"),
                        ),
                        _ => {
                            HaltReason::LogUnwritable(format!("cannot write the build log: {err}"))
                        }
                    });
                    return;
                }
            }
        }
    }
}

/// Appends one of Kiln's own lines to a build's log from outside the build's run: where the
/// build runs, before it starts; why it ends, when its runner lost the build.
pub fn append_line(path: &Path, text: &str) -> std::io::Result<()> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(stamped(text).as_bytes())
}

/// `[Container] <timestamp> <text>\n`: one of Kiln's own log lines.
pub fn stamped(text: &str) -> String {
    let stamp = OffsetDateTime::now_utc()
        .format(TIMESTAMP)
        .unwrap_or_default();
    format!("[Container] {stamp} {text}\n")
}

#[cfg(test)]
mod tests;
