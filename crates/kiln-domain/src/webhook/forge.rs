//! The forges that post to a webhook: who sent a delivery, whether it is genuine, and what it
//! means (docs/webhooks.md §2 for the signatures, §3 for the event mapping).
//!
//! Signatures are checked over the raw body, before it is parsed, in constant time.

use std::collections::BTreeSet;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::event::{EventType, NULL_COMMIT, WebhookEvent};
use crate::commit::RepositoryPage;
use crate::refs::looks_like_commit;

/// Longest delivery id kept; forges send UUIDs.
const MAX_DELIVERY_ID_LEN: usize = 128;
/// Longest event name kept.
const MAX_EVENT_NAME_LEN: usize = 64;
/// Longest ref accepted from a payload.
const MAX_REF_LEN: usize = 1024;
/// Changed paths kept per delivery for FILE_PATH filters.
const MAX_CHANGED_FILES: usize = 10_000;

/// Read access to a request's headers, by case-insensitive name.
pub trait Headers {
    fn header(&self, name: &str) -> Option<&str>;
}

impl Headers for [(&str, &str)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Forge {
    #[serde(rename = "GITHUB")]
    GitHub,
    #[serde(rename = "GITHUB_ENTERPRISE")]
    GitHubEnterprise,
    #[serde(rename = "GITLAB")]
    GitLab,
    #[serde(rename = "GITEA")]
    Gitea,
    #[serde(rename = "FORGEJO")]
    Forgejo,
    #[serde(rename = "BITBUCKET")]
    Bitbucket,
}

impl Forge {
    pub fn name(self) -> &'static str {
        match self {
            Forge::GitHub => "GitHub",
            Forge::GitHubEnterprise => "GitHub Enterprise",
            Forge::GitLab => "GitLab",
            Forge::Gitea => "Gitea",
            Forge::Forgejo => "Forgejo",
            Forge::Bitbucket => "Bitbucket",
        }
    }

    /// How `Build.initiator` names the forge (CodeBuild shows `GitHub-Hookshot/<id>`).
    pub fn initiator_name(self) -> &'static str {
        match self {
            Forge::GitHub | Forge::GitHubEnterprise => "GitHub-Hookshot",
            Forge::GitLab => "GitLab-Webhook",
            Forge::Gitea => "Gitea-Webhook",
            Forge::Forgejo => "Forgejo-Webhook",
            Forge::Bitbucket => "Bitbucket-Webhooks",
        }
    }

    fn event_header(self) -> &'static str {
        match self {
            Forge::GitHub | Forge::GitHubEnterprise => "X-GitHub-Event",
            Forge::GitLab => "X-Gitlab-Event",
            Forge::Gitea => "X-Gitea-Event",
            Forge::Forgejo => "X-Forgejo-Event",
            Forge::Bitbucket => "X-Event-Key",
        }
    }

    fn delivery_header(self) -> &'static str {
        match self {
            Forge::GitHub | Forge::GitHubEnterprise => "X-GitHub-Delivery",
            Forge::GitLab => "X-Gitlab-Event-UUID",
            Forge::Gitea => "X-Gitea-Delivery",
            Forge::Forgejo => "X-Forgejo-Delivery",
            Forge::Bitbucket => "X-Request-UUID",
        }
    }

    fn signature_header(self) -> &'static str {
        match self {
            Forge::GitHub | Forge::GitHubEnterprise => "X-Hub-Signature-256",
            Forge::GitLab => "X-Gitlab-Token",
            Forge::Gitea => "X-Gitea-Signature",
            Forge::Forgejo => "X-Forgejo-Signature",
            Forge::Bitbucket => "X-Hub-Signature",
        }
    }

    /// The forge that sent a request. Gitea and Forgejo also send GitHub's headers for
    /// compatibility, so their own headers are looked at first.
    fn detect<H: Headers + ?Sized>(headers: &H) -> Option<Forge> {
        let has = |name: &str| headers.header(name).is_some();
        if has("X-Forgejo-Event") {
            Some(Forge::Forgejo)
        } else if has("X-Gitea-Event") {
            Some(Forge::Gitea)
        } else if has("X-Gitlab-Event") {
            Some(Forge::GitLab)
        } else if has("X-Event-Key") && (has("X-Request-UUID") || has("X-Hook-UUID")) {
            Some(Forge::Bitbucket)
        } else if has("X-GitHub-Event") {
            if has("X-GitHub-Enterprise-Host") {
                Some(Forge::GitHubEnterprise)
            } else {
                Some(Forge::GitHub)
            }
        } else {
            None
        }
    }
}

