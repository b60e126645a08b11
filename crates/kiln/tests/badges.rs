//! Build badges end to end: the real `kiln` binary runs real builds of git repositories the tests
//! make, driven by the `aws` CLI and boto3, and the public `/badges` endpoint is read over HTTP
//! and in headless Chromium.
//!
//! Liveness is checked without polling the badge: once the API (or the build's own record)
//! acknowledges a status change, the very next badge request must show it.

// The helpers below are test code too: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::git::GitRepo;
use common::raw_http::RawHttp;
use common::{
    ACCOUNT_A, HttpReply, KilnServer, SignedRequest, aws, boto3, http_get, signed_request,
};
use serde_json::{Value, json};

const ROLE: &str = "arn:aws:iam::111122223333:role/service-role/kiln-build";

/// Waits for the file named by `$GATE` (when set), then passes unless `$RESULT` is set and not 0.
const BUILDSPEC: &str = "version: 0.2
phases:
  build:
    commands:
      - if [ -n \"$GATE\" ]; then while [ ! -e \"$GATE\" ]; do sleep 0.05; done; fi
      - test \"${RESULT:-0}\" = 0
";

/// How long a build may take before a test gives up on it.
const BUILD_DEADLINE_SECS: u64 = 120;

/// The images the README shows; the server must send exactly these bytes (the files end with
/// a newline).
fn documented_badge(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../docs/badges/{name}.svg"));
    let image =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    image.trim_end().to_string()
}

// --- git repositories -------------------------------------------------------------------------

/// A repository whose HEAD is `default_branch`, with branches `dev` and `feature/x`, the tag `v1`
/// and whatever `extra_branches` name, all on one commit.
fn make_repo(
    server: &KilnServer,
    name: &str,
    default_branch: &str,
    extra_branches: &[&str],
) -> GitRepo {
    let repo = GitRepo::init(server.root().join(name));
    repo.git(&[
        "symbolic-ref",
        "HEAD",
        &format!("refs/heads/{default_branch}"),
    ]);
    repo.commit(&[("README.md", name)], "first");
    for branch in ["dev", "feature/x"].iter().chain(extra_branches) {
        repo.git(&["branch", branch]);
    }
    repo.git(&["tag", "v1"]);
    repo
}

// --- projects and builds through the API ------------------------------------------------------

fn create_project(
    server: &KilnServer,
    name: &str,
    location: &Path,
    source_version: Option<&str>,
) -> Value {
    let source =
        json!({"type": "GITHUB", "location": location, "buildspec": BUILDSPEC}).to_string();
    let mut args = vec![
        "codebuild",
        "create-project",
        "--name",
        name,
        "--badge-enabled",
        "--source",
        &source,
        "--artifacts",
        "type=NO_ARTIFACTS",
        "--environment",
        "type=LINUX_CONTAINER,image=aws/codebuild/standard:7.0,computeType=BUILD_GENERAL1_SMALL",
        "--service-role",
        ROLE,
    ];
    if let Some(version) = source_version {
        args.extend(["--source-version", version]);
    }
    aws(server, &ACCOUNT_A, &args).ok()["project"].clone()
}

/// Starts a build with the `aws` CLI; `args` go after `--project-name`. Returns the build id.
fn start_build(server: &KilnServer, project: &str, args: &[&str]) -> String {
    let mut all = vec!["codebuild", "start-build", "--project-name", project];
    all.extend(args);
    let out = aws(server, &ACCOUNT_A, &all);
    out.ok()["build"]["id"].as_str().unwrap().to_string()
}

/// Waits until the build is complete (by its record, read with boto3) and returns its status.
fn finish(server: &KilnServer, build_id: &str) -> String {
    let script = format!(
        r#"
import time
deadline = time.time() + {BUILD_DEADLINE_SECS}
while True:
    build = client.batch_get_builds(ids=[{id}])["builds"][0]
    if build["buildComplete"] or time.time() > deadline:
        break
    time.sleep(0.05)
result = {{"complete": build["buildComplete"], "status": build["buildStatus"]}}
"#,
        id = json!(build_id)
    );
    let result = boto3(server, &ACCOUNT_A, &script);
    assert_eq!(result["complete"], true, "build {build_id} did not finish");
    result["status"].as_str().unwrap().to_string()
}

/// Waits until the build runs its `BUILD` phase (it then waits for its gate).
fn wait_for_build_phase(server: &KilnServer, build_id: &str) {
    let script = format!(
        r#"
import time
deadline = time.time() + {BUILD_DEADLINE_SECS}
while True:
    build = client.batch_get_builds(ids=[{id}])["builds"][0]
    if build["currentPhase"] == "BUILD" or build["buildComplete"] or time.time() > deadline:
        break
    time.sleep(0.05)
result = {{"phase": build["currentPhase"], "status": build["buildStatus"]}}
"#,
        id = json!(build_id)
    );
    let result = boto3(server, &ACCOUNT_A, &script);
    assert_eq!(
        result,
        json!({"phase": "BUILD", "status": "IN_PROGRESS"}),
        "build {build_id} never reached its BUILD phase"
    );
}

/// A passing build of `project`'s default version, run to the end.
fn passing_build(server: &KilnServer, project: &str) {
    let id = start_build(server, project, &[]);
    assert_eq!(finish(server, &id), "SUCCEEDED");
}

/// `--environment-variables-override` making the build fail.
const FAIL: [&str; 2] = ["--environment-variables-override", "name=RESULT,value=1"];

fn gated(gate: &Path) -> [String; 2] {
    [
        "--environment-variables-override".into(),
        format!("name=GATE,value={}", gate.display()),
    ]
}

// --- reading badges ---------------------------------------------------------------------------

/// Percent-encodes everything but unreserved characters, as a careful client would.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The `uuid` parameter of a `badgeRequestUrl` (tokens are URL-safe, so it is not encoded).
fn token_of(project: &Value) -> String {
    let url = project["badge"]["badgeRequestUrl"]
        .as_str()
        .unwrap_or_else(|| panic!("no badgeRequestUrl in {project}"));
    let query = url.split_once('?').unwrap().1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("uuid="))
        .unwrap()
        .to_string()
}

