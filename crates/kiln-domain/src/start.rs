//! `StartBuild`: its input and how the overrides combine with the project's settings.

use serde::Deserialize;
use serde_json::Value;

use crate::build::BuildSettings;
use crate::enums;
use crate::error::ApiError;
use crate::project::{
    self, EnvironmentVariable, GitSubmodulesConfig, ProjectArtifacts, ProjectRecord, ProjectSource,
    ProjectSourceVersion, RegistryCredential, validate_environment_variables,
};
use crate::unapplied::UnappliedProjectSettings;
use crate::validate::Violations;

/// The `StartBuild` members. Overrides Kiln has no use for are accepted and ignored, as they
/// have no effect on a self-hosted build.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartBuildInput {
    pub project_name: Option<String>,
    pub source_version: Option<String>,
    pub source_type_override: Option<String>,
    pub source_location_override: Option<String>,
    pub secondary_sources_override: Option<Vec<ProjectSource>>,
    pub secondary_sources_version_override: Option<Vec<ProjectSourceVersion>>,
    pub git_clone_depth_override: Option<i64>,
    pub git_submodules_config_override: Option<GitSubmodulesConfig>,
    pub buildspec_override: Option<String>,
    pub insecure_ssl_override: Option<bool>,
    pub environment_variables_override: Option<Vec<EnvironmentVariable>>,
    pub timeout_in_minutes_override: Option<i64>,
    pub queued_timeout_in_minutes_override: Option<i64>,
    pub artifacts_override: Option<ProjectArtifacts>,
    pub secondary_artifacts_override: Option<Vec<ProjectArtifacts>>,
    pub idempotency_token: Option<String>,
    pub environment_type_override: Option<String>,
    pub image_override: Option<String>,
    pub compute_type_override: Option<String>,
    pub privileged_mode_override: Option<bool>,
    pub certificate_override: Option<String>,
    pub registry_credential_override: Option<RegistryCredential>,
    pub image_pull_credentials_type_override: Option<String>,
    pub service_role_override: Option<String>,
    pub debug_session_enabled: Option<bool>,
    pub report_build_status_override: Option<bool>,
    pub build_status_config_override: Option<Value>,
    /// Runs this build on another fleet (`ProjectFleet`); the API checks the fleet exists.
    pub fleet_override: Option<crate::fleet::ProjectFleet>,
    pub auto_retry_limit_override: Option<i64>,
    pub logs_config_override: Option<crate::project::LogsConfig>,
    /// Replaces the project's `cache` for this build only (docs/cache.md).
    pub cache_override: Option<crate::project::ProjectCache>,
}

impl StartBuildInput {
    /// Checks the members that are present.
    pub fn validate(&self) -> Result<(), ApiError> {
        self.violations().finish()
    }

    /// Every constraint the members that are present break.
    pub fn violations(&self) -> Violations {
        let mut v = Violations::new();
        match self.project_name.as_deref() {
            None | Some("") => v.missing("projectName"),
            Some(_) => {}
        }
        if let Some(sv) = &self.source_version {
            v.length("sourceVersion", sv, 1, crate::source::MAX_VERSION_LEN);
            project::validate_source_version(&mut v, "sourceVersion", sv);
        }
        if let Some(logs) = &self.logs_config_override {
            crate::build_logs::validate_logs_config(&mut v, "logsConfigOverride", logs);
        }
        if let Some(cache) = &self.cache_override {
            project::validate_cache(&mut v, "cacheOverride", cache);
        }
        if let Some(location) = &self.source_location_override {
            // Checked against the source's type once the project's settings are known.
            v.length(
                "sourceLocationOverride",
                location,
                1,
                crate::source::MAX_LOCATION_LEN,
            );
        }
        if let Some(list) = &self.secondary_sources_override {
            project::validate_secondary_sources(&mut v, "secondarySourcesOverride", list);
        }
        if let Some(list) = &self.secondary_sources_version_override {
            v.count("secondarySourcesVersionOverride", list.len(), 12);
            project::validate_source_versions(&mut v, "secondarySourcesVersionOverride", list);
        }
        if let Some(t) = &self.source_type_override {
            v.one_of("sourceTypeOverride", t, enums::SOURCE_TYPE);
        }
        if let Some(d) = self.git_clone_depth_override {
            v.range("gitCloneDepthOverride", d, 0, i64::from(i32::MAX));
        }
        if let Some(spec) = &self.buildspec_override {
            v.length("buildspecOverride", spec, 0, 256 * 1024);
        }
        if let Some(vars) = &self.environment_variables_override {
            validate_environment_variables(&mut v, "environmentVariablesOverride", vars);
        }
        if let Some(t) = self.timeout_in_minutes_override {
            let (min, max) = project::TIMEOUT_RANGE;
            v.range("timeoutInMinutesOverride", t, min, max);
        }
        if let Some(t) = self.queued_timeout_in_minutes_override {
            let (min, max) = project::QUEUED_TIMEOUT_RANGE;
            v.range("queuedTimeoutInMinutesOverride", t, min, max);
        }
        if let Some(a) = &self.artifacts_override
            && let Some(t) = &a.artifacts_type
        {
            v.one_of("artifactsOverride.type", t, enums::ARTIFACTS_TYPE);
        }
        if let Some(t) = &self.environment_type_override {
            v.one_of("environmentTypeOverride", t, enums::ENVIRONMENT_TYPE);
        }
        if let Some(t) = &self.compute_type_override {
            v.one_of("computeTypeOverride", t, enums::COMPUTE_TYPE);
        }
        if let Some(t) = &self.idempotency_token {
            v.length("idempotencyToken", t, 1, 128);
        }
        if let Some(limit) = self.auto_retry_limit_override {
            let (min, max) = project::AUTO_RETRY_LIMIT_RANGE;
            v.range("autoRetryLimitOverride", limit, min, max);
        }
        v
    }