/// Why a delivery's signature is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    Malformed,
    Mismatch,
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SignatureError::Missing => "the delivery is not signed",
            SignatureError::Malformed => "the signature header is malformed",
            SignatureError::Mismatch => "the signature does not match the webhook's secret",
        })
    }
}

/// A delivery as its headers describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub forge: Forge,
    /// The forge's event name (`push`, `Merge Request Hook`, `repo:push`…), bounded.
    pub event_name: String,
    /// The forge's id for this delivery (a UUID), lower-cased; the same on a redelivery.
    pub delivery_id: Option<String>,
}

/// What a genuine delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// The forge checking the hook works.
    Ping,
    /// An event CodeBuild does not build for, and why.
    Ignored(String),
    Event(Box<WebhookEvent>),
}

impl Delivery {
    /// Recognizes the forge from the request's headers.
    pub fn identify<H: Headers + ?Sized>(headers: &H) -> Option<Delivery> {
        let forge = Forge::detect(headers)?;
        let event_name: String = headers
            .header(forge.event_header())
            .unwrap_or_default()
            .chars()
            .take(MAX_EVENT_NAME_LEN)
            .filter(|c| !c.is_control())
            .collect();
        let delivery_id = headers
            .header(forge.delivery_header())
            .map(str::trim)
            .filter(|id| {
                !id.is_empty()
                    && id.len() <= MAX_DELIVERY_ID_LEN
                    && id.bytes().all(|b| b.is_ascii_graphic())
            })
            .map(str::to_ascii_lowercase);
        Some(Delivery {
            forge,
            event_name,
            delivery_id,
        })
    }

    /// Checks the forge's signature of `body` against `secret`.
    pub fn verify<H: Headers + ?Sized>(
        &self,
        headers: &H,
        secret: &str,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let header = headers
            .header(self.forge.signature_header())
            .or_else(|| match self.forge {
                // Forgejo also signs under Gitea's name.
                Forge::Forgejo => headers.header("X-Gitea-Signature"),
                _ => None,
            })
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or(SignatureError::Missing)?;
        match self.forge {
            Forge::GitHub | Forge::GitHubEnterprise | Forge::Bitbucket => {
                let hex_digest = header
                    .strip_prefix("sha256=")
                    .ok_or(SignatureError::Malformed)?;
                verify_hmac(secret, body, hex_digest)
            }
            Forge::Gitea | Forge::Forgejo => verify_hmac(secret, body, header),
            Forge::GitLab => {
                // Comparing digests keeps the secret's length out of the timing as well.
                let sent = Sha256::digest(header.as_bytes());
                let expected = Sha256::digest(secret.as_bytes());
                if bool::from(sent.ct_eq(&expected)) {
                    Ok(())
                } else {
                    Err(SignatureError::Mismatch)
                }
            }
        }
    }

