//! Filter groups (docs/webhooks.md §4): a delivery builds when any group passes, and a group
//! passes when all its filters pass. EVENT patterns list events; every other pattern is a
//! regular expression with RE2 semantics (the `regex` crate), matched anywhere in the value.

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use super::event::{EventType, WebhookEvent};
use super::{WebhookConfig, WebhookFilterInput};
use crate::error::ApiError;

/// `WebhookFilterType`.
pub const FILTER_TYPES: &[&str] = &[
    "EVENT",
    "BASE_REF",
    "HEAD_REF",
    "ACTOR_ACCOUNT_ID",
    "FILE_PATH",
    "COMMIT_MESSAGE",
    "WORKFLOW_NAME",
    "TAG_NAME",
    "RELEASE_NAME",
    "REPOSITORY_NAME",
    "ORGANIZATION_NAME",
];
/// Longest pattern accepted.
pub const MAX_PATTERN_LEN: usize = 4096;
/// Compiled-program budget per pattern: patterns run on every delivery, so one that compiles
/// to something huge (`(\w{100}){100}`) is refused up front.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;
/// Events a webhook without filter groups builds: pushes and pull requests that change code.
const DEFAULT_EVENTS: &[EventType] = &[
    EventType::Push,
    EventType::PullRequestCreated,
    EventType::PullRequestUpdated,
    EventType::PullRequestReopened,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FilterType {
    Event,
    BaseRef,
    HeadRef,
    ActorAccountId,
    FilePath,
    CommitMessage,
    WorkflowName,
    TagName,
    ReleaseName,
    RepositoryName,
    OrganizationName,
}

impl FilterType {
    pub fn as_str(self) -> &'static str {
        match self {
            FilterType::Event => "EVENT",
            FilterType::BaseRef => "BASE_REF",
            FilterType::HeadRef => "HEAD_REF",
            FilterType::ActorAccountId => "ACTOR_ACCOUNT_ID",
            FilterType::FilePath => "FILE_PATH",
            FilterType::CommitMessage => "COMMIT_MESSAGE",
            FilterType::WorkflowName => "WORKFLOW_NAME",
            FilterType::TagName => "TAG_NAME",
            FilterType::ReleaseName => "RELEASE_NAME",
            FilterType::RepositoryName => "REPOSITORY_NAME",
            FilterType::OrganizationName => "ORGANIZATION_NAME",
        }
    }

    pub fn parse(text: &str) -> Option<FilterType> {
        use FilterType::*;
        [
            Event,
            BaseRef,
            HeadRef,
            ActorAccountId,
            FilePath,
            CommitMessage,
            WorkflowName,
            TagName,
            ReleaseName,
            RepositoryName,
            OrganizationName,
        ]
        .into_iter()
        .find(|t| t.as_str() == text)
    }
}

/// A validated `WebhookFilter`; serializes to the API shape, `excludeMatchedPattern` included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookFilter {
    #[serde(rename = "type")]
    pub filter_type: FilterType,
    pub pattern: String,
    pub exclude_matched_pattern: bool,
}

/// Compiles a filter pattern with Kiln's size limit; the error is one line for people.
pub fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|err| match err {
            regex::Error::CompiledTooBig(limit) => {
                format!("the pattern compiles to more than {limit} bytes")
            }
            other => other
                .to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        })
}

/// The events an EVENT pattern names: `"PUSH, PULL_REQUEST_CREATED"`.
fn event_list(pattern: &str) -> impl Iterator<Item = &str> {
    pattern.split(',').map(str::trim)
}

