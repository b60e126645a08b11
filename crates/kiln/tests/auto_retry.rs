//! Automatic retries as a user meets them (`autoRetryLimit`, docs/queue.md): the real `kiln`
//! binary building real git repositories, driven by the real `aws` CLI. A build that fails or
//! times out is retried up to the limit, each build of the chain pointing at the next and the
//! previous in `autoRetryConfig`; a passing build, and a build started with
//! `--auto-retry-limit-override 0`, are not retried.

// Test code: a panic is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use serde_json::{Value, json};

use common::builds::{build_ids, create_git_project, id_of, wait_builds_where};
use common::git::GitRepo;
use common::{ACCOUNT_A, KilnServer, REGION, aws, wait_until};

/// How long a chain of builds may take to finish.
const CHAIN_DEADLINE: Duration = Duration::from_secs(120);

const FAILING: &str = "version: 0.2
phases:
  build:
    commands:
      - echo this build fails
      - exit 1
";

const PASSING: &str = "version: 0.2
phases:
  build:
    commands:
      - echo this build passes
";

/// Outlasts any timeout these tests set (a 'minute' is a second here).
const SLOW: &str = "version: 0.2
phases:
  build:
    commands:
      - sleep 120
";

fn cli(server: &KilnServer, args: &[&str]) -> Value {
    let mut all = vec!["codebuild"];
    all.extend_from_slice(args);
    aws(server, &ACCOUNT_A, &all).ok().clone()
}

/// A server whose 'minute' lasts a second, and a repository on branch main with one buildspec
/// file per behaviour.
fn server_and_repo() -> (KilnServer, GitRepo) {
    let server = KilnServer::builder()
        .args(["--minute-seconds", "1"])
        .start();
    let repo = GitRepo::init(server.root().join("repo"));
    repo.commit(
        &[
            ("failing.yml", FAILING),
            ("passing.yml", PASSING),
            ("slow.yml", SLOW),
        ],
        "buildspecs",
    );
    (server, repo)
}

/// A project building `buildspec` of the repository's main branch, with `extra` settings.
fn project(server: &KilnServer, repo: &GitRepo, name: &str, buildspec: &str, extra: Value) {
    let mut settings = json!({
        "source": {"type": "GITHUB", "location": repo.location(), "buildspec": buildspec},
        "sourceVersion": "main",
        "timeoutInMinutes": 60,
    });
    if let (Some(settings), Value::Object(extra)) = (settings.as_object_mut(), extra) {
        settings.extend(extra);
    }
    create_git_project(server, name, &repo.location(), settings);
}

