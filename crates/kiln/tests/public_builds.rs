//! Public builds (docs/public-builds.md): `aws codebuild update-project-visibility` makes a
//! project's builds readable at `/project/<publicProjectAlias>` by anyone, without signing in;
//! secrets stay masked there, artifacts show only with a `resourceAccessRole`, and a private
//! project's pages are the same 404 as an address that names nothing.

// Helpers here panic on failure like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use serde_json::{Value, json};

use common::browser::{Browser, UI_DEADLINE};
use common::builds::{build_log, create_project, id_of, uuid_of, wait_build_complete};
use common::git::GitRepo;
use common::{
    ACCOUNT_A, ACCOUNT_B, Account, HttpReply, KilnServer, SignedRequest, aws, http_get,
    signed_request,
};

const BUILD_DEADLINE: Duration = Duration::from_secs(120);
const PROJECT: &str = "open-source";
const SECRET_VALUE: &str = "s3cr3t-parameter-value-4711";
const PLAIN_VALUE: &str = "plain-setting-value-0815";
const BUCKET: &str = "public-artifacts";

fn project_arn(account: &Account<'_>) -> String {
    format!(
        "arn:aws:codebuild:us-east-1:{}:project/{PROJECT}",
        account.account_id
    )
}

/// A project whose build echoes a secure parameter (masked in the log), prints its public
/// build URL, and uploads `report.txt` as an artifact; it has a PLAINTEXT variable it never
/// prints.
fn create_public_candidate(server: &KilnServer) {
    let put = aws(
        server,
        &ACCOUNT_A,
        &[
            "ssm",
            "put-parameter",
            "--name",
            "/ci/token",
            "--value",
            SECRET_VALUE,
            "--type",
            "SecureString",
        ],
    );
    assert_eq!(put.ok()["Version"], 1);
    let buildspec = "version: 0.2\nenv:\n  parameter-store:\n    TOKEN: /ci/token\nphases:\n  \
                     build:\n    commands:\n      - echo \"token=$TOKEN\"\n      - echo \
                     \"public-url=${CODEBUILD_PUBLIC_BUILD_URL:-none}\"\n      - echo \
                     artifact-body > report.txt\nartifacts:\n  files:\n    - report.txt\n";
    let repo = GitRepo::init(server.root().join("repo"));
    repo.commit(&[("README.md", "# Open source\n")], "first commit");
    create_project(
        server,
        &json!({
            "name": PROJECT,
            "source": {"type": "GITHUB", "location": repo.location(), "buildspec": buildspec},
            "artifacts": {"type": "S3", "location": BUCKET, "packaging": "NONE",
                          "namespaceType": "BUILD_ID", "name": "out"},
            "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                            "computeType": "BUILD_GENERAL1_SMALL",
                            "environmentVariables": [
                                {"name": "PLAIN_SETTING", "value": PLAIN_VALUE, "type": "PLAINTEXT"}
                            ]},
            "serviceRole": "arn:aws:iam::111122223333:role/r",
            "badgeEnabled": true,
        }),
    );
}

fn run_build(server: &KilnServer) -> Value {
    let build = aws(
        server,
        &ACCOUNT_A,
        &["codebuild", "start-build", "--project-name", PROJECT],
    )
    .ok()["build"]
        .clone();
    let done = wait_build_complete(server, id_of(&build), BUILD_DEADLINE);
    assert_eq!(done["buildStatus"], "SUCCEEDED", "{done:#}");
    done
}

/// `aws codebuild update-project-visibility`, with `extra` arguments.
fn set_visibility(server: &KilnServer, visibility: &str, extra: &[&str]) -> Value {
    let arn = project_arn(&ACCOUNT_A);
    let mut args = vec![
        "codebuild",
        "update-project-visibility",
        "--project-arn",
        &arn,
        "--project-visibility",
        visibility,
    ];
    args.extend_from_slice(extra);
    aws(server, &ACCOUNT_A, &args).ok().clone()
}

fn get_project(server: &KilnServer) -> Value {
    aws(
        server,
        &ACCOUNT_A,
        &["codebuild", "batch-get-projects", "--names", PROJECT],
    )
    .ok()["projects"][0]
        .clone()
}

fn get(server: &KilnServer, path: &str) -> HttpReply {
    http_get(&format!("{}{path}", server.url()), &[])
}

/// The badge's README snippet, a member of Kiln's own that the CLI does not show.
fn badge_markdown(server: &KilnServer) -> String {
    let raw = signed_request(
        server,
        SignedRequest::operation(&ACCOUNT_A, "BatchGetProjects", &json!({"names": [PROJECT]})),
    );
    assert_eq!(raw.status, 200, "{}", raw.body);
    raw.json()["projects"][0]["badge"]["badgeMarkdown"]
        .as_str()
        .unwrap()
        .to_string()
}

