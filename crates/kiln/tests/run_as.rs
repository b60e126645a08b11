//! Buildspec `run-as` end to end: the real `kiln serve` driven by the `aws` CLI. Under Docker,
//! commands run as a user of the image (`kiln-test-run-as`, busybox with a `builder` user of
//! uid 1000), phase over top level; the local executor refuses `run-as`, which would otherwise
//! hand the build an account of the host.

// The helpers below are test code too: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::builds::{build_log, context, create_project, id_of, phase, wait_build_complete};
use common::docker::{TestImage, docker_server_builder, engine_available};
use common::git::GitRepo;
use common::{ACCOUNT_A, KilnServer, aws};
use serde_json::{Value, json};

/// Busybox with a passwd and group file naming `builder` (uid and gid 1000), as CodeBuild's
/// images name their users. (The files are written executable; for these that is harmless.)
const RUN_AS_IMAGE: TestImage = TestImage {
    name: "kiln-test-run-as:latest",
    host_programs: &[],
    scripts: &[
        (
            "/etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nbuilder:x:1000:1000:builder:/tmp:/bin/sh\n",
        ),
        ("/etc/group", "root:x:0:\nbuilder:x:1000:\n"),
    ],
};
/// How long any build of these tests may take to finish.
const BUILD_DEADLINE: Duration = Duration::from_secs(90);

fn docker_server() -> KilnServer {
    docker_server_builder(&RUN_AS_IMAGE).start()
}

/// Creates project `name` building `buildspec` (inline) from a fresh repository, its
/// artifacts zipped into the local store's `kiln-artifacts` bucket; returns the finished build.
fn build(server: &KilnServer, name: &str, buildspec: &str) -> Value {
    let repo = GitRepo::init(server.root().join(format!("repo-{name}")));
    repo.commit(&[("checked-out.txt", "from the repository\n")], "init");
    create_project(
        server,
        &json!({
            "name": name,
            "source": {"type": "GITHUB", "location": repo.location(), "buildspec": buildspec},
            "sourceVersion": "main",
            "artifacts": {"type": "S3", "location": "kiln-artifacts", "name": "app.zip",
                          "packaging": "ZIP", "namespaceType": "BUILD_ID"},
            "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                            "computeType": "BUILD_GENERAL1_SMALL"},
            "serviceRole": "arn:aws:iam::111122223333:role/service-role/kiln-build"
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

/// Runs `program args…` and returns its stdout; panics when it fails.
fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap();
    assert!(output.status.success(), "{program} {args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn phases_run_as_their_users_and_share_one_session() {
    if !engine_available("phases_run_as_their_users_and_share_one_session") {
        return;
    }
    let server = docker_server();
    let spec = r#"version: 0.2
run-as: builder
env:
  shell: sh
  exported-variables:
    - FROM_ROOT
phases:
  install:
    run-as: root
    commands:
      - echo "install uid=$(id -u)"
      - export FROM_ROOT=set-by-root
      - mkdir out && echo root-made > out/by-root.txt && cd out
  build:
    commands:
      - echo "build uid=$(id -u) user=$(id -un) sees=$FROM_ROOT in=$(basename "$PWD")"
      - echo made-by-builder > made.txt && echo changed >> by-root.txt
      - echo "checked-out=$(stat -c %U ../checked-out.txt)"
  post_build:
    run-as: root
    commands:
      - echo "post uid=$(id -u) made.txt=$(stat -c %u:%g made.txt)"
artifacts:
  files:
    - out/*.txt
"#;
    let build = build(&server, "switching", spec);
    let log = build_log(&build);
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{build:#}\n{log}");
    for line in [
        "\ninstall uid=0\n",
        // The top-level user, with what the root phase exported and the directory it left.
        "\nbuild uid=1000 user=builder sees=set-by-root in=out\n",
        // The checked-out files are the builder's to change.
        "\nchecked-out=builder\n",
        // The phase's own `run-as` wins over the top level; what builder made is its own.
        "\npost uid=0 made.txt=1000:1000\n",
    ] {
        assert!(log.contains(line), "{line:?} in\n{log}");
    }
    assert_eq!(
        build["exportedEnvironmentVariables"],
        json!([{"name": "FROM_ROOT", "value": "set-by-root"}])
    );

    // The artifacts are collected from what both users wrote.
    let key = build["artifacts"]["location"]
        .as_str()
        .unwrap()
        .strip_prefix("arn:aws:s3:::")
        .unwrap()
        .to_owned();
    let zip = server.data_dir().join("artifacts").join(key);
    let zip = zip.to_str().unwrap();
    let mut entries: Vec<String> = run("unzip", &["-Z1", zip])
        .lines()
        .map(str::to_string)
        .collect();
    entries.sort();
    assert_eq!(entries, ["out/by-root.txt", "out/made.txt"]);
    assert_eq!(
        run("unzip", &["-p", zip, "out/made.txt"]),
        "made-by-builder\n"
    );
    assert_eq!(
        run("unzip", &["-p", zip, "out/by-root.txt"]),
        "root-made\nchanged\n"
    );
}

#[test]
fn a_user_the_image_lacks_fails_its_phase_with_dockers_reason() {
    if !engine_available("a_user_the_image_lacks_fails_its_phase_with_dockers_reason") {
        return;
    }
    let server = docker_server();
    let spec = "version: 0.2\nenv:\n  shell: sh\nphases:\n  pre_build:\n    commands:\n      \
                - echo as-root\n  build:\n    run-as: nosuch\n    commands:\n      \
                - echo never-printed\n";
    let build = build(&server, "unknown-user", spec);
    let log = build_log(&build);
    assert_eq!(build["buildStatus"], "FAILED", "{build:#}\n{log}");
    assert_eq!(phase(&build, "PRE_BUILD")["phaseStatus"], "SUCCEEDED");
    assert_eq!(phase(&build, "BUILD")["phaseStatus"], "FAILED");
    let (code, message) = context(&build, "BUILD");
    assert_eq!(code, "COMMAND_EXECUTION_ERROR");
    assert_eq!(
        message,
        "cannot run commands as run-as user nosuch: unable to find user nosuch: no matching entries in passwd file"
    );
    assert!(log.contains(&message), "{log}");
    assert!(log.contains("\nas-root\n"), "{log}");
    assert!(!log.contains("\nnever-printed\n"), "{log}");
}

#[test]
fn the_local_executor_refuses_run_as() {
    let server = KilnServer::start();
    let spec = "version: 0.2\nphases:\n  install:\n    commands:\n      - echo \"as $(id -u)\"\n  \
                build:\n    run-as: root\n    commands:\n      - echo \"escalated to $(id -u)\"\n";
    let build = build(&server, "local-run-as", spec);
    let log = build_log(&build);
    assert_eq!(build["buildStatus"], "FAILED", "{build:#}\n{log}");
    assert_eq!(phase(&build, "INSTALL")["phaseStatus"], "SUCCEEDED");
    assert_eq!(phase(&build, "BUILD")["phaseStatus"], "FAILED");
    let (code, message) = context(&build, "BUILD");
    assert_eq!(code, "CLIENT_ERROR");
    assert_eq!(
        message,
        "run-as root: the local executor runs every command as the build's own user and never as another; run-as needs the Docker executor"
    );
    assert!(log.contains(&message), "{log}");
    assert!(log.contains("\nas "), "{log}");
    assert!(!log.contains("escalated to"), "{log}");
}
