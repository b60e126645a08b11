//! Webhooks end to end: the real `kiln` binary receives real-format payloads
//! (`tests/fixtures/webhooks/`), signed as each forge signs them, and builds commits of a real
//! git repository; the webhook itself is managed with the real `aws` CLI.

// The helpers below are test code too: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::browser::Browser;
use common::builds::{self, build_ids, build_log, wait_build_complete};
use common::forges::{Forge, create_webhook, deliver, fixture, forge_headers, outcome, post_raw};
use common::git::GitRepo;
use common::{ACCOUNT_A, KilnServer, aws, http_get, http_post};
use fantoccini::Locator;
use serde_json::{Value, json};

const ROLE: &str = "arn:aws:iam::111122223333:role/service-role/kiln-build";
const NULL_COMMIT: &str = "0000000000000000000000000000000000000000";
/// How long a build may take before a test gives up on it.
const BUILD_DEADLINE: Duration = Duration::from_secs(120);

/// Echoes what the build sees of its trigger, then fails when `$FAIL` is set.
const BUILDSPEC: &str = r#"version: 0.2
phases:
  build:
    commands:
      - echo "SOURCE_VERSION=$CODEBUILD_SOURCE_VERSION"
      - echo "RESOLVED=$CODEBUILD_RESOLVED_SOURCE_VERSION"
      - echo "EVENT=$CODEBUILD_WEBHOOK_EVENT"
      - echo "TRIGGER=$CODEBUILD_WEBHOOK_TRIGGER"
      - echo "HEAD_REF=$CODEBUILD_WEBHOOK_HEAD_REF"
      - echo "BASE_REF=$CODEBUILD_WEBHOOK_BASE_REF"
      - echo "ACTOR=$CODEBUILD_WEBHOOK_ACTOR_ACCOUNT_ID"
      - echo "PREV=$CODEBUILD_WEBHOOK_PREV_COMMIT"
      - echo "INITIATOR=$CODEBUILD_INITIATOR"
      - test "${FAIL:-0}" = 0
"#;

// --- projects, webhooks, builds ----------------------------------------------------------------

fn create_project(server: &KilnServer, name: &str, location: &str) {
    let input = json!({
        "name": name,
        "source": {"type": "GITHUB", "location": location},
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": {
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL"
        },
        "serviceRole": ROLE,
        "badgeEnabled": true
    });
    builds::create_project(server, &input);
}

fn get_project(server: &KilnServer, name: &str) -> Value {
    let out = aws(
        server,
        &ACCOUNT_A,
        &["codebuild", "batch-get-projects", "--names", name],
    );
    out.ok()["projects"][0].clone()
}

