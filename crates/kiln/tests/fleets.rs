//! Compute fleets as users meet them: the real `kiln` binary driven by the real `aws` CLI
//! (docs/fleets.md). No agent connects here, so every fleet asks for one in its status.

// Test code: a panic is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::builds::{create_git_project, get_build};
use common::{ACCOUNT_A, ACCOUNT_B, KilnServer, REGION, aws, aws_batch, command};
use serde_json::{Value, json};

fn create_fleet(server: &KilnServer, name: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "codebuild",
        "create-fleet",
        "--name",
        name,
        "--base-capacity",
        "2",
        "--environment-type",
        "LINUX_CONTAINER",
        "--compute-type",
        "BUILD_GENERAL1_SMALL",
    ];
    args.extend_from_slice(extra);
    aws(server, &ACCOUNT_A, &args).ok()["fleet"].clone()
}

fn list_fleets(server: &KilnServer, extra: &[&str]) -> Value {
    let mut args = vec!["codebuild", "list-fleets"];
    args.extend_from_slice(extra);
    aws(server, &ACCOUNT_A, &args).ok().clone()
}

fn arns(list: &Value) -> Vec<String> {
    list["fleets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn fleets_are_created_listed_updated_and_deleted() {
    let server = KilnServer::start();
    let a = ACCOUNT_A.account_id;
    let linux = create_fleet(&server, "linux-small", &["--tags", "key=team,value=ci"]);
    let arn = linux["arn"].as_str().unwrap().to_string();
    let prefix = format!("arn:aws:codebuild:{REGION}:{a}:fleet/linux-small:");
    let id = arn.strip_prefix(&prefix).unwrap_or_else(|| panic!("{arn}"));
    assert_eq!(linux["id"], id);
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(linux["name"], "linux-small");
    assert_eq!(linux["baseCapacity"], 2);
    assert_eq!(linux["environmentType"], "LINUX_CONTAINER");
    assert_eq!(linux["computeType"], "BUILD_GENERAL1_SMALL");
    assert_eq!(linux["overflowBehavior"], "QUEUE");
    assert_eq!(linux["tags"], json!([{"key": "team", "value": "ci"}]));
    assert_eq!(
        linux["status"],
        json!({
            "statusCode": "CREATING",
            "context": "ACTION_REQUIRED",
            "message": "0 of 2 build slots connected: start `kiln agent --fleet linux-small` on a machine"
        })
    );

    // A second fleet of the name: ResourceAlreadyExistsException; another account may have one.
    let err = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "create-fleet",
            "--name",
            "linux-small",
            "--base-capacity",
            "1",
            "--environment-type",
            "LINUX_CONTAINER",
            "--compute-type",
            "BUILD_GENERAL1_SMALL",
        ],
    )
    .error();
    assert_eq!(err.code, "ResourceAlreadyExistsException");
    assert_eq!(err.message, "Fleet already exists: linux-small");
    let b = aws(
        &server,
        &ACCOUNT_B,
        &[
            "codebuild",
            "create-fleet",
            "--name",
            "linux-small",
            "--base-capacity",
            "1",
            "--environment-type",
            "LINUX_CONTAINER",
            "--compute-type",
            "BUILD_GENERAL1_SMALL",
        ],
    );
    let b_arn = b.ok()["fleet"]["arn"].as_str().unwrap().to_string();

    let arm = create_fleet(
        &server,
        "arm-large",
        &[
            "--overflow-behavior",
            "ON_DEMAND",
            "--compute-configuration",
            "vCpu=4,memory=8,machineType=GENERAL",
            "--vpc-config",
            "vpcId=vpc-1,subnets=subnet-1,securityGroupIds=sg-1",
        ],
    );
    assert_eq!(arm["overflowBehavior"], "ON_DEMAND");
    assert_eq!(arm["computeConfiguration"]["vCpu"], 4);
    assert_eq!(arm["vpcConfig"]["subnets"], json!(["subnet-1"]));
    let mid = create_fleet(&server, "mid", &[]);
    let (arm_arn, mid_arn) = (arm["arn"].as_str().unwrap(), mid["arn"].as_str().unwrap());

    // Listings: ARNs of the caller's fleets, sorted, in pages.
    assert_eq!(
        arns(&list_fleets(&server, &[])),
        [arm_arn, &arn, mid_arn],
        "by name"
    );
    assert_eq!(
        arns(&list_fleets(
            &server,
            &["--sort-by", "CREATED_TIME", "--sort-order", "DESCENDING"]
        )),
        [mid_arn, arm_arn, &arn]
    );
    let first = list_fleets(&server, &["--max-results", "2"]);
    assert_eq!(arns(&first), [arm_arn, &arn]);
    let token = first["nextToken"].as_str().unwrap();
    let second = list_fleets(&server, &["--max-results", "2", "--next-token", token]);
    assert_eq!(arns(&second), [mid_arn]);
    assert!(second.get("nextToken").is_none());
    let err = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "list-fleets", "--next-token", "garbage"],
    )
    .error();
    assert_eq!(err.code, "InvalidInputException");

    // Batch-get by name or ARN; the rest, and other accounts' fleets, are not found.
    let got = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "batch-get-fleets",
            "--names",
            "linux-small",
            arm_arn,
            "nope",
            &b_arn,
        ],
    );
    let got = got.ok();
    let names: Vec<&str> = got["fleets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["linux-small", "arm-large"]);
    assert_eq!(got["fleetsNotFound"], json!(["nope", b_arn]));

    // Updates change only what they name.
    let updated = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "update-fleet",
            "--arn",
            &arn,
            "--base-capacity",
            "4",
            "--overflow-behavior",
            "ON_DEMAND",
        ],
    );
    let updated = &updated.ok()["fleet"];
    assert_eq!(updated["baseCapacity"], 4);
    assert_eq!(updated["overflowBehavior"], "ON_DEMAND");
    assert_eq!(updated["tags"], linux["tags"]);
    assert_eq!(updated["created"], linux["created"]);
    assert!(updated["lastModified"].as_f64() >= linux["lastModified"].as_f64());
    assert_eq!(
        updated["status"]["message"],
        "0 of 4 build slots connected: start `kiln agent --fleet linux-small` on a machine"
    );
    let unknown = format!("{prefix}00000000-0000-4000-8000-000000000000");
    let err = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "update-fleet",
            "--arn",
            &unknown,
            "--base-capacity",
            "1",
        ],
    )
    .error();
    assert_eq!(err.code, "ResourceNotFoundException");

    // Deleted, the fleet is gone; an unknown one cannot be deleted.
    aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "delete-fleet", "--arn", mid_arn],
    )
    .ok();
    assert_eq!(arns(&list_fleets(&server, &[])), [arm_arn, &arn]);
    let err = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "delete-fleet", "--arn", mid_arn],
    )
    .error();
    assert_eq!(err.code, "InvalidInputException");
    assert_eq!(err.message, format!("Fleet {mid_arn} does not exist"));
}

