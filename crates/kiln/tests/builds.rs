//! Builds that really run, as users meet them: the real `kiln` binary driven by the `aws` CLI
//! and boto3, building git repositories the tests make (issue 3, "Done when"). Every test runs
//! twice: on the local executor (`local::…`) and in containers of the Docker executor
//! (`docker::…`, issue 6), whose image is made from busybox, bash and git.

// The helpers below are test code too: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::builds::{
    build_log, context, create_project, curl_signed, get_build, id_of, log_url, phase, phase_types,
    start_builds, uuid_of, wait_build_complete, wait_builds_where,
};
use common::docker::{
    BUILD_IMAGE, containers_of, engine_available, ensure_image, server_config, wait_no_container,
};
use common::git::{GitHttpOptions, GitHttpServer, GitRepo, SelfSignedCert};
use common::moto::Moto;
use common::{ACCOUNT_A, KilnServer, KilnServerBuilder, aws, boto3, wait_until};
use serde_json::{Value, json};

const ROLE: &str = "arn:aws:iam::111122223333:role/service-role/kiln-build";
/// How long any build of these tests may take to finish.
const BUILD_DEADLINE: Duration = Duration::from_secs(60);

/// Where the builds of a test run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Executor {
    Local,
    Docker,
}

impl Executor {
    /// A `kiln serve` builder with this executor chosen.
    fn builder(self) -> KilnServerBuilder {
        match self {
            Executor::Local => KilnServer::builder().args(["--executor", "local"]),
            Executor::Docker => {
                ensure_image(&BUILD_IMAGE);
                KilnServer::builder()
                    .args(["--executor", "docker"])
                    .config(server_config(&BUILD_IMAGE))
            }
        }
    }

    fn server(self) -> KilnServer {
        self.builder().start()
    }

    /// Checks that a build's processes, whose ids (as the build saw them) are `pids`, all run.
    fn assert_processes_run(self, uuid: &str, pids: &[u32]) {
        match self {
            Executor::Local => assert!(pids.iter().all(|pid| pid_alive(*pid)), "{pids:?}"),
            Executor::Docker => assert_eq!(containers_of(uuid).len(), 1, "{uuid}"),
        }
    }

    /// Waits until every process of the build is gone: on the host, each of its `pids`; under
    /// Docker, the container that held them.
    fn wait_processes_gone(self, uuid: &str, pids: &[u32]) {
        match self {
            Executor::Local => wait_until(
                Duration::from_secs(5),
                "the build's processes to end",
                || pids.iter().all(|pid| !pid_alive(*pid)),
            ),
            Executor::Docker => wait_no_container(uuid),
        }
    }
}

/// Defines, for each test function taking an [`Executor`], a `#[test]` in `local` and one in
/// `docker`.
macro_rules! on_both_executors {
    ($($test:ident),* $(,)?) => {
        mod local {
            $(#[test]
            fn $test() {
                super::$test(super::Executor::Local);
            })*
        }
        mod docker {
            $(#[test]
            fn $test() {
                if super::engine_available(stringify!($test)) {
                    super::$test(super::Executor::Docker);
                }
            })*
        }
    };
}

/// A `CreateProject` input building `location` (a local repository) with no artifacts.
fn project(name: &str, location: &str) -> Value {
    json!({
        "name": name,
        "source": {"type": "GITHUB", "location": location},
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": {
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL"
        },
        "serviceRole": ROLE
    })
}

/// `aws codebuild start-build --project-name NAME ARGS…`; returns the `build`.
fn start_build(server: &KilnServer, name: &str, args: &[&str]) -> Value {
    let mut all = vec!["codebuild", "start-build", "--project-name", name];
    all.extend_from_slice(args);
    aws(server, &ACCOUNT_A, &all).ok()["build"].clone()
}

/// Waits for the builds to complete and returns them as boto3 reads them.
fn wait_builds(server: &KilnServer, ids: &[&str]) -> Vec<Value> {
    wait_builds_where(server, ids, r#"b["buildComplete"]"#, BUILD_DEADLINE)
}

fn wait_build(server: &KilnServer, id: &str) -> Value {
    wait_build_complete(server, id, BUILD_DEADLINE)
}

/// A repository whose `buildspec.yml` is `buildspec`.
fn repo_with_buildspec(server: &KilnServer, buildspec: &str) -> (GitRepo, String) {
    let repo = GitRepo::init(server.root().join("repo"));
    let sha = repo.commit(&[("buildspec.yml", buildspec)], "buildspec");
    (repo, sha)
}

/// Now, in seconds since the epoch, as build times are given.
fn epoch_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn pid_alive(pid: u32) -> bool {
    // A zombie has exited; only its parent has yet to reap it.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or_default()
            .starts_with(" Z")
    })
}

/// Process ids a build wrote to `file`, one a line, once there are at least `count`.
fn wait_pids(file: &Path, count: usize) -> Vec<u32> {
    let mut pids = Vec::new();
    wait_until(Duration::from_secs(30), "the build's process ids", || {
        pids = std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        pids.len() >= count
    });
    pids
}

