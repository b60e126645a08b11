//! Disk use by builds (issue 11, "No cap on a build's log" and "A build ended by a full disk"):
//! a build's log has a size limit, the data dir keeps a free-space reserve, and an API that
//! cannot write answers 503 ServiceUnavailableException, never 500.
//!
//! The data-dir tests mount a small tmpfs (CI runs as root) so that builds really fill it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::builds::{build_log, context, create_project, id_of, uuid_of, wait_build_complete};
use common::docker::{
    BUILD_IMAGE, engine_available, ensure_image, server_config, wait_no_container,
};
use common::{
    ACCOUNT_A, ACCOUNT_B, Account, HttpReply, KilnServer, KilnServerBuilder, SignedRequest, aws,
    signed_request, wait_until,
};
use serde_json::{Value, json};

const ROLE: &str = "arn:aws:iam::111122223333:role/service-role/kiln-build";
/// How long any build of these tests may take; far less than their `sleep 600`.
const BUILD_DEADLINE: Duration = Duration::from_secs(90);
/// The log limit of the log tests.
const LOG_LIMIT: u64 = 256 * 1024;

/// A `CreateProject` input running `buildspec` inline, without a source.
fn project(name: &str, buildspec: &str) -> Value {
    json!({
        "name": name,
        "source": {"type": "NO_SOURCE", "buildspec": buildspec},
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": {
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL"
        },
        "serviceRole": ROLE,
        "timeoutInMinutes": 30
    })
}

fn build_commands(commands: &[&str]) -> String {
    let mut spec = "version: 0.2\nphases:\n  build:\n    commands:\n".to_string();
    for command in commands {
        spec.push_str(&format!("      - {}\n", json!(command)));
    }
    spec
}

fn start_build(server: &KilnServer, name: &str) -> Value {
    aws(
        server,
        &ACCOUNT_A,
        &["codebuild", "start-build", "--project-name", name],
    )
    .ok()["build"]
        .clone()
}

/// Whether a process whose command line holds `marker` runs on this host.
fn process_running(marker: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline")).is_ok_and(|cmdline| {
            cmdline
                .split(|&b| b == 0)
                .any(|arg| arg == marker.as_bytes())
        })
    })
}

// ---------------------------------------------------------------------------------------------
// The log limit

/// A build flooding its log in the foreground, and one whose background job floods it while
/// the foreground sleeps: both end FAILED naming the limit, within the limit, their processes
/// stopped.
fn log_limit_ends_the_build(builder: KilnServerBuilder, docker: bool) {
    let server = builder
        .args(["--max-log-bytes", &LOG_LIMIT.to_string()])
        .start();
    // Distinct per executor: both tests may run at once.
    let executor = if docker { "docker" } else { "local" };
    let foreground_marker = &format!("kiln-foreground-flood-{executor}");
    let background_marker = &format!("kiln-background-flood-{executor}");
    create_project(
        &server,
        &project(
            "foreground-flood",
            &build_commands(&["echo starting", &format!("yes {foreground_marker}")]),
        ),
    );
    create_project(
        &server,
        &project(
            "background-flood",
            &build_commands(&[&format!("yes {background_marker} &"), "sleep 600"]),
        ),
    );
    let builds = [
        start_build(&server, "foreground-flood"),
        start_build(&server, "background-flood"),
    ];
    for (build, marker) in builds
        .iter()
        .zip([foreground_marker.as_str(), background_marker.as_str()])
    {
        let started = Instant::now();
        let done = wait_build_complete(&server, id_of(build), BUILD_DEADLINE);
        assert!(started.elapsed() < BUILD_DEADLINE);
        assert_eq!(done["buildStatus"], "FAILED", "{done:#}");
        let (code, message) = context(&done, "BUILD");
        assert_eq!(code, "CLIENT_ERROR", "{message}");
        assert!(
            message.contains(&format!("limit of {LOG_LIMIT} bytes"))
                && message.contains("max_log_bytes"),
            "the reason names the limit: {message}"
        );

        let log = build_log(&done);
        assert!(
            log.len() as u64 <= LOG_LIMIT,
            "the log is {} bytes, over the limit of {LOG_LIMIT}",
            log.len()
        );
        assert!(log.contains(marker), "the output up to the limit is kept");
        let cut = format!("The build log reached its limit of {LOG_LIMIT} bytes");
        let cut_at = log
            .find(&cut)
            .unwrap_or_else(|| panic!("no cut line in:\n{log}"));
        assert!(
            !log[cut_at..].contains(marker),
            "no output after the cut line"
        );
        assert!(log.ends_with('\n'));

        if docker {
            wait_no_container(uuid_of(&done));
        } else {
            wait_until(Duration::from_secs(10), "the flood to stop", || {
                !process_running(marker)
            });
        }
        // Nothing writes to the log any more.
        let file = server
            .data_dir()
            .join("logs")
            .join(format!("{}.log", uuid_of(&done)));
        let size = std::fs::metadata(&file).unwrap().len();
        assert_eq!(size, log.len() as u64);
        let again = build_log(&done);
        assert_eq!(again.len(), log.len(), "the log grew after the build");
    }
}

