//! The local executor and Kiln's own rights (issue 11, "The local executor gives a build the
//! rights of Kiln's own user"): with several accounts `kiln serve` refuses it unless trusted;
//! where Kiln runs as root each local build runs as a uid of its own, which can read neither
//! Kiln's data dir nor another build's checkout, and whose every process ends with the build
//! (or with the restart after a crash); the data dir is Kiln's alone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use common::builds::{id_of, uuid_of, wait_builds_of};
use common::git::GitRepo;
use common::{ACCOUNT_A, Account, KilnServer, KilnServerBuilder, aws, file_mode, wait_until};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(60);
/// The default range local builds take their uids from.
const BUILD_UIDS: std::ops::RangeInclusive<u32> = 2_000_000_000..=2_000_065_535;

/// One account, from the environment: no trust needed for the local executor.
fn one_account() -> KilnServerBuilder {
    KilnServer::builder()
        .without_accounts()
        .env("KILN_ACCESS_KEY_ID", ACCOUNT_A.access_key_id)
        .env("KILN_SECRET_ACCESS_KEY", ACCOUNT_A.secret)
        .env("KILN_ACCOUNT_ID", ACCOUNT_A.account_id)
}

fn runs_as_root(test: &str) -> bool {
    let root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    if !root {
        eprintln!("skipping {test}: builds get users of their own only when Kiln runs as root");
    }
    root
}

#[test]
fn several_accounts_refuse_the_local_executor_unless_trusted() {
    let refused = [
        KilnServer::builder().untrusted_local_builds(),
        KilnServer::builder()
            .untrusted_local_builds()
            .args(["--executor", "local"]),
        KilnServer::builder()
            .untrusted_local_builds()
            .args(["--executor", "auto"])
            .env("DOCKER_HOST", "unix:///nonexistent/kiln-test/docker.sock"),
    ];
    for (i, builder) in refused.into_iter().enumerate() {
        let Err(failure) = builder.try_start() else {
            panic!("case {i}: kiln started the local executor for two accounts");
        };
        for named in [
            "--trust-local-builds",
            "KILN_TRUST_LOCAL_BUILDS",
            "trust_local_builds",
        ] {
            assert!(
                failure.contains(named),
                "case {i}: {named} not named:\n{failure}"
            );
        }
        if i == 2 {
            assert!(failure.contains("auto"), "{failure}");
        }
    }
    KilnServer::builder()
        .untrusted_local_builds()
        .arg("--trust-local-builds")
        .start();
    KilnServer::builder()
        .untrusted_local_builds()
        .config("trust_local_builds = true")
        .start();
    one_account().args(["--executor", "local"]).start();
}

fn project(name: &str, location: &str, commands: &[String]) -> Value {
    // Each command as a JSON string, which YAML reads as a double-quoted scalar.
    let buildspec: String = commands.iter().fold(
        "version: 0.2\nphases:\n  build:\n    commands:\n".to_string(),
        |text, command| format!("{text}      - {}\n", Value::String(command.clone())),
    );
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

fn start(server: &KilnServer, account: &Account<'_>, input: &Value) -> Value {
    aws(
        server,
        account,
        &[
            "codebuild",
            "create-project",
            "--cli-input-json",
            &input.to_string(),
        ],
    )
    .ok();
    let name = input["name"].as_str().unwrap();
    aws(
        server,
        account,
        &["codebuild", "start-build", "--project-name", name],
    )
    .ok()["build"]
        .clone()
}

fn wait_until_phase(server: &KilnServer, account: &Account<'_>, build: &Value, condition: &str) {
    wait_builds_of(server, account, &[id_of(build)], condition, DEADLINE);
}

/// Commands that hold their build in BUILD, with a process that left the build's process
/// group and session, as a daemon would.
fn holding_commands() -> Vec<String> {
    vec![
        "setsid sleep 900 </dev/null >/dev/null 2>&1 &".into(),
        "sleep 600".into(),
    ]
}

/// The uid a running build's work directory belongs to.
fn build_uid(server: &KilnServer, build: &Value) -> u32 {
    let dir = server.data_dir().join("work").join(uuid_of(build));
    std::fs::metadata(dir).unwrap().uid()
}

/// Whether any live process runs as `uid`.
fn uid_has_processes(uid: u32) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            return false;
        };
        let zombie = status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains("zombie"));
        let owned = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .is_some_and(|uids| uids.split_whitespace().any(|u| u == uid.to_string()));
        owned && !zombie
    })
}

