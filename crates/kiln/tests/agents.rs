//! `kiln agent` (issue 13): machines join a fleet with one command and run its builds; every
//! fault ends as docs/agents.md says. Agents run as separate processes with work dirs of their
//! own, each in a network namespace of its own where this machine allows it (as root), so
//! they reach the server over a network address, and a test can cut that network.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::agents::{KilnAgent, Netns, agent_token, create_fleet, fleet, server_url_for};
use common::builds::{create_git_project, get_build, id_of, wait_build_complete};
use common::git::GitRepo;
use common::raw_http::RawHttp;
use common::{ACCOUNT_A, KilnServer, aws, wait_until};
use kiln_domain::agent::log_chunk;
use serde_json::{Value, json};

/// Short leases, so a dead agent's builds end within seconds.
const LEASE_SECONDS: &str = "3";

fn server(extra: &[&str]) -> KilnServer {
    KilnServer::builder()
        .listen("0.0.0.0:0")
        .args(["--lease-seconds", LEASE_SECONDS])
        .args(extra.iter().copied())
        .start()
}

/// A git repository whose buildspec runs `commands`.
fn repo_with(server: &KilnServer, name: &str, commands: &[&str]) -> GitRepo {
    let repo = GitRepo::init(server.root().join(name));
    let lines: String = commands
        .iter()
        .map(|c| format!("      - {}\n", serde_json::to_string(c).unwrap()))
        .collect();
    repo.commit(
        &[(
            "buildspec.yml",
            &format!("version: 0.2\nphases:\n  build:\n    commands:\n{lines}"),
        )],
        "build",
    );
    repo
}

