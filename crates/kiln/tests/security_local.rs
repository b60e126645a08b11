//! Host paths as sources (issue 11, "Any host path is a source"): with one account any path
//! outside Kiln's data dir; with several, only paths under the account's `local_source_roots`;
//! the data dir never. Refused at CreateProject, UpdateProject and StartBuild with
//! InvalidInputException, and checked again when the build downloads its source.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::builds::{context, id_of, uuid_of, wait_builds_of};
use common::git::GitRepo;
use common::{ACCOUNT_A, ACCOUNT_B, Account, AwsError, KilnServer, aws};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(60);

fn project(name: &str, location: &str, buildspec: &str) -> Value {
    json!({
        "name": name,
        "source": {"type": "GITHUB", "location": location, "buildspec": buildspec},
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": {
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL"
        },
        "serviceRole": "arn:aws:iam::111122223333:role/kiln"
    })
}

const QUICK: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo built\n";
const SLOW: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 600\n";

fn create(server: &KilnServer, account: &Account<'_>, input: &Value) -> Result<Value, AwsError> {
    let out = aws(
        server,
        account,
        &[
            "codebuild",
            "create-project",
            "--cli-input-json",
            &input.to_string(),
        ],
    );
    if out.status.success() {
        Ok(out.json["project"].clone())
    } else {
        Err(out.error())
    }
}

fn start(
    server: &KilnServer,
    account: &Account<'_>,
    name: &str,
    args: &[&str],
) -> Result<Value, AwsError> {
    let mut all = vec!["codebuild", "start-build", "--project-name", name];
    all.extend_from_slice(args);
    let out = aws(server, account, &all);
    if out.status.success() {
        Ok(out.json["build"].clone())
    } else {
        Err(out.error())
    }
}

fn wait_complete(server: &KilnServer, account: &Account<'_>, build: &Value) -> Value {
    wait_builds_of(
        server,
        account,
        &[id_of(build)],
        r#"b["buildComplete"]"#,
        DEADLINE,
    )
    .remove(0)
}

/// A repository at `dir` whose history has one commit.
fn repo_at(dir: &Path) -> GitRepo {
    let repo = GitRepo::init(dir);
    repo.commit(&[("README", "hello\n")], "first");
    repo
}

fn assert_refused(result: Result<Value, AwsError>, words: &[&str]) {
    let err = result.expect_err("the location was accepted");
    assert_eq!(err.code, "InvalidInputException", "{err:?}");
    for word in words {
        assert!(err.message.contains(word), "{word:?} not in {err:?}");
    }
}

#[test]
fn another_accounts_running_build_and_the_data_dir_are_never_sources() {
    let server = KilnServer::start();
    let repo = repo_at(&server.root().join("repo"));
    let running = start_holder(&server, &repo);
    let data = server.data_dir().canonicalize().unwrap();
    let their_src = data.join("work").join(uuid_of(&running)).join("src");
    assert!(their_src.join("README").exists(), "A's checkout is there");
    // A path that leads into the data dir through a symlink is judged by where it leads.
    let link = server.root().join("innocent");
    std::os::unix::fs::symlink(&their_src, &link).unwrap();

    let data_words = ["data directory"];
    for location in [
        their_src.display().to_string(),
        format!("file://{}", their_src.display()),
        data.display().to_string(),
        data.join("kiln.db").display().to_string(),
        link.display().to_string(),
    ] {
        assert_refused(
            create(&server, &ACCOUNT_B, &project("steal", &location, QUICK)),
            &data_words,
        );
    }
    // An allowed project cannot be pointed there by an update or an override either.
    let own = repo_at(&server.root().join("b-repo"));
    create(
        &server,
        &ACCOUNT_B,
        &project("mine", &own.location(), QUICK),
    )
    .unwrap();
    let update = aws(
        &server,
        &ACCOUNT_B,
        &[
            "codebuild",
            "update-project",
            "--name",
            "mine",
            "--source",
            &json!({"type": "GITHUB", "location": their_src}).to_string(),
        ],
    );
    assert_refused(
        if update.status.success() {
            Ok(update.json)
        } else {
            Err(update.error())
        },
        &data_words,
    );
    let location = their_src.display().to_string();
    assert_refused(
        start(
            &server,
            &ACCOUNT_B,
            "mine",
            &["--source-location-override", &location],
        ),
        &["sourceLocationOverride", "data directory"],
    );
    let built = wait_complete(
        &server,
        &ACCOUNT_B,
        &start(&server, &ACCOUNT_B, "mine", &[]).unwrap(),
    );
    assert_eq!(built["buildStatus"], "SUCCEEDED", "{built:#}");
    aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "stop-build", "--id", id_of(&running)],
    )
    .ok();
}

