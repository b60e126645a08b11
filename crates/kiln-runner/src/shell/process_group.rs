//! Launching the shell: the executor interface, and the local executor, which runs each command
//! in a process group and ends whole groups (the shell, its children and grandchildren).

use super::{CommandOutcome, Shell, ShellError};
use crate::confined::{self, Follow};
use async_trait::async_trait;
use rustix::process::{Pid, Signal, kill_process_group, test_kill_process_group};
use std::ffi::OsString;
use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

/// The file in a session's state directory listing each command's process group, one a line,
/// so that what a build leaves running can be ended even after Kiln itself died.
const PROCESS_GROUPS_FILE: &str = "process-groups";
/// Most of that file read back (a build could make it huge).
const MAX_PROCESS_GROUPS_BYTES: u64 = 1024 * 1024;

/// How long a process group gets between SIGTERM and SIGKILL.
const TERMINATION_GRACE: Duration = Duration::from_secs(2);
/// How long to wait for SIGKILLed processes to disappear.
const KILL_SETTLE: Duration = Duration::from_secs(1);
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Where an executor runs the shells of one build's session; shared by all builds.
pub trait Launcher: Send + Sync {
    /// A runner for one session's commands (it tracks what those commands leave running).
    fn runner(&self) -> Box<dyn CommandRunner>;
}

/// Runs the commands of one session, one at a time.
#[async_trait]
pub trait CommandRunner: Send {
    /// Runs `shell` on `script`, the absolute path of the wrapper script in the session's state
    /// directory, which must be the same path wherever the shell runs (the script finds its state
    /// files next to itself). The shell and everything it starts write to `log` (the build's
    /// output pipe, which Kiln copies into the log). On cancellation the command is ended with
    /// all its processes and
    /// [`CommandOutcome::Cancelled`] is returned within a few seconds.
    async fn run(
        &mut self,
        shell: Shell,
        script: &Path,
        log: &File,
        cancel: &CancellationToken,
    ) -> Result<CommandOutcome, ShellError>;

    /// Ends every process still running from the session's commands (background jobs).
    async fn shutdown(&mut self);

    /// Runs the following commands as `user` (a buildspec `run-as` name; `None`: the runner's
    /// default user), giving that user what the session needs: `state_dir`, the output pipe and
    /// the build's files. Fails if the user cannot be used.
    async fn switch_user(&mut self, user: Option<&str>, state_dir: &Path)
    -> Result<(), ShellError>;
}

/// Runs the shell on this host, with an empty environment except `PATH` (the session restores
/// every build variable itself, so nothing of Kiln's own environment leaks into builds). Each
/// command is the leader of a new process group, and cancelling ends the whole group.
#[derive(Debug, Clone)]
pub struct LocalLauncher {
    host_path: Option<OsString>,
    /// The uid and gid the shell drops to before `exec`; `None` keeps Kiln's own.
    user: Option<(u32, u32)>,
}

impl LocalLauncher {
    /// A launcher finding the shell through Kiln's own `PATH`, which is also the build's `PATH`
    /// unless the session's variables set one.
    pub fn new() -> Self {
        Self {
            host_path: std::env::var_os("PATH"),
            user: None,
        }
    }

    /// The same launcher for commands that run as `uid`:`gid`, with no supplementary groups
    /// (std drops them when a uid is set and Kiln is root).
    pub fn as_user(&self, uid: u32, gid: u32) -> Self {
        Self {
            host_path: self.host_path.clone(),
            user: Some((uid, gid)),
        }
    }
}

impl Default for LocalLauncher {
    fn default() -> Self {
        Self::new()
    }
}

impl Launcher for LocalLauncher {
    fn runner(&self) -> Box<dyn CommandRunner> {
        Box::new(LocalRunner {
            host_path: self.host_path.clone(),
            user: self.user,
            process_groups: Vec::new(),
        })
    }
}

