//! Parameter Store and Secrets Manager on Kiln's one endpoint, driven with the real `aws` CLI:
//! values put through the APIs reach builds as environment variables, are masked in the build
//! log, never appear in BatchGetBuilds, stay within their account, and are stored encrypted
//! (docs/secrets.md).

// Helpers here panic on failure like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use common::agents::{KilnAgent, agent_token, create_fleet, server_url_for};
use common::builds::{build_log, context, create_project, id_of, wait_build_complete};
use common::{ACCOUNT_A, ACCOUNT_B, Account, KilnServer, SignedRequest, aws, signed_request};

const BUILD_DEADLINE: Duration = Duration::from_secs(120);
const PARAMETER_VALUE: &str = "ssm-Secure-Value-7f3a9c";
const SECRET_PASSWORD: &str = "sm-json-Password-41d2e8";

/// A NO_SOURCE project of account A with `buildspec`, and `variables` in its environment.
fn project(server: &KilnServer, name: &str, buildspec: &str, variables: Value) {
    project_on(server, name, buildspec, variables, json!(null));
}

/// As [`project`], on the fleet `fleet` (a `{"fleetArn": …}`, or null for none).
fn project_on(server: &KilnServer, name: &str, buildspec: &str, variables: Value, fleet: Value) {
    let mut input = json!({
        "name": name,
        "source": {"type": "NO_SOURCE", "buildspec": buildspec},
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                        "computeType": "BUILD_GENERAL1_SMALL",
                        "environmentVariables": variables},
        "serviceRole": "arn:aws:iam::111122223333:role/r",
    });
    if !fleet.is_null() {
        input["environment"]["fleet"] = fleet;
    }
    create_project(server, &input);
}

/// Starts a build of `name` as account A and waits for it to complete.
fn build(server: &KilnServer, name: &str) -> Value {
    let started = aws(
        server,
        &ACCOUNT_A,
        &["codebuild", "start-build", "--project-name", name],
    );
    let id = started.ok()["build"]["id"].as_str().unwrap().to_owned();
    wait_build_complete(server, &id, BUILD_DEADLINE)
}

fn put_secure_parameter(server: &KilnServer, account: &Account<'_>, name: &str, value: &str) {
    let out = aws(
        server,
        account,
        &[
            "ssm",
            "put-parameter",
            "--name",
            name,
            "--value",
            value,
            "--type",
            "SecureString",
        ],
    );
    assert_eq!(out.ok()["Version"], 1);
}

/// Every file under `dir` (the database, its WAL, the build logs…), as bytes.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            found.push((path.display().to_string(), bytes));
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Neither the data dir's files (SQLite's database) nor, on PostgreSQL, a dump of the
/// server's database hold `plaintext`.
fn assert_stored_encrypted(server: &KilnServer, plaintext: &str) {
    let files = files_under(server.data_dir());
    assert!(
        files.iter().any(|(name, _)| name.ends_with("secrets.key")),
        "the key is in the data dir"
    );
    for (name, bytes) in &files {
        assert!(!contains(bytes, plaintext), "{name} holds the plaintext");
    }
    if common::postgres::suites_use_postgres() {
        let url = common::postgres::database_of(server.data_dir());
        let dump = std::process::Command::new("pg_dump")
            .args(["--data-only", &url])
            .output()
            .expect("running pg_dump");
        assert!(
            dump.status.success(),
            "{}",
            String::from_utf8_lossy(&dump.stderr)
        );
        assert!(
            contains(&dump.stdout, "COPY public.ssm_parameters"),
            "the dump has the tables"
        );
        assert!(
            !contains(&dump.stdout, plaintext),
            "the database dump holds the plaintext"
        );
    }
}

