//! Runs one build from QUEUED to COMPLETED as CodeBuild does (codebuild.md §3–§5): the phases
//! and their transitions, the log lines, the environment, the timeout and `StopBuild`.
//!
//! ```no_run
//! # async fn example(job: kiln_runner::build::BuildJob, sink: &dyn kiln_runner::build::BuildSink) {
//! let stop = tokio_util::sync::CancellationToken::new();
//! let record = kiln_runner::build::run_build(job, sink, stop).await;
//! assert!(record.is_complete());
//! # }
//! ```

mod buildspec_file;
mod environment;
mod halt;
mod log;
#[cfg(test)]
mod tests;
mod upload;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use kiln_buildspec::{ArtifactsSpec, Buildspec, OnFailure, PhaseName, Version};
use kiln_domain::build::{
    BuildRecord, BuildStatus, ExportedVariable, OnFailureAction, PhaseContext, PhaseType,
    context_codes,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::artifacts::ArtifactStore;
use crate::confined::{self, Follow};
use crate::disk::{Bytes, DiskFull, DiskReserve};
use crate::docker::{ProvisionError, ProvisionRequest, RegistryAuth};
use crate::executor::{Environment, Executor};
use crate::local_source::LocalSourcePolicy;
use crate::shell::{CommandOutcome, Semantics, SessionConfig, Shell, ShellError, ShellSession};
use crate::source::{self, CheckoutRequest, GitCredential, SourceError};
use buildspec_file::Location;
use halt::{Halt, HaltReason};
use log::BuildLog;
pub use log::{DEFAULT_MAX_LOG_BYTES, MIN_MAX_LOG_BYTES};

/// Longest command text quoted in a phase context message (the log has it whole).
const MAX_CONTEXT_COMMAND_CHARS: usize = 1000;
/// Builds never run longer than CodeBuild's maximum timeout, whatever the settings say.
const MAX_TIMEOUT_MINUTES: u32 = 2160;
/// Longest expanded artifact name read back (S3 keys are at most 1024 bytes).
const MAX_EXPANDED_NAME_BYTES: usize = 1024;
/// The shell session's state directory inside a build's work directory.
const SHELL_STATE_DIR: &str = "shell";
/// The source directory (`CODEBUILD_SRC_DIR`) inside a build's work directory.
const SOURCE_DIR: &str = "src";
/// Where the build's shell writes an expanded artifact name, inside the work directory.
const EXPANDED_NAME_FILE: &str = "expanded-name";
/// The FIFO inside a build's work directory that its commands write their output to.
const OUTPUT_FIFO: &str = "output.fifo";
/// How often the data dir's free space is checked while a build runs.
const DISK_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Kills what a build of the local executor left running when Kiln died (its work directory
/// still there): the process groups it recorded, and every process of its own user (the owner
/// of its work directory, when `executor` gives builds users of their own). Returns how many
/// process groups were killed.
pub fn kill_leftover_processes(executor: &Executor, work_dir: &Path, build_id: &str) -> usize {
    let killed =
        crate::shell::kill_leftover_groups(&work_dir.join(SHELL_STATE_DIR), work_dir, build_id);
    if let Some(range) = executor.build_uid_range()
        && let Ok(meta) = std::fs::symlink_metadata(work_dir)
    {
        use std::os::unix::fs::MetadataExt;
        if range.contains(meta.uid()) {
            crate::build_user::kill_all_processes_of(meta.uid());
        }
    }
    killed
}

/// Everything a build needs to run.
pub struct BuildJob {
    /// The build, with QUEUED as its open phase.
    pub record: BuildRecord,
    pub region: String,
    /// The build's private directory: created, and removed at the end whatever happens.
    pub work_dir: PathBuf,
    /// The build's log file (appended to; may already exist).
    pub log_path: PathBuf,
    /// The imported credential of the source's forge; used only for an `https://` location on
    /// one of its hosts (the log says why otherwise).
    pub source_credential: Option<GitCredential>,
    /// Which host paths the build may check out (its account's rule).
    pub local_sources: LocalSourcePolicy,
    /// Where S3-type artifacts go.
    pub artifact_store: Arc<ArtifactStore>,
    /// Length of one minute of `timeoutInMinutes` (60 s; tests shrink it).
    pub minute: Duration,
    /// Where the log can be read, printed at the top of the log.
    pub log_link: String,
    pub limits: BuildLimits,
}

/// What a build may take of the host.
#[derive(Debug, Clone)]
pub struct BuildLimits {
    /// The log's size limit (at least [`MIN_MAX_LOG_BYTES`]); past it the build ends FAILED.
    pub max_log_bytes: u64,
    /// The data dir's free-space reserve; below it the build ends FAULT.
    pub disk_reserve: Option<DiskReserve>,
}

impl Default for BuildLimits {
    fn default() -> Self {
        Self {
            max_log_bytes: DEFAULT_MAX_LOG_BYTES,
            disk_reserve: None,
        }
    }
}

/// Receives the record after every change, so API readers and badges see progress.
#[async_trait]
pub trait BuildSink: Send + Sync {
    async fn save(&self, record: &BuildRecord);
}

/// Runs `job` with `executor` to COMPLETED and returns its final
/// record. `registry_auth` is the credential for pulling the build's image (the project's
/// `registryCredential`). Cancelling `stop` ends the build as STOPPED within a few seconds and
/// removes its container at once.
pub async fn run_build(
    executor: &Executor,
    job: BuildJob,
    registry_auth: Option<RegistryAuth>,
    sink: &dyn BuildSink,
    stop: CancellationToken,
) -> BuildRecord {
    let BuildJob {
        mut record,
        region,
        work_dir,
        log_path,
        source_credential,
        local_sources,
        artifact_store,
        minute,
        log_link,
        limits,
    } = job;
    if record.is_complete() {
        return record;
    }
    let cancel = stop.child_token();
    let halt = Halt::new(cancel.clone());
    let log = match BuildLog::open(&log_path, &limits, halt.clone()) {
        Ok(log) => log,
        Err(err) => {
            let context = PhaseContext::new(
                context_codes::SERVER_ERROR,
                format!("Cannot open the build log: {err}"),
            );
            // Ended in PROVISIONING, where the API shows contexts.
            let t = now();
            record.end_phase(BuildStatus::Succeeded, None, t);
            record.begin_phase(PhaseType::Provisioning, t);
            record.abort(BuildStatus::Fault, context, t);
            sink.save(&record).await;
            return record;
        }
    };
    let work_dir = std::path::absolute(&work_dir).unwrap_or(work_dir);
    let output_fifo = work_dir.join(OUTPUT_FIFO);
    let mut run = Run {
        record,
        region,
        src_dir: work_dir.join(SOURCE_DIR),
        home_dir: work_dir.join("home"),
        work_dir,
        source_credential,
        local_sources,
        artifact_store,
        executor: executor.clone(),
        registry_auth,
        environment: None,
        output_fifo,
        minute,
        log_link,
        log,
        sink,
        cancel,
        halt,
        disk_reserve: limits.disk_reserve,
        stop,
        watchdog: None,
        buildspec: None,
        user_variables: Vec::new(),
        shell: None,
        failed: false,
    };
    if let Err(interrupt) = run.execute().await {
        run.interrupted(interrupt).await;
    }
    run.clean_up().await;
    run.record
}

/// Why a build ends early.
#[derive(Debug)]
enum Interrupt {
    Stopped,
    TimedOut,
    /// The log reached its limit of this many bytes.
    LogLimit(u64),
    /// The data dir's disk is full; the message is for the phase context and names the cause.
    DiskFull(String),
    /// Kiln itself failed; the message is for the phase context.
    Fault(String),
}

/// How a phase ended: `Err` carries the context of a failure.
type PhaseResult = Result<(), PhaseContext>;

struct Run<'a> {
    record: BuildRecord,
    region: String,
    work_dir: PathBuf,
    src_dir: PathBuf,
    home_dir: PathBuf,
    source_credential: Option<GitCredential>,
    local_sources: LocalSourcePolicy,
    artifact_store: Arc<ArtifactStore>,
    executor: Executor,
    registry_auth: Option<RegistryAuth>,
    /// Where the commands run, once provisioned.
    environment: Option<Environment>,
    /// The pipe the build's commands write their output to (see [`log`]).
    output_fifo: PathBuf,
    minute: Duration,
    log_link: String,
    log: BuildLog,
    sink: &'a dyn BuildSink,
    stop: CancellationToken,
    /// Cancelled on stop, or by `halt`; everything that waits listens to it.
    cancel: CancellationToken,
    /// Cancels `cancel` for a reason of Kiln's own (timeout, log limit, full disk).
    halt: Halt,
    disk_reserve: Option<DiskReserve>,
    /// Ends the build at its timeout or when the disk is below its reserve.
    watchdog: Option<JoinHandle<()>>,
    buildspec: Option<Buildspec>,
    /// Project and StartBuild variables, checked during PROVISIONING.
    user_variables: Vec<(String, String)>,
    shell: Option<ShellSession>,
    /// Whether any phase has failed (the build then ends FAILED).
    failed: bool,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

fn client_error(message: impl Into<String>) -> PhaseContext {
    PhaseContext::new(context_codes::CLIENT_ERROR, message)
}

fn buildspec_phase(phase: PhaseType) -> Option<PhaseName> {
    match phase {
        PhaseType::Install => Some(PhaseName::Install),
        PhaseType::PreBuild => Some(PhaseName::PreBuild),
        PhaseType::Build => Some(PhaseName::Build),
        PhaseType::PostBuild => Some(PhaseName::PostBuild),
        _ => None,
    }
}

impl Run<'_> {
    async fn execute(&mut self) -> Result<(), Interrupt> {
        if self.cancel.is_cancelled() {
            return Err(self.interruption());
        }
        self.record.end_phase(BuildStatus::Succeeded, None, now());
        self.start_watchdog();
        let mut phase = PhaseType::Provisioning;
        while phase != PhaseType::Completed {
            self.begin(phase).await;
            if phase != PhaseType::Finalizing && self.cancel.is_cancelled() {
                return Err(self.interruption());
            }
            let result = match phase {
                PhaseType::Provisioning => self.provision().await?,
                PhaseType::DownloadSource => self.download_source().await?,
                PhaseType::Install
                | PhaseType::PreBuild
                | PhaseType::Build
                | PhaseType::PostBuild => self.command_phase(phase).await?,
                PhaseType::UploadArtifacts => self.upload_artifacts().await?,
                PhaseType::Finalizing => self.finalize().await,
                PhaseType::Submitted | PhaseType::Queued | PhaseType::Completed => Ok(()),
            };
            if let Err(context) = &result
                && let Some(full) = self.disk_full()
            {
                // The failure most likely comes from the full disk: say so, and end as FAULT.
                return Err(Interrupt::DiskFull(format!("{}; {full}", context.message)));
            }
            let succeeded = result.is_ok();
            self.end(phase, result).await;
            phase = phase.next(succeeded, self.on_failure(phase));
        }
        if self.failed {
            self.record.status = BuildStatus::Failed;
        }
        self.record.begin_phase(PhaseType::Completed, now());
        self.sink.save(&self.record).await;
        Ok(())
    }

    /// Cancels everything when the build's time is up, or when the data dir's free space falls
    /// below its reserve.
    fn start_watchdog(&mut self) {
        let minutes = u32::try_from(self.record.settings.timeout_in_minutes.max(1))
            .unwrap_or(MAX_TIMEOUT_MINUTES)
            .min(MAX_TIMEOUT_MINUTES);
        let limit = self.minute.saturating_mul(minutes);
        let halt = self.halt.clone();
        let disk_reserve = self.disk_reserve.clone();
        self.watchdog = Some(tokio::spawn(async move {
            let timeout = tokio::time::sleep(limit);
            tokio::pin!(timeout);
            let mut disk_checks = tokio::time::interval(DISK_CHECK_INTERVAL);
            loop {
                tokio::select! {
                    () = &mut timeout => return halt.halt(HaltReason::TimedOut),
                    _ = disk_checks.tick() => {
                        if let Some(Err(full)) = disk_reserve.as_ref().map(DiskReserve::check) {
                            return halt.halt(HaltReason::DiskFull(format!("Build stopped: {full}")));
                        }
                    }
                }
            }
        }));
    }

    fn interruption(&self) -> Interrupt {
        if self.stop.is_cancelled() {
            return Interrupt::Stopped;
        }
        match self.halt.reason() {
            Some(HaltReason::TimedOut) => Interrupt::TimedOut,
            Some(HaltReason::LogLimit(limit)) => Interrupt::LogLimit(*limit),
            Some(HaltReason::DiskFull(message)) => Interrupt::DiskFull(message.clone()),
            Some(HaltReason::LogUnwritable(message)) => Interrupt::Fault(message.clone()),
            None => Interrupt::Fault("work was cancelled unexpectedly".to_owned()),
        }
    }

    /// Whether the data dir is below its free-space reserve now.
    fn disk_full(&self) -> Option<DiskFull> {
        self.disk_reserve.as_ref()?.check().err()
    }

    async fn begin(&mut self, phase: PhaseType) {
        self.record.begin_phase(phase, now());
        match phase {
            PhaseType::Provisioning | PhaseType::DownloadSource => {}
            _ => self.log.line(&format!("Entering phase {}", phase.as_str())),
        }
        self.sink.save(&self.record).await;
    }

    async fn end(&mut self, phase: PhaseType, result: PhaseResult) {
        let (status, context) = match result {
            Ok(()) => (BuildStatus::Succeeded, PhaseContext::ok()),
            Err(context) => {
                self.mark_failed();
                (BuildStatus::Failed, context)
            }
        };
        self.log_phase_end(phase, status, &context);
        self.record.end_phase(status, Some(context), now());
        self.sink.save(&self.record).await;
    }

    fn log_phase_end(&self, phase: PhaseType, status: BuildStatus, context: &PhaseContext) {
        self.log.line(&format!(
            "Phase complete: {} State: {}",
            phase.as_str(),
            status.as_str()
        ));
        self.log.line(&format!(
            "Phase context status code: {} Message: {}",
            context.status_code, context.message
        ));
    }

    /// Records that the build is failing; later commands see `CODEBUILD_BUILD_SUCCEEDING=0`.
    fn mark_failed(&mut self) {
        self.failed = true;
        if let Some(shell) = &mut self.shell {
            // The name is valid and the value has no NUL: this cannot fail.
            let _ = shell.set_var("CODEBUILD_BUILD_SUCCEEDING", "0");
        }
    }

    fn on_failure(&self, phase: PhaseType) -> OnFailureAction {
        let configured = buildspec_phase(phase).and_then(|name| {
            self.buildspec
                .as_ref()
                .and_then(|spec| spec.phases.get(name))
                .and_then(|p| p.on_failure.as_ref())
        });
        match configured {
            Some(OnFailure::Abort) => OnFailureAction::Abort,
            Some(OnFailure::Continue) => OnFailureAction::Continue,
            // RETRY is reported as unsupported when the buildspec is loaded.
            Some(OnFailure::Retry { .. }) | None => OnFailureAction::Default,
        }
    }

    async fn provision(&mut self) -> Result<PhaseResult, Interrupt> {
        self.log.line(&format!("Build log: {}", self.log_link));
        // Leftovers of an earlier attempt (a crash) would break the checkout.
        let work_dir = self.work_dir.clone();
        tokio::task::spawn_blocking(move || remove_tree(&work_dir))
            .await
            .map_err(|err| Interrupt::Fault(err.to_string()))?
            .map_err(|err| {
                Interrupt::Fault(format!("Cannot empty {}: {err}", self.work_dir.display()))
            })?;
        let state_dir = self.work_dir.join(SHELL_STATE_DIR);
        for dir in [&self.work_dir, &self.src_dir, &self.home_dir, &state_dir] {
            tokio::fs::create_dir_all(dir).await.map_err(|err| {
                Interrupt::Fault(format!("Cannot create {}: {err}", dir.display()))
            })?;
        }
        // Private to Kiln until it is handed to the build's own user, if any.
        tokio::fs::set_permissions(&self.work_dir, std::fs::Permissions::from_mode(0o700))
            .await
            .map_err(|err| {
                Interrupt::Fault(format!("Cannot protect {}: {err}", self.work_dir.display()))
            })?;
        self.log.open_output(&self.output_fifo).map_err(|err| {
            Interrupt::Fault(format!("Cannot make the build's output pipe: {err}"))
        })?;
        match environment::user_variables(&self.record.settings) {
            Ok(vars) => self.user_variables = vars,
            Err(message) => return Ok(Err(client_error(message))),
        }
        if let Err(context) = self.provision_environment().await? {
            return Ok(Err(context));
        }
        self.log.line("Waiting for agent ping");
        self.log.line("Waiting for DOWNLOAD_SOURCE");
        Ok(Ok(()))
    }

    /// Makes the executor's environment for the build (its container).
    async fn provision_environment(&mut self) -> Result<PhaseResult, Interrupt> {
        let request = ProvisionRequest {
            build_uuid: &self.record.uuid,
            environment: &self.record.settings.environment,
            work_dir: &self.work_dir,
            output_path: &self.output_fifo,
            registry_auth: self.registry_auth.as_ref(),
        };
        let log = &self.log;
        let provisioned = self
            .executor
            .provision(&request, &|line: &str| log.line(line), &self.cancel)
            .await;
        match provisioned {
            Ok(environment) => {
                self.environment = Some(environment);
                Ok(Ok(()))
            }
            Err(ProvisionError::Cancelled) => Err(self.interruption()),
            Err(err) if err.is_client_error() => {
                let message = format!("Cannot provision the build environment: {err}");
                self.log.line(&message);
                Ok(Err(client_error(message)))
            }
            Err(err) => Err(Interrupt::Fault(format!(
                "Cannot provision the build environment: {err}"
            ))),
        }
    }

    async fn download_source(&mut self) -> Result<PhaseResult, Interrupt> {
        self.log.line("Phase is DOWNLOAD_SOURCE");
        self.log
            .line(&format!("CODEBUILD_SRC_DIR={}", self.src_dir.display()));
        if let Err(context) = self.check_out().await? {
            return Ok(Err(context));
        }
        self.hand_over_work_dir().await?;
        let buildspec = match self.load_buildspec().await {
            Ok(spec) => spec,
            Err(context) => return Ok(Err(context)),
        };
        for key in buildspec.unsupported_keys() {
            self.log.line(&format!(
                "Warning: buildspec key {key} is not supported by Kiln and was ignored"
            ));
        }
        self.log.line("Processing environment variables");
        let result = self.start_shell(&buildspec);
        self.log_phases_found(&buildspec);
        self.buildspec = Some(buildspec);
        result
    }

    /// Gives the work directory (source, home, shell state) to the build's own user, if it has
    /// one. Kiln checked the source out as itself; no command of the build has run yet.
    async fn hand_over_work_dir(&self) -> Result<(), Interrupt> {
        let Some(user) = self.environment.as_ref().and_then(Environment::build_user) else {
            return Ok(());
        };
        let (uid, gid) = (user.uid(), user.gid());
        let work_dir = self.work_dir.clone();
        tokio::task::spawn_blocking(move || crate::build_user::hand_over(&work_dir, uid, gid))
            .await
            .map_err(|err| Interrupt::Fault(err.to_string()))?
            .map_err(|err| Interrupt::Fault(err.to_string()))
    }

    async fn check_out(&mut self) -> Result<PhaseResult, Interrupt> {
        let source = &self.record.settings.source;
        match source.source_type.as_deref() {
            Some("NO_SOURCE") => return Ok(Ok(())),
            Some(kind @ ("S3" | "CODEPIPELINE")) => {
                return Ok(Err(client_error(format!(
                    "Source type {kind} is not supported by Kiln; use a git repository"
                ))));
            }
            _ => {}
        }
        let Some(location) = source.location.clone().filter(|l| !l.trim().is_empty()) else {
            return Ok(Err(client_error("The source has no location")));
        };
        let location = match self.local_sources.resolve_for_checkout(&location) {
            Ok(location) => location,
            Err(err) => {
                let message = format!("Cannot download the source: {err}");
                self.log.line(&message);
                return Ok(Err(client_error(message)));
            }
        };
        let credential = self.source_credential.take().and_then(|credential| {
            match credential.destination(&location) {
                Ok(_) => Some(credential),
                Err(withheld) => {
                    self.log.line(&format!(
                        "The imported {} source credential was not used: {withheld}",
                        credential.server_type
                    ));
                    None
                }
            }
        });
        let request = CheckoutRequest {
            version: self.record.settings.source_version.clone(),
            dest: self.src_dir.clone(),
            clone_depth: source
                .git_clone_depth
                .and_then(|depth| u32::try_from(depth).ok()),
            fetch_submodules: source
                .git_submodules_config
                .as_ref()
                .and_then(|config| config.fetch_submodules)
                .unwrap_or(false),
            credential,
            location,
        };
        let output = self.log.output().ok_or_else(output_not_open)?;
        match source::checkout(&request, output, &self.cancel).await {
            Ok(checked_out) => {
                self.log.line(&format!(
                    "Source checked out at commit {}",
                    checked_out.resolved_commit
                ));
                self.record.resolved_source_version = Some(checked_out.resolved_commit);
                // What the checkout resolved wins over StartBuild's reading of the version
                // (a bare `v1` may be a tag); a ref set by the caller for a bare commit (a
                // webhook's pushed branch) stays.
                if let Some(git_ref) = checked_out.git_ref {
                    self.record.git_ref = Some(git_ref);
                }
                self.sink.save(&self.record).await;
                Ok(Ok(()))
            }
            Err(SourceError::Cancelled) => Err(self.interruption()),
            Err(err) => {
                let message = format!("Cannot download the source: {err}");
                self.log.line(&message);
                Ok(Err(client_error(message)))
            }
        }
    }

    async fn load_buildspec(&self) -> Result<Buildspec, PhaseContext> {
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
    fn start_shell(&mut self, buildspec: &Buildspec) -> Result<PhaseResult, Interrupt> {
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
            // A container's image decides `HOME` (CodeBuild's images keep their tools there).
            home: (!build_environment.is_container()).then_some(self.home_dir.as_path()),
            base: build_environment.base_variables(),
        });
        let env = match environment::merge(codebuild, buildspec, &self.user_variables) {
            Ok(env) => env,
            Err(message) => return Ok(Err(client_error(message))),
        };
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

    fn log_phases_found(&self, buildspec: &Buildspec) {
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
    async fn command_phase(&mut self, phase: PhaseType) -> Result<PhaseResult, Interrupt> {
        let spec_phase = buildspec_phase(phase).and_then(|name| {
            self.buildspec
                .as_ref()
                .and_then(|spec| spec.phases.get(name))
                .cloned()
        });
        let Some(spec_phase) = spec_phase else {
            return Ok(Ok(()));
        };
        let mut failure = None;
        for command in &spec_phase.commands {
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

    async fn upload_artifacts(&mut self) -> Result<PhaseResult, Interrupt> {
        let spec = self.artifacts_spec().await?;
        let settings = &self.record.settings;
        let uploader = upload::Uploader {
            store: &self.artifact_store,
            log: &self.log,
            work_dir: &self.work_dir,
            build_uuid: &self.record.uuid,
            project_name: &self.record.project_name,
        };
        let uploading = uploader.upload_all(
            &settings.artifacts,
            &settings.secondary_artifacts,
            spec.as_ref(),
        );
        let uploaded = tokio::select! {
            uploaded = uploading => uploaded,
            () = self.cancel.cancelled() => return Err(self.interruption()),
        };
        match uploaded {
            Ok(uploaded) => {
                self.record.artifacts = uploaded.primary;
                self.record.secondary_artifacts = uploaded.secondary;
                Ok(Ok(()))
            }
            Err(message) => {
                self.log.line(&message);
                Ok(Err(client_error(message)))
            }
        }
    }

    /// The buildspec's `artifacts`, with the names that replace the project's artifact names
    /// expanded by the build's shell, as CodeBuild does (`name: app-$CODEBUILD_BUILD_NUMBER`).
    async fn artifacts_spec(&mut self) -> Result<Option<ArtifactsSpec>, Interrupt> {
        let Some(mut spec) = self.buildspec.as_ref().and_then(|b| b.artifacts.clone()) else {
            return Ok(None);
        };
        let settings = &self.record.settings;
        let primary_overridden = settings.artifacts.override_artifact_name == Some(true);
        let overridden: Vec<String> = settings
            .secondary_artifacts
            .iter()
            .filter(|a| a.override_artifact_name == Some(true))
            .filter_map(|a| a.artifact_identifier.clone())
            .collect();
        if primary_overridden && let Some(name) = spec.name.take() {
            spec.name = Some(self.expand_in_shell(name).await?);
        }
        for (id, secondary) in &mut spec.secondary {
            if overridden.contains(id)
                && let Some(name) = secondary.name.take()
            {
                secondary.name = Some(self.expand_in_shell(name).await?);
            }
        }
        Ok(Some(spec))
    }

    /// `text` as the shell expands it inside double quotes; `text` itself if that fails.
    async fn expand_in_shell(&mut self, text: String) -> Result<String, Interrupt> {
        if !text.contains(['$', '`']) {
            return Ok(text);
        }
        let Some(shell) = self.shell.as_mut() else {
            return Ok(text);
        };
        let out = self.work_dir.join(EXPANDED_NAME_FILE);
        let command = format!(
            "printf '%s' \"{text}\" > {}",
            shell_quote(&out.to_string_lossy())
        );
        let output = self.log.output().ok_or_else(output_not_open)?;
        let outcome = shell.run(&command, output, &self.cancel).await;
        match outcome {
            Ok(CommandOutcome::Exited(0)) => {}
            Ok(CommandOutcome::Cancelled) => return Err(self.interruption()),
            _ => {
                self.log.line(&format!(
                    "Warning: cannot expand artifact name {text}; using it as written"
                ));
                return Ok(text);
            }
        }
        // The build could have put a link (or a FIFO) there: read it beneath the work
        // directory, never following a link, and never more than a name.
        let work_dir = self.work_dir.clone();
        let read = tokio::task::spawn_blocking(move || {
            let dir = confined::open_ambient_dir(&work_dir)?;
            let limit = MAX_EXPANDED_NAME_BYTES as u64 + 1;
            confined::read_regular(&dir, EXPANDED_NAME_FILE, Follow::Never, limit)
        })
        .await;
        match read {
            Ok(Ok(Some(bytes))) if bytes.len() <= MAX_EXPANDED_NAME_BYTES => {
                Ok(String::from_utf8_lossy(&bytes).trim().to_owned())
            }
            _ => Ok(text),
        }
    }

    async fn finalize(&mut self) -> PhaseResult {
        self.capture_exported_variables();
        self.stop_processes().await;
        self.log.close_output();
        Ok(())
    }

    /// `env.exported-variables` as the shell session holds them now.
    fn capture_exported_variables(&mut self) {
        let (Some(shell), Some(spec)) = (&self.shell, &self.buildspec) else {
            return;
        };
        self.record.exported_environment_variables = spec
            .exported_variables
            .iter()
            .filter_map(|name| {
                shell.var(name).map(|value| ExportedVariable {
                    name: name.clone(),
                    value,
                })
            })
            .collect();
    }

    async fn interrupted(&mut self, interrupt: Interrupt) {
        self.capture_exported_variables();
        let phase = self.record.current_phase;
        let (status, context) = match interrupt {
            Interrupt::Stopped => {
                self.log.line("Build stopped by request");
                (
                    BuildStatus::Stopped,
                    PhaseContext::new(context_codes::BUILD_STOPPED, "Build was stopped"),
                )
            }
            Interrupt::TimedOut => {
                let minutes = self.record.settings.timeout_in_minutes;
                self.log
                    .line(&format!("Build timed out after {minutes} minutes"));
                (
                    BuildStatus::TimedOut,
                    PhaseContext::new(
                        context_codes::BUILD_TIMED_OUT,
                        format!(
                            "Build has timed out. The build ran longer than its timeout of {minutes} minutes"
                        ),
                    ),
                )
            }
            Interrupt::LogLimit(limit) => (
                BuildStatus::Failed,
                PhaseContext::new(
                    context_codes::CLIENT_ERROR,
                    format!(
                        "The build log reached its limit of {} (max_log_bytes); the build's processes were stopped",
                        Bytes(limit)
                    ),
                ),
            ),
            Interrupt::DiskFull(message) => {
                // The build's own files are the likeliest to fill the disk: removing them first
                // lets this line, and the build's final state, be written.
                self.clean_up().await;
                self.log.line(&message);
                (
                    BuildStatus::Fault,
                    PhaseContext::new(context_codes::SERVER_ERROR, message),
                )
            }
            Interrupt::Fault(message) => {
                // A write that failed for want of space fails as "cannot write …": name why.
                let message = match self.disk_full() {
                    Some(full) => format!("{message}; {full}"),
                    None => message,
                };
                self.log.line(&format!("Kiln internal error: {message}"));
                (
                    BuildStatus::Fault,
                    PhaseContext::new(context_codes::SERVER_ERROR, message),
                )
            }
        };
        self.log_phase_end(phase, status, &context);
        self.record.abort(status, context, now());
        self.sink.save(&self.record).await;
    }

    /// Ends every process of the build. Safe to call twice.
    async fn stop_processes(&mut self) {
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.abort();
        }
        if let Some(mut shell) = self.shell.take() {
            shell.shutdown().await;
        }
        if let Some(environment) = self.environment.take() {
            environment.teardown().await;
        }
    }

    /// Ends every process of the build and removes its directory. Called after the final
    /// state is saved: unlinking a checkout can take long on some file systems, and the build
    /// is over for its readers.
    async fn clean_up(&mut self) {
        self.stop_processes().await;
        self.log.close_output();
        let work_dir = self.work_dir.clone();
        let removed = tokio::task::spawn_blocking(move || remove_tree(&work_dir)).await;
        match removed {
            Ok(Ok(())) => {}
            Ok(Err(err)) => self.log.line(&format!(
                "Warning: cannot remove the build directory {}: {err}",
                self.work_dir.display()
            )),
            Err(err) => self.log.line(&format!(
                "Warning: cannot remove the build directory {}: {err}",
                self.work_dir.display()
            )),
        }
    }
}

/// Removes `dir` and everything in it, even directories a build made read-only. Links are
/// never followed (`remove_dir_all` unlinks them; permissions are changed through a handle on
/// `dir`), so nothing outside the build directory is touched.
fn remove_tree(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) => {
            if let Ok(opened) = confined::open_ambient_dir(dir) {
                confined::make_dirs_writable(&opened);
            }
            std::fs::remove_dir_all(dir)
        }
    }
}

fn output_not_open() -> Interrupt {
    Interrupt::Fault("the build's output pipe is not open".to_owned())
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

/// `text` as one single-quoted shell word.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

fn shorten(command: &str) -> String {
    match command.char_indices().nth(MAX_CONTEXT_COMMAND_CHARS) {
        Some((cut, _)) => format!("{}…", &command[..cut]),
        None => command.to_owned(),
    }
}
