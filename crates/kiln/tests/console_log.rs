//! The build page's log viewer in a real browser (docs/console.md): builds whose commands
//! print ANSI colours, fail a phase, and print a log of a few MB; the page shows colours,
//! phases, line anchors, search, times, the tail of a long log and earlier output on demand,
//! downloads the raw log, and has no axe violations in light and dark colours. With
//! `KILN_SCREENSHOTS=1` it also saves `docs/screenshots/console-build-log.png`.

// Helpers here panic on failure like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use serde_json::{Value, json};

use common::axe::{axe_script, check_both_schemes};
use common::browser::{Browser, UI_DEADLINE};
use common::builds::{create_project, id_of, uuid_of, wait_build_complete};
use common::console_http::{exchange, header, http_sign_in};
use common::{ACCOUNT_A, KilnServer, aws};

const BUILD_DEADLINE: Duration = Duration::from_secs(120);
/// How long paging back through the whole long log (a dozen windows) may take.
const PAGING_DEADLINE: Duration = Duration::from_secs(180);

const COLOUR_SPEC: &str = "version: 0.2
phases:
  install:
    commands:
      - echo installing tools
  build:
    commands:
      - printf '\\033[31mred alert\\033[0m then \\033[1;32mbold green\\033[0m\\n'
      - echo needle-line-for-search
      - echo anchor-target-line
      - false
";

/// About 2.8 MB of long numbered lines: the page shows only the end (a few hundred lines, which
/// axe checks in reasonable time).
const BIG_SPEC: &str = "version: 0.2
phases:
  build:
    commands:
      - seq -f 'big line %g of the long log xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' 1 4200
";

/// Creates project `name` running `buildspec`, builds it, waits for the end; the build.
fn finished_build(server: &KilnServer, name: &str, buildspec: &str) -> Value {
    create_project(
        server,
        &json!({
            "name": name,
            "source": {"type": "NO_SOURCE", "buildspec": buildspec},
            "artifacts": {"type": "NO_ARTIFACTS"},
            "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                            "computeType": "BUILD_GENERAL1_SMALL"},
            "serviceRole": "arn:aws:iam::111122223333:role/r",
        }),
    );
    let build = aws(
        server,
        &ACCOUNT_A,
        &["codebuild", "start-build", "--project-name", name],
    )
    .ok()["build"]
        .clone();
    wait_build_complete(server, id_of(&build), BUILD_DEADLINE)
}

/// Runs `script` (a function body) in the page and returns its result.
async fn js(browser: &Browser, script: &str) -> Value {
    browser.client.execute(script, vec![]).await.unwrap()
}