fn a_successful_build_shows_what_codebuild_shows(executor: Executor) {
    let server = executor.server();
    let (repo, sha) = repo_with_buildspec(
        &server,
        r#"version: 0.2
phases:
  install:
    commands:
      - echo installing
  pre_build:
    commands:
      - mkdir -p subdir-made-here && cd subdir-made-here
  build:
    commands:
      - echo "number=$CODEBUILD_BUILD_NUMBER resolved=$CODEBUILD_RESOLVED_SOURCE_VERSION"
      - echo "id=$CODEBUILD_BUILD_ID succeeding=$CODEBUILD_BUILD_SUCCEEDING"
  post_build:
    commands:
      - echo "src=$CODEBUILD_SRC_DIR pwd=$(pwd)"
"#,
    );
    create_project(&server, &project("app", &repo.location()));
    let started = start_build(&server, "app", &[]);
    assert_eq!(started["buildNumber"], 1);
    assert_eq!(started["buildStatus"], "IN_PROGRESS");
    assert_eq!(started["buildComplete"], false);
    let id = id_of(&started).to_string();
    let (project_name, uuid) = id.split_once(':').unwrap();
    assert_eq!(project_name, "app");
    assert_eq!(
        started["arn"],
        format!("arn:aws:codebuild:us-east-1:111122223333:build/{id}")
    );

    wait_build(&server, &id);
    // The final answer as the CLI prints it.
    let build = get_build(&server, &id);
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{build:#}");
    assert_eq!(build["currentPhase"], "COMPLETED");
    assert_eq!(build["buildComplete"], true);
    assert_eq!(build["buildNumber"], 1);
    assert_eq!(build["resolvedSourceVersion"], sha.as_str());
    assert_eq!(build["initiator"], ACCOUNT_A.access_key_id);
    assert!(
        build["endTime"].as_f64().unwrap() >= build["startTime"].as_f64().unwrap(),
        "{build:#}"
    );
    assert_eq!(
        phase_types(&build),
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
        if p["phaseType"] == "COMPLETED" {
            assert!(p.get("endTime").is_none(), "{p}");
            continue;
        }
        assert_eq!(p["phaseStatus"], "SUCCEEDED", "{p}");
        assert!(p["durationInSeconds"].is_i64(), "{p}");
        if !matches!(p["phaseType"].as_str(), Some("SUBMITTED" | "QUEUED")) {
            assert_eq!(
                p["contexts"],
                json!([{"statusCode": "", "message": ""}]),
                "{p}"
            );
        }
    }
    let link = build["logs"]["deepLink"].as_str().unwrap();
    assert_eq!(
        link,
        format!("{}/projects/{project_name}/builds/{uuid}", server.url())
    );

    let log = build_log(&build);
    let runs_on = match executor {
        Executor::Local => "Running on Kiln, local executor".to_string(),
        Executor::Docker => format!(
            "Running on Kiln, docker executor: image aws/codebuild/standard:7.0 (as {})",
            BUILD_IMAGE.name
        ),
    };
    assert!(log.contains(&runs_on), "{runs_on:?} not in the log:\n{log}");
    assert!(
        log.lines().any(|l| l.starts_with("[Container] ")
            && l.contains(" Running command echo \"number=$CODEBUILD_BUILD_NUMBER")),
        "{log}"
    );
    assert!(log.contains(&format!("number=1 resolved={sha}\n")), "{log}");
    assert!(log.contains(&format!("id={id} succeeding=1\n")), "{log}");
    assert!(log.contains("installing\n"), "{log}");
    assert!(
        log.contains("Phase complete: BUILD State: SUCCEEDED"),
        "{log}"
    );
    // `cd` in one phase carries into the next.
    let src = log
        .lines()
        .find_map(|l| l.strip_prefix("src="))
        .unwrap_or_else(|| panic!("{log}"));
    let (src_dir, pwd) = src.split_once(" pwd=").unwrap();
    assert_eq!(pwd, format!("{src_dir}/subdir-made-here"));
    // Each build works in its own directory under the data dir and removes it.
    assert!(
        Path::new(src_dir).starts_with(server.data_dir()),
        "{src_dir}"
    );
    assert!(!Path::new(src_dir).exists(), "{src_dir} was left behind");

    // `?offset=N` reads the rest of the log.
    let signed = log_url(&build);
    let (status, tail) = curl_signed(&format!("{signed}?offset=10"));
    assert_eq!(status, 200);
    assert_eq!(tail, log[10..]);
    // The log is never public.
    let anonymous = common::http_get(&signed, &[]);
    assert_eq!(anonymous.status, 403, "{}", anonymous.body);

    let listed = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "list-builds-for-project",
            "--project-name",
            "app",
        ],
    );
    assert_eq!(listed.ok()["ids"], json!([id]));
}

fn failing_phases_follow_codebuild_transitions(executor: Executor) {
    let server = executor.server();
    let repo = GitRepo::init(server.root().join("repo"));
    repo.commit(&[("README", "phases")], "init");
    let build_fails = r#"version: 0.2
phases:
  build:
    commands:
      - echo before-failure
      - exit 3
      - echo never-printed
  post_build:
    commands:
      - echo "post-build ran, succeeding=$CODEBUILD_BUILD_SUCCEEDING"
"#;
    let install_fails = r#"version: 0.2
phases:
  install:
    commands:
      - "false"
    finally:
      - echo install-finally-ran
  build:
    commands:
      - echo build-must-not-run
  post_build:
    commands:
      - echo post-build-must-not-run
"#;
    let pre_build_continues = r#"version: 0.2
phases:
  pre_build:
    on-failure: CONTINUE
    commands:
      - sh -c 'exit 7'
  build:
    commands:
      - echo build-ran-after-continue
"#;
    for (name, spec) in [
        ("build-fails", build_fails),
        ("install-fails", install_fails),
        ("continues", pre_build_continues),
    ] {
        let mut input = project(name, &repo.location());
        input["source"]["buildspec"] = spec.into();
        create_project(&server, &input);
    }
    let started = start_builds(
        &server,
        &[
            json!({"projectName": "build-fails"}),
            json!({"projectName": "install-fails"}),
            json!({"projectName": "continues"}),
        ],
    );
    let ids: Vec<&str> = started.iter().map(id_of).collect();
    let builds = wait_builds(&server, &ids);

    // A failed BUILD still runs POST_BUILD and UPLOAD_ARTIFACTS.
    let failed = &builds[0];
    assert_eq!(failed["buildStatus"], "FAILED", "{failed:#}");
    assert_eq!(phase(failed, "BUILD")["phaseStatus"], "FAILED");
    assert_eq!(
        context(failed, "BUILD"),
        (
            "COMMAND_EXECUTION_ERROR".to_string(),
            "Error while executing command: exit 3. Reason: exit status 3".to_string()
        )
    );
    assert_eq!(phase(failed, "POST_BUILD")["phaseStatus"], "SUCCEEDED");
    assert_eq!(
        phase(failed, "UPLOAD_ARTIFACTS")["phaseStatus"],
        "SUCCEEDED"
    );
    let log = build_log(failed);
    assert!(log.contains("before-failure\n"), "{log}");
    assert!(!log.contains("never-printed\n"), "{log}");
    assert!(log.contains("post-build ran, succeeding=0\n"), "{log}");
    assert!(log.contains("Phase complete: BUILD State: FAILED"), "{log}");
    assert!(
        log.contains("Phase context status code: COMMAND_EXECUTION_ERROR Message: Error while executing command: exit 3. Reason: exit status 3"),
        "{log}"
    );

    // A failed INSTALL goes straight to FINALIZING, after its `finally` block.
    let install = &builds[1];
    assert_eq!(install["buildStatus"], "FAILED", "{install:#}");
    assert_eq!(
        phase_types(install),
        [
            "SUBMITTED",
            "QUEUED",
            "PROVISIONING",
            "DOWNLOAD_SOURCE",
            "INSTALL",
            "FINALIZING",
            "COMPLETED"
        ]
    );
    assert_eq!(context(install, "INSTALL").0, "COMMAND_EXECUTION_ERROR");
    let log = build_log(install);
    assert!(log.contains("install-finally-ran\n"), "{log}");
    assert!(!log.contains("must-not-run\n"), "{log}");

    // `on-failure: CONTINUE` goes on to BUILD; the build still fails.
    let continued = &builds[2];
    assert_eq!(continued["buildStatus"], "FAILED", "{continued:#}");
    assert_eq!(phase(continued, "PRE_BUILD")["phaseStatus"], "FAILED");
    assert_eq!(phase(continued, "BUILD")["phaseStatus"], "SUCCEEDED");
    assert!(build_log(continued).contains("build-ran-after-continue\n"));
}

