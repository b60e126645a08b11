//! Report badges end to end: real builds of a real repository whose buildspec declares two test
//! report groups (JUnit: real pytest and cargo-nextest output) and a Cobertura coverage group
//! (real coverage.py output), and the public `/badges?…&report=tests|coverage` read over HTTP.
//!
//! Liveness as for the build badge: once a build's record says it is complete, the very next
//! badge request must show its reports.

// Test code: a panic is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use serde_json::{Value, json};

use common::builds::{create_git_project, id_of, wait_build_complete};
use common::git::GitRepo;
use common::{ACCOUNT_A, HttpReply, KilnServer, REGION, aws, http_get};

const BUILD_DEADLINE: Duration = Duration::from_secs(120);
/// pytest: 2 passed, 1 failed, 1 error, 1 skipped.
const PYTEST_JUNIT: &str = include_str!("../../kiln-reports/tests/fixtures/pytest-junit.xml");
/// cargo-nextest: 2 passed, 2 failed.
const NEXTEST_JUNIT: &str = include_str!("../../kiln-reports/tests/fixtures/nextest-junit.xml");
/// coverage.py: 21 of 30 lines (70 %).
const COVERAGE_PY: &str =
    include_str!("../../kiln-reports/tests/fixtures/coveragepy-cobertura.xml");
/// Three passing cases.
const ALL_PASS_JUNIT: &str = r#"<?xml version="1.0"?>
<testsuite name="s" tests="3"><testcase classname="c" name="a"/><testcase classname="c" name="b"/><testcase classname="c" name="c"/></testsuite>
"#;

const BUILDSPEC: &str = "version: 0.2
phases:
  build:
    commands:
      - echo the tests ran
reports:
  unit:
    files:
      - unit.xml
  integration:
    files:
      - integration.xml
  coverage:
    files:
      - coverage.xml
    file-format: COBERTURAXML
";

/// The `uuid` parameter of a `badgeRequestUrl` (tokens are URL-safe, so it is not encoded).
fn token_of(project: &Value) -> String {
    let url = project["badge"]["badgeRequestUrl"].as_str().unwrap();
    let query = url.split_once('?').unwrap().1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("uuid="))
        .unwrap()
        .to_string()
}

struct Badge {
    base: String,
    token: String,
}

impl Badge {
    fn get(&self, query: &str) -> HttpReply {
        http_get(
            &format!("{}/badges?uuid={}{query}", self.base, self.token),
            &[],
        )
    }

    /// "label: message" of the SVG badge.
    fn shown(&self, query: &str) -> String {
        shown(&self.get(query))
    }
}

/// The accessible name of an SVG badge reply ("tests: 4 passed, 4 failed, 1 skipped"), after
/// checking what every badge answer carries.
fn shown(reply: &HttpReply) -> String {
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("image/svg+xml;charset=utf-8")
    );
    assert_eq!(reply.header("cache-control"), Some("no-cache, max-age=0"));
    let rest = reply.body.split_once("aria-label=\"").unwrap().1;
    rest.split_once('"').unwrap().0.to_string()
}

fn build(server: &KilnServer, source_version: &str) -> Value {
    let started = aws(
        server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "start-build",
            "--project-name",
            "app",
            "--source-version",
            source_version,
        ],
    );
    let build = wait_build_complete(server, id_of(&started.ok()["build"]), BUILD_DEADLINE);
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{build:#}");
    assert_eq!(
        build["reportArns"].as_array().map(Vec::len),
        Some(3),
        "{build:#}"
    );
    build
}

