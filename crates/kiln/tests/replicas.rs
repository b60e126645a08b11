//! Several `kiln serve` replicas on one PostgreSQL database (issue 12): three replicas share the
//! queue, the stop requests, the badges and the logs, and a replica killed with `kill -9` loses
//! only the builds it ran, which end FAULT when their lease expires.
//!
//! Needs the test cluster of `scripts/test.sh` (`KILN_TEST_POSTGRES_URL`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::builds::{create_project, curl_signed, id_of, uuid_of, wait_builds_where};
use common::git::GitRepo;
use common::moto::Moto;
use common::postgres::fresh_database_url;
use common::{ACCOUNT_A, KilnServer, boto3, http_get, wait_until};
use serde_json::{Value, json};

const ROLE: &str = "arn:aws:iam::111122223333:role/service-role/kiln-build";
/// Short leases, so a killed replica's builds end within seconds.
const LEASE_SECONDS: u64 = 3;

/// Three replicas on one fresh database, with artifacts in moto's S3, and a directory every
/// replica's builds may read and write (their local source root and the shared output file).
struct Replicas {
    servers: Vec<KilnServer>,
    shared: tempfile::TempDir,
    _moto: Moto,
}

impl Replicas {
    fn start(count: usize) -> Replicas {
        let moto = Moto::start();
        let database_url = fresh_database_url();
        let shared = tempfile::Builder::new()
            .prefix("kiln-replicas-")
            .tempdir()
            .unwrap();
        // Local builds run as uids of their own when Kiln is root: the shared dir is theirs too.
        std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let servers = (0..count)
            .map(|i| {
                KilnServer::builder()
                    .args([
                        "--database-url",
                        &database_url,
                        "--instance",
                        &format!("replica-{i}"),
                        "--lease-seconds",
                        &LEASE_SECONDS.to_string(),
                        "--max-concurrent-builds",
                        "4",
                    ])
                    .config(moto.artifacts_config())
                    .local_source_roots(&ACCOUNT_A, &[shared.path()])
                    .start()
            })
            .collect();
        Replicas {
            servers,
            shared,
            _moto: moto,
        }
    }

    fn shared_file(&self, name: &str) -> PathBuf {
        let path = self.shared.path().join(name);
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        path
    }

    fn urls(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.url().to_string()).collect()
    }
}

/// A project without source whose builds run `commands`.
fn sourceless_project(server: &KilnServer, name: &str, commands: &[&str], extra: Value) -> Value {
    let buildspec = format!(
        "version: 0.2\nphases:\n  build:\n    commands:\n{}",
        commands
            .iter()
            .map(|c| format!("      - {}\n", serde_json::to_string(c).unwrap()))
            .collect::<String>()
    );
    let mut input = json!({
        "name": name,
        "source": {"type": "NO_SOURCE", "buildspec": buildspec},
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                        "computeType": "BUILD_GENERAL1_SMALL"},
        "serviceRole": ROLE,
    });
    if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
        input.extend(extra.clone());
    }
    create_project(server, &input)
}

/// Starts `count` builds of `project`, round-robin across `urls`, in one boto3 process; returns
/// their ids in start order.
fn start_round_robin(
    server: &KilnServer,
    urls: &[String],
    project: &str,
    count: usize,
) -> Vec<String> {
    let script = format!(
        r#"
import os
clients = [boto3.client("codebuild", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=os.environ["KILN_TEST_ACCESS_KEY_ID"],
                        aws_secret_access_key=os.environ["KILN_TEST_SECRET_ACCESS_KEY"])
           for url in {urls}]
result = [clients[i % len(clients)].start_build(projectName={project:?})["build"]["id"]
          for i in range({count})]
"#,
        urls = serde_json::to_string(urls).unwrap(),
    );
    serde_json::from_value(boto3(server, &ACCOUNT_A, &script)).unwrap()
}

/// Waits for every build to satisfy `condition`, reading through `server` 100 ids at a time.
fn wait_all(
    server: &KilnServer,
    ids: &[String],
    condition: &str,
    deadline: Duration,
) -> Vec<Value> {
    let started = Instant::now();
    let mut builds = Vec::new();
    for chunk in ids.chunks(100) {
        let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let left = deadline
            .saturating_sub(started.elapsed())
            .max(Duration::from_secs(1));
        builds.extend(wait_builds_where(server, &chunk, condition, left));
    }
    builds
}

