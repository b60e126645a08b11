//! The CodeBuild project API as users meet it: the real `kiln` binary driven by the real `aws`
//! CLI and boto3.

// The helpers below are test code too: a panic is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::postgres;
use common::{
    ACCOUNT_A, ACCOUNT_B, Account, AwsCli, AwsOutput, KilnServer, SignedRequest, aws, aws_batch,
    boto3, command, file_mode, http_get, http_post, signed_request, signed_requests, wait_until,
};
use serde_json::{Value, json};

const ROLE: &str = "arn:aws:iam::111122223333:role/service-role/kiln-build";

/// The smallest valid `CreateProject` input.
fn minimal(name: &str) -> Value {
    json!({
        "name": name,
        "source": {"type": "GITHUB", "location": "https://github.com/example/app.git"},
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": {
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL"
        },
        "serviceRole": ROLE
    })
}

/// A project with every main member set.
fn full_project(name: &str) -> Value {
    json!({
        "name": name,
        "description": "Every member of the Project shape",
        "source": {
            "type": "GITHUB",
            "location": "https://github.com/example/app.git",
            "gitCloneDepth": 1,
            "gitSubmodulesConfig": {"fetchSubmodules": true},
            "buildspec": "version: 0.2\nphases:\n  build:\n    commands:\n      - make test\n",
            "auth": {"type": "OAUTH"},
            "reportBuildStatus": true,
            "buildStatusConfig": {"context": "kiln", "targetUrl": "https://ci.example.com/app"},
            "insecureSsl": false
        },
        "secondarySources": [
            {
                "type": "CODECOMMIT",
                "location": "https://git-codecommit.us-east-1.amazonaws.com/v1/repos/lib",
                "sourceIdentifier": "lib"
            },
            {"type": "S3", "location": "assets-bucket/assets.zip", "sourceIdentifier": "assets"}
        ],
        "sourceVersion": "main",
        "secondarySourceVersions": [{"sourceIdentifier": "lib", "sourceVersion": "refs/heads/dev"}],
        "artifacts": {
            "type": "S3",
            "location": "artifact-bucket",
            "path": "builds",
            "namespaceType": "BUILD_ID",
            "name": "app.zip",
            "packaging": "ZIP",
            "overrideArtifactName": true,
            "encryptionDisabled": false,
            "bucketOwnerAccess": "FULL"
        },
        "secondaryArtifacts": [{
            "type": "S3",
            "location": "artifact-bucket",
            "artifactIdentifier": "reports",
            "packaging": "NONE"
        }],
        "cache": {"type": "LOCAL", "modes": ["LOCAL_DOCKER_LAYER_CACHE", "LOCAL_SOURCE_CACHE"]},
        "environment": {
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_MEDIUM",
            "environmentVariables": [
                {"name": "STAGE", "value": "test", "type": "PLAINTEXT"},
                {"name": "DB_URL", "value": "/app/db-url", "type": "PARAMETER_STORE"},
                {"name": "TOKEN", "value": "arn:aws:secretsmanager:us-east-1:111122223333:secret:t", "type": "SECRETS_MANAGER"}
            ],
            "privilegedMode": true,
            "certificate": "cert-bucket/ca.pem",
            "imagePullCredentialsType": "CODEBUILD"
        },
        "serviceRole": ROLE,
        "timeoutInMinutes": 90,
        "queuedTimeoutInMinutes": 120,
        "encryptionKey": "alias/aws/s3",
        "tags": [{"key": "team", "value": "platform"}, {"key": "cost:center", "value": "42"}],
        "vpcConfig": {
            "vpcId": "vpc-0abc",
            "subnets": ["subnet-1", "subnet-2"],
            "securityGroupIds": ["sg-1"]
        },
        "logsConfig": {
            "cloudWatchLogs": {"status": "ENABLED", "groupName": "builds", "streamName": "app"},
            "s3Logs": {"status": "ENABLED", "location": "log-bucket/app", "encryptionDisabled": true}
        },
        "fileSystemLocations": [{
            "type": "EFS",
            "location": "fs-1.efs.us-east-1.amazonaws.com:/data",
            "mountPoint": "/mnt/data",
            "identifier": "data",
            "mountOptions": "nfsvers=4.1"
        }],
        "buildBatchConfig": {"serviceRole": ROLE, "combineArtifacts": false, "timeoutInMins": 60},
        "concurrentBuildLimit": 3
    })
}

fn create_project(server: &KilnServer, account: &Account<'_>, input: &Value) -> Value {
    let out = aws(
        server,
        account,
        &[
            "codebuild",
            "create-project",
            "--cli-input-json",
            &input.to_string(),
        ],
    );
    out.ok()["project"].clone()
}

/// The one project `batch-get-projects` returns for `name`.
fn get_project(server: &KilnServer, account: &Account<'_>, name: &str) -> Value {
    let out = aws(
        server,
        account,
        &["codebuild", "batch-get-projects", "--names", name],
    );
    let found = out.ok();
    assert_eq!(found["projectsNotFound"], json!([]), "{found}");
    assert_eq!(
        found["projects"].as_array().map(Vec::len),
        Some(1),
        "{found}"
    );
    found["projects"][0].clone()
}

/// Splits a badge URL into its base and query parameters.
fn badge_url_parts(url: &str) -> (String, BTreeMap<String, String>) {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let params = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    (base.to_string(), params)
}

fn badge_token(project: &Value) -> String {
    let url = project["badge"]["badgeRequestUrl"]
        .as_str()
        .unwrap_or_else(|| panic!("no badgeRequestUrl in {project}"));
    badge_url_parts(url).1["uuid"].clone()
}