/// One session's commands on this host.
struct LocalRunner {
    host_path: Option<OsString>,
    user: Option<(u32, u32)>,
    /// Process groups started by this session that may still have members.
    process_groups: Vec<Pid>,
}

#[async_trait]
impl CommandRunner for LocalRunner {
    async fn run(
        &mut self,
        shell: Shell,
        script: &Path,
        log: &File,
        cancel: &CancellationToken,
    ) -> Result<CommandOutcome, ShellError> {
        let stdout = log.try_clone().map_err(ShellError::LogFile)?;
        let stderr = log.try_clone().map_err(ShellError::LogFile)?;
        let mut command = Command::new(shell.program());
        command.env_clear();
        if let Some(path) = &self.host_path {
            command.env("PATH", path);
        }
        if let (Some((uid, gid)), Some(state_dir)) = (self.user, script.parent()) {
            // The child changes to its state directory after dropping to the build's user, so
            // it starts somewhere it may be (Kiln's own working directory may be closed to it).
            command.uid(uid).gid(gid).current_dir(state_dir);
        }
        command
            .arg(script)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(ShellError::Spawn)?;
        // `process_group(0)` makes the shell the leader of a new group whose id is its pid.
        let pgid = child
            .id()
            .and_then(|pid| i32::try_from(pid).ok())
            .and_then(Pid::from_raw);
        self.process_groups.retain(|&group| group_is_alive(group));
        self.process_groups.extend(pgid);
        if let (Some(pgid), Some(state_dir)) = (pgid, script.parent()) {
            record_group(state_dir, pgid);
        }

        let status = tokio::select! {
            status = child.wait() => status.map_err(ShellError::Wait)?,
            () = cancel.cancelled() => {
                if let Some(pgid) = pgid {
                    terminate_command(pgid, &mut child).await;
                }
                return Ok(CommandOutcome::Cancelled);
            }
        };
        Ok(match (status.code(), status.signal()) {
            (Some(code), _) => CommandOutcome::Exited(code),
            (None, Some(signal)) => CommandOutcome::Signalled(signal),
            // Unix statuses are either; keep a failure if that ever changes.
            (None, None) => CommandOutcome::Exited(-1),
        })
    }

    /// Never: the host's users are not the build's to choose. The local executor runs commands
    /// as Kiln's user or as the build's own uid (crate::build_user), and a `run-as: root` (or
    /// any other account of the host) would hand the build that account.
    async fn switch_user(
        &mut self,
        user: Option<&str>,
        _state_dir: &Path,
    ) -> Result<(), ShellError> {
        match user {
            None => Ok(()),
            Some(user) => Err(ShellError::RunAsRefused {
                user: user.to_owned(),
            }),
        }
    }

    async fn shutdown(&mut self) {
        self.process_groups.retain(|&group| group_is_alive(group));
        terminate_groups(&self.process_groups).await;
        self.process_groups.clear();
    }
}

impl Drop for LocalRunner {
    /// Last resort if `shutdown` was not awaited: no build's processes outlive its session.
    fn drop(&mut self) {
        for &group in &self.process_groups {
            if group_is_alive(group) {
                kill_now(group);
            }
        }
    }
}

/// Appends `pgid` to the session's [`PROCESS_GROUPS_FILE`]. Best effort: without it only a crash
/// of Kiln itself would leave the group running. The build can write the state directory, so
/// neither the directory nor the file is followed if it became a link.
fn record_group(state_dir: &Path, pgid: Pid) {
    let line = format!("{}\n", pgid.as_raw_nonzero());
    let _ = confined::open_ambient_dir(state_dir)
        .and_then(|dir| confined::append_to_file(&dir, PROCESS_GROUPS_FILE, line.as_bytes()));
}