#[test]
fn a_secure_parameter_reaches_the_build_masked_and_nowhere_else() {
    let server = KilnServer::start();
    put_secure_parameter(&server, &ACCOUNT_A, "/ci/token", PARAMETER_VALUE);
    let again = aws(
        &server,
        &ACCOUNT_A,
        &[
            "ssm",
            "put-parameter",
            "--name",
            "/ci/token",
            "--value",
            "x",
            "--type",
            "String",
        ],
    );
    assert_eq!(again.error().code, "ParameterAlreadyExists");

    // Without decryption the value is the stored ciphertext, with it the value.
    let hidden = aws(
        &server,
        &ACCOUNT_A,
        &["ssm", "get-parameter", "--name", "/ci/token"],
    );
    let hidden = &hidden.ok()["Parameter"];
    assert_eq!(hidden["Type"], "SecureString");
    assert_ne!(hidden["Value"], PARAMETER_VALUE);
    let shown = aws(
        &server,
        &ACCOUNT_A,
        &[
            "ssm",
            "get-parameter",
            "--name",
            "/ci/token",
            "--with-decryption",
        ],
    );
    assert_eq!(shown.ok()["Parameter"]["Value"], PARAMETER_VALUE);
    let by_path = aws(
        &server,
        &ACCOUNT_A,
        &[
            "ssm",
            "get-parameters-by-path",
            "--path",
            "/ci",
            "--with-decryption",
        ],
    );
    assert_eq!(by_path.ok()["Parameters"][0]["Value"], PARAMETER_VALUE);

    project(
        &server,
        "uses-ssm",
        "version: 0.2\nenv:\n  parameter-store:\n    TOKEN: /ci/token\nphases:\n  build:\n    \
         commands:\n      - echo \"token=$TOKEN\"\n      - printf '%s' \"$TOKEN\" | sha256sum\n",
        json!([]),
    );
    let done = build(&server, "uses-ssm");
    assert_eq!(done["buildStatus"], "SUCCEEDED", "{done:#}");
    let log = build_log(&done);
    assert!(log.contains("token=***\n"), "{log}");
    assert!(!log.contains(PARAMETER_VALUE), "{log}");
    // The command saw the whole value.
    let digest = hex::encode(Sha256::digest(PARAMETER_VALUE.as_bytes()));
    assert!(log.contains(&digest), "{log}");

    let listed = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "batch-get-builds", "--ids", id_of(&done)],
    );
    assert!(!listed.stdout.contains(PARAMETER_VALUE));
    assert_stored_encrypted(&server, PARAMETER_VALUE);
}