/// A project's badge URL with further query parameters.
struct Badge {
    base: String,
    token: String,
}

impl Badge {
    fn of(server: &KilnServer, project: &Value) -> Badge {
        Badge {
            base: server.url().to_string(),
            token: token_of(project),
        }
    }

    fn url(&self, extra: &str) -> String {
        format!("{}/badges?uuid={}{extra}", self.base, self.token)
    }

    fn get(&self, extra: &str) -> HttpReply {
        http_get(&self.url(extra), &[])
    }

    /// The message the SVG badge shows: `passing`, `failing`, `in progress` or `unknown`.
    fn shown(&self, extra: &str) -> String {
        shown(&self.get(extra))
    }
}

/// The message of an SVG badge reply, read from its accessible name.
fn shown(reply: &HttpReply) -> String {
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("image/svg+xml"),
        "{:?}",
        reply.headers
    );
    let label = reply
        .body
        .split_once("aria-label=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .unwrap_or_else(|| panic!("no aria-label in {}", reply.body))
        .0;
    label.rsplit_once(": ").unwrap().1.to_string()
}

fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// A `HEAD` of `url`, with `headers`.
fn http_head(url: &str, headers: &[(&str, &str)]) -> HttpReply {
    let mut request = http_agent().head(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.call().unwrap_or_else(|e| panic!("HEAD {url}: {e}"));
    let mut body = Vec::new();
    response
        .body_mut()
        .as_reader()
        .read_to_end(&mut body)
        .unwrap();
    HttpReply {
        status: response.status().as_u16(),
        headers: response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

// --- the tests --------------------------------------------------------------------------------

#[test]
fn a_badge_follows_real_builds_from_unknown_through_in_progress_to_passing_and_failing() {
    let server = KilnServer::start();
    let repo = make_repo(&server, "app", "main", &[]);
    let project = create_project(&server, "app", repo.path(), Some("main"));
    let badge = Badge::of(&server, &project);
    let advertised = project["badge"]["badgeRequestUrl"].as_str().unwrap();
    assert_eq!(advertised, badge.url("&branch=main"));

    // Asked twice, so a cached answer exists when the status changes.
    for _ in 0..2 {
        assert_eq!(badge.shown(""), "unknown");
        assert_eq!(shown(&http_get(advertised, &[])), "unknown");
    }
    assert_eq!(badge.get("").body, documented_badge("unknown"));

    let gate = server.root().join("gate-open");
    let running = start_build(&server, "app", &gated(&gate).each_ref().map(String::as_str));
    // StartBuild has answered: the queued build already shows.
    assert_eq!(badge.shown(""), "in progress");
    wait_for_build_phase(&server, &running);
    assert_eq!(badge.shown(""), "in progress");
    assert_eq!(shown(&http_get(advertised, &[])), "in progress");
    assert_eq!(badge.get("").body, documented_badge("in-progress"));

    std::fs::write(&gate, "").unwrap();
    assert_eq!(finish(&server, &running), "SUCCEEDED");
    assert_eq!(badge.shown(""), "passing");
    assert_eq!(shown(&http_get(advertised, &[])), "passing");
    assert_eq!(badge.get("").body, documented_badge("passing"));

    let failing = start_build(&server, "app", &FAIL);
    assert_eq!(finish(&server, &failing), "FAILED");
    assert_eq!(badge.shown(""), "failing");
    assert_eq!(badge.get("&branch=main").body, documented_badge("failing"));

    // A stopped build counts as failing too, and a new passing build turns the badge back.
    passing_build(&server, "app");
    assert_eq!(badge.shown(""), "passing");
    let never_opened = server.root().join("never-opened");
    let stopped = start_build(
        &server,
        "app",
        &gated(&never_opened).each_ref().map(String::as_str),
    );
    wait_for_build_phase(&server, &stopped);
    aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "stop-build", "--id", &stopped],
    )
    .ok();
    assert_eq!(finish(&server, &stopped), "STOPPED");
    assert_eq!(badge.shown(""), "failing");
}

#[test]
fn branches_tags_and_commits_each_count_for_their_own_badge() {
    let server = KilnServer::start();
    let odd_branch = "fix/ü&+=#%;1";
    let repo = make_repo(&server, "multi", "main", &[odd_branch]);
    let project = create_project(&server, "multi", repo.path(), Some("main"));
    let badge = Badge::of(&server, &project);

    let main = start_build(&server, "multi", &[]);
    let feature = start_build(
        &server,
        "multi",
        &["--source-version", "feature/x", FAIL[0], FAIL[1]],
    );
    let tag = start_build(&server, "multi", &["--source-version", "refs/tags/v1"]);
    let odd = start_build(&server, "multi", &["--source-version", odd_branch]);
    for id in [&main, &tag, &odd] {
        assert_eq!(finish(&server, id), "SUCCEEDED");
    }
    assert_eq!(finish(&server, &feature), "FAILED");

    assert_eq!(badge.shown(""), "passing");
    assert_eq!(badge.shown("&branch=main"), "passing");
    assert_eq!(badge.shown("&branch=feature%2Fx"), "failing");
    assert_eq!(badge.shown("&branch=feature/x"), "failing");
    assert_eq!(badge.shown("&tag=v1"), "passing");
    assert_eq!(
        badge.shown(&format!("&branch={}", encode(odd_branch))),
        "passing"
    );
    // A branch and a tag of the same name are different things.
    assert_eq!(badge.shown("&branch=v1"), "unknown");
    assert_eq!(badge.shown("&tag=main"), "unknown");
    assert_eq!(badge.shown("&branch=dev"), "unknown");
    assert_eq!(badge.shown("&branch=no-such-branch"), "unknown");

    // A bare commit SHA names no branch: this failing build changes no badge.
    let sha = repo.git(&["rev-parse", "main"]);
    let by_sha = start_build(
        &server,
        "multi",
        &["--source-version", &sha, FAIL[0], FAIL[1]],
    );
    assert_eq!(finish(&server, &by_sha), "FAILED");
    assert_eq!(badge.shown(""), "passing");
    assert_eq!(badge.shown("&branch=main"), "passing");
    assert_eq!(badge.shown("&tag=v1"), "passing");

    // A tag named without `refs/tags/` counts for the tag it resolved to.
    let by_tag_name = start_build(
        &server,
        "multi",
        &["--source-version", "v1", FAIL[0], FAIL[1]],
    );
    assert_eq!(finish(&server, &by_tag_name), "FAILED");
    assert_eq!(badge.shown("&tag=v1"), "failing");
    assert_eq!(badge.shown(""), "passing");
}

#[test]
fn without_a_source_version_the_default_branch_is_the_one_a_versionless_build_checks_out() {
    let server = KilnServer::start();
    let repo = make_repo(&server, "trunky", "trunk", &[]);
    let project = create_project(&server, "trunky", repo.path(), None);
    let badge = Badge::of(&server, &project);
    assert_eq!(
        project["badge"]["badgeRequestUrl"].as_str().unwrap(),
        badge.url(""),
        "no branch to name in the URL"
    );

    let dev = start_build(&server, "trunky", &["--source-version", "dev"]);
    assert_eq!(finish(&server, &dev), "SUCCEEDED");
    assert_eq!(badge.shown("&branch=dev"), "passing");
    assert_eq!(badge.shown(""), "unknown", "dev is not the default branch");

    let default = start_build(&server, "trunky", &FAIL);
    assert_eq!(finish(&server, &default), "FAILED");
    assert_eq!(badge.shown(""), "failing");
    assert_eq!(badge.shown("&branch=trunk"), "failing");
    assert_eq!(badge.shown("&branch=dev"), "passing");

    // Building the default branch by name counts for it as well.
    let named = start_build(&server, "trunky", &["--source-version", "trunk"]);
    assert_eq!(finish(&server, &named), "SUCCEEDED");
    assert_eq!(badge.shown(""), "passing");
}

#[test]
fn badges_off_deleted_projects_and_bad_tokens_all_answer_the_same_unknown_image() {
    let server = KilnServer::start();
    let repo = make_repo(&server, "repo", "main", &[]);
    let toggled = create_project(&server, "toggled", repo.path(), Some("main"));
    let doomed = create_project(&server, "doomed", repo.path(), Some("main"));
    passing_build(&server, "toggled");
    passing_build(&server, "doomed");
    let toggled_badge = Badge::of(&server, &toggled);
    let doomed_badge = Badge::of(&server, &doomed);
    assert_eq!(toggled_badge.shown(""), "passing");
    assert_eq!(doomed_badge.shown(""), "passing");

    let base = server.url();
    let unknown = http_get(&format!("{base}/badges?uuid={}", "A".repeat(32)), &[]);
    assert_eq!(shown(&unknown), "unknown");
    assert_eq!(unknown.body, documented_badge("unknown"));
    let same_as_unknown = |reply: HttpReply, what: &str| {
        assert_eq!(reply.status, 200, "{what}");
        assert_eq!(reply.body, unknown.body, "{what}");
        for header in [
            "content-type",
            "etag",
            "cache-control",
            "content-security-policy",
        ] {
            assert_eq!(
                reply.header(header),
                unknown.header(header),
                "{what}: {header}"
            );
        }
    };
    for query in [
        "uuid=not%20a%20token",
        "uuid=..%2F..%2Fetc%2Fpasswd",
        "uuid=%00",
        "uuid=",
        &format!("uuid={}", "A".repeat(65)),
        "branch=main",
        "",
    ] {
        same_as_unknown(http_get(&format!("{base}/badges?{query}"), &[]), query);
    }
    same_as_unknown(http_get(&format!("{base}/badges"), &[]), "no query");

    // Turned off: the same unknown image; turned on again: the same URL shows the status again.
    let off = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "update-project",
            "--name",
            "toggled",
            "--no-badge-enabled",
        ],
    );
    assert_eq!(off.ok()["project"]["badge"], json!({"badgeEnabled": false}));
    same_as_unknown(toggled_badge.get(""), "badge turned off");
    same_as_unknown(
        toggled_badge.get("&branch=main"),
        "badge turned off, branch",
    );
    let on = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "update-project",
            "--name",
            "toggled",
            "--badge-enabled",
        ],
    );
    assert_eq!(
        on.ok()["project"]["badge"]["badgeRequestUrl"],
        toggled["badge"]["badgeRequestUrl"],
        "the token outlives turning badges off"
    );
    assert_eq!(toggled_badge.shown(""), "passing");

    aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "delete-project", "--name", "doomed"],
    )
    .ok();
    same_as_unknown(doomed_badge.get(""), "deleted project");
    same_as_unknown(doomed_badge.get("&branch=main"), "deleted project, branch");
    assert_eq!(toggled_badge.shown(""), "passing");
}