#[test]
fn a_build_past_the_log_limit_ends_failed_naming_it_on_the_local_executor() {
    log_limit_ends_the_build(KilnServer::builder().args(["--executor", "local"]), false);
}

#[test]
fn a_build_past_the_log_limit_ends_failed_naming_it_under_docker() {
    if !engine_available("a_build_past_the_log_limit_ends_failed_naming_it_under_docker") {
        return;
    }
    ensure_image(&BUILD_IMAGE);
    let builder = KilnServer::builder()
        .args(["--executor", "docker"])
        .config(server_config(&BUILD_IMAGE));
    log_limit_ends_the_build(builder, true);
}

#[test]
fn the_log_limit_is_configured_by_flag_variable_or_file_and_has_a_floor() {
    let server = KilnServer::builder()
        .config("max_log_bytes = 100000")
        .start();
    create_project(
        &server,
        &project("loud", &build_commands(&["yes kiln-file-limit"])),
    );
    let done = wait_build_complete(
        &server,
        id_of(&start_build(&server, "loud")),
        BUILD_DEADLINE,
    );
    assert!(context(&done, "BUILD").1.contains("limit of 100000 bytes"));
    assert!(build_log(&done).len() <= 100_000);
    drop(server);

    let server = KilnServer::builder()
        .env("KILN_MAX_LOG_BYTES", "70000")
        .start();
    create_project(
        &server,
        &project("loud", &build_commands(&["yes kiln-env-limit"])),
    );
    let done = wait_build_complete(
        &server,
        id_of(&start_build(&server, "loud")),
        BUILD_DEADLINE,
    );
    assert!(context(&done, "BUILD").1.contains("limit of 70000 bytes"));
    drop(server);

    let refused = KilnServer::builder()
        .args(["--max-log-bytes", "1000"])
        .try_start()
        .err()
        .expect("a limit below the floor is refused");
    assert!(
        refused.contains("max_log_bytes 1000 must be at least 65536"),
        "{refused}"
    );
}

// ---------------------------------------------------------------------------------------------
// The free-space reserve

