//! Build history in the console, in headless Chromium against the real `kiln` binary: the
//! projects list's real latest build, the project page's paged history and duration chart, the
//! account's Builds page with its filters, live pages (a running build's duration counts on,
//! the history follows builds as they start and end without a reload), the phone layout, and
//! axe-core (0 violations) in light and dark colours on each page.

// Helpers here panic on failure like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::axe::{axe_script, check_both_schemes, texts};
use common::browser::{Browser, UI_DEADLINE};
use common::builds::{
    create_git_project, id_of, start_builds, wait_build_complete, wait_builds_where,
};
use common::git::GitRepo;
use common::{ACCOUNT_A, KilnServer, boto3};
use serde_json::{Value, json};

/// How long a build of the test's buildspec may take.
const BUILD_DEADLINE: Duration = Duration::from_secs(120);
/// Fails with `FAIL=1`, takes `PAUSE` seconds.
const BUILDSPEC: &str = "version: 0.2
phases:
  build:
    commands:
      - sleep ${PAUSE:-0}
      - test \"${FAIL:-0}\" = 0
";

/// StartBuild's input for `project` on `branch` with environment overrides `vars`.
fn start_input(project: &str, branch: &str, vars: &[(&str, &str)]) -> Value {
    let vars: Vec<Value> = vars
        .iter()
        .map(|(name, value)| json!({"name": name, "value": value, "type": "PLAINTEXT"}))
        .collect();
    json!({"projectName": project, "sourceVersion": branch, "environmentVariablesOverride": vars})
}

/// Starts one build and waits for it to end.
fn build(server: &KilnServer, project: &str, branch: &str, vars: &[(&str, &str)]) -> Value {
    let started = start_builds(server, &[start_input(project, branch, vars)]);
    wait_build_complete(server, id_of(&started[0]), BUILD_DEADLINE)
}

/// The build numbers of the history rows on the page, in order.
async fn history_numbers(browser: &Browser, table: &str) -> Vec<i64> {
    texts(browser, &format!("{table} tbody tr td[data-label='Build']"))
        .await
        .iter()
        .map(|t| t.trim_start_matches('#').parse().unwrap())
        .collect()
}

/// The text of `css` read in one script, so a live redraw between finding the element and
/// reading it cannot go stale; empty when it is not there.
async fn live_text(browser: &Browser, css: &str) -> String {
    texts(browser, css)
        .await
        .into_iter()
        .next()
        .unwrap_or_default()
}

