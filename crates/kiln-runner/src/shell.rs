//! Runs buildspec commands with CodeBuild's shell semantics.
//!
//! Buildspec 0.2 runs all commands "in the same instance of the default shell": `cd` and
//! variables carry from one command (and phase) to the next, yet each list item is judged by its
//! own exit status and an `exit`, `set -e` or `set -u` in one item does not leak into the next.
//! Like CodeBuild, Kiln runs every item in a fresh shell that restores the saved state first and
//! saves it again from an EXIT trap (see [`script`]). Buildspec 0.1 runs every item in a fresh
//! shell with the initial state.
//!
//! Carried: exported variables, plain (non-exported) scalar variables and the working directory.
//! Not carried: functions, aliases, arrays, shell options, traps, `OLDPWD`, and anything an item
//! changes after replacing the EXIT trap or `exec`-ing another program (its state is then lost and
//! the previous state kept). Changes made before an `exit n` are kept, as in CodeBuild.
//!
//! Command output goes from the shell and all its children to the one open file they are given:
//! the build's output pipe, which Kiln copies into the log under the log's limit.

mod process_group;
mod script;

pub use process_group::{CommandRunner, Launcher, LocalLauncher, kill_leftover_groups};

use crate::confined::{self, Dir, Follow};
use script::Variable;
use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Largest command text accepted (buildspecs are far smaller).
pub const MAX_COMMAND_BYTES: usize = 1024 * 1024;
/// Largest saved variable dump accepted after a command.
pub const MAX_STATE_BYTES: u64 = 16 * 1024 * 1024;
/// Largest working-directory path accepted from a dump.
const MAX_CWD_BYTES: u64 = 64 * 1024;

/// The shell commands run in (buildspec `env.shell`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// `bash`, CodeBuild's default on Linux.
    Bash,
    /// `sh` (`/bin/sh`).
    Sh,
}

impl Shell {
    /// The shell named by a buildspec `env.shell` value (`bash`, `/bin/sh`, …); `None` if unknown.
    pub fn from_buildspec(tag: &str) -> Option<Self> {
        match tag {
            "bash" | "/bin/bash" | "/usr/bin/bash" => Some(Self::Bash),
            "sh" | "/bin/sh" | "/usr/bin/sh" => Some(Self::Sh),
            _ => None,
        }
    }

    /// The program name, looked up through `PATH`.
    pub fn program(self) -> &'static str {
        match self {
            Self::Bash => "bash",
            Self::Sh => "sh",
        }
    }
}

/// How commands relate to each other (buildspec `version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Semantics {
    /// Version 0.2: one logical shell session for the whole build.
    SharedSession,
    /// Version 0.1: every command in a new shell with the initial variables and directory.
    FreshShellPerCommand,
}

/// Everything a session starts from.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Directory for this build's wrapper script and state files (created if missing; must not be
    /// shared with another session).
    pub state_dir: PathBuf,
    /// Working directory of the first command (as the shell sees it).
    pub initial_cwd: PathBuf,
    /// The complete environment of the first command, exported. Nothing else is inherited except
    /// what the launcher adds (the local launcher: Kiln's `PATH`, unless set here; a container:
    /// its image's environment).
    pub env: Vec<(String, String)>,
    pub shell: Shell,
    pub semantics: Semantics,
}

/// How one command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandOutcome {
    /// The shell exited with this status (0 = success).
    Exited(i32),
    /// The shell was killed by this signal.
    Signalled(i32),
    /// The cancellation token fired; the command's process group has been killed.
    Cancelled,
}

impl CommandOutcome {
    pub fn succeeded(self) -> bool {
        self == Self::Exited(0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the shell: {0}")]
    Spawn(std::io::Error),
    #[error("cannot wait for the shell: {0}")]
    Wait(std::io::Error),
    #[error("cannot run the command in the build container: {0}")]
    Container(String),
    #[error("cannot give the build log to the shell: {0}")]
    LogFile(std::io::Error),
    #[error("invalid environment variable name {0:?}")]
    InvalidVariableName(String),
    #[error("value of environment variable {0} contains a NUL byte")]
    NulInValue(String),
    #[error("command is {len} bytes long, more than the limit of {MAX_COMMAND_BYTES}")]
    CommandTooLong { len: usize },
    #[error("command contains a NUL byte")]
    NulInCommand,
    #[error("shell state in {} is larger than {max} bytes", path.display())]
    StateTooLarge { path: PathBuf, max: u64 },
    /// The buildspec's `run-as` on an executor that runs every command as one user.
    #[error(
        "run-as {user}: the local executor runs every command as the build's own user and never as another; run-as needs the Docker executor"
    )]
    RunAsRefused { user: String },
    /// The build container could not run commands as the `run-as` user (unknown to its image…).
    #[error("cannot run commands as run-as user {user}: {reason}")]
    RunAsFailed { user: String, reason: String },
}

