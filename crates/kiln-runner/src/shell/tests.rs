//! Tests with real shells and processes.

use super::*;
use std::path::Path;
use std::time::{Duration, Instant};

struct Fixture {
    dir: tempfile::TempDir,
    log: std::fs::File,
    session: ShellSession,
    cancel: CancellationToken,
}

impl Fixture {
    fn new(shell: Shell, semantics: Semantics) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir(&work).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("build.log"))
            .unwrap();
        let config = SessionConfig {
            state_dir: dir.path().join("state"),
            initial_cwd: work,
            env: vec![
                ("HOME".to_owned(), "/root".to_owned()),
                ("CODEBUILD_BUILD_SUCCEEDING".to_owned(), "1".to_owned()),
            ],
            shell,
            semantics,
        };
        let session = ShellSession::new(config, Arc::new(LocalLauncher::new())).unwrap();
        Self {
            dir,
            log,
            session,
            cancel: CancellationToken::new(),
        }
    }

    async fn run(&mut self, command: &str) -> CommandOutcome {
        self.session
            .run(command, &self.log, &self.cancel)
            .await
            .unwrap()
    }

    /// Runs every command, asserting each succeeds.
    async fn run_ok(&mut self, commands: &[&str]) {
        for command in commands {
            assert_eq!(
                self.run(command).await,
                CommandOutcome::Exited(0),
                "{command}"
            );
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("build.log")).unwrap()
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }
}

const SHELLS: [Shell; 2] = [Shell::Bash, Shell::Sh];

#[tokio::test]
async fn cd_carries_across_commands() {
    for shell in SHELLS {
        let mut fixture = Fixture::new(shell, Semantics::SharedSession);
        fixture
            .run_ok(&["pwd", "mkdir -p 'a b/c' && cd 'a b'", "cd c", "pwd"])
            .await;
        let work = fixture.work();
        assert_eq!(
            fixture.log_text(),
            format!("{0}\n{0}/a b/c\n", work.display()),
            "{shell:?}"
        );
    }
}

#[tokio::test]
async fn exported_and_plain_variables_carry() {
    for shell in SHELLS {
        let mut fixture = Fixture::new(shell, Semantics::SharedSession);
        fixture
            .run_ok(&[
                "export EXPORTED=one",
                "PLAIN=two",
                "COMBINED=\"$EXPORTED-$PLAIN\"",
                "echo \"$EXPORTED $PLAIN $COMBINED\"",
            ])
            .await;
        assert_eq!(fixture.log_text(), "one two one-two\n", "{shell:?}");
        assert_eq!(fixture.session.var("EXPORTED").as_deref(), Some("one"));
        assert_eq!(fixture.session.var("PLAIN").as_deref(), Some("two"));
    }
}

#[tokio::test]
async fn bash_keeps_plain_variables_unexported() {
    let mut fixture = Fixture::new(Shell::Bash, Semantics::SharedSession);
    fixture
        .run_ok(&[
            "PLAIN=two; export EXPORTED=one",
            "sh -c 'echo \"[$PLAIN] [$EXPORTED]\"'",
        ])
        .await;
    assert_eq!(fixture.log_text(), "[] [one]\n");
}

#[tokio::test]
async fn unset_removes_a_variable() {
    for shell in SHELLS {
        let mut fixture = Fixture::new(shell, Semantics::SharedSession);
        fixture
            .run_ok(&["export GONE=1", "unset GONE", "echo \"${GONE-unset}\""])
            .await;
        assert_eq!(fixture.log_text(), "unset\n", "{shell:?}");
        assert_eq!(fixture.session.var("GONE"), None);
    }
}

#[tokio::test]
async fn exit_fails_only_its_item() {
    for shell in SHELLS {
        let mut fixture = Fixture::new(shell, Semantics::SharedSession);
        assert_eq!(
            fixture.run("export BEFORE=kept; exit 3").await,
            CommandOutcome::Exited(3)
        );
        assert_eq!(fixture.run("exit 0").await, CommandOutcome::Exited(0));
        fixture.run_ok(&["echo \"next runs, $BEFORE\""]).await;
        assert_eq!(fixture.log_text(), "next runs, kept\n", "{shell:?}");
    }
}