fn buildspec_errors_and_inline_override(executor: Executor) {
    let server = executor.server();
    let repo = GitRepo::init(server.root().join("repo"));
    repo.commit(
        &[(
            "broken.yml",
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo ok\n     - bad: [\n",
        )],
        "a broken buildspec, and no buildspec.yml",
    );
    let mut broken = project("broken", &repo.location());
    broken["source"]["buildspec"] = "broken.yml".into();
    create_project(&server, &broken);
    create_project(&server, &project("missing", &repo.location()));
    let started = start_builds(
        &server,
        &[
            json!({"projectName": "broken"}),
            json!({"projectName": "missing"}),
        ],
    );
    let inline = start_build(
        &server,
        "missing",
        &[
            "--buildspec-override",
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo from-the-inline-buildspec\n",
        ],
    );
    let mut ids: Vec<&str> = started.iter().map(id_of).collect();
    ids.push(id_of(&inline));
    let builds = wait_builds(&server, &ids);

    for failed in &builds[..2] {
        assert_eq!(failed["buildStatus"], "FAILED", "{failed:#}");
        assert_eq!(phase(failed, "DOWNLOAD_SOURCE")["phaseStatus"], "FAILED");
        assert_eq!(
            phase_types(failed)[3..],
            ["DOWNLOAD_SOURCE", "FINALIZING", "COMPLETED"]
        );
    }
    let (code, message) = context(&builds[0], "DOWNLOAD_SOURCE");
    assert_eq!(code, "YAML_FILE_ERROR");
    assert!(
        message.contains("line 6, column"),
        "the message names the line and column: {message}"
    );
    assert_eq!(
        context(&builds[1], "DOWNLOAD_SOURCE"),
        (
            "YAML_FILE_ERROR".to_string(),
            "YAML file does not exist".to_string()
        )
    );
    let inline = &builds[2];
    assert_eq!(inline["buildStatus"], "SUCCEEDED", "{inline:#}");
    assert!(build_log(inline).contains("\nfrom-the-inline-buildspec\n"));
}

fn source_versions_name_branches_tags_and_commits(executor: Executor) {
    let server = executor.server();
    let repo = GitRepo::init(server.root().join("repo"));
    let spec = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"marker=$(cat marker) head=$(git rev-parse HEAD)\"\n";
    let first = repo.commit(&[("buildspec.yml", spec), ("marker", "first")], "first");
    repo.git(&["tag", "-a", "-m", "release one", "v1"]);
    let main = repo.commit(&[("marker", "main")], "second");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    let feature = repo.commit(&[("marker", "feature")], "feature work");
    repo.git(&["checkout", "-q", "main"]);
    create_project(&server, &project("versions", &repo.location()));

    let cases: [(Option<&str>, &str, &str); 6] = [
        (None, main.as_str(), "main"),
        (Some("feature"), feature.as_str(), "feature"),
        (Some("refs/heads/feature"), feature.as_str(), "feature"),
        (Some("v1"), first.as_str(), "first"),
        (Some("refs/tags/v1"), first.as_str(), "first"),
        (Some(first.as_str()), first.as_str(), "first"),
    ];
    let mut inputs: Vec<Value> = cases
        .iter()
        .map(|(version, _, _)| match version {
            Some(v) => json!({"projectName": "versions", "sourceVersion": v}),
            None => json!({"projectName": "versions"}),
        })
        .collect();
    inputs.push(json!({"projectName": "versions", "sourceVersion": "no-such-branch"}));
    let started = start_builds(&server, &inputs);
    let ids: Vec<&str> = started.iter().map(id_of).collect();
    let builds = wait_builds(&server, &ids);
    for ((version, commit, marker), build) in cases.iter().zip(&builds) {
        assert_eq!(build["buildStatus"], "SUCCEEDED", "{version:?}: {build:#}");
        assert_eq!(build["resolvedSourceVersion"], *commit, "{version:?}");
        if let Some(v) = version {
            assert_eq!(build["sourceVersion"], *v);
        }
        let log = build_log(build);
        assert!(
            log.contains(&format!("\nmarker={marker} head={commit}\n")),
            "{version:?}: {log}"
        );
    }
    let missing = &builds[6];
    assert_eq!(missing["buildStatus"], "FAILED", "{missing:#}");
    let (code, message) = context(missing, "DOWNLOAD_SOURCE");
    assert_eq!(code, "CLIENT_ERROR");
    assert!(message.contains("no-such-branch"), "{message}");
}

fn environment_precedence_and_exported_variables(executor: Executor) {
    let server = executor.server();
    let (repo, _) = repo_with_buildspec(
        &server,
        r#"version: 0.2
env:
  variables:
    FROM_SPEC: spec
    IN_PROJECT: spec
    OVERRIDDEN: spec
  exported-variables:
    - BUILT_VERSION
    - OVERRIDDEN
    - NEVER_SET
phases:
  pre_build:
    commands:
      - BUILT_VERSION="v-$CODEBUILD_BUILD_NUMBER"
  build:
    commands:
      - echo "FROM_SPEC=$FROM_SPEC IN_PROJECT=$IN_PROJECT OVERRIDDEN=$OVERRIDDEN"
      - export BUILT_VERSION
"#,
    );
    let mut input = project("env", &repo.location());
    input["environment"]["environmentVariables"] = json!([
        {"name": "IN_PROJECT", "value": "project", "type": "PLAINTEXT"},
        {"name": "OVERRIDDEN", "value": "project", "type": "PLAINTEXT"}
    ]);
    create_project(&server, &input);
    let started = start_build(
        &server,
        "env",
        &[
            "--environment-variables-override",
            "name=OVERRIDDEN,value=override,type=PLAINTEXT",
        ],
    );
    let build = wait_build(&server, id_of(&started));
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{build:#}");
    let log = build_log(&build);
    assert!(
        log.contains("\nFROM_SPEC=spec IN_PROJECT=project OVERRIDDEN=override\n"),
        "{log}"
    );
    assert_eq!(
        build["exportedEnvironmentVariables"],
        json!([
            {"name": "BUILT_VERSION", "value": "v-1"},
            {"name": "OVERRIDDEN", "value": "override"}
        ])
    );
}

/// A buildspec whose BUILD starts a background process and a grandchild, writes their process
/// ids and its own to `pids` beside its source directory, then waits for `gate` to appear there.
const WAITING_BUILDSPEC: &str = r#"version: 0.2
phases:
  build:
    commands:
      - sleep 301 & echo $! >> ../pids
      - sh -c 'sleep 302 & echo $! >> ../pids; wait' & echo $! >> ../pids
      - echo $$ >> ../pids; while [ ! -e ../gate ]; do sleep 0.05; done
      - echo gate-opened
"#;

/// A project building [`WAITING_BUILDSPEC`] (inline, from an empty repository).
fn waiting_project(server: &KilnServer, name: &str, extra: Value) {
    let repo_dir = server.root().join(format!("repo-{name}"));
    let repo = GitRepo::init(&repo_dir);
    repo.commit(&[("README", name)], "init");
    let mut input = project(name, &repo.location());
    input["source"]["buildspec"] = WAITING_BUILDSPEC.into();
    if let (Value::Object(input), Value::Object(extra)) = (&mut input, extra) {
        input.extend(extra);
    }
    create_project(server, &input);
}

/// The host directory of a build (`project:uuid`): its source directory's parent, where a
/// [`waiting_project`] build keeps `pids` and looks for `gate`. Under Docker it is mounted at
/// the same path.
fn build_dir(server: &KilnServer, id: &str) -> PathBuf {
    server
        .data_dir()
        .join("work")
        .join(id.split_once(':').unwrap().1)
}

/// The process ids a running [`waiting_project`] build wrote, once it has written all four.
fn waiting_pids(server: &KilnServer, id: &str) -> Vec<u32> {
    wait_pids(&build_dir(server, id).join("pids"), 4)
}

/// Lets a running [`waiting_project`] build go on.
fn open_gate(server: &KilnServer, id: &str) {
    std::fs::write(build_dir(server, id).join("gate"), "").unwrap();
}

/// Opens the gate of each of the builds as soon as it runs, until dropped.
struct OpenGates {
    done: Arc<AtomicBool>,
    keeper: Option<thread::JoinHandle<()>>,
}

fn open_gates(server: &KilnServer, ids: &[&str]) -> OpenGates {
    let mut waiting: Vec<PathBuf> = ids.iter().map(|id| build_dir(server, id)).collect();
    let done = Arc::new(AtomicBool::new(false));
    let keeper = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            while !done.load(Ordering::Relaxed) && !waiting.is_empty() {
                // Each gate once: a gate written as its build's directory is removed would
                // leave the directory behind.
                waiting.retain(|dir| std::fs::write(dir.join("gate"), "").is_err());
                thread::sleep(Duration::from_millis(20));
            }
        })
    };
    OpenGates {
        done,
        keeper: Some(keeper),
    }
}

