//! The build page's log viewer in a real browser (docs/console.md): builds whose commands
//! print ANSI colours, fail a phase, and print a log of a few MB; the page shows colours,
//! phases, numbered lines and their anchors (a shared link to a line far from the tail too),
//! search, times, the tail of a long log and earlier and later output on demand, downloads the
//! raw log, follows a running build's log until the reader scrolls up, and has no axe
//! violations in light and dark colours. With
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

/// A build that fills the viewer at once, then prints a numbered tick five times a second.
const TICKING_SPEC: &str = "version: 0.2
phases:
  build:
    commands:
      - seq -f 'filler %g' 1 200
      - for i in $(seq 1 600); do echo tick $i; sleep 0.2; done
";

/// Creates project `name` running `buildspec` and starts a build of it; the build.
fn started_build(server: &KilnServer, name: &str, buildspec: &str) -> Value {
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
    aws(
        server,
        &ACCOUNT_A,
        &["codebuild", "start-build", "--project-name", name],
    )
    .ok()["build"]
        .clone()
}

/// Creates project `name` running `buildspec`, builds it, waits for the end; the build.
fn finished_build(server: &KilnServer, name: &str, buildspec: &str) -> Value {
    let build = started_build(server, name, buildspec);
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
           .find(l => l.querySelector('.lx').textContent === 'anchor-target-line').querySelector('.ln').getAttribute('href');",
    )
    .await;
    let anchor = anchor.as_str().unwrap().to_string();
    let number = light
        .text(&format!("#log {anchor} .ln"))
        .await
        .parse::<u64>()
        .unwrap();
    assert_eq!(anchor, format!("#L{number}"));
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
    let anchored = body
        .lines()
        .position(|l| l == "anchor-target-line")
        .unwrap() as u64
        + 1;
    assert_eq!(number, anchored, "the gutter numbers the log's lines");

    // A long log: the page holds its end only, numbered as the whole log is.
    let big_page = format!("/projects/big-log/builds/{}", uuid_of(&big));
    let (_, _, big_log) = exchange(
        "GET",
        &format!("{}{big_page}/log", server.url()),
        &[("cookie", &session)],
        b"",
    );
    // The number of the log line that prints "big line <k>".
    let first_big = big_log
        .lines()
        .position(|l| l.starts_with("big line 1 of"))
        .unwrap() as u64
        + 1;
    let big_line = |k: u64| first_big + k - 1;
    light.goto(&big_page).await;
    light
        .wait_text("#log", "big line 4200 of the long log")
        .await;
    assert!(!light.exists("#L1").await, "the log's start is not loaded");
    let last = big_line(4200);
    assert!(
        light
            .prop(&format!("#L{last} .lx"), "textContent")
            .await
            .as_str()
            .unwrap()
            .starts_with("big line 4200 of"),
        "line {last} is numbered as in the whole log"
    );
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
    // Earlier lines come numbered, with no line left out between the windows.
    let numbers = js(
        &light,
        "return [...document.querySelectorAll('#log .ll .ln')].map(l => Number(l.textContent));",
    )
    .await;
    let numbers: Vec<u64> = serde_json::from_value(numbers).unwrap();
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "lines {}..{} are numbered one after another",
        numbers[0],
        numbers[numbers.len() - 1]
    );
    assert!(numbers.contains(&last));
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
    assert!(earlier.contains("id=\"log-end\""), "a way back to the end");
    assert!(!earlier.contains("big line 4200 "), "only earlier output");

    // A shared link to a line far from the tail shows the window around it, the line
    // highlighted and in view.
    let target = big_line(10);
    light.goto("/").await;
    light.goto(&format!("{big_page}#L{target}")).await;
    light
        .wait_for(UI_DEADLINE, "the linked line to be highlighted", || async {
            (light.exists(&format!("#L{target}.target")).await
                && line_in_view(&light, &format!("#L{target}")).await)
                .then_some(())
        })
        .await;
    assert!(
        light
            .prop(&format!("#L{target} .lx"), "textContent")
            .await
            .as_str()
            .unwrap()
            .starts_with("big line 10 of"),
        "line {target} is the one linked"
    );
    assert_eq!(
        light.prop(&format!("#L{target} .ln"), "textContent").await,
        target.to_string()
    );
    assert_eq!(light.path().await, format!("{big_page}?line={target}"));
    // Without the script, `?line=` is that page, and "Load later output" goes on from its end.
    let (_, _, around) = exchange(
        "GET",
        &format!("{}{big_page}?line={target}", server.url()),
        &[("cookie", &session)],
        b"",
    );
    assert!(around.contains(&format!("id=\"L{target}\"")));
    let later = around
        .split("id=\"log-later\"")
        .next()
        .and_then(|head| head.rsplit("href=\"").next())
        .and_then(|tail| tail.split('"').next())
        .unwrap()
        .replace("&amp;", "&");
    let last_shown = around.rsplit("class=\"ll\" id=\"L").next().unwrap();
    let last_shown: u64 = last_shown[..last_shown.find('"').unwrap()].parse().unwrap();
    let (_, _, after) = exchange(
        "GET",
        &format!("{}{}", server.url(), later.split('#').next().unwrap()),
        &[("cookie", &session)],
        b"",
    );
    let first_after = after.split("class=\"ll\" id=\"L").nth(1).unwrap();
    let first_after: u64 = first_after[..first_after.find('"').unwrap()]
        .parse()
        .unwrap();
    assert_eq!(
        first_after,
        last_shown + 1,
        "the later page goes on from the line after"
    );

    let dark = Browser::start_with_args(server.url(), &["--force-dark-mode"]).await;
    dark.sign_in(&ACCOUNT_A).await;
    let axe = axe_script();
    check_both_schemes(&light, &dark, &axe, &page).await;
    check_both_schemes(&light, &dark, &axe, &big_page).await;
}

