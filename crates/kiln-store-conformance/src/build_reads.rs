//! Builds read back by id within their account, saved through their lease, and deleted.

use std::sync::Arc;

use kiln_domain::build::{BuildRecord, BuildStatus, PhaseType};
use kiln_domain::refs::GitRef;
use kiln_store::{Store, StoreError};

use crate::fixtures::{ACCOUNT, OTHER_ACCOUNT, claim_request, project, queued_build};

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
    let first = stored(&store, queued_build(ACCOUNT, "p", 5, None)).await;
    let second = stored(&store, queued_build(ACCOUNT, "p", 2, None)).await;
    let elsewhere = stored(&store, queued_build(OTHER_ACCOUNT, "p", 3, None)).await;
    assert_eq!(
        (
            first.build_number,
            second.build_number,
            elsewhere.build_number
        ),
        (1, 2, 1)
    );
    assert_eq!(
        store.get_build(ACCOUNT, &first.uuid).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.get_build(OTHER_ACCOUNT, &first.uuid).await.unwrap(),
        None
    );

    // The queue hands builds out in the order they were queued, whenever they say they started.
    let claimed = store
        .claim_builds(&claim_request("a", 200.0, 2))
        .await
        .unwrap();
    let claimed_uuids: Vec<_> = claimed.iter().map(|b| b.record.uuid.as_str()).collect();
    assert_eq!(claimed_uuids, [first.uuid.as_str(), second.uuid.as_str()]);
    assert_eq!(claimed[0].record, first);
    let mut done = first.clone();
    done.status = BuildStatus::Succeeded;
    done.current_phase = PhaseType::Completed;
    done.end_time = Some(200.0);
    done.git_ref = Some(GitRef::Branch("main".into()));
    // What only the console shows is kept too (members of the stored record, no column).
    done.commit = kiln_domain::commit::CommitSummary::parse(b"Ada\0Add the engine");
    done.retry_of = Some(second.uuid.clone());
    done.repository_page = kiln_domain::commit::RepositoryPage::from_payload(
        kiln_domain::webhook::Forge::GitHub,
        "https://github.com/o/r",
    );
    store
        .save_leased_build(&done, &claimed[0].lease)
        .await
        .unwrap();
    assert_eq!(
        store.get_build(ACCOUNT, &done.uuid).await.unwrap(),
        Some(done.clone())
    );

    assert!(!store.delete_build(OTHER_ACCOUNT, &done.uuid).await.unwrap());
    assert!(store.delete_build(ACCOUNT, &done.uuid).await.unwrap());
    assert!(!store.delete_build(ACCOUNT, &done.uuid).await.unwrap());
    assert_eq!(store.get_build(ACCOUNT, &done.uuid).await.unwrap(), None);
    // A running build deleted under its holder: the holder's next save writes nothing.
    assert!(store.delete_build(ACCOUNT, &second.uuid).await.unwrap());
    assert!(matches!(
        store.save_leased_build(&second, &claimed[1].lease).await,
        Err(StoreError::LeaseLost)
    ));
    assert_eq!(store.get_build(ACCOUNT, &second.uuid).await.unwrap(), None);
    let listed = store.list_builds(ACCOUNT, Some("p"), true, None, 10).await;
    assert!(listed.unwrap().items.is_empty());
    let other = store.list_builds(OTHER_ACCOUNT, None, true, None, 10).await;
    assert_eq!(other.unwrap().items, vec![elsewhere.id()]);
}
