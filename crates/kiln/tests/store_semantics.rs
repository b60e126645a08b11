//! What the store promises, as users see it through the real `kiln` binary (issue 12, first
//! slice on SQLite): page tokens that hold while builds start, one build per idempotency token
//! however many StartBuild calls race, and a deleted project's queue dropped and name freed.

// The helpers below are test code too: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::builds::{build_log, id_of, phase_types, wait_builds_of, wait_builds_where};
use common::git::GitRepo;
use common::{ACCOUNT_A, ACCOUNT_B, Account, KilnServer, aws, boto3};
use serde_json::{Value, json};

const ROLE: &str = "arn:aws:iam::111122223333:role/service-role/kiln-build";

/// A project whose builds wait, one at a time, for a `gate` file that never comes: its first
/// build runs until stopped (or two minutes pass, so a failed test leaves nothing running for
/// long) and every later one stays QUEUED.
fn one_at_a_time_project(server: &KilnServer, name: &str) {
    gated_project(server, name, 1);
}

/// A project whose builds wait for a `gate` file that never comes, `limit` at a time.
fn gated_project(server: &KilnServer, name: &str, limit: u32) {
    gated_project_of(server, &ACCOUNT_A, name, limit);
}

/// [`gated_project`] in `account`.
fn gated_project_of(server: &KilnServer, account: &Account<'_>, name: &str, limit: u32) {
    let repo = GitRepo::init(server.root().join(format!("repo-{name}")));
    repo.commit(&[("README", name)], "init");
    let input = json!({
        "name": name,
        "source": {
            "type": "GITHUB",
            "location": repo.location(),
            "buildspec": "version: 0.2\nphases:\n  build:\n    commands:\n      - for i in $(seq 1200); do [ -e ../gate ] && break; sleep 0.1; done\n"
        },
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": {
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL"
        },
        "serviceRole": ROLE,
        "concurrentBuildLimit": limit
    });
    aws(
        server,
        account,
        &[
            "codebuild",
            "create-project",
            "--cli-input-json",
            &input.to_string(),
        ],
    )
    .ok();
}

fn delete_project(server: &KilnServer, name: &str) {
    aws(
        server,
        &ACCOUNT_A,
        &["codebuild", "delete-project", "--name", name],
    )
    .ok();
}

#[test]
fn page_walks_neither_repeat_nor_skip_while_builds_start() {
    let server = KilnServer::start();
    one_at_a_time_project(&server, "walk");
    let out = boto3(
        &server,
        &ACCOUNT_A,
        r#"
for _ in range(250):
    client.start_build(projectName="walk")

def walk(call, start_between, **params):
    ids, token = [], None
    while True:
        page = call(**params, **({"nextToken": token} if token else {}))
        ids += page["ids"]
        if start_between:
            client.start_build(projectName="walk")
        token = page.get("nextToken")
        if not token:
            return ids

result = {}
for name, call, params in [
    ("account", client.list_builds, {}),
    ("project", client.list_builds_for_project, {"projectName": "walk"}),
]:
    for order in ["DESCENDING", "ASCENDING"]:
        before = walk(call, False, sortOrder=order, **params)
        during = walk(call, True, sortOrder=order, **params)
        result[f"{name} {order}"] = {"before": before, "during": during}

first = client.list_builds()
result["forged"] = error_of(client.list_builds, nextToken="Zm9yZ2Vk")
result["garbled"] = error_of(client.list_builds, nextToken=first["nextToken"][:-3] + "!!!")
result["other_listing"] = error_of(
    client.list_builds_for_project, projectName="walk", nextToken=first["nextToken"])
result["other_order"] = error_of(
    client.list_builds, sortOrder="ASCENDING", nextToken=first["nextToken"])
projects = client.list_projects()
result["project_token"] = error_of(client.list_builds, nextToken=projects.get("nextToken", "eA"))
"#,
    );
    for (walk, pages) in out.as_object().unwrap() {
        let Some(before) = pages.get("before") else {
            continue;
        };
        let before: Vec<String> = serde_json::from_value(before.clone()).unwrap();
        let during: Vec<String> = serde_json::from_value(pages["during"].clone()).unwrap();
        assert!(before.len() >= 250, "{walk}: {}", before.len());
        let mut unique = during.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), during.len(), "{walk}: an id came twice");
        if walk.ends_with("DESCENDING") {
            // Builds started during a newest-first walk are newer than its first page.
            assert_eq!(during, before, "{walk}");
        } else {
            assert_eq!(
                during[..before.len()],
                before[..],
                "{walk}: skipped or reordered"
            );
        }
    }
    for case in [
        "forged",
        "garbled",
        "other_listing",
        "other_order",
        "project_token",
    ] {
        assert_eq!(
            out[case]["code"], "InvalidInputException",
            "{case}: {out:#}"
        );
        assert_eq!(out[case]["status"], 400, "{case}");
    }
    delete_project(&server, "walk");
}