/// The numbers of the lines shown, in order.
async fn shown_numbers(browser: &Browser) -> Vec<u64> {
    let numbers = js(
        browser,
        "return [...document.querySelectorAll('#log .ll .ln')].map(l => Number(l.textContent));",
    )
    .await;
    serde_json::from_value(numbers).unwrap()
}

/// Whether the log is scrolled to its end.
async fn at_end(browser: &Browser) -> bool {
    js(
        browser,
        "const log = document.getElementById('log');
         return log.scrollHeight - log.scrollTop - log.clientHeight < 2;",
    )
    .await
        == json!(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_log_follows_the_end_until_the_reader_scrolls_up() {
    let server = KilnServer::start();
    let build = started_build(&server, "ticking", TICKING_SPEC);
    let light = Browser::start(server.url()).await;
    light.sign_in(&ACCOUNT_A).await;
    light
        .goto(&format!("/projects/ticking/builds/{}", uuid_of(&build)))
        .await;
    light.wait_text("#log", "tick 3").await;
    assert_eq!(light.prop("#log", "dataset").await["live"], "true");
    assert_eq!(light.prop("#log-follow", "checked").await, true);
    let count = |numbers: &[u64]| numbers.len();

    // Following: each new tick comes into view at the end.
    let shown = count(&shown_numbers(&light).await);
    light
        .wait_for(UI_DEADLINE, "new lines at the end, in view", || async {
            (count(&shown_numbers(&light).await) > shown + 3 && at_end(&light).await).then_some(())
        })
        .await;

    // Scrolling up stops following: new lines arrive, the reader's place stays.
    js(
        &light,
        "document.getElementById('log').scrollTop = 0; return null;",
    )
    .await;
    light
        .wait_for(UI_DEADLINE, "following to stop", || async {
            (light.prop("#log-follow", "checked").await == json!(false)).then_some(())
        })
        .await;
    let shown = count(&shown_numbers(&light).await);
    light
        .wait_for(UI_DEADLINE, "new lines while scrolled up", || async {
            (count(&shown_numbers(&light).await) > shown + 3).then_some(())
        })
        .await;
    assert_eq!(
        js(&light, "return document.getElementById('log').scrollTop;").await,
        0,
        "the reader's place is kept"
    );

    // Ticking "Follow the end" goes back to the end and follows it again.
    light.click("#log-follow").await;
    let shown = count(&shown_numbers(&light).await);
    light
        .wait_for(UI_DEADLINE, "following to resume", || async {
            (count(&shown_numbers(&light).await) > shown + 3 && at_end(&light).await).then_some(())
        })
        .await;

    // Live lines are numbered on from the page's, one after another.
    let numbers = shown_numbers(&light).await;
    assert_eq!(numbers[0], 1);
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    let last_line = js(
        &light,
        "const lines = document.querySelectorAll('#log .ll .lx');
         return lines[lines.length - 1].textContent;",
    )
    .await;
    assert!(
        last_line.as_str().unwrap().starts_with("tick "),
        "{last_line}"
    );

    aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "stop-build", "--id", id_of(&build)],
    )
    .ok();
    wait_build_complete(&server, id_of(&build), BUILD_DEADLINE);
}