#[tokio::test]
async fn shell_options_do_not_leak() {
    for shell in SHELLS {
        let mut fixture = Fixture::new(shell, Semantics::SharedSession);
        fixture
            .run_ok(&[
                "set -e",
                "false; echo after-false",
                "set -u",
                "echo \"${NOT_SET_ANYWHERE}after-unset\"",
                "set -x",
                "echo untraced",
            ])
            .await;
        assert_eq!(
            fixture.log_text(),
            "after-false\nafter-unset\nuntraced\n",
            "{shell:?}"
        );
    }
}

#[tokio::test]
async fn multi_line_item_is_judged_by_its_last_command() {
    for shell in SHELLS {
        let mut fixture = Fixture::new(shell, Semantics::SharedSession);
        assert_eq!(
            fixture.run("false\ntrue\n").await,
            CommandOutcome::Exited(0)
        );
        assert_eq!(
            fixture.run("true\nfalse\n").await,
            CommandOutcome::Exited(1)
        );
        assert_eq!(
            fixture.run("set -e\nfalse\necho unreachable\n").await,
            CommandOutcome::Exited(1)
        );
        assert_eq!(fixture.log_text(), "", "{shell:?}");
    }
}

#[tokio::test]
async fn awkward_values_survive() {
    let value = "it's \"quoted\" $HOME `x` \\ back\nsecond line  with  spaces \n";
    for shell in SHELLS {
        let mut fixture = Fixture::new(shell, Semantics::SharedSession);
        fixture.session.set_var("GIVEN", value).unwrap();
        fixture
            .run_ok(&[
                "export COPY=\"$GIVEN\"; PLAIN_COPY=\"$GIVEN\"",
                "printf '%s|%s|%s' \"$GIVEN\" \"$COPY\" \"$PLAIN_COPY\"",
            ])
            .await;
        assert_eq!(
            fixture.log_text(),
            format!("{value}|{value}|{value}"),
            "{shell:?}"
        );
        assert_eq!(fixture.session.var("COPY").as_deref(), Some(value));
        assert_eq!(fixture.session.var("PLAIN_COPY").as_deref(), Some(value));
    }
}

#[tokio::test]
async fn version_0_1_carries_nothing() {
    for shell in SHELLS {
        let mut fixture = Fixture::new(shell, Semantics::FreshShellPerCommand);
        fixture
            .run_ok(&[
                "mkdir sub && cd sub && export LOST=1",
                "pwd; echo \"${LOST-unset}\"",
            ])
            .await;
        assert_eq!(
            fixture.log_text(),
            format!("{}\nunset\n", fixture.work().display()),
            "{shell:?}"
        );
    }
}

#[tokio::test]
async fn set_var_reaches_later_commands() {
    let mut fixture = Fixture::new(Shell::Bash, Semantics::SharedSession);
    fixture.run_ok(&["echo $CODEBUILD_BUILD_SUCCEEDING"]).await;
    fixture
        .session
        .set_var("CODEBUILD_BUILD_SUCCEEDING", "0")
        .unwrap();
    fixture.run_ok(&["echo $CODEBUILD_BUILD_SUCCEEDING"]).await;
    assert_eq!(fixture.log_text(), "1\n0\n");
    assert!(matches!(
        fixture.session.set_var("NOT-A-NAME", "1"),
        Err(ShellError::InvalidVariableName(_))
    ));
}

#[tokio::test]
async fn kiln_environment_does_not_leak_into_builds() {
    // Cargo sets this for the test process, so it would be visible if the environment leaked.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    let mut fixture = Fixture::new(Shell::Bash, Semantics::SharedSession);
    fixture
        .run_ok(&["echo \"${CARGO_MANIFEST_DIR-unset} $HOME\""])
        .await;
    assert_eq!(fixture.log_text(), "unset /root\n");
}

#[tokio::test]
async fn replaced_exit_trap_keeps_previous_state() {
    let mut fixture = Fixture::new(Shell::Bash, Semantics::SharedSession);
    fixture
        .run_ok(&[
            "export KEPT=1",
            "trap 'echo own trap' EXIT; export LOST=1",
            "echo \"$KEPT ${LOST-unset}\"",
        ])
        .await;
    assert_eq!(fixture.log_text(), "own trap\n1 unset\n");
}

#[tokio::test]
async fn output_reaches_the_log_in_order() {
    for shell in SHELLS {
        let mut fixture = Fixture::new(shell, Semantics::SharedSession);
        fixture
            .run_ok(&[
                "echo one; echo two >&2; echo three",
                "echo four >&2; sh -c 'echo five'",
            ])
            .await;
        assert_eq!(
            fixture.log_text(),
            "one\ntwo\nthree\nfour\nfive\n",
            "{shell:?}"
        );
    }
}

