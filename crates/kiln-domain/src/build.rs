//! Builds: the record CodeBuild's `Build` shape is made from, the phase state machine and the
//! `StartBuild` rules.

use serde::{Deserialize, Serialize};

use crate::project::{
    EnvironmentVariable, ProjectArtifacts, ProjectEnvironment, ProjectSource, ProjectSourceVersion,
};
use crate::refs::GitRef;
use crate::shapes;

/// `StatusType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BuildStatus {
    Succeeded,
    Failed,
    Fault,
    TimedOut,
    InProgress,
    Stopped,
}

impl BuildStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BuildStatus::Succeeded => "SUCCEEDED",
            BuildStatus::Failed => "FAILED",
            BuildStatus::Fault => "FAULT",
            BuildStatus::TimedOut => "TIMED_OUT",
            BuildStatus::InProgress => "IN_PROGRESS",
            BuildStatus::Stopped => "STOPPED",
        }
    }

    pub fn parse(text: &str) -> Option<BuildStatus> {
        [
            BuildStatus::Succeeded,
            BuildStatus::Failed,
            BuildStatus::Fault,
            BuildStatus::TimedOut,
            BuildStatus::InProgress,
            BuildStatus::Stopped,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// `BuildPhaseType`, in the order builds pass through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PhaseType {
    Submitted,
    Queued,
    Provisioning,
    DownloadSource,
    Install,
    PreBuild,
    Build,
    PostBuild,
    UploadArtifacts,
    Finalizing,
    Completed,
}

impl PhaseType {
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseType::Submitted => "SUBMITTED",
            PhaseType::Queued => "QUEUED",
            PhaseType::Provisioning => "PROVISIONING",
            PhaseType::DownloadSource => "DOWNLOAD_SOURCE",
            PhaseType::Install => "INSTALL",
            PhaseType::PreBuild => "PRE_BUILD",
            PhaseType::Build => "BUILD",
            PhaseType::PostBuild => "POST_BUILD",
            PhaseType::UploadArtifacts => "UPLOAD_ARTIFACTS",
            PhaseType::Finalizing => "FINALIZING",
            PhaseType::Completed => "COMPLETED",
        }
    }

    /// Where a build goes after this phase ends with `succeeded` (the table of docs/builds.md §1).
    /// `on_failure` is the buildspec's `on-failure` for command phases.
    pub fn next(self, succeeded: bool, on_failure: OnFailureAction) -> PhaseType {
        use PhaseType::*;
        if !succeeded {
            match on_failure {
                OnFailureAction::Continue => {}
                OnFailureAction::Abort => return Finalizing,
                OnFailureAction::Default => match self {
                    Provisioning => return Completed,
                    DownloadSource | Install | PreBuild => return Finalizing,
                    _ => {}
                },
            }
        }
        match self {
            Submitted => Queued,
            Queued => Provisioning,
            Provisioning => DownloadSource,
            DownloadSource => Install,
            Install => PreBuild,
            PreBuild => Build,
            Build => PostBuild,
            PostBuild => UploadArtifacts,
            UploadArtifacts => Finalizing,
            Finalizing | Completed => Completed,
        }
    }
}

/// What the buildspec's `on-failure` asks of a failed command phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailureAction {
    /// CodeBuild's default transitions.
    Default,
    Abort,
    Continue,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseContext {
    pub status_code: String,
    pub message: String,
}

impl PhaseContext {
    pub fn ok() -> Self {
        PhaseContext {
            status_code: String::new(),
            message: String::new(),
        }
    }

    pub fn new(status_code: &str, message: impl Into<String>) -> Self {
        PhaseContext {
            status_code: status_code.to_string(),
            message: message.into(),
        }
    }
}

/// Phase context status codes Kiln reports.
pub mod context_codes {
    pub const COMMAND_EXECUTION_ERROR: &str = "COMMAND_EXECUTION_ERROR";
    pub const YAML_FILE_ERROR: &str = "YAML_FILE_ERROR";
    pub const CLIENT_ERROR: &str = "CLIENT_ERROR";
    pub const BUILD_TIMED_OUT: &str = "BUILD_TIMED_OUT";
    pub const BUILD_STOPPED: &str = "BUILD_STOPPED";
    pub const SERVER_ERROR: &str = "SERVER_ERROR";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildPhase {
    pub phase_type: PhaseType,
    pub phase_status: Option<BuildStatus>,
    pub start_time: f64,
    pub end_time: Option<f64>,
    pub contexts: Vec<PhaseContext>,
}

impl BuildPhase {
    fn to_api(&self) -> shapes::BuildPhase {
        // As on CodeBuild, SUBMITTED and QUEUED carry no contexts and COMPLETED none at all;
        // a QUEUED phase that ended the build (stopped, timed out) carries the reason.
        let ended_the_build = self.phase_type == PhaseType::Queued
            && self.phase_status != Some(BuildStatus::Succeeded);
        let has_contexts = ended_the_build
            || !matches!(
                self.phase_type,
                PhaseType::Submitted | PhaseType::Queued | PhaseType::Completed
            );
        shapes::BuildPhase {
            phase_type: self.phase_type,
            phase_status: self.phase_status,
            start_time: self.start_time,
            end_time: self.end_time,
            duration_in_seconds: self
                .end_time
                .map(|end| (end - self.start_time).max(0.0).round() as i64),
            contexts: (has_contexts && self.end_time.is_some()).then(|| self.contexts.clone()),
        }
    }
}

/// An artifact a build uploaded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildArtifacts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256sum: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub md5sum: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_artifact_name: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_identifier: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedVariable {
    pub name: String,
    pub value: String,
}

