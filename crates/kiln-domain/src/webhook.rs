//! Webhooks: the CodeBuild `Webhook` shape and its validation (this file), filter-group
//! evaluation ([`filter`]), the forges' deliveries and signatures ([`forge`]) and the normalized
//! event a delivery becomes, with the build it asks for ([`event`]).

pub mod event;
pub mod filter;
pub mod forge;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::project;
use crate::shapes;
use crate::validate::Violations;

pub use event::{BuildPlan, EventType, WebhookEvent};
pub use filter::{FilterType, WebhookFilter};
pub use forge::{Delivery, Forge, Headers, Parsed};

/// `WebhookBuildType`. Kiln runs webhook builds as single builds only.
pub const BUILD_TYPES: &[&str] = &["BUILD", "BUILD_BATCH", "RUNNER_BUILDKITE_BUILD"];
const DEFAULT_BUILD_TYPE: &str = "BUILD";
/// Bounds that keep a webhook's configuration (evaluated on every delivery) small.
const MAX_FILTER_GROUPS: usize = 50;
const MAX_FILTERS_PER_GROUP: usize = 20;
/// `branchFilter` has no modelled limit; this one keeps it a pattern rather than a payload.
const MAX_BRANCH_FILTER_LEN: usize = 4096;

/// One `WebhookFilter` as a request carries it, before validation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookFilterInput {
    #[serde(rename = "type")]
    pub filter_type: Option<String>,
    pub pattern: Option<String>,
    pub exclude_matched_pattern: Option<bool>,
}

/// `CreateWebhook` input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateWebhookInput {
    pub project_name: Option<String>,
    pub branch_filter: Option<String>,
    pub filter_groups: Option<Vec<Vec<WebhookFilterInput>>>,
    pub build_type: Option<String>,
    pub manual_creation: Option<bool>,
    pub scope_configuration: Option<Value>,
    pub pull_request_build_policy: Option<PullRequestBuildPolicy>,
}

/// `UpdateWebhook` input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateWebhookInput {
    pub project_name: Option<String>,
    pub branch_filter: Option<String>,
    pub rotate_secret: Option<bool>,
    pub filter_groups: Option<Vec<Vec<WebhookFilterInput>>>,
    pub build_type: Option<String>,
    pub pull_request_build_policy: Option<PullRequestBuildPolicy>,
}

/// `PullRequestBuildPolicy`. Kiln cannot wait for an approving comment, so it accepts only the
/// policy that asks for none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestBuildPolicy {
    pub requires_comment_approval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approver_roles: Option<Vec<String>>,
}

/// What a webhook is configured to do: everything but its identity and secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookConfig {
    pub branch_filter: Option<String>,
    pub filter_groups: Vec<Vec<WebhookFilter>>,
    pub build_type: String,
    pub manual_creation: Option<bool>,
    pub pull_request_build_policy: Option<PullRequestBuildPolicy>,
}

/// A project's webhook as Kiln keeps it.
#[derive(Clone, PartialEq)]
pub struct WebhookRecord {
    pub account_id: String,
    pub project_name: String,
    /// The opaque `t` of the payload URL; unguessable, see [`crate::token`].
    pub token: String,
    /// The shared secret the forge signs with.
    pub secret: String,
    pub config: WebhookConfig,
    /// Epoch seconds.
    pub created: f64,
    pub last_modified_secret: f64,
}

impl std::fmt::Debug for WebhookRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRecord")
            .field("account_id", &self.account_id)
            .field("project_name", &self.project_name)
            .field("token", &"<redacted>")
            .field("secret", &"<redacted>")
            .field("config", &self.config)
            .finish()
    }
}

/// Whether an API answer shows the webhook's secret: only the answers that create or rotate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretShown {
    InFull,
    Hidden,
}

impl WebhookRecord {
    /// `<public-url>/webhooks?t=<token>&v=1`, the address the forge posts to.
    pub fn payload_url(&self, public_url: &str) -> String {
        payload_url(public_url, &self.token)
    }

