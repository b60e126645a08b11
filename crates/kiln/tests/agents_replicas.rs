//! 500 builds across two fleets of two agents each, plus the replicas' own on-demand capacity,
//! on two `kiln serve` replicas sharing one PostgreSQL database (issue 13): every build runs
//! once, on a host of its fleet, with its whole log and its artifact in the store (sent by the
//! agent itself, or through the server by agents on networks of their own).
//!
//! Needs the test cluster of `scripts/test.sh` (`KILN_TEST_POSTGRES_URL`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::agents::{KilnAgent, Netns, agent_token, create_fleet, fleet, server_url_for};
use common::builds::{create_project, curl_signed, wait_builds_where};
use common::moto::Moto;
use common::postgres::fresh_database_url;
use common::{ACCOUNT_A, KilnServer, boto3, wait_until};
use serde_json::{Value, json};

const BUILDS: usize = 500;
const BUCKET: &str = "fleet-artifacts";

fn project_on(server: &KilnServer, name: &str, fleet_arn: Option<&str>) {
    let buildspec = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"$CODEBUILD_BUILD_ID\" > out.txt\n      - echo log-complete-$CODEBUILD_BUILD_NUMBER\nartifacts:\n  files:\n    - out.txt\n";
    let mut environment = json!({"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                                 "computeType": "BUILD_GENERAL1_SMALL"});
    if let Some(arn) = fleet_arn {
        environment["fleet"] = json!({"fleetArn": arn});
    }
    create_project(
        server,
        &json!({
            "name": name,
            "source": {"type": "NO_SOURCE", "buildspec": buildspec},
            "artifacts": {"type": "S3", "location": BUCKET, "packaging": "NONE",
                          "namespaceType": "BUILD_ID"},
            "environment": environment,
            "serviceRole": "arn:aws:iam::111122223333:role/r",
        }),
    );
}

/// Who ran a build, from the first line its log starts with: `agent NAME (fleet F` or
/// `instance NAME`; and how many such lines there are.
fn runner(log: &str) -> (String, usize) {
    let lines: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split_once("Running on ").map(|(_, rest)| rest))
        .filter(|rest| rest.starts_with("agent ") || rest.starts_with("instance "))
        .collect();
    (
        lines.first().copied().unwrap_or_default().to_owned(),
        lines.len(),
    )
}

#[test]
fn five_hundred_builds_across_two_fleets_and_on_demand_each_run_once_on_their_hosts() {
    let moto = Moto::start();
    let database_url = fresh_database_url();
    let servers: Vec<KilnServer> = (0..2)
        .map(|i| {
            KilnServer::builder()
                .listen("0.0.0.0:0")
                .args([
                    "--database-url",
                    &database_url,
                    "--instance",
                    &format!("replica-{i}"),
                    "--max-concurrent-builds",
                    "2",
                ])
                .config(moto.artifacts_config())
                .start()
        })
        .collect();
    let server = &servers[0];
    boto3(
        server,
        &ACCOUNT_A,
        &format!(
            r#"
s3 = boto3.client("s3", endpoint_url={endpoint:?}, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing-secret-key")
s3.create_bucket(Bucket={BUCKET:?})
result = True
"#,
            endpoint = moto.endpoint()
        ),
    );
    let fleets: Vec<(String, String)> = ["alpha", "beta"]
        .iter()
        .map(|name| (name.to_string(), create_fleet(server, name, 4, "QUEUE")))
        .collect();
    // Two agents per fleet, each talking to a different replica. Alpha's reach the S3 store
    // themselves; beta's are on networks of their own, where only the server is reachable,
    // so their artifacts go through it.
    let mut agents: Vec<(KilnAgent, Option<Netns>)> = Vec::new();
    for (name, _) in &fleets {
        let token = agent_token(server, name);
        for (i, replica) in servers.iter().enumerate() {
            let (netns, config) = if name == "alpha" {
                (None, moto.artifacts_config())
            } else {
                (Netns::create(), String::new())
            };
            let agent = KilnAgent::start_with_config(
                &server_url_for(replica, netns.as_ref()),
                &token,
                &format!("{name}-{i}"),
                2,
                netns.as_ref(),
                &config,
            );
            agents.push((agent, netns));
        }
    }
    for (name, _) in &fleets {
        wait_until(
            Duration::from_secs(30),
            "the fleet's agents connect",
            || {
                fleet(server, name)["status"]["message"]
                    == "4 of 4 build slots connected (2 agents)"
            },
        );
    }
    project_on(server, "on-alpha", Some(&fleets[0].1));
    project_on(server, "on-beta", Some(&fleets[1].1));
    project_on(server, "on-demand", None);

    let urls: Vec<String> = servers.iter().map(|s| s.url().to_owned()).collect();
    let started: Vec<String> = serde_json::from_value(boto3(
        server,
        &ACCOUNT_A,
        &format!(
            r#"
import os
clients = [boto3.client("codebuild", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=os.environ["KILN_TEST_ACCESS_KEY_ID"],
                        aws_secret_access_key=os.environ["KILN_TEST_SECRET_ACCESS_KEY"])
           for url in {urls}]
projects = ["on-alpha", "on-beta", "on-demand"]
result = [clients[i % 2].start_build(projectName=projects[i % 3])["build"]["id"]
          for i in range({BUILDS})]
"#,
            urls = serde_json::to_string(&urls).unwrap()
        ),
    ))
    .unwrap();
    assert_eq!(started.iter().collect::<BTreeSet<_>>().len(), BUILDS);

    let mut builds: Vec<Value> = Vec::new();
    for chunk in started.chunks(100) {
        let ids: Vec<&str> = chunk.iter().map(String::as_str).collect();
        builds.extend(wait_builds_where(
            server,
            &ids,
            r#"b["buildComplete"]"#,
            Duration::from_secs(600),
        ));
    }
    let mut ran_by: BTreeMap<String, usize> = BTreeMap::new();
    for build in &builds {
        assert_eq!(build["buildStatus"], "SUCCEEDED", "{build}");
        let uuid = build["id"].as_str().unwrap().split_once(':').unwrap().1;
        let (status, log) = curl_signed(&format!("{}/builds/{uuid}/log", server.url()));
        assert_eq!(status, 200);
        let (host, count) = runner(&log);
        assert_eq!(count, 1, "the build ran once:\n{log}");
        let number = build["buildNumber"].as_i64().unwrap();
        assert!(
            log.contains(&format!("log-complete-{number}\n")),
            "the log is complete:\n{log}"
        );
        let project = build["projectName"].as_str().unwrap();
        let expected_prefix = match project {
            "on-alpha" => "agent alpha-",
            "on-beta" => "agent beta-",
            _ => "instance replica-",
        };
        assert!(host.starts_with(expected_prefix), "{project} ran on {host}");
        *ran_by
            .entry(host.split(' ').take(2).collect::<Vec<_>>().join(" "))
            .or_default() += 1;
        assert!(
            build["artifacts"]["location"]
                .as_str()
                .unwrap()
                .starts_with(&format!("arn:aws:s3:::{BUCKET}/")),
            "{build}"
        );
    }
    // Every agent took part, and each build's artifact is in the store.
    assert_eq!(
        ran_by.keys().filter(|h| h.starts_with("agent")).count(),
        4,
        "{ran_by:?}"
    );
    let stored = boto3(
        server,
        &ACCOUNT_A,
        &format!(
            r#"
s3 = boto3.client("s3", endpoint_url={endpoint:?}, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing-secret-key")
keys = []
for page in s3.get_paginator("list_objects_v2").paginate(Bucket={BUCKET:?}):
    keys += [o["Key"] for o in page.get("Contents", [])]
result = keys
"#,
            endpoint = moto.endpoint()
        ),
    );
    let keys: Vec<String> = serde_json::from_value(stored).unwrap();
    assert_eq!(keys.len(), BUILDS, "one artifact per build");
    drop(agents);
}
