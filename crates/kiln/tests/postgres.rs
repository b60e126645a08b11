//! `kiln serve --database-url postgres://…` as an operator runs it: two replicas on one
//! database, a build run by one read through the other, and the refusal of local-disk artifacts.
//! Needs the throwaway cluster that `scripts/test.sh` starts (`KILN_TEST_POSTGRES_URL`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::builds::{create_project, get_build, id_of, wait_build_complete};
use common::postgres::fresh_database_url;
use common::{ACCOUNT_A, KilnServer, aws};
use serde_json::json;

#[test]
fn local_disk_artifacts_are_refused_with_postgresql() {
    let url = fresh_database_url();
    let failure = KilnServer::builder()
        .args(["--database-url", &url])
        .try_start()
        .err()
        .expect("kiln must refuse to start");
    assert!(
        failure.contains("cannot be read through any other replica"),
        "{failure}"
    );
}

#[test]
fn a_build_run_by_one_replica_is_read_through_another() {
    let url = fresh_database_url();
    let replica = |url: &str| {
        KilnServer::builder()
            .args(["--database-url", url, "--allow-local-artifacts"])
            .start()
    };
    let first = replica(&url);
    create_project(
        &first,
        &json!({
            "name": "shared",
            "source": {
                "type": "NO_SOURCE",
                "buildspec": "version: 0.2\nphases:\n  build:\n    commands:\n      - echo hello\n"
            },
            "artifacts": {"type": "NO_ARTIFACTS"},
            "environment": {
                "type": "LINUX_CONTAINER",
                "image": "aws/codebuild/standard:7.0",
                "computeType": "BUILD_GENERAL1_SMALL"
            },
            "serviceRole": "arn:aws:iam::111122223333:role/service-role/kiln-build"
        }),
    );
    let started = aws(
        &first,
        &ACCOUNT_A,
        &["codebuild", "start-build", "--project-name", "shared"],
    )
    .ok()["build"]
        .clone();
    let build = wait_build_complete(&first, id_of(&started), Duration::from_secs(60));
    assert_eq!(build["buildStatus"], "SUCCEEDED");

    let second = replica(&url);
    assert_eq!(
        get_build(&second, id_of(&started))["buildStatus"],
        "SUCCEEDED"
    );
    let listed = aws(&second, &ACCOUNT_A, &["codebuild", "list-projects"])
        .ok()
        .clone();
    assert_eq!(listed["projects"], json!(["shared"]));
    let ids = aws(
        &second,
        &ACCOUNT_A,
        &[
            "codebuild",
            "list-builds-for-project",
            "--project-name",
            "shared",
        ],
    )
    .ok()
    .clone();
    assert_eq!(ids["ids"], json!([id_of(&started)]));
}