/// One build's logical shell session.
pub struct ShellSession {
    /// Where the shell finds the wrapper script.
    state_dir: PathBuf,
    /// The same directory, opened once: the build can write there (and, under Docker, as root),
    /// so Kiln reaches its files only through this handle and never through a link.
    state: Arc<Dir>,
    shell: Shell,
    semantics: Semantics,
    runner: Box<dyn CommandRunner>,
    variables: BTreeMap<String, Variable>,
    cwd: Vec<u8>,
    /// The user commands run as (buildspec `run-as`); `None`: the launcher's own.
    user: Option<String>,
}

impl ShellSession {
    pub fn new(config: SessionConfig, launcher: Arc<dyn Launcher>) -> Result<Self, ShellError> {
        let io_error = |action, source| ShellError::Io {
            action,
            path: config.state_dir.clone(),
            source,
        };
        // The wrapper script locates its state files from its own absolute path.
        let state_dir =
            std::path::absolute(&config.state_dir).map_err(|source| io_error("resolve", source))?;
        let state =
            confined::create_ambient_dir(&state_dir).map_err(|source| io_error("open", source))?;
        let mut session = Self {
            state_dir,
            state: Arc::new(state),
            shell: config.shell,
            semantics: config.semantics,
            runner: launcher.runner(),
            variables: BTreeMap::new(),
            cwd: config.initial_cwd.as_os_str().as_bytes().to_vec(),
            user: None,
        };
        for (name, value) in &config.env {
            session.set_var(name, value)?;
        }
        Ok(session)
    }

    /// Current value of a carried variable (lossily decoded if not UTF-8).
    pub fn var(&self, name: &str) -> Option<String> {
        self.variables
            .get(name)
            .map(|variable| String::from_utf8_lossy(&variable.value).into_owned())
    }

    /// Sets and exports a variable for the following commands (e.g. `CODEBUILD_BUILD_SUCCEEDING`).
    /// Variables the shell maintains itself (`PWD`, `SHLVL`, …) are accepted and ignored.
    pub fn set_var(&mut self, name: &str, value: &str) -> Result<(), ShellError> {
        if !script::is_identifier(name) {
            return Err(ShellError::InvalidVariableName(name.to_owned()));
        }
        if value.contains('\0') {
            return Err(ShellError::NulInValue(name.to_owned()));
        }
        if script::is_carried(name, true) {
            self.variables.insert(
                name.to_owned(),
                Variable {
                    value: value.as_bytes().to_vec(),
                    exported: true,
                },
            );
        }
        Ok(())
    }

    /// Makes the following commands run as `user` (a buildspec `run-as`; `None`: the launcher's
    /// default user), now, so that a user that cannot be had fails before any command runs:
    /// [`ShellError::RunAsRefused`] or [`ShellError::RunAsFailed`], and the session keeps its
    /// user. The variables and working directory carry across the switch as across any two
    /// commands. Returns at once when `cancel` fires (the next command reports it).
    pub async fn run_as(
        &mut self,
        user: Option<&str>,
        cancel: &CancellationToken,
    ) -> Result<(), ShellError> {
        if user == self.user.as_deref() {
            return Ok(());
        }
        tokio::select! {
            switched = self.runner.switch_user(user, &self.state_dir) => switched?,
            () = cancel.cancelled() => return Ok(()),
        }
        self.user = user.map(str::to_owned);
        Ok(())
    }

    /// Runs one buildspec command. Its output (and that of every process it starts) is written
    /// to `log`: the build's output pipe, or a file opened in append mode. On cancellation the launcher
    /// ends the command with all its processes (locally: SIGTERM to its process group, then
    /// SIGKILL after a grace period); this returns within about 3 seconds.
    pub async fn run(
        &mut self,
        command: &str,
        log: &std::fs::File,
        cancel: &CancellationToken,
    ) -> Result<CommandOutcome, ShellError> {
        if command.len() > MAX_COMMAND_BYTES {
            return Err(ShellError::CommandTooLong { len: command.len() });
        }
        if command.contains('\0') {
            return Err(ShellError::NulInCommand);
        }
        if cancel.is_cancelled() {
            return Ok(CommandOutcome::Cancelled);
        }
        self.prepare_files(command).await?;

        let outcome = self
            .runner
            .run(
                self.shell,
                &self.state_dir.join(script::SCRIPT_FILE),
                log,
                cancel,
            )
            .await?;
        if outcome == CommandOutcome::Cancelled {
            return Ok(outcome);
        }
        if self.semantics == Semantics::SharedSession {
            self.load_saved_state().await?;
        }
        Ok(outcome)
    }

