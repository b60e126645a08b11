//! Property tests of everything a forge sends: the headers that name the forge, the event and
//! the delivery; the signature headers; and the payload, for every forge and event (mutated
//! real payloads and arbitrary JSON), through to the build a delivery plans and the filters it
//! is matched against. Each runs a fixed number of cases (failures are kept in
//! `proptest-regressions/` and replayed first); no case may panic or take longer than
//! [`CASE_TIME_LIMIT`]. Bodies stay far below the receiver's 4 MiB limit.

use std::sync::LazyLock;
use std::time::Duration;

use kiln_hostile_input::{JSON_ALPHABET, config, edits, json_pointers, mutated, timed};
use proptest::prelude::*;

use super::*;
use crate::webhook::{CreateWebhookInput, WebhookConfig, filter};

/// Far above what a case needs; a case this slow means super-linear work on hostile input.
const CASE_TIME_LIMIT: Duration = Duration::from_secs(1);

/// The headers each forge is recognized by, with its event names, and real payloads.
type Sample = (&'static [(&'static str, &'static str)], &'static str);

fn samples() -> Vec<Sample> {
    vec![
        (&[("X-GitHub-Event", "push")], fixture!("github-push.json")),
        (
            &[("X-GitHub-Event", "push")],
            fixture!("github-push-tag.json"),
        ),
        (
            &[("X-GitHub-Event", "push")],
            fixture!("github-push-delete.json"),
        ),
        (
            &[("X-GitHub-Event", "pull_request")],
            fixture!("github-pull-request-opened.json"),
        ),
        (
            &[("X-GitHub-Event", "release")],
            fixture!("github-release-released.json"),
        ),
        (&[("X-GitHub-Event", "ping")], fixture!("github-ping.json")),
        (
            &[
                ("X-GitHub-Event", "push"),
                ("X-GitHub-Enterprise-Host", "ghe.example.com"),
            ],
            fixture!("github-push.json"),
        ),
        (
            &[("X-Gitlab-Event", "Push Hook")],
            fixture!("gitlab-push.json"),
        ),
        (
            &[("X-Gitlab-Event", "Tag Push Hook")],
            fixture!("gitlab-push.json"),
        ),
        (
            &[("X-Gitlab-Event", "Merge Request Hook")],
            fixture!("gitlab-merge-request-update.json"),
        ),
        (
            &[("X-Gitlab-Event", "Release Hook")],
            fixture!("gitlab-push.json"),
        ),
        (&[("X-Gitea-Event", "push")], fixture!("gitea-push.json")),
        (
            &[("X-Gitea-Event", "pull_request")],
            fixture!("gitea-pull-request-synchronized.json"),
        ),
        (
            &[("X-Forgejo-Event", "pull_request_sync")],
            fixture!("gitea-pull-request-synchronized.json"),
        ),
        (
            &[("X-Event-Key", "repo:push"), ("X-Request-UUID", "u")],
            fixture!("bitbucket-push.json"),
        ),
        (
            &[
                ("X-Event-Key", "pullrequest:fulfilled"),
                ("X-Request-UUID", "u"),
            ],
            fixture!("bitbucket-pullrequest-fulfilled.json"),
        ),
        (
            &[("X-Event-Key", "pullrequest:created"), ("X-Hook-UUID", "u")],
            fixture!("bitbucket-pullrequest-fulfilled.json"),
        ),
    ]
}

/// Every header a forge delivery is read from.
const HEADER_NAMES: &[&str] = &[
    "X-GitHub-Event",
    "X-GitHub-Delivery",
    "X-GitHub-Enterprise-Host",
    "X-Hub-Signature-256",
    "X-Hub-Signature",
    "X-Gitlab-Event",
    "X-Gitlab-Event-UUID",
    "X-Gitlab-Token",
    "X-Gitea-Event",
    "X-Gitea-Delivery",
    "X-Gitea-Signature",
    "X-Forgejo-Event",
    "X-Forgejo-Delivery",
    "X-Forgejo-Signature",
    "X-Event-Key",
    "X-Request-UUID",
    "X-Hook-UUID",
];