/// A tmpfs mounted on a temporary directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(bytes: u64) -> Tmpfs {
        let dir = tempfile::Builder::new()
            .prefix("kiln-tmpfs-")
            .tempdir()
            .unwrap();
        let output = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={bytes},mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .expect("running mount");
        assert!(
            output.status.success(),
            "mounting a tmpfs needs root (CI runs as root): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Free bytes an unprivileged writer may use, as `statvfs` reports them.
    fn available(&self) -> u64 {
        let output = Command::new("stat")
            .args(["-f", "-c", "%a %S"])
            .arg(self.path())
            .output()
            .unwrap();
        let text = String::from_utf8(output.stdout).unwrap();
        let (blocks, size) = text.trim().split_once(' ').unwrap();
        blocks.parse::<u64>().unwrap() * size.parse::<u64>().unwrap()
    }

    /// Fills the file system with a ballast file until `left` bytes are free (0: until the
    /// writes fail).
    fn fill_until(&self, left: u64) -> PathBuf {
        let ballast = self.path().join(format!("ballast-{left}"));
        let mut file = std::fs::File::create(&ballast).unwrap();
        let chunk = vec![0x5a_u8; 64 * 1024];
        while self.available() > left {
            let want = (self.available() - left).min(chunk.len() as u64) as usize;
            if file.write_all(&chunk[..want]).is_err() {
                break;
            }
            file.flush().unwrap();
        }
        ballast
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// The data dir's reserve in the disk tests: 16 MiB of a 64 MiB file system.
const DISK_BYTES: u64 = 64 * 1024 * 1024;
const RESERVE: u64 = 16 * 1024 * 1024;

fn server_on(disk: &Tmpfs) -> KilnServer {
    KilnServer::builder()
        .args(["--executor", "local"])
        .args(["--disk-reserve-bytes", &RESERVE.to_string()])
        .data_dir(disk.path().join("data"))
        .start()
}

/// `request` as `account`.
fn call(server: &KilnServer, account: &Account<'_>, operation: &str, input: &Value) -> HttpReply {
    signed_request(server, SignedRequest::operation(account, operation, input))
}

fn build_of_b(server: &KilnServer, id: &str) -> Value {
    let reply = call(server, &ACCOUNT_B, "BatchGetBuilds", &json!({"ids": [id]}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["builds"][0].clone()
}

#[test]
fn a_build_filling_the_data_disk_ends_fault_saying_disk_full() {
    let disk = Tmpfs::mount(DISK_BYTES);
    let server = server_on(&disk);

    // Fills the disk at once: the command fails on ENOSPC, and the reason says why.
    create_project(
        &server,
        &project(
            "fill-fast",
            &build_commands(&["head -c 200000000 /dev/zero > fill", "sleep 600"]),
        ),
    );
    let done = wait_build_complete(
        &server,
        id_of(&start_build(&server, "fill-fast")),
        BUILD_DEADLINE,
    );
    assert_eq!(done["buildStatus"], "FAULT", "{done:#}");
    let (code, message) = context(&done, "BUILD");
    assert_eq!(code, "SERVER_ERROR");
    assert!(message.contains("disk full"), "{message}");
    assert!(
        message.contains(&format!("reserve of {RESERVE} bytes")) && message.contains("data dir"),
        "the reason names the reserve and the data dir: {message}"
    );
    assert!(build_log(&done).contains("disk full"));

    // Fills it slowly: Kiln stops the build while there is still room, before any write fails.
    create_project(
        &server,
        &project(
            "fill-slow",
            &build_commands(&["while :; do head -c 1048576 /dev/zero >> fill; sleep 0.2; done"]),
        ),
    );
    let done = wait_build_complete(
        &server,
        id_of(&start_build(&server, "fill-slow")),
        BUILD_DEADLINE,
    );
    assert_eq!(done["buildStatus"], "FAULT", "{done:#}");
    let (code, message) = context(&done, "BUILD");
    assert_eq!(code, "SERVER_ERROR");
    assert!(
        message.starts_with("Build stopped: disk full: the data dir")
            && message.contains(&format!("reserve of {RESERVE} bytes")),
        "{message}"
    );
    // The build's files are gone, and with them the shortage.
    assert!(disk.available() > RESERVE);

    // Fills it with its log, under a log limit larger than the disk: Kiln stops writing the
    // log at the reserve, so the build's end is recorded at once.
    create_project(
        &server,
        &project("fill-log", &build_commands(&["yes kiln-disk-flood"])),
    );
    let done = wait_build_complete(
        &server,
        id_of(&start_build(&server, "fill-log")),
        BUILD_DEADLINE,
    );
    assert_eq!(done["buildStatus"], "FAULT", "{done:#}");
    let (_, message) = context(&done, "BUILD");
    assert!(message.contains("disk full"), "{message}");
    let available = disk.available();
    assert!(
        available > RESERVE / 2,
        "the log stopped near the reserve, {available} bytes left"
    );
}

#[test]
fn below_the_reserve_builds_wait_and_the_api_still_answers_then_says_503() {
    let disk = Tmpfs::mount(DISK_BYTES);
    let server = server_on(&disk);

    // Below the reserve, with some room left: API writes work, and a new build waits in QUEUED.
    let ballast = disk.fill_until(RESERVE / 2);
    let created = call(
        &server,
        &ACCOUNT_B,
        "CreateProject",
        &project("b-project", &build_commands(&["echo built by b"])),
    );
    assert_eq!(created.status, 200, "{}", created.body);
    let started = call(
        &server,
        &ACCOUNT_B,
        "StartBuild",
        &json!({"projectName": "b-project"}),
    );
    assert_eq!(started.status, 200, "{}", started.body);
    let id = started.json()["build"]["id"].as_str().unwrap().to_string();
    let watch_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < watch_until {
        let build = build_of_b(&server, &id);
        assert_eq!(build["currentPhase"], "QUEUED", "{build:#}");
    }
    wait_until(
        Duration::from_secs(10),
        "Kiln's log to say why builds wait",
        || {
            server
                .stderr_log()
                .contains("queued builds wait until space is freed: disk full")
        },
    );

    // Space returns: the build runs.
    std::fs::remove_file(&ballast).unwrap();
    wait_until(BUILD_DEADLINE, "the queued build to succeed", || {
        build_of_b(&server, &id)["buildStatus"] == "SUCCEEDED"
    });

    // Nothing can be written: 503 ServiceUnavailableException, never 500.
    let ballast = disk.fill_until(0);
    let big_buildspec = build_commands(&[&"x".repeat(200 * 1024)]);
    let mut unavailable = None;
    for attempt in 0..200 {
        let reply = call(
            &server,
            &ACCOUNT_B,
            "CreateProject",
            &project(&format!("full-{attempt}"), &big_buildspec),
        );
        assert!(
            reply.status == 200 || reply.status == 503,
            "CreateProject on a full disk answered {}: {}",
            reply.status,
            reply.body
        );
        if reply.status == 503 {
            unavailable = Some(reply);
            break;
        }
    }
    let reply = unavailable.expect("a full disk makes CreateProject answer 503");
    assert_eq!(reply.json()["__type"], "ServiceUnavailableException");
    let started = call(
        &server,
        &ACCOUNT_B,
        "StartBuild",
        &json!({"projectName": "b-project"}),
    );
    assert!(
        started.status == 200 || started.status == 503,
        "StartBuild on a full disk answered {}: {}",
        started.status,
        started.body
    );
    let read = call(
        &server,
        &ACCOUNT_B,
        "BatchGetProjects",
        &json!({"names": ["b-project"]}),
    );
    assert_eq!(read.status, 200, "reads still work: {}", read.body);

    // Space returns: writes work again.
    std::fs::remove_file(&ballast).unwrap();
    let created = call(
        &server,
        &ACCOUNT_B,
        "CreateProject",
        &project("after-full", &build_commands(&["echo ok"])),
    );
    assert_eq!(created.status, 200, "{}", created.body);
}
