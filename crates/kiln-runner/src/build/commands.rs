//! The buildspec and its commands: loading, the shell session, command phases, exported variables.

use kiln_buildspec::{Buildspec, Version};
use kiln_domain::build::{ExportedVariable, PhaseContext, PhaseType, context_codes};

use super::buildspec_file::{self, Location};
use super::interrupt::{Interrupt, output_not_open};
use super::{PhaseResult, Run, SHELL_STATE_DIR, buildspec_phase, client_error, environment};
use crate::shell::{CommandOutcome, Semantics, SessionConfig, Shell, ShellError, ShellSession};

/// Longest command text quoted in a phase context message (the log has it whole).
const MAX_CONTEXT_COMMAND_CHARS: usize = 1000;

impl Run<'_> {
    pub(super) async fn load_buildspec(&self) -> Result<Buildspec, PhaseContext> {
        let settings = &self.record.settings;
        let setting = settings
            .buildspec_override
            .as_deref()
            .or(settings.source.buildspec.as_deref());
        let yaml = match buildspec_file::locate(setting) {
            Location::Inline(yaml) => {
                self.log
                    .line("YAML location is the inline buildspec of the build settings");
                yaml.to_owned()
            }
            Location::File(relative) => {
                self.log.line(&format!(
                    "YAML location is {}",
                    self.src_dir.join(relative).display()
                ));
                let (work_dir, path) = (self.work_dir.clone(), relative.to_owned());
                let read =
                    tokio::task::spawn_blocking(move || buildspec_file::read(&work_dir, &path))
                        .await
                        .unwrap_or_else(|err| {
                            Err(PhaseContext::new(
                                context_codes::YAML_FILE_ERROR,
                                format!("cannot read buildspec {relative}: {err}"),
                            ))
                        });
                let Some(yaml) = read.map_err(|context| self.log_yaml_error(context))? else {
                    return Err(self.log_yaml_error(PhaseContext::new(
                        context_codes::YAML_FILE_ERROR,
                        "YAML file does not exist",
                    )));
                };
                yaml
            }
        };
        buildspec_file::parse(&yaml).map_err(|context| self.log_yaml_error(context))
    }

    fn log_yaml_error(&self, context: PhaseContext) -> PhaseContext {
        self.log.line(&format!(
            "Phase context status code: {} Message: {}",
            context.status_code, context.message
        ));
        context
    }

    /// Starts the build's shell session with the full environment.
    pub(super) fn start_shell(
        &mut self,
        buildspec: &Buildspec,
        buildspec_secrets: &[(String, String)],
    ) -> Result<PhaseResult, Interrupt> {
        let Some(build_environment) = &self.environment else {
            return Err(Interrupt::Fault(
                "the build environment was not provisioned".to_owned(),
            ));
        };
        let launcher = build_environment.launcher();
        let codebuild = environment::codebuild_variables(&environment::BuildFacts {
            record: &self.record,
            region: &self.region,
            src_dir: &self.src_dir,
            work_dir: &self.work_dir,
            public_build_url: self.public_build_url.as_deref(),
            // A container's image decides `HOME` (CodeBuild's images keep their tools there).
            home: (!build_environment.is_container()).then_some(self.home_dir.as_path()),
            base: build_environment.base_variables(),
        });
        let env = environment::merge(
            codebuild,
            buildspec,
            buildspec_secrets,
            &self.user_variables,
        );
        for warning in &env.warnings {
            self.log.line(warning);
        }
        let config = SessionConfig {
            state_dir: self.work_dir.join(SHELL_STATE_DIR),
            initial_cwd: self.src_dir.clone(),
            env: env.variables,
            shell: match buildspec.shell {
                Some(kiln_buildspec::Shell::Sh) => Shell::Sh,
                Some(kiln_buildspec::Shell::Bash) | None => Shell::Bash,
            },
            semantics: match buildspec.version {
                Version::V01 => Semantics::FreshShellPerCommand,
                Version::V02 => Semantics::SharedSession,
            },
        };
        match ShellSession::new(config, launcher) {
            Ok(shell) => {
                self.shell = Some(shell);
                self.log
                    .line(&format!("Moving to directory {}", self.src_dir.display()));
                Ok(Ok(()))
            }
            Err(err @ (ShellError::InvalidVariableName(_) | ShellError::NulInValue(_))) => {
                Ok(Err(client_error(err.to_string())))
            }
            Err(err) => Err(Interrupt::Fault(format!(
                "Cannot start the shell session: {err}"
            ))),
        }
    }

    pub(super) fn log_phases_found(&self, buildspec: &Buildspec) {
        let present: Vec<_> = buildspec
            .phases
            .iter()
            .filter_map(|(name, phase)| phase.map(|p| (name, p)))
            .collect();
        self.log
            .line(&format!("Phases found in YAML: {}", present.len()));
        for (name, phase) in present {
            self.log.line(&format!(
                " {}: {} commands",
                name.build_phase_type(),
                phase.commands.len()
            ));
        }
    }

    /// INSTALL, PRE_BUILD, BUILD or POST_BUILD: the commands until one fails, then `finally`.
    pub(super) async fn command_phase(
        &mut self,
        phase: PhaseType,
    ) -> Result<PhaseResult, Interrupt> {
        let spec_phase = buildspec_phase(phase).and_then(|name| {
            self.buildspec
                .as_ref()
                .and_then(|spec| spec.phases.get(name))
                .cloned()
        });
        let Some(spec_phase) = spec_phase else {
            return Ok(Ok(()));
        };
        // INSTALL selects its runtime versions first, in the same shell, so what the selectors
        // change (PATH, JAVA_HOME) stays for the build.
        let selectors = match self.runtimes.commands_for(&spec_phase.runtime_versions) {
            Ok(selectors) => selectors,
            Err(message) => {
                self.log.line(&message);
                return Ok(Err(PhaseContext::new(
                    context_codes::YAML_FILE_ERROR,
                    message,
                )));
            }
        };
        // The phase's `run-as`, else the top-level one; root (the default) when neither.
        let user = buildspec_phase(phase).and_then(|name| {
            self.buildspec
                .as_ref()
                .and_then(|spec| spec.run_as_for(name))
                .map(str::to_owned)
        });
        let runs_commands = !(selectors.is_empty()
            && spec_phase.commands.is_empty()
            && spec_phase.finally.is_empty());
        if runs_commands && let Err(context) = self.switch_user(user.as_deref()).await? {
            return Ok(Err(context));
        }
        let mut failure = None;
        for command in selectors.iter().chain(&spec_phase.commands) {
            if let Err(context) = self.run_command(command).await? {
                failure = Some(context);
                break;
            }
        }
        for command in &spec_phase.finally {
            if let Err(context) = self.run_command(command).await? {
                failure.get_or_insert(context);
                break;
            }
        }
        Ok(failure.map_or(Ok(()), Err))
    }

    /// Makes the shell run the phase's commands as `user` (its `run-as`); the phase's context
    /// when that cannot be done.
    async fn switch_user(&mut self, user: Option<&str>) -> Result<PhaseResult, Interrupt> {
        let Some(shell) = self.shell.as_mut() else {
            return Err(Interrupt::Fault(
                "the shell session is not running".to_owned(),
            ));
        };
        let context = match shell.run_as(user, &self.cancel).await {
            Ok(()) => return Ok(Ok(())),
            // The buildspec asks for what this executor never does: the build's settings are
            // at fault.
            Err(err @ ShellError::RunAsRefused { .. }) => client_error(err.to_string()),
            // As CodeBuild fails a command it cannot start as the user; no command ran, so
            // the context names the user, not a command.
            Err(err @ ShellError::RunAsFailed { .. }) => {
                PhaseContext::new(context_codes::COMMAND_EXECUTION_ERROR, err.to_string())
            }
            Err(err) => {
                return Err(Interrupt::Fault(format!(
                    "Cannot switch the shell's user: {err}"
                )));
            }
        };
        self.log.line(&context.message);
        self.mark_failed();
        Ok(Err(context))
    }

    async fn run_command(&mut self, command: &str) -> Result<PhaseResult, Interrupt> {
        let Some(shell) = self.shell.as_mut() else {
            return Err(Interrupt::Fault(
                "the shell session is not running".to_owned(),
            ));
        };
        self.log.line(&format!("Running command {command}"));
        let output = self.log.output().ok_or_else(output_not_open)?;
        let reason = match shell.run(command, output, &self.cancel).await {
            Ok(CommandOutcome::Exited(0)) => return Ok(Ok(())),
            Ok(CommandOutcome::Cancelled) => return Err(self.interruption()),
            Ok(CommandOutcome::Exited(code)) => format!("exit status {code}"),
            Ok(CommandOutcome::Signalled(signal)) => signal_reason(signal),
            Err(err @ (ShellError::CommandTooLong { .. } | ShellError::NulInCommand)) => {
                err.to_string()
            }
            Err(err) => return Err(Interrupt::Fault(format!("Cannot run a command: {err}"))),
        };
        self.log.line(&format!(
            "Command did not exit successfully {command} {reason}"
        ));
        self.mark_failed();
        Ok(Err(PhaseContext::new(
            context_codes::COMMAND_EXECUTION_ERROR,
            format!(
                "Error while executing command: {}. Reason: {reason}",
                shorten(command)
            ),
        )))
    }

    /// `env.exported-variables` as the shell session holds them now.
    pub(super) fn capture_exported_variables(&mut self) {
        let (Some(shell), Some(spec)) = (&self.shell, &self.buildspec) else {
            return;
        };
        self.record.exported_environment_variables = spec
            .exported_variables
            .iter()
            .filter_map(|name| {
                // A secret value is not exported into the API: it is masked as in the log.
                shell.var(name).map(|value| ExportedVariable {
                    name: name.clone(),
                    value: self.log.masked(&value),
                })
            })
            .collect();
    }
}

/// How Go (CodeBuild's agent) describes a death by signal.
fn signal_reason(signal: i32) -> String {
    let name = match signal {
        1 => "hangup",
        2 => "interrupt",
        6 => "aborted",
        9 => "killed",
        11 => "segmentation fault",
        13 => "broken pipe",
        15 => "terminated",
        _ => return format!("signal: {signal}"),
    };
    format!("signal: {name}")
}

fn shorten(command: &str) -> String {
    match command.char_indices().nth(MAX_CONTEXT_COMMAND_CHARS) {
        Some((cut, _)) => format!("{}…", &command[..cut]),
        None => command.to_owned(),
    }
}
