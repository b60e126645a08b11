//! The console's build details page in a real browser (headless Chromium against the real
//! `kiln` binary): the commit with its subject, author and page on the forge; what started
//! the build (a signed webhook delivery with its pull request, a retry, a start by hand) and
//! who; the builds before and after; a ZIP artifact's files with their sizes and its download
//! as `.zip`; the phone layout; and axe in light and dark colours.

// Helpers here panic on failure like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::axe::{assert_accessible, axe_script, check_both_schemes, texts};
use common::browser::{Browser, UI_DEADLINE};
use common::builds::{create_git_project, uuid_of, wait_build_complete};
use common::console_http::{exchange, header, http_sign_in};
use common::forges::{Forge, create_webhook, deliver, fixture, outcome};
use common::git::GitRepo;
use common::{ACCOUNT_A, KilnServer, aws};
use serde_json::{Value, json};

const BUILD_DEADLINE: Duration = Duration::from_secs(120);
/// The forge's page of the repository, as the pull request fixture's payload names it.
const FORGE_REPO: &str = "https://github.com/octo-org/kiln-demo";

/// Two files in a ZIP artifact; the build fails when `$FAIL` is set.
const BUILDSPEC: &str = r#"version: 0.2
phases:
  build:
    commands:
      - mkdir -p out/docs
      - printf 'hello' > out/hello.txt
      - printf '0123456789' > out/docs/ten.txt
      - test "${FAIL:-0}" = 0
artifacts:
  files:
    - '**/*'
  base-directory: out
"#;

/// Waits until the page's build status is `status` (the page reloads when the build ends).
async fn wait_for_status(browser: &Browser, status: &str) {
    browser
        .wait_for(
            BUILD_DEADLINE,
            &format!("build status {status}"),
            || async {
                let shown = browser.prop("#build-status", "dataset").await;
                (shown["status"] == status).then_some(())
            },
        )
        .await;
}

async fn href(browser: &Browser, css: &str) -> String {
    browser
        .find(css)
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap_or_default()
}

/// What the browser lays out at `css`: left, top, width and height in CSS pixels.
async fn rect(browser: &Browser, css: &str) -> [f64; 4] {
    let value = browser
        .client
        .execute(
            "const r = document.querySelector(arguments[0]).getBoundingClientRect();
             return [r.left, r.top, r.width, r.height];",
            vec![json!(css)],
        )
        .await
        .unwrap();
    serde_json::from_value(value).unwrap()
}

