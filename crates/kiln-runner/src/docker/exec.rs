//! Running a session's commands in the build container through the Engine's exec API.
//!
//! The build's output pipe is bind-mounted into the container at its host path, and each
//! command's shell writes to it, as on the host: Kiln reads the other end into the log, and
//! background jobs keep writing after their command ends. The exec's own stdout is held only by
//! a small `sh` that waits for the shell, so the exec stream ends exactly when the command does.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::{remove_container, run_as};
use crate::shell::{CommandOutcome, CommandRunner, Launcher, Shell, ShellError};

/// Runs `$0 $1` (the shell and the wrapper script) with its output appended to `$2` (the output
/// pipe), without letting the exec's stdout reach the command's processes.
const EXEC_WRAPPER: &str =
    "\"$0\" \"$1\" </dev/null >>\"$2\" 2>&1; __kiln_status=$?; exit \"$__kiln_status\"";
/// First wait between looks at an exec whose stream ended before the Engine saw it exit; it
/// doubles up to [`MAX_EXIT_POLL`] (a stream cut by the Engine while the command runs on).
const FIRST_EXIT_POLL: Duration = Duration::from_millis(2);
const MAX_EXIT_POLL: Duration = Duration::from_millis(500);

/// Longest output of Kiln's own helper execs kept (their answers are one short line).
const MAX_HELPER_OUTPUT: usize = 4096;

/// Starts commands in one build container; made by provisioning.
#[derive(Clone)]
pub(super) struct ContainerLauncher {
    pub(super) docker: Docker,
    pub(super) container: String,
    pub(super) output_path: PathBuf,
    /// The build's work directory (bind-mounted at the same path).
    pub(super) work_dir: PathBuf,
    /// The buildspec's `run-as` user commands run as; root when `None`.
    pub(super) user: Option<String>,
}

impl Launcher for ContainerLauncher {
    fn runner(&self) -> Box<dyn CommandRunner> {
        Box::new(self.clone())
    }
}

#[async_trait]
impl CommandRunner for ContainerLauncher {
    async fn run(
        &mut self,
        shell: Shell,
        script: &Path,
        log: &File,
        cancel: &CancellationToken,
    ) -> Result<CommandOutcome, ShellError> {
        let running = self.run_exec(shell, script, log);
        tokio::select! {
            outcome = running => outcome,
            () = cancel.cancelled() => {
                // Removing the container ends every process of the build at once.
                remove_container(&self.docker, &self.container).await;
                Ok(CommandOutcome::Cancelled)
            }
        }
    }

    /// Background jobs end with the container, which the environment's teardown removes.
    async fn shutdown(&mut self) {}

    async fn switch_user(
        &mut self,
        user: Option<&str>,
        state_dir: &Path,
    ) -> Result<(), ShellError> {
        if let Some(name) = user {
            let paths = run_as::BuildPaths {
                work_dir: &self.work_dir,
                state_dir,
                output_path: &self.output_path,
            };
            run_as::prepare(&self.docker, &self.container, name, &paths)
                .await
                .map_err(|reason| ShellError::RunAsFailed {
                    user: name.to_owned(),
                    reason,
                })?;
        }
        self.user = user.map(str::to_owned);
        Ok(())
    }
}

impl ContainerLauncher {
    async fn run_exec(
        &self,
        shell: Shell,
        script: &Path,
        mut log: &File,
    ) -> Result<CommandOutcome, ShellError> {
        let engine_error = |err: bollard::errors::Error| ShellError::Container(err.to_string());
        let options = CreateExecOptions {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            // CodeBuild runs commands as root unless the buildspec says `run-as`.
            user: Some(self.user.clone().unwrap_or_else(|| "0".to_owned())),
            cmd: Some(vec![
                "/bin/sh".to_owned(),
                "-c".to_owned(),
                EXEC_WRAPPER.to_owned(),
                shell.program().to_owned(),
                script.to_string_lossy().into_owned(),
                self.output_path.to_string_lossy().into_owned(),
            ]),
            ..Default::default()
        };
        let exec = self
            .docker
            .create_exec(&self.container, options)
            .await
            .map_err(engine_error)?;
        match self
            .docker
            .start_exec(&exec.id, None)
            .await
            .map_err(engine_error)?
        {
            StartExecResults::Attached { mut output, .. } => {
                // Only the wrapper's own complaints (e.g. no /dev/null) arrive here.
                while let Some(frame) = output.next().await {
                    let Ok(frame) = frame else { break };
                    // Best effort, as for Kiln's own log lines.
                    let _ = log.write_all(&frame.into_bytes());
                }
            }
            StartExecResults::Detached => {}
        }
        let code = exit_code(&self.docker, &exec.id)
            .await
            .map_err(engine_error)?;
        Ok(CommandOutcome::Exited(
            i32::try_from(code).unwrap_or(i32::MAX),
        ))
    }
}

/// The exit status of an exec whose output stream has ended (-1 if the Engine gives none).
async fn exit_code(docker: &Docker, exec: &str) -> Result<i64, bollard::errors::Error> {
    let mut poll = FIRST_EXIT_POLL;
    loop {
        let inspected = docker.inspect_exec(exec).await?;
        if inspected.running != Some(true) {
            return Ok(inspected.exit_code.unwrap_or(-1));
        }
        tokio::time::sleep(poll).await;
        poll = (poll * 2).min(MAX_EXIT_POLL);
    }
}

/// Runs `cmd` in the container as `user` (a name or uid the image resolves) and waits for it
/// to end: its exit status and the start of its output (stdout and stderr, as the Engine
/// sends them, including its own complaint when it cannot start the process).
pub(super) async fn run_captured(
    docker: &Docker,
    container: &str,
    user: &str,
    cmd: Vec<String>,
) -> Result<(i64, Vec<u8>), bollard::errors::Error> {
    let options = CreateExecOptions {
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        user: Some(user.to_owned()),
        cmd: Some(cmd),
        ..Default::default()
    };
    let exec = docker.create_exec(container, options).await?;
    let mut captured = Vec::new();
    if let StartExecResults::Attached { mut output, .. } = docker.start_exec(&exec.id, None).await?
    {
        while let Some(frame) = output.next().await {
            let Ok(frame) = frame else { break };
            let room = MAX_HELPER_OUTPUT.saturating_sub(captured.len());
            let bytes = frame.into_bytes();
            captured.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }
    Ok((exit_code(docker, &exec.id).await?, captured))
}