/// The instance that ran (or runs) a build, as its log says.
fn runner_of(server: &KilnServer, uuid: &str) -> Option<String> {
    let (status, log) = curl_signed(&format!("{}/builds/{uuid}/log", server.url()));
    assert_eq!(status, 200, "{log}");
    log.lines()
        .find_map(|line| line.split("Running on instance ").nth(1))
        .map(|rest| {
            rest.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string()
        })
}

fn wait_runner(server: &KilnServer, uuid: &str) -> String {
    let mut runner = None;
    wait_until(
        Duration::from_secs(30),
        "the build to start on a replica",
        || {
            runner = runner_of(server, uuid);
            runner.is_some()
        },
    );
    runner.unwrap()
}

/// The uuid part of a build id (`project:uuid`).
fn uuid_in(id: &str) -> &str {
    id.split_once(':').unwrap().1
}

fn replica_index(instance: &str) -> usize {
    instance.trim_start_matches("replica-").parse().unwrap()
}

#[test]
fn replicas_without_configured_keys_share_the_key_the_first_one_generated() {
    let database_url = fresh_database_url();
    let replica = || {
        KilnServer::builder()
            .without_accounts()
            .args(["--database-url", &database_url, "--allow-local-artifacts"])
            .start()
    };
    let first = replica();
    let second = replica();
    let announced = |server: &KilnServer| {
        server
            .stdout_lines()
            .iter()
            .filter_map(|l| {
                l.trim()
                    .strip_prefix("aws configure set aws_access_key_id ")
            })
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let key_id = announced(&first);
    assert_eq!(
        key_id.len(),
        1,
        "the first replica generated and announced one key"
    );
    assert!(
        announced(&second).is_empty(),
        "the second one generated none"
    );
    let secret = first
        .stdout_lines()
        .iter()
        .find_map(|l| {
            l.trim()
                .strip_prefix("aws configure set aws_secret_access_key ")
                .map(str::to_owned)
        })
        .unwrap();
    let account_id = first
        .stdout_lines()
        .iter()
        .find_map(|l| {
            l.strip_prefix("Generated an access key for account ")
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_owned)
        })
        .unwrap();
    let generated = common::Account {
        access_key_id: &key_id[0],
        secret: &secret,
        account_id: &account_id,
    };
    let listed = common::aws(&second, &generated, &["codebuild", "list-projects"]);
    assert_eq!(listed.ok()["projects"], json!([]));
}

#[test]
fn three_hundred_builds_started_round_robin_each_run_exactly_once() {
    let replicas = Replicas::start(3);
    let ids_file = replicas.shared_file("ids");
    let server = &replicas.servers[0];
    sourceless_project(
        server,
        "many",
        &[&format!(
            "echo $CODEBUILD_BUILD_ID >> {}",
            ids_file.display()
        )],
        json!({}),
    );
    let ids = start_round_robin(server, &replicas.urls(), "many", 300);
    let builds = wait_all(
        &replicas.servers[2],
        &ids,
        r#"b["buildComplete"]"#,
        Duration::from_secs(240),
    );
    let statuses: BTreeMap<String, usize> = builds.iter().fold(BTreeMap::new(), |mut m, b| {
        *m.entry(b["buildStatus"].as_str().unwrap().to_string())
            .or_default() += 1;
        m
    });
    assert_eq!(statuses, BTreeMap::from([("SUCCEEDED".to_string(), 300)]));
    let written = std::fs::read_to_string(&ids_file).unwrap();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for line in written.lines() {
        *seen.entry(line).or_default() += 1;
    }
    for id in &ids {
        assert_eq!(seen.get(id.as_str()), Some(&1), "{id} ran once");
    }
    assert_eq!(seen.len(), 300, "no other build ran");
    // Every replica took its share of the queue.
    let mut runners = BTreeMap::new();
    for id in ids.iter().step_by(10) {
        *runners
            .entry(runner_of(server, uuid_in(id)).unwrap())
            .or_insert(0) += 1;
    }
    assert!(
        runners.len() >= 2,
        "builds ran on several replicas: {runners:?}"
    );
}

/// The intervals (start, end) during which each build ran, from its phase timestamps: from the
/// start of PROVISIONING to the end of its last phase.
fn run_intervals(builds: &[Value]) -> Vec<(f64, f64)> {
    builds
        .iter()
        .map(|b| {
            let phases = b["phases"].as_array().unwrap();
            let start = phases
                .iter()
                .find(|p| p["phaseType"] == "PROVISIONING")
                .and_then(|p| p["startTime"].as_f64())
                .unwrap();
            let end = phases
                .iter()
                .filter_map(|p| p["endTime"].as_f64())
                .fold(start, f64::max);
            (start, end)
        })
        .collect()
}