/// Waits until the project has `count` builds and all of them are complete; returns them as
/// `aws codebuild batch-get-builds` shows them, oldest first.
fn wait_chain(server: &KilnServer, name: &str, count: usize) -> Vec<Value> {
    wait_until(CHAIN_DEADLINE, &format!("{count} builds of {name}"), || {
        build_ids(server, name).len() >= count
    });
    let mut ids = build_ids(server, name);
    ids.reverse();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    wait_builds_where(server, &ids, r#"b["buildComplete"]"#, CHAIN_DEADLINE);
    let mut args = vec!["batch-get-builds", "--ids"];
    args.extend(&ids);
    let got = cli(server, &args);
    serde_json::from_value(got["builds"].clone()).unwrap()
}

fn arn(build: &Value) -> &str {
    build["arn"].as_str().unwrap()
}

#[test]
fn failures_are_retried_up_to_the_limit_and_nothing_else_is() {
    let (server, repo) = server_and_repo();
    project(
        &server,
        &repo,
        "flaky",
        "failing.yml",
        json!({"autoRetryLimit": 2}),
    );
    project(
        &server,
        &repo,
        "fine",
        "passing.yml",
        json!({"autoRetryLimit": 2}),
    );
    let started = cli(&server, &["start-build", "--project-name", "flaky"]);
    assert_eq!(
        started["build"]["autoRetryConfig"],
        json!({"autoRetryLimit": 2, "autoRetryNumber": 0}),
        "{started:#}"
    );

    // A failing build, then its two retries: three builds, chained.
    let chain = wait_chain(&server, "flaky", 3);
    assert_eq!(chain[0]["id"], started["build"]["id"]);
    for (n, build) in chain.iter().enumerate() {
        assert_eq!(build["buildStatus"], "FAILED", "{build:#}");
        assert_eq!(build["buildNumber"], n + 1);
        assert_eq!(build["sourceVersion"], "main");
        assert_eq!(
            build["resolvedSourceVersion"], chain[0]["resolvedSourceVersion"],
            "the same commit"
        );
        assert_eq!(build["timeoutInMinutes"], 60);
        assert_eq!(build["initiator"], chain[0]["initiator"]);
    }
    assert_eq!(
        chain[0]["autoRetryConfig"],
        json!({"autoRetryLimit": 2, "autoRetryNumber": 0, "nextAutoRetry": arn(&chain[1])})
    );
    assert_eq!(
        chain[1]["autoRetryConfig"],
        json!({"autoRetryLimit": 2, "autoRetryNumber": 1,
               "previousAutoRetry": arn(&chain[0]), "nextAutoRetry": arn(&chain[2])})
    );
    assert_eq!(
        chain[2]["autoRetryConfig"],
        json!({"autoRetryLimit": 2, "autoRetryNumber": 2, "previousAutoRetry": arn(&chain[1])})
    );
    assert!(
        arn(&chain[1]).starts_with(&format!(
            "arn:aws:codebuild:{REGION}:{}:build/flaky:",
            ACCOUNT_A.account_id
        )),
        "{}",
        arn(&chain[1])
    );

    // A passing build is not retried.
    let passed = cli(&server, &["start-build", "--project-name", "fine"]);
    let fine = wait_chain(&server, "fine", 1);
    assert_eq!(fine[0]["id"], passed["build"]["id"]);
    assert_eq!(fine[0]["buildStatus"], "SUCCEEDED");
    assert_eq!(
        fine[0]["autoRetryConfig"],
        json!({"autoRetryLimit": 2, "autoRetryNumber": 0})
    );

    // Nor is a failing build started without retries.
    let once = cli(
        &server,
        &[
            "start-build",
            "--project-name",
            "flaky",
            "--auto-retry-limit-override",
            "0",
        ],
    );
    assert!(once["build"].get("autoRetryConfig").is_none(), "{once:#}");
    let chain = wait_chain(&server, "flaky", 4);
    assert_eq!(chain[3]["id"], once["build"]["id"]);
    assert_eq!(chain[3]["buildStatus"], "FAILED");

    // A retry is queued as its build's final state is saved; one more build's time later,
    // still none has appeared.
    let marker = cli(&server, &["start-build", "--project-name", "fine"]);
    wait_chain(&server, "fine", 2);
    assert_eq!(build_ids(&server, "flaky").len(), 4);
    assert_eq!(build_ids(&server, "fine").len(), 2, "{marker:#}");
}

#[test]
fn a_timed_out_build_is_retried() {
    let (server, repo) = server_and_repo();
    // Five 'minutes' of a second each.
    project(
        &server,
        &repo,
        "slow",
        "slow.yml",
        json!({"autoRetryLimit": 1, "timeoutInMinutes": 5}),
    );
    let started = cli(&server, &["start-build", "--project-name", "slow"]);
    let chain = wait_chain(&server, "slow", 2);
    assert_eq!(chain[0]["id"], started["build"]["id"]);
    for build in &chain {
        assert_eq!(build["buildStatus"], "TIMED_OUT", "{build:#}");
    }
    assert_eq!(chain[0]["autoRetryConfig"]["nextAutoRetry"], arn(&chain[1]));
    assert_eq!(
        chain[1]["autoRetryConfig"],
        json!({"autoRetryLimit": 1, "autoRetryNumber": 1, "previousAutoRetry": arn(&chain[0])})
    );
    assert_eq!(id_of(&chain[1]).split_once(':').unwrap().0, "slow");
}