/// What no page of a public project may show: the account, its keys, its settings' values.
fn assert_nothing_private(page: &str) {
    for private in [
        ACCOUNT_A.account_id,
        ACCOUNT_A.access_key_id,
        ACCOUNT_A.secret,
        SECRET_VALUE,
        PLAIN_VALUE,
        "Sign out",
    ] {
        assert!(!page.contains(private), "the page shows {private}:\n{page}");
    }
}

#[test]
fn a_public_projects_builds_are_readable_without_signing_in_and_a_private_ones_are_not() {
    let server = KilnServer::start();
    create_public_candidate(&server);
    let private_build = run_build(&server);
    assert!(build_log(&private_build).contains("public-url=none\n"));

    // Private by default; nothing public to find.
    let project = &get_project(&server);
    assert_eq!(project["projectVisibility"], "PRIVATE");
    assert!(project.get("publicProjectAlias").is_none(), "{project:#}");
    let nothing = get(&server, "/project/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(nothing.status, 404);

    // Made public: the alias is a token unrelated to the name or the account.
    let made_public = set_visibility(&server, "PUBLIC_READ", &[]);
    assert_eq!(made_public["projectArn"], project_arn(&ACCOUNT_A));
    assert_eq!(made_public["projectVisibility"], "PUBLIC_READ");
    let alias = made_public["publicProjectAlias"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(alias.len(), 32, "{alias}");
    assert!(!alias.contains(PROJECT) && !alias.contains(ACCOUNT_A.account_id));
    let project = &get_project(&server);
    assert_eq!(project["projectVisibility"], "PUBLIC_READ");
    assert_eq!(project["publicProjectAlias"], alias.as_str());
    let page_url = format!("{}/project/{alias}", server.url());
    let markdown = badge_markdown(&server);
    assert!(
        markdown.starts_with("[![Build Status](") && markdown.ends_with(&format!("]({page_url})")),
        "{markdown}"
    );

    // A build of the public project knows its public page.
    let public_build = run_build(&server);
    let public_build_url = format!("{page_url}/build/{}", uuid_of(&public_build));
    assert!(
        build_log(&public_build).contains(&format!("public-url={public_build_url}\n")),
        "{}",
        build_log(&public_build)
    );

    // The project's page lists both builds (also the one run while it was private).
    let listing = get(&server, &format!("/project/{alias}"));
    assert_eq!(listing.status, 200, "{}", listing.body);
    assert!(listing.body.contains(PROJECT));
    for build in [&private_build, &public_build] {
        let link = format!("/project/{alias}/build/{}", uuid_of(build));
        assert!(
            listing.body.contains(&link),
            "{link} missing:\n{}",
            listing.body
        );
    }
    assert_nothing_private(&listing.body);

    // A build's page: phases and the log, the secret masked; no artifacts without a role.
    let page = get(
        &server,
        &format!("/project/{alias}/build/{}", uuid_of(&public_build)),
    );
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("token=***"), "{}", page.body);
    assert!(page.body.contains("UPLOAD_ARTIFACTS"), "{}", page.body);
    assert!(
        page.body.contains("id=\"artifacts-private\""),
        "{}",
        page.body
    );
    assert!(!page.body.contains("/artifacts/0"), "{}", page.body);
    assert!(!page.body.contains("Retry build"), "{}", page.body);
    assert_nothing_private(&page.body);
    let full_log = get(
        &server,
        &format!("/project/{alias}/build/{}/log", uuid_of(&public_build)),
    );
    assert_eq!(full_log.status, 200);
    assert!(full_log.body.contains("token=***\n"), "{}", full_log.body);
    assert!(!full_log.body.contains(SECRET_VALUE));
    let artifact = format!(
        "/project/{alias}/build/{}/artifacts/0/report.txt",
        uuid_of(&public_build)
    );
    assert_eq!(get(&server, &artifact).status, 404);

    // With a resource access role the artifacts are listed and served.
    let role = "arn:aws:iam::111122223333:role/public-read";
    let with_role = set_visibility(&server, "PUBLIC_READ", &["--resource-access-role", role]);
    assert_eq!(
        with_role["publicProjectAlias"],
        alias.as_str(),
        "the alias stays"
    );
    let page = get(
        &server,
        &format!("/project/{alias}/build/{}", uuid_of(&public_build)),
    );
    assert!(page.body.contains(&artifact), "{}", page.body);
    let download = get(&server, &artifact);
    assert_eq!(download.status, 200);
    assert_eq!(download.body, "artifact-body\n");
    assert_eq!(
        download.header("content-disposition"),
        Some("attachment; filename=\"report.txt\"")
    );

    // Private again: every public address is the 404 of an address that names nothing.
    let private = set_visibility(&server, "PRIVATE", &[]);
    assert_eq!(private["projectVisibility"], "PRIVATE");
    assert_eq!(private["publicProjectAlias"], alias.as_str());
    for path in [
        format!("/project/{alias}"),
        format!("/project/{alias}/build/{}", uuid_of(&public_build)),
        format!("/project/{alias}/build/{}/log", uuid_of(&public_build)),
        artifact.clone(),
    ] {
        let gone = get(&server, &path);
        assert_eq!(gone.status, 404, "{path}");
        assert_eq!(
            gone.body, nothing.body,
            "{path} tells a private project apart"
        );
    }
    assert!(badge_markdown(&server).starts_with("![Build Status]("));

    // Public once more: the same address.
    let again = set_visibility(&server, "PUBLIC_READ", &[]);
    assert_eq!(again["publicProjectAlias"], alias.as_str());
    assert_eq!(get(&server, &format!("/project/{alias}")).status, 200);
    // The role went with the call that did not name it.
    assert_eq!(get(&server, &artifact).status, 404);
}

#[test]
fn visibility_calls_are_checked_as_codebuild_checks_them() {
    let server = KilnServer::start();
    create_public_candidate(&server);

    // Another account cannot change (or learn of) the project.
    let arn = project_arn(&ACCOUNT_A);
    let foreign = aws(
        &server,
        &ACCOUNT_B,
        &[
            "codebuild",
            "update-project-visibility",
            "--project-arn",
            &arn,
            "--project-visibility",
            "PUBLIC_READ",
        ],
    );
    assert_eq!(foreign.error().code, "ResourceNotFoundException");
    let missing = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "update-project-visibility",
            "--project-arn",
            "arn:aws:codebuild:us-east-1:111122223333:project/no-such-project",
            "--project-visibility",
            "PUBLIC_READ",
        ],
    );
    assert_eq!(missing.error().code, "ResourceNotFoundException");
    for (arn, visibility) in [
        (PROJECT, "PUBLIC_READ"),
        (arn.as_str(), "PUBLIC"),
        (
            "arn:aws:codebuild:us-east-1:111122223333:report-group/x",
            "PRIVATE",
        ),
    ] {
        let refused = aws(
            &server,
            &ACCOUNT_A,
            &[
                "codebuild",
                "update-project-visibility",
                "--project-arn",
                arn,
                "--project-visibility",
                visibility,
            ],
        );
        assert_eq!(
            refused.error().code,
            "InvalidInputException",
            "{arn} {visibility}"
        );
    }
    let project = &get_project(&server);
    assert_eq!(project["projectVisibility"], "PRIVATE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_reads_a_public_build_without_signing_in() {
    let server = KilnServer::start();
    create_public_candidate(&server);
    let alias = set_visibility(&server, "PUBLIC_READ", &[])["publicProjectAlias"]
        .as_str()
        .unwrap()
        .to_string();
    let build = run_build(&server);

    let browser = Browser::start(server.url()).await;
    browser.goto(&format!("/project/{alias}")).await;
    browser
        .click(&format!(
            "a[href='/project/{alias}/build/{}']",
            uuid_of(&build)
        ))
        .await;
    let log = browser.wait_text("#log", "token=***").await;
    assert!(!log.contains(SECRET_VALUE), "{log}");
    assert_eq!(
        browser.path().await,
        format!("/project/{alias}/build/{}", uuid_of(&build)),
        "no sign-in was asked for"
    );
    assert_eq!(
        browser.text("#build-status").await,
        "Succeeded",
        "the build's status"
    );
    // The console itself still asks for a sign-in.
    browser.goto(&format!("/projects/{PROJECT}")).await;
    browser
        .wait_for(UI_DEADLINE, "the sign-in page", || async {
            browser.path().await.starts_with("/sign-in").then_some(())
        })
        .await;

    // Signed in, the project page links its public page and makes the project private.
    browser.goto("/sign-in").await;
    browser.sign_in(&ACCOUNT_A).await;
    browser.goto(&format!("/projects/{PROJECT}")).await;
    let public_page = format!("{}/project/{alias}", server.url());
    assert_eq!(browser.text("#public-page").await, public_page);
    assert!(
        browser
            .value("#badge-markdown")
            .await
            .ends_with(&format!("]({public_page})")),
        "the README snippet links the public page"
    );
    browser.select("#visibility", "PRIVATE").await;
    browser.click("#save-visibility").await;
    browser
        .wait_text("#public-state", "Only this account can see")
        .await;
    assert_eq!(get(&server, &format!("/project/{alias}")).status, 404);
    assert_eq!(get_project(&server)["projectVisibility"], "PRIVATE");
}
