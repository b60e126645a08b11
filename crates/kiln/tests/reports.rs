//! Test reports and code coverage as a user meets them: a real build of a real repository whose
//! buildspec declares two report groups (JUnit and Cobertura, real pytest and coverage.py
//! output), failing in BUILD; then the report operations through the real `aws` CLI, with the
//! values the fixtures imply.

// Test code: a panic is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use serde_json::{Value, json};

use common::builds::{build_log, create_git_project, id_of, wait_build_complete};
use common::git::GitRepo;
use common::moto::Moto;
use common::{ACCOUNT_A, ACCOUNT_B, KilnServer, REGION, aws, boto3};

const BUILD_DEADLINE: Duration = Duration::from_secs(120);
/// pytest: "1 failed, 2 passed, 1 skipped, 1 error".
const PYTEST_JUNIT: &str = include_str!("../../kiln-reports/tests/fixtures/pytest-junit.xml");
/// cargo-nextest: "4 tests run: 2 passed, 2 failed, 0 skipped".
const NEXTEST_JUNIT: &str = include_str!("../../kiln-reports/tests/fixtures/nextest-junit.xml");
/// coverage.py: 21 of 30 lines, 1 of 6 branches.
const COVERAGE_PY: &str =
    include_str!("../../kiln-reports/tests/fixtures/coveragepy-cobertura.xml");

const BUILDSPEC: &str = "version: 0.2
phases:
  build:
    commands:
      - echo the tests ran and failed
      - exit 1
reports:
  unit:
    files:
      - 'test-results/*.xml'
  coverage:
    files:
      - coverage.xml
    file-format: COBERTURAXML
";

fn cli(server: &KilnServer, args: &[&str]) -> Value {
    let mut all = vec!["codebuild"];
    all.extend_from_slice(args);
    aws(server, &ACCOUNT_A, &all).ok().clone()
}

/// Commits `junit` as the test results and runs one build of `main` to completion.
fn build_with(server: &KilnServer, repo: &GitRepo, junit: &str) -> Value {
    repo.commit(&[("test-results/junit.xml", junit)], "test results");
    let started = cli(server, &["start-build", "--project-name", "app"]);
    let build = wait_build_complete(server, id_of(&started["build"]), BUILD_DEADLINE);
    assert_eq!(build["buildStatus"], "FAILED", "{build:#}");
    build
}