/// Whether the line `css` is inside the log's visible area.
async fn line_in_view(browser: &Browser, css: &str) -> bool {
    let script = format!(
        "const line = document.querySelector({css:?}); const log = document.getElementById('log');
         if (!line) return false;
         const l = line.getBoundingClientRect(), b = log.getBoundingClientRect();
         return l.top >= b.top - 1 && l.bottom <= b.bottom + 1;"
    );
    js(browser, &script).await == json!(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_viewer_shows_colours_phases_anchors_search_and_pages() {
    let server = KilnServer::start();
    let colours = finished_build(&server, "colours", COLOUR_SPEC);
    assert_eq!(colours["buildStatus"], "FAILED");
    let big = finished_build(&server, "big-log", BIG_SPEC);
    assert_eq!(big["buildStatus"], "SUCCEEDED");
    let light = Browser::start(server.url()).await;
    light.sign_in(&ACCOUNT_A).await;
    let page = format!("/projects/colours/builds/{}", uuid_of(&colours));
    light.goto(&page).await;

    // Colours and bold are styled spans; no escape code shows.
    let red = light.text("#log span.a-fg1").await;
    assert_eq!(red, "red alert");
    assert_eq!(
        js(
            &light,
            "return getComputedStyle(document.querySelector('#log span.a-fg1')).color;"
        )
        .await,
        "rgb(255, 123, 114)"
    );
    assert_eq!(light.text("#log span.a-fg2.a-b").await, "bold green");
    assert_eq!(
        js(
            &light,
            "return getComputedStyle(document.querySelector('#log span.a-b')).fontWeight;"
        )
        .await,
        "700"
    );
    let text = light.wait_text("#log", "red alert then bold green").await;
    assert!(!text.contains('\u{1b}'), "{text}");

    // The failed phase is open, the phase that succeeded closed.
    assert_eq!(
        light.prop("details[data-phase='BUILD']", "dataset").await["state"],
        "FAILED"
    );
    assert_eq!(
        light.prop("details[data-phase='BUILD']", "open").await,
        true
    );
    assert_eq!(
        light.prop("details[data-phase='INSTALL']", "open").await,
        false
    );
    light
        .wait_text("details[data-phase='BUILD'] summary", "Failed")
        .await;

    // Search finds the line, opens its phase and says where it is.
    light.fill("#log-search", "needle-line").await;
    light
        .find("#log-search")
        .await
        .send_keys("\u{e007}")
        .await
        .unwrap();
    // Kiln's "Running command" line, then the command's output.
    light
        .wait_text("#log-search-status", "1 of 2 matching lines")
        .await;
    light
        .find("#log-search")
        .await
        .send_keys("\u{e007}")
        .await
        .unwrap();
    light
        .wait_text("#log-search-status", "2 of 2 matching lines")
        .await;
    let found = light.text("#log .ll.current .lx").await;
    assert_eq!(found, "needle-line-for-search");
    assert!(line_in_view(&light, "#log .ll.current").await);

    // A line's anchor, opened as a shared link, highlights the line and scrolls it into view.
    let anchor = js(
        &light,
        "return [...document.querySelectorAll('#log .ll')]
           .find(l => l.textContent.includes('anchor-target-line')).querySelector('.ln').getAttribute('href');",
    )
    .await;
    let anchor = anchor.as_str().unwrap().to_string();
    assert!(anchor.starts_with("#b"), "{anchor}");
    let number = light
        .text(&format!("#log {anchor} .ln"))
        .await
        .parse::<u64>()
        .unwrap();
    assert!(number > 1, "the whole log is shown, so lines have numbers");
    light.goto("/").await;
    light.goto(&format!("{page}{anchor}")).await;
    light
        .wait_for(
            UI_DEADLINE,
            "the anchored line to be highlighted",
            || async {
                (light.exists(&format!("{anchor}.target")).await
                    && line_in_view(&light, anchor.as_str()).await)
                    .then_some(())
            },
        )
        .await;

    // Times show on demand: each line's time, from Kiln's lines.
    assert_eq!(
        js(
            &light,
            "return document.querySelector('#log .ll .lt').offsetWidth;"
        )
        .await,
        0
    );
    light.click("#log-times").await;
    let time = light.text(&format!("{anchor} .lt")).await;
    assert!(
        time.len() == 8 && time.as_bytes()[2] == b':' && time.as_bytes()[5] == b':',
        "{time}"
    );
    light.full_page_screenshot("console-build-log").await;

    // The raw log downloads as a file named after the build.
    let session = http_sign_in(&server, &ACCOUNT_A);
    let (status, headers, body) = exchange(
        "GET",
        &format!("{}{page}/log", server.url()),
        &[("cookie", &session)],
        b"",
    );
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-disposition", ""),
        "attachment; filename=\"colours-1.log\""
    );
    assert!(
        body.contains("\u{1b}[31mred alert"),
        "the raw log as stored"
    );

    // A long log: the page holds its end only, and earlier output loads on demand.
    let big_page = format!("/projects/big-log/builds/{}", uuid_of(&big));
    light.goto(&big_page).await;
    light
        .wait_text("#log", "big line 4200 of the long log")
        .await;
    assert!(!light.exists("#b0").await, "the log's start is not loaded");
    let lines_before = js(
        &light,
        "return document.querySelectorAll('#log .ll').length;",
    )
    .await;
    let start = light.prop("#log", "dataset").await["start"]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    assert!(start > 2_000_000, "the tail starts at {start}");
    assert_eq!(
        js(
            &light,
            "const log = document.getElementById('log');
             return log.scrollHeight - log.scrollTop - log.clientHeight < 2;"
        )
        .await,
        true,
        "the log is scrolled to its end"
    );
    light.click("#log-earlier").await;
    light
        .wait_for(UI_DEADLINE, "earlier output", || async {
            let now = light.prop("#log", "dataset").await["start"]
                .as_str()
                .and_then(|s| s.parse::<u64>().ok())?;
            (now < start).then_some(())
        })
        .await;
    let lines_after = js(
        &light,
        "return document.querySelectorAll('#log .ll').length;",
    )
    .await;
    assert!(lines_after.as_u64() > lines_before.as_u64());
    // Without the script, the link is a page of the earlier output.
    let href = light
        .find("#log-earlier")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let (status, _, earlier) = exchange(
        "GET",
        &format!("{}{}", server.url(), href.split('#').next().unwrap()),
        &[("cookie", &session)],
        b"",
    );
    assert_eq!(status, 200);
    assert!(
        earlier.contains("id=\"log-later\""),
        "a way back to the end"
    );
    assert!(!earlier.contains("big line 4200 "), "only earlier output");
    // A link to the log's first line pages back until it is there; numbers start at 1.
    light.goto("/").await;
    light.goto(&format!("{big_page}#b0")).await;
    light
        .wait_for(PAGING_DEADLINE, "the first line to load", || async {
            light.exists("#b0.target").await.then_some(())
        })
        .await;
    assert_eq!(light.text("#b0 .ln").await, "1");
    assert!(
        !light.exists("#log-earlier").await,
        "nothing earlier is left"
    );

    let dark = Browser::start_with_args(server.url(), &["--force-dark-mode"]).await;
    dark.sign_in(&ACCOUNT_A).await;
    let axe = axe_script();
    check_both_schemes(&light, &dark, &axe, &page).await;
    check_both_schemes(&light, &dark, &axe, &big_page).await;
}
