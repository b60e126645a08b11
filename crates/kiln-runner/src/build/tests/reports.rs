//! Whole builds with a `reports:` section: reports are made after POST_BUILD whatever the
//! outcome, and report problems never change the build's status.

use kiln_reports::{ParsedReport, ReportFileFormat};

use super::*;

/// The build writes a pytest JUnit file and a coverage.py Cobertura file, then fails.
const FAILING_BUILD_WITH_REPORTS: &str = r#"version: 0.2
phases:
  build:
    commands:
      - |
        mkdir -p test-results
        cat > test-results/junit.xml <<'XML'
        <?xml version="1.0" encoding="utf-8"?>
        <testsuites><testsuite name="pytest" errors="0" failures="1" skipped="0" tests="2" time="0.05">
        <testcase classname="tests.test_math" name="test_add" time="0.001" />
        <testcase classname="tests.test_math" name="test_div" time="0.002"><failure message="ZeroDivisionError: division by zero">def test_div():
        &gt;       1 / 0
        E       ZeroDivisionError: division by zero</failure></testcase>
        </testsuite></testsuites>
        XML
        cat > coverage.xml <<'XML'
        <?xml version="1.0" ?>
        <coverage version="7.4.0" line-rate="0.75" branch-rate="0">
        <packages><package name="app" line-rate="0.75"><classes>
        <class name="math.py" filename="app/math.py" line-rate="0.75"><methods/><lines>
        <line number="1" hits="1"/><line number="2" hits="1"/><line number="3" hits="1"/><line number="4" hits="0"/>
        </lines></class></classes></package></packages></coverage>
        XML
      - exit 1
  post_build:
    commands:
      - echo post_build ran
