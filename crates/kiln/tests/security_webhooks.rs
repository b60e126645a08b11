//! Security of webhooks (issue 11): a genuine, signed delivery replayed by whoever captured it,
//! under another delivery id, an upper-cased one or none, starts no second build, for every
//! forge; the answer says it is a duplicate.

// The helpers below are test code too: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::KilnServer;
use common::builds::{self, build_ids};
use common::forges::{Forge, create_webhook, fixture, forge_headers, outcome, post_raw};
use common::git::GitRepo;
use serde_json::{Value, json};

const ROLE: &str = "arn:aws:iam::111122223333:role/service-role/kiln-build";

/// Each forge's push payload, its event name and the header carrying its delivery id.
fn pushes() -> Vec<(Forge, &'static str, Value, &'static str)> {
    vec![
        (
            Forge::GitHub,
            "push",
            fixture("github-push.json"),
            "X-GitHub-Delivery",
        ),
        (
            Forge::GitLab,
            "Push Hook",
            fixture("gitlab-push.json"),
            "X-Gitlab-Event-UUID",
        ),
        (
            Forge::Gitea,
            "push",
            fixture("gitea-push.json"),
            "X-Gitea-Delivery",
        ),
        (
            Forge::Forgejo,
            "push",
            {
                let mut push = fixture("gitea-push.json");
                push["compare_url"] = "https://forgejo.example.com/compare".into();
                push
            },
            "X-Forgejo-Delivery",
        ),
        (
            Forge::Bitbucket,
            "repo:push",
            fixture("bitbucket-push.json"),
            "X-Request-UUID",
        ),
    ]
}

/// The headers of a genuine delivery, with its delivery id changed by `edit` (removed when
/// `edit` returns `None`). Gitea and Forgejo also send GitHub's delivery header: it is edited
/// the same way.
fn with_delivery_id(
    headers: &[(String, String)],
    id_header: &str,
    edit: impl Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    let is_id = |name: &str| {
        name.eq_ignore_ascii_case(id_header)
            || name.eq_ignore_ascii_case("X-GitHub-Delivery")
            || name.eq_ignore_ascii_case("X-Gitea-Delivery")
    };
    headers
        .iter()
        .filter_map(|(name, value)| {
            if is_id(name) {
                edit(value).map(|id| (name.clone(), id))
            } else {
                Some((name.clone(), value.clone()))
            }
        })
        .collect()
}

#[test]
fn a_replayed_signed_body_starts_no_second_build_whatever_its_delivery_id() {
    let server = KilnServer::start();
    let repo = GitRepo::init(server.root().join("repo"));
    repo.commit(
        &[(
            "buildspec.yml",
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo built\n",
        )],
        "code",
    );
    builds::create_project(
        &server,
        &json!({
            "name": "app",
            "source": {"type": "GITHUB", "location": repo.location()},
            "artifacts": {"type": "NO_ARTIFACTS"},
            "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                            "computeType": "BUILD_GENERAL1_SMALL"},
            "serviceRole": ROLE
        }),
    );
    let hook = create_webhook(
        &server,
        "app",
        &json!([[{"type": "EVENT", "pattern": "PUSH"}]]),
    );

    let mut expected_builds = 0;
    for (i, (forge, event, payload, id_header)) in pushes().into_iter().enumerate() {
        let body = serde_json::to_vec(&payload).unwrap();
        let delivery = format!("5f0e1c2a-8b7d-4e3f-9a1b-{i:012}");
        let genuine = forge_headers(forge, event, &delivery, Some(&hook.secret), &body);
        let first = outcome(&post_raw(&hook.payload_url, &genuine, &body), 200);
        assert_eq!(first["outcome"], "BUILT", "{forge:?}: {first}");
        expected_builds += 1;

        let replays = [
            (
                "another delivery id",
                with_delivery_id(&genuine, id_header, |_| {
                    Some(format!("0badc0de-0000-4000-8000-{i:012}"))
                }),
            ),
            (
                "the delivery id upper-cased",
                with_delivery_id(&genuine, id_header, |id| Some(id.to_ascii_uppercase())),
            ),
            (
                "no delivery id",
                with_delivery_id(&genuine, id_header, |_| None),
            ),
            ("the same delivery id", genuine.clone()),
        ];
        for (how, headers) in replays {
            let answer = outcome(&post_raw(&hook.payload_url, &headers, &body), 200);
            assert_eq!(answer["outcome"], "FILTERED", "{forge:?}, {how}: {answer}");
            assert!(
                answer["reason"]
                    .as_str()
                    .unwrap()
                    .starts_with("duplicate: "),
                "{forge:?}, {how}: {answer}"
            );
            assert!(
                answer.get("buildId").is_none(),
                "{forge:?}, {how}: {answer}"
            );
        }
        assert_eq!(
            build_ids(&server, "app").len(),
            expected_builds,
            "{forge:?}: a replay started a build"
        );
    }
}
