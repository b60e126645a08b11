//! The console's report pages in a real browser (headless Chromium through chromedriver)
//! against the real `kiln` binary: builds whose buildspec declares a JUnit and a Cobertura
//! report group (real pytest and coverage.py output) make the reports the pages show. Each new
//! page is checked with axe-core (0 violations) in light and dark colours.
//!
//! axe-core comes from the PyPI package `axe-playwright-python`, which ships `axe.min.js`
//! (`pip install --no-deps axe-playwright-python`).

// Helpers here panic on failure like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use serde_json::{Value, json};

use common::axe::{axe_script, check_both_schemes, texts};
use common::browser::Browser;
use common::builds::{create_git_project, id_of, wait_build_complete};
use common::git::GitRepo;
use common::{ACCOUNT_A, ACCOUNT_B, KilnServer, aws};

const BUILD_DEADLINE: Duration = Duration::from_secs(120);
/// pytest: 2 passed, 1 failed, 1 error, 1 skipped.
const PYTEST_JUNIT: &str = include_str!("../../kiln-reports/tests/fixtures/pytest-junit.xml");
/// cargo-nextest: 2 passed, 2 failed.
const NEXTEST_JUNIT: &str = include_str!("../../kiln-reports/tests/fixtures/nextest-junit.xml");
/// coverage.py: calc/__init__.py and tests/test_calc.py.
const COVERAGE_PY: &str =
    include_str!("../../kiln-reports/tests/fixtures/coveragepy-cobertura.xml");

const BUILDSPEC: &str = "version: 0.2
phases:
  build:
    commands:
      - echo the tests ran
reports:
  unit:
    files:
      - 'test-results/*.xml'
  coverage:
    files:
      - coverage.xml
    file-format: COBERTURAXML
";

fn build_with(server: &KilnServer, repo: &GitRepo, junit: &str) -> Value {
    repo.commit(&[("test-results/junit.xml", junit)], "test results");
    let started = aws(
        server,
        &ACCOUNT_A,
        &["codebuild", "start-build", "--project-name", "app"],
    )
    .ok()
    .clone();
    wait_build_complete(server, id_of(&started["build"]), BUILD_DEADLINE)
}

