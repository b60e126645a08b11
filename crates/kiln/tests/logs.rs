//! Build logs are served from the store: the raw log (`?offset=`) and the console's live log
//! follow a running build, from any offset. On PostgreSQL the runner's spool is gone once its
//! log is stored, so the server reads what every other replica reads.

// Helpers here panic on failure like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use common::builds::{create_project, curl_signed, get_build, id_of, uuid_of, wait_build_complete};
use common::console_http::http_sign_in;
use common::{ACCOUNT_A, KilnServer, aws, wait_until};

const BUILD_DEADLINE: Duration = Duration::from_secs(120);

/// A project whose build prints `first-line`, waits for `gate` in its work directory, then
/// prints `lines` numbered lines (several log pieces' worth when large).
fn gated_project(server: &KilnServer, name: &str, lines: u32) {
    let buildspec = format!(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo first-line\n      - \
         while [ ! -e ../gate ]; do sleep 0.05; done\n      - seq -f 'line-%09g' 1 {lines}\n"
    );
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
}

fn start(server: &KilnServer, name: &str) -> Value {
    aws(
        server,
        &ACCOUNT_A,
        &["codebuild", "start-build", "--project-name", name],
    )
    .ok()["build"]
        .clone()
}

fn open_gate(server: &KilnServer, build: &Value) {
    let work = server.data_dir().join("work").join(uuid_of(build));
    std::fs::write(work.join("gate"), "").unwrap();
}

fn log_url(server: &KilnServer, build: &Value, offset: usize) -> String {
    format!(
        "{}/builds/{}/log?offset={offset}",
        server.url(),
        uuid_of(build)
    )
}

#[test]
fn the_raw_log_follows_a_running_build_and_reads_from_any_offset() {
    let server = KilnServer::start();
    // About 2.3 MB after the gate: the log is stored in several pieces.
    gated_project(&server, "follow", 150_000);
    let build = start(&server, "follow");

    // Followed with `?offset=` as the build runs: the first line arrives before the build ends.
    let mut followed = String::new();
    wait_until(BUILD_DEADLINE, "the first line in the stored log", || {
        let (status, body) = curl_signed(&log_url(&server, &build, followed.len()));
        assert_eq!(status, 200, "{body}");
        followed.push_str(&body);
        followed.contains("first-line\n")
    });
    assert_eq!(get_build(&server, id_of(&build))["buildComplete"], false);
    open_gate(&server, &build);
    let done = wait_build_complete(&server, id_of(&build), BUILD_DEADLINE);
    assert_eq!(done["buildStatus"], "SUCCEEDED", "{done:#}");
    let (_, rest) = curl_signed(&log_url(&server, &build, followed.len()));
    followed.push_str(&rest);

    let (status, written) = curl_signed(&log_url(&server, &build, 0));
    assert_eq!(status, 200);
    assert!(
        written.contains("line-000150000\n"),
        "the whole output is in the stored log"
    );
    assert_same_log(&followed, &written);

    // SQLite keeps the log as the file the runner wrote; on PostgreSQL the runner's spool is
    // gone once shipped, and the database's copy is all there is (as on every other replica).
    let file = server
        .data_dir()
        .join("logs")
        .join(format!("{}.log", uuid_of(&build)));
    if common::postgres::suites_use_postgres() {
        assert!(
            !file.exists(),
            "the spool {} outlived the shipping",
            file.display()
        );
    } else {
        assert_same_log(&std::fs::read_to_string(&file).unwrap(), &written);
    }
    for offset in [
        1,
        1024 * 1024 - 1,
        1024 * 1024,
        1024 * 1024 + 1,
        written.len() - 1,
    ] {
        let (_, tail) = curl_signed(&log_url(&server, &build, offset));
        assert_same_log(&tail, &written[offset..]);
    }
    let (_, past_the_end) = curl_signed(&log_url(&server, &build, written.len() + 10));
    assert_eq!(past_the_end, "");
}

/// The text of the `data:` lines of `message` events up to `end`, read from a live-log stream
/// as it comes; `on_text` sees the text so far after each event.
fn follow_events(url: &str, cookie: &str, mut on_text: impl FnMut(&str)) -> (String, String) {
    let mut curl = Command::new("curl")
        .args(["-sSN", "--max-time", "120", "-H"])
        .arg(format!("cookie: {cookie}"))
        .arg(url)
        .stdout(Stdio::piped())
        .spawn()
        .expect("running curl");
    let stdout = BufReader::new(curl.stdout.take().unwrap());
    let (mut text, mut event, mut end) = (String::new(), None, None);
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(name) = line.strip_prefix("event:") {
            event = Some(name.trim().to_string());
        } else if let Some(data) = line.strip_prefix("data:") {
            match event.as_deref() {
                Some("end") => end = Some(data.trim().to_string()),
                Some(_) => {}
                None => {
                    text.push_str(&serde_json::from_str::<String>(data.trim()).unwrap());
                    on_text(&text);
                }
            }
        } else if line.is_empty() {
            event = None;
            if end.is_some() {
                break;
            }
        }
    }
    let _ = curl.kill();
    let _ = curl.wait();
    (text, end.expect("the stream ended with an `end` event"))
}

#[test]
fn the_live_log_follows_a_running_build_from_the_store() {
    let server = KilnServer::start();
    gated_project(&server, "live", 20_000);
    let build = start(&server, "live");
    let cookie = http_sign_in(&server, &ACCOUNT_A);
    let url = format!(
        "{}/projects/live/builds/{}/log/events",
        server.url(),
        uuid_of(&build)
    );
    let mut gate_opened = false;
    let (text, end) = follow_events(&url, &cookie, |text| {
        if !gate_opened && text.contains("first-line\n") {
            // Heard while the build still waits for the gate: the stream is live.
            assert_eq!(get_build(&server, id_of(&build))["buildComplete"], false);
            open_gate(&server, &build);
            gate_opened = true;
        }
    });
    assert!(gate_opened, "the first line came live: {text}");
    assert_eq!(end, "SUCCEEDED");
    let (status, stored) = curl_signed(&log_url(&server, &build, 0));
    assert_eq!(status, 200);
    assert!(
        stored.contains("line-000020000\n"),
        "the whole output is stored"
    );
    assert_same_log(&text, &stored);
}

/// Compares two logs, saying where they part rather than printing them.
fn assert_same_log(got: &str, want: &str) {
    if got != want {
        let at = got
            .bytes()
            .zip(want.bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        let around = |s: &str| {
            s.get(at.saturating_sub(40)..(at + 40).min(s.len()))
                .unwrap_or("")
                .to_string()
        };
        panic!(
            "the logs part at byte {at} (lengths {} and {}): {:?} vs {:?}",
            got.len(),
            want.len(),
            around(got),
            around(want)
        );
    }
}