#[test]
fn create_with_every_member_then_get_returns_them_with_a_badge() {
    let server = KilnServer::builder()
        .arg("--public-url")
        .arg("https://kiln.example.com/")
        .start();
    let input = full_project("full-app");
    let out = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "create-project",
            "--badge-enabled",
            "--cli-input-json",
            &input.to_string(),
        ],
    );
    let created = out.ok()["project"].clone();
    let project = get_project(&server, &ACCOUNT_A, "full-app");
    assert_eq!(
        created, project,
        "create and batch-get return the same project"
    );

    for (member, sent) in input.as_object().unwrap() {
        assert_eq!(&project[member], sent, "member {member} comes back as sent");
    }
    assert_eq!(
        project["arn"],
        "arn:aws:codebuild:us-east-1:111122223333:project/full-app"
    );
    let created_at = project["created"]
        .as_f64()
        .expect("created is epoch seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - created_at).abs() < 120.0,
        "created {created_at} is now"
    );
    assert_eq!(project["lastModified"], project["created"]);

    assert_eq!(project["badge"]["badgeEnabled"], true);
    let url = project["badge"]["badgeRequestUrl"].as_str().unwrap();
    let (base, params) = badge_url_parts(url);
    assert_eq!(base, "https://kiln.example.com/badges");
    assert_eq!(
        params.keys().collect::<Vec<_>>(),
        ["branch", "uuid"],
        "{url}"
    );
    assert_eq!(params["branch"], "main");
    let token = &params["uuid"];
    assert!(token.len() >= 22, "{token} carries at least 128 bits");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{token} is URL-safe"
    );
    for secret in ["full-app", "full", ACCOUNT_A.account_id, "1111"] {
        assert!(!token.contains(secret), "{token} reveals {secret}");
    }

    // The token survives an update and turning badges off and on.
    let out = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "update-project",
            "--name",
            "full-app",
            "--description",
            "changed",
        ],
    );
    assert_eq!(badge_token(&out.ok()["project"]), *token);
    let out = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "update-project",
            "--name",
            "full-app",
            "--no-badge-enabled",
        ],
    );
    assert_eq!(out.ok()["project"]["badge"], json!({"badgeEnabled": false}));
    let out = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "update-project",
            "--name",
            "full-app",
            "--badge-enabled",
        ],
    );
    assert_eq!(out.ok()["project"]["badge"]["badgeRequestUrl"], url);

    // Without a sourceVersion the default branch is unknown: no `branch`. Tokens differ.
    let out = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "create-project",
            "--badge-enabled",
            "--cli-input-json",
            &minimal("no-branch").to_string(),
        ],
    );
    let other = out.ok()["project"].clone();
    let (base, params) = badge_url_parts(other["badge"]["badgeRequestUrl"].as_str().unwrap());
    assert_eq!(base, "https://kiln.example.com/badges");
    assert_eq!(params.keys().collect::<Vec<_>>(), ["uuid"]);
    assert_ne!(&params["uuid"], token);
    assert_eq!(other["timeoutInMinutes"], 60, "default timeout");
    assert_eq!(
        other["queuedTimeoutInMinutes"], 480,
        "default queued timeout"
    );
}

#[test]
fn update_changes_only_the_members_given() {
    let server = KilnServer::start();
    let mut input = minimal("app");
    input["description"] = json!("first");
    input["tags"] = json!([{"key": "team", "value": "platform"}]);
    let environment = json!({
        "type": "LINUX_CONTAINER",
        "image": "aws/codebuild/standard:6.0",
        "computeType": "BUILD_GENERAL1_LARGE"
    });
    let arn = "arn:aws:codebuild:us-east-1:111122223333:project/app";
    let outputs = aws_batch(
        &server,
        &ACCOUNT_A,
        &[
            command(&[
                "codebuild",
                "create-project",
                "--cli-input-json",
                &input.to_string(),
            ]),
            command(&[
                "codebuild",
                "update-project",
                "--name",
                "app",
                "--description",
                "second",
                "--timeout-in-minutes",
                "30",
                "--environment",
                &environment.to_string(),
            ]),
            command(&["codebuild", "batch-get-projects", "--names", "app"]),
            // The ARN names the project too.
            command(&[
                "codebuild",
                "update-project",
                "--name",
                arn,
                "--queued-timeout-in-minutes",
                "100",
            ]),
            // `name` only identifies the project: a new name is a project that does not exist.
            command(&[
                "codebuild",
                "update-project",
                "--name",
                "renamed",
                "--description",
                "x",
            ]),
            command(&[
                "codebuild",
                "update-project",
                "--name",
                "missing-project",
                "--description",
                "x",
            ]),
            command(&[
                "codebuild",
                "batch-get-projects",
                "--names",
                "app",
                "renamed",
            ]),
        ],
    );
    let before = &outputs[0].ok()["project"];
    let updated = &outputs[1].ok()["project"];
    assert_eq!(updated, &outputs[2].ok()["projects"][0]);
    assert_eq!(updated["description"], "second");
    assert_eq!(updated["timeoutInMinutes"], 30);
    assert_eq!(updated["environment"], environment);
    for (member, value) in before.as_object().unwrap() {
        let changed = [
            "description",
            "timeoutInMinutes",
            "environment",
            "lastModified",
        ];
        if !changed.contains(&member.as_str()) {
            assert_eq!(&updated[member], value, "{member} did not change");
        }
    }
    assert_eq!(updated["created"], before["created"]);
    assert!(
        updated["lastModified"].as_f64() > before["lastModified"].as_f64(),
        "lastModified moves: {} then {}",
        before["lastModified"],
        updated["lastModified"]
    );

    let by_arn = &outputs[3].ok()["project"];
    assert_eq!(by_arn["arn"], arn);
    assert_eq!(by_arn["name"], "app");
    assert_eq!(by_arn["queuedTimeoutInMinutes"], 100);
    assert_eq!(by_arn["description"], "second");

    for (out, missing) in outputs[4..6].iter().zip(["renamed", "missing-project"]) {
        let err = out.error();
        assert_eq!(err.code, "ResourceNotFoundException");
        assert_eq!(err.operation, "UpdateProject");
        assert_eq!(err.message, format!("Project cannot be found: {missing}"));
    }
    let found = outputs[6].ok();
    assert_eq!(found["projects"][0]["name"], "app");
    assert_eq!(found["projects"][0]["queuedTimeoutInMinutes"], 100);
    assert_eq!(found["projectsNotFound"], json!(["renamed"]));
}

/// Expected `ListProjects` order: by the key, ties by name, in the sort order.
fn expected_order(details: &Value, sort_by: &str, descending: bool) -> Vec<String> {
    let mut names: Vec<(f64, String)> = details
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, times)| {
            let key = match sort_by {
                "CREATED_TIME" => times[0].as_f64().unwrap(),
                "LAST_MODIFIED_TIME" => times[1].as_f64().unwrap(),
                _ => 0.0,
            };
            (key, name.clone())
        })
        .collect();
    names.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    if descending {
        names.reverse();
    }
    names.into_iter().map(|(_, name)| name).collect()
}

