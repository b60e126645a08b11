//! Security of sources (issue 11): an imported source token goes only to its forge's host over
//! https, never in clear text nor to another host, not even through a redirect; and the API
//! refuses environment variable names, git locations and source versions that git or a shell
//! would misread, before any build runs.

// The helpers below are test code too: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use base64::Engine;
use common::builds::{build_log, context, create_project, id_of, wait_build_complete};
use common::git::{GitHttpOptions, GitHttpServer, GitRepo, SelfSignedCert};
use common::{ACCOUNT_A, KilnServer, aws, boto3};
use serde_json::{Value, json};

const ROLE: &str = "arn:aws:iam::111122223333:role/service-role/kiln-build";
const TOKEN: &str = "ghp_kilnSecurityTestToken0123456789SECRET";
/// How long a build may take before a test gives up on it.
const BUILD_DEADLINE: Duration = Duration::from_secs(120);

fn project(name: &str, source_type: &str, location: &str) -> Value {
    json!({
        "name": name,
        "source": {"type": source_type, "location": location},
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": {
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL"
        },
        "serviceRole": ROLE
    })
}

fn import_token(server: &KilnServer, server_type: &str) {
    aws(
        server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "import-source-credentials",
            "--server-type",
            server_type,
            "--auth-type",
            "PERSONAL_ACCESS_TOKEN",
            "--token",
            TOKEN,
        ],
    )
    .ok();
}

/// Starts a build of `name` and waits for it to complete.
fn build(server: &KilnServer, name: &str) -> Value {
    let started = aws(
        server,
        &ACCOUNT_A,
        &["codebuild", "start-build", "--project-name", name],
    );
    wait_build_complete(server, id_of(&started.ok()["build"]), BUILD_DEADLINE)
}

/// A bare repository `<name>.git` under `repos` with a buildspec that succeeds.
fn serve_repository(work: &std::path::Path, repos: &std::path::Path, name: &str) {
    let repo = GitRepo::init(work.join(name));
    repo.commit(
        &[(
            "buildspec.yml",
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo built\n",
        )],
        "code",
    );
    std::fs::create_dir_all(repos).unwrap();
    repo.bare_clone(repos, name);
}

/// Whether any request `server` received carried the token (in any user's Basic credentials).
fn saw_token(server: &GitHttpServer) -> bool {
    server.requests().iter().any(|request| {
        request
            .rsplit_once(" Basic ")
            .and_then(|(_, encoded)| {
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .ok()
            })
            .is_some_and(|decoded| String::from_utf8_lossy(&decoded).contains(TOKEN))
    })
}

/// Asserts the build failed to download its source, the token never reached `server` (which
/// was contacted without credentials), and the log says why, without the token.
fn assert_withheld(server: &KilnServer, build: &Value, git: &GitHttpServer, why: &str) {
    assert_eq!(build["buildStatus"], "FAILED", "{build:#}");
    let (code, _) = context(build, "DOWNLOAD_SOURCE");
    assert_eq!(code, "CLIENT_ERROR");
    let requests = git.requests();
    assert!(!requests.is_empty(), "git never reached the server");
    assert!(!saw_token(git), "the token was sent: {requests:?}");
    let log = build_log(build);
    assert!(log.contains(why), "the log does not say {why:?}:\n{log}");
    assert!(!log.contains(TOKEN), "the token is in the log:\n{log}");
    assert!(!server.stderr_log().contains(TOKEN));
}

