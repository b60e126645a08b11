//! CodeBuild's `Build` shape and the outputs of the build operations.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::build::{BuildArtifacts, BuildStatus, ExportedVariable, PhaseContext, PhaseType};
use crate::project::{
    LogsConfigEntry, ProjectCache, ProjectEnvironment, ProjectSource, ProjectSourceVersion,
};

/// `Build`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Build {
    pub id: String,
    pub arn: String,
    pub build_number: i64,
    pub start_time: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<f64>,
    pub current_phase: PhaseType,
    pub build_status: BuildStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_source_version: Option<String>,
    pub project_name: String,
    pub phases: Vec<BuildPhase>,
    pub source: ProjectSource,
    pub secondary_sources: Vec<ProjectSource>,
    pub secondary_source_versions: Vec<ProjectSourceVersion>,
    pub artifacts: BuildArtifacts,
    pub secondary_artifacts: Vec<BuildArtifacts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<ProjectCache>,
    pub environment: ProjectEnvironment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_role: Option<String>,
    pub logs: LogsLocation,
    pub timeout_in_minutes: i64,
    pub queued_timeout_in_minutes: i64,
    pub build_complete: bool,
    pub initiator: String,
    pub exported_environment_variables: Vec<ExportedVariable>,
    /// Only a build that made reports has the member, as on CodeBuild.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub report_arns: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_retry_config: Option<AutoRetryConfig>,
    /// Echoed as given, never applied (`crate::unapplied`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_system_locations: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug_session: Option<DebugSession>,
}

impl Build {
    /// The uuid part of the build's id (`<project>:<uuid>`).
    pub fn uuid(&self) -> &str {
        self.id.split_once(':').map_or("", |(_, uuid)| uuid)
    }

    /// The phase that failed the build, with its first context's reason, if any did.
    pub fn failed_phase(&self) -> Option<&BuildPhase> {
        self.phases.iter().find(|phase| {
            phase
                .phase_status
                .is_some_and(|status| status != BuildStatus::Succeeded)
        })
    }
}

/// `BuildPhase`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildPhase {
    pub phase_type: PhaseType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_status: Option<BuildStatus>,
    pub start_time: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_in_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contexts: Option<Vec<PhaseContext>>,
}

/// `LogsLocation`: the stream and its ARN, links to the build's log on this Kiln and the
/// configuration echoed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsLocation {
    pub deep_link: String,
    pub cloud_watch_logs: LogsConfigEntry,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_watch_logs_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    pub s3_logs: LogsConfigEntry,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_logs_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_deep_link: Option<String>,
}

/// `AutoRetryConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoRetryConfig {
    pub auto_retry_limit: i64,
    pub auto_retry_number: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_auto_retry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_auto_retry: Option<String>,
}

/// `DebugSession`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DebugSession {
    pub session_enabled: bool,
}

/// The output of StartBuild, RetryBuild and StopBuild.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildOutput {
    pub build: Build,
}

/// The output of BatchGetBuilds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchGetBuildsOutput {
    pub builds: Vec<Build>,
    pub builds_not_found: Vec<String>,
}

/// The output of ListBuilds and ListBuildsForProject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListBuildsOutput {
    pub ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}