impl Drop for OpenGates {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
    }
}

fn timeouts_end_builds_as_timed_out_running_or_queued(executor: Executor) {
    // One "minute" lasts a second; one build at a time, so the second build waits.
    let server = executor
        .builder()
        .args(["--minute-seconds", "1", "--max-concurrent-builds", "1"])
        .start();
    waiting_project(&server, "slow", json!({"timeoutInMinutes": 8}));
    let mut waiting = json!({"projectName": "slow"});
    // Longer than the queued timeout below, so the slot stays taken until that has passed.
    waiting["timeoutInMinutesOverride"] = 7.into();
    let started = start_builds(
        &server,
        &[
            waiting,
            json!({"projectName": "slow", "queuedTimeoutInMinutesOverride": 5}),
        ],
    );
    let ids: Vec<&str> = started.iter().map(id_of).collect();
    let pids = waiting_pids(&server, ids[0]);
    let builds = wait_builds(&server, &ids);

    let build = &builds[0];
    assert_eq!(build["buildStatus"], "TIMED_OUT", "{build:#}");
    assert_eq!(build["timeoutInMinutes"], 7);
    let (code, message) = context(build, "BUILD");
    assert_eq!(code, "BUILD_TIMED_OUT");
    assert!(message.contains("timed out"), "{message}");
    assert_eq!(phase(build, "BUILD")["phaseStatus"], "TIMED_OUT");
    assert_eq!(phase_types(build)[7..], ["FINALIZING", "COMPLETED"]);
    // Seven "minutes" of one second each, counted from the end of QUEUED.
    let ran =
        build["endTime"].as_f64().unwrap() - phase(build, "QUEUED")["endTime"].as_f64().unwrap();
    assert!((6.5..17.0).contains(&ran), "the build ran {ran} s");
    executor.wait_processes_gone(uuid_of(build), &pids);

    // The queued timeout counts from the submission, and the build never ran.
    let queued = &builds[1];
    assert_eq!(queued["buildStatus"], "TIMED_OUT", "{queued:#}");
    assert_eq!(queued["queuedTimeoutInMinutes"], 5);
    assert_eq!(phase_types(queued), ["SUBMITTED", "QUEUED", "COMPLETED"]);
    assert_eq!(phase(queued, "QUEUED")["phaseStatus"], "TIMED_OUT");
    let waited = queued["endTime"].as_f64().unwrap() - queued["startTime"].as_f64().unwrap();
    assert!((4.5..15.0).contains(&waited), "the build waited {waited} s");
}