#[test]
fn changing_the_source_location_makes_older_builds_stop_counting() {
    let server = KilnServer::start();
    let first = make_repo(&server, "first", "main", &[]);
    let second = make_repo(&server, "second", "main", &[]);
    let project = create_project(&server, "moving", first.path(), Some("main"));
    let badge = Badge::of(&server, &project);
    passing_build(&server, "moving");
    assert_eq!(badge.shown(""), "passing");

    let source_at = |location: &Path| {
        json!({"type": "GITHUB", "location": location, "buildspec": BUILDSPEC}).to_string()
    };
    // Other changes leave the badge alone.
    aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "update-project",
            "--name",
            "moving",
            "--description",
            "now described",
        ],
    )
    .ok();
    assert_eq!(badge.shown(""), "passing");

    // A build started before the move and finished after it does not count either.
    let gate = server.root().join("gate-moving");
    let straddling = start_build(
        &server,
        "moving",
        &gated(&gate).each_ref().map(String::as_str),
    );
    wait_for_build_phase(&server, &straddling);
    aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "update-project",
            "--name",
            "moving",
            "--source",
            &source_at(second.path()),
        ],
    )
    .ok();
    assert_eq!(badge.shown(""), "unknown");
    std::fs::write(&gate, "").unwrap();
    assert_eq!(finish(&server, &straddling), "SUCCEEDED");
    assert_eq!(badge.shown(""), "unknown");
    assert_eq!(badge.shown("&branch=main"), "unknown");

    let failing = start_build(&server, "moving", &FAIL);
    assert_eq!(finish(&server, &failing), "FAILED");
    assert_eq!(badge.shown(""), "failing");

    // Moving back does not revive the first location's builds.
    aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "update-project",
            "--name",
            "moving",
            "--source",
            &source_at(first.path()),
        ],
    )
    .ok();
    assert_eq!(badge.shown(""), "unknown");
    passing_build(&server, "moving");
    assert_eq!(badge.shown(""), "passing");
}

