//! Builds read back: by id, saved, deleted, incomplete, and the lookups behind badges.

use std::sync::Arc;

use kiln_domain::build::{BuildRecord, BuildStatus, PhaseType};
use kiln_domain::refs::GitRef;
use kiln_store::{Store, StoreError};

use crate::fixtures::{ACCOUNT, OTHER_ACCOUNT, project, queued_build};

async fn stored(store: &Arc<dyn Store>, mut build: BuildRecord) -> BuildRecord {
    store.insert_build(&mut build, 0.0).await.unwrap();
    build
}

pub async fn builds_are_read_saved_and_deleted_in_their_account(store: Arc<dyn Store>) {
    let mut lost = queued_build(ACCOUNT, "p", 1, None);
    assert!(matches!(
        store.insert_build(&mut lost, 0.0).await,
        Err(StoreError::NotFound)
    ));
    store
        .create_project(&project(ACCOUNT, "p", 1.0))
        .await
        .unwrap();
    store
        .create_project(&project(OTHER_ACCOUNT, "p", 1.0))
        .await
        .unwrap();
    // Started out of order: incomplete builds come oldest first.
    let mut later = stored(&store, queued_build(ACCOUNT, "p", 5, None)).await;
    let earlier = stored(&store, queued_build(ACCOUNT, "p", 2, None)).await;
    let elsewhere = stored(&store, queued_build(OTHER_ACCOUNT, "p", 3, None)).await;
    assert_eq!(
        (
            later.build_number,
            earlier.build_number,
            elsewhere.build_number
        ),
        (1, 2, 1)
    );
    assert_eq!(
        store.get_build(ACCOUNT, &later.uuid).await.unwrap(),
        Some(later.clone())
    );
    assert_eq!(
        store.get_build(OTHER_ACCOUNT, &later.uuid).await.unwrap(),
        None
    );
    let incomplete = store.incomplete_builds().await.unwrap();
    assert_eq!(
        incomplete,
        vec![earlier.clone(), elsewhere.clone(), later.clone()]
    );

    later.status = BuildStatus::Succeeded;
    later.current_phase = PhaseType::Completed;
    later.end_time = Some(200.0);
    later.git_ref = Some(GitRef::Branch("main".into()));
    store.save_build(&later).await.unwrap();
    assert_eq!(
        store.get_build(ACCOUNT, &later.uuid).await.unwrap(),
        Some(later.clone())
    );
    assert_eq!(
        store.incomplete_builds().await.unwrap(),
        vec![earlier.clone(), elsewhere.clone()]
    );

    assert!(
        !store
            .delete_build(OTHER_ACCOUNT, &later.uuid)
            .await
            .unwrap()
    );
    assert!(store.delete_build(ACCOUNT, &later.uuid).await.unwrap());
    assert!(!store.delete_build(ACCOUNT, &later.uuid).await.unwrap());
    assert_eq!(store.get_build(ACCOUNT, &later.uuid).await.unwrap(), None);
    assert!(matches!(
        store.save_build(&later).await,
        Err(StoreError::NotFound)
    ));
    let listed = store.list_builds(ACCOUNT, Some("p"), true, None, 10).await;
    assert_eq!(listed.unwrap().items, vec![earlier.id()]);
}

/// Build `n` of project `p` on `git_ref`, with `status`, of source epoch `epoch`.
fn on_ref(n: u64, git_ref: GitRef, status: BuildStatus, epoch: i64) -> BuildRecord {
    BuildRecord {
        git_ref: Some(git_ref),
        status,
        source_epoch: epoch,
        ..queued_build(ACCOUNT, "p", n, None)
    }
}

pub async fn a_ref_shows_the_status_of_its_latest_build(store: Arc<dyn Store>) {
    store
        .create_project(&project(ACCOUNT, "p", 1.0))
        .await
        .unwrap();
    let main = GitRef::Branch("main".into());
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
    assert_eq!(latest(&main, 0).await, None);
    stored(&store, on_ref(1, main.clone(), BuildStatus::Failed, 0)).await;
    stored(&store, on_ref(3, main.clone(), BuildStatus::Succeeded, 0)).await;
    // Inserted last but started earlier: not the latest.
    stored(&store, on_ref(2, main.clone(), BuildStatus::Fault, 0)).await;
    stored(&store, on_ref(4, tag.clone(), BuildStatus::Stopped, 0)).await;
    stored(&store, on_ref(5, main.clone(), BuildStatus::TimedOut, 1)).await;
    assert_eq!(latest(&main, 0).await, Some(BuildStatus::Succeeded));
    assert_eq!(latest(&tag, 0).await, Some(BuildStatus::Stopped));
    assert_eq!(latest(&main, 1).await, Some(BuildStatus::TimedOut));
    assert_eq!(latest(&GitRef::Branch("dev".into()), 0).await, None);
    if let Some(now) = store.latest_status_for_ref_now(ACCOUNT, "p", &main, 0) {
        assert_eq!(now.unwrap(), Some(BuildStatus::Succeeded));
    }

    // A re-created project starts with no history.
    assert!(store.delete_project(ACCOUNT, "p", 500.0).await.unwrap());
    store
        .create_project(&project(ACCOUNT, "p", 2.0))
        .await
        .unwrap();
    assert_eq!(latest(&main, 0).await, None);
}

pub async fn the_default_branch_is_the_one_built_without_a_source_version(store: Arc<dyn Store>) {
    store
        .create_project(&project(ACCOUNT, "p", 1.0))
        .await
        .unwrap();
    let default_branch = |epoch: i64| {
        let store = Arc::clone(&store);
        async move {
            store
                .default_branch_built(ACCOUNT, "p", epoch)
                .await
                .unwrap()
        }
    };
    assert_eq!(default_branch(0).await, None);
    let branch = |name: &str| GitRef::Branch(name.into());
    stored(&store, on_ref(1, branch("main"), BuildStatus::Succeeded, 0)).await;
    assert_eq!(default_branch(0).await.as_deref(), Some("main"));
    // Later builds that asked for a version, or built a tag, do not say what the default is.
    let mut asked = on_ref(2, branch("dev"), BuildStatus::Succeeded, 0);
    asked.settings.source_version = Some("dev".into());
    stored(&store, asked).await;
    stored(
        &store,
        on_ref(3, GitRef::Tag("v1".into()), BuildStatus::Failed, 0),
    )
    .await;
    assert_eq!(default_branch(0).await.as_deref(), Some("main"));
    // A build whose ref is learnt when it runs counts once saved.
    let mut running = stored(&store, queued_build(ACCOUNT, "p", 4, None)).await;
    assert_eq!(default_branch(0).await.as_deref(), Some("main"));
    running.git_ref = Some(branch("trunk"));
    store.save_build(&running).await.unwrap();
    assert_eq!(default_branch(0).await.as_deref(), Some("trunk"));
    // Other sources of the project keep their own.
    stored(&store, on_ref(5, branch("next"), BuildStatus::Succeeded, 1)).await;
    assert_eq!(default_branch(1).await.as_deref(), Some("next"));
    assert_eq!(default_branch(0).await.as_deref(), Some("trunk"));
}