#[test]
fn racing_start_builds_with_one_idempotency_token_start_one_build() {
    let server = KilnServer::start();
    one_at_a_time_project(&server, "race");
    let out = boto3(
        &server,
        &ACCOUNT_A,
        r#"
import threading
barrier = threading.Barrier(16)
ids = []
def start():
    barrier.wait()
    build = client.start_build(projectName="race", idempotencyToken="one-token")["build"]
    ids.append(build["id"])
threads = [threading.Thread(target=start) for _ in range(16)]
for t in threads: t.start()
for t in threads: t.join()
result = {
    "started": sorted(set(ids)),
    "calls": len(ids),
    "listed": client.list_builds_for_project(projectName="race")["ids"],
}
"#,
    );
    assert_eq!(out["calls"], 16);
    assert_eq!(out["started"].as_array().unwrap().len(), 1, "{out:#}");
    assert_eq!(out["listed"], out["started"], "{out:#}");
    delete_project(&server, "race");
}

#[test]
fn a_deleted_projects_queue_is_dropped_and_its_name_starts_again_at_build_one() {
    let server = KilnServer::start();
    one_at_a_time_project(&server, "again");
    let start = |server: &KilnServer| -> Value {
        aws(
            server,
            &ACCOUNT_A,
            &["codebuild", "start-build", "--project-name", "again"],
        )
        .ok()["build"]
            .clone()
    };
    let running = start(&server);
    let queued = start(&server);
    let (running_id, queued_id) = (id_of(&running).to_string(), id_of(&queued).to_string());
    wait_builds_where(
        &server,
        &[&running_id],
        "b['currentPhase'] == 'BUILD'",
        Duration::from_secs(60),
    );
    delete_project(&server, "again");
    let ended = wait_builds_where(
        &server,
        &[&running_id, &queued_id],
        "b['buildStatus'] != 'IN_PROGRESS'",
        Duration::from_secs(30),
    );
    assert_eq!(ended[0]["buildStatus"], "STOPPED", "{:#}", ended[0]);
    let queued = &ended[1];
    assert_eq!(queued["buildStatus"], "STOPPED", "{queued:#}");
    let phases: Vec<&str> = queued["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phaseType"].as_str().unwrap())
        .collect();
    assert!(
        !phases.contains(&"BUILD"),
        "the queued build ran: {phases:?}"
    );
    assert!(
        queued.to_string().contains("project was deleted"),
        "{queued:#}"
    );

    one_at_a_time_project(&server, "again");
    let fresh = start(&server);
    assert_eq!(fresh["buildNumber"], 1, "{fresh:#}");
    let listed = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "list-builds-for-project",
            "--project-name",
            "again",
        ],
    );
    assert_eq!(listed.ok()["ids"], json!([id_of(&fresh)]));
    // The old project's builds stay readable, and stay stopped.
    let old = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "batch-get-builds",
            "--ids",
            &running_id,
            &queued_id,
        ],
    );
    let old = old.ok()["builds"].as_array().unwrap().clone();
    assert_eq!(old.len(), 2);
    assert!(
        old.iter().all(|b| b["buildStatus"] == "STOPPED"),
        "{old:#?}"
    );
    delete_project(&server, "again");
}