#[test]
fn projects_and_builds_run_on_fleets_of_their_account() {
    let server = KilnServer::start();
    let fleet = create_fleet(&server, "linux", &[]);
    let arn = fleet["arn"].as_str().unwrap().to_string();
    let environment = |fleet_arn: &str| {
        json!({"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
               "computeType": "BUILD_GENERAL1_SMALL", "fleet": {"fleetArn": fleet_arn}})
    };
    let location = "https://git.invalid/r.git";
    let project = create_git_project(
        &server,
        "web",
        location,
        json!({"environment": environment(&arn)}),
    );
    assert_eq!(project["environment"]["fleet"], json!({"fleetArn": arn}));

    // A fleet that does not exist, or is named rather than given by ARN, is refused.
    let input = |name: &str, fleet_arn: &str| {
        json!({"name": name, "source": {"type": "GITHUB", "location": location},
               "artifacts": {"type": "NO_ARTIFACTS"}, "environment": environment(fleet_arn),
               "serviceRole": "arn:aws:iam::111122223333:role/r"})
        .to_string()
    };
    let unknown = arn.replace(":fleet/linux:", ":fleet/other:");
    let refused = aws_batch(
        &server,
        &ACCOUNT_A,
        &[
            command(&[
                "codebuild",
                "create-project",
                "--cli-input-json",
                &input("api", &unknown),
            ]),
            command(&[
                "codebuild",
                "create-project",
                "--cli-input-json",
                &input("api", "linux"),
            ]),
            command(&[
                "codebuild",
                "update-project",
                "--cli-input-json",
                &input("web", &unknown),
            ]),
            command(&[
                "codebuild",
                "start-build",
                "--project-name",
                "web",
                "--fleet-override",
                &format!("fleetArn={unknown}"),
            ]),
        ],
    );
    let messages: Vec<(String, String)> = refused
        .iter()
        .map(|r| {
            let e = r.error();
            (e.code, e.message)
        })
        .collect();
    assert_eq!(
        messages,
        [
            (
                "InvalidInputException".into(),
                format!("environment.fleet.fleetArn: fleet {unknown} does not exist")
            ),
            (
                "InvalidInputException".into(),
                format!("environment.fleet.fleetArn must be a fleet ARN, not a name: use {arn}")
            ),
            (
                "InvalidInputException".into(),
                format!("environment.fleet.fleetArn: fleet {unknown} does not exist")
            ),
            (
                "InvalidInputException".into(),
                format!("fleetOverride.fleetArn: fleet {unknown} does not exist")
            ),
        ]
    );
    // Another account cannot name this account's fleet.
    let err = aws(
        &server,
        &ACCOUNT_B,
        &[
            "codebuild",
            "create-project",
            "--cli-input-json",
            &input("theirs", &arn),
        ],
    )
    .error();
    assert_eq!(err.code, "InvalidInputException");

    // A build runs on the project's fleet, or on the one its fleetOverride names.
    let other = create_fleet(&server, "linux-2", &[]);
    let other_arn = other["arn"].as_str().unwrap();
    let started = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "start-build", "--project-name", "web"],
    );
    let id = started.ok()["build"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        get_build(&server, &id)["environment"]["fleet"],
        json!({"fleetArn": arn})
    );
    let overridden = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "start-build",
            "--project-name",
            "web",
            "--fleet-override",
            &format!("fleetArn={other_arn}"),
        ],
    );
    let id = overridden.ok()["build"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        get_build(&server, &id)["environment"]["fleet"],
        json!({"fleetArn": other_arn})
    );

    // DeleteFleet refuses a fleet a project runs on, as CodeBuild does, and names the project.
    let err = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "delete-fleet", "--arn", &arn],
    )
    .error();
    assert_eq!(err.code, "InvalidInputException");
    assert_eq!(
        err.message,
        "Fleet linux cannot be deleted: it is used by project web. Change the project's environment.fleet first"
    );
    // A fleet only builds ran on can go: builds keep the ARN they ran on.
    aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "delete-fleet", "--arn", other_arn],
    )
    .ok();
    assert_eq!(
        get_build(&server, &id)["environment"]["fleet"],
        json!({"fleetArn": other_arn})
    );
    // Once the project leaves the fleet, the fleet can be deleted.
    let mut moved: Value = serde_json::from_str(&input("web", &arn)).unwrap();
    moved["environment"]
        .as_object_mut()
        .unwrap()
        .remove("fleet");
    aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "update-project",
            "--cli-input-json",
            &moved.to_string(),
        ],
    )
    .ok();
    aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "delete-fleet", "--arn", &arn],
    )
    .ok();
    let got = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "batch-get-fleets", "--names", &arn],
    );
    assert_eq!(got.ok()["fleetsNotFound"], json!([arn]));
}