impl WebhookFilter {
    /// Checks one filter whose shape is already valid.
    pub(super) fn from_input(input: WebhookFilterInput) -> Result<WebhookFilter, ApiError> {
        let type_name = input.filter_type.unwrap_or_default();
        let filter_type = FilterType::parse(&type_name)
            .ok_or_else(|| ApiError::invalid_input(format!("Invalid filter type: {type_name}")))?;
        let pattern = input.pattern.unwrap_or_default();
        if filter_type == FilterType::Event {
            for name in event_list(&pattern) {
                if EventType::parse(name).is_none() {
                    return Err(ApiError::invalid_input(format!(
                        "Invalid event type: {}. Valid event types are: {}",
                        super::shown(name),
                        EventType::ALL
                            .iter()
                            .map(|e| e.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
        } else {
            compile(&pattern).map_err(|why| {
                ApiError::invalid_input(format!(
                    "Invalid pattern for {}: {why}",
                    filter_type.as_str()
                ))
            })?;
        }
        Ok(WebhookFilter {
            filter_type,
            pattern,
            exclude_matched_pattern: input.exclude_matched_pattern.unwrap_or(false),
        })
    }

    /// The values of `event` this filter looks at; a filter matches when any of them matches.
    fn values<'e>(&self, event: &'e WebhookEvent) -> Vec<&'e str> {
        let one = |value: &'e Option<String>| value.as_deref().into_iter().collect();
        match self.filter_type {
            FilterType::Event => vec![event.event.as_str()],
            FilterType::HeadRef => vec![event.head_ref.as_str()],
            FilterType::BaseRef => one(&event.base_ref),
            FilterType::ActorAccountId => one(&event.actor_account_id),
            FilterType::FilePath => event.changed_files.iter().map(String::as_str).collect(),
            FilterType::CommitMessage => one(&event.commit_message),
            FilterType::TagName => one(&event.tag_name),
            FilterType::ReleaseName => one(&event.release_name),
            FilterType::RepositoryName => one(&event.repository_name),
            // Global, organization and runner webhooks are not Kiln's: nothing to match.
            FilterType::WorkflowName | FilterType::OrganizationName => Vec::new(),
        }
    }

    fn matches(&self, event: &WebhookEvent) -> bool {
        let values = self.values(event);
        if self.filter_type == FilterType::Event {
            return event_list(&self.pattern).any(|name| values.contains(&name));
        }
        match compile(&self.pattern) {
            Ok(regex) => values.iter().any(|value| regex.is_match(value)),
            Err(_) => false,
        }
    }

    /// `excludeMatchedPattern` turns the filter around: events that do not match pass.
    pub fn passes(&self, event: &WebhookEvent) -> bool {
        self.matches(event) != self.exclude_matched_pattern
    }

    fn describe(&self) -> String {
        let pattern: String = self.pattern.chars().take(80).collect();
        let negation = if self.exclude_matched_pattern {
            " (excluded)"
        } else {
            ""
        };
        format!("{} {pattern:?}{negation}", self.filter_type.as_str())
    }
}

/// Whether `event` builds under `config`: `Ok`, or why not.
pub fn evaluate(config: &WebhookConfig, event: &WebhookEvent) -> Result<(), String> {
    if let Some(filter) = &config.branch_filter {
        let name = event.ref_name();
        let matched = compile(filter).is_ok_and(|re| re.is_match(name));
        if !matched {
            return Err(format!(
                "branchFilter does not match {}",
                super::shown(name)
            ));
        }
    }
    if config.filter_groups.is_empty() {
        return if DEFAULT_EVENTS.contains(&event.event) {
            Ok(())
        } else {
            Err(format!(
                "{} does not build without filter groups",
                event.event.as_str()
            ))
        };
    }
    let mut failures = Vec::new();
    for (i, group) in config.filter_groups.iter().enumerate() {
        match group.iter().find(|filter| !filter.passes(event)) {
            None => return Ok(()),
            Some(failed) => failures.push(format!("group {}: {} failed", i + 1, failed.describe())),
        }
    }
    Err(format!("no filter group matched ({})", failures.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::forge::Forge;
    use serde_json::json;

    fn push(head_ref: &str) -> WebhookEvent {
        WebhookEvent {
            forge: Forge::GitHub,
            event: EventType::Push,
            head_ref: head_ref.into(),
            base_ref: None,
            actor_account_id: Some("42".into()),
            changed_files: vec!["src/main.rs".into(), "docs/readme.md".into()],
            commit_message: Some("Fix the parser [ci]".into()),
            head_commit: Some("a".repeat(40)),
            prev_commit: Some("b".repeat(40)),
            merge_commit: None,
            pull_request_number: None,
            branch_deleted: false,
            repository_name: Some("kiln".into()),
            repository_page: None,
            tag_name: None,
            release_name: None,
        }
    }

    fn pull_request(event: EventType, head: &str, base: &str) -> WebhookEvent {
        WebhookEvent {
            event,
            base_ref: Some(base.into()),
            pull_request_number: Some(7),
            changed_files: Vec::new(),
            commit_message: None,
            ..push(head)
        }
    }

    fn config(groups: serde_json::Value) -> WebhookConfig {
        let input: Vec<Vec<WebhookFilterInput>> = serde_json::from_value(groups).unwrap();
        WebhookConfig {
            branch_filter: None,
            filter_groups: super::super::validate_filter_groups(input).unwrap(),
            build_type: "BUILD".into(),
            manual_creation: None,
            pull_request_build_policy: None,
        }
    }

    #[test]
    fn table_of_filter_groups() {
        let main_push = push("refs/heads/main");
        let dev_push = push("refs/heads/dev");
        let tag_push = push("refs/tags/v1.0");
        let pr = pull_request(
            EventType::PullRequestCreated,
            "refs/heads/feature",
            "refs/heads/main",
        );
        let pr_to_dev = pull_request(
            EventType::PullRequestUpdated,
            "refs/heads/feature",
            "refs/heads/dev",
        );
        let docs_only = WebhookEvent {
            changed_files: vec!["docs/a.md".into(), "docs/b.md".into()],
            ..push("refs/heads/main")
        };
        let skip_ci = WebhookEvent {
            commit_message: Some("Typo [skip ci]".into()),
            ..push("refs/heads/main")
        };
        let bot = WebhookEvent {
            actor_account_id: Some("9000".into()),
            ..push("refs/heads/main")
        };
        let merged = pull_request(
            EventType::PullRequestMerged,
            "refs/heads/f",
            "refs/heads/main",
        );
        let push_main = json!([[{"type": "EVENT", "pattern": "PUSH"}, {"type": "HEAD_REF", "pattern": "^refs/heads/main$"}]]);
        let cases: Vec<(&str, serde_json::Value, &WebhookEvent, bool)> = vec![
            ("push to main builds", push_main.clone(), &main_push, true),
            ("push to dev does not", push_main.clone(), &dev_push, false),
            ("a PR is not a push", push_main.clone(), &pr, false),
            (
                "several events in one pattern",
                json!([[{"type": "EVENT", "pattern": "PUSH, PULL_REQUEST_CREATED"}]]),
                &pr,
                true,
            ),
            (
                "any group passes",
                json!([[{"type": "EVENT", "pattern": "PULL_REQUEST_CREATED"}, {"type": "BASE_REF", "pattern": "^refs/heads/main$"}],
                       [{"type": "EVENT", "pattern": "PUSH"}, {"type": "HEAD_REF", "pattern": "^refs/heads/dev$"}]]),
                &dev_push,
                true,
            ),
            (
                "BASE_REF selects the PR's target",
                json!([[{"type": "EVENT", "pattern": "PULL_REQUEST_CREATED, PULL_REQUEST_UPDATED"}, {"type": "BASE_REF", "pattern": "^refs/heads/main$"}]]),
                &pr_to_dev,
                false,
            ),
            (
                "BASE_REF never matches a push",
                json!([[{"type": "EVENT", "pattern": "PUSH"}, {"type": "BASE_REF", "pattern": ".*"}]]),
                &main_push,
                false,
            ),
            (
                "HEAD_REF excluding tags",
                json!([[{"type": "EVENT", "pattern": "PUSH"}, {"type": "HEAD_REF", "pattern": "^refs/tags/", "excludeMatchedPattern": true}]]),
                &tag_push,
                false,
            ),
            (
                "HEAD_REF excluding tags lets branches through",
                json!([[{"type": "EVENT", "pattern": "PUSH"}, {"type": "HEAD_REF", "pattern": "^refs/tags/", "excludeMatchedPattern": true}]]),
                &main_push,
                true,
            ),
            (
                "FILE_PATH matches when any changed file matches",
                json!([[{"type": "EVENT", "pattern": "PUSH"}, {"type": "FILE_PATH", "pattern": "^src/"}]]),
                &main_push,
                true,
            ),
            (
                "FILE_PATH with no matching file",
                json!([[{"type": "EVENT", "pattern": "PUSH"}, {"type": "FILE_PATH", "pattern": "^src/"}]]),
                &docs_only,
                false,
            ),
            (
                "docs-only pushes excluded",
                json!([[{"type": "EVENT", "pattern": "PUSH"}, {"type": "FILE_PATH", "pattern": "^docs/", "excludeMatchedPattern": true}]]),
                &docs_only,
                false,
            ),
            (
                "COMMIT_MESSAGE excluded by a skip marker",
                json!([[{"type": "EVENT", "pattern": "PUSH"}, {"type": "COMMIT_MESSAGE", "pattern": "\\[skip ci\\]", "excludeMatchedPattern": true}]]),
                &skip_ci,
                false,
            ),
            (
                "COMMIT_MESSAGE without the marker builds",
                json!([[{"type": "EVENT", "pattern": "PUSH"}, {"type": "COMMIT_MESSAGE", "pattern": "\\[skip ci\\]", "excludeMatchedPattern": true}]]),
                &main_push,
                true,
            ),
            (
                "ACTOR_ACCOUNT_ID allows one user",
                json!([[{"type": "EVENT", "pattern": "PUSH"}, {"type": "ACTOR_ACCOUNT_ID", "pattern": "^42$"}]]),
                &bot,
                false,
            ),
            (
                "ACTOR_ACCOUNT_ID matches",
                json!([[{"type": "EVENT", "pattern": "PUSH"}, {"type": "ACTOR_ACCOUNT_ID", "pattern": "^42$"}]]),
                &main_push,
                true,
            ),
            (
                "EVENT excluded",
                json!([[{"type": "EVENT", "pattern": "PUSH", "excludeMatchedPattern": true}]]),
                &pr,
                true,
            ),
            (
                "patterns match anywhere unless anchored",
                json!([[{"type": "EVENT", "pattern": "PUSH"}, {"type": "HEAD_REF", "pattern": "mai"}]]),
                &main_push,
                true,
            ),
            ("no groups: pushes build", json!([]), &main_push, true),
            ("no groups: merged PRs do not", json!([]), &merged, false),
        ];
        for (name, groups, event, expected) in cases {
            let outcome = evaluate(&config(groups), event);
            assert_eq!(outcome.is_ok(), expected, "{name}: {outcome:?}");
        }
    }

    #[test]
    fn reasons_name_the_failing_filter() {
        let config = config(
            json!([[{"type": "EVENT", "pattern": "PUSH"}, {"type": "HEAD_REF", "pattern": "^refs/heads/main$"}]]),
        );
        let why = evaluate(&config, &push("refs/heads/dev")).unwrap_err();
        assert_eq!(
            why,
            "no filter group matched (group 1: HEAD_REF \"^refs/heads/main$\" failed)"
        );
    }

    #[test]
    fn branch_filter_applies_to_the_branch_name() {
        let mut config = config(json!([]));
        config.branch_filter = Some("^main$".into());
        assert!(evaluate(&config, &push("refs/heads/main")).is_ok());
        assert!(evaluate(&config, &push("refs/heads/dev")).is_err());
    }
}
