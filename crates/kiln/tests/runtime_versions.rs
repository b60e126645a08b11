//! INSTALL's `runtime-versions` end to end (issue 15): the real `kiln serve --executor docker`
//! driven by the `aws` CLI, building in an image made here whose `n` is a stub version manager
//! that records the version it was asked for. Kiln's default `[runtimes]` table selects
//! `nodejs: 18` with `n 18` at the start of INSTALL; an unknown runtime or version fails
//! INSTALL in CodeBuild's words.

// The helpers below are test code too: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::builds::{build_log, context, create_git_project, id_of, wait_build_complete};
use common::docker::{TestImage, docker_server_builder, engine_available};
use common::git::GitRepo;
use common::{ACCOUNT_A, KilnServer, aws};
use serde_json::{Value, json};

const BUILD_DEADLINE: Duration = Duration::from_secs(90);

/// Busybox with a stub `n` (the Node.js version manager of CodeBuild's standard images).
const RUNTIME_IMAGE: TestImage = TestImage {
    name: "kiln-test-runtimes:latest",
    host_programs: &[],
    scripts: &[(
        "/bin/n",
        "#!/bin/sh\necho \"$1\" > /tmp/kiln-node-version\necho \"n: node $1 selected\"\n",
    )],
};

fn docker_server() -> KilnServer {
    docker_server_builder(&RUNTIME_IMAGE).start()
}

/// Builds `runtimes` (the `runtime-versions` lines) then cats what `n` recorded; returns the
/// completed build.
fn build_with_runtimes(server: &KilnServer, name: &str, runtimes: &str) -> Value {
    let repo = GitRepo::init(server.root().join(format!("repo-{name}")));
    repo.commit(&[("README", "readme\n")], "init");
    let buildspec = format!(
        "version: 0.2\nenv:\n  shell: sh\nphases:\n  install:\n    runtime-versions:\n{runtimes}\
         \n  build:\n    commands:\n      - cat /tmp/kiln-node-version\n"
    );
    create_git_project(
        server,
        name,
        &repo.location(),
        json!({
            "source": {"type": "GITHUB", "location": repo.location(), "buildspec": buildspec},
            "sourceVersion": "main",
        }),
    );
    let started = aws(
        server,
        &ACCOUNT_A,
        &["codebuild", "start-build", "--project-name", name],
    )
    .ok()["build"]
        .clone();
    wait_build_complete(server, id_of(&started), BUILD_DEADLINE)
}

#[test]
fn nodejs_18_runs_n_18_at_the_start_of_install() {
    if !engine_available("nodejs_18_runs_n_18_at_the_start_of_install") {
        return;
    }
    let server = docker_server();
    let build = build_with_runtimes(&server, "node18", "      nodejs: 18");
    let log = build_log(&build);
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{log}");
    let lines: Vec<&str> = log.lines().collect();
    let position = |needle: &str| {
        lines
            .iter()
            .position(|line| line.ends_with(needle))
            .unwrap_or_else(|| panic!("no line ending {needle:?} in\n{log}"))
    };
    let install = position("Entering phase INSTALL");
    let selector = position("Running command n 18");
    let build_phase = position("Entering phase BUILD");
    assert!(install < selector && selector < build_phase, "{log}");
    assert!(lines.contains(&"n: node 18 selected"), "{log}");
    // A later command sees what the selector did.
    let recorded = position("Running command cat /tmp/kiln-node-version");
    assert_eq!(lines[recorded + 1], "18", "{log}");
}

#[test]
fn an_unknown_runtime_or_version_fails_install() {
    if !engine_available("an_unknown_runtime_or_version_fails_install") {
        return;
    }
    let server = docker_server();
    for (name, runtimes, message) in [
        ("cobol", "      cobol: 85", "Unknown runtime name: cobol"),
        (
            "node12",
            "      nodejs: 12",
            "Unknown runtime version named '12' of nodejs. This build image has the following \
             versions: 16, 16.x, 18, 18.x, 20, 20.x, 22, 22.x, latest",
        ),
    ] {
        let build = build_with_runtimes(&server, name, runtimes);
        assert_eq!(build["buildStatus"], "FAILED", "{name}");
        assert_eq!(
            context(&build, "INSTALL"),
            ("YAML_FILE_ERROR".to_owned(), message.to_owned()),
            "{name}"
        );
        let log = build_log(&build);
        assert!(log.contains(message), "{log}");
        assert!(!log.contains("Running command cat"), "{log}");
    }
}
