//! Build logs through the CloudWatch Logs subset (docs/cloudwatch-logs.md), driven by the real
//! `aws` CLI and boto3: reading a finished build, following a running one, paging backwards,
//! filtering, listing groups and streams, account isolation, and the `s3Logs` copy.

// Helpers here panic on failure like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use serde_json::{Value, json};

use common::agents::{KilnAgent, agent_token, create_fleet, fleet, server_url_for};
use common::builds::{build_log, create_project, get_build, id_of, uuid_of, wait_build_complete};
use common::moto::Moto;
use common::{ACCOUNT_A, ACCOUNT_B, KilnServer, aws, boto3, wait_until};

const BUILD_DEADLINE: Duration = Duration::from_secs(120);

fn project(server: &KilnServer, name: &str, commands: &[&str], extra: Value) {
    let commands: String = commands.iter().map(|c| format!("      - {c}\n")).collect();
    let buildspec = format!("version: 0.2\nphases:\n  build:\n    commands:\n{commands}");
    let mut input = json!({
        "name": name,
        "source": {"type": "NO_SOURCE", "buildspec": buildspec},
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                        "computeType": "BUILD_GENERAL1_SMALL"},
        "serviceRole": "arn:aws:iam::111122223333:role/r",
    });
    if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
        input.extend(extra.clone());
    }
    create_project(server, &input);
}

fn run_build(server: &KilnServer, name: &str) -> Value {
    let started = aws(
        server,
        &ACCOUNT_A,
        &["codebuild", "start-build", "--project-name", name],
    )
    .ok()["build"]
        .clone();
    let done = wait_build_complete(server, id_of(&started), BUILD_DEADLINE);
    assert_eq!(done["buildStatus"], "SUCCEEDED", "{done:#}");
    get_build(server, id_of(&started))
}

fn messages(events: &Value) -> Vec<String> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_finished_build_reads_through_the_logs_api() {
    let server = KilnServer::start();
    project(
        &server,
        "demo",
        &["echo alpha-line", "echo beta needle", "echo gamma"],
        json!({}),
    );
    let build = run_build(&server, "demo");
    let uuid = uuid_of(&build);

    // BatchGetBuilds names the group, the stream, its ARN and the build's page on this Kiln.
    let logs = &build["logs"];
    assert_eq!(logs["groupName"], "/aws/codebuild/demo");
    assert_eq!(logs["streamName"], uuid);
    assert_eq!(
        logs["cloudWatchLogsArn"],
        format!(
            "arn:aws:logs:us-east-1:{}:log-group:/aws/codebuild/demo:log-stream:{uuid}",
            ACCOUNT_A.account_id
        )
    );
    assert_eq!(
        logs["deepLink"],
        format!("{}/projects/demo/builds/{uuid}", server.url())
    );
    assert_eq!(logs["cloudWatchLogs"], json!({"status": "ENABLED"}));
    assert_eq!(logs["s3Logs"], json!({"status": "DISABLED"}));

    // `aws logs get-log-events` prints the log's lines, in order, each with its time.
    let got = aws(
        &server,
        &ACCOUNT_A,
        &[
            "logs",
            "get-log-events",
            "--log-group-name",
            "/aws/codebuild/demo",
            "--log-stream-name",
            uuid,
        ],
    );
    let events = &got.ok()["events"];
    let lines = messages(events);
    let whole = build_log(&build);
    let expected: Vec<&str> = whole.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines, expected, "the events are the log's lines");
    let at = |needle: &str| lines.iter().position(|l| l == needle).unwrap();
    assert!(at("alpha-line") < at("beta needle") && at("beta needle") < at("gamma"));
    let start_millis = (build["startTime"].as_f64().unwrap() * 1000.0) as i64 - 1000;
    for event in events.as_array().unwrap() {
        let time = event["timestamp"].as_i64().unwrap();
        assert!(time >= start_millis, "{event}");
        assert_eq!(event["ingestionTime"], event["timestamp"]);
    }

    // Backward pages of two, from the tail, until the token stops moving, give the same lines.
    let paged = boto3(
        &server,
        &ACCOUNT_A,
        &format!(
            r#"
logs = boto3.client("logs", endpoint_url=os.environ["KILN_TEST_ENDPOINT"], region_name="us-east-1")
pages, token = [], None
for _ in range(200):
    params = dict(logGroupName="/aws/codebuild/demo", logStreamName="{uuid}", limit=2, startFromHead=False)
    if token:
        params["nextToken"] = token
    page = logs.get_log_events(**params)
    pages.insert(0, [e["message"] for e in page["events"]])
    if page["nextBackwardToken"] == token:
        break
    token = page["nextBackwardToken"]
bad = error_of(logs.get_log_events, logGroupName="/aws/codebuild/demo", logStreamName="{uuid}", nextToken="f/garbage")
result = {{"lines": [m for p in pages for m in p], "bad": bad}}
"#
        ),
    );
    assert_eq!(paged["lines"], json!(expected));
    assert_eq!(paged["bad"]["code"], "InvalidParameterException");

    // filter-log-events: every term must appear.
    let filter = |pattern: &str| {
        aws(
            &server,
            &ACCOUNT_A,
            &[
                "logs",
                "filter-log-events",
                "--log-group-name",
                "/aws/codebuild/demo",
                "--filter-pattern",
                pattern,
            ],
        )
        .ok()["events"]
            .clone()
    };
    let found = filter("needle beta");
    let matching: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|l| l.contains("needle") && l.contains("beta"))
        .collect();
    assert_eq!(messages(&found), matching);
    assert!(
        matching.contains(&"beta needle") && matching.len() == 2,
        "{matching:?}"
    );
    assert_eq!(found[0]["logStreamName"], uuid);
    assert!(messages(&filter("needle nowhere")).is_empty());

    // The project's group and the build's stream are listed.
    let groups = aws(
        &server,
        &ACCOUNT_A,
        &[
            "logs",
            "describe-log-groups",
            "--log-group-name-prefix",
            "/aws/codebuild/",
        ],
    );
    assert_eq!(
        groups.ok()["logGroups"][0]["logGroupName"],
        "/aws/codebuild/demo"
    );
    let streams = aws(
        &server,
        &ACCOUNT_A,
        &[
            "logs",
            "describe-log-streams",
            "--log-group-name",
            "/aws/codebuild/demo",
            "--order-by",
            "LastEventTime",
            "--descending",
        ],
    );
    assert_eq!(streams.ok()["logStreams"][0]["logStreamName"], uuid);

    // Another account's key finds nothing.
    let other = aws(
        &server,
        &ACCOUNT_B,
        &[
            "logs",
            "get-log-events",
            "--log-group-name",
            "/aws/codebuild/demo",
            "--log-stream-name",
            uuid,
        ],
    );
    assert_eq!(other.error().code, "ResourceNotFoundException");
    let other = aws(
        &server,
        &ACCOUNT_B,
        &[
            "logs",
            "describe-log-streams",
            "--log-group-name",
            "/aws/codebuild/demo",
        ],
    );
    assert_eq!(other.error().code, "ResourceNotFoundException");
    let other = aws(&server, &ACCOUNT_B, &["logs", "describe-log-groups"]);
    assert_eq!(other.ok()["logGroups"], json!([]));
}

