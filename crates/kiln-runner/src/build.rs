//! Runs one build from QUEUED to COMPLETED as CodeBuild does (docs/builds.md §1): the phases
//! and their transitions, the log lines, the environment, the timeout and `StopBuild`.
//!
//! ```no_run
//! # use kiln_runner::build::{BuildJob, BuildSink};
//! # use kiln_runner::executor::Executor;
//! # async fn example(executor: &Executor, job: BuildJob, sink: &dyn BuildSink) {
//! let stop = tokio_util::sync::CancellationToken::new();
//! let record = kiln_runner::build::run_build(executor, job, None, sink, stop).await;
//! assert!(record.is_complete());
//! # }
//! ```

mod buildspec_file;
mod cache_phase;
mod commands;
mod environment;
mod halt;
mod interrupt;
mod log;
mod reports;
mod secrets;
mod source_phase;
#[cfg(test)]
mod tests;
mod upload;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use kiln_buildspec::{Buildspec, OnFailure, PhaseName};
use kiln_domain::build::{
    BuildRecord, BuildStatus, OnFailureAction, PhaseContext, PhaseType, context_codes,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::artifacts::ArtifactStore;
use crate::cache::CacheSettings;
use crate::confined;
use crate::disk::DiskReserve;
use crate::docker::{ProvisionError, ProvisionRequest, RegistryAuth};
use crate::executor::{Environment, Executor};
use crate::local_source::LocalSourcePolicy;
pub use crate::reports::ReportExport;
use crate::runtimes::RuntimeTable;
use crate::shell::ShellSession;
use crate::source::GitCredential;
use halt::Halt;
use interrupt::Interrupt;
pub use kiln_reports::{CollectedFile, CollectedReport};
use log::BuildLog;
pub use log::{DEFAULT_MAX_LOG_BYTES, MIN_MAX_LOG_BYTES, append_line as append_log_line, stamped};
pub use secrets::{NoSecrets, Resolved, SecretSource};

/// The shell session's state directory inside a build's work directory.
const SHELL_STATE_DIR: &str = "shell";
/// The source directory (`CODEBUILD_SRC_DIR`) inside a build's work directory.
const SOURCE_DIR: &str = "src";
/// The FIFO inside a build's work directory that its commands write their output to.
const OUTPUT_FIFO: &str = "output.fifo";

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
    /// The build's public page while its project is public: `CODEBUILD_PUBLIC_BUILD_URL`
    /// (docs/public-builds.md).
    pub public_build_url: Option<String>,
    pub limits: BuildLimits,
    /// How INSTALL's `runtime-versions` are selected.
    pub runtimes: Arc<RuntimeTable>,
    /// Where the values of the build's PARAMETER_STORE and SECRETS_MANAGER variables come from.
    pub secrets: Arc<dyn SecretSource>,
    /// Where the project's LOCAL caches live on this host, and its cache generation.
    pub cache: CacheSettings,
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

/// Receives the record after every change, so API readers and badges see progress, and the
/// build's reports.
#[async_trait]
pub trait BuildSink: Send + Sync {
    async fn save(&self, record: &BuildRecord);

    /// Makes a report of each collected report group of `record`'s buildspec (once, during
    /// UPLOAD_ARTIFACTS). For each group, in order: the report made (its ARN for
    /// `reportArns`, and where its group exports raw files), or why none was, in words for
    /// the build log.
    async fn save_reports(
        &self,
        record: &BuildRecord,
        reports: Vec<CollectedReport>,
    ) -> Vec<Result<SavedReport, String>>;
}

/// A report a [`BuildSink`] made.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SavedReport {
    pub arn: String,
    /// Where the runner exports the report's raw files, when its group's `exportConfig` says.
    pub export: Option<ReportExport>,
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
        public_build_url,
        limits,
        runtimes,
        secrets,
        cache,
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
        public_build_url,
        log,
        sink,
        cancel,
        halt,
        disk_reserve: limits.disk_reserve,
        runtimes,
        stop,
        watchdog: None,
        buildspec: None,
        user_variables: Vec::new(),
        secrets,
        cache,
        shell: None,
        failed: false,
    };
    if let Err(interrupt) = run.execute().await {
        run.interrupted(interrupt).await;
    }
    run.clean_up().await;
    run.record
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
    public_build_url: Option<String>,
    log: BuildLog,
    sink: &'a dyn BuildSink,
    stop: CancellationToken,
    /// Cancelled on stop, or by `halt`; everything that waits listens to it.
    cancel: CancellationToken,
    /// Cancels `cancel` for a reason of Kiln's own (timeout, log limit, full disk).
    halt: Halt,
    disk_reserve: Option<DiskReserve>,
    runtimes: Arc<RuntimeTable>,
    /// Ends the build at its timeout or when the disk is below its reserve.
    watchdog: Option<JoinHandle<()>>,
    buildspec: Option<Buildspec>,
    /// Project and StartBuild variables, resolved during PROVISIONING.
    user_variables: Vec<(String, String)>,
    secrets: Arc<dyn SecretSource>,
    cache: CacheSettings,
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
        for setting in kiln_domain::unapplied::in_build(&self.record.settings) {
            self.log.line(&format!("Warning: {}", setting.note()));
        }
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
        cache_phase::install_helpers(&self.work_dir).map_err(|err| {
            Interrupt::Fault(format!("Cannot write the build's helper commands: {err}"))
        })?;
        self.log.open_output(&self.output_fifo).map_err(|err| {
            Interrupt::Fault(format!("Cannot make the build's output pipe: {err}"))
        })?;
        let user = environment::user_variables(&self.record.settings);
        let pending = user
            .as_ref()
            .map(|u| u.pending.clone())
            .map_err(Clone::clone);
        let resolved = match self.resolve_secrets(pending).await? {
            Ok(resolved) => resolved,
            Err(context) => return Ok(Err(context)),
        };
        self.user_variables = user.map(|u| u.plain).unwrap_or_default();
        self.user_variables.extend(resolved);
        if let Err(context) = self.provision_environment().await? {
            return Ok(Err(context));
        }
        self.log.line("Waiting for agent ping");
        self.log.line("Waiting for DOWNLOAD_SOURCE");
        Ok(Ok(()))
    }

    /// Makes the executor's environment for the build (its container).
    async fn provision_environment(&mut self) -> Result<PhaseResult, Interrupt> {
        let layer_cache = self.layer_cache();
        let request = ProvisionRequest {
            build_uuid: &self.record.uuid,
            environment: &self.record.settings.environment,
            work_dir: &self.work_dir,
            output_path: &self.output_fifo,
            registry_auth: self.registry_auth.as_ref(),
            layer_cache: layer_cache.as_ref(),
        };
        let log = &self.log;
        let provisioned = self
            .executor
            .provision(&request, &|line: &str| log.line(line), &self.cancel)
            .await;
        match provisioned {
            Ok(environment) => {
                self.environment = Some(environment);
                self.explain_local_caches();
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

    async fn finalize(&mut self) -> PhaseResult {
        self.capture_exported_variables();
        self.stop_processes().await;
        self.log.close_output();
        Ok(())
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