#[test]
fn the_badge_answers_with_the_right_headers_304_head_json_and_styles() {
    let server = KilnServer::start();
    let repo = make_repo(&server, "repo", "main", &[]);
    let project = create_project(&server, "looks", repo.path(), Some("main"));
    let badge = Badge::of(&server, &project);
    passing_build(&server, "looks");

    let reply = badge.get("");
    assert_eq!(shown(&reply), "passing");
    assert_eq!(
        reply.header("content-type"),
        Some("image/svg+xml;charset=utf-8")
    );
    assert_eq!(reply.header("cache-control"), Some("no-cache, max-age=0"));
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    let csp = reply.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let etag = reply.header("etag").unwrap().to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10,
        "a strong ETag: {etag}"
    );

    // Conditional requests.
    for if_none_match in [
        etag.clone(),
        format!("\"other\", {etag}"),
        format!("W/{etag}"),
        "*".into(),
    ] {
        let cached = http_get(&badge.url(""), &[("If-None-Match", &if_none_match)]);
        assert_eq!(cached.status, 304, "If-None-Match: {if_none_match}");
        assert_eq!(cached.body, "");
        assert_eq!(cached.header("etag"), Some(etag.as_str()));
        assert_eq!(cached.header("cache-control"), Some("no-cache, max-age=0"));
    }
    let changed = http_get(&badge.url(""), &[("If-None-Match", "\"something-else\"")]);
    assert_eq!(changed.status, 200);
    assert_eq!(changed.body, reply.body);
    // Another status is another entity.
    assert_ne!(badge.get("&branch=dev").header("etag"), Some(etag.as_str()));

    // HEAD: the same headers, no body.
    let head = http_head(&badge.url(""), &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.body, "");
    for header in [
        "content-type",
        "cache-control",
        "etag",
        "x-content-type-options",
        "content-security-policy",
    ] {
        assert_eq!(head.header(header), reply.header(header), "{header}");
    }
    assert_eq!(
        head.header("content-length"),
        Some(reply.body.len().to_string().as_str())
    );
    let head_cached = http_head(&badge.url(""), &[("If-None-Match", &etag)]);
    assert_eq!(head_cached.status, 304);

    // The shields.io endpoint schema.
    let endpoint = badge.get("&format=json");
    assert_eq!(endpoint.status, 200);
    assert!(
        endpoint
            .header("content-type")
            .unwrap()
            .starts_with("application/json"),
        "{:?}",
        endpoint.headers
    );
    assert_eq!(
        endpoint.json(),
        json!({"schemaVersion": 1, "label": "build", "message": "passing", "color": "brightgreen"})
    );
    assert_ne!(endpoint.header("etag"), Some(etag.as_str()));
    assert_eq!(
        badge.get("&format=json&label=ci&branch=dev").json(),
        json!({"schemaVersion": 1, "label": "ci", "message": "unknown", "color": "lightgrey"})
    );
    assert_eq!(
        http_get(
            &format!("{}/badges?uuid=nope&format=json", server.url()),
            &[]
        )
        .json()["message"],
        "unknown"
    );

    // Every style renders, each differently, and labels are escaped.
    let mut bodies = Vec::new();
    for style in ["flat", "flat-square", "plastic", "for-the-badge", "social"] {
        let styled = badge.get(&format!("&style={style}"));
        // for-the-badge shouts, its accessible name included.
        assert_eq!(shown(&styled).to_lowercase(), "passing", "{style}");
        assert!(styled.body.starts_with("<svg "), "{style}");
        bodies.push(styled.body);
    }
    assert_eq!(bodies[0], reply.body, "flat is the default");
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), 5);
    let loud = badge.get("&style=for-the-badge&label=ci");
    assert!(
        loud.body.contains("aria-label=\"CI: PASSING\""),
        "{}",
        loud.body
    );
    assert!(
        loud.body.contains(">CI<") && loud.body.contains(">PASSING<"),
        "{}",
        loud.body
    );
    let escaped = badge.get("&label=a%3Cb%26c%22");
    assert!(
        escaped.body.contains("a&lt;b&amp;c&quot;"),
        "{}",
        escaped.body
    );
    assert!(!escaped.body.contains("a<b"), "{}", escaped.body);
    // Unknown parameters (cache busters) are ignored.
    assert_eq!(badge.get("&v=2").body, reply.body);

    // Odd queries still get an image, as a README can only show an image: the unknown badge
    // (byte for byte a deleted or disabled project's) when the query names no single badge,
    // the default look when its style, label or format is garbled.
    let unknown = http_get(&format!("{}/badges?uuid=no-such-token", server.url()), &[]);
    assert_eq!(shown(&unknown), "unknown");
    let unknown_social = http_get(
        &format!("{}/badges?uuid=no-such-token&style=social", server.url()),
        &[],
    );
    let token = &badge.token;
    let long_ref = "b".repeat(1025);
    let long_query = format!("uuid={token}&branch={}", "b".repeat(3000));
    let huge_query = format!("uuid={token}&label={}", "x".repeat(60_000));
    let long_label = "l".repeat(65);
    let cases: Vec<(String, &str)> = vec![
        (format!("uuid={token}&uuid={token}"), &unknown.body),
        (format!("uuid={token}&uuid=other"), &unknown.body),
        (format!("uuid={token}&branch=main&tag=v1"), &unknown.body),
        (
            format!("uuid={token}&branch=main&branch=main"),
            &unknown.body,
        ),
        (format!("uuid={token}&branch="), &unknown.body),
        (format!("uuid={token}&tag="), &unknown.body),
        (format!("uuid={token}&branch=%00"), &unknown.body),
        (format!("uuid={token}&tag=a%0Ab"), &unknown.body),
        (format!("uuid={token}&branch={long_ref}"), &unknown.body),
        ("uuid=%00".to_string(), &unknown.body),
        (long_query, &unknown.body),
        (huge_query, &unknown.body),
        (
            format!("uuid={token}&uuid={token}&style=social"),
            &unknown_social.body,
        ),
        (format!("uuid={token}&style=fancy"), &reply.body),
        (format!("uuid={token}&style=flat&style=social"), &reply.body),
        (format!("uuid={token}&format=png"), &reply.body),
        (format!("uuid={token}&label={long_label}"), &reply.body),
        (format!("uuid={token}&label=a%00b"), &reply.body),
        (format!("uuid={token}&label=x&label=y"), &reply.body),
    ];
    for (query, image) in cases {
        let answer = http_get(&format!("{}/badges?{query}", server.url()), &[]);
        let shortened: String = query.chars().take(80).collect();
        assert_eq!(answer.status, 200, "{shortened}: {}", answer.body);
        assert_eq!(
            answer.header("content-type"),
            Some("image/svg+xml;charset=utf-8"),
            "{shortened}"
        );
        assert_eq!(answer.body, image, "{shortened}");
    }
}