#[test]
fn a_concurrent_build_limit_holds_across_replicas() {
    let replicas = Replicas::start(3);
    let server = &replicas.servers[1];
    sourceless_project(
        server,
        "limited",
        &["sleep 1"],
        json!({"concurrentBuildLimit": 2}),
    );
    let ids = start_round_robin(server, &replicas.urls(), "limited", 9);
    let builds = wait_all(
        server,
        &ids,
        r#"b["buildComplete"]"#,
        Duration::from_secs(120),
    );
    assert!(builds.iter().all(|b| b["buildStatus"] == "SUCCEEDED"));
    let intervals = run_intervals(&builds);
    let mut most = 0;
    for &(start, _) in &intervals {
        let overlapping = intervals
            .iter()
            .filter(|&&(s, e)| s <= start && start < e)
            .count();
        most = most.max(overlapping);
    }
    assert_eq!(
        most, 2,
        "at most two at once, and the limit was used: {intervals:?}"
    );
}

#[test]
fn a_killed_replica_loses_only_its_builds_and_the_others_drain_the_queue() {
    let mut replicas = Replicas::start(3);
    let server = &replicas.servers[0];
    sourceless_project(server, "long", &["sleep 6"], json!({}));
    // 4 builds per replica at most: 12 run, 6 wait in the queue.
    let ids = start_round_robin(server, &replicas.urls(), "long", 18);
    let running = wait_all(
        server,
        &ids[..1],
        r#"b["currentPhase"] == "BUILD""#,
        Duration::from_secs(60),
    );
    let victim = replica_index(&wait_runner(server, uuid_of(&running[0])));
    let survivor = (victim + 1) % 3;
    // Which builds the victim runs when it dies.
    let mut on_victim = Vec::new();
    for id in &ids {
        if runner_of(&replicas.servers[survivor], uuid_in(id)).as_deref()
            == Some(format!("replica-{victim}").as_str())
        {
            on_victim.push(id.clone());
        }
    }
    replicas.servers[victim].kill9();
    let killed_at = Instant::now();
    let killed_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let survivor = &replicas.servers[survivor];
    let builds = wait_all(
        survivor,
        &ids,
        r#"b["buildComplete"]"#,
        Duration::from_secs(120),
    );
    for build in &builds {
        let id = id_of(build).to_string();
        if on_victim.contains(&id) {
            assert_eq!(
                build["buildStatus"], "FAULT",
                "{id} ran on the killed replica"
            );
            let context = build["phases"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p["contexts"].as_array())
                .flatten()
                .filter_map(|c| c["message"].as_str())
                .collect::<Vec<_>>()
                .join(" ");
            assert!(
                context.contains("stopped renewing its lease"),
                "{id}: {context}"
            );
        } else {
            assert_eq!(build["buildStatus"], "SUCCEEDED", "{id} did not run on it");
        }
    }
    assert!(!on_victim.is_empty(), "the killed replica ran builds");
    // Within the lease time plus the once-a-second sweep and a margin for a loaded machine.
    let last_fault = builds
        .iter()
        .filter(|b| on_victim.contains(&id_of(b).to_string()))
        .filter_map(|b| b["endTime"].as_f64())
        .fold(0.0, f64::max);
    let bound = LEASE_SECONDS as f64 + 5.0;
    assert!(
        last_fault - killed_epoch < bound,
        "the killed replica's builds ended {:.1} s after the kill (bound {bound} s)",
        last_fault - killed_epoch
    );
    assert!(
        killed_at.elapsed() < Duration::from_secs(120),
        "drained in bounded time"
    );
}

#[test]
fn a_stop_sent_to_one_replica_stops_a_build_running_on_another() {
    let replicas = Replicas::start(3);
    let server = &replicas.servers[0];
    sourceless_project(server, "stoppable", &["sleep 120"], json!({}));
    let id = start_round_robin(server, &replicas.urls(), "stoppable", 1).remove(0);
    wait_all(
        server,
        std::slice::from_ref(&id),
        r#"b["currentPhase"] == "BUILD""#,
        Duration::from_secs(60),
    );
    let runner = replica_index(&wait_runner(server, uuid_in(&id)));
    let other = &replicas.servers[(runner + 1) % 3];
    // Timed inside one boto3 process, from the moment StopBuild is sent to the moment the
    // build reads as complete through the replica that took the stop.
    let script = format!(
        r#"
import time
asked = time.time()
stopped = client.stop_build(id={id:?})["build"]["id"]
while True:
    build = client.batch_get_builds(ids=[{id:?}])["builds"][0]
    if build["buildComplete"] or time.time() - asked > 10:
        break
    time.sleep(0.02)
result = {{"stopped": stopped, "status": build["buildStatus"], "took": time.time() - asked}}
"#
    );
    let outcome = boto3(other, &ACCOUNT_A, &script);
    assert_eq!(outcome["stopped"], json!(id));
    assert_eq!(outcome["status"], "STOPPED");
    // STOPPED within the script's 10 s: the stop crossed replicas (a lost one would leave the
    // build running for its 120 s). How fast is a measurement, not a test's business: the
    // machine's load decides it.
    let took = outcome["took"].as_f64().unwrap();
    eprintln!("stopped in {took:.2} s");
}