#[test]
fn list_sorts_every_way_pages_by_100_and_delete_removes() {
    let server = KilnServer::start();
    // 103 projects created out of name order, a few touched later, all from one process.
    let listed = boto3(
        &server,
        &ACCOUNT_A,
        &format!(
            r#"
n = 103
for i in [(i * 37) % n for i in range(n)]:
    client.create_project(
        name=f"proj-{{i:03d}}",
        source={{"type": "GITHUB", "location": "https://github.com/example/app.git"}},
        artifacts={{"type": "NO_ARTIFACTS"}},
        environment={{"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0", "computeType": "BUILD_GENERAL1_SMALL"}},
        serviceRole="{ROLE}",
    )
for i in [5, 50, 0, 102, 77]:
    client.update_project(name=f"proj-{{i:03d}}", description="touched")
names = [f"proj-{{i:03d}}" for i in range(n)]
details = {{}}
for chunk in (names[:100], names[100:]):
    for p in client.batch_get_projects(names=chunk)["projects"]:
        details[p["name"]] = [p["created"].timestamp(), p["lastModified"].timestamp()]
listings = {{}}
for sort_by in ["NAME", "CREATED_TIME", "LAST_MODIFIED_TIME"]:
    for order in ["ASCENDING", "DESCENDING"]:
        pages, token = [], None
        while True:
            params = {{"sortBy": sort_by, "sortOrder": order}}
            if token:
                params["nextToken"] = token
            page = client.list_projects(**params)
            pages.append(page["projects"])
            token = page.get("nextToken")
            if not token:
                break
        listings[f"{{sort_by}} {{order}}"] = pages
plain = client.list_projects()
result = {{
    "details": details,
    "listings": listings,
    "plain": plain["projects"],
    "plain_has_next": "nextToken" in plain,
    "bad_sort": error_of(client.list_projects, sortBy="SIZE"),
    "bad_order": error_of(client.list_projects, sortOrder="UP"),
    "bad_token": error_of(client.list_projects, nextToken="not-a-token"),
}}
"#
        ),
    );
    let details = &listed["details"];
    assert_eq!(details.as_object().unwrap().len(), 103);
    for sort_by in ["NAME", "CREATED_TIME", "LAST_MODIFIED_TIME"] {
        for (order, descending) in [("ASCENDING", false), ("DESCENDING", true)] {
            let pages = listed["listings"][format!("{sort_by} {order}")]
                .as_array()
                .unwrap();
            let sizes: Vec<usize> = pages.iter().map(|p| p.as_array().unwrap().len()).collect();
            assert_eq!(sizes, [100, 3], "{sort_by} {order} pages");
            let names: Vec<String> = pages
                .iter()
                .flat_map(|p| p.as_array().unwrap())
                .map(|n| n.as_str().unwrap().to_string())
                .collect();
            assert_eq!(
                names,
                expected_order(details, sort_by, descending),
                "{sort_by} {order}"
            );
        }
    }
    let by_name = expected_order(details, "NAME", false);
    assert_eq!(
        listed["plain"],
        json!(by_name[..100]),
        "default: by name, ascending"
    );
    assert_eq!(listed["plain_has_next"], true);
    // The most recently touched projects come first by LAST_MODIFIED_TIME DESCENDING.
    let recent = expected_order(details, "LAST_MODIFIED_TIME", true);
    assert_eq!(
        recent[..5],
        ["proj-077", "proj-102", "proj-000", "proj-050", "proj-005"]
    );
    for (case, field) in [
        ("bad_sort", "sortBy"),
        ("bad_order", "sortOrder"),
        ("bad_token", "nextToken"),
    ] {
        let err = &listed[case];
        assert_eq!(err["code"], "InvalidInputException", "{case}: {err}");
        assert!(
            err["message"].as_str().unwrap().contains(field),
            "{case}: {err}"
        );
    }

    let arn = "arn:aws:codebuild:us-east-1:111122223333:project/proj-001";
    let outputs = aws_batch(
        &server,
        &ACCOUNT_A,
        &[
            // The CLI follows nextToken by itself.
            command(&[
                "codebuild",
                "list-projects",
                "--sort-by",
                "LAST_MODIFIED_TIME",
                "--sort-order",
                "DESCENDING",
            ]),
            command(&["codebuild", "delete-project", "--name", "proj-000"]),
            command(&[
                "codebuild",
                "batch-get-projects",
                "--names",
                arn,
                "proj-000",
                "nope",
            ]),
            command(&["codebuild", "list-projects"]),
            command(&["codebuild", "delete-project", "--name", "proj-000"]),
        ],
    );
    assert_eq!(outputs[0].ok()["projects"], json!(recent));
    assert!(outputs[0].ok().get("nextToken").is_none());
    outputs[1].ok();
    let found = outputs[2].ok();
    assert_eq!(found["projects"].as_array().unwrap().len(), 1);
    assert_eq!(found["projects"][0]["arn"], arn);
    assert_eq!(found["projectsNotFound"], json!(["proj-000", "nope"]));
    assert_eq!(outputs[3].ok()["projects"], json!(by_name[1..]));
    let err = outputs[4].error();
    assert_eq!(err.code, "ResourceNotFoundException");
    assert_eq!(err.message, "Project cannot be found: proj-000");
}

/// Checks that a CLI command failed with `code` and a message containing every fragment.
fn expect_error(out: &AwsOutput, args: &[String], code: &str, operation: &str, fragments: &[&str]) {
    let err = out.error();
    assert_eq!(err.code, code, "{args:?}: {}", err.message);
    assert_eq!(err.operation, operation, "{args:?}");
    for fragment in fragments {
        assert!(
            err.message.contains(fragment),
            "{args:?}: {:?} lacks {fragment:?}",
            err.message
        );
    }
}