    /// The `Webhook` shape of the API.
    pub fn to_api(&self, public_url: &str, secret: SecretShown) -> shapes::Webhook {
        shapes::Webhook {
            payload_url: self.payload_url(public_url),
            secret: (secret == SecretShown::InFull).then(|| self.secret.clone()),
            branch_filter: self.config.branch_filter.clone().unwrap_or_default(),
            filter_groups: self.config.filter_groups.clone(),
            build_type: self.config.build_type.clone(),
            manual_creation: self.config.manual_creation,
            last_modified_secret: self.last_modified_secret,
            status: "ACTIVE".into(),
            pull_request_build_policy: self.config.pull_request_build_policy.clone(),
        }
    }
}

/// Forge- or user-supplied text as it may appear in a message: bounded and on one line.
pub(crate) fn shown(text: &str) -> String {
    text.chars()
        .take(128)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

pub fn payload_url(public_url: &str, token: &str) -> String {
    let base = public_url.trim_end_matches('/');
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("t", token);
    query.append_pair("v", "1");
    format!("{base}/webhooks?{}", query.finish())
}

/// Validates a `CreateWebhook` request: the project's name and the webhook's configuration.
pub fn validate_create(input: CreateWebhookInput) -> Result<(String, WebhookConfig), ApiError> {
    let mut v = Violations::new();
    let name = input.project_name.unwrap_or_default();
    if name.is_empty() {
        v.missing("projectName");
    } else {
        project::validate_project_name(&mut v, "projectName", &name);
    }
    check_shapes(
        &mut v,
        input.branch_filter.as_deref(),
        input.filter_groups.as_deref(),
        input.build_type.as_deref(),
    );
    v.finish()?;
    if input.scope_configuration.is_some() {
        return Err(ApiError::invalid_input(
            "Kiln does not support organization or global webhooks (scopeConfiguration); create one webhook per project",
        ));
    }
    let config = WebhookConfig {
        branch_filter: checked_branch_filter(input.branch_filter)?,
        filter_groups: validate_filter_groups(input.filter_groups.unwrap_or_default())?,
        build_type: checked_build_type(input.build_type)?,
        manual_creation: input.manual_creation,
        pull_request_build_policy: checked_policy(input.pull_request_build_policy)?,
    };
    Ok((name, config))
}

/// The validated parts of an `UpdateWebhook` request.
#[derive(Debug)]
pub struct WebhookUpdate {
    pub project_name: String,
    pub rotate_secret: bool,
    input: UpdateWebhookInput,
}

/// Validates an `UpdateWebhook` request.
pub fn validate_update(input: UpdateWebhookInput) -> Result<WebhookUpdate, ApiError> {
    let mut v = Violations::new();
    let name = input.project_name.clone().unwrap_or_default();
    if name.is_empty() {
        v.missing("projectName");
    } else {
        project::validate_project_name(&mut v, "projectName", &name);
    }
    check_shapes(
        &mut v,
        input.branch_filter.as_deref(),
        input.filter_groups.as_deref(),
        input.build_type.as_deref(),
    );
    v.finish()?;
    Ok(WebhookUpdate {
        project_name: name,
        rotate_secret: input.rotate_secret.unwrap_or(false),
        input,
    })
}

impl WebhookUpdate {
    /// Applies the members given; the others keep their value.
    pub fn apply(self, config: &mut WebhookConfig) -> Result<(), ApiError> {
        let input = self.input;
        if input.branch_filter.is_some() {
            config.branch_filter = checked_branch_filter(input.branch_filter)?;
        }
        if let Some(groups) = input.filter_groups {
            config.filter_groups = validate_filter_groups(groups)?;
        }
        if input.build_type.is_some() {
            config.build_type = checked_build_type(input.build_type)?;
        }
        if input.pull_request_build_policy.is_some() {
            config.pull_request_build_policy = checked_policy(input.pull_request_build_policy)?;
        }
        Ok(())
    }
}

/// The modelled constraints: enum values, required members, lengths.
fn check_shapes(
    v: &mut Violations,
    branch_filter: Option<&str>,
    groups: Option<&[Vec<WebhookFilterInput>]>,
    build_type: Option<&str>,
) {
    if let Some(filter) = branch_filter {
        v.length("branchFilter", filter, 0, MAX_BRANCH_FILTER_LEN);
    }
    if let Some(t) = build_type {
        v.one_of("buildType", t, BUILD_TYPES);
    }
    let Some(groups) = groups else { return };
    v.count("filterGroups", groups.len(), MAX_FILTER_GROUPS);
    for (g, group) in groups.iter().enumerate() {
        let group_field = format!("filterGroups.{}.member", g + 1);
        v.count(&group_field, group.len(), MAX_FILTERS_PER_GROUP);
        for (i, filter) in group.iter().enumerate() {
            let field = format!("{group_field}.{}.member", i + 1);
            match filter.filter_type.as_deref() {
                None => v.missing(&format!("{field}.type")),
                Some(t) => v.one_of(&format!("{field}.type"), t, filter::FILTER_TYPES),
            }
            match filter.pattern.as_deref() {
                None => v.missing(&format!("{field}.pattern")),
                Some(p) => v.length(&format!("{field}.pattern"), p, 0, filter::MAX_PATTERN_LEN),
            }
        }
    }
}

/// CodeBuild's rules beyond the shapes: every group has exactly one EVENT filter naming known
/// events, and every other pattern is a regular expression that compiles within the size limit.
fn validate_filter_groups(
    groups: Vec<Vec<WebhookFilterInput>>,
) -> Result<Vec<Vec<WebhookFilter>>, ApiError> {
    groups
        .into_iter()
        .enumerate()
        .map(|(g, group)| {
            let filters = group
                .into_iter()
                .map(WebhookFilter::from_input)
                .collect::<Result<Vec<_>, _>>()?;
            let events = filters
                .iter()
                .filter(|f| f.filter_type == FilterType::Event)
                .count();
            match events {
                0 => Err(ApiError::invalid_input(format!(
                    "Filter group {} must contain a filter of type EVENT",
                    g + 1
                ))),
                1 => Ok(filters),
                _ => Err(ApiError::invalid_input(format!(
                    "Filter group {} must contain only one filter of type EVENT",
                    g + 1
                ))),
            }
        })
        .collect()
}

fn checked_branch_filter(filter: Option<String>) -> Result<Option<String>, ApiError> {
    match filter.filter(|f| !f.is_empty()) {
        None => Ok(None),
        Some(pattern) => {
            filter::compile(&pattern)
                .map_err(|why| ApiError::invalid_input(format!("Invalid branchFilter: {why}")))?;
            Ok(Some(pattern))
        }
    }
}

fn checked_build_type(build_type: Option<String>) -> Result<String, ApiError> {
    match build_type.as_deref() {
        None | Some(DEFAULT_BUILD_TYPE) => Ok(DEFAULT_BUILD_TYPE.to_string()),
        Some(other) => Err(ApiError::invalid_input(format!(
            "Kiln starts single builds from webhooks; buildType {other} is not supported"
        ))),
    }
}

fn checked_policy(
    policy: Option<PullRequestBuildPolicy>,
) -> Result<Option<PullRequestBuildPolicy>, ApiError> {
    let Some(policy) = policy else {
        return Ok(None);
    };
    match policy.requires_comment_approval.as_deref() {
        None => {
            let mut v = Violations::new();
            v.missing("pullRequestBuildPolicy.requiresCommentApproval");
            v.finish()?;
            Ok(None)
        }
        Some("DISABLED") => Ok(Some(policy)),
        Some(other @ ("ALL_PULL_REQUESTS" | "FORK_PULL_REQUESTS")) => {
            Err(ApiError::invalid_input(format!(
                "Kiln cannot wait for a comment approval; requiresCommentApproval {other} is not supported"
            )))
        }
        Some(other) => {
            let mut v = Violations::new();
            v.one_of(
                "pullRequestBuildPolicy.requiresCommentApproval",
                other,
                &["DISABLED", "ALL_PULL_REQUESTS", "FORK_PULL_REQUESTS"],
            );
            v.finish()?;
            Ok(None)
        }
    }
}

/// What became of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryOutcome {
    /// It started a build.
    Built,
    /// It was genuine but asked for no build (no filter group matched, a ping, a duplicate…).
    Filtered,
    /// It was not accepted (bad signature, too large, unreadable).
    Refused,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Built => "BUILT",
            DeliveryOutcome::Filtered => "FILTERED",
            DeliveryOutcome::Refused => "REFUSED",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryOutcome> {
        [
            DeliveryOutcome::Built,
            DeliveryOutcome::Filtered,
            DeliveryOutcome::Refused,
        ]
        .into_iter()
        .find(|o| o.as_str() == text)
    }
}