fn stop_build_ends_the_build_and_every_process_within_seconds(executor: Executor) {
    let server = executor.server();
    waiting_project(&server, "stoppable", json!({}));
    let started = start_build(&server, "stoppable", &[]);
    let id = id_of(&started);
    let pids = waiting_pids(&server, id);
    executor.assert_processes_run(uuid_of(&started), &pids);
    // The log can be read while the build runs.
    let running = get_build(&server, id);
    assert_eq!(running["currentPhase"], "BUILD");
    let log = build_log(&running);
    assert!(log.contains("Running command sleep 301 &"), "{log}");

    // Timed from the moment the request is sent, so the client's start-up is left out.
    let stopped = boto3(
        &server,
        &ACCOUNT_A,
        &format!(
            r#"
import time
asked = time.time()
build = client.stop_build(id={id:?})["build"]
answered = time.time()
result = {{"asked": asked, "answered": answered, "status": build["buildStatus"],
          "ended": build["endTime"].timestamp()}}
"#
        ),
    );
    assert_eq!(stopped["status"], "STOPPED", "{stopped:#}");
    let asked = stopped["asked"].as_f64().unwrap();
    let took = stopped["ended"].as_f64().unwrap() - asked;
    assert!(
        took < 5.0,
        "the build stopped {took} s after it was asked to"
    );
    assert!(
        stopped["answered"].as_f64().unwrap() - asked < 5.0,
        "{stopped:#}"
    );
    let build = get_build(&server, id);
    assert_eq!(build["buildStatus"], "STOPPED", "{build:#}");
    assert_eq!(build["buildComplete"], true);
    assert_eq!(context(&build, "BUILD").0, "BUILD_STOPPED");
    executor.wait_processes_gone(uuid_of(&build), &pids);
    assert!(!build_log(&build).contains("gate-opened"));
}

fn builds_wait_in_queued_under_the_concurrency_limits(executor: Executor) {
    let server = executor
        .builder()
        .args(["--max-concurrent-builds", "1"])
        .start();
    waiting_project(&server, "queued", json!({}));
    let started = start_builds(
        &server,
        &[
            json!({"projectName": "queued"}),
            json!({"projectName": "queued"}),
        ],
    );
    let ids: Vec<&str> = started.iter().map(id_of).collect();
    waiting_pids(&server, ids[0]);
    let builds = wait_builds_where(&server, &ids, "True", BUILD_DEADLINE);
    assert_eq!(builds[0]["currentPhase"], "BUILD");
    assert_eq!(builds[1]["currentPhase"], "QUEUED");
    thread::sleep(Duration::from_millis(500));
    let builds = wait_builds_where(&server, &ids, "True", BUILD_DEADLINE);
    assert_eq!(builds[1]["currentPhase"], "QUEUED", "{:#}", builds[1]);

    let gates = open_gates(&server, &ids);
    let builds = wait_builds(&server, &ids);
    drop(gates);
    for build in &builds {
        assert_eq!(build["buildStatus"], "SUCCEEDED", "{build:#}");
    }
    // The second build started only once the first had ended.
    let first_end = builds[0]["endTime"].as_f64().unwrap();
    let second_start = phase(&builds[1], "PROVISIONING")["startTime"]
        .as_f64()
        .unwrap();
    assert!(second_start >= first_end, "{second_start} < {first_end}");
}

fn a_project_concurrent_build_limit_queues_only_that_project(executor: Executor) {
    let server = executor
        .builder()
        .args(["--max-concurrent-builds", "4"])
        .start();
    waiting_project(&server, "limited", json!({"concurrentBuildLimit": 1}));
    waiting_project(&server, "free", json!({}));
    let started = start_builds(
        &server,
        &[
            json!({"projectName": "limited"}),
            json!({"projectName": "limited"}),
            json!({"projectName": "free"}),
        ],
    );
    let ids: Vec<&str> = started.iter().map(id_of).collect();
    // The other project runs beside the limited one.
    waiting_pids(&server, ids[0]);
    waiting_pids(&server, ids[2]);
    let builds = wait_builds_where(&server, &ids, "True", BUILD_DEADLINE);
    assert_eq!(builds[1]["currentPhase"], "QUEUED", "{:#}", builds[1]);
    let _gates = open_gates(&server, &ids);
    for build in wait_builds(&server, &ids) {
        assert_eq!(build["buildStatus"], "SUCCEEDED", "{build:#}");
    }
}

/// A project `name` whose builds print `hello` and end.
fn trivial_project(server: &KilnServer, name: &str) {
    let repo = GitRepo::init(server.root().join(format!("repo-{name}")));
    repo.commit(
        &[(
            "buildspec.yml",
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo hello\n",
        )],
        "init",
    );
    create_project(server, &project(name, &repo.location()));
}