/// What a build runs: the project's settings with the `StartBuild` overrides applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildSettings {
    pub source: ProjectSource,
    pub source_version: Option<String>,
    pub secondary_sources: Vec<ProjectSource>,
    /// The version of each secondary source, by `sourceIdentifier` (StartBuild's override
    /// entries win over the project's).
    #[serde(default)]
    pub secondary_source_versions: Vec<ProjectSourceVersion>,
    pub artifacts: ProjectArtifacts,
    pub secondary_artifacts: Vec<ProjectArtifacts>,
    pub environment: ProjectEnvironment,
    pub service_role: Option<String>,
    pub timeout_in_minutes: i64,
    pub queued_timeout_in_minutes: i64,
    /// The override from `StartBuild`, which replaces `source.buildspec`.
    pub buildspec_override: Option<String>,
    /// StartBuild overrides, which win over the project's variables.
    pub environment_variables_override: Vec<EnvironmentVariable>,
    pub debug_session_enabled: Option<bool>,
    /// The project's settings Kiln echoes on the build but does not apply.
    #[serde(default)]
    pub unapplied: crate::unapplied::UnappliedProjectSettings,
    /// The project's `logsConfig`, or StartBuild's `logsConfigOverride` (crate::build_logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs_config: Option<crate::project::LogsConfig>,
    /// The project's `cache`, or StartBuild's `cacheOverride` (docs/cache.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<crate::project::ProjectCache>,
}

/// A build as Kiln keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildRecord {
    pub account_id: String,
    pub project_name: String,
    pub uuid: String,
    pub build_number: i64,
    pub status: BuildStatus,
    pub current_phase: PhaseType,
    pub phases: Vec<BuildPhase>,
    pub start_time: f64,
    pub end_time: Option<f64>,
    pub initiator: String,
    pub settings: BuildSettings,
    pub resolved_source_version: Option<String>,
    /// The branch or tag this build counts for on badges.
    pub git_ref: Option<GitRef>,
    /// The project's source epoch when the build started (see `ProjectRecord::source_epoch`).
    pub source_epoch: i64,
    pub artifacts: Option<BuildArtifacts>,
    pub secondary_artifacts: Vec<BuildArtifacts>,
    pub exported_environment_variables: Vec<ExportedVariable>,
    pub idempotency_token: Option<String>,
    /// Extra webhook variables (`CODEBUILD_WEBHOOK_*`) the build gets.
    #[serde(default)]
    pub trigger_variables: Vec<(String, String)>,
    /// The reports the build made (`reportArns`), one per report group of its buildspec.
    #[serde(default)]
    pub report_arns: Vec<String>,
    /// Its place in a chain of automatic retries (`crate::retry`).
    #[serde(default)]
    pub auto_retry: crate::retry::AutoRetry,
    /// The agent that ran the build (`kiln agent`), set by the server from the agent's
    /// session; `None` for builds a server ran itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The subject and author of the commit checked out, as the runner read them. Console
    /// only: CodeBuild's `Build` has no member for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<crate::commit::CommitSummary>,
    /// The build this one runs again (RetryBuild or an automatic retry), by uuid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<String>,
    /// The repository's web page as the webhook delivery that started the build (or the build
    /// it retries) gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_page: Option<crate::commit::RepositoryPage>,
}

impl BuildRecord {
    pub fn id(&self) -> String {
        format!("{}:{}", self.project_name, self.uuid)
    }

    pub fn arn(&self, region: &str) -> String {
        format!(
            "arn:aws:codebuild:{region}:{}:build/{}",
            self.account_id,
            self.id()
        )
    }

    pub fn is_complete(&self) -> bool {
        self.current_phase == PhaseType::Completed
    }

    /// Ends the open phase (if any) with `status` and `context`, at `now`.
    pub fn end_phase(&mut self, status: BuildStatus, context: Option<PhaseContext>, now: f64) {
        if let Some(phase) = self.phases.last_mut()
            && phase.end_time.is_none()
            && phase.phase_type != PhaseType::Completed
        {
            phase.phase_status = Some(status);
            phase.end_time = Some(now);
            phase.contexts = vec![context.unwrap_or_else(PhaseContext::ok)];
        }
    }

