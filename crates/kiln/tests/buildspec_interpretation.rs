//! Real buildspecs and settings Kiln reads leniently (issue 15): the real `kiln serve` driven by
//! the `aws` CLI. A buildspec that strays from the documented syntax runs, with a warning for
//! each thing Kiln interpreted at the top of the build's log; settings Kiln does not apply are
//! echoed, warned about in every build's log and noted in the console; a batch-only buildspec
//! fails saying batch builds are not supported.

// The helpers below are test code too: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::builds::{build_log, context, create_git_project, id_of, uuid_of, wait_build_complete};
use common::console_http::http_sign_in;
use common::git::GitRepo;
use common::{ACCOUNT_A, KilnServer, aws, http_get};
use serde_json::{Value, json};

const BUILD_DEADLINE: Duration = Duration::from_secs(60);

/// A buildspec CodeBuild runs although it breaks the documented syntax: a null `commands`, a
/// key in another case, an unknown key.
const STRAYING_BUILDSPEC: &str = "version: 0.2
phases:
  install:
    commands:
  build:
    Commands:
      - echo built-ok
    timeout-in-minutes: 5
";

fn server() -> KilnServer {
    KilnServer::builder().args(["--executor", "local"]).start()
}

/// A project building a fresh local repository with `buildspec` (inline) and `extra` members.
fn project(server: &KilnServer, name: &str, buildspec: &str, extra: Value) -> Value {
    let repo = GitRepo::init(server.root().join(format!("repo-{name}")));
    repo.commit(&[("README", "readme\n")], "init");
    let mut extra = extra;
    extra["source"] =
        json!({"type": "GITHUB", "location": repo.location(), "buildspec": buildspec});
    extra["sourceVersion"] = json!("main");
    create_git_project(server, name, &repo.location(), extra)
}

fn start_build(server: &KilnServer, name: &str, args: &[&str]) -> Value {
    let mut all = vec!["codebuild", "start-build", "--project-name", name];
    all.extend_from_slice(args);
    aws(server, &ACCOUNT_A, &all).ok()["build"].clone()
}

/// The index of the first log line containing `needle`; panics without one.
fn line_of(lines: &[&str], needle: &str, log: &str) -> usize {
    lines
        .iter()
        .position(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in\n{log}"))
}

#[test]
fn a_straying_buildspec_and_unapplied_settings_succeed_with_warnings_first() {
    let server = server();
    let vpc = json!({"vpcId": "vpc-0abc", "subnets": ["subnet-1"], "securityGroupIds": ["sg-1"]});
    let created = project(
        &server,
        "lenient",
        STRAYING_BUILDSPEC,
        json!({"vpcConfig": vpc}),
    );
    assert_eq!(created["vpcConfig"], vpc);
    let projects = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "batch-get-projects", "--names", "lenient"],
    );
    assert_eq!(projects.ok()["projects"][0]["vpcConfig"], vpc);

    let started = start_build(&server, "lenient", &["--debug-session-enabled"]);
    let build = wait_build_complete(&server, id_of(&started), BUILD_DEADLINE);
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{build:#}");
    assert_eq!(build["vpcConfig"], vpc);
    assert_eq!(build["debugSession"]["sessionEnabled"], true);

    let log = build_log(&build);
    let lines: Vec<&str> = log.lines().collect();
    let first_command = line_of(&lines, "Running command", &log);
    for warning in [
        "Warning: vpcConfig is set on this project; Kiln runs builds on its own hosts and ignores it",
        "Warning: debugSessionEnabled is set on this build; Kiln has no Session Manager debug sessions and ignores it",
        "Warning: buildspec line 4, column 5: `phases.install.commands` has no value: the phase runs no commands",
        "Warning: buildspec line 6, column 5: key `Commands` is read as `commands`",
        "Warning: buildspec line 8, column 5: unknown key `timeout-in-minutes` is ignored",
    ] {
        let at = line_of(&lines, warning, &log);
        assert!(
            at < first_command,
            "{warning:?} after the first command in\n{log}"
        );
        assert!(lines[at].starts_with("[Container] "), "{}", lines[at]);
    }
    assert!(lines.contains(&"built-ok"), "{log}");

    // The console says the same on the project's and the build's pages.
    let cookie = http_sign_in(&server, &ACCOUNT_A);
    let headers = [("cookie", cookie.as_str())];
    let project_page = http_get(&format!("{}/projects/lenient", server.url()), &headers);
    assert_eq!(project_page.status, 200);
    assert!(
        project_page
            .body
            .contains("vpcConfig is set on this project; Kiln runs builds on its own hosts"),
        "{}",
        project_page.body
    );
    assert!(project_page.body.contains("kiln:"));
    let build_page = http_get(
        &format!(
            "{}/projects/lenient/builds/{}",
            server.url(),
            uuid_of(&build)
        ),
        &headers,
    );
    assert_eq!(build_page.status, 200);
    for note in [
        "vpcConfig is set on this project",
        "debugSessionEnabled is set on this build",
    ] {
        assert!(
            build_page.body.contains(note),
            "{note}: {}",
            build_page.body
        );
    }
}

#[test]
fn a_batch_only_buildspec_fails_saying_batch_builds_are_not_supported() {
    let server = server();
    project(
        &server,
        "batch-only",
        "version: 0.2\nbatch:\n  build-list:\n    - identifier: linux\n",
        json!({}),
    );
    let started = start_build(&server, "batch-only", &[]);
    let build = wait_build_complete(&server, id_of(&started), BUILD_DEADLINE);
    assert_eq!(build["buildStatus"], "FAILED");
    assert_eq!(
        context(&build, "DOWNLOAD_SOURCE"),
        (
            "YAML_FILE_ERROR".to_owned(),
            "batch builds are not supported by Kiln yet: this buildspec has `batch` and no \
             `phases` at line 2, column 1"
                .to_owned()
        )
    );
    let log = build_log(&build);
    assert!(
        log.contains("batch builds are not supported by Kiln yet"),
        "{log}"
    );
}
