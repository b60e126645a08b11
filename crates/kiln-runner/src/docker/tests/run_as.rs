//! Buildspec `run-as` against the real Engine. The test image has no passwd file, so the user is
//! a numeric uid (Docker gives it gid 0); the Kiln tests give their image a named user.

use super::*;
use crate::shell::ShellError;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

#[tokio::test]
async fn commands_switch_users_and_keep_the_session() {
    if skip() {
        return;
    }
    let executor = executor().await;
    let mut build = Build::start(&executor, &environment(TEST_IMAGE, "BUILD_GENERAL1_SMALL")).await;
    let root_made = "export FROM_ROOT=r; echo root-made > by-root; mkdir sub && cd sub";
    assert_eq!(build.run(root_made).await, CommandOutcome::Exited(0));

    build
        .session
        .run_as(Some("1000"), &build.cancel)
        .await
        .unwrap();
    let as_user = "echo \"uid $(id -u) in $(pwd) sees $FROM_ROOT\"; echo mine > mine; \
                   echo more >> ../by-root; export FROM_USER=u";
    assert_eq!(build.run(as_user).await, CommandOutcome::Exited(0));
    build.session.run_as(None, &build.cancel).await.unwrap();
    let back = "echo \"uid $(id -u) sees $FROM_USER\"";
    assert_eq!(build.run(back).await, CommandOutcome::Exited(0));

    let log = build.log_text();
    let sub = build.src().join("sub");
    assert!(
        log.contains(&format!("uid 1000 in {} sees r\n", sub.display())),
        "{log}"
    );
    assert!(log.contains("uid 0 sees u\n"), "{log}");
    assert_eq!(std::fs::metadata(sub.join("mine")).unwrap().uid(), 1000);
    // What root made before the switch became the user's, so it could change it.
    let by_root = build.src().join("by-root");
    assert_eq!(
        std::fs::read_to_string(&by_root).unwrap(),
        "root-made\nmore\n"
    );
    // Kiln's directories were opened to the user's group only, never to everyone.
    for dir in [build.dir.path().to_owned(), build.dir.path().join("shell")] {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o007, 0, "{} is {mode:o}", dir.display());
    }
    build.container.teardown().await;
}

#[tokio::test]
async fn a_user_the_image_lacks_or_a_bad_name_fails_clearly() {
    if skip() {
        return;
    }
    let executor = executor().await;
    let mut build = Build::start(&executor, &environment(TEST_IMAGE, "BUILD_GENERAL1_SMALL")).await;
    for (user, expected) in [
        ("nosuch", "unable to find user nosuch"),
        ("builder:root", "is not a Linux user name"),
    ] {
        match build.session.run_as(Some(user), &build.cancel).await {
            Err(ShellError::RunAsFailed {
                user: named,
                reason,
            }) => {
                assert_eq!(named, user);
                assert!(reason.contains(expected), "{reason}");
            }
            other => panic!("{user}: {other:?}"),
        }
    }
    // The session goes on as root, the user it had.
    assert_eq!(
        build.run("test \"$(id -u)\" = 0").await,
        CommandOutcome::Exited(0)
    );
    build.container.teardown().await;
}