    /// Opens `phase` at `now`; COMPLETED also completes the build.
    pub fn begin_phase(&mut self, phase: PhaseType, now: f64) {
        self.current_phase = phase;
        self.phases.push(BuildPhase {
            phase_type: phase,
            phase_status: None,
            start_time: now,
            end_time: None,
            contexts: Vec::new(),
        });
        if phase == PhaseType::Completed {
            self.end_time = Some(now);
            if self.status == BuildStatus::InProgress {
                self.status = BuildStatus::Succeeded;
            }
        }
    }

    /// Ends the build at once with `status` (a stop, a timeout, a fault), as CodeBuild records
    /// it: the open phase carries the reason, then FINALIZING and COMPLETED.
    pub fn abort(&mut self, status: BuildStatus, context: PhaseContext, now: f64) {
        if self.is_complete() {
            return;
        }
        self.end_phase(status, Some(context), now);
        self.status = status;
        if self.current_phase < PhaseType::Finalizing && self.current_phase > PhaseType::Queued {
            self.begin_phase(PhaseType::Finalizing, now);
            self.end_phase(BuildStatus::Succeeded, None, now);
        }
        self.begin_phase(PhaseType::Completed, now);
    }

    /// The `Build` shape of the API; its log links lead to Kiln's console at `public_url`.
    pub fn to_api(&self, region: &str, public_url: &str) -> shapes::Build {
        let unapplied = &self.settings.unapplied;
        shapes::Build {
            id: self.id(),
            arn: self.arn(region),
            build_number: self.build_number,
            start_time: self.start_time,
            end_time: self.end_time,
            current_phase: self.current_phase,
            build_status: self.status,
            source_version: self.settings.source_version.clone(),
            resolved_source_version: self.resolved_source_version.clone(),
            project_name: self.project_name.clone(),
            phases: self.phases.iter().map(BuildPhase::to_api).collect(),
            source: self.settings.source.clone(),
            secondary_sources: self.settings.secondary_sources.clone(),
            secondary_source_versions: self.settings.secondary_source_versions.clone(),
            artifacts: self.artifacts.clone().unwrap_or_default(),
            secondary_artifacts: self.secondary_artifacts.clone(),
            cache: self.settings.cache.clone(),
            environment: self.effective_environment(),
            service_role: self.settings.service_role.clone(),
            logs: self.logs_api(region, public_url),
            timeout_in_minutes: self.settings.timeout_in_minutes,
            queued_timeout_in_minutes: self.settings.queued_timeout_in_minutes,
            build_complete: self.is_complete(),
            initiator: self.initiator.clone(),
            exported_environment_variables: self.exported_environment_variables.clone(),
            report_arns: self.report_arns.clone(),
            auto_retry_config: self.auto_retry_api(region),
            vpc_config: unapplied.vpc_config.clone(),
            file_system_locations: unapplied.file_system_locations.clone(),
            debug_session: self
                .settings
                .debug_session_enabled
                .map(|session_enabled| shapes::DebugSession { session_enabled }),
        }
    }

    /// The environment with the overridden variables merged in, as the Build shape shows it.
    fn effective_environment(&self) -> ProjectEnvironment {
        let mut env = self.settings.environment.clone();
        let mut vars = env.environment_variables.take().unwrap_or_default();
        for over in &self.settings.environment_variables_override {
            vars.retain(|v| v.name != over.name);
            vars.push(over.clone());
        }
        if !vars.is_empty() {
            env.environment_variables = Some(vars);
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PhaseType::*;

    #[test]
    fn default_transitions_follow_codebuild() {
        let d = OnFailureAction::Default;
        assert_eq!(Build.next(false, d), PostBuild);
        assert_eq!(Install.next(false, d), Finalizing);
        assert_eq!(PreBuild.next(false, d), Finalizing);
        assert_eq!(DownloadSource.next(false, d), Finalizing);
        assert_eq!(Provisioning.next(false, d), Completed);
        assert_eq!(PostBuild.next(false, d), UploadArtifacts);
        assert_eq!(UploadArtifacts.next(false, d), Finalizing);
        assert_eq!(Install.next(true, d), PreBuild);
        assert_eq!(Install.next(false, OnFailureAction::Continue), PreBuild);
        assert_eq!(Build.next(false, OnFailureAction::Abort), Finalizing);
    }

    #[test]
    fn status_names_round_trip() {
        for s in [
            "SUCCEEDED",
            "FAILED",
            "FAULT",
            "TIMED_OUT",
            "IN_PROGRESS",
            "STOPPED",
        ] {
            assert_eq!(BuildStatus::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(BuildStatus::parse("nope"), None);
    }
}