#[test]
fn create_refuses_invalid_projects_naming_the_field() {
    let server = KilnServer::start();
    let pattern = "failed to satisfy constraint: Member must satisfy regular expression pattern";
    let enum_set = "Member must satisfy enum value set";
    let cases: Vec<(Value, &str, Vec<&str>)> = vec![
        (
            json!({"name": "-leading-dash"}),
            "InvalidInputException",
            vec!["'name'", pattern],
        ),
        (
            json!({"name": "has.dot"}),
            "InvalidInputException",
            vec!["'has.dot' at 'name'", pattern],
        ),
        (
            json!({"name": "x".repeat(151)}),
            "InvalidInputException",
            vec![
                "at 'name'",
                "Member must have length between 2 and 150, inclusive",
            ],
        ),
        (
            json!({"source": {"type": "SVN", "location": "svn://x"}}),
            "InvalidInputException",
            vec!["'SVN' at 'source.type'", enum_set],
        ),
        (
            json!({"source": {"type": "GITHUB"}}),
            "InvalidInputException",
            vec!["Value null at 'source.location'", "Member must not be null"],
        ),
        (
            json!({"artifacts": {"type": "FTP"}}),
            "InvalidInputException",
            vec!["'FTP' at 'artifacts.type'", enum_set],
        ),
        (
            json!({"environment": {"type": "LINUX", "image": "i", "computeType": "HUGE"}}),
            "InvalidInputException",
            vec![
                "2 validation errors",
                "'LINUX' at 'environment.type'",
                "'HUGE' at 'environment.computeType'",
            ],
        ),
        (
            json!({"timeoutInMinutes": 2161}),
            "InvalidInputException",
            vec![
                "'2161' at 'timeoutInMinutes'",
                "Member must have value between 5 and 2160, inclusive",
            ],
        ),
        (
            json!({"queuedTimeoutInMinutes": 481}),
            "InvalidInputException",
            vec![
                "'481' at 'queuedTimeoutInMinutes'",
                "Member must have value between 5 and 480, inclusive",
            ],
        ),
        (
            json!({"environment": {
                "type": "LINUX_CONTAINER", "image": "i", "computeType": "BUILD_GENERAL1_SMALL",
                "environmentVariables": [{"name": "A", "value": "1"}, {"name": "B", "value": "2", "type": "PLAIN"}]
            }}),
            "InvalidInputException",
            vec![
                "'PLAIN' at 'environment.environmentVariables.2.member.type'",
                "PARAMETER_STORE",
            ],
        ),
        (
            json!({"serviceRole": "arn:aws:s3:::bucket"}),
            "InvalidInputException",
            vec!["at 'serviceRole'", "IAM role ARN"],
        ),
        (
            json!({"badgeEnabled": true, "source": {"type": "S3", "location": "bucket/src.zip"}}),
            "InvalidInputException",
            vec!["Build badges are not supported for S3 source"],
        ),
        (
            json!({"badgeEnabled": true, "source": {"type": "CODEPIPELINE"}, "artifacts": {"type": "CODEPIPELINE"}}),
            "InvalidInputException",
            vec!["Build badges are not supported for CodePipeline source"],
        ),
        (
            json!({"badgeEnabled": true, "source": {"type": "NO_SOURCE", "buildspec": "version: 0.2"}}),
            "InvalidInputException",
            vec!["Build badges are not supported for NO_SOURCE source"],
        ),
    ];
    let create = |input: &Value| {
        command(&[
            "codebuild",
            "create-project",
            "--cli-input-json",
            &input.to_string(),
        ])
    };
    let mut commands: Vec<Vec<String>> = cases
        .iter()
        .enumerate()
        .map(|(i, (change, _, _))| {
            let mut input = minimal(&format!("case-{i}"));
            for (member, value) in change.as_object().unwrap() {
                input[member] = value.clone();
            }
            create(&input)
        })
        .collect();
    commands.push(create(&minimal("dup")));
    commands.push(create(&minimal("dup")));
    commands.push(command(&["codebuild", "list-projects"]));
    let outputs = aws_batch(&server, &ACCOUNT_A, &commands);

    for (i, (_, code, fragments)) in cases.iter().enumerate() {
        expect_error(&outputs[i], &commands[i], code, "CreateProject", fragments);
    }
    let [first_dup, second_dup, listed] = &outputs[cases.len()..] else {
        panic!("{} outputs", outputs.len())
    };
    assert_eq!(first_dup.ok()["project"]["name"], "dup");
    expect_error(
        second_dup,
        &commands[cases.len() + 1],
        "ResourceAlreadyExistsException",
        "CreateProject",
        &["Project already exists: dup"],
    );
    // Nothing refused was stored.
    assert_eq!(listed.ok()["projects"], json!(["dup"]));
}

#[test]
fn update_refuses_invalid_changes_and_keeps_the_project() {
    let server = KilnServer::start();
    let mut badged = minimal("badged");
    badged["badgeEnabled"] = json!(true);
    let mut sourceless = minimal("sourceless");
    sourceless["source"] = json!({"type": "NO_SOURCE", "buildspec": "version: 0.2"});
    let setup: Vec<Vec<String>> = [minimal("app"), badged, sourceless]
        .iter()
        .map(|input| {
            command(&[
                "codebuild",
                "create-project",
                "--cli-input-json",
                &input.to_string(),
            ])
        })
        .collect();
    let created = aws_batch(&server, &ACCOUNT_A, &setup);
    let original = created[0].ok()["project"].clone();
    for out in &created {
        out.ok();
    }

    let update = |extra: &[&str]| {
        let mut args = vec!["codebuild", "update-project"];
        args.extend_from_slice(extra);
        args.iter().map(ToString::to_string).collect::<Vec<_>>()
    };
    let bad_vars = json!({
        "type": "LINUX_CONTAINER", "image": "i", "computeType": "BUILD_GENERAL1_SMALL",
        "environmentVariables": [{"name": "A", "value": "1", "type": "SECRET"}]
    })
    .to_string();
    let cases: Vec<(Vec<String>, &str, Vec<&str>)> = vec![
        (
            update(&["--name", "app", "--timeout-in-minutes", "2161"]),
            "InvalidInputException",
            vec!["'2161' at 'timeoutInMinutes'", "between 5 and 2160"],
        ),
        (
            update(&["--name", "app", "--queued-timeout-in-minutes", "481"]),
            "InvalidInputException",
            vec!["'481' at 'queuedTimeoutInMinutes'", "between 5 and 480"],
        ),
        (
            update(&["--name", "app", "--environment", &bad_vars]),
            "InvalidInputException",
            vec!["'SECRET' at 'environment.environmentVariables.1.member.type'"],
        ),
        (
            update(&["--name", "app", "--service-role", "arn:aws:iam::12:role/x"]),
            "InvalidInputException",
            vec!["at 'serviceRole'", "IAM role ARN"],
        ),
        (
            update(&["--name", "app", "--source", "type=SVN,location=svn://x"]),
            "InvalidInputException",
            vec!["'SVN' at 'source.type'"],
        ),
        (
            update(&["--name", "app", "--artifacts", "type=S3"]),
            "InvalidInputException",
            vec!["Value null at 'artifacts.location'"],
        ),
        (
            update(&[
                "--name",
                "app",
                "--badge-enabled",
                "--source",
                "type=S3,location=bucket/src.zip",
            ]),
            "InvalidInputException",
            vec!["Build badges are not supported for S3 source"],
        ),
        (
            update(&["--name", "badged", "--source", "type=CODEPIPELINE"]),
            "InvalidInputException",
            vec!["Build badges are not supported for CodePipeline source"],
        ),
        (
            update(&["--name", "sourceless", "--badge-enabled"]),
            "InvalidInputException",
            vec!["Build badges are not supported for NO_SOURCE source"],
        ),
        (
            update(&["--name", "ghost", "--description", "x"]),
            "ResourceNotFoundException",
            vec!["Project cannot be found: ghost"],
        ),
    ];
    let mut commands: Vec<Vec<String>> = cases.iter().map(|(args, _, _)| args.clone()).collect();
    commands.push(command(&[
        "codebuild",
        "batch-get-projects",
        "--names",
        "app",
        "badged",
    ]));
    let outputs = aws_batch(&server, &ACCOUNT_A, &commands);
    for (i, (args, code, fragments)) in cases.iter().enumerate() {
        expect_error(&outputs[i], args, code, "UpdateProject", fragments);
    }
    let after = outputs.last().unwrap().ok();
    assert_eq!(
        after["projects"][0], original,
        "refused updates change nothing"
    );
    assert_eq!(after["projects"][1]["source"]["type"], "GITHUB");
    assert_eq!(after["projects"][1]["badge"]["badgeEnabled"], true);
}