/// A git repository in the replicas' shared source root with a buildspec that passes or fails
/// on the content of `outcome`.
fn outcome_repo(dir: &Path) -> GitRepo {
    let repo = GitRepo::init(dir.join("repo"));
    repo.commit(
        &[
            (
                "buildspec.yml",
                "version: 0.2\nphases:\n  build:\n    commands:\n      - test \"$(cat outcome)\" = pass\n",
            ),
            ("outcome", "pass"),
        ],
        "passing",
    );
    repo
}

fn badge_status(server: &KilnServer, badge_url: &str) -> String {
    let path = badge_url.split_once("/badges").unwrap().1;
    let reply = http_get(&format!("{}/badges{path}", server.url()), &[]);
    assert_eq!(reply.status, 200);
    // The badge's accessible name is "<label>: <status>".
    let label = reply
        .body
        .split_once("aria-label=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .unwrap_or_else(|| panic!("no aria-label in {}", reply.body))
        .0;
    label.rsplit_once(": ").unwrap().1.to_string()
}

#[test]
fn a_badge_read_through_one_replica_follows_builds_run_by_another() {
    let replicas = Replicas::start(3);
    let repo = outcome_repo(replicas.shared.path());
    let server = &replicas.servers[0];
    let project = create_project(
        server,
        &json!({
            "name": "badged",
            "source": {"type": "GITHUB", "location": repo.location()},
            "sourceVersion": "main",
            "badgeEnabled": true,
            "artifacts": {"type": "NO_ARTIFACTS"},
            "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                            "computeType": "BUILD_GENERAL1_SMALL"},
            "serviceRole": ROLE,
        }),
    );
    let badge_url = project["badge"]["badgeRequestUrl"]
        .as_str()
        .unwrap()
        .to_string();
    for (outcome, expected) in [
        ("pass", "passing"),
        ("fail", "failing"),
        ("pass", "passing"),
    ] {
        repo.commit(&[("outcome", outcome)], outcome);
        let id = start_round_robin(server, &replicas.urls(), "badged", 1).remove(0);
        wait_all(
            server,
            std::slice::from_ref(&id),
            r#"b["buildComplete"]"#,
            Duration::from_secs(60),
        );
        let runner = replica_index(&wait_runner(server, uuid_in(&id)));
        let reader = &replicas.servers[(runner + 1) % 3];
        // Within the cross-replica bound (goal p99 < 100 ms; allow a slow machine).
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let status = badge_status(reader, &badge_url);
            if status == expected {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "badge says {status}, not {expected}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn a_log_is_followed_live_through_a_replica_that_does_not_run_the_build() {
    let replicas = Replicas::start(3);
    let release = replicas.shared_file("release");
    let server = &replicas.servers[0];
    sourceless_project(
        server,
        "chatty",
        &[
            "echo first line",
            &format!(
                "while ! grep -q go {}; do sleep 0.1; done",
                release.display()
            ),
            "echo second line",
        ],
        json!({}),
    );
    let id = start_round_robin(server, &replicas.urls(), "chatty", 1).remove(0);
    let uuid = uuid_in(&id).to_string();
    let runner = replica_index(&wait_runner(server, &uuid));
    let reader = &replicas.servers[(runner + 1) % 3];
    let log_url = format!("{}/builds/{uuid}/log", reader.url());
    let mut log = String::new();
    wait_until(
        Duration::from_secs(30),
        "the first line through another replica",
        || {
            log = curl_signed(&log_url).1;
            log.contains("first line")
        },
    );
    assert!(!log.contains("second line"));
    // Follow from where the first read ended, as a tail does.
    let offset = log.len();
    std::fs::write(&release, "go").unwrap();
    let mut rest = String::new();
    wait_until(Duration::from_secs(30), "the rest of the log", || {
        rest = curl_signed(&format!("{log_url}?offset={offset}")).1;
        rest.contains("second line")
    });
    assert!(
        !rest.contains("first line"),
        "the offset skips what was read"
    );
}