/// A filter configuration that reads every part of an event, compiled once.
static EVERY_FILTER: LazyLock<WebhookConfig> = LazyLock::new(every_filter);

fn every_filter() -> WebhookConfig {
    let input: CreateWebhookInput = serde_json::from_value(serde_json::json!({
        "projectName": "pp",
        "branchFilter": "^(main|feature/.*)$",
        "filterGroups": [
            [{"type": "EVENT", "pattern": "PUSH, PULL_REQUEST_CREATED, PULL_REQUEST_UPDATED, PULL_REQUEST_MERGED, PULL_REQUEST_REOPENED, PULL_REQUEST_CLOSED, RELEASED, PRERELEASED"},
             {"type": "HEAD_REF", "pattern": "^refs/(heads|tags)/.+"},
             {"type": "BASE_REF", "pattern": "main", "excludeMatchedPattern": true},
             {"type": "FILE_PATH", "pattern": "\\.rs$"},
             {"type": "COMMIT_MESSAGE", "pattern": "\\[skip ci\\]", "excludeMatchedPattern": true},
             {"type": "ACTOR_ACCOUNT_ID", "pattern": "^[0-9]+$"}],
            [{"type": "EVENT", "pattern": "PUSH"},
             {"type": "TAG_NAME", "pattern": "^v"},
             {"type": "RELEASE_NAME", "pattern": "."},
             {"type": "REPOSITORY_NAME", "pattern": "."}]
        ]
    }))
    .unwrap();
    crate::webhook::validate_create(input).unwrap().1
}

/// Parses `body` as the forge of `headers` would send it, then plans its build and matches it
/// against every filter. Checks what a plan may contain.
fn understand(
    headers: &[(&str, &str)],
    body: &[u8],
    filters: &WebhookConfig,
) -> Result<(), TestCaseError> {
    let delivery = Delivery::identify(headers).unwrap();
    let parsed = timed(CASE_TIME_LIMIT, || delivery.parse(body))?;
    if let Ok(Parsed::Event(event)) = parsed {
        timed(CASE_TIME_LIMIT, || filter::evaluate(filters, &event))?.ok();
        if let Ok(plan) = event.plan_build(delivery.delivery_id.as_deref()) {
            prop_assert!(
                crate::source::check_source_version(&plan.source_version).is_ok(),
                "{}",
                plan.source_version
            );
            for (name, value) in &plan.trigger_variables {
                prop_assert!(crate::source::is_variable_name(name));
                prop_assert!(!value.contains('\0'), "{}", name);
            }
        }
    }
    Ok(())
}

