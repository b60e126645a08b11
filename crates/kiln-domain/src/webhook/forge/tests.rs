//! Delivery recognition, signatures and payload mapping, on the same real-format fixtures the
//! integration tests post (`crates/kiln/tests/fixtures/webhooks/`).

use super::*;

const A: &str = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";
const B: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const H: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432";

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn event(forge_headers: &[(&str, &str)], body: &str) -> WebhookEvent {
    let delivery = Delivery::identify(forge_headers).unwrap();
    match delivery.parse(body.as_bytes()).unwrap() {
        Parsed::Event(event) => *event,
        other => panic!("not an event: {other:?}"),
    }
}

#[test]
fn forges_are_told_apart_by_their_headers() {
    type Case<'a> = (&'a [(&'a str, &'a str)], Forge, Option<&'a str>);
    let cases: &[Case<'_>] = &[
        (
            &[("X-GitHub-Event", "push"), ("X-GitHub-Delivery", "d-1")],
            Forge::GitHub,
            Some("d-1"),
        ),
        (
            &[
                ("x-github-event", "push"),
                ("X-GitHub-Enterprise-Host", "ghe.example.com"),
            ],
            Forge::GitHubEnterprise,
            None,
        ),
        (
            // Gitea also sends GitHub's headers.
            &[
                ("X-GitHub-Event", "push"),
                ("X-Gitea-Event", "push"),
                ("X-Gitea-Delivery", "g-1"),
            ],
            Forge::Gitea,
            Some("g-1"),
        ),
        (
            &[
                ("X-Gitea-Event", "push"),
                ("X-Forgejo-Event", "push"),
                ("X-Forgejo-Delivery", "f-1"),
            ],
            Forge::Forgejo,
            Some("f-1"),
        ),
        (
            &[
                ("X-Gitlab-Event", "Push Hook"),
                ("X-Gitlab-Event-UUID", "l-1"),
            ],
            Forge::GitLab,
            Some("l-1"),
        ),
        (
            &[("X-Event-Key", "repo:push"), ("X-Request-UUID", "b-1")],
            Forge::Bitbucket,
            Some("b-1"),
        ),
    ];
    for (headers, forge, delivery_id) in cases {
        let delivery = Delivery::identify(*headers).unwrap();
        assert_eq!(delivery.forge, *forge);
        assert_eq!(delivery.delivery_id.as_deref(), *delivery_id);
    }
    assert!(Delivery::identify(&[("User-Agent", "curl")][..]).is_none());
    let odd = Delivery::identify(
        &[
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", "has space"),
        ][..],
    )
    .unwrap();
    assert_eq!(odd.delivery_id, None);
}