#[test]
fn configured_group_and_stream_names_are_used() {
    let server = KilnServer::start();
    project(
        &server,
        "named",
        &["echo named-line"],
        json!({"logsConfig": {"cloudWatchLogs":
            {"status": "ENABLED", "groupName": "team-logs", "streamName": "ci"}}}),
    );
    let build = run_build(&server, "named");
    let uuid = uuid_of(&build);
    let stream = format!("ci/{uuid}");
    assert_eq!(build["logs"]["groupName"], "team-logs");
    assert_eq!(build["logs"]["streamName"], stream);
    let got = aws(
        &server,
        &ACCOUNT_A,
        &[
            "logs",
            "get-log-events",
            "--log-group-name",
            "team-logs",
            "--log-stream-name",
            &stream,
            "--start-from-head",
        ],
    );
    assert!(messages(&got.ok()["events"]).contains(&"named-line".to_owned()));
    let wrong = aws(
        &server,
        &ACCOUNT_A,
        &[
            "logs",
            "get-log-events",
            "--log-group-name",
            "/aws/codebuild/named",
            "--log-stream-name",
            uuid,
        ],
    );
    assert_eq!(wrong.error().code, "ResourceNotFoundException");
}

#[test]
fn a_boto3_loop_on_the_forward_token_follows_a_running_build() {
    let server = KilnServer::start();
    project(
        &server,
        "live",
        &["for i in 1 2 3 4 5; do echo line$i; sleep 1; done"],
        json!({}),
    );
    let started = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "start-build", "--project-name", "live"],
    )
    .ok()["build"]
        .clone();
    let id = id_of(&started);
    let uuid = uuid_of(&started);
    let followed = boto3(
        &server,
        &ACCOUNT_A,
        &format!(
            r#"
import time
logs = boto3.client("logs", endpoint_url=os.environ["KILN_TEST_ENDPOINT"], region_name="us-east-1")
lines, complete_when = [], {{}}
params = dict(logGroupName="/aws/codebuild/live", logStreamName="{uuid}", startFromHead=True)
deadline = time.time() + 120
while time.time() < deadline:
    complete = client.batch_get_builds(ids=["{id}"])["builds"][0]["buildComplete"]
    page = logs.get_log_events(**params)
    for event in page["events"]:
        lines.append(event["message"])
        complete_when[event["message"]] = complete
    if complete and page["nextForwardToken"] == params.get("nextToken"):
        break
    params["nextToken"] = page["nextForwardToken"]
    time.sleep(0.2)
whole = logs.get_log_events(logGroupName="/aws/codebuild/live", logStreamName="{uuid}", startFromHead=True)
result = {{"lines": lines, "seen_while_running": not complete_when.get("line1", True),
           "whole": [e["message"] for e in whole["events"]]}}
"#
        ),
    );
    let lines: Vec<String> = serde_json::from_value(followed["lines"].clone()).unwrap();
    let numbered: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .filter(|l| l.starts_with("line") && l.len() == 5)
        .collect();
    assert_eq!(numbered, ["line1", "line2", "line3", "line4", "line5"]);
    assert_eq!(
        followed["lines"], followed["whole"],
        "every line exactly once, in order"
    );
    assert_eq!(
        followed["seen_while_running"], true,
        "line1 arrived while the build ran"
    );
}

