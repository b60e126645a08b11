//! The Docker executor end to end (issue 6, "Done when"): the real `kiln serve --executor docker`
//! driven by the `aws` CLI and boto3, building local git repositories in containers of
//! `kiln-test-busybox:latest`, an image made here (the engine cannot pull). The builds suite
//! (`tests/builds.rs`) runs under this executor too; these are the Docker-specific cases.

// The helpers below are test code too: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::builds::{
    build_log, context, create_project, id_of, phase, uuid_of, wait_build_complete,
    wait_builds_where,
};
use common::docker::{
    BUSYBOX_IMAGE, IMAGE_MARKER_TEXT, containers_of, docker_server_builder, engine_available,
    wait_no_container,
};
use common::git::GitRepo;
use common::{ACCOUNT_A, KilnServer, aws, http_get};
use serde_json::{Value, json};

const ROLE: &str = "arn:aws:iam::111122223333:role/service-role/kiln-build";
const TEST_IMAGE: &str = BUSYBOX_IMAGE.name;
/// How long any build of these tests may take to finish.
const BUILD_DEADLINE: Duration = Duration::from_secs(90);

/// `kiln serve --executor docker ARGS…` with its own instance label, and the test image made.
fn docker_server(args: &[&str]) -> KilnServer {
    docker_server_builder(&BUSYBOX_IMAGE)
        .args(args.iter().copied())
        .start()
}

/// A `CreateProject` input building `buildspec` (inline) from a fresh local repository in `image`.
fn project(server: &KilnServer, name: &str, image: &str, buildspec: &str) -> Value {
    let repo = GitRepo::init(server.root().join(format!("repo-{name}")));
    repo.commit(&[("only-in-the-repo.txt", "from the repository\n")], "init");
    json!({
        "name": name,
        "source": {"type": "GITHUB", "location": repo.location(), "buildspec": buildspec},
        "sourceVersion": "main",
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": {
            "type": "LINUX_CONTAINER",
            "image": image,
            "computeType": "BUILD_GENERAL1_SMALL"
        },
        "serviceRole": ROLE
    })
}

/// `aws codebuild start-build --project-name NAME`; returns the `build`.
fn start_build(server: &KilnServer, name: &str) -> Value {
    aws(
        server,
        &ACCOUNT_A,
        &["codebuild", "start-build", "--project-name", name],
    )
    .ok()["build"]
        .clone()
}

/// A buildspec for the busybox image (which has no bash) running `commands` in the build phase.
fn buildspec(commands: &[&str]) -> String {
    let mut text =
        String::from("version: 0.2\nenv:\n  shell: sh\nphases:\n  build:\n    commands:\n");
    for command in commands {
        text.push_str(&format!(
            "      - {}\n",
            serde_json::to_string(command).unwrap()
        ));
    }
    text
}

/// A project whose build runs `sleep 1000`; returns the started build once its container is up.
fn start_sleeping_build(server: &KilnServer, name: &str, extra: Value) -> Value {
    let mut input = project(server, name, TEST_IMAGE, &buildspec(&["sleep 1000"]));
    if let (Value::Object(input), Value::Object(extra)) = (&mut input, extra) {
        input.extend(extra);
    }
    create_project(server, &input);
    let started = start_build(server, name);
    let running = wait_builds_where(
        server,
        &[id_of(&started)],
        r#"b["currentPhase"] == "BUILD""#,
        BUILD_DEADLINE,
    )
    .remove(0);
    assert_eq!(
        containers_of(uuid_of(&running)).len(),
        1,
        "one labelled container while the build runs"
    );
    running
}