/// Kills what a session whose state lives in `state_dir` left running when Kiln died: every
/// process group it recorded that still holds a process of the build, one whose working
/// directory is inside `work_dir` or whose environment carries `CODEBUILD_BUILD_ID=build_id`
/// (a recorded group id may since have been given to someone else). Returns how many groups
/// were killed.
pub fn kill_leftover_groups(state_dir: &Path, work_dir: &Path, build_id: &str) -> usize {
    let recorded = confined::open_ambient_dir(state_dir).and_then(|dir| {
        confined::read_regular(
            &dir,
            PROCESS_GROUPS_FILE,
            Follow::Never,
            MAX_PROCESS_GROUPS_BYTES,
        )
    });
    let Ok(Some(recorded)) = recorded else {
        return 0;
    };
    let recorded: Vec<i32> = String::from_utf8_lossy(&recorded)
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect();
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let marker = format!("CODEBUILD_BUILD_ID={build_id}");
    // `/proc/<pid>/cwd` is absolute and free of links; so must the directory compared be.
    let work_dir = work_dir
        .canonicalize()
        .unwrap_or_else(|_| work_dir.to_path_buf());
    let mut leftover: Vec<i32> = processes
        .flatten()
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let group = process_group_of(pid)?;
            (recorded.contains(&group) && belongs_to_build(pid, &work_dir, &marker))
                .then_some(group)
        })
        .collect();
    leftover.sort_unstable();
    leftover.dedup();
    leftover
        .iter()
        .filter_map(|&group| Pid::from_raw(group))
        .filter(|&group| kill_process_group(group, Signal::KILL).is_ok())
        .count()
}

/// The process group of `pid`, from `/proc/<pid>/stat` (`pid (comm) state ppid pgrp …`).
fn process_group_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses; the fields follow its last `)`.
    let (_, fields) = stat.rsplit_once(')')?;
    fields.split_whitespace().nth(2)?.parse().ok()
}

fn belongs_to_build(pid: i32, work_dir: &Path, marker: &str) -> bool {
    let in_work_dir =
        std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(work_dir));
    in_work_dir
        || std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
            environ
                .split(|&b| b == 0)
                .any(|entry| entry == marker.as_bytes())
        })
}

/// Whether any process (zombies included) is still in the group.
fn group_is_alive(pgid: Pid) -> bool {
    test_kill_process_group(pgid).is_ok()
}

async fn wait_until_gone(groups: &[Pid]) {
    while groups.iter().any(|&pgid| group_is_alive(pgid)) {
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Ends a running command's process group: SIGTERM, then SIGKILL after the grace period; reaps the
/// leader. Returns within about `TERMINATION_GRACE + KILL_SETTLE`.
async fn terminate_command(pgid: Pid, leader: &mut Child) {
    // Errors mean the group is already gone.
    let _ = kill_process_group(pgid, Signal::TERM);
    let graceful = tokio::time::timeout(TERMINATION_GRACE, async {
        // The leader must be reaped before its group can look empty.
        let _ = leader.wait().await;
        wait_until_gone(&[pgid]).await;
    })
    .await;
    if graceful.is_err() {
        let _ = kill_process_group(pgid, Signal::KILL);
        let _ = tokio::time::timeout(KILL_SETTLE, async {
            let _ = leader.wait().await;
            wait_until_gone(&[pgid]).await;
        })
        .await;
    }
}

/// Ends leftover groups (background processes of finished commands) the same way.
async fn terminate_groups(groups: &[Pid]) {
    for &pgid in groups {
        let _ = kill_process_group(pgid, Signal::TERM);
    }
    if tokio::time::timeout(TERMINATION_GRACE, wait_until_gone(groups))
        .await
        .is_err()
    {
        for &pgid in groups {
            let _ = kill_process_group(pgid, Signal::KILL);
        }
        let _ = tokio::time::timeout(KILL_SETTLE, wait_until_gone(groups)).await;
    }
}

/// Immediate SIGKILL, for a session dropped without `shutdown`.
fn kill_now(pgid: Pid) {
    let _ = kill_process_group(pgid, Signal::KILL);
}