fn wait_uid_gone(uid: u32) {
    wait_until(
        Duration::from_secs(15),
        "every process of the build's user to end",
        || !uid_has_processes(uid),
    );
}

#[test]
fn a_local_build_cannot_read_kiln_or_another_build_and_is_not_root() {
    if !runs_as_root("a_local_build_cannot_read_kiln_or_another_build_and_is_not_root") {
        return;
    }
    // No key configured: Kiln generates credentials.toml in its data dir.
    let server = KilnServer::builder().without_accounts().start();
    let data = server.data_dir().canonicalize().unwrap();
    let stored = std::fs::read_to_string(data.join("credentials.toml")).unwrap();
    let value = |key: &str| {
        stored
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key} = ")))
            .unwrap()
            .trim_matches('"')
            .to_string()
    };
    let (key, secret, account_id) = (
        value("access_key_id"),
        value("secret_access_key"),
        value("account_id"),
    );
    let account = Account {
        access_key_id: &key,
        secret: &secret,
        account_id: &account_id,
    };
    let repo = GitRepo::init(server.root().join("repo"));
    repo.commit(&[("secret.txt", "holder-secret\n")], "secret");

    let holder = start(
        &server,
        &account,
        &project("holder", &repo.location(), &holding_commands()),
    );
    wait_until_phase(
        &server,
        &account,
        &holder,
        r#"b["currentPhase"] == "BUILD""#,
    );
    let holder_uid = build_uid(&server, &holder);
    let holder_dir = data.join("work").join(uuid_of(&holder));
    assert_eq!(
        std::fs::metadata(&holder_dir).unwrap().mode() & 0o777,
        0o700
    );

    let targets = [
        data.join("kiln.db"),
        data.join("kiln.db-wal"),
        data.join("credentials.toml"),
        data.join("logs").join(format!("{}.log", uuid_of(&holder))),
        holder_dir.join("src").join("secret.txt"),
    ];
    let mut commands = vec![r#"echo "ids uid=$(id -u) gid=$(id -g) groups=$(id -G)""#.to_string()];
    for target in &targets {
        let path = target.display();
        commands.push(format!(
            "if cat '{path}' >/dev/null 2>&1; then echo 'READ {path}'; else echo 'DENIED {path}'; fi"
        ));
    }
    for dir in [data.clone(), data.join("work")] {
        let path = dir.display();
        commands.push(format!(
            "if ls '{path}' >/dev/null 2>&1; then echo 'LISTED {path}'; else echo 'DENIED {path}'; fi"
        ));
    }
    let prober = start(
        &server,
        &account,
        &project("prober", &repo.location(), &commands),
    );
    wait_until_phase(&server, &account, &prober, r#"b["buildComplete"]"#);
    let log = std::fs::read_to_string(data.join("logs").join(format!("{}.log", uuid_of(&prober))))
        .unwrap();
    let ids = log
        .lines()
        .find_map(|l| l.strip_prefix("ids "))
        .unwrap_or_else(|| panic!("no ids line:\n{log}"));
    let uid: u32 = ids
        .split_whitespace()
        .find_map(|f| f.strip_prefix("uid="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(BUILD_UIDS.contains(&uid), "{ids}");
    assert_ne!(uid, holder_uid, "two running builds share a user");
    assert_eq!(
        ids,
        format!("uid={uid} gid={uid} groups={uid}"),
        "no supplementary group"
    );
    // Lines the commands printed (the log also quotes each command).
    assert!(
        !log.lines()
            .any(|l| l.starts_with("READ ") || l.starts_with("LISTED ")),
        "a build read what is not its own:\n{log}"
    );
    for target in targets.iter().chain([&data, &data.join("work")]) {
        assert!(
            log.lines()
                .any(|l| l == format!("DENIED {}", target.display())),
            "{}:\n{log}",
            target.display()
        );
    }

    // Stopping the build ends every process of its user, the daemon too.
    assert!(uid_has_processes(holder_uid));
    aws(
        &server,
        &account,
        &["codebuild", "stop-build", "--id", id_of(&holder)],
    )
    .ok();
    wait_uid_gone(holder_uid);
}

#[test]
fn after_a_crash_the_restart_kills_every_process_of_the_builds_user() {
    if !runs_as_root("after_a_crash_the_restart_kills_every_process_of_the_builds_user") {
        return;
    }
    let mut server = one_account().start();
    let repo = GitRepo::init(server.root().join("repo"));
    repo.commit(&[("README", "x\n")], "first");
    let holder = start(
        &server,
        &ACCOUNT_A,
        &project("holder", &repo.location(), &holding_commands()),
    );
    wait_until_phase(
        &server,
        &ACCOUNT_A,
        &holder,
        r#"b["currentPhase"] == "BUILD""#,
    );
    let uid = build_uid(&server, &holder);
    assert!(BUILD_UIDS.contains(&uid), "{uid}");
    server.kill9();
    assert!(uid_has_processes(uid), "the build outlived Kiln");
    server.restart();
    wait_uid_gone(uid);
    wait_until_phase(
        &server,
        &ACCOUNT_A,
        &holder,
        r#"b["buildStatus"] == "FAULT""#,
    );
}

#[test]
fn the_data_dir_is_kilns_alone_even_when_made_by_an_older_kiln() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    // As an older Kiln left it: everything readable by everyone.
    for dir in ["", "logs", "work", "artifacts"] {
        std::fs::create_dir_all(data.join(dir)).unwrap();
        std::fs::set_permissions(data.join(dir), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(data.join("kiln.db"), "").unwrap();
    std::fs::write(
        data.join("credentials.toml"),
        format!(
            "[[credentials]]\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\naccount_id = \"{}\"\n",
            ACCOUNT_A.access_key_id, ACCOUNT_A.secret, ACCOUNT_A.account_id
        ),
    )
    .unwrap();
    for file in ["kiln.db", "credentials.toml"] {
        std::fs::set_permissions(data.join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let server = KilnServer::builder()
        .without_accounts()
        .data_dir(&data)
        .start();
    aws(&server, &ACCOUNT_A, &["codebuild", "list-projects"]).ok();
    let expected = [
        ("", 0o711),
        ("logs", 0o700),
        ("artifacts", 0o700),
        ("work", 0o711),
        ("kiln.db", 0o600),
        ("kiln.db-wal", 0o600),
        ("kiln.db-shm", 0o600),
        ("credentials.toml", 0o600),
    ];
    let found: Vec<(&str, u32)> = expected
        .iter()
        .map(|(name, _)| (*name, file_mode(&data.join(name))))
        .collect();
    assert_eq!(found, expected);
    assert_fresh_data_dir_is_closed(&one_account().start());
}

fn assert_fresh_data_dir_is_closed(server: &KilnServer) {
    let data = server.data_dir();
    assert_eq!(file_mode(data), 0o711);
    for name in ["logs", "artifacts"] {
        assert_eq!(file_mode(&data.join(name)), 0o700, "{name}");
    }
    assert_eq!(file_mode(&data.join("kiln.db")), 0o600);
    assert_eq!(file_mode(Path::new(&data.join("work"))), 0o711);
}