    /// Ends every process still running from this session's commands (background jobs are left
    /// running between commands, as in CodeBuild, until the build ends).
    pub async fn shutdown(&mut self) {
        self.runner.shutdown().await;
    }

    async fn prepare_files(&self, command: &str) -> Result<(), ShellError> {
        let mut command_text = command.as_bytes().to_vec();
        command_text.push(b'\n');
        let wrapper =
            script::wrapper_script(self.shell, self.semantics, &self.variables, &self.cwd);
        self.with_state("write", move |state| {
            for stale in [
                script::EXPORTED_STATE_FILE,
                script::PLAIN_STATE_FILE,
                script::CWD_STATE_FILE,
                script::STATE_COMPLETE_FILE,
            ] {
                confined::remove_file(state, stale)?;
            }
            // A link the build left in place of either file is removed, never written through.
            confined::replace_file(state, script::COMMAND_FILE, &command_text)?;
            confined::replace_file(state, script::SCRIPT_FILE, &wrapper)
        })
        .await
    }

    /// Runs file work on the state directory off the async threads.
    async fn with_state<T: Send + 'static>(
        &self,
        action: &'static str,
        work: impl FnOnce(&Dir) -> std::io::Result<T> + Send + 'static,
    ) -> Result<T, ShellError> {
        let state = Arc::clone(&self.state);
        let io_error = |source| ShellError::Io {
            action,
            path: self.state_dir.clone(),
            source,
        };
        match tokio::task::spawn_blocking(move || work(&state)).await {
            Ok(result) => result.map_err(io_error),
            Err(err) => Err(io_error(std::io::Error::other(err))),
        }
    }

    /// Adopts the state the EXIT trap saved; keeps the previous state if it saved none.
    async fn load_saved_state(&mut self) -> Result<(), ShellError> {
        let complete = self
            .with_state("read", |state| {
                Ok(state.symlink_metadata(script::STATE_COMPLETE_FILE).is_ok())
            })
            .await?;
        if !complete {
            return Ok(());
        }
        let Some(cwd_output) = self
            .read_state(script::CWD_STATE_FILE, MAX_CWD_BYTES)
            .await?
        else {
            return Ok(());
        };
        let Some(exported) = self
            .read_state(script::EXPORTED_STATE_FILE, MAX_STATE_BYTES)
            .await?
        else {
            return Ok(());
        };
        let plain = self
            .read_state(script::PLAIN_STATE_FILE, MAX_STATE_BYTES)
            .await?
            .unwrap_or_default();
        if exported.len() + plain.len() > MAX_STATE_BYTES as usize {
            return Err(ShellError::StateTooLarge {
                path: self.state_dir.clone(),
                max: MAX_STATE_BYTES,
            });
        }
        let mut variables = BTreeMap::new();
        script::parse_dump(&plain, false, &mut variables);
        script::parse_dump(&exported, true, &mut variables);
        self.variables = variables;
        if let Some(cwd) = script::parse_cwd(&cwd_output) {
            self.cwd = cwd;
        }
        Ok(())
    }

    /// Reads a state file of at most `max` bytes; `None` if it does not exist, or if it is a
    /// link or anything but a regular file (which the EXIT trap never makes: the build did).
    async fn read_state(
        &self,
        name: &'static str,
        max: u64,
    ) -> Result<Option<Vec<u8>>, ShellError> {
        let contents = self
            .with_state("read", move |state| {
                match confined::read_regular(state, name, Follow::Never, max + 1) {
                    Err(err)
                        if confined::is_link_refused(&err)
                            || err.kind() == std::io::ErrorKind::InvalidInput =>
                    {
                        Ok(None)
                    }
                    read => read,
                }
            })
            .await?;
        if contents.as_ref().is_some_and(|c| c.len() as u64 > max) {
            return Err(ShellError::StateTooLarge {
                path: self.state_dir.join(name),
                max,
            });
        }
        Ok(contents)
    }
}

#[cfg(test)]
mod tests;