#[test]
fn a_github_token_never_reaches_another_host() {
    let root = tempfile::tempdir().unwrap();
    let cert = SelfSignedCert::create(&root.path().join("tls"));
    // Both listeners would accept the token as their password, and record every header.
    let plain_repos = root.path().join("plain");
    serve_repository(root.path(), &plain_repos, "repo");
    let plain = GitHttpServer::start(&plain_repos, TOKEN);
    let tls_repos = root.path().join("tls-served");
    serve_repository(root.path(), &tls_repos, "repo");
    let tls = GitHttpServer::start_with(
        &tls_repos,
        TOKEN,
        &GitHttpOptions {
            tls: Some(&cert),
            ..GitHttpOptions::default()
        },
    );
    let server = KilnServer::builder()
        .env("GIT_SSL_CAINFO", cert.cert.display().to_string())
        .start();
    import_token(&server, "GITHUB");

    // In clear text to a listener: the reported attack.
    create_project(&server, &project("cleartext", "GITHUB", &plain.url("repo")));
    let done = build(&server, "cleartext");
    assert_withheld(
        &server,
        &done,
        &plain,
        "The imported GITHUB source credential was not used: credentials are only sent over https://; GITHUB credentials are only sent to https://github.com",
    );

    // Over https, to a host that is not github.com, including one that names github.com as
    // the location's user.
    let port = tls.port();
    for (name, location) in [
        ("other-host", tls.url("repo")),
        (
            "userinfo",
            format!("https://github.com@127.0.0.1:{port}/repo.git"),
        ),
    ] {
        create_project(&server, &project(name, "GITHUB", &location));
        let done = build(&server, name);
        assert_withheld(
            &server,
            &done,
            &tls,
            &format!(
                "The imported GITHUB source credential was not used: the location's host is 127.0.0.1:{port}; GITHUB credentials are only sent to https://github.com"
            ),
        );
    }
}

#[test]
fn an_enterprise_token_reaches_only_its_configured_host_and_never_follows_a_redirect() {
    let root = tempfile::tempdir().unwrap();
    let cert = SelfSignedCert::create(&root.path().join("tls"));
    let tls = |repos: &std::path::Path, redirect_to: Option<String>| {
        serve_repository(root.path(), repos, "repo");
        GitHttpServer::start_with(
            repos,
            TOKEN,
            &GitHttpOptions {
                tls: Some(&cert),
                redirect_to,
            },
        )
    };
    let configured = tls(&root.path().join("configured"), None);
    let elsewhere = tls(&root.path().join("elsewhere"), None);
    // A configured host that, once it has the credential, redirects to another host.
    let redirecting = tls(&root.path().join("redirecting"), Some(elsewhere.base_url()));
    let server = KilnServer::builder()
        .config(format!(
            "[source_hosts]\ngithub_enterprise = [\"127.0.0.1:{}\", \"127.0.0.1:{}\"]",
            configured.port(),
            redirecting.port()
        ))
        .env("GIT_SSL_CAINFO", cert.cert.display().to_string())
        .start();
    import_token(&server, "GITHUB_ENTERPRISE");

    create_project(
        &server,
        &project("ghe", "GITHUB_ENTERPRISE", &configured.url("repo")),
    );
    let done = build(&server, "ghe");
    assert_eq!(done["buildStatus"], "SUCCEEDED", "{done:#}");
    assert!(saw_token(&configured), "{:?}", configured.requests());
    assert!(!build_log(&done).contains(TOKEN));

    create_project(
        &server,
        &project("redirected", "GITHUB_ENTERPRISE", &redirecting.url("repo")),
    );
    let done = build(&server, "redirected");
    assert_eq!(done["buildStatus"], "FAILED", "{done:#}");
    assert!(saw_token(&redirecting), "{:?}", redirecting.requests());
    assert!(
        !saw_token(&elsewhere),
        "the token followed the redirect: {:?}",
        elsewhere.requests()
    );

    create_project(
        &server,
        &project("unlisted", "GITHUB_ENTERPRISE", &elsewhere.url("repo")),
    );
    let done = build(&server, "unlisted");
    assert_withheld(
        &server,
        &done,
        &elsewhere,
        &format!(
            "The imported GITHUB_ENTERPRISE source credential was not used: the location's host is 127.0.0.1:{}; GITHUB_ENTERPRISE credentials are only sent to https://127.0.0.1:{}, https://127.0.0.1:{}",
            elsewhere.port(),
            configured.port(),
            redirecting.port()
        ),
    );
}

#[test]
fn a_misconfigured_source_host_stops_kiln_at_start() {
    let failure = KilnServer::builder()
        .config("[source_hosts]\ngithub_enterprise = [\"user@ghe.example.com\"]")
        .try_start()
        .err()
        .expect("kiln started with a bad source host");
    assert!(
        failure.contains("source_hosts.github_enterprise"),
        "{failure}"
    );
}