#[test]
fn several_accounts_without_roots_have_no_local_sources() {
    let server = KilnServer::builder().without_local_source_roots().start();
    let unrelated = repo_at(&server.root().join("unrelated-checkout"));
    for location in [
        unrelated.location(),
        format!("file://{}", unrelated.location()),
    ] {
        assert_refused(
            create(&server, &ACCOUNT_B, &project("local", &location, QUICK)),
            &["local_source_roots", "has none"],
        );
    }
    // A remote location stays allowed; overriding it with a local path is not.
    create(
        &server,
        &ACCOUNT_B,
        &project("remote", "https://git.example.com/r.git", QUICK),
    )
    .unwrap();
    assert_refused(
        start(
            &server,
            &ACCOUNT_B,
            "remote",
            &["--source-location-override", &unrelated.location()],
        ),
        &["sourceLocationOverride", "local_source_roots"],
    );
    assert_refused(
        create(&server, &ACCOUNT_B, &project("rel", "relative/repo", QUICK)),
        &["absolute"],
    );
}

#[test]
fn an_account_builds_from_its_own_roots_only() {
    let roots = tempfile::tempdir().unwrap();
    let b_root = roots.path().join("b");
    let a_root = roots.path().join("a");
    let b_repo = repo_at(&b_root.join("app"));
    let a_repo = repo_at(&a_root.join("app"));
    let server = KilnServer::builder()
        .local_source_roots(&ACCOUNT_A, &[&a_root])
        .local_source_roots(&ACCOUNT_B, &[&b_root])
        .start();
    create(
        &server,
        &ACCOUNT_B,
        &project("app", &b_repo.location(), QUICK),
    )
    .unwrap();
    let built = wait_complete(
        &server,
        &ACCOUNT_B,
        &start(&server, &ACCOUNT_B, "app", &[]).unwrap(),
    );
    assert_eq!(built["buildStatus"], "SUCCEEDED", "{built:#}");
    assert_refused(
        create(
            &server,
            &ACCOUNT_B,
            &project("a-app", &a_repo.location(), QUICK),
        ),
        &["not under this account's local_source_roots"],
    );
    assert_refused(
        start(
            &server,
            &ACCOUNT_B,
            "app",
            &["--source-location-override", &a_repo.location()],
        ),
        &["local_source_roots"],
    );
}

#[test]
fn one_account_may_build_any_path_outside_the_data_dir() {
    let server = KilnServer::builder()
        .without_accounts()
        .env("KILN_ACCESS_KEY_ID", ACCOUNT_A.access_key_id)
        .env("KILN_SECRET_ACCESS_KEY", ACCOUNT_A.secret)
        .env("KILN_ACCOUNT_ID", ACCOUNT_A.account_id)
        .start();
    let elsewhere = tempfile::tempdir().unwrap();
    let repo = repo_at(&elsewhere.path().join("anywhere"));
    create(
        &server,
        &ACCOUNT_A,
        &project("mine", &repo.location(), QUICK),
    )
    .unwrap();
    let built = wait_complete(
        &server,
        &ACCOUNT_A,
        &start(&server, &ACCOUNT_A, "mine", &[]).unwrap(),
    );
    assert_eq!(built["buildStatus"], "SUCCEEDED", "{built:#}");
    let work = server.data_dir().join("work").display().to_string();
    assert_refused(
        create(&server, &ACCOUNT_A, &project("inside", &work, QUICK)),
        &["data directory"],
    );
}

/// The rule travels with the build: a path that was harmless when the build was started but
/// leads into the data dir by the time the build runs is refused at DOWNLOAD_SOURCE.
#[test]
fn the_runner_checks_the_path_again_at_download_source() {
    let server = KilnServer::builder()
        .args(["--max-concurrent-builds", "1"])
        .start();
    let repo = repo_at(&server.root().join("repo"));
    let holder = start_holder(&server, &repo);
    // Not there yet: judged by the directory it will be in, which is allowed.
    let late = server.root().join("late");
    create(
        &server,
        &ACCOUNT_A,
        &project("late", &late.display().to_string(), QUICK),
    )
    .unwrap();
    let queued = start(&server, &ACCOUNT_A, "late", &[]).unwrap();
    std::os::unix::fs::symlink(server.data_dir().canonicalize().unwrap(), &late).unwrap();
    aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "stop-build", "--id", id_of(&holder)],
    )
    .ok();
    let built = wait_complete(&server, &ACCOUNT_A, &queued);
    assert_eq!(built["buildStatus"], "FAILED", "{built:#}");
    let (code, message) = context(&built, "DOWNLOAD_SOURCE");
    assert_eq!(code, "CLIENT_ERROR");
    assert!(message.contains("data directory"), "{message}");
}

/// Starts account A's project `holder` from `repo`, a build that sleeps, and waits until it
/// runs its BUILD phase.
fn start_holder(server: &KilnServer, repo: &GitRepo) -> Value {
    create(
        server,
        &ACCOUNT_A,
        &project("holder", &repo.location(), SLOW),
    )
    .unwrap();
    let holder = start(server, &ACCOUNT_A, "holder", &[]).unwrap();
    wait_builds_of(
        server,
        &ACCOUNT_A,
        &[id_of(&holder)],
        r#"b["currentPhase"] == "BUILD""#,
        DEADLINE,
    );
    holder
}