/// A `method` request of `path` whose target is `size` bytes long.
fn badge_request(method: &str, path: &str, size: usize) -> String {
    let query = format!("uuid={}&v=", "A".repeat(32));
    let padding = "x".repeat(size - path.len() - 1 - query.len());
    format!("{method} {path}?{query}{padding} HTTP/1.1\r\nHost: kiln\r\n\r\n")
}

#[test]
fn badge_urls_too_long_for_http_still_answer_the_unknown_badge() {
    // hyper refuses request targets over 65,534 bytes with 414, and heads past its read buffer
    // (about 400 KB) with 431; a README would show a broken image. A badge URL that long gets
    // the unknown badge, as a garbled query does.
    let server = KilnServer::start();
    let mut baseline = RawHttp::connect(&server);
    baseline.send(b"GET /badges?uuid=%00 HTTP/1.1\r\nHost: kiln\r\n\r\n");
    let unknown = baseline.response(false);
    assert_eq!(shown(&unknown), "unknown");
    baseline.send(b"HEAD /badges?uuid=%00 HTTP/1.1\r\nHost: kiln\r\n\r\n");
    let unknown_head = baseline.response(true);
    assert_eq!(unknown_head.status, 200);
    let same_as = |baseline: &HttpReply, reply: &HttpReply, what: &str| {
        assert_eq!(reply.status, 200, "{what}: {}", reply.body);
        assert_eq!(reply.body, baseline.body, "{what}");
        // The same headers (content-type, cache-control, etag, nosniff, CSP, CORS, length),
        // and the connection ends, as it would after any request HTTP cannot parse.
        let mut expected = baseline.headers.clone();
        expected.insert("connection".into(), "close".into());
        let mut headers = reply.headers.clone();
        assert!(headers.remove("date").is_some(), "{what}: a Date");
        expected.remove("date");
        assert_eq!(headers, expected, "{what}");
    };

    for size in [70_000, 200_000, 500_000] {
        for method in ["GET", "HEAD"] {
            let what = format!("{method} of {size} bytes");
            let mut connection = RawHttp::connect(&server);
            connection.send(badge_request(method, "/badges", size).as_bytes());
            let reply = connection.response(method == "HEAD");
            let baseline = if method == "HEAD" {
                &unknown_head
            } else {
                &unknown
            };
            same_as(baseline, &reply, &what);
            assert_eq!(connection.rest_until_closed(), b"", "{what}: nothing more");
        }
    }

    // After other requests on the same connection, too.
    let mut connection = RawHttp::connect(&server);
    connection.send(b"GET /healthz HTTP/1.1\r\nHost: kiln\r\n\r\n");
    assert_eq!(connection.response(false).status, 200);
    connection.send(badge_request("GET", "/badges", 70_000).as_bytes());
    same_as(&unknown, &connection.response(false), "after /healthz");

    // Any other request that long is still refused, a badge request before it or not.
    for (method, path) in [
        ("GET", "/healthz"),
        ("GET", "/badgesx"),
        ("GET", "/x/badges"),
        ("POST", "/badges"),
        ("GET", "/"),
    ] {
        let what = format!("{method} {path}");
        let mut connection = RawHttp::connect(&server);
        connection.send(badge_request(method, path, 70_000).as_bytes());
        assert_eq!(connection.response(false).status, 414, "{what}");
        let mut connection = RawHttp::connect(&server);
        connection.send(b"GET /badges?uuid=%00 HTTP/1.1\r\nHost: kiln\r\n\r\n");
        assert_eq!(connection.response(false).body, unknown.body);
        connection.send(badge_request(method, path, 70_000).as_bytes());
        assert_eq!(
            connection.response(false).status,
            414,
            "{what} after a badge"
        );
    }

    // Ordinary requests keep their connection, one after another and pipelined.
    let mut connection = RawHttp::connect(&server);
    for _ in 0..3 {
        connection.send(b"GET /badges?uuid=%00 HTTP/1.1\r\nHost: kiln\r\n\r\n");
        let reply = connection.response(false);
        assert_eq!(reply.body, unknown.body);
        assert_eq!(reply.header("connection"), None);
    }
    connection.send(
        b"\r\nGET /badges?uuid=%00 HTTP/1.1\r\nHost: kiln\r\n\r\n\
          HEAD /badges?uuid=%00 HTTP/1.1\r\nHost: kiln\r\n\r\n\
          GET /healthz HTTP/1.1\r\nHost: kiln\r\n\r\n\
          GET /badges HTTP/1.1\r\nHost: kiln\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(connection.response(false).body, unknown.body);
    let head = connection.response(true);
    assert_eq!(head.header("etag"), unknown_head.header("etag"));
    assert_eq!(
        head.header("content-length"),
        unknown_head.header("content-length")
    );
    assert_eq!(connection.response(false).body, "ok\n");
    assert_eq!(connection.response(false).body, unknown.body);
    assert_eq!(connection.rest_until_closed(), b"");
}

#[test]
fn the_api_offers_the_badge_url_and_its_markdown_snippet() {
    let server = KilnServer::start();
    let repo = make_repo(&server, "repo", "main", &[]);
    let created = create_project(&server, "shown", repo.path(), Some("feature/x"));
    let url = created["badge"]["badgeRequestUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let token = token_of(&created);
    assert_eq!(
        url,
        format!("{}/badges?uuid={token}&branch=feature%2Fx", server.url())
    );
    assert_eq!(shown(&http_get(&url, &[])), "unknown");

    // The CLI and boto3 parse the project as CodeBuild's, with the URL.
    let listed = aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "batch-get-projects", "--names", "shown"],
    );
    assert_eq!(
        listed.ok()["projects"][0]["badge"]["badgeRequestUrl"],
        url.as_str()
    );
    let via_boto3 = boto3(
        &server,
        &ACCOUNT_A,
        "result = client.batch_get_projects(names=['shown'])['projects'][0]['badge']",
    );
    assert_eq!(via_boto3["badgeRequestUrl"], url.as_str());

    // On the wire the badge also carries the README snippet.
    let markdown = format!("![Build Status]({url})");
    let raw = signed_request(
        &server,
        SignedRequest::operation(&ACCOUNT_A, "BatchGetProjects", &json!({"names": ["shown"]})),
    );
    assert_eq!(raw.status, 200, "{}", raw.body);
    assert_eq!(
        raw.json()["projects"][0]["badge"],
        json!({"badgeEnabled": true, "badgeRequestUrl": url, "badgeMarkdown": markdown})
    );
    let updated = signed_request(
        &server,
        SignedRequest::operation(
            &ACCOUNT_A,
            "UpdateProject",
            &json!({"name": "shown", "sourceVersion": "refs/heads/main"}),
        ),
    );
    let main_url = format!("{}/badges?uuid={token}&branch=main", server.url());
    assert_eq!(
        updated.json()["project"]["badge"],
        json!({
            "badgeEnabled": true,
            "badgeRequestUrl": main_url,
            "badgeMarkdown": format!("![Build Status]({main_url})"),
        })
    );
}