fn build_numbers_idempotency_tokens_and_retries(executor: Executor) {
    let server = executor.server();
    trivial_project(&server, "numbers");
    let out = boto3(
        &server,
        &ACCOUNT_A,
        r#"
from concurrent.futures import ThreadPoolExecutor
import threading
local = threading.local()

def start(_):
    # One client per thread: boto3 clients are not thread safe to create concurrently.
    if not hasattr(local, "client"):
        local.client = _client(True)
    return local.client.start_build(projectName="numbers")["build"]

with ThreadPoolExecutor(10) as pool:
    builds = list(pool.map(start, range(10)))
first = client.start_build(projectName="numbers", idempotencyToken="tok-1")["build"]
again = client.start_build(projectName="numbers", idempotencyToken="tok-1")["build"]
clash = error_of(client.start_build, projectName="numbers", idempotencyToken="tok-1",
                 sourceVersion="main")
result = {
    "numbers": sorted(b["buildNumber"] for b in builds),
    "ids": [b["id"] for b in builds],
    "first": [first["id"], first["buildNumber"]],
    "again": [again["id"], again["buildNumber"]],
    "clash": clash,
}
"#,
    );
    assert_eq!(out["numbers"], json!((1..=10).collect::<Vec<_>>()));
    assert_eq!(out["first"][1], 11);
    assert_eq!(
        out["again"], out["first"],
        "the same token names the same build"
    );
    assert_eq!(out["clash"]["code"], "InvalidInputException", "{out:#}");
    let first_id = out["first"][0].as_str().unwrap();
    let mut ids: Vec<&str> = out["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    ids.push(first_id);
    for build in wait_builds(&server, &ids) {
        assert_eq!(build["buildStatus"], "SUCCEEDED", "{build:#}");
    }

    let retried = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "retry-build", "--id", first_id],
    );
    let retried = retried.ok()["build"].clone();
    assert_ne!(retried["id"], first_id);
    assert_eq!(retried["buildNumber"], 12);
    let retried = wait_build(&server, id_of(&retried));
    assert_eq!(retried["buildStatus"], "SUCCEEDED", "{retried:#}");
    assert!(build_log(&retried).contains("\nhello\n"));
}

fn list_builds_pages_newest_first_and_delete_spares_running_builds(executor: Executor) {
    let server = executor
        .builder()
        .args(["--max-concurrent-builds", "1"])
        .start();
    waiting_project(&server, "many", json!({}));
    trivial_project(&server, "other");
    let running = start_build(&server, "many", &[]);
    let running_id = id_of(&running).to_string();
    waiting_pids(&server, &running_id);
    // 101 more builds wait behind the running one: more than one page of ids.
    let out = boto3(
        &server,
        &ACCOUNT_A,
        r#"
queued = [client.start_build(projectName="many")["build"]["id"] for _ in range(100)]
other = client.start_build(projectName="other")["build"]["id"]
def all_pages(call, **params):
    pages = [call(**params)]
    while "nextToken" in pages[-1]:
        pages.append(call(nextToken=pages[-1]["nextToken"], **params))
    return [p["ids"] for p in pages]
result = {
    "queued": queued,
    "other": other,
    "all": all_pages(client.list_builds),
    "ascending": all_pages(client.list_builds, sortOrder="ASCENDING"),
    "project": all_pages(client.list_builds_for_project, projectName="many"),
    "other_project": all_pages(client.list_builds_for_project, projectName="other"),
}
"#,
    );
    let queued: Vec<String> = serde_json::from_value(out["queued"].clone()).unwrap();
    let other = out["other"].as_str().unwrap().to_string();
    let pages =
        |key: &str| -> Vec<Vec<String>> { serde_json::from_value(out[key].clone()).unwrap() };

    let mut newest_first: Vec<String> = vec![other.clone()];
    newest_first.extend(queued.iter().rev().cloned());
    newest_first.push(running_id.clone());
    let all = pages("all");
    assert_eq!(all.iter().map(Vec::len).collect::<Vec<_>>(), [100, 2]);
    assert_eq!(all.concat(), newest_first);
    let ascending = pages("ascending").concat();
    assert_eq!(
        ascending,
        newest_first.iter().rev().cloned().collect::<Vec<_>>()
    );
    assert_eq!(pages("project").concat(), newest_first[1..]);
    assert_eq!(pages("other_project"), [vec![other.clone()]]);

    // The CLI follows nextToken by itself.
    let listed = aws(&server, &ACCOUNT_A, &["codebuild", "list-builds"]);
    assert_eq!(listed.ok()["ids"].as_array().unwrap().len(), 102);

    let deleted = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "batch-delete-builds",
            "--ids",
            &running_id,
            &queued[0],
            "nope:00000000-0000-0000-0000-000000000000",
        ],
    );
    let deleted = deleted.ok();
    assert_eq!(deleted["buildsDeleted"], json!([]));
    let not_deleted = deleted["buildsNotDeleted"].as_array().unwrap();
    assert_eq!(not_deleted.len(), 3, "{deleted:#}");
    assert_eq!(not_deleted[0]["id"], running_id.as_str());
    assert_eq!(not_deleted[0]["statusCode"], "BUILD_IN_PROGRESS");

    // Once done, builds can be deleted, and are gone from lists and BatchGetBuilds.
    let out = boto3(
        &server,
        &ACCOUNT_A,
        &format!(
            r#"
queued = {queued}
stopped = [client.stop_build(id=i)["build"]["buildStatus"] for i in queued]
result = {{"stopped": sorted(set(stopped))}}
"#,
            queued = serde_json::to_string(&queued).unwrap()
        ),
    );
    assert_eq!(out["stopped"], json!(["STOPPED"]), "{out:#}");
    open_gate(&server, &running_id);
    let running = wait_build(&server, &running_id);
    assert_eq!(running["buildStatus"], "SUCCEEDED", "{running:#}");
    let deleted = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "batch-delete-builds",
            "--ids",
            &running_id,
            &queued[0],
        ],
    );
    assert_eq!(
        deleted.ok()["buildsDeleted"],
        json!([running_id, queued[0]])
    );
    let got = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "batch-get-builds", "--ids", &running_id],
    );
    assert_eq!(got.ok()["buildsNotFound"], json!([running_id]));
    let (status, _) = curl_signed(&log_url(&running));
    assert_eq!(status, 404);
}