fn start_failing_build(server: &KilnServer) -> Value {
    aws(
        server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "start-build",
            "--project-name",
            "app",
            "--environment-variables-override",
            "name=FAIL,value=1,type=PLAINTEXT",
        ],
    )
    .ok()["build"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_page_shows_commit_trigger_neighbours_and_artifact_files() {
    let server = KilnServer::start();
    let repo = GitRepo::init(server.root().join("repo"));
    repo.commit(&[("buildspec.yml", BUILDSPEC)], "buildspec");
    repo.git(&["checkout", "-q", "-b", "feature/parser"]);
    let head = repo.commit(&[("parser.txt", "p\n")], "Add the parser\n\nWith a body.");
    repo.git(&["checkout", "-q", "main"]);
    create_git_project(
        &server,
        "app",
        &repo.location(),
        json!({"artifacts": {"type": "S3", "location": "details-artifacts", "name": "bundle",
                             "packaging": "ZIP"}}),
    );
    let hook = create_webhook(&server, "app", &Value::Null);

    // A pull request, delivered and signed as GitHub sends it, builds its head: build #1.
    let mut pr = fixture("github-pull-request-opened.json");
    pr["pull_request"]["head"]["sha"] = head.clone().into();
    pr["pull_request"]["head"]["ref"] = "feature/parser".into();
    pr["pull_request"]["base"]["ref"] = "main".into();
    let reply = deliver(
        &hook,
        Forge::GitHub,
        "pull_request",
        "pr-1",
        &hook.secret,
        &pr,
    );
    let answer = outcome(&reply, 200);
    assert_eq!(answer["outcome"], "BUILT", "{answer}");
    let first_id = answer["buildId"].as_str().unwrap().to_string();
    let first = wait_build_complete(&server, &first_id, BUILD_DEADLINE);
    assert_eq!(first["buildStatus"], "SUCCEEDED", "{first}");
    let first_path = format!("/projects/app/builds/{}", uuid_of(&first));

    let light = Browser::start(server.url()).await;
    let dark = Browser::start_with_args(server.url(), &["--force-dark-mode"]).await;
    light.sign_in(&ACCOUNT_A).await;
    dark.sign_in(&ACCOUNT_A).await;
    let axe = axe_script();

    // The commit: subject, author, and its page on the forge the webhook came from.
    light.goto(&first_path).await;
    let commit = light.text("#commit").await;
    assert!(commit.contains("Add the parser"), "{commit}");
    assert!(!commit.contains("With a body"), "{commit}");
    assert!(commit.contains("Kiln Test"), "{commit}");
    assert!(commit.contains(&head[..8]), "{commit}");
    assert_eq!(
        href(&light, "#commit-link").await,
        format!("{FORGE_REPO}/commit/{head}")
    );
    // The trigger: the forge, the event, and a link to the pull request.
    let trigger = light.text("#trigger").await;
    assert!(
        trigger.contains("GitHub webhook: pull request created"),
        "{trigger}"
    );
    assert_eq!(
        href(&light, "#trigger a").await,
        format!("{FORGE_REPO}/pull/2")
    );
    assert_eq!(light.text("#initiator").await, "GitHub webhook");

    // The ZIP artifact, then each of its files with its size.
    let archive = light.find("#artifact-list a.archive").await;
    assert_eq!(archive.text().await.unwrap(), "bundle");
    let files = texts(&light, "#artifact-list ul.files li").await;
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(
        files[0].starts_with("docs/ten.txt") && files[0].ends_with("10 B"),
        "{files:?}"
    );
    assert!(
        files[1].starts_with("hello.txt") && files[1].ends_with("5 B"),
        "{files:?}"
    );
    let ten = href(&light, "#artifact-list ul.files a").await;
    assert_eq!(
        light.fetch("GET", &ten, "").await,
        (200, "0123456789".to_string())
    );
    // The whole archive downloads as a `.zip`.
    let cookie = http_sign_in(&server, &ACCOUNT_A);
    let archive_url = format!(
        "{}{}",
        server.url(),
        href(&light, "#artifact-list a.archive").await
    );
    let (status, headers, _) = exchange("GET", &archive_url, &[("Cookie", &cookie)], b"");
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-disposition", "attachment"),
        "attachment; filename=\"bundle.zip\""
    );
    check_both_schemes(&light, &dark, &axe, &first_path).await;

    // A retry from the page is "retry of #1", linked; build #2.
    light.goto(&first_path).await;
    light.click("#retry-build").await;
    let second_path = light
        .wait_for(UI_DEADLINE, "the retry's page", || async {
            let path = light.path().await;
            (path.starts_with("/projects/app/builds/") && path != first_path).then_some(path)
        })
        .await;
    wait_for_status(&light, "SUCCEEDED").await;
    let trigger = light.text("#trigger").await;
    assert!(trigger.starts_with("Retry of #1"), "{trigger}");
    assert_eq!(href(&light, "#trigger a").await, first_path);
    assert_eq!(
        href(&light, "#commit-link").await,
        format!("{FORGE_REPO}/commit/{head}"),
        "a retry keeps the forge's page of its commit"
    );
    assert!(
        light
            .text("#initiator")
            .await
            .starts_with("You (access key")
    );

    // A build started by hand that fails: build #3.
    let third = start_failing_build(&server);
    let third = wait_build_complete(&server, third["id"].as_str().unwrap(), BUILD_DEADLINE);
    assert_eq!(third["buildStatus"], "FAILED", "{third}");
    let third_path = format!("/projects/app/builds/{}", uuid_of(&third));

    // Previous and next builds, by number.
    light.goto(&second_path).await;
    assert_eq!(href(&light, "#previous-build").await, first_path);
    assert!(light.text("#previous-build").await.contains("#1"));
    assert!(light.text("#next-build").await.contains("#3"));
    light.click("#next-build").await;
    light.wait_path(&third_path).await;
    assert!(!light.exists("#next-build").await, "#3 is the newest");
    assert!(light.exists("#previous-build").await);
    assert!(light.text("#trigger").await.starts_with("Started by hand"));
    check_both_schemes(&light, &dark, &axe, &third_path).await;

    // On a phone, the phase table stacks: no sideways scrolling, and the failure reason sits
    // under its phase across the row's width.
    light.client.set_window_size(390, 844).await.unwrap();
    light.goto(&third_path).await;
    let (scroll, client) = {
        let sizes = light
            .client
            .execute(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
                vec![],
            )
            .await
            .unwrap();
        (sizes[0].as_f64().unwrap(), sizes[1].as_f64().unwrap())
    };
    assert!(
        scroll <= client,
        "the page scrolls sideways: {scroll} > {client}"
    );
    let failed_row = light
        .client
        .execute(
            "const rows = [...document.querySelectorAll('#phases tbody tr')];
             return rows.findIndex(r => r.cells[0].textContent.trim() === 'BUILD') + 1;",
            vec![],
        )
        .await
        .unwrap();
    let row = format!("#phases tbody tr:nth-child({failed_row})");
    let name = rect(&light, &format!("{row} td:first-child")).await;
    let reason = rect(&light, &format!("{row} td:last-child")).await;
    let reason_text = light.text(&format!("{row} td:last-child")).await;
    assert!(
        reason_text.contains("COMMAND_EXECUTION_ERROR"),
        "{reason_text}"
    );
    assert!(
        reason[1] >= name[1] + name[3] - 1.0,
        "the reason is beside its phase: {name:?} {reason:?}"
    );
    assert!(reason[2] > 250.0, "the reason is squeezed: {reason:?}");
    assert!(reason[3] < 150.0, "the reason is too tall: {reason:?}");
    let wrap = light
        .client
        .execute(
            "const s = getComputedStyle(document.querySelector(arguments[0]));
             return [s.wordBreak, s.overflowWrap];",
            vec![json!(format!("{row} td:last-child"))],
        )
        .await
        .unwrap();
    assert_eq!(
        wrap,
        json!(["normal", "break-word"]),
        "words break only between words"
    );
    light.screenshot("console-build-phone").await;
    assert_accessible(&light, &axe, "the failed build on a phone").await;
}
