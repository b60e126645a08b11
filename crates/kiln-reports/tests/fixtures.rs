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
fn surefire_junit4_errors_and_failures() {
    // Surefire's <testsuite tests="9" errors="5" skipped="0" failures="2">: 2 pass.
    let r = tests("JUNITXML", "surefire-EmailAddressTest.xml");
    assert_eq!(counts(&r), (9, 2, 2, 5, 0, 0));
    let first = &r.cases[0];
    assert_eq!(
        first.prefix,
        "action.surefire.report.email.EmailAddressTest"
    );
    assert_eq!(first.name, "shouldNotContainInternationalizedHostNames");
    assert_eq!(first.status, TestCaseStatus::Error);
    assert_eq!(first.duration_in_nano_seconds, 10_000_000);
    assert_eq!(
        first.test_suite_name.as_deref(),
        Some("action.surefire.report.email.EmailAddressTest")
    );
    // The body repeats the `message` attribute, so the message is the body alone; the
    // non-ASCII host survives.
    assert!(first.message.as_deref().unwrap().starts_with(
        "action.surefire.report.email.InvalidEmailAddressException: \
         Invalid email address 'user@ñandú.com.ar'\n\tat "
    ));
}

#[test]
fn surefire_skipped() {
    // <testsuite tests="5" errors="0" skipped="1" failures="2">: 2 pass.
    let r = tests("JUNITXML", "surefire-StringUtilsTest.xml");
    assert_eq!(counts(&r), (5, 2, 2, 0, 1, 0));
    assert_eq!(r.cases[4].name, "require_fail_null");
    assert_eq!(r.cases[4].status, TestCaseStatus::Skipped);
}

#[test]
fn testng_results() {
    // <testng-results total="4" passed="2" failed="1" skipped="1">; no configuration methods.
    let r = tests("TESTNGXML", "testng-results.xml");
    assert_eq!(counts(&r), (4, 2, 1, 0, 1, 0));
    let failed = &r.cases[0];
    assert_eq!(
        (failed.prefix.as_str(), failed.name.as_str()),
        ("TestNG2", "calculatorTest")
    );
    assert_eq!(failed.duration_in_nano_seconds, 4_000_000);
    assert_eq!(
        failed.message.as_deref(),
        Some("java.lang.AssertionError\nexpected [4] but found [7]")
    );
    assert_eq!(
        failed.test_suite_name.as_deref(),
        Some("C:/Users/Rebecca/IdeaProjects/TestNGDemo/src/test/java/TestNG.java")
    );
    assert_eq!(r.cases[1].status, TestCaseStatus::Skipped);
}

#[test]
fn cucumber_jvm_json() {
    // Four scenarios; the steps of three all "passed", the fourth has one "failed" step
    // followed by six "skipped". Every scenario has one passed before and after hook.
    let r = tests("CUCUMBERJSON", "cucumber-jvm.json");
    assert_eq!(counts(&r), (4, 3, 1, 0, 0, 0));
    assert_eq!(r.cases[0].prefix, "LoginFeature");
    // The before hook, four steps and the after hook, summed with a script.
    assert_eq!(r.cases[0].duration_in_nano_seconds, 9_785_000_000);
    let failed = &r.cases[3];
    assert_eq!(
        (failed.prefix.as_str(), failed.name.as_str()),
        ("PostFeature", "Create a new post")
    );
    assert_eq!(failed.status, TestCaseStatus::Failed);
    assert_eq!(failed.duration_in_nano_seconds, 8_210_000_000);
    assert!(
        failed
            .message
            .as_deref()
            .unwrap()
            .starts_with("org.openqa.selenium.ElementNotInteractableException")
    );
}

#[test]
fn jacoco_report() {
    // The <report>'s own counters: LINE missed="3" covered="25", BRANCH missed="2" covered="6";
    // five <sourcefile>s, Predator.java (an interface) without counters.
    let r = coverage("JACOCOXML", "jacoco.xml");
    assert_eq!(r.files.len(), 5);
    let s = &r.summary;
    assert_eq!((s.lines_covered, s.lines_missed), (25, 3));
    assert_eq!((s.branches_covered, s.branches_missed), (6, 2));
    assert_eq!(s.line_coverage_percentage, 89.29);
    assert_eq!(s.branch_coverage_percentage, 75.0);
    // Animal.java: LINE missed="3" covered="4", BRANCH missed="2" covered="2".
    let animal = &r.files[0];
    assert_eq!(animal.file_path, "com/example/Animal.java");
    assert_eq!((animal.lines_covered, animal.lines_missed), (4, 3));
    assert_eq!((animal.branches_covered, animal.branches_missed), (2, 2));
    assert_eq!(animal.line_coverage_percentage, 57.14);
}

#[test]
fn clover_phpunit() {
    // The project's <metrics statements="34" coveredstatements="30" conditionals="0">; files
    // have only `name`, and their <metrics> come after the <line>s.
    let r = coverage("CLOVERXML", "clover-phpunit.xml");
    assert_eq!(r.files.len(), 2);
    let s = &r.summary;
    assert_eq!((s.lines_covered, s.lines_missed), (30, 4));
    assert_eq!((s.branches_covered, s.branches_missed), (0, 0));
    let cli = &r.files[0];
    assert_eq!(
        cli.file_path,
        "/Users/inqast/Study/php-project-lvl2/src/Cli.php"
    );
    assert_eq!((cli.lines_covered, cli.lines_missed), (0, 4));
}

#[test]
fn clover_istanbul() {
    // Jest's clover.xml: <metrics statements="5" coveredstatements="5" conditionals="2"
    // coveredconditionals="1">, one file with a `path`.
    let r = coverage("CLOVERXML", "clover-istanbul.xml");
    assert_eq!(r.files.len(), 1);
    let f = &r.files[0];
    assert_eq!(
        f.file_path,
        r"C:\Users\pullU\getting-started-with-jest\src\filterByTerm.js"
    );
    assert_eq!((f.lines_covered, f.lines_missed), (5, 0));
    assert_eq!((f.branches_covered, f.branches_missed), (1, 1));
    assert_eq!(f.branch_coverage_percentage, 50.0);
}

#[test]
fn simplecov_resultset() {
    // One "RSpec" command, four files, `lines` only (no branch coverage). Counted with a
    // script: non-null entries are relevant, > 0 covered: bank_account.rb 26/0,
    // bank_statement.rb 7/1, bank_account_spec.rb 41/0, bank_statement_spec.rb 8/0.
    let r = coverage("SIMPLECOV", "simplecov-resultset.json");
    assert_eq!(r.files.len(), 4);
    let s = &r.summary;
    assert_eq!((s.lines_covered, s.lines_missed), (82, 1));
    assert_eq!((s.branches_covered, s.branches_missed), (0, 0));
    assert_eq!(s.line_coverage_percentage, 98.8);
    let statement = r
        .files
        .iter()
        .find(|f| f.file_path.ends_with("/lib/bank_statement.rb"))
        .unwrap();
    assert_eq!((statement.lines_covered, statement.lines_missed), (7, 1));
}

#[test]
fn every_format_name_parses() {
    for f in ReportFileFormat::ALL {
        assert_eq!(f.as_str().parse::<ReportFileFormat>().unwrap(), f);
    }
}
