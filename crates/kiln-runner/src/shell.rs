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

use script::Variable;
use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
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
}

/// One build's logical shell session.
pub struct ShellSession {
    state_dir: PathBuf,
    shell: Shell,
    semantics: Semantics,
    runner: Box<dyn CommandRunner>,
    variables: BTreeMap<String, Variable>,
    cwd: Vec<u8>,
}

impl ShellSession {
    pub fn new(config: SessionConfig, launcher: Arc<dyn Launcher>) -> Result<Self, ShellError> {
        let io_error = |action, source| ShellError::Io {
            action,
            path: config.state_dir.clone(),
            source,
        };
        std::fs::create_dir_all(&config.state_dir).map_err(|source| io_error("create", source))?;
        // The wrapper script locates its state files from its own absolute path.
        let state_dir =
            std::path::absolute(&config.state_dir).map_err(|source| io_error("resolve", source))?;
        let mut session = Self {
            state_dir,
            shell: config.shell,
            semantics: config.semantics,
            runner: launcher.runner(),
            variables: BTreeMap::new(),
            cwd: config.initial_cwd.as_os_str().as_bytes().to_vec(),
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
        for stale in [
            script::EXPORTED_STATE_FILE,
            script::PLAIN_STATE_FILE,
            script::CWD_STATE_FILE,
            script::STATE_COMPLETE_FILE,
        ] {
            let path = self.state_dir.join(stale);
            match tokio::fs::remove_file(&path).await {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    return Err(ShellError::Io {
                        action: "remove",
                        path,
                        source: error,
                    });
                }
                _ => {}
            }
        }
        let mut command_text = command.as_bytes().to_vec();
        command_text.push(b'\n');
        self.write_file(script::COMMAND_FILE, &command_text).await?;
        let wrapper =
            script::wrapper_script(self.shell, self.semantics, &self.variables, &self.cwd);
        self.write_file(script::SCRIPT_FILE, &wrapper).await
    }

    async fn write_file(&self, name: &str, contents: &[u8]) -> Result<(), ShellError> {
        let path = self.state_dir.join(name);
        tokio::fs::write(&path, contents)
            .await
            .map_err(|source| ShellError::Io {
                action: "write",
                path,
                source,
            })
    }

    /// Adopts the state the EXIT trap saved; keeps the previous state if it saved none.
    async fn load_saved_state(&mut self) -> Result<(), ShellError> {
        if !tokio::fs::try_exists(self.state_dir.join(script::STATE_COMPLETE_FILE))
            .await
            .unwrap_or(false)
        {
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

    /// Reads a state file of at most `max` bytes; `None` if it does not exist.
    async fn read_state(&self, name: &str, max: u64) -> Result<Option<Vec<u8>>, ShellError> {
        let path = self.state_dir.join(name);
        let io_error = |source| ShellError::Io {
            action: "read",
            path: path.clone(),
            source,
        };
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io_error(error)),
        };
        let mut contents = Vec::new();
        file.take(max + 1)
            .read_to_end(&mut contents)
            .await
            .map_err(io_error)?;
        if contents.len() as u64 > max {
            return Err(ShellError::StateTooLarge { path, max });
        }
        Ok(Some(contents))
    }
}

#[cfg(test)]
mod tests;