#[test]
fn a_secrets_manager_variable_picks_a_key_of_a_json_secret() {
    let server = KilnServer::start();
    let secret = json!({"user": "ci", "password": SECRET_PASSWORD}).to_string();
    let created = aws(
        &server,
        &ACCOUNT_A,
        &[
            "secretsmanager",
            "create-secret",
            "--name",
            "ci/db",
            "--secret-string",
            &secret,
        ],
    );
    let arn = created.ok()["ARN"].as_str().unwrap().to_owned();
    assert!(arn.starts_with("arn:aws:secretsmanager:us-east-1:111122223333:secret:ci/db-"));
    let duplicate = aws(
        &server,
        &ACCOUNT_A,
        &[
            "secretsmanager",
            "create-secret",
            "--name",
            "ci/db",
            "--secret-string",
            "x",
        ],
    );
    assert_eq!(duplicate.error().code, "ResourceExistsException");
    let read = aws(
        &server,
        &ACCOUNT_A,
        &["secretsmanager", "get-secret-value", "--secret-id", &arn],
    );
    assert_eq!(read.ok()["SecretString"], secret);
    assert_eq!(read.ok()["VersionStages"], json!(["AWSCURRENT"]));

    // A new version: the first becomes AWSPREVIOUS.
    let rotated = json!({"user": "ci", "password": "rotated"}).to_string();
    let put = aws(
        &server,
        &ACCOUNT_A,
        &[
            "secretsmanager",
            "put-secret-value",
            "--secret-id",
            "ci/db",
            "--secret-string",
            &rotated,
        ],
    );
    put.ok();
    let described = aws(
        &server,
        &ACCOUNT_A,
        &["secretsmanager", "describe-secret", "--secret-id", "ci/db"],
    );
    let stages = described.ok()["VersionIdsToStages"]
        .as_object()
        .unwrap()
        .clone();
    assert_eq!(stages.len(), 2, "{stages:?}");

    project(
        &server,
        "uses-sm",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"pw=$PW user=$DB_USER\"\n      \
         - printf '%s' \"$PW\" | sha256sum\n",
        json!([
            {"name": "PW", "value": "ci/db:password:AWSPREVIOUS:", "type": "SECRETS_MANAGER"},
            {"name": "DB_USER", "value": format!("{arn}:user::"), "type": "SECRETS_MANAGER"},
        ]),
    );
    let done = build(&server, "uses-sm");
    assert_eq!(done["buildStatus"], "SUCCEEDED", "{done:#}");
    let log = build_log(&done);
    assert!(log.contains("pw=*** user=***\n"), "{log}");
    let digest = hex::encode(Sha256::digest(SECRET_PASSWORD.as_bytes()));
    assert!(
        log.contains(&digest),
        "the AWSPREVIOUS password's key: {log}"
    );
    assert!(!log.contains(SECRET_PASSWORD));
    let listed = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "batch-get-builds", "--ids", id_of(&done)],
    );
    assert!(!listed.stdout.contains(SECRET_PASSWORD));
    assert!(
        listed.stdout.contains("ci/db:password:AWSPREVIOUS:"),
        "the reference is shown"
    );
    assert_stored_encrypted(&server, SECRET_PASSWORD);

    let deleted = aws(
        &server,
        &ACCOUNT_A,
        &[
            "secretsmanager",
            "delete-secret",
            "--secret-id",
            "ci/db",
            "--force-delete-without-recovery",
        ],
    );
    deleted.ok();
    let gone = aws(
        &server,
        &ACCOUNT_A,
        &["secretsmanager", "get-secret-value", "--secret-id", "ci/db"],
    );
    assert_eq!(gone.error().code, "ResourceNotFoundException");
}

#[test]
fn a_missing_parameter_fails_provisioning_with_a_client_error() {
    let server = KilnServer::start();
    project(
        &server,
        "missing",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo never\n",
        json!([{"name": "DB_PASSWORD", "value": "/no/such/parameter", "type": "PARAMETER_STORE"}]),
    );
    let done = build(&server, "missing");
    assert_eq!(done["buildStatus"], "FAILED");
    let (code, message) = context(&done, "PROVISIONING");
    assert_eq!(code, "CLIENT_ERROR");
    assert!(message.contains("DB_PASSWORD"), "{message}");
    let log = build_log(&done);
    assert!(log.contains("DB_PASSWORD"), "{log}");
    assert!(!log.contains("never\n"));
}

#[test]
fn another_account_cannot_read_the_parameter() {
    let server = KilnServer::start();
    put_secure_parameter(&server, &ACCOUNT_A, "/team/key", PARAMETER_VALUE);
    let other = aws(
        &server,
        &ACCOUNT_B,
        &[
            "ssm",
            "get-parameter",
            "--name",
            "/team/key",
            "--with-decryption",
        ],
    );
    assert_eq!(other.error().code, "ParameterNotFound");
    let arn = "arn:aws:ssm:us-east-1:111122223333:parameter/team/key";
    let by_arn = aws(
        &server,
        &ACCOUNT_B,
        &["ssm", "get-parameter", "--name", arn, "--with-decryption"],
    );
    assert!(!by_arn.status.success());
    assert!(!by_arn.stdout.contains(PARAMETER_VALUE));
    let listed = aws(&server, &ACCOUNT_B, &["ssm", "describe-parameters"]);
    assert_eq!(listed.ok()["Parameters"], json!([]));
    // B may use the same name for its own value.
    put_secure_parameter(&server, &ACCOUNT_B, "/team/key", "b-value");
    let own = aws(
        &server,
        &ACCOUNT_A,
        &[
            "ssm",
            "get-parameter",
            "--name",
            "/team/key",
            "--with-decryption",
        ],
    );
    assert_eq!(own.ok()["Parameter"]["Value"], PARAMETER_VALUE);
}