/// The message a project's badge shows for `selector` (`&branch=main`, `&tag=v1`).
fn badge(server: &KilnServer, project: &Value, selector: &str) -> String {
    let url = project["badge"]["badgeRequestUrl"].as_str().unwrap();
    let token = url
        .split_once('?')
        .unwrap()
        .1
        .split('&')
        .find_map(|pair| pair.strip_prefix("uuid="))
        .unwrap();
    let reply = http_get(
        &format!("{}/badges?uuid={token}{selector}", server.url()),
        &[],
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let label = reply
        .body
        .split_once("aria-label=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .unwrap()
        .0;
    label.rsplit_once(": ").unwrap().1.to_string()
}

// --- tests ------------------------------------------------------------------------------------

#[test]
fn webhook_fields_round_trip_through_the_aws_cli() {
    let server = KilnServer::start();
    create_project(&server, "hooked", "https://git.example.com/team/hooked.git");
    let groups = json!([
        [{"type": "EVENT", "pattern": "PUSH"}, {"type": "HEAD_REF", "pattern": "^refs/heads/main$"}],
        [{"type": "EVENT", "pattern": "PULL_REQUEST_CREATED, PULL_REQUEST_UPDATED"},
         {"type": "FILE_PATH", "pattern": "^docs/", "excludeMatchedPattern": true}]
    ]);
    let created = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "create-webhook",
            "--project-name",
            "hooked",
            "--filter-groups",
            &groups.to_string(),
            "--build-type",
            "BUILD",
            "--branch-filter",
            "^main$",
        ],
    );
    let webhook = created.ok()["webhook"].clone();
    let payload_url = webhook["payloadUrl"].as_str().unwrap();
    let prefix = format!("{}/webhooks?t=", server.url());
    let token = payload_url
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix("&v=1"))
        .unwrap_or_else(|| panic!("payloadUrl {payload_url}"));
    assert!(token.len() >= 22, "{token}");
    let secret = webhook["secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 32, "{secret}");
    assert_eq!(
        webhook["filterGroups"],
        json!([
            [{"type": "EVENT", "pattern": "PUSH", "excludeMatchedPattern": false},
             {"type": "HEAD_REF", "pattern": "^refs/heads/main$", "excludeMatchedPattern": false}],
            [{"type": "EVENT", "pattern": "PULL_REQUEST_CREATED, PULL_REQUEST_UPDATED", "excludeMatchedPattern": false},
             {"type": "FILE_PATH", "pattern": "^docs/", "excludeMatchedPattern": true}]
        ])
    );
    assert_eq!(webhook["buildType"], "BUILD");
    assert_eq!(webhook["branchFilter"], "^main$");
    let first_modified = webhook["lastModifiedSecret"].as_f64().unwrap();

    // BatchGetProjects shows the webhook but never its secret.
    let shown = get_project(&server, "hooked")["webhook"].clone();
    assert_eq!(shown["payloadUrl"], payload_url);
    assert_eq!(shown["filterGroups"], webhook["filterGroups"]);
    assert_eq!(shown["buildType"], "BUILD");
    assert_eq!(shown["branchFilter"], "^main$");
    assert!(shown.get("secret").is_none(), "{shown}");
    assert_eq!(shown["lastModifiedSecret"].as_f64(), Some(first_modified));

    let again = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "create-webhook", "--project-name", "hooked"],
    );
    assert_eq!(again.error().code, "ResourceAlreadyExistsException");

    // Updating filters keeps the secret hidden; rotating shows the new one, once.
    let updated = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "update-webhook",
            "--project-name",
            "hooked",
            "--filter-groups",
            r#"[[{"type":"EVENT","pattern":"PUSH"}]]"#,
        ],
    );
    let updated = updated.ok()["webhook"].clone();
    assert!(updated.get("secret").is_none(), "{updated}");
    assert_eq!(
        updated["filterGroups"],
        json!([[{"type": "EVENT", "pattern": "PUSH", "excludeMatchedPattern": false}]])
    );
    assert_eq!(updated["branchFilter"], "^main$");
    std::thread::sleep(Duration::from_millis(20));
    let rotated = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "update-webhook",
            "--project-name",
            "hooked",
            "--rotate-secret",
        ],
    );
    let rotated = rotated.ok()["webhook"].clone();
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert!(rotated["lastModifiedSecret"].as_f64().unwrap() > first_modified);
    assert_eq!(rotated["payloadUrl"], payload_url);
    assert!(
        get_project(&server, "hooked")["webhook"]
            .get("secret")
            .is_none()
    );

    // CodeBuild's validation: an EVENT filter in every group, known events, RE2 patterns.
    for (groups, needle) in [
        (
            r#"[[{"type":"HEAD_REF","pattern":"^refs/heads/main$"}]]"#,
            "must contain a filter of type EVENT",
        ),
        (
            r#"[[{"type":"EVENT","pattern":"PUSH, PULL_REQUEST_OPENED"}]]"#,
            "Invalid event type: PULL_REQUEST_OPENED",
        ),
        (
            r#"[[{"type":"EVENT","pattern":"PUSH"},{"type":"HEAD_REF","pattern":"^(?!refs/tags/)"}]]"#,
            "Invalid pattern for HEAD_REF",
        ),
    ] {
        let out = aws(
            &server,
            &ACCOUNT_A,
            &[
                "codebuild",
                "update-webhook",
                "--project-name",
                "hooked",
                "--filter-groups",
                groups,
            ],
        );
        let err = out.error();
        assert_eq!(err.code, "InvalidInputException", "{groups}");
        assert!(err.message.contains(needle), "{}", err.message);
    }

    aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "delete-webhook", "--project-name", "hooked"],
    )
    .ok();
    assert!(get_project(&server, "hooked").get("webhook").is_none());
    let gone = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "delete-webhook", "--project-name", "hooked"],
    );
    assert_eq!(gone.error().code, "ResourceNotFoundException");
    let no_project = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "create-webhook", "--project-name", "nothere"],
    );
    assert_eq!(no_project.error().code, "ResourceNotFoundException");
    // The old payload URL is dead.
    let reply = post_raw(
        payload_url,
        &forge_headers(Forge::GitHub, "ping", "p-1", Some(new_secret), b"{}"),
        b"{}",
    );
    assert_eq!(reply.status, 404, "{}", reply.body);
}