#[test]
fn a_build_runs_in_the_image_with_its_tools_and_the_usual_phases_and_log() {
    if !engine_available("a_build_runs_in_the_image_with_its_tools_and_the_usual_phases_and_log") {
        return;
    }
    let server = docker_server(&[]);
    let spec = r#"version: 0.2
env:
  shell: sh
phases:
  install:
    commands:
      - echo installing
  pre_build:
    commands:
      - mkdir -p made-here && cd made-here
  build:
    commands:
      - cat /etc/kiln-test-image
      - echo "sh=$(readlink /bin/sh)"
      - cat ../only-in-the-repo.txt
      - echo "number=$CODEBUILD_BUILD_NUMBER id=$CODEBUILD_BUILD_ID"
  post_build:
    commands:
      - echo "src=$CODEBUILD_SRC_DIR pwd=$(pwd)"
"#;
    create_project(&server, &project(&server, "inside", TEST_IMAGE, spec));
    let started = start_build(&server, "inside");
    let id = id_of(&started).to_string();
    let build = wait_build_complete(&server, &id, BUILD_DEADLINE);
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{build:#}");
    assert_eq!(build["currentPhase"], "COMPLETED");
    let phases: Vec<&str> = build["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phaseType"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        [
            "SUBMITTED",
            "QUEUED",
            "PROVISIONING",
            "DOWNLOAD_SOURCE",
            "INSTALL",
            "PRE_BUILD",
            "BUILD",
            "POST_BUILD",
            "UPLOAD_ARTIFACTS",
            "FINALIZING",
            "COMPLETED"
        ]
    );
    for p in build["phases"].as_array().unwrap() {
        if p["phaseType"] != "COMPLETED" {
            assert_eq!(p["phaseStatus"], "SUCCEEDED", "{p}");
        }
    }

    let log = build_log(&build);
    assert!(
        log.contains("docker executor: image kiln-test-busybox:latest"),
        "the log names the executor and image:\n{log}"
    );
    // The image's own files and busybox shell, not the host's (whose /bin/sh is dash).
    assert!(log.contains(IMAGE_MARKER_TEXT), "{log}");
    assert!(log.contains("\nsh=busybox\n"), "{log}");
    assert!(!std::path::Path::new("/etc/kiln-test-image").exists());
    // The checked-out source is mounted at CODEBUILD_SRC_DIR, and `cd` carries across phases.
    assert!(log.contains("\nfrom the repository\n"), "{log}");
    assert!(log.contains(&format!("number=1 id={id}\n")), "{log}");
    assert!(log.contains("installing\n"), "{log}");
    let (src, pwd) = log
        .lines()
        .find_map(|l| l.strip_prefix("src="))
        .and_then(|rest| rest.split_once(" pwd="))
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(pwd, format!("{src}/made-here"));
    assert!(
        log.lines().any(|l| l.starts_with("[Container] ")
            && l.contains(" Running command cat /etc/kiln-test-image")),
        "{log}"
    );
    assert!(
        log.contains("Phase complete: BUILD State: SUCCEEDED"),
        "{log}"
    );
    wait_no_container(uuid_of(&build));
}

#[test]
fn a_missing_image_fails_provisioning_with_a_client_error_and_a_failing_badge() {
    if !engine_available(
        "a_missing_image_fails_provisioning_with_a_client_error_and_a_failing_badge",
    ) {
        return;
    }
    let server = docker_server(&[]);
    let mut input = project(
        &server,
        "missing-image",
        "no-such-image:1",
        &buildspec(&["echo never"]),
    );
    input["badgeEnabled"] = true.into();
    let created = create_project(&server, &input);
    let started = start_build(&server, "missing-image");
    let build = wait_build_complete(&server, id_of(&started), BUILD_DEADLINE);
    assert_eq!(build["buildStatus"], "FAILED", "{build:#}");
    assert_eq!(phase(&build, "PROVISIONING")["phaseStatus"], "FAILED");
    let (code, message) = context(&build, "PROVISIONING");
    assert_eq!(code, "CLIENT_ERROR", "{build:#}");
    assert!(message.contains("no-such-image:1"), "{message}");
    assert!(
        build["phases"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["phaseType"] != "BUILD"),
        "{build:#}"
    );
    assert!(!build_log(&build).contains("never\n"));

    let badge_url = created["badge"]["badgeRequestUrl"].as_str().unwrap();
    let badge = http_get(badge_url, &[]);
    assert_eq!(badge.status, 200, "{}", badge.body);
    assert!(
        badge.body.contains(r#"aria-label="build: failing""#),
        "{}",
        badge.body
    );
}

#[test]
fn compute_type_limits_are_visible_inside_the_container() {
    if !engine_available("compute_type_limits_are_visible_inside_the_container") {
        return;
    }
    let server = docker_server(&[]);
    let spec = buildspec(&[
        "echo \"memory=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cut -d' ' -f1 /sys/fs/cgroup/memory.max)\"",
    ]);
    create_project(&server, &project(&server, "limits", TEST_IMAGE, &spec));
    let started = start_build(&server, "limits");
    let build = wait_build_complete(&server, id_of(&started), BUILD_DEADLINE);
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{build:#}");
    let log = build_log(&build);
    let host_memory: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap()
        * 1024;
    // BUILD_GENERAL1_SMALL is 3 GiB, capped at what the host has.
    let expected = (3_u64 << 30).min(host_memory);
    assert!(log.contains(&format!("\nmemory={expected}\n")), "{log}");
}

#[test]
fn stop_build_leaves_no_container() {
    if !engine_available("stop_build_leaves_no_container") {
        return;
    }
    let server = docker_server(&[]);
    let running = start_sleeping_build(&server, "stopped", json!({}));
    let stopped = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "stop-build", "--id", id_of(&running)],
    );
    assert_eq!(stopped.ok()["build"]["buildStatus"], "STOPPED");
    wait_no_container(uuid_of(&running));
    let build = wait_build_complete(&server, id_of(&running), BUILD_DEADLINE);
    assert_eq!(build["buildStatus"], "STOPPED", "{build:#}");
    assert_eq!(context(&build, "BUILD").0, "BUILD_STOPPED");
}

#[test]
fn a_timed_out_build_leaves_no_container() {
    if !engine_available("a_timed_out_build_leaves_no_container") {
        return;
    }
    let server = docker_server(&["--minute-seconds", "1"]);
    let running = start_sleeping_build(&server, "timed-out", json!({"timeoutInMinutes": 5}));
    let build = wait_build_complete(&server, id_of(&running), BUILD_DEADLINE);
    assert_eq!(build["buildStatus"], "TIMED_OUT", "{build:#}");
    wait_no_container(uuid_of(&running));
}

#[test]
fn after_a_crash_the_orphan_container_is_reaped_and_the_build_faults() {
    if !engine_available("after_a_crash_the_orphan_container_is_reaped_and_the_build_faults") {
        return;
    }
    let mut server = docker_server(&[]);
    let running = start_sleeping_build(&server, "crashing", json!({}));
    let uuid = uuid_of(&running).to_string();
    server.kill9();
    // Nothing removed it: the crash left it behind.
    assert_eq!(containers_of(&uuid).len(), 1);

    server.restart();
    wait_no_container(&uuid);
    let build = wait_build_complete(&server, id_of(&running), BUILD_DEADLINE);
    assert_eq!(build["buildStatus"], "FAULT", "{build:#}");
    assert_eq!(context(&build, "BUILD").0, "SERVER_ERROR");
}

#[test]
fn an_unprivileged_container_cannot_reach_the_engine() {
    if !engine_available("an_unprivileged_container_cannot_reach_the_engine") {
        return;
    }
    assert!(
        std::path::Path::new("/var/run/docker.sock").exists(),
        "the host's engine socket is where the build must not see it"
    );
    let server = docker_server(&[]);
    let spec = buildspec(&[
        "if ls /var/run/docker.sock /run/docker.sock; then echo engine=reachable; else echo engine=unreachable; fi",
        "grep NoNewPrivs /proc/self/status",
    ]);
    create_project(
        &server,
        &project(&server, "unprivileged", TEST_IMAGE, &spec),
    );
    let started = start_build(&server, "unprivileged");
    let build = wait_build_complete(&server, id_of(&started), BUILD_DEADLINE);
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{build:#}");
    let log = build_log(&build);
    assert!(log.contains("\nengine=unreachable\n"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.starts_with("NoNewPrivs:") && l.ends_with('1')),
        "{log}"
    );
}

#[test]
fn a_windows_environment_is_refused_at_start_build() {
    if !engine_available("a_windows_environment_is_refused_at_start_build") {
        return;
    }
    let server = docker_server(&[]);
    let mut windows = project(&server, "windows", TEST_IMAGE, &buildspec(&["echo hi"]));
    windows["environment"]["type"] = "WINDOWS_SERVER_2022_CONTAINER".into();
    windows["environment"]["computeType"] = "BUILD_GENERAL1_MEDIUM".into();
    create_project(&server, &windows);
    create_project(
        &server,
        &project(&server, "linux", TEST_IMAGE, &buildspec(&["echo hi"])),
    );
    let refused = [
        aws(
            &server,
            &ACCOUNT_A,
            &["codebuild", "start-build", "--project-name", "windows"],
        ),
        aws(
            &server,
            &ACCOUNT_A,
            &[
                "codebuild",
                "start-build",
                "--project-name",
                "linux",
                "--environment-type-override",
                "WINDOWS_SERVER_2019_CONTAINER",
            ],
        ),
    ];
    for out in refused {
        let error = out.error();
        assert_eq!(error.code, "InvalidInputException", "{error:?}");
        assert!(error.message.contains("WINDOWS_SERVER_20"), "{error:?}");
    }
    let listed = aws(&server, &ACCOUNT_A, &["codebuild", "list-builds"]);
    assert_eq!(listed.ok()["ids"], json!([]));
}