/// moto, a server storing artifacts in it, and a boto3 S3 client (`s3`) with bucket
/// `build-logs` made.
fn server_with_s3() -> (Moto, KilnServer, String) {
    let moto = Moto::start();
    let server = KilnServer::builder()
        .config(moto.artifacts_config())
        .start();
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
        &format!("{s3}\ns3.create_bucket(Bucket=\"build-logs\")\nresult = True\n"),
    );
    (moto, server, s3)
}

fn s3_logs_project(extra: Value) -> Value {
    let mut settings = json!({"logsConfig": {"s3Logs":
        {"status": "ENABLED", "location": "build-logs/kiln", "encryptionDisabled": true}}});
    if let (Some(settings), Some(extra)) = (settings.as_object_mut(), extra.as_object()) {
        settings.extend(extra.clone());
    }
    settings
}

#[test]
fn s3_logs_put_the_gzipped_log_in_the_artifact_store() {
    let (_moto, server, s3) = server_with_s3();
    project(
        &server,
        "copied",
        &["echo to-s3"],
        s3_logs_project(json!({})),
    );
    let build = run_build(&server, "copied");
    assert_s3_copy(&server, &s3, &build);
}

#[test]
fn s3_logs_of_a_build_an_agent_ran_are_written_by_the_server() {
    let (_moto, server, s3) = server_with_s3();
    let fleet_arn = create_fleet(&server, "pool", 1, "QUEUE");
    let token = agent_token(&server, "pool");
    // No artifact store of its own: the agent never writes the copy.
    let _agent = KilnAgent::start(&server_url_for(&server, None), &token, "agent-1", 1, None);
    wait_until(Duration::from_secs(30), "the agent connects", || {
        fleet(&server, "pool")["status"]["message"] == "1 of 1 build slots connected (1 agent)"
    });
    let environment = json!({"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                             "computeType": "BUILD_GENERAL1_SMALL", "fleet": {"fleetArn": fleet_arn}});
    project(
        &server,
        "copied",
        &["echo to-s3"],
        s3_logs_project(json!({"environment": environment})),
    );
    let build = run_build(&server, "copied");
    assert!(
        build_log(&build).contains("agent-1"),
        "the agent ran the build"
    );
    assert_s3_copy(&server, &s3, &build);
}

/// The build's s3Logs fields, and its gzip object in moto that un-gzips to its log.
fn assert_s3_copy(server: &KilnServer, s3: &str, build: &Value) {
    let uuid = uuid_of(build);
    let logs = &build["logs"];
    assert_eq!(
        logs["s3LogsArn"],
        format!("arn:aws:s3:::build-logs/kiln/{uuid}.gz")
    );
    assert_eq!(
        logs["s3Logs"],
        json!({"status": "ENABLED", "location": "build-logs/kiln", "encryptionDisabled": true})
    );
    assert!(
        logs["s3DeepLink"]
            .as_str()
            .unwrap()
            .starts_with(server.url())
    );
    let copied = boto3(
        server,
        &ACCOUNT_A,
        &format!(
            r#"{s3}
import gzip
body = s3.get_object(Bucket="build-logs", Key="kiln/{uuid}.gz")["Body"].read()
result = gzip.decompress(body).decode()
"#
        ),
    );
    let whole = build_log(build);
    assert!(whole.contains("to-s3\n"), "{whole}");
    assert_eq!(copied, json!(whole));
}