/// Any JSON value, a few levels deep, with the scalars payloads hold and hostile ones.
fn json_value() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[0-9a-f]{40}".prop_map(Value::from),
        "refs/(heads|tags)/\\PC{0,20}".prop_map(Value::from),
        "\\PC{0,64}".prop_map(Value::from),
        ".{0,64}".prop_map(Value::from),
    ];
    scalar.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Replaces the value at each of `paths` (indexes into the document's nodes, in order) with
/// the matching replacement.
fn replace_nodes(doc: &mut Value, picks: &[(usize, Value)]) {
    for (pick, replacement) in picks {
        let pointers = json_pointers(doc);
        let pointer = &pointers[pick % pointers.len()];
        if let Some(slot) = doc.pointer_mut(pointer) {
            *slot = replacement.clone();
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_headers_identify_at_most_a_bounded_delivery(
        headers in prop::collection::vec(
            (prop_oneof![prop::sample::select(HEADER_NAMES).prop_map(str::to_owned), "[A-Za-z-]{1,20}"],
             prop_oneof!["\\PC{0,300}", "[ -~]{0,300}", "[0-9a-fA-F-]{36}"]),
            0..12,
        ),
    ) {
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        if let Some(delivery) = timed(CASE_TIME_LIMIT, || Delivery::identify(&pairs[..]))? {
            prop_assert!(delivery.event_name.chars().count() <= MAX_EVENT_NAME_LEN);
            prop_assert!(!delivery.event_name.chars().any(char::is_control));
            if let Some(id) = &delivery.delivery_id {
                prop_assert!(!id.is_empty() && id.len() <= MAX_DELIVERY_ID_LEN);
                prop_assert!(id.bytes().all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase()));
            }
        }
    }

    #[test]
    fn forged_signatures_never_verify(
        sample in prop::sample::select(samples()),
        signature in prop_oneof![
            "\\PC{0,200}",
            "sha256=[0-9a-fA-F]{0,80}",
            "[0-9a-f]{64}",
            "sha256=[0-9a-f]{64}",
        ],
        secret in "\\PC{0,64}",
        body in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let (forge_headers, _) = sample;
        let mut headers: Vec<(&str, &str)> = forge_headers.to_vec();
        for name in ["X-Hub-Signature-256", "X-Hub-Signature", "X-Gitlab-Token", "X-Gitea-Signature", "X-Forgejo-Signature"] {
            headers.push((name, &signature));
        }
        let delivery = Delivery::identify(&headers[..]).unwrap();
        let verified = timed(CASE_TIME_LIMIT, || delivery.verify(&headers[..], &secret, &body))?;
        // GitLab sends the secret itself: only the secret verifies.
        let genuine = delivery.forge == Forge::GitLab && signature.trim() == secret && !secret.trim().is_empty();
        prop_assert_eq!(verified.is_ok(), genuine);
    }

    #[test]
    fn genuine_signatures_of_any_body_verify(
        sample in prop::sample::select(samples()),
        secret in "[ -~]{1,64}",
        body in prop::collection::vec(any::<u8>(), 0..4096),
    ) {
        let (forge_headers, _) = sample;
        let digest = {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(&body);
            hex::encode(mac.finalize().into_bytes())
        };
        let prefixed = format!("sha256={digest}");
        let mut headers: Vec<(&str, &str)> = forge_headers.to_vec();
        headers.extend([
            ("X-Hub-Signature-256", prefixed.as_str()),
            ("X-Hub-Signature", prefixed.as_str()),
            ("X-Gitea-Signature", digest.as_str()),
            ("X-Forgejo-Signature", digest.as_str()),
            ("X-Gitlab-Token", secret.as_str()),
        ]);
        let delivery = Delivery::identify(&headers[..]).unwrap();
        let verified = timed(CASE_TIME_LIMIT, || delivery.verify(&headers[..], &secret, &body))?;
        // GitLab's header is trimmed; a secret with outer spaces cannot be sent as is.
        if !(delivery.forge == Forge::GitLab && secret.trim() != secret) {
            prop_assert!(verified.is_ok(), "{:?}", verified);
        }
    }

    #[test]
    fn byte_mutated_payloads_are_understood_or_refused(
        sample in prop::sample::select(samples()),
        edits in edits(1..16),
    ) {
        let (headers, payload) = sample;
        understand(headers, &mutated(payload.as_bytes(), JSON_ALPHABET, &edits), &EVERY_FILTER)?;
    }

    #[test]
    fn payloads_with_hostile_values_are_understood_or_refused(
        sample in prop::sample::select(samples()),
        picks in prop::collection::vec((any::<usize>(), json_value()), 1..6),
    ) {
        let (headers, payload) = sample;
        let mut doc: Value = serde_json::from_str(payload).unwrap();
        replace_nodes(&mut doc, &picks);
        understand(headers, &serde_json::to_vec(&doc).unwrap(), &EVERY_FILTER)?;
    }

    #[test]
    fn arbitrary_json_is_understood_or_refused(
        sample in prop::sample::select(samples()),
        doc in json_value(),
    ) {
        let (headers, _) = sample;
        understand(headers, &serde_json::to_vec(&doc).unwrap(), &EVERY_FILTER)?;
    }
}