fn after_a_crash_running_builds_fault_and_queued_builds_still_run(executor: Executor) {
    let mut server = executor
        .builder()
        .args(["--max-concurrent-builds", "1"])
        .start();
    waiting_project(&server, "crashing", json!({}));
    trivial_project(&server, "afterwards");
    let started = start_builds(
        &server,
        &[
            json!({"projectName": "crashing"}),
            json!({"projectName": "afterwards"}),
        ],
    );
    let ids: Vec<&str> = started.iter().map(id_of).collect();
    let pids = waiting_pids(&server, ids[0]);
    server.kill9();
    // The build's processes outlive Kiln; once restarted, Kiln ends them (local: the process
    // groups its session recorded; Docker: the labelled container).
    executor.assert_processes_run(ids[0].split_once(':').unwrap().1, &pids);

    server.restart();
    let builds = wait_builds(&server, &ids);
    let crashed = &builds[0];
    assert_eq!(crashed["buildStatus"], "FAULT", "{crashed:#}");
    assert_eq!(phase(crashed, "BUILD")["phaseStatus"], "FAULT");
    let (code, message) = context(crashed, "BUILD");
    assert_eq!(code, "SERVER_ERROR");
    assert!(
        message.contains("Kiln stopped while this build was running"),
        "{message}"
    );
    assert_eq!(builds[1]["buildStatus"], "SUCCEEDED", "{:#}", builds[1]);
    assert!(build_log(&builds[1]).contains("\nhello\n"));
    executor.wait_processes_gone(uuid_of(crashed), &pids);
}

fn sigterm_lets_a_running_build_finish_and_keeps_the_queue(executor: Executor) {
    let mut server = executor
        .builder()
        .args([
            "--max-concurrent-builds",
            "1",
            "--shutdown-grace-seconds",
            "30",
        ])
        .start();
    waiting_project(&server, "graceful", json!({}));
    trivial_project(&server, "queued");
    let started = start_builds(
        &server,
        &[
            json!({"projectName": "graceful"}),
            json!({"projectName": "queued"}),
        ],
    );
    let ids: Vec<&str> = started.iter().map(id_of).collect();
    waiting_pids(&server, ids[0]);
    // The build goes on a second after the SIGTERM, which Kiln must wait for.
    let opener = {
        let gate = build_dir(&server, ids[0]).join("gate");
        thread::spawn(move || {
            thread::sleep(Duration::from_secs(1));
            std::fs::write(gate, "").unwrap();
        })
    };
    let asked = Instant::now();
    let status = server.sigterm();
    let stopped_at = epoch_seconds();
    opener.join().unwrap();
    assert!(status.success(), "{status}");
    let took = asked.elapsed();
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(10)).contains(&took),
        "kiln exited {took:?} after SIGTERM"
    );

    server.restart();
    let builds = wait_builds(&server, &ids);
    let finished = &builds[0];
    assert_eq!(finished["buildStatus"], "SUCCEEDED", "{finished:#}");
    assert!(finished["endTime"].as_f64().unwrap() <= stopped_at);
    assert!(build_log(finished).contains("\ngate-opened\n"));
    // The queued build did not start during the shutdown; it ran after the restart.
    let queued = &builds[1];
    assert_eq!(queued["buildStatus"], "SUCCEEDED", "{queued:#}");
    assert!(phase(queued, "PROVISIONING")["startTime"].as_f64().unwrap() > stopped_at);
}

/// An artifact project: `dist/` zipped as `app.zip` into `bucket`, without `*.log` files.
fn artifact_project(server: &KilnServer, name: &str, bucket: &str) {
    let repo = GitRepo::init(server.root().join(format!("repo-{name}")));
    repo.commit(
        &[(
            "buildspec.yml",
            r#"version: 0.2
phases:
  build:
    commands:
      - mkdir -p dist/sub && echo one > dist/one.txt && echo two > dist/sub/two.txt
      - echo noise > dist/debug.log
artifacts:
  files:
    - '**/*'
  base-directory: dist
  exclude-paths:
    - '**/*.log'
"#,
        )],
        "init",
    );
    let mut input = project(name, &repo.location());
    input["artifacts"] = json!({
        "type": "S3",
        "location": bucket,
        "path": "releases",
        "namespaceType": "BUILD_ID",
        "name": "app.zip",
        "packaging": "ZIP"
    });
    create_project(server, &input);
}