/// A project building `repo`, on `fleet_arn` when given.
fn project(server: &KilnServer, name: &str, repo: &GitRepo, fleet_arn: Option<&str>) {
    let mut environment = json!({"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                                 "computeType": "BUILD_GENERAL1_SMALL"});
    if let Some(arn) = fleet_arn {
        environment["fleet"] = json!({"fleetArn": arn});
    }
    create_git_project(
        server,
        name,
        &repo.location(),
        json!({"environment": environment}),
    );
}

fn start_build(server: &KilnServer, project: &str) -> Value {
    aws(
        server,
        &ACCOUNT_A,
        &["codebuild", "start-build", "--project-name", project],
    )
    .ok()["build"]
        .clone()
}

/// The build's log as the server stores it.
fn log_of(build: &Value) -> String {
    common::builds::build_log(build)
}

/// A fleet "linux", a token for it and one agent in a namespace of its own (the agent is
/// dropped, so killed, before its namespace).
struct OneAgent {
    fleet_arn: String,
    _agent: KilnAgent,
    _netns: Option<Netns>,
}

fn one_agent(server: &KilnServer, max_builds: u32) -> OneAgent {
    let fleet_arn = create_fleet(server, "linux", max_builds, "QUEUE");
    let token = agent_token(server, "linux");
    let netns = Netns::create();
    let agent = KilnAgent::start(
        &server_url_for(server, netns.as_ref()),
        &token,
        "edge-1",
        max_builds,
        netns.as_ref(),
    );
    wait_until(Duration::from_secs(20), "the agent connects", || {
        fleet(server, "linux")["status"]["statusCode"] == "ACTIVE"
    });
    OneAgent {
        fleet_arn,
        _agent: agent,
        _netns: netns,
    }
}

#[test]
fn a_machine_joins_a_fleet_with_one_command_and_runs_its_builds() {
    let server = server(&["--no-local-builds"]);
    let setup = one_agent(&server, 2);
    let status = &fleet(&server, "linux")["status"];
    assert_eq!(
        status["message"], "2 of 2 build slots connected (1 agent)",
        "{status}"
    );

    let repo = repo_with(
        &server,
        "repo",
        &["echo built on $(hostname) as $CODEBUILD_BUILD_ID"],
    );
    project(&server, "on-fleet", &repo, Some(&setup.fleet_arn));
    project(&server, "on-demand", &repo, None);
    let fleet_build = start_build(&server, "on-fleet");
    let local_build = start_build(&server, "on-demand");

    let done = wait_build_complete(&server, id_of(&fleet_build), Duration::from_secs(60));
    assert_eq!(done["buildStatus"], "SUCCEEDED", "{done}");
    assert_eq!(done["environment"]["fleet"]["fleetArn"], setup.fleet_arn);
    let log = log_of(&done);
    assert!(
        log.contains("Running on agent edge-1 (fleet linux"),
        "{log}"
    );
    assert!(log.contains(&format!("as {}", id_of(&done))), "{log}");
    // With --no-local-builds the server runs nothing itself: the build of no fleet waits.
    let waiting = get_build(&server, id_of(&local_build));
    assert_eq!(waiting["currentPhase"], "QUEUED", "{waiting}");

    // The token is listed, and the agent's name went nowhere but the log and the console.
    let tokens = server.cli(&["agent-token", "list"]);
    let listed = String::from_utf8_lossy(&tokens.stdout);
    assert!(listed.contains("linux"), "{listed}");
    drop(setup);
}

#[test]
fn an_on_demand_fleet_without_a_free_agent_overflows_to_the_server() {
    let server = server(&[]);
    let fleet_arn = create_fleet(&server, "bursty", 1, "ON_DEMAND");
    let repo = repo_with(&server, "repo", &["echo overflowed"]);
    project(&server, "burst", &repo, Some(&fleet_arn));
    let build = start_build(&server, "burst");
    let done = wait_build_complete(&server, id_of(&build), Duration::from_secs(60));
    assert_eq!(done["buildStatus"], "SUCCEEDED", "{done}");
    assert!(log_of(&done).contains("Running on instance"));

    // A QUEUE fleet's builds wait for its agents instead.
    let queued_arn = create_fleet(&server, "patient", 1, "QUEUE");
    project(&server, "waits", &repo, Some(&queued_arn));
    let waiting = start_build(&server, "waits");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        get_build(&server, id_of(&waiting))["currentPhase"],
        "QUEUED"
    );
}

/// With a 30 s lease the heartbeat comes every 10 s: a stop well within that came through the
/// watch. (How fast it is on a quiet machine is measured, not asserted: well under a second.)
#[test]
fn stop_build_reaches_the_agent_through_the_watch() {
    let server = KilnServer::builder()
        .listen("0.0.0.0:0")
        .args(["--lease-seconds", "30"])
        .start();
    let setup = one_agent(&server, 1);
    let repo = repo_with(&server, "repo", &["echo started", "sleep 300"]);
    project(&server, "slow", &repo, Some(&setup.fleet_arn));
    let build = start_build(&server, "slow");
    wait_until(Duration::from_secs(30), "the build runs", || {
        log_of(&build).contains("started")
    });
    // Timed inside one boto3 process: the moment before StopBuild is sent, and the end of
    // the BUILD phase the agent recorded once it had stopped the command.
    let stopped = common::boto3(
        &server,
        &ACCOUNT_A,
        &format!(
            r#"
import time
asked = time.time()
client.stop_build(id="{id}")
while True:
    b = client.batch_get_builds(ids=["{id}"])["builds"][0]
    if b["buildComplete"] or time.time() > asked + 10:
        break
    time.sleep(0.05)
phase = [p for p in b["phases"] if p["phaseType"] == "BUILD"][0]
result = {{"status": b["buildStatus"], "latency": phase["endTime"].timestamp() - asked}}
"#,
            id = id_of(&build)
        ),
    );
    assert_eq!(stopped["status"], "STOPPED", "{stopped}");
    let latency = stopped["latency"].as_f64().unwrap();
    eprintln!("the agent ended the BUILD phase {latency:.2} s after StopBuild was sent");
    assert!(
        latency < 5.0,
        "the agent ended the BUILD phase {latency:.2} s after StopBuild was sent: not through \
         the watch"
    );
    drop(setup);
}

/// The pids of processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let output = std::process::Command::new("pgrep")
        .args(["-f", marker])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn kill_9_of_an_agent_ends_its_build_fault_and_its_restart_cleans_up() {
    let server = server(&[]);
    let mut setup = one_agent(&server, 1);
    let marker = "3017";
    let repo = repo_with(
        &server,
        "repo",
        &["echo started", &format!("sleep {marker}")],
    );
    project(&server, "doomed", &repo, Some(&setup.fleet_arn));
    let build = start_build(&server, "doomed");
    wait_until(Duration::from_secs(30), "the build runs", || {
        log_of(&build).contains("started")
    });
    // The next command starts after the log has shown the previous one's output.
    wait_until(Duration::from_secs(30), "the build's sleep runs", || {
        !processes_with(&format!("sleep {marker}")).is_empty()
    });

    setup._agent.kill9();
    let done = wait_build_complete(&server, id_of(&build), Duration::from_secs(20));
    assert_eq!(done["buildStatus"], "FAULT", "{done}");
    let (code, message) = common::builds::context(&done, "BUILD");
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("SERVER_ERROR", "agent edge-1 stopped renewing its lease"),
        "{done}"
    );
    // What the dead agent left is still running until the agent comes back.
    assert!(!processes_with(&format!("sleep {marker}")).is_empty());
    setup._agent.restart();
    wait_until(
        Duration::from_secs(20),
        "the restarted agent cleans up",
        || {
            processes_with(&format!("sleep {marker}")).is_empty()
                && common::agents::build_dirs(&setup._agent.work_dir()).is_empty()
        },
    );
    // Its slot is free again: the next build runs.
    let repo = repo_with(&server, "next", &["echo fine"]);
    project(&server, "next", &repo, Some(&setup.fleet_arn));
    let next = start_build(&server, "next");
    let next = wait_build_complete(&server, id_of(&next), Duration::from_secs(60));
    assert_eq!(next["buildStatus"], "SUCCEEDED", "{next}");
}