#[test]
fn a_failing_build_makes_test_and_coverage_reports_that_the_cli_reads() {
    let server = KilnServer::start();
    let repo = GitRepo::init(server.root().join("repo"));
    repo.commit(
        &[("buildspec.yml", BUILDSPEC), ("coverage.xml", COVERAGE_PY)],
        "app",
    );
    create_git_project(
        &server,
        "app",
        &repo.location(),
        json!({"sourceVersion": "main"}),
    );
    let a = ACCOUNT_A.account_id;
    let unit_arn = format!("arn:aws:codebuild:{REGION}:{a}:report-group/app-unit");
    let coverage_arn = format!("arn:aws:codebuild:{REGION}:{a}:report-group/app-coverage");

    // The tests failed in BUILD; the reports are made all the same.
    let first = build_with(&server, &repo, PYTEST_JUNIT);
    let report_arns: Vec<&str> = first["reportArns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|arn| arn.as_str().unwrap())
        .collect();
    let uuid = first["id"].as_str().unwrap().split_once(':').unwrap().1;
    let test_report = format!("arn:aws:codebuild:{REGION}:{a}:report/app-unit:{uuid}");
    let coverage_report = format!("arn:aws:codebuild:{REGION}:{a}:report/app-coverage:{uuid}");
    assert_eq!(
        report_arns,
        [test_report.as_str(), coverage_report.as_str()]
    );
    let log = build_log(&first);
    assert!(
        log.contains(&format!("Report created: {test_report}")),
        "{log}"
    );

    // The groups were created as CodeBuild does: <project>-<name>, of the format's type.
    let groups = cli(
        &server,
        &[
            "batch-get-report-groups",
            "--report-group-arns",
            &unit_arn,
            &coverage_arn,
        ],
    );
    let types: Vec<(&str, &str)> = groups["reportGroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["name"].as_str().unwrap(), g["type"].as_str().unwrap()))
        .collect();
    assert!(types.contains(&("app-unit", "TEST")), "{groups:#}");
    assert!(
        types.contains(&("app-coverage", "CODE_COVERAGE")),
        "{groups:#}"
    );

    let second = build_with(&server, &repo, NEXTEST_JUNIT);
    build_with(&server, &repo, PYTEST_JUNIT);

    let listed = cli(
        &server,
        &[
            "list-reports-for-report-group",
            "--report-group-arn",
            &unit_arn,
        ],
    );
    let listed = listed["reports"].as_array().unwrap();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(listed.contains(&Value::String(test_report.clone())));

    let reports = cli(
        &server,
        &[
            "batch-get-reports",
            "--report-arns",
            &test_report,
            &coverage_report,
        ],
    );
    let by_type = |t: &str| {
        reports["reports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["type"] == t)
            .unwrap()
            .clone()
    };
    let tests = by_type("TEST");
    assert_eq!(tests["status"], "FAILED");
    assert_eq!(tests["reportGroupArn"], unit_arn.as_str());
    assert_eq!(
        tests["executionId"].as_str().unwrap(),
        format!("arn:aws:codebuild:{REGION}:{a}:build/app:{uuid}")
    );
    let summary = &tests["testSummary"];
    assert_eq!(summary["total"], 5);
    for (status, count) in [
        ("SUCCEEDED", 2),
        ("FAILED", 1),
        ("ERROR", 1),
        ("SKIPPED", 1),
    ] {
        assert_eq!(
            summary["statusCounts"][status], count,
            "{status}: {summary:#}"
        );
    }
    let coverage = by_type("CODE_COVERAGE");
    assert_eq!(coverage["status"], "SUCCEEDED");
    let covered = &coverage["codeCoverageSummary"];
    assert_eq!(covered["lineCoveragePercentage"], 70.0);
    assert_eq!(
        (
            covered["linesCovered"].clone(),
            covered["linesMissed"].clone()
        ),
        (json!(21), json!(9))
    );
    assert_eq!(
        (
            covered["branchesCovered"].clone(),
            covered["branchesMissed"].clone()
        ),
        (json!(1), json!(5))
    );

    // The failed case, with where it came from and why.
    let failed = cli(
        &server,
        &[
            "describe-test-cases",
            "--report-arn",
            &test_report,
            "--filter",
            "status=FAILED",
        ],
    );
    let cases = failed["testCases"].as_array().unwrap();
    assert_eq!(cases.len(), 1, "{failed:#}");
    assert_eq!(cases[0]["name"], "test_add_is_wrong");
    assert_eq!(cases[0]["prefix"], "tests.test_calc");
    assert_eq!(cases[0]["testRawDataPath"], "test-results/junit.xml");
    assert!(
        cases[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("assert 4 == 5"),
        "{cases:?}"
    );
    let all = cli(
        &server,
        &["describe-test-cases", "--report-arn", &test_report],
    );
    assert_eq!(all["testCases"].as_array().unwrap().len(), 5);

    // Pass rate over the three builds: 2 of 5, 2 of 4, 2 of 5.
    let trend = cli(
        &server,
        &[
            "get-report-group-trend",
            "--report-group-arn",
            &unit_arn,
            "--trend-field",
            "PASS_RATE",
        ],
    );
    let mut raw: Vec<f64> = trend["rawData"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["data"].as_str().unwrap().parse().unwrap())
        .collect();
    raw.sort_by(f64::total_cmp);
    assert_eq!(raw, [40.0, 40.0, 50.0], "{trend:#}");
    assert_eq!(trend["stats"]["max"], "50");
    assert_eq!(trend["stats"]["min"], "40");
    assert_eq!(trend["stats"]["average"], "43.33");
    let second_uuid = second["id"].as_str().unwrap().split_once(':').unwrap().1;
    assert!(
        trend["rawData"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["reportArn"].as_str().unwrap().ends_with(second_uuid) && d["data"] == "50"),
        "{trend:#}"
    );

    let files = cli(
        &server,
        &["describe-code-coverages", "--report-arn", &coverage_report],
    );
    let files = files["codeCoverages"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["filePath"], "calc/__init__.py");
    assert_eq!(files[0]["lineCoveragePercentage"], 50.0);
    let low = cli(
        &server,
        &[
            "describe-code-coverages",
            "--report-arn",
            &coverage_report,
            "--max-line-coverage-percentage",
            "60",
        ],
    );
    assert_eq!(low["codeCoverages"].as_array().unwrap().len(), 1);

    // Another account sees none of it.
    let theirs = aws(
        &server,
        &ACCOUNT_B,
        &[
            "codebuild",
            "batch-get-reports",
            "--report-arns",
            &test_report,
        ],
    );
    let theirs = theirs.ok();
    assert_eq!(
        theirs["reports"].as_array().map_or(0, Vec::len),
        0,
        "{theirs:#}"
    );
}

/// An entity bomb: nine levels of ten-fold entities ("billion laughs").
const ENTITY_BOMB: &str = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<testsuite name="&lol9;"><testcase name="&lol9;"/></testsuite>
"#;

#[test]
fn hostile_report_files_make_incomplete_reports_and_the_build_goes_on() {
    let server = KilnServer::start();
    let repo = GitRepo::init(server.root().join("repo"));
    // The build writes a 2 GB <testsuite> attribute (a sparse file) and 100,000-deep nesting.
    let buildspec = r#"version: 0.2
phases:
  build:
    commands:
      - printf '<testsuite name="' > huge.xml && truncate -s 2G huge.xml
      - yes '<a>' | head -n 100000 | tr -d '\n' > deep.xml
reports:
  broken:
    files:
      - broken.xml
  bomb:
    files:
      - bomb.xml
  huge:
    files:
      - huge.xml
  deep:
    files:
      - deep.xml
  absent:
    files:
      - nothing-here/*.xml
"#;
    repo.commit(
        &[
            ("buildspec.yml", buildspec),
            ("broken.xml", "<testsuite><testcase name=\"a\">"),
            ("bomb.xml", ENTITY_BOMB),
        ],
        "app",
    );
    create_git_project(&server, "app", &repo.location(), json!({}));
    let started = cli(&server, &["start-build", "--project-name", "app"]);
    let build = wait_build_complete(&server, id_of(&started["build"]), BUILD_DEADLINE);
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{build:#}");
    let log = build_log(&build);
    for named in ["broken.xml", "huge.xml", "deep.xml"] {
        assert!(log.contains(named), "the log names {named}: {log}");
    }
    let arns: Vec<&str> = build["reportArns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(arns.len(), 5, "{build:#}");
    let mut args = vec!["batch-get-reports", "--report-arns"];
    args.extend(&arns);
    let reports = cli(&server, &args);
    let statuses: Vec<(&str, &str)> = reports["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    for group in [
        "app-broken",
        "app-bomb",
        "app-huge",
        "app-deep",
        "app-absent",
    ] {
        assert!(
            statuses.contains(&(group, "INCOMPLETE")),
            "{group}: {statuses:?}"
        );
    }
    // The server goes on.
    let again = cli(&server, &["batch-get-builds", "--ids", id_of(&build)]);
    assert_eq!(again["builds"][0]["buildStatus"], "SUCCEEDED");
}

#[test]
fn raw_report_files_are_exported_to_the_groups_s3_bucket() {
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
        &format!("{s3}\ns3.create_bucket(Bucket=\"raw-reports\")\nresult = True\n"),
    );
    // Two groups of the account, exporting to one bucket: zipped under a path, and as files.
    let zipped = cli(
        &server,
        &[
            "create-report-group",
            "--name",
            "exported-zip",
            "--type",
            "TEST",
            "--export-config",
            r#"{"exportConfigType":"S3","s3Destination":{"bucket":"raw-reports","path":"ci/reports","packaging":"ZIP","encryptionDisabled":true}}"#,
        ],
    );
    let plain = cli(
        &server,
        &[
            "create-report-group",
            "--name",
            "exported-files",
            "--type",
            "CODE_COVERAGE",
            "--export-config",
            r#"{"exportConfigType":"S3","s3Destination":{"bucket":"raw-reports","packaging":"NONE"}}"#,
        ],
    );
    let zipped_arn = zipped["reportGroup"]["arn"].as_str().unwrap();
    let plain_arn = plain["reportGroup"]["arn"].as_str().unwrap();
    let buildspec = format!(
        "version: 0.2
phases:
  build:
    commands:
      - echo tests ran
reports:
  {zipped_arn}:
    files:
      - '*.xml'
    base-directory: test-results
  {plain_arn}:
    files:
      - coverage.xml
    file-format: COBERTURAXML
  unexported:
    files:
      - 'test-results/*.xml'
"
    );
    let repo = GitRepo::init(server.root().join("repo"));
    repo.commit(
        &[
            ("buildspec.yml", buildspec.as_str()),
            ("test-results/junit.xml", PYTEST_JUNIT),
            ("test-results/nextest.xml", NEXTEST_JUNIT),
            ("coverage.xml", COVERAGE_PY),
        ],
        "app",
    );
    create_git_project(&server, "app", &repo.location(), json!({}));
    let started = cli(&server, &["start-build", "--project-name", "app"]);
    let build = wait_build_complete(&server, id_of(&started["build"]), BUILD_DEADLINE);
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{build:#}");
    assert_eq!(
        build["reportArns"].as_array().unwrap().len(),
        3,
        "{build:#}"
    );
    let uuid = id_of(&build).split_once(':').unwrap().1;
    let log = build_log(&build);
    let zip_key = format!("ci/reports/exported-zip/{uuid}.zip");
    assert!(
        log.contains(&format!(
            "Exported 2 raw report file(s) of report group exported-zip to s3://raw-reports/{zip_key}"
        )),
        "{log}"
    );

    let out = boto3(
        &server,
        &ACCOUNT_A,
        &format!(
            r#"{s3}
import io, zipfile
body = s3.get_object(Bucket="raw-reports", Key={zip_key:?})["Body"].read()
archive = zipfile.ZipFile(io.BytesIO(body))
listed = s3.list_objects_v2(Bucket="raw-reports")["Contents"]
result = {{
    "names": sorted(archive.namelist()),
    "junit": archive.read("junit.xml").decode(),
    "nextest": archive.read("nextest.xml").decode(),
    "coverage": s3.get_object(Bucket="raw-reports", Key="exported-files/{uuid}/coverage.xml")["Body"].read().decode(),
    "keys": sorted(o["Key"] for o in listed),
}}
"#
        ),
    );
    assert_eq!(out["names"], json!(["junit.xml", "nextest.xml"]));
    assert_eq!(out["junit"], PYTEST_JUNIT);
    assert_eq!(out["nextest"], NEXTEST_JUNIT);
    assert_eq!(out["coverage"], COVERAGE_PY);
    // The group the buildspec created (NO_EXPORT) exported nothing.
    assert_eq!(
        out["keys"],
        json!([zip_key, format!("exported-files/{uuid}/coverage.xml")])
    );
}