#[tokio::test]
async fn large_output_goes_straight_to_the_log() {
    const SIZE: usize = 50_000_000;
    let mut fixture = Fixture::new(Shell::Bash, Semantics::SharedSession);
    fixture
        .run_ok(&[&format!("head -c {SIZE} /dev/zero | tr '\\0' x")])
        .await;
    let log = std::fs::read(fixture.dir.path().join("build.log")).unwrap();
    assert_eq!(log.len(), SIZE);
    assert!(log.iter().all(|&byte| byte == b'x'));
}

#[tokio::test]
async fn command_limits_are_enforced() {
    let mut fixture = Fixture::new(Shell::Bash, Semantics::SharedSession);
    let cancel = CancellationToken::new();
    let long = "#".repeat(MAX_COMMAND_BYTES + 1);
    assert!(matches!(
        fixture.session.run(&long, &fixture.log, &cancel).await,
        Err(ShellError::CommandTooLong { .. })
    ));
    assert!(matches!(
        fixture
            .session
            .run("echo a\0b", &fixture.log, &cancel)
            .await,
        Err(ShellError::NulInCommand)
    ));
}

/// Processes (zombies excepted: reaping orphans is init's job) in process group `pgid`.
fn live_members(pgid: i32) -> Vec<i32> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp …`; comm may contain spaces and parentheses.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string() {
            members.push(head.split_whitespace().next().unwrap().parse().unwrap());
        }
    }
    members
}

async fn wait_for_file(path: &Path) -> String {
    for _ in 0..500 {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} never appeared", path.display());
}

#[tokio::test]
async fn cancel_kills_grandchildren_that_ignore_sigterm() {
    let mut fixture = Fixture::new(Shell::Bash, Semantics::SharedSession);
    let pid_file = fixture.dir.path().join("pid");
    let command = format!(
        "trap '' TERM\nsleep 1000 &\nbash -c 'sleep 1000; true' &\necho $$ > '{}'\nsleep 1000",
        pid_file.display()
    );
    let cancel = fixture.cancel.clone();
    let pid_path = pid_file.clone();
    let canceller = tokio::spawn(async move {
        let pid: i32 = wait_for_file(&pid_path).await.trim().parse().unwrap();
        // Let the background processes start.
        while live_members(pid).len() < 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cancel.cancel();
        (pid, Instant::now())
    });
    let outcome = fixture.run(&command).await;
    let (pgid, cancelled_at) = canceller.await.unwrap();
    assert_eq!(outcome, CommandOutcome::Cancelled);
    assert!(cancelled_at.elapsed() < Duration::from_secs(5));
    assert_eq!(live_members(pgid), Vec::<i32>::new());
}

#[tokio::test]
async fn cancel_before_start_runs_nothing() {
    let mut fixture = Fixture::new(Shell::Bash, Semantics::SharedSession);
    fixture.cancel.cancel();
    assert_eq!(fixture.run("echo ran").await, CommandOutcome::Cancelled);
    assert_eq!(fixture.log_text(), "");
}

#[tokio::test]
async fn shutdown_kills_background_jobs_of_finished_commands() {
    let mut fixture = Fixture::new(Shell::Bash, Semantics::SharedSession);
    fixture
        .run_ok(&["sleep 1000 & sh -c 'sleep 1000' & echo $$"])
        .await;
    let pgid: i32 = fixture.log_text().trim().parse().unwrap();
    assert!(!live_members(pgid).is_empty());
    fixture.run_ok(&["true"]).await;
    let started = Instant::now();
    fixture.session.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(live_members(pgid), Vec::<i32>::new());
}

#[tokio::test]
async fn signalled_shell_is_reported() {
    let mut fixture = Fixture::new(Shell::Bash, Semantics::SharedSession);
    assert_eq!(
        fixture.run("kill -KILL $$").await,
        CommandOutcome::Signalled(9)
    );
    fixture.run_ok(&["true"]).await;
}

#[test]
fn buildspec_shell_tags() {
    assert_eq!(Shell::from_buildspec("bash"), Some(Shell::Bash));
    assert_eq!(Shell::from_buildspec("/bin/sh"), Some(Shell::Sh));
    assert_eq!(Shell::from_buildspec("powershell.exe"), None);
}

#[test]
fn leftover_groups_of_the_build_are_killed_and_others_spared() {
    use std::os::unix::process::CommandExt;
    let work = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let state = work.path().join("shell");
    std::fs::create_dir_all(&state).unwrap();
    let spawn = |cwd: &Path| {
        std::process::Command::new("sleep")
            .arg("60")
            .current_dir(cwd)
            .process_group(0)
            .spawn()
            .unwrap()
    };
    // One group working in the build's directory, one that is not the build's (a reused id).
    let mut ours = spawn(work.path());
    let mut theirs = spawn(elsewhere.path());
    std::fs::write(
        state.join("process-groups"),
        format!("{}\n{}\n", ours.id(), theirs.id()),
    )
    .unwrap();
    // Given as Kiln's default data dir gives it: relative to the current directory.
    let relative = pathdiff_to_cwd(work.path());
    assert_eq!(kill_leftover_groups(&state, &relative, "app:1"), 1);
    let status = ours.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    assert!(
        theirs.try_wait().unwrap().is_none(),
        "another group was killed"
    );
    theirs.kill().unwrap();
    theirs.wait().unwrap();
    // Nothing recorded, nothing killed.
    assert_eq!(
        kill_leftover_groups(elsewhere.path(), work.path(), "app:1"),
        0
    );
}

/// `path` relative to the current directory (through `..` as needed).
fn pathdiff_to_cwd(path: &Path) -> std::path::PathBuf {
    let cwd = std::env::current_dir().unwrap();
    let common = cwd
        .ancestors()
        .find(|a| path.starts_with(a))
        .unwrap()
        .to_path_buf();
    let ups = cwd.strip_prefix(&common).unwrap().components().count();
    let mut relative: std::path::PathBuf = std::iter::repeat_n("..", ups).collect();
    relative.push(path.strip_prefix(&common).unwrap());
    relative
}

/// A build owns its state directory (under Docker, as root): state files it swaps for links
/// are never written through, and never read, so it can neither make Kiln write a host file nor
/// read one (here, a dump-shaped file, as `/proc/<kiln>/environ` is) into its variables.
#[tokio::test]
async fn state_files_swapped_for_links_are_neither_written_through_nor_read() {
    let mut fixture = Fixture::new(Shell::Bash, Semantics::SharedSession);
    let host = tempfile::tempdir().unwrap();
    let victim = host.path().join("victim");
    let secret = host.path().join("secret");
    let victim_dir = host.path().join("victim_dir");
    std::fs::write(&victim, "precious\n").unwrap();
    std::fs::write(&secret, "STOLEN=from-the-host\0").unwrap();
    std::fs::create_dir(&victim_dir).unwrap();
    let state = fixture.dir.path().join("state");
    let (state_q, victim_q, secret_q) = (
        state.display().to_string(),
        victim.display().to_string(),
        secret.display().to_string(),
    );

    // Write side: the wrapper, the command and the process-group record all become links.
    fixture
        .run_ok(&[&format!(
            "for f in script.sh command.sh process-groups; do ln -sf '{victim_q}' '{state_q}'/$f; done"
        )])
        .await;
    fixture.run_ok(&["echo still running"]).await;
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");

    // Read side: the command drops the saving trap and leaves links where the state goes.
    fixture
        .run_ok(&[&format!(
            "trap - EXIT; pwd > '{state_q}/state.cwd'; \
             ln -s '{secret_q}' '{state_q}/state.env'; ln -s '{secret_q}' '{state_q}/state.plain'; \
             : > '{state_q}/state.ok'"
        )])
        .await;
    fixture.run_ok(&["echo \"[${STOLEN-}]\""]).await;
    assert_eq!(fixture.session.var("STOLEN"), None);
    assert!(
        fixture.log_text().ends_with("still running\n[]\n"),
        "{}",
        fixture.log_text()
    );

    // The directory itself replaced by a link: Kiln keeps writing through its handle on the
    // real one, and the shell, which follows the build's link, finds no script there.
    fixture
        .run_ok(&[&format!(
            "mv '{state_q}' '{state_q}.moved' && ln -s '{}' '{state_q}'",
            victim_dir.display()
        )])
        .await;
    assert_eq!(
        fixture.run("echo unreachable").await,
        CommandOutcome::Exited(127)
    );
    // (The state the shell's EXIT trap saved went through the link: the build's own writes.)
    for written_by_kiln in ["script.sh", "command.sh", "process-groups"] {
        assert!(
            !victim_dir.join(written_by_kiln).exists(),
            "{written_by_kiln}"
        );
    }
    assert!(state.with_extension("moved").join("script.sh").is_file());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
}
