//! Real runner output (tests/fixtures/README.md says where each file came from), checked
//! against the counts the runner itself reported.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::fs::File;

use kiln_reports::{
    CoverageReport, Limits, ParsedReport, ReportFileFormat, ReportStatusType, TestCaseStatus,
    TestReport, parse_report,
};

fn parse(format: &str, name: &str) -> ParsedReport {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let file = File::open(&path).unwrap();
    parse_report(format.parse().unwrap(), file, &Limits::default()).unwrap()
}

fn tests(format: &str, name: &str) -> TestReport {
    match parse(format, name) {
        ParsedReport::Test(r) => r,
        ParsedReport::CodeCoverage(_) => panic!("{name} is a test report"),
    }
}

fn coverage(format: &str, name: &str) -> CoverageReport {
    match parse(format, name) {
        ParsedReport::CodeCoverage(r) => r,
        ParsedReport::Test(_) => panic!("{name} is a coverage report"),
    }
}

/// (total, succeeded, failed, error, skipped, unknown)
fn counts(r: &TestReport) -> (u64, u64, u64, u64, u64, u64) {
    let c = |s: &str| r.summary.status_counts[s];
    (
        r.summary.total,
        c("SUCCEEDED"),
        c("FAILED"),
        c("ERROR"),
        c("SKIPPED"),
        c("UNKNOWN"),
    )
}

#[test]
fn pytest_junit() {
    // pytest: "1 failed, 2 passed, 1 skipped, 1 error"
    let r = tests("JUNITXML", "pytest-junit.xml");
    assert_eq!(counts(&r), (5, 2, 1, 1, 1, 0));
    assert_eq!(r.summary.report_status(), ReportStatusType::Failed);
    let failed = r
        .cases
        .iter()
        .find(|c| c.status == TestCaseStatus::Failed)
        .unwrap();
    assert_eq!(failed.prefix, "tests.test_calc");
    assert_eq!(failed.name, "test_add_is_wrong");
    assert!(
        failed
            .message
            .as_deref()
            .unwrap()
            .starts_with("assert 4 == 5\n")
    );
    assert_eq!(failed.test_suite_name.as_deref(), Some("pytest"));
}

#[test]
fn nextest_junit() {
    // cargo-nextest: "4 tests run: 2 passed, 2 failed, 0 skipped"
    let r = tests("JUNITXML", "nextest-junit.xml");
    assert_eq!(counts(&r), (4, 2, 2, 0, 0, 0));
    let failed = r
        .cases
        .iter()
        .find(|c| c.name == "tests::doubles_wrong")
        .unwrap();
    assert_eq!(failed.duration_in_nano_seconds, 138_000_000);
    assert!(failed.message.as_deref().unwrap().contains("two doubled"));
}

#[test]
fn jest_junit() {
    // <testsuites tests="6" failures="4">, one case <skipped/>.
    let r = tests("JUNITXML", "jest-junit.xml");
    assert_eq!(counts(&r), (6, 1, 4, 0, 1, 0));
    assert_eq!(r.cases[1].prefix, "Test 1 › Test 1.1");
}

#[test]
fn nunit2() {
    // NUnit 2.2.8: total="4" on the root, but the file holds two executed, successful cases.
    let r = tests("NUNITXML", "nunit2-simple.xml");
    assert_eq!(counts(&r), (2, 2, 0, 0, 0, 0));
    assert_eq!(r.cases[0].prefix, "UnitTests.MainClassTest");
    assert_eq!(r.cases[0].name, "TestPropertyValue");
    assert_eq!(r.cases[0].duration_in_nano_seconds, 146_000_000);
}

#[test]
fn nunit3() {
    // <test-run total="9" passed="3" failed="5" skipped="1">; two failures are label="Error".
    let r = tests("NUNIT3XML", "nunit3-dotnet.xml");
    assert_eq!(counts(&r), (9, 3, 3, 2, 1, 0));
    let ignored = r
        .cases
        .iter()
        .find(|c| c.status == TestCaseStatus::Skipped)
        .unwrap();
    assert_eq!(ignored.prefix, "DotnetTests.XUnitTests.CalculatorTests");
}

#[test]
fn trx_xunit() {
    // <Counters total="6" passed="2" failed="3">, one NotExecuted (xUnit's skip).
    let r = tests("VISUALSTUDIOTRX", "xunit-netcoreapp3.1.trx");
    assert_eq!(counts(&r), (6, 2, 3, 0, 1, 0));
    assert_eq!(r.cases[0].prefix, "SampleProject.xUnit.TestServiceTests");
    assert_eq!(r.cases[0].name, "FailTest");
    assert_eq!(r.cases[0].duration_in_nano_seconds, 1_148_200);
}

#[test]
fn coveragepy_cobertura() {
    // coverage.py: lines-valid="30" lines-covered="21" branches-valid="6" branches-covered="1".
    let r = coverage("COBERTURAXML", "coveragepy-cobertura.xml");
    assert_eq!(r.files.len(), 2);
    let s = &r.summary;
    assert_eq!((s.lines_covered, s.lines_missed), (21, 9));
    assert_eq!((s.branches_covered, s.branches_missed), (1, 5));
    assert_eq!(s.line_coverage_percentage, 70.0);
    assert_eq!(r.files[0].file_path, "calc/__init__.py");
    assert_eq!(r.files[0].line_coverage_percentage, 50.0);
}

#[test]
fn every_format_name_parses() {
    for f in ReportFileFormat::ALL {
        assert_eq!(f.as_str().parse::<ReportFileFormat>().unwrap(), f);
    }
}