#[test]
fn bad_fleet_input_is_refused_in_aws_words() {
    let server = KilnServer::start();
    let create = |extra: &[&str]| {
        let mut args = vec![
            "codebuild",
            "create-fleet",
            "--base-capacity",
            "1",
            "--environment-type",
            "LINUX_CONTAINER",
            "--compute-type",
            "BUILD_GENERAL1_SMALL",
        ];
        args.extend_from_slice(extra);
        command(&args)
    };
    let tags: Vec<String> = (0..51).map(|i| format!("key=k{i},value=v")).collect();
    let mut too_many_tags = create(&["--name", "tagged"]);
    too_many_tags.push("--tags".into());
    too_many_tags.extend(tags);
    let results = aws_batch(
        &server,
        &ACCOUNT_A,
        &[
            create(&["--name", "has space"]),
            create(&["--name", "ok-name", "--overflow-behavior", "SPILL"]),
            command(&[
                "codebuild",
                "create-fleet",
                "--name",
                "zero",
                "--base-capacity",
                "0",
                "--environment-type",
                "LINUX",
                "--compute-type",
                "BUILD_GENERAL1_SMALL",
            ]),
            command(&[
                "codebuild",
                "create-fleet",
                "--name",
                "abc",
                "--base-capacity",
                "1",
                "--environment-type",
                "LINUX_CONTAINER",
                "--compute-type",
                "ATTRIBUTE_BASED_COMPUTE",
            ]),
            too_many_tags,
            command(&["codebuild", "list-fleets", "--sort-by", "SIZE"]),
        ],
    );
    let messages: Vec<String> = results
        .iter()
        .map(|r| {
            let e = r.error();
            assert_eq!(e.code, "InvalidInputException", "{}", e.message);
            e.message
        })
        .collect();
    assert_eq!(
        messages[0],
        "1 validation error detected: Value 'has space' at 'name' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [A-Za-z0-9][A-Za-z0-9\\-_]{1,127}"
    );
    assert_eq!(
        messages[1],
        "1 validation error detected: Value 'SPILL' at 'overflowBehavior' failed to satisfy \
         constraint: Member must satisfy enum value set: [QUEUE, ON_DEMAND]"
    );
    assert!(
        messages[2].starts_with("2 validation errors detected: ")
            && messages[2].contains(
                "Value '0' at 'baseCapacity' failed to satisfy constraint: Member must have value greater than or equal to 1"
            )
            && messages[2].contains("Value 'LINUX' at 'environmentType'"),
        "{}",
        messages[2]
    );
    assert_eq!(
        messages[3],
        "computeConfiguration is required when computeType is ATTRIBUTE_BASED_COMPUTE"
    );
    assert!(
        messages[4].contains("at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"),
        "{}",
        messages[4]
    );
    assert!(messages[5].contains("at 'sortBy'"), "{}", messages[5]);
    let list = aws(&server, &ACCOUNT_A, &["codebuild", "list-fleets"]);
    assert_eq!(list.ok()["fleets"], json!([]), "nothing refused was stored");
}