    /// How many automatic retries the build's chain may make: the override, else the
    /// project's `autoRetryLimit`, else none.
    pub fn auto_retry_limit(&self, project: &ProjectRecord) -> i64 {
        self.auto_retry_limit_override
            .or(project.settings.auto_retry_limit)
            .unwrap_or(0)
    }

    /// The project's settings with this request's overrides applied.
    pub fn resolve(&self, project: &ProjectRecord) -> Result<BuildSettings, ApiError> {
        let p = &project.settings;
        let mut source = p.source.clone().unwrap_or_default();
        if let Some(t) = &self.source_type_override {
            source.source_type = Some(t.clone());
        }
        if let Some(l) = &self.source_location_override {
            source.location = Some(l.clone());
        }
        if let Some(d) = self.git_clone_depth_override {
            source.git_clone_depth = Some(d);
        }
        if let Some(s) = &self.git_submodules_config_override {
            source.git_submodules_config = Some(s.clone());
        }
        if let Some(i) = self.insecure_ssl_override {
            source.insecure_ssl = Some(i);
        }
        let mut environment = p.environment.clone().unwrap_or_default();
        if let Some(t) = &self.environment_type_override {
            environment.env_type = Some(t.clone());
        }
        if let Some(i) = &self.image_override {
            environment.image = Some(i.clone());
        }
        if let Some(c) = &self.compute_type_override {
            environment.compute_type = Some(c.clone());
        }
        if let Some(pm) = self.privileged_mode_override {
            environment.privileged_mode = Some(pm);
        }
        if let Some(c) = &self.certificate_override {
            environment.certificate = Some(c.clone());
        }
        if let Some(r) = &self.registry_credential_override {
            environment.registry_credential = Some(r.clone());
        }
        if let Some(t) = &self.image_pull_credentials_type_override {
            environment.image_pull_credentials_type = Some(t.clone());
        }
        if let Some(fleet) = &self.fleet_override {
            environment.fleet = Some(fleet.clone());
        }
        let artifacts = self
            .artifacts_override
            .clone()
            .or_else(|| p.artifacts.clone())
            .unwrap_or_default();
        let mut v = Violations::new();
        if artifacts.artifacts_type.as_deref() == Some("S3")
            && artifacts.location.as_deref().is_none_or(str::is_empty)
        {
            v.missing("artifactsOverride.location");
        }
        let needs_location = !matches!(
            source.source_type.as_deref(),
            Some("NO_SOURCE") | Some("CODEPIPELINE")
        );
        if needs_location && source.location.as_deref().is_none_or(str::is_empty) {
            v.missing("sourceLocationOverride");
        }
        if let Some(location) = source.location.as_deref().filter(|l| !l.is_empty()) {
            let field = if self.source_location_override.is_some() {
                "sourceLocationOverride"
            } else {
                "source.location"
            };
            project::validate_git_location(&mut v, field, source.source_type.as_deref(), location);
        }
        v.finish()?;
        Ok(BuildSettings {
            source,
            source_version: self
                .source_version
                .clone()
                .or_else(|| p.source_version.clone()),
            secondary_sources: self
                .secondary_sources_override
                .clone()
                .or_else(|| p.secondary_sources.clone())
                .unwrap_or_default(),
            secondary_source_versions: project::merge_source_versions(
                p.secondary_source_versions.as_deref().unwrap_or_default(),
                self.secondary_sources_version_override
                    .as_deref()
                    .unwrap_or_default(),
            ),
            artifacts,
            secondary_artifacts: self
                .secondary_artifacts_override
                .clone()
                .or_else(|| p.secondary_artifacts.clone())
                .unwrap_or_default(),
            environment,
            service_role: self
                .service_role_override
                .clone()
                .or_else(|| p.service_role.clone()),
            timeout_in_minutes: self
                .timeout_in_minutes_override
                .or(p.timeout_in_minutes)
                .unwrap_or(project::DEFAULT_TIMEOUT),
            queued_timeout_in_minutes: self
                .queued_timeout_in_minutes_override
                .or(p.queued_timeout_in_minutes)
                .unwrap_or(project::DEFAULT_QUEUED_TIMEOUT),
            buildspec_override: self.buildspec_override.clone(),
            environment_variables_override: self
                .environment_variables_override
                .clone()
                .unwrap_or_default(),
            debug_session_enabled: self.debug_session_enabled,
            unapplied: UnappliedProjectSettings::of(p),
            logs_config: self
                .logs_config_override
                .clone()
                .or_else(|| p.logs_config.clone()),
            cache: self.cache_override.clone().or_else(|| p.cache.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::ProjectSettings;

    fn project() -> ProjectRecord {
        let settings: ProjectSettings = serde_json::from_value(serde_json::json!({
            "source": {"type": "GITHUB", "location": "https://example.com/r.git"},
            "sourceVersion": "main",
            "artifacts": {"type": "NO_ARTIFACTS"},
            "environment": {"type": "LINUX_CONTAINER", "image": "img", "computeType": "BUILD_GENERAL1_SMALL"},
            "timeoutInMinutes": 30
        }))
        .unwrap();
        ProjectRecord {
            account_id: "123456789012".into(),
            name: "p".into(),
            settings,
            badge_enabled: true,
            badge_token: "t".into(),
            created: 0.0,
            last_modified: 0.0,
            source_epoch: 0,
            public: Default::default(),
        }
    }

    #[test]
    fn overrides_win_over_project_settings() {
        let input: StartBuildInput = serde_json::from_value(serde_json::json!({
            "projectName": "p", "sourceVersion": "dev", "imageOverride": "other",
            "timeoutInMinutesOverride": 10
        }))
        .unwrap();
        input.validate().unwrap();
        let s = input.resolve(&project()).unwrap();
        assert_eq!(s.source_version.as_deref(), Some("dev"));
        assert_eq!(s.environment.image.as_deref(), Some("other"));
        assert_eq!(s.timeout_in_minutes, 10);
        assert_eq!(s.queued_timeout_in_minutes, 480);
    }

    #[test]
    fn a_fleet_override_replaces_the_projects_fleet() {
        let mut p = project();
        if let Some(env) = p.settings.environment.as_mut() {
            env.fleet = Some(crate::fleet::ProjectFleet {
                fleet_arn: Some("arn:one".into()),
            });
        }
        let input: StartBuildInput = serde_json::from_value(serde_json::json!({
            "projectName": "p", "fleetOverride": {"fleetArn": "arn:two"}
        }))
        .unwrap();
        assert_eq!(
            input.resolve(&p).unwrap().environment.fleet_arn(),
            Some("arn:two")
        );
        let plain = StartBuildInput {
            project_name: Some("p".into()),
            ..Default::default()
        };
        assert_eq!(
            plain.resolve(&p).unwrap().environment.fleet_arn(),
            Some("arn:one")
        );
    }

    #[test]
    fn project_settings_apply_without_overrides() {
        let input = StartBuildInput {
            project_name: Some("p".into()),
            ..Default::default()
        };
        let s = input.resolve(&project()).unwrap();
        assert_eq!(s.source_version.as_deref(), Some("main"));
        assert_eq!(s.timeout_in_minutes, 30);
    }

    #[test]
    fn the_auto_retry_limit_override_wins_over_the_projects() {
        let mut p = project();
        let mut input = StartBuildInput::default();
        assert_eq!(input.auto_retry_limit(&p), 0);
        p.settings.auto_retry_limit = Some(2);
        assert_eq!(input.auto_retry_limit(&p), 2);
        input.auto_retry_limit_override = Some(0);
        assert_eq!(input.auto_retry_limit(&p), 0);
        input.project_name = Some("p".into());
        input.auto_retry_limit_override = Some(11);
        assert!(input.validate().is_err());
    }

    #[test]
    fn bad_overrides_are_refused() {
        let input = StartBuildInput {
            project_name: Some("p".into()),
            timeout_in_minutes_override: Some(1),
            compute_type_override: Some("HUGE".into()),
            ..Default::default()
        };
        let err = input.validate().unwrap_err();
        assert!(
            err.message.starts_with("2 validation errors"),
            "{}",
            err.message
        );
    }
}