/// Runs `program args…` and returns its stdout; panics when it fails.
fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap();
    assert!(output.status.success(), "{program} {args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn zip_artifacts_land_in_the_local_store(executor: Executor) {
    let server = executor.server();
    artifact_project(&server, "zipped", "kiln-artifacts");
    let started = start_build(&server, "zipped", &[]);
    let build = wait_build(&server, id_of(&started));
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{build:#}");
    let uuid = id_of(&build).split_once(':').unwrap().1;
    let key = format!("kiln-artifacts/releases/{uuid}/app.zip");
    assert_eq!(
        build["artifacts"]["location"],
        format!("arn:aws:s3:::{key}")
    );

    let zip = server.data_dir().join("artifacts").join(&key);
    let zip = zip.to_str().unwrap();
    let mut entries: Vec<String> = run("unzip", &["-Z1", zip])
        .lines()
        .map(str::to_string)
        .collect();
    entries.sort();
    assert_eq!(entries, ["one.txt", "sub/two.txt"]);
    assert_eq!(run("unzip", &["-p", zip, "sub/two.txt"]), "two\n");
    let sha256 = run("sha256sum", &[zip]);
    assert_eq!(
        build["artifacts"]["sha256sum"],
        sha256.split_whitespace().next().unwrap()
    );
}

fn zip_artifacts_reach_an_s3_compatible_endpoint(executor: Executor) {
    let moto = Moto::start();
    let server = executor.builder().config(moto.artifacts_config()).start();
    let s3 = format!(
        r#"
s3 = boto3.client("s3", endpoint_url={endpoint:?}, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing-secret-key")
"#,
        endpoint = moto.endpoint()
    );
    boto3(
        &server,
        &ACCOUNT_A,
        &format!("{s3}\ns3.create_bucket(Bucket=\"remote-artifacts\")\nresult = True\n"),
    );
    artifact_project(&server, "remote", "remote-artifacts");
    let started = start_build(&server, "remote", &[]);
    let build = wait_build(&server, id_of(&started));
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{build:#}");
    let uuid = id_of(&build).split_once(':').unwrap().1;
    let key = format!("releases/{uuid}/app.zip");
    let out = boto3(
        &server,
        &ACCOUNT_A,
        &format!(
            r#"{s3}
import io, zipfile
body = s3.get_object(Bucket="remote-artifacts", Key={key:?})["Body"].read()
archive = zipfile.ZipFile(io.BytesIO(body))
result = {{"names": sorted(archive.namelist()), "one": archive.read("one.txt").decode()}}
"#
        ),
    );
    assert_eq!(out["names"], json!(["one.txt", "sub/two.txt"]));
    assert_eq!(out["one"], "one\n");
    assert!(
        !server
            .data_dir()
            .join("artifacts")
            .join("remote-artifacts")
            .exists(),
        "nothing went to the local store"
    );
}

/// Reads every process's command line until `done`; returns the ones that contained `needle`.
fn watch_command_lines(needle: String, done: Arc<AtomicBool>) -> thread::JoinHandle<Vec<String>> {
    thread::spawn(move || {
        let mut seen = Vec::new();
        let mut scans = 0u64;
        while !done.load(Ordering::Relaxed) || scans == 0 {
            scans += 1;
            for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
                    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                    if cmdline.contains(&needle) {
                        seen.push(cmdline);
                    }
                }
            }
        }
        seen
    })
}

fn a_private_repository_builds_with_an_imported_token_that_never_shows(executor: Executor) {
    const TOKEN: &str = "ghp_kilnTestToken0123456789abcdefSECRET";
    let root = tempfile::tempdir().unwrap();
    // A GitHub Enterprise host: https, listed in kiln.toml, its certificate trusted by git.
    let cert = SelfSignedCert::create(&root.path().join("tls"));
    let repos = root.path().join("served");
    std::fs::create_dir_all(&repos).unwrap();
    let git_server = GitHttpServer::start_with(
        &repos,
        TOKEN,
        &GitHttpOptions {
            tls: Some(&cert),
            ..GitHttpOptions::default()
        },
    );
    let server = executor
        .builder()
        .config(format!(
            "[source_hosts]\ngithub_enterprise = [\"127.0.0.1:{}\"]",
            git_server.port()
        ))
        .env("GIT_SSL_CAINFO", cert.cert.display().to_string())
        .start();
    let repo = GitRepo::init(server.root().join("work"));
    let sha = repo.commit(
        &[(
            "buildspec.yml",
            "version: 0.2\nphases:\n  build:\n    commands:\n      - env | sort\n      - git remote -v\n      - git config --list --show-origin || true\n",
        )],
        "private code",
    );
    repo.bare_clone(&repos, "private");
    let mut input = project("private", &git_server.url("private"));
    input["source"]["type"] = "GITHUB_ENTERPRISE".into();
    create_project(&server, &input);

    // Without a credential the server refuses the checkout.
    let refused = wait_build(&server, id_of(&start_build(&server, "private", &[])));
    assert_eq!(refused["buildStatus"], "FAILED", "{refused:#}");
    let (code, message) = context(&refused, "DOWNLOAD_SOURCE");
    assert_eq!(code, "CLIENT_ERROR", "{message}");
    assert!(
        message.starts_with("Cannot download the source: git"),
        "{message}"
    );

    let imported = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "import-source-credentials",
            "--server-type",
            "GITHUB_ENTERPRISE",
            "--auth-type",
            "PERSONAL_ACCESS_TOKEN",
            "--token",
            TOKEN,
        ],
    );
    let arn = imported.ok()["arn"].as_str().unwrap().to_string();
    let listed = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "list-source-credentials"],
    );
    let listed = listed.ok().to_string();
    assert!(
        listed.contains("PERSONAL_ACCESS_TOKEN") && listed.contains(&arn),
        "{listed}"
    );
    assert!(!listed.contains(TOKEN), "{listed}");

    let done = Arc::new(AtomicBool::new(false));
    let watcher = watch_command_lines(TOKEN.to_string(), Arc::clone(&done));
    let build = wait_build(&server, id_of(&start_build(&server, "private", &[])));
    done.store(true, Ordering::Relaxed);
    let seen = watcher.join().unwrap();
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{build:#}");
    assert_eq!(build["resolvedSourceVersion"], sha.as_str());
    assert!(seen.is_empty(), "the token was in a command line: {seen:?}");
    let log = build_log(&build);
    assert!(log.contains(&git_server.url("private")), "{log}");
    assert!(!log.contains(TOKEN), "the token is in the log:\n{log}");
    assert!(!log.contains("KILN_ASKPASS"), "{log}");
    assert!(
        !server.stderr_log().contains(TOKEN),
        "the token is in Kiln's own log"
    );

    let deleted = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "delete-source-credentials", "--arn", &arn],
    );
    assert_eq!(deleted.ok()["arn"], arn.as_str());
    let listed = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "list-source-credentials"],
    );
    assert_eq!(listed.ok()["sourceCredentialsInfos"], json!([]));
}

// Every test above runs against both executors.
on_both_executors!(
    a_successful_build_shows_what_codebuild_shows,
    failing_phases_follow_codebuild_transitions,
    buildspec_errors_and_inline_override,
    source_versions_name_branches_tags_and_commits,
    environment_precedence_and_exported_variables,
    timeouts_end_builds_as_timed_out_running_or_queued,
    stop_build_ends_the_build_and_every_process_within_seconds,
    builds_wait_in_queued_under_the_concurrency_limits,
    a_project_concurrent_build_limit_queues_only_that_project,
    build_numbers_idempotency_tokens_and_retries,
    list_builds_pages_newest_first_and_delete_spares_running_builds,
    after_a_crash_running_builds_fault_and_queued_builds_still_run,
    sigterm_lets_a_running_build_finish_and_keeps_the_queue,
    zip_artifacts_land_in_the_local_store,
    zip_artifacts_reach_an_s3_compatible_endpoint,
    a_private_repository_builds_with_an_imported_token_that_never_shows,
);