#[test]
fn limits_botocore_checks_itself_are_enforced_by_the_server_too() {
    let server = KilnServer::start();
    // raw_client skips botocore's own validation, as other SDKs or hand-made requests would.
    let outcome = boto3(
        &server,
        &ACCOUNT_A,
        &format!(
            r#"
base = dict(
    name="app",
    source={{"type": "GITHUB", "location": "https://github.com/example/app.git"}},
    artifacts={{"type": "NO_ARTIFACTS"}},
    environment={{"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0", "computeType": "BUILD_GENERAL1_SMALL"}},
    serviceRole="{ROLE}",
)
def without(member):
    return {{k: v for k, v in base.items() if k != member}}
result = {{
    "short_name": error_of(raw_client.create_project, **{{**base, "name": "a"}}),
    "timeout_4": error_of(raw_client.create_project, **{{**base, "timeoutInMinutes": 4}}),
    "queued_4": error_of(raw_client.create_project, **{{**base, "queuedTimeoutInMinutes": 4}}),
    "var_without_value": error_of(raw_client.create_project, **{{**base, "environment": {{**base["environment"], "environmentVariables": [{{"name": "A"}}]}}}}),
}}
for member in ["name", "source", "artifacts", "environment", "serviceRole"]:
    result["missing_" + member] = error_of(raw_client.create_project, **without(member))
client.create_project(**base)
result["update_timeout_4"] = error_of(raw_client.update_project, name="app", timeoutInMinutes=4)
result["update_queued_4"] = error_of(raw_client.update_project, name="app", queuedTimeoutInMinutes=4)
result["update_without_name"] = error_of(raw_client.update_project, description="x")
result["delete_without_name"] = error_of(raw_client.delete_project)
result["batch_get_nothing"] = error_of(raw_client.batch_get_projects, names=[])
result["listed"] = client.list_projects()["projects"]
"#
        ),
    );
    let cases = [
        ("short_name", "InvalidInputException", "'a' at 'name'"),
        (
            "timeout_4",
            "InvalidInputException",
            "'4' at 'timeoutInMinutes'",
        ),
        (
            "queued_4",
            "InvalidInputException",
            "'4' at 'queuedTimeoutInMinutes'",
        ),
        (
            "var_without_value",
            "InvalidInputException",
            "'environment.environmentVariables.1.member.value'",
        ),
        (
            "missing_name",
            "InvalidInputException",
            "Value null at 'name'",
        ),
        (
            "missing_source",
            "InvalidInputException",
            "Value null at 'source'",
        ),
        (
            "missing_artifacts",
            "InvalidInputException",
            "Value null at 'artifacts'",
        ),
        (
            "missing_environment",
            "InvalidInputException",
            "Value null at 'environment'",
        ),
        (
            "missing_serviceRole",
            "InvalidInputException",
            "Value null at 'serviceRole'",
        ),
        (
            "update_timeout_4",
            "InvalidInputException",
            "'4' at 'timeoutInMinutes'",
        ),
        (
            "update_queued_4",
            "InvalidInputException",
            "'4' at 'queuedTimeoutInMinutes'",
        ),
        (
            "update_without_name",
            "InvalidInputException",
            "Value null at 'name'",
        ),
        (
            "delete_without_name",
            "InvalidInputException",
            "Value null at 'name'",
        ),
        ("batch_get_nothing", "InvalidInputException", "at 'names'"),
    ];
    for (case, code, fragment) in cases {
        let err = &outcome[case];
        assert_eq!(err["code"], code, "{case}: {err}");
        assert_eq!(err["status"], 400, "{case}: {err}");
        let message = err["message"].as_str().unwrap();
        assert!(
            message.contains(fragment),
            "{case}: {message:?} lacks {fragment:?}"
        );
    }
    assert_eq!(outcome["listed"], json!(["app"]));
}