#[test]
fn a_stop_that_lands_while_the_build_is_claimed_ends_it_stopped_for_good() {
    let server = KilnServer::builder()
        .args(["--instance", "stop-race-1", "--max-concurrent-builds", "1"])
        .start();
    gated_project(&server, "stopped", 100);
    // Each StopBuild follows its StartBuild at once, from 12 threads: stops land while the
    // build is queued, while the scheduler claims and launches it, and while it runs.
    let out = boto3(
        &server,
        &ACCOUNT_A,
        r#"
import threading
barrier = threading.Barrier(12)
ids = []
def start_and_stop():
    barrier.wait()
    build = client.start_build(projectName="stopped")["build"]
    client.stop_build(id=build["id"])
    ids.append(build["id"])
threads = [threading.Thread(target=start_and_stop) for _ in range(12)]
for t in threads: t.start()
for t in threads: t.join()
result = {"ids": ids}
"#,
    );
    let ids: Vec<&str> = out["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 12, "{out:#}");
    let ended = wait_builds_where(&server, &ids, "b['buildComplete']", Duration::from_secs(60));
    for build in &ended {
        assert_eq!(build["buildStatus"], "STOPPED", "{build:#}");
    }
    // One build runs at a time, so another build runs only once every runner before it has
    // let go of the slot: by then no runner of a stopped build can write any more.
    let last = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "start-build", "--project-name", "stopped"],
    );
    let last_id = id_of(&last.ok()["build"]).to_string();
    wait_builds_where(
        &server,
        &[&last_id],
        "b['currentPhase'] == 'BUILD'",
        Duration::from_secs(60),
    );
    let again = wait_builds_where(&server, &ids, "True", Duration::from_secs(10));
    assert_eq!(again, ended, "a stopped build was written after it ended");
    let ran: Vec<&Value> = again
        .iter()
        .filter(|b| phase_types(b).iter().any(|p| p == "PROVISIONING"))
        .collect();
    for build in ran {
        assert!(
            build_log(build).contains("Running on instance stop-race-1"),
            "{build:#}"
        );
    }
    delete_project(&server, "stopped");
}

#[test]
fn the_account_limit_holds_across_projects_and_leaves_other_accounts_alone() {
    let server = KilnServer::builder()
        .config("instance = \"toml-replica\"\nmax_concurrent_builds_per_account = 1")
        .args(["--max-concurrent-builds", "4"])
        .start();
    gated_project(&server, "first", 10);
    gated_project(&server, "second", 10);
    gated_project_of(&server, &ACCOUNT_B, "other", 10);
    let start = |account: &Account<'_>, project: &str| -> String {
        let started = aws(
            &server,
            account,
            &["codebuild", "start-build", "--project-name", project],
        );
        id_of(&started.ok()["build"]).to_string()
    };
    let running = start(&ACCOUNT_A, "first");
    let ran = wait_builds_where(
        &server,
        &[&running],
        "b['currentPhase'] == 'BUILD'",
        Duration::from_secs(60),
    );
    let waiting = start(&ACCOUNT_A, "second");
    let other = start(&ACCOUNT_B, "other");
    // Claims go oldest first: once the newer build of the other account runs, the scheduler
    // has passed over the older one, which the account limit holds back.
    wait_builds_of(
        &server,
        &ACCOUNT_B,
        &[&other],
        "b['currentPhase'] == 'BUILD'",
        Duration::from_secs(60),
    );
    let held = wait_builds_where(&server, &[&waiting], "True", Duration::from_secs(10));
    assert_eq!(held[0]["currentPhase"], "QUEUED", "{:#}", held[0]);
    assert!(
        build_log(&ran[0]).contains("Running on instance toml-replica"),
        "{:#}",
        ran[0]
    );

    // The running build's slot, once freed, goes to the build that waited.
    let stop = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "stop-build", "--id", &running],
    );
    assert_eq!(stop.ok()["build"]["id"], running.as_str());
    wait_builds_where(
        &server,
        &[&waiting],
        "b['currentPhase'] == 'BUILD'",
        Duration::from_secs(60),
    );
    for (account, project) in [
        (&ACCOUNT_A, "first"),
        (&ACCOUNT_A, "second"),
        (&ACCOUNT_B, "other"),
    ] {
        aws(
            &server,
            account,
            &["codebuild", "delete-project", "--name", project],
        )
        .ok();
    }
}