reports:
  pytest:
    files:
      - junit.xml
    base-directory: test-results
  arn:aws:codebuild:eu-west-1:123456789012:report-group/coverage:
    files:
      - coverage.xml
    file-format: COBERTURAXML
  missing:
    files:
      - nothing/*.xml
"#;

fn position(log: &str, needle: &str) -> usize {
    log.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in the log:\n{log}"))
}

#[tokio::test]
async fn a_build_failing_in_build_still_makes_its_reports() {
    let harness = Harness::new(Some(FAILING_BUILD_WITH_REPORTS));
    let done = harness.run().await;
    assert_eq!(done.record.status, BuildStatus::Failed, "{}", done.log);
    assert_eq!(done.status_of(Build), Some(BuildStatus::Failed));
    assert_eq!(
        done.status_of(UploadArtifacts),
        Some(BuildStatus::Succeeded)
    );

    let groups: Vec<&str> = done.reports.iter().map(|r| r.group.as_str()).collect();
    assert_eq!(
        groups,
        [
            "pytest",
            "arn:aws:codebuild:eu-west-1:123456789012:report-group/coverage",
            "missing"
        ]
    );
    assert_eq!(
        done.record.report_arns,
        groups
            .iter()
            .map(|g| format!("report/{g}"))
            .collect::<Vec<_>>()
    );
    let api =
        serde_json::to_value(done.record.to_api("eu-west-1", "https://kiln.example/log")).unwrap();
    assert_eq!(api["reportArns"][0].as_str(), Some("report/pytest"));

    let pytest = &done.reports[0];
    assert_eq!(pytest.format, ReportFileFormat::JunitXml);
    assert!(!pytest.missing_files);
    assert_eq!(pytest.files.len(), 1);
    assert_eq!(pytest.files[0].path, "junit.xml");
    let Ok(ParsedReport::Test(tests)) = &pytest.files[0].outcome else {
        panic!("{:?}", pytest.files[0]);
    };
    assert_eq!(tests.summary.total, 2);
    assert_eq!(tests.cases[1].name, "test_div");
    assert!(
        tests.cases[1]
            .message
            .as_deref()
            .is_some_and(|m| m.contains("ZeroDivisionError"))
    );

    let coverage = &done.reports[1];
    assert_eq!(coverage.format, ReportFileFormat::CoberturaXml);
    let Ok(ParsedReport::CodeCoverage(cov)) = &coverage.files[0].outcome else {
        panic!("{:?}", coverage.files[0]);
    };
    assert_eq!(
        (cov.summary.lines_covered, cov.summary.lines_missed),
        (3, 1)
    );

    assert!(done.reports[2].missing_files);
    assert!(done.reports[2].files.is_empty());

    // After POST_BUILD, at the start of UPLOAD_ARTIFACTS, one line per file.
    let log = &done.log;
    let post_build = position(log, "Phase complete: POST_BUILD State: SUCCEEDED");
    let upload = position(log, "Entering phase UPLOAD_ARTIFACTS");
    let parsed = position(
        log,
        "Parsed report file test-results/junit.xml: 2 test cases (1 failed)",
    );
    position(
        log,
        "Parsed report file coverage.xml: 1 files, 75% of lines covered",
    );
    position(log, "Warning: no report files match the group's files");
    position(log, "Report created: report/pytest");
    let upload_end = position(log, "Phase complete: UPLOAD_ARTIFACTS State: SUCCEEDED");
    assert!(post_build < upload && upload < parsed && parsed < upload_end);
}

#[tokio::test]
async fn report_problems_never_change_the_build_status() {
    let harness = Harness::new(Some(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - mkdir -p r/dir.xml\n      \
         - printf '<testsuite>\\n<testcase name=\"a\">\\n</testsuite>\\n' > r/bad.xml\n      \
         - ln -s /etc/passwd r/passwd.xml\n      - head -c 300000 /dev/zero > r/zeros.xml\n\
         reports:\n  unit:\n    files:\n      - 'r/*.xml'\n      - '../../etc/*.xml'\n",
    ));
    let done = harness.run().await;
    assert_eq!(done.record.status, BuildStatus::Succeeded, "{}", done.log);
    assert_eq!(
        done.status_of(UploadArtifacts),
        Some(BuildStatus::Succeeded)
    );
    // The escaping pattern makes the whole group's selection fail, before any file is read.
    assert_eq!(done.reports.len(), 1);
    assert!(done.reports[0].missing_files);
    assert!(done.reports[0].files.is_empty());
    position(&done.log, "must not contain '..'");
    // The test sink makes a report even so; a build without reports has no `reportArns`.
    assert_eq!(done.record.report_arns, ["report/unit"]);
}

#[tokio::test]
async fn a_build_without_reports_has_no_report_arns() {
    let harness = Harness::new(Some(&spec("  build:\n    commands:\n      - echo hi\n")));
    let done = harness.run().await;
    assert!(done.reports.is_empty());
    let api =
        serde_json::to_value(done.record.to_api("eu-west-1", "https://kiln.example/log")).unwrap();
    assert!(api.get("reportArns").is_none(), "{api}");
}

#[tokio::test]
async fn unreadable_and_unparseable_report_files_are_logged_per_file() {
    let harness = Harness::new(Some(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - mkdir -p r/dir.xml\n      \
         - printf '<testsuite>\\n<testcase name=\"a\">\\n</testsuite>\\n' > r/bad.xml\n      \
         - ln -s /etc/passwd r/passwd.xml\n      - head -c 300000 /dev/zero > r/zeros.xml\n\
         reports:\n  unit:\n    files:\n      - 'r/*.xml'\n",
    ));
    let done = harness.run().await;
    assert_eq!(done.record.status, BuildStatus::Succeeded, "{}", done.log);
    let unit = &done.reports[0];
    let paths: Vec<&str> = unit.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["r/bad.xml", "r/zeros.xml"]);
    assert!(unit.files.iter().all(|f| f.outcome.is_err()));
    assert!(unit.missing_files, "the link out was left out");
    position(&done.log, "Cannot parse report file r/bad.xml at line 3: ");
    position(
        &done.log,
        "Cannot parse report file r/zeros.xml at line 1: ",
    );
    position(&done.log, "Warning: left out of the report: r/passwd.xml");
}

/// Two groups exporting to the local artifact store, ZIP and NONE, and one whose bucket the
/// store refuses; the build writes the report files beneath `test-results`.
const EXPORTING_BUILD: &str = r#"version: 0.2
phases:
  build:
    commands:
      - mkdir -p test-results/unit test-results/api
      - printf '<testsuite name="u"><testcase name="a"/></testsuite>\n' > test-results/unit/junit.xml
      - printf '<testsuite name="api"><testcase name="b"><failure/></testcase></testsuite>\n' > test-results/api/junit.xml
      - printf '<testsuite>\n' > test-results/broken.xml
      - ln -s /etc/passwd test-results/passwd.xml
reports:
  zipped:
    files:
      - '**/*.xml'
    base-directory: test-results
  plain:
    files:
      - 'test-results/**/*.xml'
    discard-paths: yes
  refused:
    files:
      - 'test-results/unit/junit.xml'