/// Whether the page scrolls sideways.
async fn scrolls_sideways(browser: &Browser) -> bool {
    let out = browser
        .client
        .execute(
            "return document.documentElement.scrollWidth > document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    out == json!(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_history_lists_pages_filters_and_follows_builds() {
    let axe = axe_script();
    let server = KilnServer::start();
    let repo = GitRepo::init(server.root().join("repo"));
    repo.commit(&[("buildspec.yml", BUILDSPEC)], "buildspec");
    repo.git(&["branch", "feature/x"]);
    for name in ["web", "api"] {
        create_git_project(
            &server,
            name,
            &repo.location(),
            json!({"badgeEnabled": true}),
        );
    }
    boto3(
        &server,
        &ACCOUNT_A,
        "client.create_project(name='many', source={'type': 'NO_SOURCE',
            'buildspec': 'version: 0.2\\nphases:\\n  build:\\n    commands:\\n      - echo quick'},
            artifacts={'type': 'NO_ARTIFACTS'},
            environment={'type': 'LINUX_CONTAINER', 'image': 'aws/codebuild/standard:7.0', 'computeType': 'BUILD_GENERAL1_SMALL'},
            serviceRole='r')
result = True",
    );
    // web: #1 passes on main, #2 fails on main (#3 passes on feature/x below); api: #1 fails.
    build(&server, "web", "main", &[]);
    build(&server, "web", "main", &[("FAIL", "1")]);
    build(&server, "api", "main", &[("FAIL", "1")]);
    // 26 builds of "many", more than a page of history.
    let inputs: Vec<Value> = (0..26).map(|_| json!({"projectName": "many"})).collect();
    let many = start_builds(&server, &inputs);
    let many_ids: Vec<&str> = many.iter().map(id_of).collect();

    let browser = Browser::start(server.url()).await;
    let dark = Browser::start_with_args(server.url(), &["--force-dark-mode"]).await;
    browser.sign_in(&ACCOUNT_A).await;
    dark.sign_in(&ACCOUNT_A).await;

    // The projects list shows each project's real latest build, whatever its branch, apart
    // from its badge: web's latest (#2) failed, as did api's only build; then web's #3 passes
    // on another branch.
    browser.goto("/").await;
    let web = browser
        .wait_text("tr[data-name='web'] td.latest-build", "Failed")
        .await;
    assert!(web.contains("#2") && web.contains("main"), "{web}");
    let api = browser.text("tr[data-name='api'] td.latest-build").await;
    assert!(api.contains("Failed") && api.contains("#1"), "{api}");
    assert!(browser.exists("tr[data-name='web'] img.badge-img").await);
    wait_builds_where(&server, &many_ids, r#"b["buildComplete"]"#, BUILD_DEADLINE);
    build(&server, "web", "feature/x", &[]);
    browser.goto("/").await;
    let web = browser
        .wait_text("tr[data-name='web'] td.latest-build", "Succeeded")
        .await;
    assert!(web.contains("#3") && web.contains("feature/x"), "{web}");
    check_both_schemes(&browser, &dark, &axe, "/").await;

    // The project's history pages by build number: 20 newest, then the older ones, no build
    // twice; the chart has one bar per build.
    browser.goto("/projects/many").await;
    let first = history_numbers(&browser, "#history").await;
    assert_eq!(first, (7..=26).rev().collect::<Vec<i64>>());
    let bars = browser
        .client
        .execute(
            "return [...document.querySelectorAll('#chart-durations rect.bar')].map(b => +b.dataset.build);",
            vec![],
        )
        .await
        .unwrap();
    let bars: Vec<i64> = serde_json::from_value(bars).unwrap();
    assert_eq!(bars, (1..=26).collect::<Vec<i64>>());
    browser.click("#older-builds").await;
    browser.wait_text("#newest-builds", "Newest builds").await;
    let second = history_numbers(&browser, "#history").await;
    assert_eq!(second, (1..=6).rev().collect::<Vec<i64>>());
    assert!(!browser.exists("#older-builds").await);
    let seen: BTreeSet<i64> = first.iter().chain(&second).copied().collect();
    assert_eq!(seen.len(), 26);
    check_both_schemes(&browser, &dark, &axe, "/projects/many").await;

    // The account's Builds page filters by project, status and branch.
    browser.goto("/builds").await;
    browser.fill("#project", "web").await;
    browser.click("#apply-filter").await;
    browser.wait_text("#h-builds", "Matching builds").await;
    assert_eq!(history_numbers(&browser, "#builds").await, [3, 2, 1]);
    browser.select("#status", "FAILED").await;
    browser.click("#apply-filter").await;
    browser
        .wait_for(UI_DEADLINE, "web's failed builds", || async {
            let numbers = history_numbers(&browser, "#builds").await;
            (numbers == [2]).then_some(())
        })
        .await;
    browser.goto("/builds?status=FAILED").await;
    let projects = texts(&browser, "#builds td[data-label='Project']").await;
    assert_eq!(projects, ["api", "web"]);
    browser.goto("/builds?branch=feature%2Fx").await;
    assert_eq!(history_numbers(&browser, "#builds").await, [3]);
    assert_eq!(
        texts(&browser, "#builds td[data-label='Source version']").await,
        ["feature/x"]
    );
    // Unfiltered, it pages through every build of the account.
    browser.goto("/builds").await;
    assert_eq!(
        texts(&browser, "#builds tbody tr").await.len(),
        25,
        "a full first page"
    );
    browser.click("#older-builds").await;
    browser.wait_text("#newest-builds", "Newest builds").await;
    assert_eq!(texts(&browser, "#builds tbody tr").await.len(), 30 - 25);
    check_both_schemes(&browser, &dark, &axe, "/builds?status=FAILED").await;

    // Live: the open project page shows a build start and end without a reload, and the
    // running build's duration counts on.
    browser.goto("/projects/web").await;
    browser
        .client
        .execute("window.notReloaded = true;", vec![])
        .await
        .unwrap();
    let started = start_builds(&server, &[start_input("web", "main", &[("PAUSE", "8")])]);
    let row = "#history tr[data-build='4']";
    browser.wait_text(row, "In progress").await;
    let duration = format!("{row} td[data-label='Duration']");
    let first_read = live_text(&browser, &duration).await;
    assert!(first_read.ends_with("so far"), "{first_read}");
    browser
        .wait_for(
            UI_DEADLINE,
            "the running build's duration to move",
            || async {
                let now = live_text(&browser, &duration).await;
                (now != first_read && now.ends_with("so far")).then_some(())
            },
        )
        .await;
    browser.wait_text(row, "Succeeded").await;
    assert!(!live_text(&browser, &duration).await.ends_with("so far"));
    let kept = browser
        .client
        .execute("return window.notReloaded === true;", vec![])
        .await
        .unwrap();
    assert_eq!(kept, json!(true), "the page was reloaded");
    wait_build_complete(&server, id_of(&started[0]), BUILD_DEADLINE);

    // The build page's duration counts on too while the build runs.
    let started = start_builds(&server, &[start_input("web", "main", &[("PAUSE", "8")])]);
    let uuid = id_of(&started[0]).split_once(':').unwrap().1.to_string();
    browser.goto(&format!("/projects/web/builds/{uuid}")).await;
    let first_read = live_text(&browser, "#build-duration").await;
    browser
        .wait_for(UI_DEADLINE, "the build page's duration to move", || async {
            let now = live_text(&browser, "#build-duration").await;
            (now != first_read).then_some(())
        })
        .await;
    wait_build_complete(&server, id_of(&started[0]), BUILD_DEADLINE);

    // On a phone the history tables stack: nothing scrolls sideways.
    browser.client.set_window_size(390, 844).await.unwrap();
    for path in ["/", "/projects/web", "/builds"] {
        browser.goto(path).await;
        assert!(!scrolls_sideways(&browser).await, "{path} scrolls sideways");
    }
}
