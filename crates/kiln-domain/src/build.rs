//! Builds: the record CodeBuild's `Build` shape is made from, the phase state machine and the
//! `StartBuild` rules.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::project::{
    EnvironmentVariable, ProjectArtifacts, ProjectEnvironment, ProjectSource, ProjectSourceVersion,
};
use crate::refs::GitRef;

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
    fn to_api(&self) -> Value {
        let mut out = json!({
            "phaseType": self.phase_type.as_str(),
            "startTime": self.start_time,
        });
        if let Some(status) = self.phase_status {
            out["phaseStatus"] = status.as_str().into();
        }
        if let Some(end) = self.end_time {
            out["endTime"] = end.into();
            out["durationInSeconds"] = ((end - self.start_time).max(0.0).round() as i64).into();
        }
        // As on CodeBuild, SUBMITTED and QUEUED carry no contexts and COMPLETED none at all;
        // a QUEUED phase that ended the build (stopped, timed out) carries the reason.
        let ended_the_build = self.phase_type == PhaseType::Queued
            && self.phase_status != Some(BuildStatus::Succeeded);
        let has_contexts = ended_the_build
            || !matches!(
                self.phase_type,
                PhaseType::Submitted | PhaseType::Queued | PhaseType::Completed
            );
        if has_contexts && self.end_time.is_some() {
            out["contexts"] = serde_json::to_value(&self.contexts).unwrap_or(Value::Null);
        }
        out
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
    pub fn to_api(&self, region: &str, public_url: &str) -> Value {
        let mut out = json!({
            "id": self.id(),
            "arn": self.arn(region),
            "buildNumber": self.build_number,
            "startTime": self.start_time,
            "currentPhase": self.current_phase.as_str(),
            "buildStatus": self.status.as_str(),
            "projectName": self.project_name,
            "phases": self.phases.iter().map(BuildPhase::to_api).collect::<Vec<_>>(),
            "source": self.settings.source,
            "secondarySources": self.settings.secondary_sources,
            "secondarySourceVersions": self.settings.secondary_source_versions,
            "environment": self.effective_environment(),
            "timeoutInMinutes": self.settings.timeout_in_minutes,
            "queuedTimeoutInMinutes": self.settings.queued_timeout_in_minutes,
            "buildComplete": self.is_complete(),
            "initiator": self.initiator,
            "logs": self.logs_api(region, public_url),
            "exportedEnvironmentVariables": self.exported_environment_variables,
            "artifacts": self.artifacts.clone().unwrap_or_default(),
            "secondaryArtifacts": self.secondary_artifacts,
        });
        if let Some(end) = self.end_time {
            out["endTime"] = end.into();
        }
        if let Some(v) = &self.settings.source_version {
            out["sourceVersion"] = v.clone().into();
        }
        if let Some(v) = &self.resolved_source_version {
            out["resolvedSourceVersion"] = v.clone().into();
        }
        if let Some(cache) = &self.settings.cache {
            out["cache"] = json!(cache);
        }
        if let Some(role) = &self.settings.service_role {
            out["serviceRole"] = role.clone().into();
        }
        // Only a build that made reports has the member, as on CodeBuild.
        if !self.report_arns.is_empty() {
            out["reportArns"] = self.report_arns.clone().into();
        }
        if let Some(chain) = self.auto_retry_api(region) {
            out["autoRetryConfig"] = chain;
        }
        // Echoed as given, never applied (crate::unapplied).
        let unapplied = &self.settings.unapplied;
        if let Some(vpc) = &unapplied.vpc_config {
            out["vpcConfig"] = vpc.clone();
        }
        if let Some(locations) = &unapplied.file_system_locations {
            out["fileSystemLocations"] = locations.clone().into();
        }
        if let Some(enabled) = self.settings.debug_session_enabled {
            out["debugSession"] = json!({ "sessionEnabled": enabled });
        }
        out
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