#[test]
fn accounts_never_see_each_others_projects() {
    let server = KilnServer::start();
    let mut input = minimal("shared-name");
    input["description"] = json!("A's");
    let a_project = create_project(&server, &ACCOUNT_A, &input);
    let a_arn = a_project["arn"].as_str().unwrap().to_string();
    assert_eq!(
        a_arn,
        "arn:aws:codebuild:us-east-1:111122223333:project/shared-name"
    );

    let probes = boto3(
        &server,
        &ACCOUNT_B,
        &format!(
            r#"
result = {{
    "list": client.list_projects()["projects"],
    "get_by_name": client.batch_get_projects(names=["shared-name"]),
    "get_by_arn": client.batch_get_projects(names=["{a_arn}"]),
    "update": error_of(client.update_project, name="shared-name", description="B was here"),
    "update_by_arn": error_of(client.update_project, name="{a_arn}", description="B was here"),
    "delete": error_of(client.delete_project, name="shared-name"),
    "delete_by_arn": error_of(client.delete_project, name="{a_arn}"),
}}
"#
        ),
    );
    assert_eq!(probes["list"], json!([]));
    assert_eq!(probes["get_by_name"]["projects"], json!([]));
    assert_eq!(
        probes["get_by_name"]["projectsNotFound"],
        json!(["shared-name"])
    );
    assert_eq!(probes["get_by_arn"]["projects"], json!([]));
    assert_eq!(probes["get_by_arn"]["projectsNotFound"], json!([a_arn]));
    for case in ["update", "update_by_arn", "delete", "delete_by_arn"] {
        assert_eq!(
            probes[case]["code"], "ResourceNotFoundException",
            "{case}: {}",
            probes[case]
        );
    }
    // B may use the same name for its own project, and delete it, without touching A's.
    let mut input_b = minimal("shared-name");
    input_b["description"] = json!("B's");
    let outputs = aws_batch(
        &server,
        &ACCOUNT_B,
        &[
            command(&[
                "codebuild",
                "update-project",
                "--name",
                "shared-name",
                "--description",
                "B",
            ]),
            command(&[
                "codebuild",
                "create-project",
                "--cli-input-json",
                &input_b.to_string(),
            ]),
            command(&["codebuild", "list-projects"]),
            command(&["codebuild", "delete-project", "--name", "shared-name"]),
        ],
    );
    let err = outputs[0].error();
    assert_eq!(err.code, "ResourceNotFoundException");
    assert_eq!(err.message, "Project cannot be found: shared-name");
    assert_eq!(
        outputs[1].ok()["project"]["arn"],
        "arn:aws:codebuild:us-east-1:444455556666:project/shared-name"
    );
    assert_eq!(outputs[2].ok()["projects"], json!(["shared-name"]));
    outputs[3].ok();

    let outputs = aws_batch(
        &server,
        &ACCOUNT_A,
        &[
            command(&["codebuild", "batch-get-projects", "--names", "shared-name"]),
            command(&["codebuild", "list-projects"]),
        ],
    );
    assert_eq!(outputs[0].ok()["projects"], json!([a_project]));
    assert_eq!(outputs[1].ok()["projects"], json!(["shared-name"]));
}

/// Patches botocore's signing clock by `minutes`.
fn skewed_clock(minutes: i64) -> String {
    format!(
        "import datetime, botocore.auth\n\
         _now = botocore.auth.get_current_datetime\n\
         botocore.auth.get_current_datetime = lambda *a, **k: _now(*a, **k) + datetime.timedelta(minutes={minutes})"
    )
}

/// Makes botocore sign for another service than the one it calls.
const SIGN_AS_S3: &str = "import botocore.auth\n\
    _init = botocore.auth.SigV4Auth.__init__\n\
    botocore.auth.SigV4Auth.__init__ = lambda self, credentials, service_name, region_name, *a, **k: _init(self, credentials, 's3', region_name, *a, **k)";

#[test]
fn the_cli_reports_each_authentication_failure() {
    let server = KilnServer::start();
    let list = ["codebuild", "list-projects"];
    let check = |out: AwsOutput, code: &str, message: &str| {
        let err = out.error();
        assert_eq!(err.code, code, "{}", out.stderr);
        assert_eq!(err.operation, "ListProjects");
        assert!(
            err.message.starts_with(message),
            "{:?} should start with {message:?}",
            err.message
        );
    };
    let mut args = list.to_vec();
    args.push("--no-sign-request");
    check(
        aws(&server, &ACCOUNT_A, &args),
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    );
    let unknown = Account {
        access_key_id: "AKIDNOTCONFIGURED000",
        ..ACCOUNT_A
    };
    check(
        aws(&server, &unknown, &list),
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    );
    let wrong_secret = Account {
        secret: "kilnTestSecretForAccountA0000000000000009",
        ..ACCOUNT_A
    };
    check(
        aws(&server, &wrong_secret, &list),
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided.",
    );
    check(
        AwsCli::new(&server, &ACCOUNT_A)
            .region("eu-west-1")
            .run(&list),
        "InvalidSignatureException",
        "Credential should be scoped to a valid region.",
    );
    check(
        AwsCli::new(&server, &ACCOUNT_A)
            .python_patch(&skewed_clock(-20))
            .run(&list),
        "InvalidSignatureException",
        "Signature expired: ",
    );
    check(
        AwsCli::new(&server, &ACCOUNT_A)
            .python_patch(&skewed_clock(20))
            .run(&list),
        "InvalidSignatureException",
        "Signature not yet current: ",
    );
    check(
        AwsCli::new(&server, &ACCOUNT_A)
            .python_patch(SIGN_AS_S3)
            .run(&list),
        "InvalidSignatureException",
        "Credential should be scoped to correct service: 'codebuild'.",
    );
    // A clock off by less than the 15-minute window is fine, and so is the right key.
    let out = AwsCli::new(&server, &ACCOUNT_A)
        .python_patch(&skewed_clock(10))
        .run(&["codebuild", "list-curated-environment-images"]);
    let platforms = out.ok()["platforms"].as_array().unwrap();
    assert!(
        platforms
            .iter()
            .flat_map(|p| p["languages"].as_array().unwrap())
            .flat_map(|l| l["images"].as_array().unwrap())
            .any(|i| i["name"] == "aws/codebuild/standard:7.0"),
        "{platforms:?}"
    );
}