#[test]
fn signatures_per_forge() {
    let body = fixture!("github-push.json").as_bytes();
    let secret = "It's a Secret to Everybody";
    let good = hmac_hex(secret, body);
    let bad = hmac_hex("another secret", body);
    let prefixed = format!("sha256={good}");
    let prefixed_bad = format!("sha256={bad}");
    type Case<'a> = (Vec<(&'a str, &'a str)>, Result<(), SignatureError>);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![
                ("X-GitHub-Event", "push"),
                ("X-Hub-Signature-256", &prefixed),
            ],
            Ok(()),
        ),
        (
            vec![
                ("X-GitHub-Event", "push"),
                ("X-Hub-Signature-256", &prefixed_bad),
            ],
            Err(SignatureError::Mismatch),
        ),
        (
            vec![("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &good)],
            Err(SignatureError::Malformed),
        ),
        (
            // The legacy SHA-1 header alone is not enough.
            vec![("X-GitHub-Event", "push"), ("X-Hub-Signature", "sha1=00")],
            Err(SignatureError::Missing),
        ),
        (
            vec![("X-Gitea-Event", "push"), ("X-Gitea-Signature", &good)],
            Ok(()),
        ),
        (
            vec![("X-Gitea-Event", "push"), ("X-Gitea-Signature", &bad)],
            Err(SignatureError::Mismatch),
        ),
        (
            vec![("X-Forgejo-Event", "push"), ("X-Forgejo-Signature", &good)],
            Ok(()),
        ),
        (
            vec![("X-Forgejo-Event", "push"), ("X-Gitea-Signature", &good)],
            Ok(()),
        ),
        (
            vec![("X-Gitea-Event", "push"), ("X-Gitea-Signature", "zz")],
            Err(SignatureError::Malformed),
        ),
        (
            vec![("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", secret)],
            Ok(()),
        ),
        (
            vec![("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", "guess")],
            Err(SignatureError::Mismatch),
        ),
        (
            vec![("X-Gitlab-Event", "Push Hook")],
            Err(SignatureError::Missing),
        ),
        (
            vec![
                ("X-Event-Key", "repo:push"),
                ("X-Request-UUID", "u"),
                ("X-Hub-Signature", &prefixed),
            ],
            Ok(()),
        ),
        (
            vec![("X-Event-Key", "repo:push"), ("X-Request-UUID", "u")],
            Err(SignatureError::Missing),
        ),
    ];
    for (headers, expected) in cases {
        let delivery = Delivery::identify(&headers[..]).unwrap();
        assert_eq!(
            delivery.verify(&headers[..], secret, body),
            expected,
            "{headers:?}"
        );
    }
    // One byte changed in the body breaks the signature.
    let headers = [
        ("X-GitHub-Event", "push"),
        ("X-Hub-Signature-256", &prefixed),
    ];
    let delivery = Delivery::identify(&headers[..]).unwrap();
    let mut tampered = body.to_vec();
    tampered[10] ^= 1;
    assert_eq!(
        delivery.verify(&headers[..], secret, &tampered),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn github_push() {
    let e = event(&[("X-GitHub-Event", "push")], fixture!("github-push.json"));
    assert_eq!(e.event, EventType::Push);
    assert_eq!(e.head_ref, "refs/heads/main");
    assert_eq!(e.head_commit.as_deref(), Some(A));
    assert_eq!(e.prev_commit.as_deref(), Some(B));
    assert_eq!(e.actor_account_id.as_deref(), Some("21031067"));
    assert_eq!(e.commit_message.as_deref(), Some("Update README.md"));
    assert_eq!(
        e.changed_files,
        vec!["README.md", "src/main.rs", "src/parser.rs"]
    );
    assert_eq!(e.repository_name.as_deref(), Some("kiln-demo"));
    assert!(!e.branch_deleted);
    assert_eq!(e.base_ref, None);
}

#[test]
fn github_tag_push_builds_the_tagged_commit() {
    let e = event(
        &[("X-GitHub-Event", "push")],
        fixture!("github-push-tag.json"),
    );
    assert_eq!(e.head_ref, "refs/tags/v1.0.0");
    // `after` is the annotated tag object; the commit is `head_commit.id`.
    assert_eq!(e.head_commit.as_deref(), Some(A));
    assert_eq!(e.prev_commit.as_deref(), Some(NULL_COMMIT));
    assert_eq!(e.trigger(), "tag/v1.0.0");
}

#[test]
fn github_branch_deletion() {
    let e = event(
        &[("X-GitHub-Event", "push")],
        fixture!("github-push-delete.json"),
    );
    assert!(e.branch_deleted);
    assert_eq!(e.head_commit, None);
    assert!(e.plan_build(None).is_err());
}

#[test]
fn github_pull_request_actions() {
    let body = fixture!("github-pull-request-opened.json");
    let e = event(&[("X-GitHub-Event", "pull_request")], body);
    assert_eq!(e.event, EventType::PullRequestCreated);
    assert_eq!(e.head_ref, "refs/heads/feature/parser");
    assert_eq!(e.base_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(e.head_commit.as_deref(), Some(H));
    assert_eq!(e.pull_request_number, Some(2));
    assert_eq!(e.trigger(), "pr/2");
    for (action, merged, expected) in [
        ("reopened", false, Some(EventType::PullRequestReopened)),
        ("synchronize", false, Some(EventType::PullRequestUpdated)),
        ("closed", true, Some(EventType::PullRequestMerged)),
        ("closed", false, Some(EventType::PullRequestClosed)),
        ("labeled", false, None),
    ] {
        let mut payload: Value = serde_json::from_str(body).unwrap();
        payload["action"] = action.into();
        payload["pull_request"]["merged"] = merged.into();
        payload["pull_request"]["merge_commit_sha"] = B.into();
        let delivery = Delivery::identify(&[("X-GitHub-Event", "pull_request")][..]).unwrap();
        let parsed = delivery.parse(payload.to_string().as_bytes()).unwrap();
        match (parsed, expected) {
            (Parsed::Event(e), Some(expected)) => {
                assert_eq!(e.event, expected, "{action}");
                assert_eq!(e.merge_commit.is_some(), merged, "{action}");
            }
            (Parsed::Ignored(why), None) => assert!(why.contains("labeled"), "{why}"),
            (other, _) => panic!("{action}: {other:?}"),
        }
    }
}

#[test]
fn github_ping_release_and_other_events() {
    let ping = Delivery::identify(&[("X-GitHub-Event", "ping")][..]).unwrap();
    assert_eq!(
        ping.parse(fixture!("github-ping.json").as_bytes()).unwrap(),
        Parsed::Ping
    );
    let e = event(
        &[("X-GitHub-Event", "release")],
        fixture!("github-release-released.json"),
    );
    assert_eq!(e.event, EventType::Released);
    assert_eq!(e.tag_name.as_deref(), Some("v1.0.0"));
    assert_eq!(e.release_name.as_deref(), Some("Kiln demo 1.0"));
    assert_eq!(e.head_ref, "refs/tags/v1.0.0");
    // `target_commitish` is a branch name here, not a commit.
    assert_eq!(e.head_commit, None);
    let issues = Delivery::identify(&[("X-GitHub-Event", "issues")][..]).unwrap();
    assert!(matches!(
        issues.parse(b"{}").unwrap(),
        Parsed::Ignored(why) if why == "issues events do not start builds"
    ));
}

#[test]
fn gitlab_push_and_merge_request() {
    let e = event(
        &[("X-Gitlab-Event", "Push Hook")],
        fixture!("gitlab-push.json"),
    );
    assert_eq!(e.forge, Forge::GitLab);
    assert_eq!(e.head_ref, "refs/heads/main");
    assert_eq!(e.head_commit.as_deref(), Some(A));
    assert_eq!(e.prev_commit.as_deref(), Some(B));
    assert_eq!(e.actor_account_id.as_deref(), Some("4"));
    assert_eq!(e.commit_message.as_deref(), Some("Update README.md\n"));
    assert_eq!(e.changed_files, vec!["README.md", "src/parser.rs"]);

    let body = fixture!("gitlab-merge-request-update.json");
    let e = event(&[("X-Gitlab-Event", "Merge Request Hook")], body);
    assert_eq!(e.event, EventType::PullRequestUpdated);
    assert_eq!(e.pull_request_number, Some(3));
    assert_eq!(e.head_ref, "refs/heads/feature/parser");
    assert_eq!(e.base_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(e.head_commit.as_deref(), Some(H));
    assert_eq!(
        e.commit_message.as_deref(),
        Some("Add the parser\n\nWith tests.")
    );
    // A title edit is an update without `oldrev`: no new code, no build.
    let mut payload: Value = serde_json::from_str(body).unwrap();
    payload["object_attributes"]
        .as_object_mut()
        .unwrap()
        .remove("oldrev");
    let delivery = Delivery::identify(&[("X-Gitlab-Event", "Merge Request Hook")][..]).unwrap();
    assert!(matches!(
        delivery.parse(payload.to_string().as_bytes()).unwrap(),
        Parsed::Ignored(_)
    ));
    payload["object_attributes"]["action"] = "merge".into();
    payload["object_attributes"]["merge_commit_sha"] = B.into();
    match delivery.parse(payload.to_string().as_bytes()).unwrap() {
        Parsed::Event(e) => {
            assert_eq!(e.event, EventType::PullRequestMerged);
            assert_eq!(e.merge_commit.as_deref(), Some(B));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn gitlab_branch_deletion() {
    let mut payload: Value = serde_json::from_str(fixture!("gitlab-push.json")).unwrap();
    payload["after"] = NULL_COMMIT.into();
    payload["checkout_sha"] = Value::Null;
    payload["commits"] = serde_json::json!([]);
    let e = event(&[("X-Gitlab-Event", "Push Hook")], &payload.to_string());
    assert!(e.branch_deleted);
    assert_eq!(e.head_commit, None);
}

#[test]
fn gitea_and_forgejo() {
    for forge_header in ["X-Gitea-Event", "X-Forgejo-Event"] {
        let e = event(&[(forge_header, "push")], fixture!("gitea-push.json"));
        assert_eq!(e.event, EventType::Push);
        assert_eq!(e.head_commit.as_deref(), Some(A));
        assert_eq!(e.actor_account_id.as_deref(), Some("1"));
        assert_eq!(e.changed_files, vec!["README.md"]);
        let e = event(
            &[(forge_header, "pull_request")],
            fixture!("gitea-pull-request-synchronized.json"),
        );
        assert_eq!(e.event, EventType::PullRequestUpdated);
        assert_eq!(e.pull_request_number, Some(4));
        assert_eq!(e.head_commit.as_deref(), Some(H));
    }
    let delete = Delivery::identify(&[("X-Gitea-Event", "delete")][..]).unwrap();
    assert!(matches!(
        delete.parse(br#"{"ref":"old","ref_type":"branch"}"#).unwrap(),
        Parsed::Ignored(why) if why == "the delivery deletes branch old"
    ));
}

#[test]
fn bitbucket_push_and_pull_request() {
    let headers = [("X-Event-Key", "repo:push"), ("X-Request-UUID", "u")];
    let e = event(&headers, fixture!("bitbucket-push.json"));
    assert_eq!(e.forge, Forge::Bitbucket);
    assert_eq!(e.head_ref, "refs/heads/main");
    assert_eq!(e.head_commit.as_deref(), Some(A));
    assert_eq!(e.prev_commit.as_deref(), Some(B));
    assert_eq!(
        e.actor_account_id.as_deref(),
        Some("557058:c0b72ad0-1cb5-4018-9cdc-0cde8492c443")
    );
    assert_eq!(e.commit_message.as_deref(), Some("Update README.md\n"));

    let mut deleted: Value = serde_json::from_str(fixture!("bitbucket-push.json")).unwrap();
    deleted["push"]["changes"][0]["new"] = Value::Null;
    deleted["push"]["changes"][0]["closed"] = true.into();
    let e = event(&headers, &deleted.to_string());
    assert!(e.branch_deleted);
    assert_eq!(e.head_ref, "refs/heads/main");

    let e = event(
        &[
            ("X-Event-Key", "pullrequest:fulfilled"),
            ("X-Request-UUID", "u"),
        ],
        fixture!("bitbucket-pullrequest-fulfilled.json"),
    );
    assert_eq!(e.event, EventType::PullRequestMerged);
    assert_eq!(e.pull_request_number, Some(5));
    assert_eq!(e.head_commit.as_deref(), Some(&H[..12]));
    assert_eq!(e.merge_commit.as_deref(), Some("3e4f5a6b7c8d"));
    assert_eq!(e.base_ref.as_deref(), Some("refs/heads/main"));
}

#[test]
fn hostile_payloads_are_refused_not_panicked_on() {
    let github = Delivery::identify(&[("X-GitHub-Event", "push")][..]).unwrap();
    for body in [
        &b"not json"[..],
        b"[]",
        b"{}",
        b"{\"ref\": 7}",
        b"{\"ref\": \"refs/heads/a\nb\"}",
    ] {
        assert!(
            github.parse(body).is_err(),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    assert!(matches!(
        github
            .parse(br#"{"ref":"refs/notes/commits","after":"x"}"#)
            .unwrap(),
        Parsed::Ignored(_)
    ));
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(github.parse(deep.as_bytes()).is_err());
    let pr = Delivery::identify(&[("X-GitHub-Event", "pull_request")][..]).unwrap();
    assert!(
        pr.parse(br#"{"action":"opened","pull_request":{}}"#)
            .is_err()
    );
}

#[test]
fn payloads_give_the_repository_page() {
    let page = |headers: &[(&str, &str)], body: &str| {
        event(headers, body)
            .repository_page
            .map(|p| (p.forge, p.url))
    };
    assert_eq!(
        page(&[("X-GitHub-Event", "push")], fixture!("github-push.json")),
        Some((
            Forge::GitHub,
            "https://github.com/octo-org/kiln-demo".into()
        ))
    );
    assert_eq!(
        page(
            &[("X-Gitlab-Event", "Push Hook")],
            fixture!("gitlab-push.json")
        ),
        Some((
            Forge::GitLab,
            "https://gitlab.example.com/mike/kiln-demo".into()
        ))
    );
    assert_eq!(
        page(
            &[("X-Event-Key", "repo:push"), ("X-Request-UUID", "u")],
            fixture!("bitbucket-push.json")
        ),
        Some((
            Forge::Bitbucket,
            "https://bitbucket.org/team/kiln-demo".into()
        ))
    );
}
