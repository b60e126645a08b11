//! Report groups as users meet them: the real `kiln` binary driven by the real `aws` CLI.
//! (Reports made by builds, and the operations that read them: `tests/reports.rs`.)

// Test code: a panic is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ACCOUNT_A, ACCOUNT_B, KilnServer, REGION, aws};

fn group_arn(account: &str, name: &str) -> String {
    format!("arn:aws:codebuild:{REGION}:{account}:report-group/{name}")
}

#[test]
fn report_groups_are_created_updated_listed_and_deleted() {
    let server = KilnServer::start();
    let a = ACCOUNT_A.account_id;
    let created = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "create-report-group",
            "--name",
            "unit-tests",
            "--type",
            "TEST",
            "--export-config",
            r#"{"exportConfigType": "S3", "s3Destination": {"bucket": "reports", "path": "unit", "packaging": "ZIP", "encryptionDisabled": true}}"#,
            "--tags",
            "key=team,value=core",
        ],
    );
    let group = &created.ok()["reportGroup"];
    let arn = group_arn(a, "unit-tests");
    assert_eq!(group["arn"], arn.as_str());
    assert_eq!(group["type"], "TEST");
    assert_eq!(group["status"], "ACTIVE");
    assert_eq!(group["exportConfig"]["s3Destination"]["bucket"], "reports");
    assert_eq!(group["tags"][0]["key"], "team");
    let coverage = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "create-report-group",
            "--name",
            "coverage",
            "--type",
            "CODE_COVERAGE",
            "--export-config",
            "exportConfigType=NO_EXPORT",
        ],
    );
    coverage.ok();

    // A second group of the name: ResourceAlreadyExistsException.
    let err = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "create-report-group",
            "--name",
            "unit-tests",
            "--type",
            "TEST",
            "--export-config",
            "exportConfigType=NO_EXPORT",
        ],
    )
    .error();
    assert_eq!(err.code, "ResourceAlreadyExistsException");
    // Invalid input reads like AWS.
    let err = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "create-report-group",
            "--name",
            "bad/name",
            "--type",
            "TEST",
            "--export-config",
            "exportConfigType=S3",
        ],
    )
    .error();
    assert_eq!(err.code, "InvalidInputException");
    assert!(err.message.contains("at 'name'"), "{}", err.message);

    let updated = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "update-report-group",
            "--arn",
            &arn,
            "--export-config",
            "exportConfigType=NO_EXPORT",
        ],
    );
    let group = &updated.ok()["reportGroup"];
    assert_eq!(group["exportConfig"]["exportConfigType"], "NO_EXPORT");
    assert_eq!(group["tags"][0]["key"], "team");
    let err = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "update-report-group",
            "--arn",
            &group_arn(a, "missing"),
        ],
    )
    .error();
    assert_eq!(err.code, "ResourceNotFoundException");

    let missing = group_arn(a, "missing");
    let got = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "batch-get-report-groups",
            "--report-group-arns",
            &arn,
            &missing,
        ],
    );
    let got = got.ok();
    assert_eq!(got["reportGroups"][0]["name"], "unit-tests");
    assert_eq!(got["reportGroupsNotFound"][0], missing.as_str());

    let listed = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "list-report-groups", "--sort-by", "NAME"],
    );
    assert_eq!(
        listed.ok()["reportGroups"],
        serde_json::json!([group_arn(a, "coverage"), arn])
    );
    // The CLI pages through every group, one a page.
    let paged = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "list-report-groups",
            "--sort-order",
            "DESCENDING",
            "--page-size",
            "1",
        ],
    );
    assert_eq!(
        paged.ok()["reportGroups"],
        serde_json::json!([arn, group_arn(a, "coverage")])
    );
    let shared = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "list-shared-report-groups"],
    );
    assert_eq!(shared.ok()["reportGroups"], serde_json::json!([]));
    let err = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "list-report-groups", "--max-results", "101"],
    )
    .error();
    assert_eq!(err.code, "InvalidInputException");

    // Another account sees none of them, and cannot change them.
    let b = aws(&server, &ACCOUNT_B, &["codebuild", "list-report-groups"]);
    assert_eq!(b.ok()["reportGroups"], serde_json::json!([]));
    let b = aws(
        &server,
        &ACCOUNT_B,
        &[
            "codebuild",
            "batch-get-report-groups",
            "--report-group-arns",
            &arn,
        ],
    );
    assert_eq!(b.ok()["reportGroupsNotFound"][0], arn.as_str());
    let err = aws(
        &server,
        &ACCOUNT_B,
        &["codebuild", "delete-report-group", "--arn", &arn],
    )
    .error();
    assert_eq!(err.code, "InvalidInputException");
    let reports = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "list-reports-for-report-group",
            "--report-group-arn",
            &arn,
        ],
    );
    assert_eq!(reports.ok()["reports"], serde_json::json!([]));

    aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "delete-report-group",
            "--arn",
            &arn,
            "--delete-reports",
        ],
    )
    .ok();
    let err = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "delete-report-group", "--arn", &arn],
    )
    .error();
    assert_eq!(err.code, "InvalidInputException");
    let err = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "list-reports-for-report-group",
            "--report-group-arn",
            &arn,
        ],
    )
    .error();
    assert_eq!(err.code, "ResourceNotFoundException");
    let listed = aws(&server, &ACCOUNT_A, &["codebuild", "list-report-groups"]);
    assert_eq!(
        listed.ok()["reportGroups"],
        serde_json::json!([group_arn(a, "coverage")])
    );
}
