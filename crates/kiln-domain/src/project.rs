//! Build projects: the CodeBuild `Project` shape, its validation and the create/update rules.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::enums;
use crate::error::{ApiError, ErrorKind};
use crate::shapes;
use crate::source;
use crate::validate::{Rule, Violations};
use crate::visibility::PublicAccess;

/// Build timeout bounds and default, in minutes.
pub const TIMEOUT_RANGE: (i64, i64) = (5, 2160);
pub const DEFAULT_TIMEOUT: i64 = 60;
/// Queued timeout bounds and default, in minutes.
pub const QUEUED_TIMEOUT_RANGE: (i64, i64) = (5, 480);
pub const DEFAULT_QUEUED_TIMEOUT: i64 = 480;
/// `autoRetryLimit` and `autoRetryLimitOverride`: retries after the first build.
pub const AUTO_RETRY_LIMIT_RANGE: (i64, i64) = (0, 10);

/// The pattern of a project name (`ProjectName` in the model).
pub const NAME_PATTERN: &str = "[A-Za-z0-9][A-Za-z0-9\\-_]{1,149}";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSource {
    #[serde(rename = "type")]
    pub source_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_clone_depth: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_submodules_config: Option<GitSubmodulesConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buildspec: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<SourceAuth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_build_status: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_status_config: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insecure_ssl: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_identifier: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitSubmodulesConfig {
    pub fetch_submodules: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceAuth {
    #[serde(rename = "type")]
    pub auth_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSourceVersion {
    pub source_identifier: Option<String>,
    pub source_version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectArtifacts {
    #[serde(rename = "type")]
    pub artifacts_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packaging: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_artifact_name: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_disabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_identifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_owner_access: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectCache {
    #[serde(rename = "type")]
    pub cache_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_namespace: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentVariable {
    pub name: Option<String>,
    pub value: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub var_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryCredential {
    pub credential: Option<String>,
    pub credential_provider: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectEnvironment {
    #[serde(rename = "type")]
    pub env_type: Option<String>,
    pub image: Option<String>,
    pub compute_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compute_configuration: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet: Option<crate::fleet::ProjectFleet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment_variables: Option<Vec<EnvironmentVariable>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged_mode: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_credential: Option<RegistryCredential>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_pull_credentials_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_server: Option<Value>,
}

impl ProjectEnvironment {
    /// The ARN of the fleet this environment runs on, when it names one.
    pub fn fleet_arn(&self) -> Option<&str> {
        self.fleet.as_ref()?.fleet_arn.as_deref()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    pub key: Option<String>,
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_watch_logs: Option<LogsConfigEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_logs: Option<LogsConfigEntry>,
}

/// Both `CloudWatchLogsConfig` and `S3LogsConfig`: a required status plus optional members kept
/// as sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogsConfigEntry {
    pub status: Option<String>,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}

/// The writable members of a project, shared by `CreateProject` and `UpdateProject`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<ProjectSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secondary_sources: Option<Vec<ProjectSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secondary_source_versions: Option<Vec<ProjectSourceVersion>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<ProjectArtifacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secondary_artifacts: Option<Vec<ProjectArtifacts>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<ProjectCache>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<ProjectEnvironment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_in_minutes: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queued_timeout_in_minutes: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_config: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs_config: Option<LogsConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_system_locations: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_batch_config: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrent_build_limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_retry_limit: Option<i64>,
}

/// `CreateProject` and `UpdateProject` input: a name, the settings and `badgeEnabled`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectInput {
    pub name: Option<String>,
    #[serde(flatten)]
    pub settings: ProjectSettings,
    pub badge_enabled: Option<bool>,
}

/// A stored project: what the account configured, plus what Kiln keeps about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectRecord {
    pub account_id: String,
    pub name: String,
    pub settings: ProjectSettings,
    pub badge_enabled: bool,
    /// Opaque, unguessable and stable for the project's life; see [`crate::token`].
    pub badge_token: String,
    /// Epoch seconds.
    pub created: f64,
    pub last_modified: f64,
    /// Bumped whenever the source location changes, so builds of an older source stop counting
    /// for badges.
    pub source_epoch: i64,
    /// Public builds (`UpdateProjectVisibility`); `UpdateProject` leaves them as they are.
    #[serde(default)]
    pub public: PublicAccess,
}

/// Where the project's public links point.
pub struct PublicLinks<'a> {
    pub public_url: &'a str,
    pub region: &'a str,
}

impl ProjectRecord {
    pub fn arn(&self, region: &str) -> String {
        project_arn(region, &self.account_id, &self.name)
    }

    /// The branch that builds without a `sourceVersion` check out, when the project says which.
    pub fn default_branch(&self) -> Option<String> {
        self.settings
            .source_version
            .as_deref()
            .and_then(crate::refs::branch_named_by)
    }

    pub fn badge_request_url(&self, public_url: &str) -> String {
        crate::token::badge_url(
            public_url,
            &self.badge_token,
            self.default_branch().as_deref(),
        )
    }

    /// The README snippet of the badge, linked to the project's public page while it is public.
    pub fn badge_markdown(&self, public_url: &str) -> String {
        let page = self
            .public
            .public_alias()
            .map(|alias| crate::visibility::public_project_url(public_url, alias));
        crate::token::badge_markdown(&self.badge_request_url(public_url), page.as_deref())
    }

    /// The `Project` shape returned by the API (without its webhook, which is stored apart).
    pub fn to_api(&self, links: &PublicLinks<'_>) -> shapes::Project {
        let mut settings = self.settings.clone();
        settings.timeout_in_minutes = Some(settings.timeout_in_minutes.unwrap_or(DEFAULT_TIMEOUT));
        settings.queued_timeout_in_minutes = Some(
            settings
                .queued_timeout_in_minutes
                .unwrap_or(DEFAULT_QUEUED_TIMEOUT),
        );
        let badge = if self.badge_enabled {
            shapes::ProjectBadge {
                badge_enabled: true,
                badge_markdown: Some(self.badge_markdown(links.public_url)),
                badge_request_url: Some(self.badge_request_url(links.public_url)),
            }
        } else {
            shapes::ProjectBadge::default()
        };
        shapes::Project {
            name: self.name.clone(),
            arn: self.arn(links.region),
            settings,
            created: self.created,
            last_modified: self.last_modified,
            webhook: None,
            badge,
            project_visibility: self.public.visibility,
            public_project_alias: self.public.alias.clone(),
            resource_access_role: self.public.resource_access_role.clone(),
        }
    }
}

pub fn project_arn(region: &str, account_id: &str, name: &str) -> String {
    format!("arn:aws:codebuild:{region}:{account_id}:project/{name}")
}

/// Checks a name against the `ProjectName` shape.
pub fn validate_project_name(v: &mut Violations, field: &str, name: &str) {
    v.length(field, name, 2, 150);
    if !is_valid_project_name(name) {
        v.broke(field, name, Rule::ProjectName);
    }
}

pub fn is_valid_project_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    first_ok
        && (2..=150).contains(&name.len())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The service role must be an IAM role ARN, or a bare role name as the console accepts.
fn validate_service_role(v: &mut Violations, role: &str) {
    let arn_ok = role
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split_once(":role/"))
        .is_some_and(|(account, name)| {
            account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty()
        });
    let name_ok = !role.is_empty()
        && role.len() <= 64
        && role
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if !(arn_ok || name_ok) {
        v.broke("serviceRole", role, Rule::ServiceRole);
    }
}

pub(crate) fn validate_source(v: &mut Violations, field: &str, source: &ProjectSource) {
    match source.source_type.as_deref() {
        None => v.missing(&format!("{field}.type")),
        Some(t) => {
            v.one_of(&format!("{field}.type"), t, enums::SOURCE_TYPE);
            let needs_location = !matches!(t, "CODEPIPELINE" | "NO_SOURCE");
            if needs_location && source.location.as_deref().is_none_or(str::is_empty) {
                v.missing(&format!("{field}.location"));
            }
            if let Some(location) = source.location.as_deref().filter(|l| !l.is_empty()) {
                validate_git_location(v, &format!("{field}.location"), Some(t), location);
            }
            if source.report_build_status == Some(true)
                && !matches!(
                    t,
                    "GITHUB" | "GITHUB_ENTERPRISE" | "GITLAB" | "GITLAB_SELF_MANAGED" | "BITBUCKET"
                )
            {
                v.add(
                    &format!("{field}.reportBuildStatus"),
                    "true",
                    "Member is only supported for GitHub, GitHub Enterprise, GitLab, GitLab Self Managed and Bitbucket sources",
                );
            }
        }
    }
    if let Some(depth) = source.git_clone_depth {
        v.range(
            &format!("{field}.gitCloneDepth"),
            depth,
            0,
            i64::from(i32::MAX),
        );
    }
    if let Some(auth) = &source.auth {
        match auth.auth_type.as_deref() {
            None => v.missing(&format!("{field}.auth.type")),
            Some(t) => v.one_of(&format!("{field}.auth.type"), t, enums::SOURCE_AUTH_TYPE),
        }
    }
    if let Some(buildspec) = &source.buildspec {
        v.length(&format!("{field}.buildspec"), buildspec, 0, 256 * 1024);
    }
}

/// `ProjectSourceVersion` lists (a project's `secondarySourceVersions`, StartBuild's
/// `secondarySourcesVersionOverride`).
/// The project's secondary source versions with StartBuild's override entries applied: an
/// override replaces the entry of its `sourceIdentifier`, or adds one.
pub fn merge_source_versions(
    project: &[ProjectSourceVersion],
    overrides: &[ProjectSourceVersion],
) -> Vec<ProjectSourceVersion> {
    let mut merged = project.to_vec();
    for entry in overrides {
        match merged
            .iter_mut()
            .find(|m| m.source_identifier == entry.source_identifier)
        {
            Some(existing) => existing.clone_from(entry),
            None => merged.push(entry.clone()),
        }
    }
    merged
}

/// The most characters of a `sourceIdentifier` (it becomes `CODEBUILD_SRC_DIR_<id>`).
const MAX_SOURCE_IDENTIFIER: usize = 128;

/// Secondary sources need a `sourceIdentifier` of letters, digits and underscores (it names an
/// environment variable and a directory), each used once.
pub(crate) fn validate_secondary_sources(v: &mut Violations, field: &str, list: &[ProjectSource]) {
    v.count(field, list.len(), 12);
    let mut seen = std::collections::HashSet::new();
    for (i, src) in list.iter().enumerate() {
        let member = format!("{field}.{}.member", i + 1);
        validate_source(v, &member, src);
        let id_field = format!("{member}.sourceIdentifier");
        match src.source_identifier.as_deref() {
            None => v.missing(&id_field),
            Some(id) => {
                let well_formed = !id.is_empty()
                    && id.len() < MAX_SOURCE_IDENTIFIER
                    && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !well_formed {
                    v.add(
                        &id_field,
                        id,
                        "Member must be fewer than 128 letters, digits and underscores",
                    );
                } else if !seen.insert(id) {
                    v.add(
                        &id_field,
                        id,
                        "Member must be unique among the secondary sources",
                    );
                }
            }
        }
    }
}

pub fn validate_source_versions(v: &mut Violations, field: &str, list: &[ProjectSourceVersion]) {
    for (i, entry) in list.iter().enumerate() {
        let member = format!("{field}.{}.member", i + 1);
        match entry.source_identifier.as_deref() {
            None => v.missing(&format!("{member}.sourceIdentifier")),
            Some(id) => v.min_length(&format!("{member}.sourceIdentifier"), id, 1),
        }
        match entry.source_version.as_deref() {
            None => v.missing(&format!("{member}.sourceVersion")),
            Some(version) => {
                validate_source_version(v, &format!("{member}.sourceVersion"), version)
            }
        }
    }
}

fn validate_artifacts(v: &mut Violations, field: &str, artifacts: &ProjectArtifacts) {
    match artifacts.artifacts_type.as_deref() {
        None => v.missing(&format!("{field}.type")),
        Some(t) => {
            v.one_of(&format!("{field}.type"), t, enums::ARTIFACTS_TYPE);
            if t == "S3" && artifacts.location.as_deref().is_none_or(str::is_empty) {
                v.missing(&format!("{field}.location"));
            }
        }
    }
    if let Some(ns) = &artifacts.namespace_type {
        v.one_of(
            &format!("{field}.namespaceType"),
            ns,
            enums::ARTIFACT_NAMESPACE,
        );
    }
    if let Some(p) = &artifacts.packaging {
        v.one_of(&format!("{field}.packaging"), p, enums::ARTIFACT_PACKAGING);
    }
    if let Some(b) = &artifacts.bucket_owner_access {
        v.one_of(
            &format!("{field}.bucketOwnerAccess"),
            b,
            enums::BUCKET_OWNER_ACCESS,
        );
    }
}

/// A git source's location (for a source of `source_type`): nothing git would read as an
/// option or a remote helper (see [`source::check_git_location`]).
pub fn validate_git_location(
    v: &mut Violations,
    field: &str,
    source_type: Option<&str>,
    location: &str,
) {
    if !source::is_git_source_type(source_type) {
        return;
    }
    if let Err(why) = source::check_git_location(location) {
        v.broke(
            field,
            &source::redact_password(location),
            Rule::GitLocation(why),
        );
    }
}

/// A source version: nothing git would read as an option (see [`source::check_source_version`]).
pub fn validate_source_version(v: &mut Violations, field: &str, version: &str) {
    if let Err(why) = source::check_source_version(version) {
        v.broke(field, version, Rule::SourceVersion(why));
    }
}

/// Environment variables as `ProjectEnvironment` and `StartBuild` take them: names are shell
/// identifiers, values hold no NUL (neither can reach a process environment otherwise).
pub fn validate_environment_variables(
    v: &mut Violations,
    field: &str,
    vars: &[EnvironmentVariable],
) {
    for (i, var) in vars.iter().enumerate() {
        let name_field = format!("{field}.{}.member.name", i + 1);
        match var.name.as_deref() {
            None => v.missing(&name_field),
            Some(n) if !source::is_variable_name(n) => v.broke(&name_field, n, Rule::VariableName),
            Some(_) => {}
        }
        match var.value.as_deref() {
            None => v.missing(&format!("{field}.{}.member.value", i + 1)),
            // The value may be a secret: it is not shown.
            Some(value) if value.contains('\0') => v.broke(
                &format!("{field}.{}.member.value", i + 1),
                "***",
                Rule::NulInValue,
            ),
            Some(_) => {}
        }
        if let Some(t) = &var.var_type {
            v.one_of(
                &format!("{field}.{}.member.type", i + 1),
                t,
                enums::ENVIRONMENT_VARIABLE_TYPE,
            );
        }
    }
}

fn validate_environment(v: &mut Violations, env: &ProjectEnvironment) {
    match env.env_type.as_deref() {
        None => v.missing("environment.type"),
        Some(t) => v.one_of("environment.type", t, enums::ENVIRONMENT_TYPE),
    }
    match env.image.as_deref() {
        None => v.missing("environment.image"),
        Some(i) => v.min_length("environment.image", i, 1),
    }
    match env.compute_type.as_deref() {
        None => v.missing("environment.computeType"),
        Some(c) => v.one_of("environment.computeType", c, enums::COMPUTE_TYPE),
    }
    if let Some(vars) = &env.environment_variables {
        validate_environment_variables(v, "environment.environmentVariables", vars);
    }
    if let Some(t) = &env.image_pull_credentials_type {
        v.one_of(
            "environment.imagePullCredentialsType",
            t,
            enums::IMAGE_PULL_CREDENTIALS_TYPE,
        );
    }
    if let Some(rc) = &env.registry_credential {
        match rc.credential.as_deref() {
            None => v.missing("environment.registryCredential.credential"),
            Some(c) => v.min_length("environment.registryCredential.credential", c, 1),
        }
        match rc.credential_provider.as_deref() {
            None => v.missing("environment.registryCredential.credentialProvider"),
            Some(p) => v.one_of(
                "environment.registryCredential.credentialProvider",
                p,
                enums::CREDENTIAL_PROVIDER_TYPE,
            ),
        }
    }
}

/// `TagList`: at most 50 tags, each key 1..127 and value 0..255 characters of the tag alphabet.
pub(crate) fn validate_tags(v: &mut Violations, tags: &[Tag]) {
    v.count("tags", tags.len(), 50);
    for (i, tag) in tags.iter().enumerate() {
        let field = format!("tags.{}.member", i + 1);
        match tag.key.as_deref() {
            None => v.missing(&format!("{field}.key")),
            Some(k) => {
                v.length(&format!("{field}.key"), k, 1, 127);
                validate_tag_text(v, &format!("{field}.key"), k);
            }
        }
        if let Some(val) = tag.value.as_deref() {
            v.length(&format!("{field}.value"), val, 0, 255);
            validate_tag_text(v, &format!("{field}.value"), val);
        }
    }
}

fn validate_tag_text(v: &mut Violations, field: &str, text: &str) {
    let ok = text
        .chars()
        .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=@+-".contains(c));
    if !ok {
        v.add(
            field,
            text,
            "Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=@+\\-]*)$",
        );
    }
}

fn validate_object(v: &mut Violations, field: &str, value: &Value) {
    if !value.is_object() {
        v.add(field, &value.to_string(), "Member must be a structure");
    }
}

/// Checks every member that is present. `require_all` adds CreateProject's required members.
pub fn validate_settings(v: &mut Violations, s: &ProjectSettings, require_all: bool) {
    if let Some(d) = &s.description {
        v.length("description", d, 0, 255);
    }
    match &s.source {
        Some(src) => validate_source(v, "source", src),
        None if require_all => v.missing("source"),
        None => {}
    }
    if let Some(list) = &s.secondary_sources {
        validate_secondary_sources(v, "secondarySources", list);
    }
    if let Some(version) = &s.source_version {
        validate_source_version(v, "sourceVersion", version);
    }
    if let Some(list) = &s.secondary_source_versions {
        v.count("secondarySourceVersions", list.len(), 12);
        validate_source_versions(v, "secondarySourceVersions", list);
    }
    match &s.artifacts {
        Some(a) => validate_artifacts(v, "artifacts", a),
        None if require_all => v.missing("artifacts"),
        None => {}
    }
    if let Some(list) = &s.secondary_artifacts {
        v.count("secondaryArtifacts", list.len(), 12);
        for (i, a) in list.iter().enumerate() {
            validate_artifacts(v, &format!("secondaryArtifacts.{}.member", i + 1), a);
        }
    }
    if let Some(cache) = &s.cache {
        validate_cache(v, "cache", cache);
    }
    match &s.environment {
        Some(env) => validate_environment(v, env),
        None if require_all => v.missing("environment"),
        None => {}
    }
    match s.service_role.as_deref() {
        Some(role) => validate_service_role(v, role),
        None if require_all => v.missing("serviceRole"),
        None => {}
    }
    if let Some(t) = s.timeout_in_minutes {
        v.range("timeoutInMinutes", t, TIMEOUT_RANGE.0, TIMEOUT_RANGE.1);
    }
    if let Some(t) = s.queued_timeout_in_minutes {
        v.range(
            "queuedTimeoutInMinutes",
            t,
            QUEUED_TIMEOUT_RANGE.0,
            QUEUED_TIMEOUT_RANGE.1,
        );
    }
    if let Some(k) = &s.encryption_key {
        v.min_length("encryptionKey", k, 1);
    }
    if let Some(tags) = &s.tags {
        validate_tags(v, tags);
    }
    if let Some(logs) = &s.logs_config {
        crate::build_logs::validate_logs_config(v, "logsConfig", logs);
    }
    if let Some(vpc) = &s.vpc_config {
        validate_object(v, "vpcConfig", vpc);
    }
    if let Some(b) = &s.build_batch_config {
        validate_object(v, "buildBatchConfig", b);
    }
    for (i, loc) in s.file_system_locations.iter().flatten().enumerate() {
        validate_object(v, &format!("fileSystemLocations.{}.member", i + 1), loc);
    }
    if let Some(limit) = s.concurrent_build_limit {
        v.range("concurrentBuildLimit", limit, 1, 10_000);
    }
    if let Some(limit) = s.auto_retry_limit {
        let (min, max) = AUTO_RETRY_LIMIT_RANGE;
        v.range("autoRetryLimit", limit, min, max);
    }
}

/// Badges need a source whose builds have branches.
pub fn check_badge_source(
    badge_enabled: bool,
    source: Option<&ProjectSource>,
) -> Result<(), ApiError> {
    match badge_unsupported_by(badge_enabled, source) {
        Some(label) => Err(ApiError::invalid_input(format!(
            "Build badges are not supported for {label} source"
        ))),
        None => Ok(()),
    }
}

/// The source kind (as the API names it) that cannot have the badge asked for, if any.
pub fn badge_unsupported_by(
    badge_enabled: bool,
    source: Option<&ProjectSource>,
) -> Option<&'static str> {
    if !badge_enabled {
        return None;
    }
    match source.and_then(|s| s.source_type.as_deref()) {
        Some("CODEPIPELINE") => Some("CodePipeline"),
        Some("S3") => Some("S3"),
        Some("NO_SOURCE") => Some("NO_SOURCE"),
        _ => None,
    }
}

/// The validated parts of a `CreateProject` request.
#[derive(Debug)]
pub struct NewProject {
    pub name: String,
    pub settings: ProjectSettings,
    pub badge_enabled: bool,
}

/// Every constraint a `CreateProject` request breaks (forms show them all at once; the
/// badge's source is checked apart, see [`badge_unsupported_by`]).
pub fn create_violations(input: &ProjectInput) -> Violations {
    let mut v = Violations::new();
    match input.name.as_deref() {
        None | Some("") => v.missing("name"),
        Some(name) => validate_project_name(&mut v, "name", name),
    }
    validate_settings(&mut v, &input.settings, true);
    v
}

/// Validates a `CreateProject` request.
pub fn validate_create(input: ProjectInput) -> Result<NewProject, ApiError> {
    create_violations(&input).finish()?;
    let name = input.name.unwrap_or_default();
    let badge_enabled = input.badge_enabled.unwrap_or(false);
    check_badge_source(badge_enabled, input.settings.source.as_ref())?;
    Ok(NewProject {
        name,
        settings: input.settings,
        badge_enabled,
    })
}

/// Applies an `UpdateProject` request to a stored project: only the members given change.
pub fn apply_update(
    record: &mut ProjectRecord,
    input: ProjectInput,
    now: f64,
) -> Result<(), ApiError> {
    let mut v = Violations::new();
    validate_settings(&mut v, &input.settings, false);
    v.finish()?;

    let old_location = record
        .settings
        .source
        .as_ref()
        .and_then(|s| s.location.clone());
    let s = input.settings;
    let r = &mut record.settings;
    macro_rules! replace {
        ($($field:ident),*) => { $( if s.$field.is_some() { r.$field = s.$field; } )* };
    }
    replace!(
        description,
        source,
        secondary_sources,
        source_version,
        secondary_source_versions,
        artifacts,
        secondary_artifacts,
        cache,
        environment,
        service_role,
        timeout_in_minutes,
        queued_timeout_in_minutes,
        encryption_key,
        tags,
        vpc_config,
        logs_config,
        file_system_locations,
        build_batch_config,
        concurrent_build_limit,
        auto_retry_limit
    );
    let badge_enabled = input.badge_enabled.unwrap_or(record.badge_enabled);
    check_badge_source(badge_enabled, record.settings.source.as_ref())?;
    record.badge_enabled = badge_enabled;
    let new_location = record
        .settings
        .source
        .as_ref()
        .and_then(|s| s.location.clone());
    if new_location != old_location {
        record.source_epoch += 1;
    }
    record.last_modified = now;
    Ok(())
}

impl From<serde_json::Error> for ApiError {
    fn from(err: serde_json::Error) -> Self {
        ApiError::new(ErrorKind::Serialization, err.to_string())
    }
}

/// A project's `cache` or StartBuild's `cacheOverride` (`field` names it in messages): the
/// type and modes of botocore's `ProjectCache`; an S3 cache needs its `bucket[/prefix]`.
pub fn validate_cache(v: &mut Violations, field: &str, cache: &ProjectCache) {
    match cache.cache_type.as_deref() {
        None => v.missing(&format!("{field}.type")),
        Some(t) => v.one_of(&format!("{field}.type"), t, enums::CACHE_TYPE),
    }
    for mode in cache.modes.iter().flatten() {
        v.one_of(&format!("{field}.modes"), mode, enums::CACHE_MODE);
    }
    if cache.cache_type.as_deref() == Some("S3") {
        match cache.location.as_deref() {
            None | Some("") => v.missing(&format!("{field}.location")),
            Some(location) => v.length(&format!("{field}.location"), location, 1, 1024),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: Value) -> ProjectInput {
        serde_json::from_value(json).unwrap()
    }

    fn minimal() -> Value {
        serde_json::json!({
            "name": "demo",
            "source": {"type": "GITHUB", "location": "https://example.com/r.git"},
            "artifacts": {"type": "NO_ARTIFACTS"},
            "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0", "computeType": "BUILD_GENERAL1_SMALL"},
            "serviceRole": "arn:aws:iam::123456789012:role/service-role/x"
        })
    }

    #[test]
    fn minimal_project_is_valid() {
        let p = validate_create(input(minimal())).unwrap();
        assert_eq!(p.name, "demo");
        assert!(!p.badge_enabled);
    }

    #[test]
    fn name_rules() {
        for bad in ["a", "-abc", "has space", "ünï", &"x".repeat(151)] {
            let mut j = minimal();
            j["name"] = bad.into();
            let err = validate_create(input(j)).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidInput, "{bad}");
            assert!(err.message.contains("at 'name'"), "{}", err.message);
        }
        assert!(is_valid_project_name("a-b_c9"));
    }

    #[test]
    fn timeouts_are_bounded() {
        let mut j = minimal();
        j["timeoutInMinutes"] = 2161.into();
        j["queuedTimeoutInMinutes"] = 4.into();
        let err = validate_create(input(j)).unwrap_err();
        assert!(
            err.message.starts_with("2 validation errors"),
            "{}",
            err.message
        );
    }

    #[test]
    fn badges_refused_for_s3_sources() {
        let mut j = minimal();
        j["source"] = serde_json::json!({"type": "S3", "location": "bucket/key.zip"});
        j["badgeEnabled"] = true.into();
        let err = validate_create(input(j)).unwrap_err();
        assert_eq!(err.message, "Build badges are not supported for S3 source");
    }

    #[test]
    fn update_changes_only_given_fields_and_tracks_source_changes() {
        let p = validate_create(input(minimal())).unwrap();
        let mut record = ProjectRecord {
            account_id: "123456789012".into(),
            name: p.name,
            settings: p.settings,
            badge_enabled: true,
            badge_token: "t".into(),
            created: 1.0,
            last_modified: 1.0,
            source_epoch: 0,
            public: Default::default(),
        };
        apply_update(
            &mut record,
            input(serde_json::json!({"name": "demo", "description": "d"})),
            2.0,
        )
        .unwrap();
        assert_eq!(record.settings.description.as_deref(), Some("d"));
        assert_eq!(
            record.settings.service_role.as_deref(),
            Some("arn:aws:iam::123456789012:role/service-role/x")
        );
        assert_eq!(record.source_epoch, 0);
        assert!(record.badge_enabled);
        apply_update(&mut record, input(serde_json::json!({"name": "demo", "source": {"type": "GITHUB", "location": "https://example.com/other.git"}})), 3.0).unwrap();
        assert_eq!(record.source_epoch, 1);
        assert_eq!(record.last_modified, 3.0);
    }

    #[test]
    fn api_shape_offers_the_badge_url_and_its_markdown() {
        let p = validate_create(input(minimal())).unwrap();
        let mut record = ProjectRecord {
            account_id: "123456789012".into(),
            name: p.name,
            settings: p.settings,
            badge_enabled: true,
            badge_token: "tok".into(),
            created: 1.0,
            last_modified: 1.0,
            source_epoch: 0,
            public: Default::default(),
        };
        record.settings.source_version = Some("refs/heads/feature/x".into());
        let links = PublicLinks {
            public_url: "https://ci.example.com/",
            region: "us-east-1",
        };
        let url = "https://ci.example.com/badges?uuid=tok&branch=feature%2Fx";
        assert_eq!(
            record.to_api(&links).badge,
            shapes::ProjectBadge {
                badge_enabled: true,
                badge_request_url: Some(url.into()),
                badge_markdown: Some(format!("![Build Status]({url})")),
            }
        );
        record.public = PublicAccess {
            visibility: crate::visibility::ProjectVisibility::PublicRead,
            alias: Some("alias".into()),
            resource_access_role: None,
        };
        let api = serde_json::to_value(record.to_api(&links)).unwrap();
        assert_eq!(
            api["badge"]["badgeMarkdown"],
            format!("[![Build Status]({url})](https://ci.example.com/project/alias)")
        );
        assert_eq!(api["projectVisibility"], "PUBLIC_READ");
        assert_eq!(api["publicProjectAlias"], "alias");
        assert!(api.get("resourceAccessRole").is_none());
        record.badge_enabled = false;
        assert_eq!(
            serde_json::to_value(record.to_api(&links)).unwrap()["badge"],
            serde_json::json!({"badgeEnabled": false})
        );
    }

    #[test]
    fn service_role_forms() {
        for (role, ok) in [
            ("arn:aws:iam::123456789012:role/x", true),
            ("my-role", true),
            ("arn:aws:iam::12:role/x", false),
            ("arn:aws:s3:::bucket", false),
        ] {
            let mut j = minimal();
            j["serviceRole"] = role.into();
            assert_eq!(validate_create(input(j)).is_ok(), ok, "{role}");
        }
    }
}
