//! `/metrics` as an operator scrapes it (docs/metrics.md): the real `kiln` binary with
//! `--metrics-listen`, a real build started with the `aws` CLI, badges and a webhook delivery,
//! then the Prometheus text read over HTTP as Prometheus reads it.

// Test code: a panic is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use serde_json::json;

use common::builds::{create_git_project, id_of, wait_build_complete};
use common::git::GitRepo;
use common::{ACCOUNT_A, KilnServer, aws, http_get, http_post, wait_until};

/// The metrics URL the server printed.
fn metrics_url(server: &KilnServer) -> String {
    let mut url = None;
    wait_until(Duration::from_secs(10), "the metrics address", || {
        url = server
            .stdout_lines()
            .iter()
            .find_map(|line| line.strip_prefix("metrics on ").map(str::to_owned));
        url.is_some()
    });
    url.unwrap()
}

/// The value of the sample `name` (with its labels, as the text has them).
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn metrics_count_builds_queue_badges_api_calls_and_webhooks() {
    let server = KilnServer::builder()
        .args(["--metrics-listen", "127.0.0.1:0"])
        .start();
    let url = metrics_url(&server);
    // Only on the listener the operator chose, not on the public port.
    assert_eq!(
        http_get(&format!("{}/metrics", server.url()), &[]).status,
        404
    );

    let repo = GitRepo::init(server.root().join("repo"));
    repo.commit(
        &[(
            "buildspec.yml",
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi\n",
        )],
        "buildspec",
    );
    let project = create_git_project(
        &server,
        "metered",
        &repo.location(),
        json!({"sourceVersion": "main", "badgeEnabled": true}),
    );
    let started = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "start-build", "--project-name", "metered"],
    );
    let build = started.ok()["build"].clone();
    let done = wait_build_complete(&server, id_of(&build), Duration::from_secs(60));
    assert_eq!(done["buildStatus"], "SUCCEEDED", "{done:#}");

    let badge = project["badge"]["badgeRequestUrl"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(http_get(badge, &[]).status, 200);
    }
    http_get(&format!("{}/badges?uuid=a&uuid=b", server.url()), &[]);
    let hook = http_post(&format!("{}/webhooks?t=nope&v=1", server.url()), &[], b"{}");
    assert_eq!(hook.status, 404);

    let reply = http_get(&url, &[]);
    assert_eq!(reply.status, 200);
    assert!(
        reply.headers["content-type"].starts_with("application/openmetrics-text"),
        "{:?}",
        reply.headers
    );
    let text = reply.body;
    assert_eq!(
        sample(&text, "kiln_builds_ended_total{status=\"SUCCEEDED\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "kiln_build_phase_duration_seconds_count{phase=\"BUILD\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "kiln_build_phase_duration_seconds_count{phase=\"QUEUED\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(sample(&text, "kiln_builds_queued"), Some(0.0), "{text}");
    assert_eq!(sample(&text, "kiln_builds_running"), Some(0.0), "{text}");
    assert_eq!(
        sample(&text, "kiln_queue_oldest_wait_seconds"),
        Some(0.0),
        "{text}"
    );
    let cached = sample(&text, "kiln_badge_requests_total{outcome=\"cached\"}").unwrap();
    let read = sample(&text, "kiln_badge_requests_total{outcome=\"read\"}").unwrap();
    assert_eq!(cached + read, 3.0, "{text}");
    assert!(
        cached >= 1.0,
        "the repeated badge came from the cache: {text}"
    );
    assert_eq!(
        sample(&text, "kiln_badge_requests_total{outcome=\"unknown\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "kiln_api_request_duration_seconds_count{service=\"codebuild\",operation=\"StartBuild\",outcome=\"ok\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "kiln_webhook_deliveries_total{outcome=\"REFUSED\"}"),
        Some(1.0),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[test]
fn the_queue_gauges_show_a_waiting_build_and_a_deleted_project_ends_it() {
    // No build runs: every build waits in the queue.
    let server = KilnServer::builder()
        .args(["--metrics-listen", "127.0.0.1:0", "--no-local-builds"])
        .start();
    let url = metrics_url(&server);
    let repo = GitRepo::init(server.root().join("repo"));
    repo.commit(&[("buildspec.yml", "version: 0.2\nphases: {}\n")], "empty");
    create_git_project(&server, "waiting", &repo.location(), json!({}));
    for _ in 0..2 {
        aws(
            &server,
            &ACCOUNT_A,
            &["codebuild", "start-build", "--project-name", "waiting"],
        )
        .ok();
    }
    let mut text = String::new();
    wait_until(Duration::from_secs(10), "a second of waiting", || {
        text = http_get(&url, &[]).body;
        sample(&text, "kiln_queue_oldest_wait_seconds").is_some_and(|s| s >= 1.0)
    });
    assert_eq!(sample(&text, "kiln_builds_queued"), Some(2.0), "{text}");
    assert_eq!(sample(&text, "kiln_builds_running"), Some(0.0), "{text}");

    // Deleting the project ends its queued builds, and they count as ended.
    aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "delete-project", "--name", "waiting"],
    )
    .ok();
    let text = http_get(&url, &[]).body;
    assert_eq!(sample(&text, "kiln_builds_queued"), Some(0.0), "{text}");
    assert_eq!(
        sample(&text, "kiln_builds_ended_total{status=\"STOPPED\"}"),
        Some(2.0),
        "{text}"
    );
}
