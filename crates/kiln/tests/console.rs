//! The web console in a real browser: headless Chromium (through chromedriver) against the real
//! `kiln` binary and a git repository made by the test. With `KILN_SCREENSHOTS=1` the test
//! also saves the screenshots in `docs/screenshots/`.

// Helpers here panic on failure like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::browser::{Browser, UI_DEADLINE};
use common::builds::curl_signed;
use common::console_http::{exchange, header, hidden_value, http_sign_in};
use common::git::GitRepo;
use common::{ACCOUNT_A, ACCOUNT_B, KilnServer, boto3, http_get, http_post};

const PROJECT: &str = "console-demo";
/// How long a build of the test's buildspec may take.
const BUILD_DEADLINE: Duration = Duration::from_secs(120);
const BUILD_COMMANDS: &str = "echo \"hello from kiln\"\nsleep ${PAUSE:-2}\necho \"artifact content\" > out.txt\necho \"build finished\"";

async fn sign_out(browser: &Browser) {
    browser.click("form[action='/sign-out'] button").await;
    browser.wait_path("/sign-in").await;
}

/// Waits until the build page shows `status` (the page reloads when the live log ends).
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

async fn current_build_path(browser: &Browser) -> String {
    browser
        .wait_for(UI_DEADLINE, "a build page", || async {
            let path = browser.path().await;
            path.starts_with(&format!("/projects/{PROJECT}/builds/"))
                .then_some(path)
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_creates_builds_and_badges_a_project() {
    let server = KilnServer::start();
    let repo = GitRepo::init(server.root().join("repo"));
    let commit = repo.commit(&[("README.md", "# Console demo\n")], "first commit");
    let browser = Browser::start(server.url()).await;

    // `POST /` is still the API.
    let api = http_post(&format!("{}/", server.url()), &[], b"{}");
    assert_eq!(api.status, 400);
    assert!(api.body.contains("__type"), "{}", api.body);

    // Sign-in: pages need it; a wrong secret is refused next to the field.
    browser.goto("/").await;
    browser.wait_path("/sign-in").await;
    browser.screenshot("console-sign-in").await;
    browser
        .submit_sign_in(ACCOUNT_A.access_key_id, "not-the-secret")
        .await;
    browser.wait_text("#secret-error", "not correct").await;
    assert_eq!(
        browser.prop("#secret_access_key", "ariaInvalid").await,
        "true"
    );
    browser.sign_in(&ACCOUNT_A).await;
    browser.wait_text("h1", "Build projects").await;
    let cookies = browser
        .client
        .execute("return document.cookie;", vec![])
        .await
        .unwrap();
    assert!(
        !cookies
            .as_str()
            .unwrap_or_default()
            .contains("kiln_session"),
        "the session cookie must be HttpOnly: {cookies}"
    );

    // A validation error shows next to its field, in words.
    browser.goto("/create-project").await;
    browser.fill("#name", "bad name!").await;
    browser.fill("#source_location", &repo.location()).await;
    browser.click("button[value=review]").await;
    // (In words: every message of the form is in tests/console_forms.rs.)
    browser
        .wait_text("#name-error", "Use 2–150 letters, digits, - or _")
        .await;
    assert_eq!(browser.prop("#name", "ariaInvalid").await, "true");
    assert!(browser.exists("#error-summary a[href='#name']").await);

    // S3 as the source turns the badge option off, and says why.
    browser.click("#badge").await;
    browser.select("#source_type", "S3").await;
    assert_eq!(browser.prop("#badge", "disabled").await, true);
    assert_eq!(browser.prop("#badge", "checked").await, false);
    assert_eq!(browser.prop("#badge-reason", "hidden").await, false);
    browser.wait_text("#badge-reason", "Amazon S3").await;
    browser.select("#source_type", "NO_SOURCE").await;
    assert_eq!(browser.prop("#badge", "disabled").await, true);
    browser.select("#source_type", "GITHUB").await;
    assert_eq!(browser.prop("#badge", "disabled").await, false);
    assert_eq!(browser.prop("#badge-reason", "hidden").await, true);

    // Create a badge-enabled project through the form, review it, create it.
    browser.goto("/create-project").await;
    browser.fill("#name", PROJECT).await;
    browser
        .fill("#description", "Made in the browser test")
        .await;
    browser.fill("#source_location", &repo.location()).await;
    browser.click("#badge").await;
    browser
        .click("input[name=buildspec_mode][value=commands]")
        .await;
    browser.fill("#build_commands", BUILD_COMMANDS).await;
    browser.click("input[name=artifacts_type][value=S3]").await;
    browser
        .fill("#artifacts_location", "console-artifacts")
        .await;
    browser.fill("#artifacts_name", "demo").await;
    browser.fill("#artifacts_files", "out.txt").await;
    browser.fill("#env_name_1", "GREETING").await;
    browser.fill("#env_value_1", "hi").await;
    browser.full_page_screenshot("console-create").await;
    browser.click("button[value=review]").await;
    browser.wait_text("h1", "Review and create").await;
    browser.wait_text("main", PROJECT).await;
    browser.wait_text("main", "GREETING (Plaintext)").await;
    browser.full_page_screenshot("console-review").await;
    browser.click("#create-project").await;
    browser.wait_path(&format!("/projects/{PROJECT}")).await;
    browser.wait_text(".notice", "Created").await;

    // Start a build and watch the live log until SUCCEEDED.
    browser.click("#start-build").await;
    let first_build = current_build_path(&browser).await;
    browser.wait_text("#log", "hello from kiln").await;
    wait_for_status(&browser, "SUCCEEDED").await;
    browser.wait_text("#log", "build finished").await;
    assert_eq!(browser.text("#resolved-commit").await, commit);
    browser.wait_text("#phases", "BUILD").await;
    let artifact = browser.find("#artifact-list a").await;
    assert!(artifact.text().await.unwrap().ends_with("out.txt"));
    let href = artifact.attr("href").await.unwrap().unwrap();
    assert_eq!(
        browser.fetch("GET", &href, "").await,
        (200, "artifact content\n".to_string())
    );
    browser.full_page_screenshot("console-build").await;

    // Copy badge URL, and read what was copied from the clipboard.
    browser.goto(&format!("/projects/{PROJECT}")).await;
    browser.allow_clipboard().await;
    browser.click("#copy-badge-url").await;
    browser.wait_text("#copy-status", "Copied").await;
    let copied = browser.read_clipboard().await;
    assert_eq!(copied, browser.value("#badge-url").await);
    assert!(
        copied.starts_with(&format!("{}/badges?uuid=", server.url())),
        "{copied}"
    );
    assert_eq!(
        browser.value("#badge-markdown").await,
        format!("![Build Status]({copied})")
    );
    // The branch picker rewrites the URL and the Markdown.
    browser.fill("#branch", "feature/x").await;
    let branch_url = format!("{copied}&branch=feature%2Fx");
    assert_eq!(browser.value("#badge-url").await, branch_url);
    assert_eq!(
        browser.value("#badge-markdown").await,
        format!("![Build Status]({branch_url})")
    );
    browser.fill("#branch", "").await;
    assert_eq!(browser.value("#badge-url").await, copied);
    browser
        .wait_for(UI_DEADLINE, "the badge preview to load", || async {
            let width = browser.prop("#badge-preview", "naturalWidth").await;
            (width.as_u64().unwrap_or(0) > 0).then_some(())
        })
        .await;
    browser.full_page_screenshot("console-project").await;

    browser.client.set_window_size(390, 844).await.unwrap();
    browser.goto(&format!("/projects/{PROJECT}")).await;
    browser.screenshot("console-project-phone").await;
    browser.client.set_window_size(1280, 900).await.unwrap();

    // The project list shows the live badge, or the latest status of a project without one,
    // and filters by name.
    boto3(
        &server,
        &ACCOUNT_A,
        "client.create_project(name='docs-site', description='Static documentation',
            source={'type': 'NO_SOURCE', 'buildspec': 'version: 0.2\\nphases:\\n  build:\\n    commands:\\n      - echo docs'},
            artifacts={'type': 'NO_ARTIFACTS'},
            environment={'type': 'LINUX_CONTAINER', 'image': 'aws/codebuild/standard:7.0', 'computeType': 'BUILD_GENERAL1_SMALL'},
            serviceRole='codebuild-docs-site-service-role')
result = True",
    );
    browser.goto("/").await;
    browser
        .find(&format!("tr[data-name='{PROJECT}'] img.badge-img"))
        .await;
    browser
        .wait_text("tr[data-name='docs-site']", "No builds")
        .await;
    browser.screenshot("console-projects").await;
    browser.fill("#q", "demo").await;
    assert_eq!(
        browser.prop("tr[data-name='docs-site']", "hidden").await,
        true
    );
    assert_eq!(
        browser
            .prop(&format!("tr[data-name='{PROJECT}']"), "hidden")
            .await,
        false
    );
    browser.goto("/?q=docs").await;
    assert!(!browser.exists(&format!("tr[data-name='{PROJECT}']")).await);
    browser.wait_text("#project-count", "1 of 2 projects").await;

    // The copied URL shows the passing badge.
    browser.client.goto(&copied).await.unwrap();
    let svg = browser.client.source().await.unwrap();
    assert!(svg.contains("passing"), "{svg}");
    assert!(http_get(&copied, &[]).body.contains(">passing<"));

    // A build that is stopped, then retried.
    browser.goto(&format!("/projects/{PROJECT}")).await;
    browser.fill("#env_overrides", "PAUSE=300").await;
    browser.click("#start-build").await;
    let stopped_build = current_build_path(&browser).await;
    assert_ne!(stopped_build, first_build);
    browser.wait_text("#log", "hello from kiln").await;
    assert_eq!(browser.prop("#log", "dataset").await["live"], "true");
    // The phases follow too: BUILD runs while the page stays as it is.
    browser
        .wait_for(UI_DEADLINE, "the BUILD phase to show as running", || async {
            let rows = browser
                .client
                .execute(
                    "return [...document.querySelectorAll('#phases tbody tr')].map(r => r.innerText);",
                    vec![],
                )
                .await
                .ok()?;
            rows.as_array()?
                .iter()
                .any(|r| {
                    r.as_str()
                        .is_some_and(|r| r.starts_with("BUILD") && r.contains("In progress"))
                })
                .then_some(())
        })
        .await;
    browser.full_page_screenshot("console-build-live").await;
    browser.click("#stop-build").await;
    wait_for_status(&browser, "STOPPED").await;
    browser.wait_text("#phases", "BUILD_STOPPED").await;
    browser.click("#retry-build").await;
    browser
        .wait_for(UI_DEADLINE, "the retried build's page", || async {
            let path = browser.path().await;
            (path.starts_with(&format!("/projects/{PROJECT}/builds/")) && path != stopped_build)
                .then_some(())
        })
        .await;
    browser.wait_text("#log", "hello from kiln").await;
    browser.click("#stop-build").await;
    wait_for_status(&browser, "STOPPED").await;

    // Edit: the same form, filled in.
    browser.goto(&format!("/projects/{PROJECT}")).await;
    browser.click("#edit-project").await;
    browser
        .wait_path(&format!("/projects/{PROJECT}/edit"))
        .await;
    assert_eq!(browser.prop("#name", "readOnly").await, true);
    assert_eq!(browser.value("#build_commands").await, BUILD_COMMANDS);
    assert_eq!(browser.prop("#badge", "checked").await, true);
    assert_eq!(browser.value("#env_name_1").await, "GREETING");
    browser.fill("#description", "Edited in the browser").await;
    browser.fill("#timeout", "soon").await;
    browser.click("form.project-form button.primary").await;
    browser
        .wait_text("#timeout-error", "whole number of minutes")
        .await;
    assert!(
        browser
            .client
            .title()
            .await
            .unwrap()
            .starts_with("Error: Edit ")
    );
    browser.fill("#timeout", "30").await;
    browser.click("form.project-form button.primary").await;
    browser.wait_path(&format!("/projects/{PROJECT}")).await;
    browser.wait_text(".notice", "Saved").await;
    browser.wait_text(".lead", "Edited in the browser").await;
    browser.wait_text("main", "30 min").await;

    // A form posted without the CSRF token, or with a wrong one, is refused.
    let delete = format!("/projects/{PROJECT}/delete");
    assert_eq!(
        browser.fetch("POST", &delete, "confirm=delete").await.0,
        403
    );
    assert_eq!(
        browser
            .fetch("POST", &delete, "csrf=forged&confirm=delete")
            .await
            .0,
        403
    );
    assert_eq!(
        browser
            .fetch("GET", &format!("/projects/{PROJECT}"), "")
            .await
            .0,
        200
    );

    // Unknown pages get the 404 page.
    browser.goto("/no/such/page").await;
    browser.wait_text("h1", "Page not found").await;
    assert_eq!(browser.fetch("GET", "/no/such/page", "").await.0, 404);
    browser.screenshot("console-not-found").await;

    // Another account sees none of it.
    sign_out(&browser).await;
    browser.sign_in(&ACCOUNT_B).await;
    browser.wait_text("main", "No build projects yet").await;
    assert!(!browser.exists(&format!("tr[data-name='{PROJECT}']")).await);
    browser.goto(&format!("/projects/{PROJECT}")).await;
    browser.wait_text("h1", "Project not found").await;
    assert_eq!(
        browser
            .fetch("GET", &format!("/projects/{PROJECT}"), "")
            .await
            .0,
        404
    );
    assert_eq!(browser.fetch("GET", &first_build, "").await.0, 404);
    sign_out(&browser).await;
    browser.sign_in(&ACCOUNT_A).await;

    // Delete, with confirmation.
    browser.goto(&format!("/projects/{PROJECT}")).await;
    browser.click("#delete-project").await;
    browser.wait_path(&delete).await;
    browser.fill("#confirm", "nope").await;
    browser.click("#confirm-delete").await;
    browser.wait_text("#confirm-error", "delete").await;
    browser.fill("#confirm", "delete").await;
    browser.click("#confirm-delete").await;
    browser.wait_path("/").await;
    browser
        .wait_text(".notice", &format!("Deleted build project {PROJECT}"))
        .await;
    assert!(!browser.exists(&format!("tr[data-name='{PROJECT}']")).await);
    assert!(http_get(&copied, &[]).body.contains(">unknown<"));
}

/// The cookie and CSRF rules, seen on the wire.
#[test]
fn sign_in_sets_a_strict_http_only_session_and_forms_need_the_token() {
    let server = KilnServer::start();
    let url = |path: &str| format!("{}{path}", server.url());
    let (status, headers, page) = exchange("GET", &url("/sign-in"), &[], b"");
    assert_eq!(status, 200);
    let sign_in_cookie = header(&headers, "set-cookie", "kiln_sign_in=");
    assert!(sign_in_cookie.contains("HttpOnly") && sign_in_cookie.contains("SameSite=Strict"));
    let cookie_pair = sign_in_cookie.split(';').next().unwrap().to_string();
    let token = hidden_value(&page, "csrf");
    let form = |csrf: &str| {
        format!(
            "csrf={csrf}&access_key_id={}&secret_access_key={}&next=%2F",
            ACCOUNT_A.access_key_id, ACCOUNT_A.secret
        )
    };
    let form_type = ("content-type", "application/x-www-form-urlencoded");
    // Without the sign-in form's token, nothing happens.
    let (status, _, _) = exchange(
        "POST",
        &url("/sign-in"),
        &[form_type, ("cookie", &cookie_pair)],
        form("forged").as_bytes(),
    );
    assert_eq!(status, 403);
    let (status, headers, body) = exchange(
        "POST",
        &url("/sign-in"),
        &[form_type, ("cookie", &cookie_pair)],
        form(&token).as_bytes(),
    );
    assert_eq!(status, 303, "{body}");
    assert_eq!(header(&headers, "location", ""), "/");
    let session = header(&headers, "set-cookie", "kiln_session=");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(flag), "{flag} missing in {session}");
    }
    assert!(
        !session.contains("Secure"),
        "plain http has no Secure cookie"
    );
    let session_pair = session.split(';').next().unwrap().to_string();
    let (status, headers, home) = exchange("GET", &url("/"), &[("cookie", &session_pair)], b"");
    assert_eq!(status, 200);
    assert!(home.contains("Build projects"));
    assert!(header(&headers, "content-security-policy", "").contains("script-src 'self'"));
    // A signed-in POST without the session's token is refused.
    let (status, _, _) = exchange(
        "POST",
        &url("/sign-out"),
        &[form_type, ("cookie", &session_pair)],
        b"",
    );
    assert_eq!(status, 403);
    let csrf = hidden_value(&home, "csrf");
    let (status, _, _) = exchange(
        "POST",
        &url("/sign-out"),
        &[form_type, ("cookie", &session_pair)],
        format!("csrf={csrf}").as_bytes(),
    );
    assert_eq!(status, 303);
    // The session is over, even for a client that kept the cookie.
    let (status, headers, _) = exchange("GET", &url("/"), &[("cookie", &session_pair)], b"");
    assert_eq!(status, 303);
    assert!(header(&headers, "location", "/sign-in").starts_with("/sign-in"));
}