/// One delivery to a project's webhook, as recorded for the project's page.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRecord {
    pub account_id: String,
    pub project_name: String,
    /// The forge's delivery id, when it sent one.
    pub delivery_id: Option<String>,
    /// The forge's name, when the sender was recognized.
    pub forge: Option<String>,
    /// The CodeBuild event it became, or the forge's own event name.
    pub event: String,
    pub outcome: DeliveryOutcome,
    /// Why, in a sentence.
    pub reason: String,
    /// `project:uuid` of the build it started.
    pub build_id: Option<String>,
    /// Epoch seconds.
    pub received_at: f64,
    /// True once the signature was verified: only such deliveries claim their delivery id, so
    /// an unsigned request cannot block a genuine one.
    pub verified: bool,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn create(json: Value) -> Result<(String, WebhookConfig), ApiError> {
        validate_create(serde_json::from_value(json).unwrap())
    }

    #[test]
    fn each_group_needs_one_event_filter() {
        let err = create(json!({"projectName": "demo", "filterGroups": [[{"type": "HEAD_REF", "pattern": "^refs/heads/main$"}]]})).unwrap_err();
        assert_eq!(
            err.message,
            "Filter group 1 must contain a filter of type EVENT"
        );
        let err = create(json!({"projectName": "demo", "filterGroups": [[{"type": "EVENT", "pattern": "PUSH"}, {"type": "EVENT", "pattern": "PUSH"}]]})).unwrap_err();
        assert!(err.message.contains("only one filter of type EVENT"));
        let (name, config) = create(json!({"projectName": "demo", "filterGroups": [[{"type": "EVENT", "pattern": "PUSH, PULL_REQUEST_CREATED"}, {"type": "HEAD_REF", "pattern": "^refs/heads/main$"}]]})).unwrap();
        assert_eq!(name, "demo");
        assert_eq!(config.build_type, "BUILD");
        assert_eq!(config.filter_groups[0].len(), 2);
    }

    #[test]
    fn unknown_events_and_bad_patterns_are_refused() {
        let err = create(json!({"projectName": "demo", "filterGroups": [[{"type": "EVENT", "pattern": "PUSH, PULL_REQUEST_OPENED"}]]})).unwrap_err();
        assert!(
            err.message.contains("PULL_REQUEST_OPENED"),
            "{}",
            err.message
        );
        // RE2 semantics: no look-around.
        let err = create(json!({"projectName": "demo", "filterGroups": [[{"type": "EVENT", "pattern": "PUSH"}, {"type": "HEAD_REF", "pattern": "^(?!refs/tags/)"}]]})).unwrap_err();
        assert!(
            err.message.starts_with("Invalid pattern for HEAD_REF"),
            "{}",
            err.message
        );
        // A pattern that compiles to a huge program.
        let err = create(json!({"projectName": "demo", "filterGroups": [[{"type": "EVENT", "pattern": "PUSH"}, {"type": "FILE_PATH", "pattern": "(\\w{100}){100}"}]]})).unwrap_err();
        assert!(err.message.contains("FILE_PATH"), "{}", err.message);
        let err = create(
            json!({"projectName": "demo", "filterGroups": [[{"type": "BRANCH", "pattern": "x"}]]}),
        )
        .unwrap_err();
        assert!(
            err.message.contains("Member must satisfy enum value set"),
            "{}",
            err.message
        );
        let err = create(json!({"projectName": "demo", "filterGroups": [[{"type": "EVENT"}]]}))
            .unwrap_err();
        assert!(
            err.message
                .contains("at 'filterGroups.1.member.1.member.pattern'"),
            "{}",
            err.message
        );
        let err = create(json!({"projectName": "demo", "branchFilter": "("})).unwrap_err();
        assert!(err.message.starts_with("Invalid branchFilter"));
    }

    #[test]
    fn unsupported_modes_are_refused_not_ignored() {
        assert!(create(json!({"projectName": "demo", "buildType": "BUILD_BATCH"})).is_err());
        assert!(create(json!({"projectName": "demo", "scopeConfiguration": {"name": "org", "scope": "GITHUB_ORGANIZATION"}})).is_err());
        assert!(create(json!({"projectName": "demo", "pullRequestBuildPolicy": {"requiresCommentApproval": "ALL_PULL_REQUESTS"}})).is_err());
        let (_, config) = create(json!({"projectName": "demo", "pullRequestBuildPolicy": {"requiresCommentApproval": "DISABLED"}})).unwrap();
        assert!(config.pull_request_build_policy.is_some());
        assert!(create(json!({"projectName": "x"})).is_err());
    }

    #[test]
    fn api_shape_echoes_exclude_and_hides_the_secret() {
        let (_, config) = create(json!({"projectName": "demo", "filterGroups": [[{"type": "EVENT", "pattern": "PUSH"}]]})).unwrap();
        let record = WebhookRecord {
            account_id: "111122223333".into(),
            project_name: "demo".into(),
            token: "tok".into(),
            secret: "s3cret".into(),
            config,
            created: 1.0,
            last_modified_secret: 2.0,
        };
        let shown =
            serde_json::to_value(record.to_api("http://h:1/", SecretShown::Hidden)).unwrap();
        assert_eq!(shown["payloadUrl"], "http://h:1/webhooks?t=tok&v=1");
        assert_eq!(
            shown["filterGroups"],
            json!([[{"type": "EVENT", "pattern": "PUSH", "excludeMatchedPattern": false}]])
        );
        assert_eq!(shown["status"], "ACTIVE");
        assert!(shown.get("secret").is_none());
        assert_eq!(
            record
                .to_api("http://h:1", SecretShown::InFull)
                .secret
                .as_deref(),
            Some("s3cret")
        );
        assert!(!format!("{record:?}").contains("s3cret"));
    }

    #[test]
    fn update_changes_only_given_members() {
        let (_, mut config) = create(json!({"projectName": "demo", "branchFilter": "^main$", "filterGroups": [[{"type": "EVENT", "pattern": "PUSH"}]]})).unwrap();
        let update = validate_update(
            serde_json::from_value(json!({"projectName": "demo", "rotateSecret": true})).unwrap(),
        )
        .unwrap();
        assert!(update.rotate_secret);
        update.apply(&mut config).unwrap();
        assert_eq!(config.branch_filter.as_deref(), Some("^main$"));
        let update = validate_update(
            serde_json::from_value(
                json!({"projectName": "demo", "branchFilter": "", "filterGroups": []}),
            )
            .unwrap(),
        )
        .unwrap();
        assert!(!update.rotate_secret);
        update.apply(&mut config).unwrap();
        assert_eq!(config.branch_filter, None);
        assert!(config.filter_groups.is_empty());
    }

    #[test]
    fn outcomes_round_trip() {
        for o in ["BUILT", "FILTERED", "REFUSED"] {
            assert_eq!(DeliveryOutcome::parse(o).unwrap().as_str(), o);
        }
    }
}
