//! Builds as users see them: created, started, waited for and read through the `aws` CLI,
//! boto3 and `curl --aws-sigv4`, as account A.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::{ACCOUNT_A, Account, KilnServer, aws, aws_batch, boto3, command};

/// `aws codebuild create-project --cli-input-json INPUT`; returns the `project`.
pub fn create_project(server: &KilnServer, input: &Value) -> Value {
    aws(
        server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "create-project",
            "--cli-input-json",
            &input.to_string(),
        ],
    )
    .ok()["project"]
        .clone()
}

/// `create-project` for `name` building the git repository at `location` with no artifacts on
/// the standard image; `extra` members (e.g. `sourceVersion`, `badgeEnabled`) are added.
pub fn create_git_project(server: &KilnServer, name: &str, location: &str, extra: Value) -> Value {
    let mut input = serde_json::json!({
        "name": name,
        "source": {"type": "GITHUB", "location": location},
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                        "computeType": "BUILD_GENERAL1_SMALL"},
        "serviceRole": "arn:aws:iam::111122223333:role/r",
    });
    if let (Some(input), Value::Object(extra)) = (input.as_object_mut(), extra) {
        input.extend(extra);
    }
    create_project(server, &input)
}

/// `aws codebuild batch-get-builds --ids ID`.
pub fn get_build(server: &KilnServer, id: &str) -> Value {
    aws(
        server,
        &ACCOUNT_A,
        &["codebuild", "batch-get-builds", "--ids", id],
    )
    .ok()["builds"][0]
        .clone()
}

/// Polls BatchGetBuilds (boto3, one process) until `condition` (a Python expression over a
/// build `b`) holds for every build, failing after `deadline`; returns the builds as the last
/// poll saw them, with times as epoch seconds.
pub fn wait_builds_where(
    server: &KilnServer,
    ids: &[&str],
    condition: &str,
    deadline: Duration,
) -> Vec<Value> {
    wait_builds_of(server, &ACCOUNT_A, ids, condition, deadline)
}

/// [`wait_builds_where`] for builds of `account`.
pub fn wait_builds_of(
    server: &KilnServer,
    account: &Account<'_>,
    ids: &[&str],
    condition: &str,
    deadline: Duration,
) -> Vec<Value> {
    let script = format!(
        r#"
import datetime, time

def plain(v):
    if isinstance(v, datetime.datetime):
        return v.timestamp()
    if isinstance(v, dict):
        return {{k: plain(x) for k, x in v.items()}}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v

ids = {ids}
deadline = time.time() + {secs}
while True:
    found = {{b["id"]: b for b in client.batch_get_builds(ids=ids)["builds"]}}
    if len(found) == len(ids) and all(({condition}) for b in found.values()):
        break
    if time.time() > deadline:
        raise SystemExit("timed out waiting for " + {condition:?} + ": " + json.dumps(found, default=str))
    time.sleep(0.05)
result = [plain(found[i]) for i in ids]
"#,
        ids = serde_json::to_string(ids).unwrap(),
        secs = deadline.as_secs(),
    );
    serde_json::from_value(boto3(server, account, &script)).unwrap()
}

/// Waits (up to `deadline`) for the build to complete; returns it as boto3 reads it.
pub fn wait_build_complete(server: &KilnServer, id: &str, deadline: Duration) -> Value {
    wait_builds_where(server, &[id], r#"b["buildComplete"]"#, deadline).remove(0)
}

pub fn id_of(build: &Value) -> &str {
    build["id"].as_str().unwrap()
}

/// The build's uuid: its id after the project name.
pub fn uuid_of(build: &Value) -> &str {
    id_of(build).split_once(':').unwrap().1
}

/// The build's phase of `phase_type`; panics when it has none.
pub fn phase<'a>(build: &'a Value, phase_type: &str) -> &'a Value {
    build["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["phaseType"] == phase_type)
        .unwrap_or_else(|| panic!("no {phase_type} phase in {build:#}"))
}

pub fn phase_types(build: &Value) -> Vec<String> {
    build["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phaseType"].as_str().unwrap().to_string())
        .collect()
}

/// The (statusCode, message) of the phase's first context.
pub fn context(build: &Value, phase_type: &str) -> (String, String) {
    let c = &phase(build, phase_type)["contexts"][0];
    (
        c["statusCode"].as_str().unwrap_or_default().to_string(),
        c["message"].as_str().unwrap_or_default().to_string(),
    )
}

/// `curl --aws-sigv4` of `url` as account A; returns (HTTP status, body).
pub fn curl_signed(url: &str) -> (u16, String) {
    let credentials = format!("{}:{}", ACCOUNT_A.access_key_id, ACCOUNT_A.secret);
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "30", "-w", "\n%{http_code}"])
        .args(["--aws-sigv4", "aws:amz:us-east-1:codebuild", "--user"])
        .arg(&credentials)
        .arg(url)
        .output()
        .expect("running curl");
    assert!(output.status.success(), "curl failed: {output:?}");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), body.to_string())
}

/// The SigV4-signed log endpoint of a build, `<server>/builds/<uuid>/log`, on the server its
/// `logs.deepLink` (its console page) names.
pub fn log_url(build: &Value) -> String {
    let link = build["logs"]["deepLink"].as_str().unwrap();
    let (base, _) = link.split_once("/projects/").unwrap();
    let (_, uuid) = build["id"].as_str().unwrap().rsplit_once(':').unwrap();
    format!("{base}/builds/{uuid}/log")
}

/// The whole log of a build, read from its log endpoint with SigV4.
pub fn build_log(build: &Value) -> String {
    let (status, body) = curl_signed(&log_url(build));
    assert_eq!(status, 200, "reading the log: {body}");
    body
}

/// The ids of a project's builds (`aws codebuild list-builds-for-project`), newest first.
pub fn build_ids(server: &KilnServer, project: &str) -> Vec<String> {
    let out = aws(
        server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "list-builds-for-project",
            "--project-name",
            project,
        ],
    );
    serde_json::from_value(out.ok()["ids"].clone()).unwrap()
}

/// `aws codebuild start-build --cli-input-json INPUT` for each input, in one CLI process.
pub fn start_builds(server: &KilnServer, inputs: &[Value]) -> Vec<Value> {
    let commands: Vec<Vec<String>> = inputs
        .iter()
        .map(|input| {
            command(&[
                "codebuild",
                "start-build",
                "--cli-input-json",
                &input.to_string(),
            ])
        })
        .collect();
    aws_batch(server, &ACCOUNT_A, &commands)
        .iter()
        .map(|out| out.ok()["build"].clone())
        .collect()
}