#[test]
fn a_network_cut_shorter_than_the_lease_loses_no_log_line() {
    let server = KilnServer::builder()
        .listen("0.0.0.0:0")
        .args(["--lease-seconds", "8"])
        .start();
    let setup = one_agent(&server, 1);
    let Some(netns) = setup._netns.as_ref() else {
        panic!("cutting an agent's network needs `ip netns` (run the tests as root)");
    };
    let repo = repo_with(
        &server,
        "repo",
        &["for i in $(seq 1 60); do echo line-$i; sleep 0.1; done"],
    );
    project(&server, "chatty", &repo, Some(&setup.fleet_arn));
    let build = start_build(&server, "chatty");
    wait_until(Duration::from_secs(30), "the build prints", || {
        log_of(&build).contains("line-5\n")
    });
    netns.cut();
    std::thread::sleep(Duration::from_secs(3));
    netns.mend();
    let done = wait_build_complete(&server, id_of(&build), Duration::from_secs(60));
    assert_eq!(done["buildStatus"], "SUCCEEDED", "{done}");
    let log = log_of(&done);
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with("line-")).collect();
    let expected: Vec<String> = (1..=60).map(|i| format!("line-{i}")).collect();
    assert_eq!(lines, expected, "every line once, in order:\n{log}");
}

