//! Launching the shell and ending whole process groups (the shell, its children and grandchildren).

use super::Shell;
use rustix::process::{Pid, Signal, kill_process_group, test_kill_process_group};
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;
use tokio::process::{Child, Command};

/// How long a process group gets between SIGTERM and SIGKILL.
pub(super) const TERMINATION_GRACE: Duration = Duration::from_secs(2);
/// How long to wait for SIGKILLed processes to disappear.
const KILL_SETTLE: Duration = Duration::from_secs(1);
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Starts the shell process for one command; everything else (state, stdio, process group,
/// waiting, cancellation) is the session's job, so executors differ only here.
pub trait Launcher: Send + Sync {
    /// A command that runs `shell` on `script`, the absolute path of the wrapper script in the
    /// session's state directory. A launcher running the shell elsewhere (a container) must pass
    /// the script's path as the shell sees it: the script finds its state files next to itself.
    fn command(&self, shell: Shell, script: &Path) -> Command;
}

/// Runs the shell on this host, with an empty environment except `PATH` (the session restores
/// every build variable itself, so nothing of Kiln's own environment leaks into builds).
#[derive(Debug, Clone)]
pub struct LocalLauncher {
    host_path: Option<OsString>,
}

impl LocalLauncher {
    /// A launcher finding the shell through Kiln's own `PATH`, which is also the build's `PATH`
    /// unless the session's variables set one.
    pub fn new() -> Self {
        Self {
            host_path: std::env::var_os("PATH"),
        }
    }
}

impl Default for LocalLauncher {
    fn default() -> Self {
        Self::new()
    }
}

impl Launcher for LocalLauncher {
    fn command(&self, shell: Shell, script: &Path) -> Command {
        let mut command = Command::new(shell.program());
        command.env_clear();
        if let Some(path) = &self.host_path {
            command.env("PATH", path);
        }
        command.arg(script);
        command
    }
}

/// Whether any process (zombies included) is still in the group.
pub(super) fn group_is_alive(pgid: Pid) -> bool {
    test_kill_process_group(pgid).is_ok()
}

async fn wait_until_gone(groups: &[Pid]) {
    while groups.iter().any(|&pgid| group_is_alive(pgid)) {
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Ends a running command's process group: SIGTERM, then SIGKILL after the grace period; reaps the
/// leader. Returns within about `TERMINATION_GRACE + KILL_SETTLE`.
pub(super) async fn terminate_command(pgid: Pid, leader: &mut Child) {
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
pub(super) async fn terminate_groups(groups: &[Pid]) {
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
pub(super) fn kill_now(pgid: Pid) {
    let _ = kill_process_group(pgid, Signal::KILL);
}