"#;

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn export(group: &str, bucket: &str, path: Option<&str>, packaging_zip: bool) -> ReportExport {
    ReportExport {
        bucket: bucket.to_owned(),
        path: path.map(str::to_owned),
        group_name: format!("demo-{group}"),
        packaging_zip,
    }
}

#[tokio::test]
async fn raw_report_files_are_exported_zipped_or_as_they_are() {
    let harness = Harness::new(Some(EXPORTING_BUILD));
    let sink = MemorySink {
        exports: vec![
            (
                "zipped".to_owned(),
                export("zipped", "report-bucket", Some("/raw/"), true),
            ),
            (
                "plain".to_owned(),
                export("plain", "report-bucket", None, false),
            ),
            (
                "refused".to_owned(),
                export("refused", "Not_A_Bucket", None, false),
            ),
        ],
        ..MemorySink::default()
    };
    let done = harness.run_with_sink(sink, CancellationToken::new()).await;
    assert_eq!(done.record.status, BuildStatus::Succeeded, "{}", done.log);
    assert_eq!(
        done.record.report_arns,
        ["report/zipped", "report/plain", "report/refused"]
    );
    let uuid = &done.record.uuid;
    let bucket = harness.store_root().join("report-bucket");
    let unit = b"<testsuite name=\"u\"><testcase name=\"a\"/></testsuite>\n".as_slice();
    let api = b"<testsuite name=\"api\"><testcase name=\"b\"><failure/></testcase></testsuite>\n"
        .as_slice();
    let broken = b"<testsuite>\n".as_slice();

    // ZIP: one archive of the files, by their paths in the base directory; the unparsable
    // file is raw data too, the link out of the source directory is not.
    let zip_path = bucket.join(format!("raw/demo-zipped/{uuid}.zip"));
    assert_eq!(
        zip_entries(&zip_path),
        [
            ("api/junit.xml".to_owned(), text(api)),
            ("broken.xml".to_owned(), text(broken)),
            ("unit/junit.xml".to_owned(), text(unit)),
        ]
    );
    position(
        &done.log,
        &format!(
            "Exported 3 raw report file(s) of report group demo-zipped to s3://report-bucket/raw/demo-zipped/{uuid}.zip"
        ),
    );

    // NONE: the files as they are, under the prefix, by their paths in the base directory
    // (discard-paths changes only the paths the report records).
    let prefix = bucket.join(format!("demo-plain/{uuid}"));
    assert_eq!(
        std::fs::read(prefix.join("test-results/unit/junit.xml")).unwrap(),
        unit
    );
    assert_eq!(
        std::fs::read(prefix.join("test-results/api/junit.xml")).unwrap(),
        api
    );
    assert_eq!(
        std::fs::read(prefix.join("test-results/broken.xml")).unwrap(),
        broken
    );
    assert!(!prefix.join("test-results/passwd.xml").exists());

    // A failed export is a warning; the report is made all the same.
    position(
        &done.log,
        "Warning: the raw report files of report group demo-refused were not exported to bucket Not_A_Bucket: ",
    );
    assert_eq!(
        done.status_of(UploadArtifacts),
        Some(BuildStatus::Succeeded)
    );
}

#[tokio::test]
async fn a_group_without_export_exports_nothing() {
    let harness = Harness::new(Some(EXPORTING_BUILD));
    let done = harness.run().await;
    assert_eq!(done.record.status, BuildStatus::Succeeded, "{}", done.log);
    assert!(!done.log.contains("Exported"), "{}", done.log);
    assert!(!harness.store_root().join("report-bucket").exists());
}