#[test]
fn raw_requests_get_aws_style_auth_and_protocol_errors() {
    let server = KilnServer::start();
    assert_eq!(
        http_get(&format!("{}/healthz", server.url()), &[]).status,
        200
    );

    // Unsigned, straight over HTTP.
    let reply = http_post(
        server.url(),
        &[
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "CodeBuild_20161006.ListProjects"),
        ],
        b"{}",
    );
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json()["__type"],
        "MissingAuthenticationTokenException"
    );
    assert!(
        reply
            .header("x-amzn-requestid")
            .is_some_and(|id| !id.is_empty())
    );
    assert_eq!(
        reply.header("content-type"),
        Some("application/x-amz-json-1.1")
    );

    let list = SignedRequest::operation(&ACCOUNT_A, "ListProjects", &json!({}));
    let signed = |f: &dyn Fn(&mut SignedRequest<'static>)| {
        let mut r = list.clone();
        f(&mut r);
        r
    };
    let mut oversized = list.clone();
    oversized.target = Some("CodeBuild_20161006.CreateProject".into());
    let mut body = b"{\"name\": \"".to_vec();
    body.resize(4 * 1024 * 1024 + 10, b'a');
    body.extend_from_slice(b"\"}");
    oversized.body = body;
    let requests = vec![
        list.clone(),
        signed(&|r| r.account = None),
        signed(&|r| r.clock_skew_secs = -20 * 60),
        signed(&|r| r.clock_skew_secs = 20 * 60),
        signed(&|r| r.service = "s3".into()),
        signed(&|r| r.region = "eu-west-1".into()),
        signed(&|r| r.target = Some("CodeBuild_20161006.Bogus".into())),
        signed(&|r| r.target = Some("CodeBuild_20161006.ListSandboxes".into())),
        signed(&|r| r.target = None),
        signed(&|r| r.body = b"{\"sortBy\": ".to_vec()),
        signed(&|r| r.body = b"[1, 2]".to_vec()),
        signed(&|r| r.body = br#"{"sortBy": 7}"#.to_vec()),
        oversized,
    ];
    let replies = signed_requests(&server, &requests);
    let expected: [(u16, &str, &str); 13] = [
        (200, "", ""),
        (
            400,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ),
        (400, "InvalidSignatureException", "Signature expired"),
        (
            400,
            "InvalidSignatureException",
            "Signature not yet current",
        ),
        (
            400,
            "InvalidSignatureException",
            "Credential should be scoped to correct service: 'codebuild'",
        ),
        (
            400,
            "InvalidSignatureException",
            "Credential should be scoped to a valid region",
        ),
        (400, "UnknownOperationException", "Bogus"),
        (400, "UnknownOperationException", "ListSandboxes"),
        (400, "UnknownOperationException", "X-Amz-Target"),
        (400, "SerializationException", "not valid JSON"),
        (400, "SerializationException", "JSON object"),
        (400, "SerializationException", "'sortBy'"),
        (413, "RequestEntityTooLargeException", "4194304 bytes"),
    ];
    for (i, (reply, (status, code, fragment))) in replies.iter().zip(expected).enumerate() {
        assert_eq!(reply.status, status, "request {i}: {}", reply.body);
        assert!(
            reply.header("x-amzn-requestid").is_some(),
            "request {i} has a request id"
        );
        if status == 200 {
            assert_eq!(reply.json(), json!({"projects": []}));
            continue;
        }
        let body = reply.json();
        assert_eq!(body["__type"], code, "request {i}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains(fragment),
            "request {i}: {message:?} lacks {fragment:?}"
        );
    }
    // A correctly signed request still works after all that.
    let reply = signed_request(&server, list);
    assert_eq!(reply.status, 200);
}

#[test]
fn acknowledged_projects_survive_kill_9() {
    let mut server = KilnServer::start();
    let mut input = minimal("durable");
    input["badgeEnabled"] = json!(true);
    input["sourceVersion"] = json!("refs/heads/release");
    let created = create_project(&server, &ACCOUNT_A, &input);
    server.kill9();
    server.restart();
    assert_eq!(get_project(&server, &ACCOUNT_A, "durable"), created);
    let (_, params) = badge_url_parts(created["badge"]["badgeRequestUrl"].as_str().unwrap());
    assert_eq!(params["branch"], "release");
}