#[test]
fn signatures_are_checked_per_forge_and_nothing_unsigned_builds() {
    let server = KilnServer::start();
    create_project(
        &server,
        "guarded",
        "https://git.example.com/team/guarded.git",
    );
    // A push to `never` is the only thing that would build.
    let hook = create_webhook(
        &server,
        "guarded",
        &json!([[{"type": "EVENT", "pattern": "PUSH"}, {"type": "HEAD_REF", "pattern": "^refs/heads/never$"}]]),
    );
    let cases = [
        (Forge::GitHub, "push", fixture("github-push.json")),
        (Forge::GitLab, "Push Hook", fixture("gitlab-push.json")),
        (Forge::Gitea, "push", fixture("gitea-push.json")),
        // The same format, but not the same body: a body received twice is a duplicate.
        (Forge::Forgejo, "push", {
            let mut push = fixture("gitea-push.json");
            push["compare_url"] = "https://forgejo.example.com/compare".into();
            push
        }),
        (
            Forge::Bitbucket,
            "repo:push",
            fixture("bitbucket-push.json"),
        ),
    ];
    for (i, (forge, event, payload)) in cases.iter().enumerate() {
        let body = serde_json::to_vec(payload).unwrap();
        let delivery = format!("sig-{i}");
        let url = &hook.payload_url;
        let good = post_raw(
            url,
            &forge_headers(*forge, event, &delivery, Some(&hook.secret), &body),
            &body,
        );
        let good = outcome(&good, 200);
        assert_eq!(good["outcome"], "FILTERED", "{forge:?}: {good}");
        assert!(
            good["reason"]
                .as_str()
                .unwrap()
                .starts_with("no filter group matched"),
            "{forge:?}: {good}"
        );
        let bad = post_raw(
            url,
            &forge_headers(
                *forge,
                event,
                &format!("{delivery}-bad"),
                Some("wrong secret"),
                &body,
            ),
            &body,
        );
        assert_eq!(outcome(&bad, 401)["outcome"], "REFUSED", "{forge:?}");
        let unsigned = post_raw(
            url,
            &forge_headers(*forge, event, &format!("{delivery}-unsigned"), None, &body),
            &body,
        );
        assert_eq!(
            outcome(&unsigned, 401)["reason"],
            "the delivery is not signed",
            "{forge:?}"
        );
        // Signed, but the body was changed on the way. GitLab's token signs no body, so
        // only the HMAC forges can tell.
        let mut tampered = body.clone();
        tampered.extend_from_slice(b" ");
        let tampered_reply = post_raw(
            url,
            &forge_headers(
                *forge,
                event,
                &format!("{delivery}-t"),
                Some(&hook.secret),
                &body,
            ),
            &tampered,
        );
        let expected = if *forge == Forge::GitLab { 200 } else { 401 };
        assert_eq!(tampered_reply.status, expected, "{forge:?}");
        let unknown_token = post_raw(
            &hook.payload_url.replace("?t=", "?t=x"),
            &forge_headers(*forge, event, &delivery, Some(&hook.secret), &body),
            &body,
        );
        assert_eq!(unknown_token.status, 404, "{forge:?}");
    }

    // The forges' pings are answered, once genuine.
    let ping = serde_json::to_vec(&fixture("github-ping.json")).unwrap();
    let reply = post_raw(
        &hook.payload_url,
        &forge_headers(Forge::GitHub, "ping", "ping-1", Some(&hook.secret), &ping),
        &ping,
    );
    assert_eq!(outcome(&reply, 200)["outcome"], "FILTERED");
    let reply = post_raw(
        &hook.payload_url,
        &forge_headers(Forge::GitHub, "ping", "ping-2", None, &ping),
        &ping,
    );
    assert_eq!(reply.status, 401);
    // Something that is no forge at all, and a payload over the limit.
    let reply = http_post(
        &hook.payload_url,
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(reply.status, 401);
    let huge = vec![b' '; 5 * 1024 * 1024];
    let reply = post_raw(
        &hook.payload_url,
        &forge_headers(Forge::GitHub, "push", "huge", Some(&hook.secret), &huge),
        &huge,
    );
    assert_eq!(reply.status, 413);
    // Not a payload URL Kiln issued.
    let reply = http_post(&format!("{}/webhooks", server.url()), &[], b"{}");
    assert_eq!(reply.status, 404);

    assert!(build_ids(&server, "guarded").is_empty());
}

#[test]
fn pushes_tags_and_pull_requests_build_as_codebuild_builds_them() {
    let server = KilnServer::start();
    let repo = GitRepo::init(server.root().join("repo"));
    let base = repo.commit(&[("buildspec.yml", BUILDSPEC)], "buildspec");
    let pushed = repo.commit(&[("README.md", "hello\n")], "Update README.md");
    repo.git(&["tag", "-a", "v1.0.0", "-m", "release 1.0.0"]);
    let tag_object = repo.git(&["rev-parse", "v1.0.0"]);
    assert_ne!(tag_object, pushed);
    // The pull request's head fails its build: it must not turn any branch badge red.
    repo.git(&["checkout", "-q", "-b", "feature/parser"]);
    let failing = BUILDSPEC.replace(
        "version: 0.2\n",
        "version: 0.2\nenv:\n  variables:\n    FAIL: \"1\"\n",
    );
    let pr_head = repo.commit(&[("buildspec.yml", failing.as_str())], "Add the parser");
    repo.git(&["checkout", "-q", "main"]);

    create_project(&server, "app", &repo.location());
    let hook = create_webhook(
        &server,
        "app",
        &json!([
            [{"type": "EVENT", "pattern": "PUSH"}],
            [{"type": "EVENT", "pattern": "PULL_REQUEST_CREATED, PULL_REQUEST_UPDATED"},
             {"type": "BASE_REF", "pattern": "^refs/heads/main$"}]
        ]),
    );
    let project = get_project(&server, "app");
    assert_eq!(badge(&server, &project, "&branch=main"), "unknown");

    // A push to main, as GitHub sends it, at the real commit.
    let mut push = fixture("github-push.json");
    push["before"] = base.clone().into();
    push["after"] = pushed.clone().into();
    push["head_commit"]["id"] = pushed.clone().into();
    push["commits"][1]["id"] = pushed.clone().into();
    let delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    let reply = deliver(&hook, Forge::GitHub, "push", delivery, &hook.secret, &push);
    let answer = outcome(&reply, 200);
    assert_eq!(answer["outcome"], "BUILT", "{answer}");
    let build_id = answer["buildId"].as_str().unwrap().to_string();
    let build = wait_build_complete(&server, &build_id, BUILD_DEADLINE);
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{build}");
    assert_eq!(build["sourceVersion"], pushed.as_str());
    assert_eq!(build["resolvedSourceVersion"], pushed.as_str());
    assert_eq!(build["initiator"], format!("GitHub-Hookshot/{delivery}"));
    let log = build_log(&build);
    for line in [
        format!("SOURCE_VERSION={pushed}"),
        "EVENT=PUSH".to_string(),
        "TRIGGER=branch/main".to_string(),
        "HEAD_REF=refs/heads/main".to_string(),
        "BASE_REF=\n".to_string(),
        "ACTOR=21031067".to_string(),
        format!("PREV={base}"),
        format!("INITIATOR=GitHub-Hookshot/{delivery}"),
    ] {
        assert!(log.contains(&line), "{line:?} not in the log:\n{log}");
    }
    assert_eq!(badge(&server, &project, "&branch=main"), "passing");

    // The same delivery again (a redelivery) starts nothing.
    let reply = deliver(&hook, Forge::GitHub, "push", delivery, &hook.secret, &push);
    let answer = outcome(&reply, 200);
    assert_eq!(answer["outcome"], "FILTERED");
    assert!(
        answer["reason"].as_str().unwrap().starts_with("duplicate"),
        "{answer}"
    );
    assert_eq!(build_ids(&server, "app").len(), 1);

    // A tag push (annotated: `after` is the tag object) builds the tagged commit for the tag.
    let mut tag_push = fixture("github-push-tag.json");
    tag_push["after"] = tag_object.into();
    tag_push["head_commit"]["id"] = pushed.clone().into();
    let reply = deliver(
        &hook,
        Forge::GitHub,
        "push",
        "tag-delivery",
        &hook.secret,
        &tag_push,
    );
    let answer = outcome(&reply, 200);
    assert_eq!(answer["outcome"], "BUILT", "{answer}");
    let build = wait_build_complete(&server, answer["buildId"].as_str().unwrap(), BUILD_DEADLINE);
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{build}");
    let log = build_log(&build);
    assert!(log.contains("TRIGGER=tag/v1.0.0"), "{log}");
    assert!(log.contains(&format!("PREV={NULL_COMMIT}")), "{log}");
    assert_eq!(badge(&server, &project, "&tag=v1.0.0"), "passing");

    // A pull request builds its head as `pr/2` and moves no branch badge, though it fails.
    let mut pr = fixture("github-pull-request-opened.json");
    pr["pull_request"]["head"]["sha"] = pr_head.clone().into();
    let reply = deliver(
        &hook,
        Forge::GitHub,
        "pull_request",
        "pr-delivery",
        &hook.secret,
        &pr,
    );
    let answer = outcome(&reply, 200);
    assert_eq!(answer["outcome"], "BUILT", "{answer}");
    let build = wait_build_complete(&server, answer["buildId"].as_str().unwrap(), BUILD_DEADLINE);
    assert_eq!(build["buildStatus"], "FAILED", "{build}");
    assert_eq!(build["resolvedSourceVersion"], pr_head.as_str());
    let log = build_log(&build);
    for line in [
        "SOURCE_VERSION=pr/2",
        "EVENT=PULL_REQUEST_CREATED",
        "TRIGGER=pr/2",
        "HEAD_REF=refs/heads/feature/parser",
        "BASE_REF=refs/heads/main",
        "PREV=\n",
    ] {
        assert!(log.contains(line), "{line:?} not in the log:\n{log}");
    }
    assert_eq!(badge(&server, &project, "&branch=main"), "passing");
    assert_eq!(
        badge(&server, &project, "&branch=feature/parser"),
        "unknown"
    );

    // A pull request into another branch is filtered out by BASE_REF.
    let mut pr_to_dev = pr.clone();
    pr_to_dev["pull_request"]["base"]["ref"] = "dev".into();
    let reply = deliver(
        &hook,
        Forge::GitHub,
        "pull_request",
        "pr-dev",
        &hook.secret,
        &pr_to_dev,
    );
    assert_eq!(outcome(&reply, 200)["outcome"], "FILTERED");

    // Deleting a branch starts nothing.
    let reply = deliver(
        &hook,
        Forge::GitHub,
        "push",
        "delete-delivery",
        &hook.secret,
        &fixture("github-push-delete.json"),
    );
    let answer = outcome(&reply, 200);
    assert_eq!(answer["outcome"], "FILTERED");
    assert_eq!(answer["reason"], "the push deletes refs/heads/feature/old");
    assert_eq!(build_ids(&server, "app").len(), 3);

    // After a rotation the old secret is refused and the new one accepted.
    let rotated = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "update-webhook",
            "--project-name",
            "app",
            "--rotate-secret",
        ],
    );
    let new_secret = rotated.ok()["webhook"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let deletion = fixture("github-push-delete.json");
    let reply = deliver(
        &hook,
        Forge::GitHub,
        "push",
        "after-rotation-1",
        &hook.secret,
        &deletion,
    );
    assert_eq!(outcome(&reply, 401)["outcome"], "REFUSED");
    let reply = deliver(
        &hook,
        Forge::GitHub,
        "push",
        "after-rotation-2",
        &new_secret,
        &deletion,
    );
    assert_eq!(outcome(&reply, 200)["outcome"], "FILTERED");
    assert_eq!(build_ids(&server, "app").len(), 3);
}