/// What a page that shows badges in `<img>` elements reports, and its screenshot.
struct BrowserView {
    /// `naturalWidth x naturalHeight` per image, or `error`.
    sizes: Vec<String>,
    screenshot: Vec<u8>,
}

fn chromium(profile: &Path, args: &[&str]) -> std::process::Output {
    let output = Command::new("timeout")
        .arg("120")
        .arg("/usr/bin/chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("running /usr/bin/chromium");
    assert!(
        output.status.success(),
        "chromium failed with {}:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Loads a page with one `<img>` per URL in headless Chromium.
fn view_in_chromium(server: &KilnServer, urls: &[String]) -> BrowserView {
    let images: String = urls
        .iter()
        .enumerate()
        .map(|(i, url)| {
            let attr = url.replace('&', "&amp;");
            format!("<p><img id=\"badge{i}\" alt=\"Build Status\" src=\"{attr}\"></p>\n")
        })
        .collect();
    let page = format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>badges</title></head>
<body style="margin:16px;font:16px sans-serif;background:#fff">
<h1 style="font-size:22px;margin:0 0 12px">my-app</h1>
{images}<pre id="sizes" style="font-size:12px;color:#666">loading</pre>
<script>
const imgs = Array.from(document.querySelectorAll('img'));
const report = () => {{
  document.getElementById('sizes').textContent = imgs.map(img =>
    img.complete && img.naturalWidth > 0 ? img.naturalWidth + 'x' + img.naturalHeight : 'error'
  ).join(' ');
}};
Promise.all(imgs.map(img => img.decode().catch(() => null))).then(report);
</script>
</body></html>
"#
    );
    let page_path = server.write_file("badges.html", page);
    let page_url = format!("file://{}", page_path.display());
    let profile = server.root().join("chromium-profile");
    let dom = chromium(&profile, &["--dump-dom", &page_url]);
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    let sizes = dom
        .split_once("<pre id=\"sizes\"")
        .and_then(|(_, rest)| rest.split_once('>'))
        .and_then(|(_, rest)| rest.split_once("</pre>"))
        .unwrap_or_else(|| panic!("no sizes in the page:\n{dom}"))
        .0
        .split_whitespace()
        .map(ToString::to_string)
        .collect();
    let shot = server.root().join("badges.png");
    chromium(
        &profile,
        &[
            "--window-size=420,260",
            "--force-device-scale-factor=2",
            &format!("--screenshot={}", shot.display()),
            &page_url,
        ],
    );
    BrowserView {
        sizes,
        screenshot: std::fs::read(&shot).unwrap(),
    }
}

#[test]
fn headless_chromium_shows_the_badge_at_its_width() {
    let server = KilnServer::start();
    let repo = make_repo(&server, "repo", "main", &[]);
    let project = create_project(&server, "my-app", repo.path(), Some("main"));
    let badge = Badge::of(&server, &project);
    passing_build(&server, "my-app");
    let failing = start_build(
        &server,
        "my-app",
        &["--source-version", "dev", FAIL[0], FAIL[1]],
    );
    assert_eq!(finish(&server, &failing), "FAILED");

    let urls = [
        project["badge"]["badgeRequestUrl"]
            .as_str()
            .unwrap()
            .to_string(),
        badge.url("&branch=dev"),
        badge.url("&branch=feature%2Fx"),
        badge.url("&style=for-the-badge&label=ci"),
    ];
    let view = view_in_chromium(&server, &urls);
    // Flat `build | passing` is 88 px wide, `build | failing` 80 and `build | unknown` 98, as
    // the SVGs say; Chromium lays them out at exactly that size.
    assert_eq!(view.sizes[..3], ["88x20", "80x20", "98x20"]);
    let loud_width: u32 = view.sizes[3]
        .strip_suffix("x28")
        .unwrap_or_else(|| panic!("for-the-badge is 28 px high: {:?}", view.sizes))
        .parse()
        .unwrap();
    assert!(loud_width > 88, "{:?}", view.sizes);

    assert!(view.screenshot.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(
        view.screenshot.len() > 2000,
        "the screenshot is nearly empty"
    );
    // `KILN_BADGE_SCREENSHOT=docs/badge-in-chromium.png` refreshes the README's picture.
    if let Some(path) = std::env::var_os("KILN_BADGE_SCREENSHOT") {
        std::fs::write(path, &view.screenshot).unwrap();
    }
}