#[test]
fn first_start_generates_a_working_key_and_reuses_it() {
    let mut server = KilnServer::builder().without_accounts().start();
    let lines = server.stdout_lines();
    let value_of = |prefix: &str| {
        lines
            .iter()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in {lines:#?}"))
            .trim()
            .to_string()
    };
    let key_id = value_of("aws configure set aws_access_key_id ");
    let secret = value_of("aws configure set aws_secret_access_key ");
    assert_eq!(value_of("aws configure set region "), "us-east-1");
    assert!(
        lines.last().unwrap().starts_with("listening on "),
        "{lines:#?}"
    );

    let account_id = lines
        .iter()
        .find_map(|l| l.strip_prefix("Generated an access key for account "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no account in {lines:#?}"))
        .to_string();
    assert!(account_id.len() == 12 && account_id.bytes().all(|b| b.is_ascii_digit()));
    // On SQLite the pair is kept in the data dir; replicas on PostgreSQL share it in the store.
    let stored = server.data_dir().join("credentials.toml");
    let text = if postgres::suites_use_postgres() {
        assert!(!stored.exists());
        None
    } else {
        assert_eq!(file_mode(&stored), 0o600);
        let text = std::fs::read_to_string(&stored).unwrap();
        assert!(text.contains(&key_id) && text.contains(&secret) && text.contains(&account_id));
        Some(text)
    };

    let generated = Account {
        access_key_id: &key_id,
        secret: &secret,
        account_id: &account_id,
    };
    let project = create_project(&server, &generated, &minimal("first"));
    assert_eq!(
        project["arn"],
        format!("arn:aws:codebuild:us-east-1:{account_id}:project/first")
    );
    let err = aws(&server, &ACCOUNT_A, &["codebuild", "list-projects"]).error();
    assert_eq!(err.code, "UnrecognizedClientException");

    server.restart();
    let lines = server.stdout_lines();
    assert!(
        !lines.iter().any(|l| l.contains("aws configure")),
        "a restart announces no new key: {lines:#?}"
    );
    if let Some(text) = text {
        assert_eq!(std::fs::read_to_string(&stored).unwrap(), text);
    }
    let out = aws(&server, &generated, &["codebuild", "list-projects"]);
    assert_eq!(out.ok()["projects"], json!(["first"]));
}

#[test]
fn flags_beat_environment_beats_kiln_toml() {
    let toml = "region = \"eu-west-1\"\npublic_url = \"https://toml.example.com\"";
    let env_key = Account {
        access_key_id: "AKIDFROMENVIRONMENT1",
        secret: "secretFromTheEnvironment0000000000000001",
        account_id: "777788889999",
    };
    let from_toml = KilnServer::builder().config(toml).start();
    let from_env = KilnServer::builder()
        .config(toml)
        .without_accounts()
        .env("KILN_REGION", "eu-central-1")
        .env("KILN_PUBLIC_URL", "https://env.example.com")
        .env("KILN_ACCESS_KEY_ID", env_key.access_key_id)
        .env("KILN_SECRET_ACCESS_KEY", env_key.secret)
        .env("KILN_ACCOUNT_ID", env_key.account_id)
        .start();
    let from_flags = KilnServer::builder()
        .config(toml)
        .env("KILN_REGION", "eu-central-1")
        .env("KILN_PUBLIC_URL", "https://env.example.com")
        .args([
            "--region",
            "ap-south-1",
            "--public-url",
            "https://flags.example.com/kiln",
        ])
        .start();
    let cases = [
        (
            &from_toml,
            ACCOUNT_A,
            "eu-west-1",
            "https://toml.example.com/badges",
        ),
        (
            &from_env,
            env_key,
            "eu-central-1",
            "https://env.example.com/badges",
        ),
        (
            &from_flags,
            ACCOUNT_A,
            "ap-south-1",
            "https://flags.example.com/kiln/badges",
        ),
    ];
    for (server, account, region, badge_base) in cases {
        let out = AwsCli::new(server, &account).region(region).run(&[
            "codebuild",
            "create-project",
            "--badge-enabled",
            "--cli-input-json",
            &minimal("where").to_string(),
        ]);
        let project = &out.ok()["project"];
        assert_eq!(
            project["arn"],
            format!(
                "arn:aws:codebuild:{region}:{}:project/where",
                account.account_id
            )
        );
        let (base, _) = badge_url_parts(project["badge"]["badgeRequestUrl"].as_str().unwrap());
        assert_eq!(base, badge_base);
    }

    let failure = KilnServer::builder()
        .config("region = \"Not A Region\"")
        .try_start()
        .err()
        .expect("a bad region stops the server");
    assert!(failure.contains("region"), "{failure}");
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let mut server = KilnServer::start();
    let url = format!("{}/healthz", server.url());
    wait_until(Duration::from_secs(5), "healthz answers", || {
        http_get(&url, &[]).status == 200
    });
    let status = server.sigterm();
    assert!(status.success(), "exit status {status}");
}

#[test]
fn a_member_of_the_wrong_type_is_named() {
    let server = KilnServer::start();
    let outcome = boto3(
        &server,
        &ACCOUNT_A,
        &format!(
            r#"
base = dict(
    name="app",
    source={{"type": "GITHUB", "location": "https://github.com/example/app.git"}},
    artifacts={{"type": "NO_ARTIFACTS"}},
    environment={{"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0", "computeType": "BUILD_GENERAL1_SMALL"}},
    serviceRole="{ROLE}",
)
result = {{
    "create": error_of(raw_client.create_project, **{{**base, "timeoutInMinutes": "ten"}}),
    "update": error_of(raw_client.update_project, name="app", description=["not", "text"]),
}}
"#
        ),
    );
    for (case, field) in [
        ("create", "'timeoutInMinutes'"),
        ("update", "'description'"),
    ] {
        let err = &outcome[case];
        assert_eq!(err["code"], "SerializationException", "{case}: {err}");
        let message = err["message"].as_str().unwrap();
        assert!(
            message.contains(field),
            "{case}: {message:?} lacks {field:?}"
        );
    }
}

#[test]
fn build_ids_without_a_colon_are_invalid_input() {
    let server = KilnServer::start();
    let cases: [&[&str]; 4] = [
        &["codebuild", "batch-get-builds", "--ids", "no-colon-here"],
        &[
            "codebuild",
            "batch-delete-builds",
            "--ids",
            "app:00000000-0000-0000-0000-000000000000",
            "no-colon-here",
        ],
        &["codebuild", "stop-build", "--id", "no-colon-here"],
        &["codebuild", "retry-build", "--id", "no-colon-here"],
    ];
    for args in cases {
        let err = aws(&server, &ACCOUNT_A, args).error();
        assert_eq!(
            err.code, "InvalidInputException",
            "{args:?}: {}",
            err.message
        );
        assert!(
            err.message.contains("Invalid build ID provided"),
            "{args:?}: {}",
            err.message
        );
    }
    // An id with a colon that names nothing is still just not found.
    let got = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "batch-get-builds", "--ids", "app:nothing"],
    );
    assert_eq!(got.ok()["buildsNotFound"], json!(["app:nothing"]));
}

#[test]
fn curated_images_use_only_the_models_enum_values() {
    let server = KilnServer::start();
    let out = boto3(
        &server,
        &ACCOUNT_A,
        r#"
shapes = client.meta.service_model
platforms = set(shapes.shape_for("PlatformType").enum)
languages = set(shapes.shape_for("LanguageType").enum)
answer = client.list_curated_environment_images()["platforms"]
result = {
    "platforms": [p["platform"] for p in answer],
    "unknown_platforms": [p["platform"] for p in answer if p["platform"] not in platforms],
    "unknown_languages": [l["language"] for p in answer for l in p["languages"] if l["language"] not in languages],
}
"#,
    );
    assert_eq!(out["unknown_platforms"], json!([]), "{out}");
    assert_eq!(out["unknown_languages"], json!([]), "{out}");
    assert!(!out["platforms"].as_array().unwrap().is_empty(), "{out}");
}

#[test]
fn the_server_log_has_no_colour_codes_in_a_file_and_json_lines_on_request() {
    // An empty NO_COLOR does not ask for plain text: only the file does.
    let text = KilnServer::builder().env("NO_COLOR", "").start();
    let refused = aws(&text, &ACCOUNT_A, &["codebuild", "stop-build", "--id", "x"]);
    assert_eq!(refused.error().code, "InvalidInputException");
    wait_until(Duration::from_secs(10), "the refusal logged", || {
        text.stderr_log().contains("API call refused")
    });
    let log = text.stderr_log();
    assert!(!log.contains('\x1b'), "{log}");

    let json = KilnServer::builder().args(["--log-format", "json"]).start();
    let refused = aws(&json, &ACCOUNT_A, &["codebuild", "stop-build", "--id", "x"]);
    assert_eq!(refused.error().code, "InvalidInputException");
    wait_until(Duration::from_secs(10), "the refusal logged", || {
        json.stderr_log().contains("API call refused")
    });
    let lines: Vec<Value> = json
        .stderr_log()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "API call refused"
                && l["fields"]["error"] == "InvalidInputException"
                && l["level"] == "INFO"),
        "{lines:#?}"
    );
}