    /// Reads the (verified) body.
    pub fn parse(&self, body: &[u8]) -> Result<Parsed, String> {
        let payload: Value = serde_json::from_slice(body)
            .map_err(|err| format!("the payload is not JSON: {err}"))?;
        if !payload.is_object() {
            return Err("the payload is not a JSON object".into());
        }
        let name = self.event_name.as_str();
        let parsed = match self.forge {
            Forge::GitHub | Forge::GitHubEnterprise | Forge::Gitea | Forge::Forgejo => match name {
                "ping" => Ok(Parsed::Ping),
                "push" => github_push(self.forge, &payload),
                "pull_request" | "pull_request_sync" => github_pull_request(self.forge, &payload),
                "release" => github_release(self.forge, &payload),
                "delete" => Ok(Parsed::Ignored(format!(
                    "the delivery deletes {} {}",
                    super::shown(&text(&payload, "/ref_type").unwrap_or_default()),
                    super::shown(&text(&payload, "/ref").unwrap_or_default())
                ))),
                other => Ok(ignored_event(other)),
            },
            Forge::GitLab => match name {
                "Push Hook" | "Tag Push Hook" => gitlab_push(&payload),
                "Merge Request Hook" => gitlab_merge_request(&payload),
                "Release Hook" => gitlab_release(&payload),
                other => Ok(ignored_event(other)),
            },
            Forge::Bitbucket => match name {
                "diagnostics:ping" => Ok(Parsed::Ping),
                "repo:push" => bitbucket_push(&payload),
                "pullrequest:created"
                | "pullrequest:updated"
                | "pullrequest:fulfilled"
                | "pullrequest:rejected" => bitbucket_pull_request(name, &payload),
                other => Ok(ignored_event(other)),
            },
        };
        parsed.map(|parsed| match parsed {
            Parsed::Event(mut event) => {
                event.repository_page = repository_page(self.forge, &payload);
                Parsed::Event(event)
            }
            other => other,
        })
    }
}

/// The repository's web page as the forge's payload gives it.
fn repository_page(forge: Forge, payload: &Value) -> Option<RepositoryPage> {
    let pointer = match forge {
        Forge::GitHub | Forge::GitHubEnterprise | Forge::Gitea | Forge::Forgejo => {
            "/repository/html_url"
        }
        Forge::GitLab => "/project/web_url",
        Forge::Bitbucket => "/repository/links/html/href",
    };
    RepositoryPage::from_payload(forge, &text(payload, pointer)?)
}

fn verify_hmac(secret: &str, body: &[u8], hex_digest: &str) -> Result<(), SignatureError> {
    let sent = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&sent)
        .map_err(|_| SignatureError::Mismatch)
}

fn ignored_event(name: &str) -> Parsed {
    Parsed::Ignored(format!(
        "{} events do not start builds",
        super::shown(if name.is_empty() { "unnamed" } else { name })
    ))
}

