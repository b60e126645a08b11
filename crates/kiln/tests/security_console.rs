//! The web console under attack, over plain HTTP and in headless Chromium against the real
//! `kiln` binary: guessing secrets (rate limits per access key and per client address, shared
//! by replicas), open redirects through `next`, a planted sign-in cookie, and files inside ZIP
//! artifacts.

// Helpers here panic on failure like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::thread;
use std::time::Duration;

use common::browser::{Browser, UI_DEADLINE};
use common::builds::{create_project, uuid_of, wait_build_complete};
use common::console_http::{SignInForm, exchange, header, hidden_value, http_sign_in};
use common::{ACCOUNT_A, ACCOUNT_B, KilnServer, aws, wait_until};
use serde_json::json;

/// The first lockout tests run with: long enough that a refusal right after it is certain,
/// short enough to wait for its end.
const LOCKOUT_SECONDS: &str = "4";
/// Attempts that are never held back (`SIGN_IN_BACKOFF.free_attempts`): the last of them
/// already locks out the next.
const FREE_ATTEMPTS: usize = 5;
/// How long a test waits for a lockout to pass.
const LOCKOUT_DEADLINE: Duration = Duration::from_secs(60);

fn server_with_short_lockouts() -> KilnServer {
    KilnServer::builder()
        .env("KILN_SIGN_IN_LOCKOUT_SECONDS", LOCKOUT_SECONDS)
        .start()
}

fn retry_after(headers: &[(String, String)]) -> Option<u64> {
    headers
        .iter()
        .find(|(k, _)| k == "retry-after")
        .map(|(_, v)| v.parse().unwrap())
}

/// `FREE_ATTEMPTS` wrong secrets for distinct unknown keys, from one client: afterwards the
/// client's address is locked out.
fn exhaust_address(server: &KilnServer, form: &SignInForm, forwarded_for: Option<&str>) {
    for i in 0..FREE_ATTEMPTS {
        let key = format!("AKIDUNKNOWN{i}");
        let headers: Vec<(&str, &str)> = forwarded_for
            .map(|f| vec![("x-forwarded-for", f)])
            .unwrap_or_default();
        let (status, _, body) = form.post(
            server,
            &[("access_key_id", &key), ("secret_access_key", "guess")],
            &headers,
        );
        assert!(status == 401 || status == 429, "{status}: {body}");
    }
}