#[test]
fn a_network_cut_longer_than_the_lease_ends_the_build_fault_for_good() {
    let server = server(&[]);
    let setup = one_agent(&server, 1);
    let Some(netns) = setup._netns.as_ref() else {
        panic!("cutting an agent's network needs `ip netns` (run the tests as root)");
    };
    let repo = repo_with(
        &server,
        "repo",
        &["echo started", "sleep 12", "echo finished"],
    );
    project(&server, "cut-off", &repo, Some(&setup.fleet_arn));
    let build = start_build(&server, "cut-off");
    wait_until(Duration::from_secs(30), "the build runs", || {
        log_of(&build).contains("started")
    });
    netns.cut();
    let done = wait_build_complete(&server, id_of(&build), Duration::from_secs(20));
    assert_eq!(done["buildStatus"], "FAULT", "{done}");
    netns.mend();
    // Back on the network, the agent learns the build is no longer its own and stops it; it
    // cannot overwrite the result.
    wait_until(Duration::from_secs(20), "the agent stops the build", || {
        common::agents::build_dirs(&setup._agent.work_dir()).is_empty()
    });
    let after = get_build(&server, id_of(&build));
    assert_eq!(after["buildStatus"], "FAULT", "{after}");
    assert!(!log_of(&after).contains("finished"));
}

#[test]
fn agent_builds_go_on_while_the_server_restarts() {
    let mut server = KilnServer::builder()
        .listen("0.0.0.0:0")
        .args(["--lease-seconds", "10"])
        .start();
    let setup = one_agent(&server, 1);
    let repo = repo_with(
        &server,
        "repo",
        &["echo started", "sleep 4", "echo after-the-restart"],
    );
    project(&server, "steady", &repo, Some(&setup.fleet_arn));
    let build = start_build(&server, "steady");
    wait_until(Duration::from_secs(30), "the build runs", || {
        log_of(&build).contains("started")
    });
    server.restart();
    let done = wait_build_complete(&server, id_of(&build), Duration::from_secs(60));
    assert_eq!(done["buildStatus"], "SUCCEEDED", "{done}");
    assert!(log_of(&done).contains("after-the-restart"));
    drop(setup);
}

/// One call of the agent protocol, as a hostile client would make it.
fn agent_call(
    server: &KilnServer,
    path: &str,
    token: &str,
    session: Option<&str>,
    body: &[u8],
) -> common::HttpReply {
    let url = format!("{}/agent/v1{path}", server.url());
    let bearer = format!("Bearer {token}");
    let mut headers = vec![("authorization", bearer.as_str())];
    if let Some(session) = session {
        headers.push(("kiln-agent-session", session));
    }
    common::http_post(&url, &headers, body)
}