#[test]
fn report_badges_show_the_latest_completed_builds_reports_per_branch_and_group() {
    let server = KilnServer::start();
    let repo = GitRepo::init(server.root().join("repo"));
    repo.commit(
        &[
            ("buildspec.yml", BUILDSPEC),
            ("unit.xml", PYTEST_JUNIT),
            ("integration.xml", NEXTEST_JUNIT),
            ("coverage.xml", COVERAGE_PY),
        ],
        "main",
    );
    repo.git(&["checkout", "-q", "-b", "dev"]);
    repo.commit(
        &[
            ("unit.xml", ALL_PASS_JUNIT),
            ("integration.xml", ALL_PASS_JUNIT),
        ],
        "dev passes",
    );
    repo.git(&["checkout", "-q", "main"]);
    let project = create_git_project(
        &server,
        "app",
        &repo.location(),
        json!({"sourceVersion": "main", "badgeEnabled": true}),
    );
    let badge = Badge {
        base: server.url().to_string(),
        token: token_of(&project),
    };
    let unknown_build_badge = http_get(&format!("{}/badges", server.url()), &[]).body;

    // No report yet; asked twice, so cached answers exist when the builds complete.
    for _ in 0..2 {
        for branch in ["", "&branch=main", "&branch=dev"] {
            assert_eq!(
                badge.shown(&format!("{branch}&report=tests")),
                "tests: unknown"
            );
            assert_eq!(
                badge.shown(&format!("{branch}&report=coverage")),
                "coverage: unknown"
            );
            assert_eq!(
                badge.shown(&format!("{branch}&report=tests&group=unit")),
                "tests: unknown"
            );
        }
    }

    build(&server, "main");
    // Both test groups summed: pytest's errors count as failures.
    let tests = badge.get("&branch=main&report=tests");
    assert_eq!(shown(&tests), "tests: 4 passed, 4 failed, 1 skipped");
    assert!(
        tests.body.contains("fill=\"#e05d44\""),
        "red: {}",
        tests.body
    );
    assert_eq!(
        badge.shown("&report=tests"),
        "tests: 4 passed, 4 failed, 1 skipped",
        "the default branch"
    );
    assert_eq!(badge.shown("&branch=main&report=coverage"), "coverage: 70%");
    // One group, by the buildspec's name or the group's ARN.
    assert_eq!(
        badge.shown("&branch=main&report=tests&group=unit"),
        "tests: 2 passed, 2 failed, 1 skipped"
    );
    assert_eq!(
        badge.shown("&branch=main&report=tests&group=integration"),
        "tests: 2 passed, 2 failed"
    );
    let unit_arn = format!(
        "arn:aws:codebuild:{REGION}:{}:report-group/app-unit",
        ACCOUNT_A.account_id
    );
    assert_eq!(
        badge.shown(&format!("&branch=main&report=tests&group={unit_arn}")),
        "tests: 2 passed, 2 failed, 1 skipped"
    );
    for not_a_group in ["app-unit", "coverage", "nope", "a%20b"] {
        assert_eq!(
            badge.shown(&format!("&branch=main&report=tests&group={not_a_group}")),
            "tests: unknown",
            "{not_a_group}"
        );
    }
    assert_eq!(
        badge.shown("&branch=main&report=coverage&group=coverage"),
        "coverage: 70%"
    );
    // dev has not been built yet.
    assert_eq!(badge.shown("&branch=dev&report=tests"), "tests: unknown");

    build(&server, "dev");
    let dev = badge.get("&branch=dev&report=tests");
    assert_eq!(shown(&dev), "tests: 6 passed");
    assert!(
        dev.body.contains("fill=\"#4c1\""),
        "bright green: {}",
        dev.body
    );
    assert_eq!(
        badge.shown("&branch=dev&report=tests&group=unit"),
        "tests: 3 passed"
    );
    assert_eq!(badge.shown("&branch=dev&report=coverage"), "coverage: 70%");
    assert_eq!(
        badge.shown("&branch=main&report=tests"),
        "tests: 4 passed, 4 failed, 1 skipped",
        "main is unchanged"
    );

    // The look: JSON for shields' endpoint badge, labels, styles.
    let json_reply = badge.get("&branch=main&report=tests&format=json");
    assert_eq!(json_reply.status, 200);
    assert_eq!(json_reply.header("content-type"), Some("application/json"));
    assert_eq!(
        json_reply.json(),
        json!({"schemaVersion": 1, "label": "tests",
               "message": "4 passed, 4 failed, 1 skipped", "color": "red"})
    );
    assert_eq!(
        badge.get("&branch=main&report=coverage&format=json").json(),
        json!({"schemaVersion": 1, "label": "coverage", "message": "70%", "color": "yellow"})
    );
    assert_eq!(
        badge.shown("&branch=main&report=coverage&label=lines"),
        "lines: 70%"
    );
    for style in ["flat-square", "plastic", "for-the-badge", "social"] {
        let styled = badge.get(&format!("&branch=main&report=coverage&style={style}"));
        assert_eq!(styled.status, 200);
        assert!(styled.body.starts_with("<svg "), "{style}");
    }

    // Entity tags: the same image is not sent twice.
    let etag = tests.header("etag").unwrap().to_string();
    let again = http_get(
        &format!(
            "{}/badges?uuid={}&branch=main&report=tests",
            badge.base, badge.token
        ),
        &[("If-None-Match", &etag)],
    );
    assert_eq!(again.status, 304);
    assert_eq!(again.body, "");
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    assert_eq!(again.header("cache-control"), Some("no-cache, max-age=0"));
    assert_ne!(dev.header("etag"), Some(etag.as_str()));

    // What names no report badge.
    assert_eq!(badge.get("&report=junit").body, unknown_build_badge);
    assert_eq!(
        badge.get("&report=tests&report=coverage").body,
        unknown_build_badge
    );
    assert_eq!(
        badge.shown("&report=tests&group=unit&group=integration"),
        "tests: unknown"
    );
    assert_eq!(
        shown(&http_get(
            &format!("{}/badges?uuid=nosuchtoken&report=coverage", server.url()),
            &[]
        )),
        "coverage: unknown"
    );
    // The build badge is as it was.
    assert_eq!(badge.shown("&branch=main"), "build: passing");

    // Badges turned off: unknown.
    aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "update-project",
            "--name",
            "app",
            "--no-badge-enabled",
        ],
    )
    .ok();
    assert_eq!(badge.shown("&branch=main&report=tests"), "tests: unknown");
}