#[test]
fn a_signature_for_codebuild_cannot_call_parameter_store() {
    let server = KilnServer::start();
    put_secure_parameter(&server, &ACCOUNT_A, "/scoped", PARAMETER_VALUE);
    let input = json!({"Name": "/scoped", "WithDecryption": true});
    let mut request = SignedRequest::operation(&ACCOUNT_A, "GetParameter", &input);
    request.target = Some("AmazonSSM.GetParameter".into());
    let refused = signed_request(&server, request.clone());
    assert_eq!(refused.status, 400);
    assert!(!refused.body.contains(PARAMETER_VALUE));
    assert!(
        refused.json()["__type"]
            .as_str()
            .unwrap()
            .contains("Signature"),
        "{:?}",
        refused.json()
    );
    request.service = "ssm".into();
    let accepted = signed_request(&server, request);
    assert_eq!(accepted.status, 200);
    assert_eq!(accepted.json()["Parameter"]["Value"], PARAMETER_VALUE);
}

#[test]
fn an_agents_build_gets_the_values_from_the_server_and_masks_them() {
    let server = KilnServer::builder().arg("--no-local-builds").start();
    let fleet_arn = create_fleet(&server, "linux", 1, "QUEUE");
    let token = agent_token(&server, "linux");
    let _agent = KilnAgent::start(&server_url_for(&server, None), &token, "edge-1", 1, None);
    put_secure_parameter(&server, &ACCOUNT_A, "/ci/agent-token", PARAMETER_VALUE);
    project_on(
        &server,
        "on-agent",
        "version: 0.2\nenv:\n  parameter-store:\n    TOKEN: /ci/agent-token\nphases:\n  build:\n    \
         commands:\n      - echo \"token=$TOKEN\"\n      - printf '%s' \"$TOKEN\" | sha256sum\n",
        json!([]),
        json!({"fleetArn": fleet_arn}),
    );
    let done = build(&server, "on-agent");
    assert_eq!(done["buildStatus"], "SUCCEEDED", "{done:#}");
    let log = build_log(&done);
    assert!(log.contains("Running on agent edge-1"), "{log}");
    assert!(log.contains("token=***\n"), "{log}");
    assert!(!log.contains(PARAMETER_VALUE), "{log}");
    let digest = hex::encode(Sha256::digest(PARAMETER_VALUE.as_bytes()));
    assert!(log.contains(&digest), "{log}");
}

#[test]
fn a_server_with_another_secrets_key_refuses_to_start() {
    let mut first = KilnServer::start();
    put_secure_parameter(&first, &ACCOUNT_A, "/ci/sealed", "under the first key");
    assert!(first.sigterm().success());
    // The same database, another key: it could read none of the values, so it does not start.
    let refused = KilnServer::builder()
        .data_dir(first.data_dir())
        .env("KILN_SECRETS_KEY", common::SHARED_SECRETS_KEY)
        .try_start();
    let failure = refused
        .err()
        .expect("a server with another key refuses to start");
    assert!(
        failure.contains(
            "this secrets key is not the one the database's parameters and secrets are sealed with"
        ),
        "{failure}"
    );
    // With its own key again, the value reads as it was written.
    first.restart();
    let got = aws(
        &first,
        &ACCOUNT_A,
        &[
            "ssm",
            "get-parameter",
            "--name",
            "/ci/sealed",
            "--with-decryption",
        ],
    );
    assert_eq!(got.ok()["Parameter"]["Value"], "under the first key");
}