fn error_type(reply: &common::HttpReply) -> String {
    reply.json()["__type"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn bad_agent_input_gets_a_clear_4xx_and_changes_nothing_of_another_build() {
    // A small log limit, which a compressed chunk must not get past.
    let server = server(&["--max-log-bytes", "1048576"]);
    let mut setup = one_agent(&server, 1);
    let token = agent_token(&server, "linux");
    let repo = repo_with(
        &server,
        "repo",
        &["echo started", "sleep 6", "echo finished"],
    );
    project(&server, "victim", &repo, Some(&setup.fleet_arn));
    let victim = start_build(&server, "victim");
    wait_until(Duration::from_secs(30), "the build runs", || {
        log_of(&victim).contains("started")
    });
    let victim_uuid = common::builds::uuid_of(&victim).to_owned();

    let wrong = agent_call(&server, "/register", "kiln_agent_guess", None, b"{}");
    assert_eq!(
        (wrong.status, error_type(&wrong).as_str()),
        (401, "AgentUnauthorizedException")
    );
    let bad_name = agent_call(
        &server,
        "/register",
        &token,
        None,
        br#"{"name":"../x","version":"1","os":"linux","arch":"x86_64","executor":"local","capacity":1,"cpus":2,"memoryMib":8192}"#,
    );
    assert_eq!(
        (bad_name.status, error_type(&bad_name).as_str()),
        (400, "InvalidInputException")
    );
    let registered = agent_call(
        &server,
        "/register",
        &token,
        None,
        br#"{"name":"intruder","version":"1","os":"linux","arch":"x86_64","executor":"local","capacity":1,"cpus":2,"memoryMib":8192}"#,
    );
    assert_eq!(registered.status, 200, "{}", registered.body);
    let session_id = registered.json()["session"].as_str().unwrap().to_owned();
    let session = Some(session_id.as_str());

    let no_session = agent_call(&server, "/heartbeat", &token, None, br#"{"builds":[]}"#);
    assert_eq!(
        (no_session.status, error_type(&no_session).as_str()),
        (410, "AgentSessionGoneException")
    );
    let malformed = agent_call(&server, "/heartbeat", &token, session, b"{\"builds\": [");
    assert_eq!(
        (malformed.status, error_type(&malformed).as_str()),
        (400, "SerializationException")
    );
    let foreign_log = agent_call(
        &server,
        &format!("/builds/{victim_uuid}/log?offset=0"),
        &token,
        session,
        b"injected by an intruder\n",
    );
    assert_eq!(
        (foreign_log.status, error_type(&foreign_log).as_str()),
        (409, "BuildNotHeldException")
    );
    // Announced over the 8 MiB limit, with `Expect: 100-continue` as a careful client sends it:
    // refused before the body is sent (a client that sends it anyway meets a closed
    // connection).
    let mut connection = RawHttp::connect(&server);
    connection.send(
        format!(
            "POST /agent/v1/builds/{victim_uuid}/log?offset=0 HTTP/1.1\r\nHost: kiln\r\n\
             Authorization: Bearer {token}\r\nKiln-Agent-Session: {}\r\n\
             Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            session_id,
            9 * 1024 * 1024
        )
        .as_bytes(),
    );
    let oversized = connection.response(false);
    assert_eq!(
        (oversized.status, error_type(&oversized).as_str()),
        (413, "RequestEntityTooLargeException")
    );
    let foreign_progress = agent_call(
        &server,
        &format!("/builds/{victim_uuid}/progress"),
        &token,
        session,
        br#"{"leaseVersion":1,"status":"SUCCEEDED","currentPhase":"COMPLETED","phases":[],"endTime":null,"resolvedSourceVersion":null,"gitRef":null,"artifacts":null,"secondaryArtifacts":[],"exportedEnvironmentVariables":[],"reportArns":[]}"#,
    );
    assert_eq!(
        (
            foreign_progress.status,
            error_type(&foreign_progress).as_str()
        ),
        (409, "BuildNotHeldException")
    );

    // Compressed log chunks for the intruder's build below, made before its short lease starts.
    let text = "a compressed line\n".repeat(1000);
    let block = log_chunk::compress(text.as_bytes()).unwrap();
    let mut bomb = block.clone();
    bomb[..4].copy_from_slice(&(1u32 << 30).to_le_bytes());
    let past_the_log_limit = log_chunk::compress(&vec![b'a'; 8 << 20]).unwrap();

    // The intruder claims a build of its own, then saves it with a stale lease version.
    project(&server, "claimed", &repo, Some(&setup.fleet_arn));
    let claimed_build = start_build(&server, "claimed");
    let claim = agent_call(&server, "/claim", &token, session, br#"{"freeSlots":1}"#);
    assert_eq!(claim.status, 200, "{}", claim.body);
    let assigned = &claim.json()["builds"][0];
    assert_eq!(
        assigned["record"]["uuid"],
        common::builds::uuid_of(&claimed_build)
    );
    let stale = assigned["leaseVersion"].as_i64().unwrap() - 1;
    let mut progress: Value = serde_json::from_str(
        r#"{"status":"IN_PROGRESS","endTime":null,"resolvedSourceVersion":null,"gitRef":null,"artifacts":null,"secondaryArtifacts":[],"exportedEnvironmentVariables":[],"reportArns":[]}"#,
    )
    .unwrap();
    progress["leaseVersion"] = json!(stale);
    progress["phases"] = assigned["record"]["phases"].clone();
    progress["currentPhase"] = assigned["record"]["current_phase"].clone();
    let stale_save = agent_call(
        &server,
        &format!(
            "/builds/{}/progress",
            common::builds::uuid_of(&claimed_build)
        ),
        &token,
        session,
        progress.to_string().as_bytes(),
    );
    assert_eq!(
        (stale_save.status, error_type(&stale_save).as_str()),
        (409, "BuildNotHeldException"),
        "{}",
        stale_save.body
    );

    // A compressed log chunk is decoded within the chunk limit, then checked as a raw one: a
    // bomb, a truncated block, a block past the log limit and an unknown encoding change nothing.
    let claimed_uuid = common::builds::uuid_of(&claimed_build).to_owned();
    let renewed = agent_call(
        &server,
        "/heartbeat",
        &token,
        session,
        json!({ "builds": [claimed_uuid] }).to_string().as_bytes(),
    );
    assert_eq!(renewed.json()["lost"], json!([]), "{}", renewed.body);
    let bearer = format!("Bearer {token}");
    let send_log = |offset: usize, encoding: &str, body: &[u8]| {
        let url = format!(
            "{}/agent/v1/builds/{claimed_uuid}/log?offset={offset}",
            server.url()
        );
        let headers = [
            ("authorization", bearer.as_str()),
            ("kiln-agent-session", session_id.as_str()),
            ("content-encoding", encoding),
        ];
        common::http_post(&url, &headers, body)
    };
    let stored = send_log(0, log_chunk::LZ4_BLOCK, &block);
    assert_eq!(stored.status, 200, "{}", stored.body);
    assert_eq!(stored.json()["size"], json!(text.len()));
    for (what, encoding, body) in [
        ("a bomb", log_chunk::LZ4_BLOCK, &bomb[..]),
        (
            "a truncated block",
            log_chunk::LZ4_BLOCK,
            &block[..block.len() / 2],
        ),
        (
            "a block past the log limit",
            log_chunk::LZ4_BLOCK,
            &past_the_log_limit[..],
        ),
        ("an unknown encoding", "gzip", &block[..]),
    ] {
        let refused = send_log(text.len(), encoding, body);
        assert_eq!(
            (refused.status, error_type(&refused).as_str()),
            (400, "InvalidInputException"),
            "{what}: {}",
            refused.body
        );
    }
    assert_eq!(log_of(&claimed_build), text);

    // The victim went on untouched.
    let done = wait_build_complete(&server, id_of(&victim), Duration::from_secs(60));
    assert_eq!(done["buildStatus"], "SUCCEEDED", "{done}");
    assert!(!log_of(&done).contains("intruder"));

    // A revoked token is refused at the next call, and its agents stop.
    let listed = String::from_utf8(server.cli(&["agent-token", "list"]).stdout).unwrap();
    for id in listed
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
    {
        let revoked = server.cli(&["agent-token", "revoke", id]);
        assert!(revoked.status.success(), "{revoked:?}");
    }
    let refused = agent_call(&server, "/heartbeat", &token, session, br#"{"builds":[]}"#);
    assert_eq!(
        (refused.status, error_type(&refused).as_str()),
        (401, "AgentUnauthorizedException")
    );
    wait_until(
        Duration::from_secs(20),
        "the agent with the revoked token stops",
        || !setup._agent.is_running(),
    );
}

#[test]
fn an_arm_fleet_refuses_an_agent_of_another_architecture() {
    let server = server(&[]);
    aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "create-fleet",
            "--name",
            "arm",
            "--base-capacity",
            "1",
            "--environment-type",
            "ARM_CONTAINER",
            "--compute-type",
            "BUILD_GENERAL1_SMALL",
        ],
    )
    .ok();
    let token = agent_token(&server, "arm");
    let mut agent = KilnAgent::start(&server_url_for(&server, None), &token, "x86-box", 1, None);
    wait_until(Duration::from_secs(20), "the refused agent exits", || {
        !agent.is_running()
    });
    let log = agent.stderr_log();
    if std::env::consts::ARCH == "x86_64" {
        assert!(
            log.contains(
                "environmentType ARM_CONTAINER runs on linux/aarch64; this agent is linux/x86_64"
            ),
            "{log}"
        );
    }
    assert_eq!(fleet(&server, "arm")["status"]["statusCode"], "CREATING");
}