#[test]
fn other_forges_start_builds_too() {
    let server = KilnServer::start();
    let repo = GitRepo::init(server.root().join("repo"));
    let base = repo.commit(&[("buildspec.yml", BUILDSPEC)], "buildspec");
    let pushed = repo.commit(&[("README.md", "hello\n")], "Update README.md");
    create_project(&server, "multi", &repo.location());
    let hook = create_webhook(&server, "multi", &Value::Null);

    let mut gitlab = fixture("gitlab-push.json");
    gitlab["before"] = base.clone().into();
    gitlab["after"] = pushed.clone().into();
    gitlab["checkout_sha"] = pushed.clone().into();
    let mut bitbucket = fixture("bitbucket-push.json");
    bitbucket["push"]["changes"][0]["new"]["target"]["hash"] = pushed.clone().into();
    bitbucket["push"]["changes"][0]["old"]["target"]["hash"] = base.clone().into();
    let mut gitea = fixture("gitea-push.json");
    gitea["before"] = base.clone().into();
    gitea["after"] = pushed.clone().into();
    gitea["head_commit"]["id"] = pushed.clone().into();
    for (forge, event, payload, initiator, actor) in [
        (
            Forge::GitLab,
            "Push Hook",
            gitlab,
            "GitLab-Webhook/gl-1",
            "4",
        ),
        (
            Forge::Bitbucket,
            "repo:push",
            bitbucket,
            "Bitbucket-Webhooks/bb-1",
            "557058:c0b72ad0-1cb5-4018-9cdc-0cde8492c443",
        ),
        (Forge::Forgejo, "push", gitea, "Forgejo-Webhook/fj-1", "1"),
    ] {
        let delivery = initiator.rsplit_once('/').unwrap().1;
        let reply = deliver(&hook, forge, event, delivery, &hook.secret, &payload);
        let answer = outcome(&reply, 200);
        assert_eq!(answer["outcome"], "BUILT", "{forge:?}: {answer}");
        let build =
            wait_build_complete(&server, answer["buildId"].as_str().unwrap(), BUILD_DEADLINE);
        assert_eq!(build["buildStatus"], "SUCCEEDED", "{forge:?}: {build}");
        assert_eq!(build["initiator"], initiator);
        let log = build_log(&build);
        assert!(log.contains(&format!("RESOLVED={pushed}")), "{log}");
        assert!(log.contains("TRIGGER=branch/main"), "{log}");
        assert!(log.contains(&format!("ACTOR={actor}\n")), "{log}");
        assert!(log.contains(&format!("PREV={base}")), "{log}");
    }
    let project = get_project(&server, "multi");
    assert_eq!(badge(&server, &project, "&branch=main"), "passing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_lists_recent_deliveries() {
    let server = KilnServer::start();
    let repo = GitRepo::init(server.root().join("repo"));
    let base = repo.commit(&[("buildspec.yml", BUILDSPEC)], "buildspec");
    let pushed = repo.commit(&[("README.md", "hello\n")], "Update README.md");
    create_project(&server, "watched", &repo.location());
    let hook = create_webhook(
        &server,
        "watched",
        &json!([[{"type": "EVENT", "pattern": "PUSH"}, {"type": "HEAD_REF", "pattern": "^refs/heads/main$"}]]),
    );

    // One delivery of each outcome: a ping (filtered out), a forged push (refused), a push (built).
    let ping = fixture("github-ping.json");
    let reply = deliver(&hook, Forge::GitHub, "ping", "d-ping", &hook.secret, &ping);
    assert_eq!(outcome(&reply, 200)["outcome"], "FILTERED");
    let mut push = fixture("github-push.json");
    push["before"] = base.into();
    push["after"] = pushed.clone().into();
    push["head_commit"]["id"] = pushed.into();
    let reply = deliver(&hook, Forge::GitHub, "push", "d-forged", "guess", &push);
    assert_eq!(outcome(&reply, 401)["outcome"], "REFUSED");
    let reply = deliver(&hook, Forge::GitHub, "push", "d-push", &hook.secret, &push);
    let build_id = outcome(&reply, 200)["buildId"]
        .as_str()
        .unwrap()
        .to_string();
    wait_build_complete(&server, &build_id, BUILD_DEADLINE);

    let browser = Browser::start(server.url()).await;
    browser.sign_in(&ACCOUNT_A).await;
    browser.goto("/projects/watched").await;
    assert_eq!(browser.value("#payload-url").await, hook.payload_url);
    let rows = browser
        .client
        .find_all(Locator::Css("#deliveries tbody tr"))
        .await
        .unwrap();
    let mut shown = Vec::new();
    for row in rows {
        shown.push(row.text().await.unwrap());
    }
    // Newest first, each with its forge, event, outcome and reason.
    assert_eq!(shown.len(), 3, "{shown:#?}");
    for (row, expected) in shown.iter().zip([
        ["GitHub", "PUSH", "Built", "started build 1"],
        ["GitHub", "push", "Refused", "signature"],
        ["GitHub", "ping", "Filtered out", "ping"],
    ]) {
        for text in expected {
            assert!(row.contains(text), "{text:?} not in the row {row:?}");
        }
    }
    let source = browser.client.source().await.unwrap();
    assert!(!source.contains(&hook.secret), "the page shows the secret");
    // The built delivery links to its build.
    browser.click("#deliveries tbody tr:first-child a").await;
    let uuid = build_id.split_once(':').unwrap().1;
    browser
        .wait_path(&format!("/projects/watched/builds/{uuid}"))
        .await;
}