/// The live log's events carry byte offsets as ids; a reconnect with `Last-Event-ID` resumes
/// exactly there, and the stream ends with the build's status.
#[test]
fn live_log_resumes_from_the_last_event_id() {
    let server = KilnServer::start();
    let build = boto3(
        &server,
        &ACCOUNT_A,
        "client.create_project(name='events', source={'type': 'NO_SOURCE',
            'buildspec': 'version: 0.2\\nphases:\\n  build:\\n    commands:\\n      - echo café one\\n      - echo two'},
            artifacts={'type': 'NO_ARTIFACTS'},
            environment={'type': 'LINUX_CONTAINER', 'image': 'aws/codebuild/standard:7.0', 'computeType': 'BUILD_GENERAL1_SMALL'},
            serviceRole='r')
build = client.start_build(projectName='events')['build']
import time
while not client.batch_get_builds(ids=[build['id']])['builds'][0]['buildComplete']:
    time.sleep(0.1)
result = build['id']",
    );
    let uuid = build
        .as_str()
        .unwrap()
        .split_once(':')
        .unwrap()
        .1
        .to_string();
    let (status, log) = curl_signed(&format!("{}/builds/{uuid}/log", server.url()));
    assert_eq!(status, 200, "{log}");
    let log = log.into_bytes();
    let session = http_sign_in(&server, &ACCOUNT_A);
    let events_url = format!("{}/projects/events/builds/{uuid}/log/events", server.url());
    // Resume in the middle of the "é" (two bytes): the stream starts right there.
    let resume_at = log.windows(2).position(|w| w == "é".as_bytes()).unwrap() + 1;
    let (status, headers, body) = exchange(
        "GET",
        &events_url,
        &[
            ("cookie", &session),
            ("last-event-id", &resume_at.to_string()),
        ],
        b"",
    );
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type", "").starts_with("text/event-stream"));
    let mut text = Vec::new();
    let mut last_id = resume_at;
    let mut end = None;
    let mut progress_events = 0;
    for event in body.split("\n\n").filter(|e| !e.trim().is_empty()) {
        let field = |name: &str| {
            event
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}:")))
                .map(|v| v.trim_start().to_string())
        };
        match field("event").as_deref() {
            Some("end") => {
                end = field("data");
                continue;
            }
            Some("progress") => {
                let progress: serde_json::Value =
                    serde_json::from_str(&field("data").unwrap()).unwrap();
                assert!(progress["phases"].as_array().is_some_and(|p| !p.is_empty()));
                progress_events += 1;
                continue;
            }
            _ => {}
        }
        let Some(data) = field("data") else { continue };
        text.extend(serde_json::from_str::<String>(&data).unwrap().into_bytes());
        last_id = field("id").unwrap().parse().unwrap();
    }
    assert_eq!(end.as_deref(), Some("SUCCEEDED"));
    assert_eq!(
        progress_events, 1,
        "a complete build's phases are sent once"
    );
    assert_eq!(last_id, log.len());
    // The cut character is sent as a replacement character, then the rest byte for byte.
    assert_eq!(
        String::from_utf8_lossy(&text),
        String::from_utf8_lossy(&log[resume_at..])
    );
    // Without a Last-Event-ID, `from` says where to start; another account sees nothing.
    let (_, _, from_start) = exchange(
        "GET",
        &format!("{events_url}?from=0"),
        &[("cookie", &session)],
        b"",
    );
    assert!(from_start.contains("two"));
    let other = http_sign_in(&server, &ACCOUNT_B);
    let (status, _, _) = exchange("GET", &events_url, &[("cookie", &other)], b"");
    assert_eq!(status, 404);
}

/// Sign-ins are kept in the database: a restart does not sign anyone out.
#[test]
fn sessions_survive_a_restart() {
    let mut server = KilnServer::start();
    let session = http_sign_in(&server, &ACCOUNT_B);
    server.restart();
    let (status, _, home) = exchange(
        "GET",
        &format!("{}/", server.url()),
        &[("cookie", &session)],
        b"",
    );
    assert_eq!(status, 200);
    assert!(
        home.contains(ACCOUNT_B.account_id),
        "the page names the account"
    );
}