fn text(payload: &Value, pointer: &str) -> Option<String> {
    payload
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// An id that forges send as a number (GitHub, GitLab) or a string (Bitbucket).
fn id_text(payload: &Value, pointer: &str) -> Option<String> {
    match payload.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(super::shown(s)),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A commit id, when the value is one.
fn commit(payload: &Value, pointer: &str) -> Option<String> {
    text(payload, pointer).filter(|c| looks_like_commit(c))
}

/// A ref, branch or tag name from a payload: sane enough to show and to pass on as a variable.
fn checked_ref(value: String) -> Result<String, String> {
    let ok =
        !value.is_empty() && value.len() <= MAX_REF_LEN && !value.chars().any(char::is_control);
    if ok {
        Ok(value)
    } else {
        Err(format!(
            "the payload names an invalid ref {:?}",
            super::shown(&value)
        ))
    }
}

fn branch_ref(name: Option<String>, what: &str) -> Result<String, String> {
    let name = name.ok_or_else(|| format!("the payload has no {what}"))?;
    checked_ref(format!("refs/heads/{name}"))
}

fn pull_request_number(payload: &Value, pointer: &str) -> Result<u64, String> {
    payload
        .pointer(pointer)
        .and_then(Value::as_u64)
        .ok_or_else(|| "the payload has no pull request number".to_string())
}

/// Paths added, modified or removed by the commits of a push (GitHub, Gitea, GitLab).
fn changed_files(payload: &Value) -> Vec<String> {
    let mut files = BTreeSet::new();
    let commits = payload.get("commits").and_then(Value::as_array);
    for commit in commits.into_iter().flatten() {
        for list in ["added", "modified", "removed"] {
            let paths = commit.get(list).and_then(Value::as_array);
            for path in paths.into_iter().flatten().filter_map(Value::as_str) {
                if files.len() >= MAX_CHANGED_FILES {
                    return files.into_iter().collect();
                }
                files.insert(path.to_string());
            }
        }
    }
    files.into_iter().collect()
}

/// The message of the commit `head` among the push's commits, else of the last one.
fn commit_message(payload: &Value, head: Option<&str>) -> Option<String> {
    let commits = payload.get("commits")?.as_array()?;
    commits
        .iter()
        .find(|c| head.is_some() && c.get("id").and_then(Value::as_str) == head)
        .or_else(|| commits.last())
        .and_then(|c| c.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// A push whose ref is neither a branch nor a tag (notes, pull refs) builds nothing.
fn push_ref(payload: &Value) -> Result<Result<String, Parsed>, String> {
    let git_ref = checked_ref(text(payload, "/ref").ok_or("the payload has no ref")?)?;
    if git_ref.starts_with("refs/heads/") || git_ref.starts_with("refs/tags/") {
        Ok(Ok(git_ref))
    } else {
        Ok(Err(Parsed::Ignored(format!(
            "the push updates {}, which is neither a branch nor a tag",
            super::shown(&git_ref)
        ))))
    }
}

fn empty_event(forge: Forge, event: EventType, head_ref: String) -> WebhookEvent {
    WebhookEvent {
        forge,
        event,
        head_ref,
        base_ref: None,
        actor_account_id: None,
        changed_files: Vec::new(),
        commit_message: None,
        head_commit: None,
        prev_commit: None,
        merge_commit: None,
        pull_request_number: None,
        branch_deleted: false,
        repository_name: None,
        repository_page: None,
        tag_name: None,
        release_name: None,
    }
}

fn github_push(forge: Forge, payload: &Value) -> Result<Parsed, String> {
    let head_ref = match push_ref(payload)? {
        Ok(r) => r,
        Err(ignored) => return Ok(ignored),
    };
    let after = commit(payload, "/after");
    let deleted = payload.get("deleted").and_then(Value::as_bool) == Some(true)
        || after.as_deref() == Some(NULL_COMMIT);
    // For an annotated tag `after` is the tag object; `head_commit` is the commit.
    let head_commit = commit(payload, "/head_commit/id")
        .or(after)
        .filter(|c| c != NULL_COMMIT);
    let message = text(payload, "/head_commit/message")
        .or_else(|| commit_message(payload, head_commit.as_deref()));
    Ok(Parsed::Event(Box::new(WebhookEvent {
        actor_account_id: id_text(payload, "/sender/id").or_else(|| id_text(payload, "/pusher/id")),
        changed_files: changed_files(payload),
        commit_message: message,
        head_commit,
        prev_commit: commit(payload, "/before"),
        branch_deleted: deleted,
        repository_name: text(payload, "/repository/name"),
        ..empty_event(forge, EventType::Push, head_ref)
    })))
}

fn github_pull_request(forge: Forge, payload: &Value) -> Result<Parsed, String> {
    let action = text(payload, "/action").unwrap_or_default();
    let merged = payload
        .pointer("/pull_request/merged")
        .and_then(Value::as_bool)
        == Some(true);
    let event = match action.as_str() {
        "opened" => EventType::PullRequestCreated,
        "reopened" => EventType::PullRequestReopened,
        // GitHub says `synchronize`, Gitea `synchronized`.
        "synchronize" | "synchronized" => EventType::PullRequestUpdated,
        "closed" if merged => EventType::PullRequestMerged,
        "closed" => EventType::PullRequestClosed,
        other => {
            return Ok(Parsed::Ignored(format!(
                "pull request action {} does not start builds",
                super::shown(other)
            )));
        }
    };
    let number = pull_request_number(payload, "/number")
        .or_else(|_| pull_request_number(payload, "/pull_request/number"))?;
    let head_ref = branch_ref(
        text(payload, "/pull_request/head/ref"),
        "pull request head branch",
    )?;
    Ok(Parsed::Event(Box::new(WebhookEvent {
        base_ref: Some(branch_ref(
            text(payload, "/pull_request/base/ref"),
            "pull request base branch",
        )?),
        actor_account_id: id_text(payload, "/sender/id"),
        head_commit: commit(payload, "/pull_request/head/sha"),
        merge_commit: if merged {
            commit(payload, "/pull_request/merge_commit_sha")
        } else {
            None
        },
        pull_request_number: Some(number),
        repository_name: text(payload, "/repository/name"),
        ..empty_event(forge, event, head_ref)
    })))
}

fn github_release(forge: Forge, payload: &Value) -> Result<Parsed, String> {
    let action = text(payload, "/action").unwrap_or_default();
    let prerelease = payload
        .pointer("/release/prerelease")
        .and_then(Value::as_bool)
        == Some(true);
    let event = match (forge, action.as_str()) {
        (Forge::GitHub | Forge::GitHubEnterprise, "released") => EventType::Released,
        (Forge::GitHub | Forge::GitHubEnterprise, "prereleased") => EventType::Prereleased,
        (Forge::Gitea | Forge::Forgejo, "published") if prerelease => EventType::Prereleased,
        (Forge::Gitea | Forge::Forgejo, "published") => EventType::Released,
        (_, other) => {
            return Ok(Parsed::Ignored(format!(
                "release action {} does not start builds",
                super::shown(other)
            )));
        }
    };
    let tag = text(payload, "/release/tag_name").ok_or("the payload has no release tag")?;
    let head_ref = checked_ref(format!("refs/tags/{tag}"))?;
    Ok(Parsed::Event(Box::new(WebhookEvent {
        actor_account_id: id_text(payload, "/sender/id"),
        // `target_commitish` is a branch name or a commit; only a full commit id is taken.
        head_commit: commit(payload, "/release/target_commitish").filter(|c| c.len() == 40),
        repository_name: text(payload, "/repository/name"),
        tag_name: Some(tag),
        release_name: text(payload, "/release/name"),
        ..empty_event(forge, event, head_ref)
    })))
}

fn gitlab_push(payload: &Value) -> Result<Parsed, String> {
    let head_ref = match push_ref(payload)? {
        Ok(r) => r,
        Err(ignored) => return Ok(ignored),
    };
    let after = commit(payload, "/after");
    let deleted = after.as_deref() == Some(NULL_COMMIT);
    let head_commit = commit(payload, "/checkout_sha")
        .or(after)
        .filter(|c| c != NULL_COMMIT);
    Ok(Parsed::Event(Box::new(WebhookEvent {
        actor_account_id: id_text(payload, "/user_id"),
        changed_files: changed_files(payload),
        commit_message: commit_message(payload, head_commit.as_deref()),
        head_commit,
        prev_commit: commit(payload, "/before"),
        branch_deleted: deleted,
        repository_name: text(payload, "/project/name"),
        ..empty_event(Forge::GitLab, EventType::Push, head_ref)
    })))
}

fn gitlab_merge_request(payload: &Value) -> Result<Parsed, String> {
    let action = text(payload, "/object_attributes/action").unwrap_or_default();
    let event = match action.as_str() {
        "open" => EventType::PullRequestCreated,
        "reopen" => EventType::PullRequestReopened,
        // An update without `oldrev` changed the title or labels, not the code.
        "update" if payload.pointer("/object_attributes/oldrev").is_some() => {
            EventType::PullRequestUpdated
        }
        "merge" => EventType::PullRequestMerged,
        "close" => EventType::PullRequestClosed,
        other => {
            return Ok(Parsed::Ignored(format!(
                "merge request action {} does not start builds",
                super::shown(if other.is_empty() { "update" } else { other })
            )));
        }
    };
    let head_ref = branch_ref(
        text(payload, "/object_attributes/source_branch"),
        "merge request source branch",
    )?;
    Ok(Parsed::Event(Box::new(WebhookEvent {
        base_ref: Some(branch_ref(
            text(payload, "/object_attributes/target_branch"),
            "merge request target branch",
        )?),
        actor_account_id: id_text(payload, "/user/id"),
        commit_message: text(payload, "/object_attributes/last_commit/message"),
        head_commit: commit(payload, "/object_attributes/last_commit/id"),
        merge_commit: if event == EventType::PullRequestMerged {
            commit(payload, "/object_attributes/merge_commit_sha")
        } else {
            None
        },
        pull_request_number: Some(pull_request_number(payload, "/object_attributes/iid")?),
        repository_name: text(payload, "/project/name"),
        ..empty_event(Forge::GitLab, event, head_ref)
    })))
}

fn gitlab_release(payload: &Value) -> Result<Parsed, String> {
    let action = text(payload, "/action").unwrap_or_default();
    if action != "create" {
        return Ok(Parsed::Ignored(format!(
            "release action {} does not start builds",
            super::shown(&action)
        )));
    }
    let tag = text(payload, "/tag").ok_or("the payload has no release tag")?;
    let head_ref = checked_ref(format!("refs/tags/{tag}"))?;
    Ok(Parsed::Event(Box::new(WebhookEvent {
        head_commit: commit(payload, "/commit/id"),
        commit_message: text(payload, "/commit/message"),
        repository_name: text(payload, "/project/name"),
        tag_name: Some(tag),
        release_name: text(payload, "/name"),
        ..empty_event(Forge::GitLab, EventType::Released, head_ref)
    })))
}

/// Bitbucket Cloud's `repo:push`. A push may carry several changes; like a single `git push`
/// of one ref, the first change is the one built.
fn bitbucket_push(payload: &Value) -> Result<Parsed, String> {
    let Some(change) = payload
        .pointer("/push/changes")
        .and_then(Value::as_array)
        .and_then(|changes| changes.first())
    else {
        return Ok(Parsed::Ignored("the push lists no changes".into()));
    };
    let new = change.get("new").filter(|v| !v.is_null());
    let old = change.get("old").filter(|v| !v.is_null());
    let target = new
        .or(old)
        .ok_or("the push change has neither a new nor an old ref")?;
    let name = text(target, "/name").ok_or("the push change has no ref name")?;
    let head_ref = match target.get("type").and_then(Value::as_str) {
        Some("branch" | "named_branch") => checked_ref(format!("refs/heads/{name}"))?,
        Some("tag" | "annotated_tag") => checked_ref(format!("refs/tags/{name}"))?,
        other => {
            return Ok(Parsed::Ignored(format!(
                "the push updates a {}, which is neither a branch nor a tag",
                super::shown(other.unwrap_or("ref"))
            )));
        }
    };
    Ok(Parsed::Event(Box::new(WebhookEvent {
        actor_account_id: id_text(payload, "/actor/account_id")
            .or_else(|| id_text(payload, "/actor/uuid")),
        commit_message: new.and_then(|n| text(n, "/target/message")),
        head_commit: new.and_then(|n| commit(n, "/target/hash")),
        prev_commit: Some(
            old.and_then(|o| commit(o, "/target/hash"))
                .unwrap_or_else(|| NULL_COMMIT.to_string()),
        ),
        branch_deleted: new.is_none(),
        repository_name: text(payload, "/repository/name"),
        ..empty_event(Forge::Bitbucket, EventType::Push, head_ref)
    })))
}

fn bitbucket_pull_request(key: &str, payload: &Value) -> Result<Parsed, String> {
    let event = match key {
        "pullrequest:created" => EventType::PullRequestCreated,
        "pullrequest:updated" => EventType::PullRequestUpdated,
        "pullrequest:fulfilled" => EventType::PullRequestMerged,
        _ => EventType::PullRequestClosed,
    };
    let head_ref = branch_ref(
        text(payload, "/pullrequest/source/branch/name"),
        "pull request source branch",
    )?;
    Ok(Parsed::Event(Box::new(WebhookEvent {
        base_ref: Some(branch_ref(
            text(payload, "/pullrequest/destination/branch/name"),
            "pull request destination branch",
        )?),
        actor_account_id: id_text(payload, "/actor/account_id")
            .or_else(|| id_text(payload, "/actor/uuid")),
        head_commit: commit(payload, "/pullrequest/source/commit/hash"),
        merge_commit: commit(payload, "/pullrequest/merge_commit/hash"),
        pull_request_number: Some(pull_request_number(payload, "/pullrequest/id")?),
        repository_name: text(payload, "/repository/name"),
        ..empty_event(Forge::Bitbucket, event, head_ref)
    })))
}

/// A real-format payload the integration tests post, for this module's tests.
#[cfg(test)]
macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../kiln/tests/fixtures/webhooks/",
            $name
        ))
    };
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
