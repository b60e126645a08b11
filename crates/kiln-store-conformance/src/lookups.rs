//! Lookups: builds by uuid (BatchGetBuilds), and the badge's: a ref's latest status, and the
//! default branch of a project without `sourceVersion`.

use std::sync::Arc;

use kiln_domain::build::{BuildRecord, BuildStatus};
use kiln_domain::refs::GitRef;
use kiln_store::Store;

use crate::fixtures::{
    ACCOUNT, OTHER_ACCOUNT, claim_request, insert, project, queued_build, uuid_of,
};

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

/// Creates `names` in [`ACCOUNT`].
async fn create_projects(store: &Arc<dyn Store>, names: &[&str]) {
    for name in names {
        store
            .create_project(&project(ACCOUNT, name, 1.0))
            .await
            .unwrap();
    }
}

async fn insert_all(store: &Arc<dyn Store>, builds: Vec<BuildRecord>) {
    for mut build in builds {
        store.insert_build(&mut build, 0.0).await.unwrap();
    }
}

/// Deletes project `p` and creates it again: its builds move to a past generation.
async fn recreate_p(store: &Arc<dyn Store>) {
    assert!(
        store
            .delete_project(ACCOUNT, "p", 500.0)
            .await
            .unwrap()
            .is_some()
    );
    store
        .create_project(&project(ACCOUNT, "p", 2.0))
        .await
        .unwrap();
}

fn branch(name: &str) -> GitRef {
    GitRef::Branch(name.into())
}

/// The default branch seen for `project_name`'s source `epoch`.
async fn default_branch(store: &Arc<dyn Store>, project_name: &str, epoch: i64) -> Option<String> {
    store
        .default_branch_built(ACCOUNT, project_name, epoch)
        .await
        .unwrap()
}

pub async fn the_default_branch_is_the_latest_one_built_without_a_source_version(
    store: Arc<dyn Store>,
) {
    create_projects(&store, &["p", "q"]).await;
    assert_eq!(default_branch(&store, "p", 0).await, None);
    let builds = vec![
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
    ];
    insert_all(&store, builds).await;
    assert_eq!(default_branch(&store, "p", 0).await, Some("main".into()));
    assert_eq!(default_branch(&store, "q", 0).await, Some("trunk".into()));
    // A build whose ref is learnt when it runs counts once its holder saves it.
    let mut running = queued_build(ACCOUNT, "p", 6, None);
    store.insert_build(&mut running, 0.0).await.unwrap();
    assert_eq!(default_branch(&store, "p", 0).await, Some("main".into()));
    let claimed = store
        .claim_builds(&claim_request("a", 200.0, 10))
        .await
        .unwrap();
    let held = claimed.iter().find(|b| b.record.uuid == running.uuid);
    let held = held.unwrap();
    running.git_ref = Some(branch("trunk"));
    store
        .save_leased_build(&running, &held.lease)
        .await
        .unwrap();
    assert_eq!(default_branch(&store, "p", 0).await, Some("trunk".into()));
    // A new source (the project's source changed) has no default branch seen yet.
    assert_eq!(default_branch(&store, "p", 1).await, None);
    // A re-created project starts without one.
    recreate_p(&store).await;
    assert_eq!(default_branch(&store, "p", 0).await, None);
}

/// Build `n` of project `p`, complete with `status`, on `git_ref` of source epoch `epoch`.
fn on_ref(n: u64, git_ref: GitRef, status: BuildStatus, epoch: i64) -> BuildRecord {
    let source_version = git_ref.kind_and_name().1.to_owned();
    BuildRecord {
        source_epoch: epoch,
        ..checked_out("p", n, Some(&source_version), git_ref, status)
    }
}

pub async fn a_refs_status_is_its_latest_builds(store: Arc<dyn Store>) {
    let main = branch("main");
    let tag = GitRef::Tag("main".into());
    let latest = |git_ref: &GitRef, epoch: i64| {
        let (store, git_ref) = (Arc::clone(&store), git_ref.clone());
        async move {
            store
                .latest_status_for_ref(ACCOUNT, "p", &git_ref, epoch)
                .await
                .unwrap()
        }
    };
    create_projects(&store, &["p"]).await;
    assert_eq!(latest(&main, 0).await, None);
    let builds = vec![
        on_ref(1, main.clone(), BuildStatus::Failed, 0),
        on_ref(3, main.clone(), BuildStatus::Succeeded, 0),
        // Inserted last but started earlier: not the latest.
        on_ref(2, main.clone(), BuildStatus::Fault, 0),
        // A tag of the same name is another ref.
        on_ref(4, tag.clone(), BuildStatus::Stopped, 0),
        on_ref(5, main.clone(), BuildStatus::TimedOut, 1),
        on_ref(6, branch("dev"), BuildStatus::Failed, 0),
    ];
    insert_all(&store, builds).await;
    assert_eq!(latest(&main, 0).await, Some(BuildStatus::Succeeded));
    assert_eq!(latest(&tag, 0).await, Some(BuildStatus::Stopped));
    assert_eq!(latest(&main, 1).await, Some(BuildStatus::TimedOut));
    assert_eq!(latest(&branch("dev"), 0).await, Some(BuildStatus::Failed));
    assert_eq!(latest(&branch("other"), 0).await, None);
    if let Some(now) = store.latest_status_for_ref_now(ACCOUNT, "p", &main, 0) {
        assert_eq!(now.unwrap(), Some(BuildStatus::Succeeded));
    }

    // A re-created project starts with no history.
    recreate_p(&store).await;
    assert_eq!(latest(&main, 0).await, None);
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