#[test]
fn a_burst_of_wrong_secrets_locks_the_key_out_even_for_the_right_secret() {
    let server = server_with_short_lockouts();
    let form = SignInForm::fetch(&server, &[]);
    let wrong: Vec<String> = (0..30).map(|i| format!("wrong-secret-{i:03}")).collect();
    let replies: Vec<(u16, Option<u64>)> = thread::scope(|scope| {
        let tasks: Vec<_> = wrong
            .iter()
            .map(|secret| {
                let (form, server) = (&form, &server);
                scope.spawn(move || {
                    let (status, headers, _) = form.submit(server, ACCOUNT_A.access_key_id, secret);
                    (status, retry_after(&headers))
                })
            })
            .collect();
        tasks.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let unauthorized = replies.iter().filter(|(s, _)| *s == 401).count();
    let limited: Vec<u64> = replies
        .iter()
        .filter(|(s, _)| *s == 429)
        .map(|(_, wait)| wait.expect("429 comes with Retry-After"))
        .collect();
    assert_eq!(
        unauthorized,
        FREE_ATTEMPTS - 1,
        "only the free attempts are checked: {replies:?}"
    );
    assert_eq!(limited.len(), wrong.len() - unauthorized, "{replies:?}");
    let most: u64 = LOCKOUT_SECONDS.parse().unwrap();
    assert!(
        limited.iter().all(|w| (1..=most).contains(w)),
        "{limited:?}"
    );

    // The right secret during the lockout is refused too, and the page says when to retry.
    let (status, headers, page) = form.submit(&server, ACCOUNT_A.access_key_id, ACCOUNT_A.secret);
    assert_eq!(status, 429, "{page}");
    assert!(retry_after(&headers).is_some_and(|w| (1..=most).contains(&w)));
    assert!(
        page.contains("Too many failed sign-in attempts. Try again in"),
        "{page}"
    );
    assert!(
        !headers
            .iter()
            .any(|(k, v)| k == "set-cookie" && v.starts_with("kiln_session=")),
        "no session during a lockout"
    );

    // Once the lockout ends the right secret gets in (refused attempts do not count).
    wait_until(LOCKOUT_DEADLINE, "the lockout to end", || {
        form.submit(&server, ACCOUNT_A.access_key_id, ACCOUNT_A.secret)
            .0
            == 303
    });

    // Refusals are logged with the client and key, never with a secret.
    let log = server.stderr_log();
    assert!(
        log.lines().any(|l| l.contains("console sign-in refused")
            && l.contains("client=127.0.0.1")
            && l.contains(&format!("access_key_id=\"{}\"", ACCOUNT_A.access_key_id))),
        "{log}"
    );
    assert!(!log.contains("wrong-secret-"), "a secret was logged");
    assert!(!log.contains(ACCOUNT_A.secret), "a secret was logged");
}

#[test]
fn an_address_that_keeps_failing_is_locked_out_for_every_key() {
    let server = server_with_short_lockouts();
    let form = SignInForm::fetch(&server, &[]);
    exhaust_address(&server, &form, None);
    let (status, headers, page) = form.submit(&server, ACCOUNT_B.access_key_id, ACCOUNT_B.secret);
    assert_eq!(status, 429, "{page}");
    assert!(retry_after(&headers).is_some());
}

#[test]
fn x_forwarded_for_counts_only_behind_a_trusted_proxy() {
    // Not trusted: a client inventing X-Forwarded-For values is still one address.
    let server = server_with_short_lockouts();
    let form = SignInForm::fetch(&server, &[]);
    for i in 0..FREE_ATTEMPTS {
        let (key, forwarded) = (format!("AKIDUNKNOWN{i}"), format!("198.51.100.{i}"));
        form.post(
            &server,
            &[("access_key_id", &key), ("secret_access_key", "guess")],
            &[("x-forwarded-for", &forwarded)],
        );
    }
    let (status, _, page) = form.post(
        &server,
        &[
            ("access_key_id", ACCOUNT_B.access_key_id),
            ("secret_access_key", ACCOUNT_B.secret),
        ],
        &[("x-forwarded-for", "198.51.100.200")],
    );
    assert_eq!(status, 429, "{page}");

    // Trusted (behind a proxy): the proxy's last X-Forwarded-For address is the client.
    let proxied = KilnServer::builder()
        .env("KILN_SIGN_IN_LOCKOUT_SECONDS", LOCKOUT_SECONDS)
        .env("KILN_TRUST_FORWARDED_FOR", "true")
        .start();
    let form = SignInForm::fetch(&proxied, &[]);
    exhaust_address(&proxied, &form, Some("192.0.2.99, 203.0.113.1"));
    let sign_in_from = |forwarded: &str| {
        form.post(
            &proxied,
            &[
                ("access_key_id", ACCOUNT_B.access_key_id),
                ("secret_access_key", ACCOUNT_B.secret),
            ],
            &[("x-forwarded-for", forwarded)],
        )
        .0
    };
    assert_eq!(sign_in_from("203.0.113.1"), 429);
    assert_eq!(sign_in_from("203.0.113.2"), 303);
    assert!(proxied.stderr_log().contains("client=203.0.113.1"));
}

#[test]
fn replicas_share_lockouts_and_sign_in_forms() {
    let first = server_with_short_lockouts();
    let second = KilnServer::builder()
        .env("KILN_SIGN_IN_LOCKOUT_SECONDS", LOCKOUT_SECONDS)
        .data_dir(first.data_dir())
        .start();
    let form = SignInForm::fetch(&first, &[]);
    for i in 0..FREE_ATTEMPTS {
        form.submit(&first, ACCOUNT_A.access_key_id, &format!("guess-{i}"));
    }
    // The other replica accepts the first one's form, and knows about the lockout.
    let (status, _, page) = form.submit(&second, ACCOUNT_A.access_key_id, ACCOUNT_A.secret);
    assert_eq!(status, 429, "{page}");
    wait_until(LOCKOUT_DEADLINE, "the lockout to end", || {
        form.submit(&second, ACCOUNT_A.access_key_id, ACCOUNT_A.secret)
            .0
            == 303
    });
}

/// `next` values that browsers would take off the console, as the sign-in form carries them.
const HOSTILE_NEXT: &[&str] = &[
    "/\t/evil.example/",
    "/\n/evil.example/",
    "/\r\n/evil.example/",
    "//evil.example/",
    "///evil.example/",
    "/\\evil.example/",
    "/\\/evil.example/",
    "\\\\evil.example/",
    "/%09/evil.example/",
    "/%0a/evil.example/",
    "/%5C%5Cevil.example/",
    "/%2F/evil.example/",
    "/%252F/evil.example/",
    "https://evil.example/",
    "javascript:alert(1)",
    " //evil.example/",
    "/\u{0}/evil.example/",
];

fn location(headers: &[(String, String)]) -> &str {
    header(headers, "location", "")
}

#[test]
fn after_signing_in_next_is_always_a_path_on_the_console() {
    let server = KilnServer::start();
    let form = SignInForm::fetch(&server, &[]);
    let sign_in = |next: &str| {
        form.post(
            &server,
            &[
                ("access_key_id", ACCOUNT_A.access_key_id),
                ("secret_access_key", ACCOUNT_A.secret),
                ("next", next),
            ],
            &[],
        )
    };
    for next in HOSTILE_NEXT {
        let (status, headers, body) = sign_in(next);
        assert_eq!(status, 303, "{next:?}: {body}");
        assert_eq!(location(&headers), "/", "{next:?}");
    }
    let (_, headers, _) = sign_in("/projects/app?tab=builds");
    assert_eq!(location(&headers), "/projects/app?tab=builds");

    // Signed in, the sign-in page sends the user on at once: the same rule.
    let session = http_sign_in(&server, &ACCOUNT_A);
    for next in HOSTILE_NEXT {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", next)
            .finish();
        let (status, headers, _) = exchange(
            "GET",
            &format!("{}/sign-in?{query}", server.url()),
            &[("cookie", &session)],
            b"",
        );
        assert_eq!((status, location(&headers)), (303, "/"), "{next:?}");
    }
    // Signed out, the form carries only a safe `next`.
    let (_, _, page) = exchange(
        "GET",
        &format!("{}/sign-in?next=%2F%09%2Fevil.example%2F", server.url()),
        &[],
        b"",
    );
    assert_eq!(hidden_value(&page, "next"), "/");
}

/// Where the browser is once it has left the sign-in page (or Kiln).
async fn landed(browser: &Browser, origin: &url::Origin, what: &str) -> url::Url {
    browser
        .wait_for(UI_DEADLINE, what, || async {
            let url = browser.client.current_url().await.ok()?;
            (url.origin() != *origin || url.path() != "/sign-in").then_some(url)
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_stays_on_the_console_whatever_next_says() {
    let server = KilnServer::start();
    let kiln = url::Url::parse(server.url()).unwrap();
    let origin = kiln.origin();
    // The "other site" resolves (to Kiln's port, under another name), so a browser that
    // follows a hostile `next` visibly lands there instead of waiting on DNS.
    let resolve = format!(
        "--host-resolver-rules=MAP evil.example 127.0.0.1:{}",
        kiln.port().unwrap()
    );
    let browser = Browser::start_with_args(server.url(), &[&resolve]).await;

    // Signed in, the sign-in page sends the user on at once.
    browser.sign_in(&ACCOUNT_A).await;
    for next in [
        "/\t/evil.example/",
        "/\\evil.example/",
        "//evil.example/",
        "/%2F/evil.example/",
    ] {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", next)
            .finish();
        browser.goto(&format!("/sign-in?{query}")).await;
        let url = landed(&browser, &origin, &format!("the redirect for {next:?}")).await;
        assert_eq!(
            url.origin(),
            origin,
            "{next:?}: Chromium left Kiln for {url}"
        );
        assert_eq!(url.path(), "/", "{next:?}");
    }

    // Signing in through the form.
    browser.click("form[action='/sign-out'] button").await;
    browser.wait_path("/sign-in").await;
    browser.goto("/sign-in?next=%2F%09%2Fevil.example%2F").await;
    browser
        .fill("#access_key_id", ACCOUNT_A.access_key_id)
        .await;
    browser.fill("#secret_access_key", ACCOUNT_A.secret).await;
    browser
        .click("form[action='/sign-in'] button[type=submit]")
        .await;
    let url = landed(&browser, &origin, "the page after signing in").await;
    assert_eq!(url.origin(), origin, "Chromium left Kiln for {url}");
    assert_eq!(url.path(), "/");
}

#[test]
fn a_planted_sign_in_cookie_is_never_the_form_token() {
    let server = KilnServer::start();
    // What a third party (a sibling subdomain, a network attacker on plain HTTP) would plant: a
    // well-formed value of its choosing.
    let planted = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY";
    let cookie = format!("kiln_sign_in={planted}");
    let form = SignInForm::fetch(&server, &[("cookie", &cookie)]);
    assert_ne!(form.csrf, planted, "the page reused the planted value");
    assert_ne!(form.cookie, cookie);
    let forged = SignInForm {
        cookie,
        csrf: planted.to_string(),
    };
    let (status, _, _) = forged.submit(&server, ACCOUNT_A.access_key_id, ACCOUNT_A.secret);
    assert_eq!(status, 403, "a planted token signed a user in");

    // Another Kiln's form (another server secret) is not this one's.
    let other = KilnServer::start();
    let foreign = SignInForm::fetch(&other, &[]);
    let (status, _, _) = foreign.submit(&server, ACCOUNT_A.access_key_id, ACCOUNT_A.secret);
    assert_eq!(status, 403);

    // A browser that says the form came from another site is refused, even with a good token.
    let (status, _, _) = form.post(
        &server,
        &[
            ("access_key_id", ACCOUNT_A.access_key_id),
            ("secret_access_key", ACCOUNT_A.secret),
        ],
        &[("sec-fetch-site", "same-site")],
    );
    assert_eq!(status, 403);
    let (status, _, _) = form.post(
        &server,
        &[
            ("access_key_id", ACCOUNT_A.access_key_id),
            ("secret_access_key", ACCOUNT_A.secret),
        ],
        &[("sec-fetch-site", "same-origin")],
    );
    assert_eq!(status, 303);
}

const ZIP_BUILDSPEC: &str = "version: 0.2
phases:
  build:
    commands:
      - mkdir -p dist/sub
      - printf one > dist/one.txt
      - printf '<script>alert(1)</script>' > dist/sub/page.html
artifacts:
  files:
    - '**/*'
  base-directory: dist
";

#[test]
fn files_inside_a_zip_artifact_are_listed_and_served_from_the_archive() {
    let server = KilnServer::start();
    create_project(
        &server,
        &json!({
            "name": "zipped",
            "source": {"type": "NO_SOURCE", "buildspec": ZIP_BUILDSPEC},
            "artifacts": {"type": "S3", "location": "zips", "name": "app.zip",
                          "packaging": "ZIP", "namespaceType": "BUILD_ID"},
            "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                            "computeType": "BUILD_GENERAL1_SMALL"},
            "serviceRole": "arn:aws:iam::111122223333:role/kiln"
        }),
    );
    let started = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "start-build", "--project-name", "zipped"],
    )
    .ok()["build"]
        .clone();
    let build = wait_build_complete(
        &server,
        started["id"].as_str().unwrap(),
        Duration::from_secs(120),
    );
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{build:#}");
    let page_path = format!("/projects/zipped/builds/{}", uuid_of(&build));
    let url = |path: &str| format!("{}{page_path}{path}", server.url());
    let session = http_sign_in(&server, &ACCOUNT_A);
    let get = |path: &str| exchange("GET", &url(path), &[("cookie", &session)], b"");

    let (status, _, page) = get("");
    assert_eq!(status, 200);
    for file in ["one.txt", "sub/page.html"] {
        assert!(
            page.contains(&format!("href=\"{page_path}/artifacts/0/{file}\"")),
            "no link to {file}: {page}"
        );
    }

    let (status, headers, body) = get("/artifacts/0/sub/page.html");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "<script>alert(1)</script>");
    assert_eq!(
        header(&headers, "content-type", ""),
        "application/octet-stream"
    );
    assert_eq!(
        header(&headers, "content-disposition", ""),
        "attachment; filename=\"page.html\""
    );
    assert_eq!(header(&headers, "x-content-type-options", ""), "nosniff");
    assert_eq!(get("/artifacts/0/one.txt").2, "one");
    for missing in [
        "/artifacts/0/nope.txt",
        "/artifacts/0/sub",
        "/artifacts/0/ONE.TXT",
    ] {
        assert_eq!(get(missing).0, 404, "{missing}");
    }
    let (status, headers, _) = get("/artifacts/0");
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-disposition", ""),
        "attachment; filename=\"app.zip\""
    );

    // Another account sees none of it.
    let other = http_sign_in(&server, &ACCOUNT_B);
    let (status, _, _) = exchange(
        "GET",
        &url("/artifacts/0/one.txt"),
        &[("cookie", &other)],
        b"",
    );
    assert_eq!(status, 404);
}