fn uuid_of(build: &Value) -> String {
    id_of(build).split_once(':').unwrap().1.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_shows_reports_cases_coverage_and_trends() {
    let axe = axe_script();
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
        json!({"sourceVersion": "main", "badgeEnabled": true}),
    );
    aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "create-report-group",
            "--name",
            "manual",
            "--type",
            "TEST",
            "--export-config",
            "exportConfigType=NO_EXPORT",
        ],
    )
    .ok();
    build_with(&server, &repo, NEXTEST_JUNIT);
    let build = build_with(&server, &repo, PYTEST_JUNIT);
    let uuid = uuid_of(&build);
    assert_eq!(
        build["reportArns"].as_array().map(Vec::len),
        Some(2),
        "{build:#}"
    );

    let light = Browser::start(server.url()).await;
    let dark = Browser::start_with_args(server.url(), &["--force-dark-mode"]).await;
    light.sign_in(&ACCOUNT_A).await;
    dark.sign_in(&ACCOUNT_A).await;
    let dark_scheme = dark
        .client
        .execute(
            "return matchMedia('(prefers-color-scheme: dark)').matches;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(dark_scheme, json!(true));

    // The build page lists its reports, each with its summary, linking to its page.
    let build_path = format!("/projects/app/builds/{uuid}");
    light.goto(&build_path).await;
    let summaries = texts(&light, "#reports .report-summary").await;
    assert_eq!(
        summaries,
        [
            "2 passed, 1 failed, 1 errored, 1 skipped",
            "70% lines, 16.7% branches"
        ]
    );
    let report_path = format!("/report-groups/app-unit/reports/{uuid}");
    assert!(
        light
            .exists(&format!("#reports a[href='{report_path}']"))
            .await
    );
    check_both_schemes(&light, &dark, &axe, &build_path).await;

    // The test report: failed and erroneous cases first, with their messages.
    light.goto(&report_path).await;
    light.wait_text("#test-summary", "Duration").await;
    let statuses = texts(&light, "#cases > li .pill").await;
    assert_eq!(
        statuses,
        ["Failed", "Error", "Succeeded", "Succeeded", "Skipped"]
    );
    let first = light.text("#cases > li:first-child").await;
    assert!(first.contains("test_add_is_wrong"), "{first}");
    assert!(first.contains("assert 4 == 5"), "{first}");
    assert!(first.contains("test-results/junit.xml"), "{first}");
    check_both_schemes(&light, &dark, &axe, &report_path).await;

    // Filter by status through the form, then search by keyword.
    light.goto(&report_path).await;
    light.select("#status", "SKIPPED").await;
    light.click("form.case-filter button[type=submit]").await;
    light.wait_text("#cases", "test_skipped").await;
    assert_eq!(texts(&light, "#cases > li .pill").await, ["Skipped"]);
    light.goto(&format!("{report_path}?q=broken")).await;
    let names = texts(&light, "#cases .case-name").await;
    assert_eq!(names, ["test_with_broken_fixture"]);
    light.goto(&format!("{report_path}?q=no-such-test")).await;
    light.wait_text("#no-cases", "No test case matches").await;

    // The coverage report lists its files, by path or by line coverage.
    let coverage_path = format!("/report-groups/app-coverage/reports/{uuid}");
    light.goto(&coverage_path).await;
    let files = texts(&light, "#coverage-files tbody td:first-child").await;
    assert_eq!(files, ["calc/__init__.py", "tests/test_calc.py"]);
    light.click("#sort-line").await;
    light
        .wait_for(common::browser::UI_DEADLINE, "sorting by lines", || async {
            light.path().await.contains("sort=line").then_some(())
        })
        .await;
    check_both_schemes(&light, &dark, &axe, &coverage_path).await;
    check_both_schemes(
        &light,
        &dark,
        &axe,
        &format!("{coverage_path}?sort=line&order=desc"),
    )
    .await;

    // A group's page: its reports and the trend as an accessible SVG chart.
    light.goto("/report-groups/app-unit").await;
    assert_eq!(texts(&light, "#reports tbody tr").await.len(), 2);
    assert!(light.exists("#chart-pass-rate svg[role=img]").await);
    assert_eq!(texts(&light, "#chart-pass-rate circle").await.len(), 2);
    // The description is not rendered text: read its content.
    let desc = texts(&light, "#chart-pass-rate-desc").await.join("");
    assert!(desc.contains("oldest first: 50%, 40%"), "{desc}");
    check_both_schemes(&light, &dark, &axe, "/report-groups/app-unit").await;
    check_both_schemes(&light, &dark, &axe, "/report-groups/app-coverage").await;
    check_both_schemes(&light, &dark, &axe, "/report-groups/manual").await;

    // The list of groups, from the navigation.
    light.goto("/").await;
    light.click("nav.topnav a[href='/report-groups']").await;
    light.wait_text("h1", "Report groups").await;
    let groups = texts(&light, "#report-groups tbody td:first-child").await;
    assert_eq!(groups, ["app-coverage", "app-unit", "manual"]);
    check_both_schemes(&light, &dark, &axe, "/report-groups").await;

    // The project's badge panel offers the report badges.
    light.goto("/projects/app").await;
    let tests_badge = light.value("#badge-tests-url").await;
    assert!(tests_badge.contains("/badges?uuid="), "{tests_badge}");
    assert!(tests_badge.ends_with("&report=tests"), "{tests_badge}");
    let markdown = light.value("#badge-coverage-markdown").await;
    assert!(markdown.starts_with("![Coverage]("), "{markdown}");
    assert!(markdown.contains("&report=coverage)"), "{markdown}");
    check_both_schemes(&light, &dark, &axe, "/projects/app").await;

    // Another account sees none of it.
    let other = Browser::start(server.url()).await;
    other.sign_in(&ACCOUNT_B).await;
    for path in [
        report_path.as_str(),
        coverage_path.as_str(),
        "/report-groups/app-unit",
    ] {
        other.goto(path).await;
        other.wait_text("h1", "not found").await;
    }
    other.goto("/report-groups").await;
    assert!(!other.exists("#report-groups").await);
}