/// Every call is refused with InvalidInputException naming the member, and no build runs.
#[test]
fn names_locations_and_versions_git_would_misread_are_refused_at_the_api() {
    let server = KilnServer::start();
    let refused = boto3(
        &server,
        &ACCOUNT_A,
        r#"
base = {
    "name": "ok",
    "source": {"type": "GITHUB", "location": "https://github.com/o/r.git"},
    "artifacts": {"type": "NO_ARTIFACTS"},
    "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                    "computeType": "BUILD_GENERAL1_SMALL"},
    "serviceRole": "arn:aws:iam::111122223333:role/service-role/kiln-build",
}
raw_client.create_project(**base)

def env(name, value="v"):
    return dict(base["environment"], environmentVariables=[{"name": name, "value": value}])

def secondary(location):
    return [{"type": "GITHUB", "location": location, "sourceIdentifier": "lib"}]

locations = ["--upload-pack=touch /tmp/kiln-pwned", "-oProxyCommand=x", "ext::sh -c touch% /tmp/kiln-pwned", "fd::3"]
versions = ["--output=/tmp/kiln-pwned", "--upload-pack=x", "-b"]
names = ["A=B", "A\u0000B", "1ABC", "A B"]
cases = []
for name in names:
    cases.append(("create_project", dict(base, name="p1", environment=env(name))))
    cases.append(("update_project", {"name": "ok", "environment": env(name)}))
    cases.append(("start_build", {"projectName": "ok",
                  "environmentVariablesOverride": [{"name": name, "value": "v"}]}))
cases.append(("create_project", dict(base, name="p1", environment=env("OK", "a\u0000b"))))
cases.append(("start_build", {"projectName": "ok",
              "environmentVariablesOverride": [{"name": "OK", "value": "a\u0000b"}]}))
for location in locations:
    cases.append(("create_project", dict(base, name="p1", source={"type": "GITHUB", "location": location})))
    cases.append(("update_project", {"name": "ok", "source": {"type": "GITLAB", "location": location}}))
    cases.append(("create_project", dict(base, name="p1", secondarySources=secondary(location))))
    cases.append(("update_project", {"name": "ok", "secondarySources": secondary(location)}))
    cases.append(("start_build", {"projectName": "ok", "sourceLocationOverride": location}))
    cases.append(("start_build", {"projectName": "ok", "secondarySourcesOverride": secondary(location)}))
for version in versions:
    cases.append(("create_project", dict(base, name="p1", sourceVersion=version)))
    cases.append(("update_project", {"name": "ok", "sourceVersion": version}))
    cases.append(("start_build", {"projectName": "ok", "sourceVersion": version}))
    cases.append(("start_build", {"projectName": "ok", "secondarySourcesVersionOverride":
                  [{"sourceIdentifier": "lib", "sourceVersion": version}]}))
result = {
    "answers": [[op, params, error_of(getattr(raw_client, op), **params)] for op, params in cases],
    "builds": raw_client.list_builds_for_project(projectName="ok")["ids"],
    "projects": raw_client.list_projects()["projects"],
    "project": raw_client.batch_get_projects(names=["ok"])["projects"][0],
}
"#,
    );
    for answer in refused["answers"].as_array().unwrap() {
        let (operation, params, error) = (&answer[0], &answer[1], &answer[2]);
        assert_eq!(
            error["code"], "InvalidInputException",
            "{operation} {params} was not refused: {error}"
        );
        assert_eq!(error["status"], 400, "{operation} {params}: {error}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("validation error"),
            "{operation} {params}: {error}"
        );
        assert!(
            !error["message"].as_str().unwrap().contains("a\u{0}b"),
            "{error}"
        );
    }
    assert_eq!(refused["builds"], json!([]), "a build was started");
    assert_eq!(refused["projects"], json!(["ok"]));
    assert_eq!(
        refused["project"]["source"]["location"],
        "https://github.com/o/r.git"
    );
    assert!(refused["project"].get("sourceVersion").is_none());
}
