//! Lookups: builds by uuid (BatchGetBuilds), and the badge's: a ref's latest status, and the
//! default branch of a project without `sourceVersion`.

use std::sync::Arc;

use kiln_domain::build::{BuildRecord, BuildStatus};
use kiln_domain::refs::GitRef;
use kiln_store::Store;

use crate::fixtures::{ACCOUNT, OTHER_ACCOUNT, insert, project, queued_build, uuid_of};

/// Build `n` of `project`, complete with `status`, having checked out `git_ref` for
/// `source_version` (None: the remote's default branch).
fn checked_out(
    project: &str,
    n: u64,
    source_version: Option<&str>,
    git_ref: GitRef,
    status: BuildStatus,
) -> BuildRecord {
    let mut build = queued_build(ACCOUNT, project, n, None);
    build.settings.source_version = source_version.map(Into::into);
    build.git_ref = Some(git_ref);
    build.status = status;
    build.end_time = Some(build.start_time + 1.0);
    build
}

async fn insert_all(store: &Arc<dyn Store>, builds: Vec<BuildRecord>) {
    for mut build in builds {
        store.insert_build(&mut build, 0.0).await.unwrap();
    }
}

fn branch(name: &str) -> GitRef {
    GitRef::Branch(name.into())
}

pub async fn the_default_branch_is_the_latest_one_built_without_a_source_version(
    store: Arc<dyn Store>,
) {
    for name in ["p", "q"] {
        store
            .create_project(&project(ACCOUNT, name, 1.0))
            .await
            .unwrap();
    }
    assert_eq!(
        store.default_branch_built(ACCOUNT, "p", 0).await.unwrap(),
        None
    );
    insert_all(
        &store,
        vec![
            checked_out("p", 1, None, branch("master"), BuildStatus::Succeeded),
            checked_out("p", 2, None, branch("main"), BuildStatus::Succeeded),
            // Later, but each named what it checked out: not the default branch.
            checked_out("p", 3, Some("dev"), branch("dev"), BuildStatus::Failed),
            checked_out(
                "p",
                4,
                Some("refs/tags/v1"),
                GitRef::Tag("v1".into()),
                BuildStatus::Succeeded,
            ),
            // Another project's default branch is its own.
            checked_out("q", 5, None, branch("trunk"), BuildStatus::Succeeded),
        ],
    )
    .await;
    assert_eq!(
        store
            .default_branch_built(ACCOUNT, "p", 0)
            .await
            .unwrap()
            .as_deref(),
        Some("main")
    );
    assert_eq!(
        store
            .default_branch_built(ACCOUNT, "q", 0)
            .await
            .unwrap()
            .as_deref(),
        Some("trunk")
    );
    // A new source (the project's source changed) has no default branch seen yet.
    assert_eq!(
        store.default_branch_built(ACCOUNT, "p", 1).await.unwrap(),
        None
    );
    // A re-created project starts without one.
    assert!(store.delete_project(ACCOUNT, "p", 500.0).await.unwrap());
    store
        .create_project(&project(ACCOUNT, "p", 2.0))
        .await
        .unwrap();
    assert_eq!(
        store.default_branch_built(ACCOUNT, "p", 0).await.unwrap(),
        None
    );
}

pub async fn a_refs_status_is_its_latest_builds(store: Arc<dyn Store>) {
    store
        .create_project(&project(ACCOUNT, "p", 1.0))
        .await
        .unwrap();
    insert_all(
        &store,
        vec![
            checked_out("p", 1, Some("main"), branch("main"), BuildStatus::Failed),
            checked_out("p", 2, Some("main"), branch("main"), BuildStatus::Succeeded),
            checked_out("p", 3, Some("dev"), branch("dev"), BuildStatus::Failed),
        ],
    )
    .await;
    let status = |name: &'static str| {
        let store = Arc::clone(&store);
        async move {
            store
                .latest_status_for_ref(ACCOUNT, "p", &branch(name), 0)
                .await
                .unwrap()
        }
    };
    assert_eq!(status("main").await, Some(BuildStatus::Succeeded));
    assert_eq!(status("dev").await, Some(BuildStatus::Failed));
    assert_eq!(status("other").await, None);
}

pub async fn builds_are_got_by_uuid_within_their_account(store: Arc<dyn Store>) {
    for account in [ACCOUNT, OTHER_ACCOUNT] {
        store
            .create_project(&project(account, "p", 1.0))
            .await
            .unwrap();
    }
    let mut ids = Vec::new();
    for n in 0..150 {
        ids.push(insert(&store, "p", n).await);
    }
    let mut elsewhere = queued_build(OTHER_ACCOUNT, "p", 1000, None);
    store.insert_build(&mut elsewhere, 0.0).await.unwrap();
    let mut asked: Vec<&str> = ids[..98].iter().map(|id| uuid_of(id)).collect();
    asked.push("no-such-build");
    asked.push(&elsewhere.uuid);
    let mut got: Vec<String> = store
        .get_builds(ACCOUNT, &asked)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.id())
        .collect();
    got.sort();
    let mut expected = ids[..98].to_vec();
    expected.sort();
    assert_eq!(
        got, expected,
        "the 98 builds of the account, not the others"
    );
    assert!(store.get_builds(ACCOUNT, &[]).await.unwrap().is_empty());
}
