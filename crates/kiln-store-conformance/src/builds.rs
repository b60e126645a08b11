//! Builds: numbering, idempotency, keyset pages, project deletion.

use std::sync::Arc;

use kiln_domain::build::BuildStatus;
use kiln_store::{InsertedBuild, Store};

use crate::fixtures::{ACCOUNT, claim_request, insert, project, queued_build, uuid_of};

pub async fn racing_start_builds_with_one_token_store_one_build(store: Arc<dyn Store>) {
    store
        .create_project(&project(ACCOUNT, "p", 1.0))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..24)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut build = queued_build(ACCOUNT, "p", n, Some("one-token"));
                match store.insert_build(&mut build, 0.0).await.unwrap() {
                    InsertedBuild::Inserted => build.uuid,
                    InsertedBuild::Existing(existing) => existing.uuid,
                }
            })
        })
        .collect();
    let mut uuids = Vec::new();
    for task in tasks {
        uuids.push(task.await.unwrap());
    }
    uuids.dedup();
    assert_eq!(uuids.len(), 1, "one build for one token: {uuids:?}");
    let page = store
        .list_builds(ACCOUNT, None, true, None, 100)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    let stored = store.get_build(ACCOUNT, &uuids[0]).await.unwrap().unwrap();
    assert_eq!(
        stored.build_number, 1,
        "refused inserts give their build number back"
    );

    // Once the window has passed, the token names a new build.
    let mut later = queued_build(ACCOUNT, "p", 99, Some("one-token"));
    let since = later.start_time;
    assert_eq!(
        store.insert_build(&mut later, since).await.unwrap(),
        InsertedBuild::Inserted
    );
    assert_eq!(later.build_number, 2);
}

/// Walks every page (3 ids each) of a listing and starts a build in `p` after each page.
async fn walk_while_starting(
    store: &Arc<dyn Store>,
    project: Option<&str>,
    ascending: bool,
    next_n: &mut u64,
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_builds(ACCOUNT, project, ascending, after, 3)
            .await
            .unwrap();
        seen.extend(page.items);
        insert(store, "p", *next_n).await;
        *next_n += 1;
        match page.next {
            Some(next) => after = Some(next),
            None => return seen,
        }
    }
}

pub async fn pages_neither_repeat_nor_skip_while_builds_start_and_go(store: Arc<dyn Store>) {
    store
        .create_project(&project(ACCOUNT, "p", 1.0))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(insert(&store, "p", n).await);
    }
    let mut next_n = 10;
    for project in [None, Some("p")] {
        let before = store.list_builds(ACCOUNT, project, false, None, 1000).await;
        let walked = walk_while_starting(&store, project, false, &mut next_n).await;
        assert_eq!(
            walked,
            before.unwrap().items,
            "descending walk of {project:?}"
        );
    }
    // An ascending walk also sees the builds started during the walk, each once.
    let walked = walk_while_starting(&store, Some("p"), true, &mut next_n).await;
    let mut unique = walked.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), walked.len(), "no id twice");
    assert_eq!(walked[..10], ids[..]);

    // Deleting the build a page ended on does not move the next page.
    let page = store
        .list_builds(ACCOUNT, None, false, None, 3)
        .await
        .unwrap();
    assert!(
        store
            .delete_build(ACCOUNT, uuid_of(&page.items[2]))
            .await
            .unwrap()
    );
    let all = store
        .list_builds(ACCOUNT, None, false, None, 1000)
        .await
        .unwrap();
    let rest = store
        .list_builds(ACCOUNT, None, false, page.next, 1000)
        .await
        .unwrap();
    assert_eq!(rest.items[..], all.items[2..]);

    // Nor does deleting the newest build: an ascending walk past it still sees the next one.
    let newest = store
        .list_builds(ACCOUNT, None, false, None, 1)
        .await
        .unwrap();
    let key_of_newest = newest.next.unwrap();
    assert!(
        store
            .delete_build(ACCOUNT, uuid_of(&newest.items[0]))
            .await
            .unwrap()
    );
    let started = insert(&store, "p", 1000).await;
    let after = store
        .list_builds(ACCOUNT, None, true, Some(key_of_newest), 10)
        .await
        .unwrap();
    assert_eq!(after.items, vec![started]);
}

pub async fn deleting_a_project_stops_its_queue_and_frees_its_name(store: Arc<dyn Store>) {
    store
        .create_project(&project(ACCOUNT, "p", 1.0))
        .await
        .unwrap();
    let old = insert(&store, "p", 1).await;
    assert!(
        store
            .delete_project(ACCOUNT, "p", 500.0)
            .await
            .unwrap()
            .is_some()
    );
    let stopped = store
        .get_build(ACCOUNT, uuid_of(&old))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stopped.status, BuildStatus::Stopped);
    assert!(stopped.is_complete());
    let nothing_queued = store.claim_builds(&claim_request("r", 600.0, 10)).await;
    assert!(nothing_queued.unwrap().is_empty());

    store
        .create_project(&project(ACCOUNT, "p", 2.0))
        .await
        .unwrap();
    let mut fresh = queued_build(ACCOUNT, "p", 2, None);
    store.insert_build(&mut fresh, 0.0).await.unwrap();
    assert_eq!(fresh.build_number, 1);
    let of_project = store.list_builds(ACCOUNT, Some("p"), false, None, 10).await;
    assert_eq!(of_project.unwrap().items, vec![fresh.id()]);
    let of_account = store.list_builds(ACCOUNT, None, false, None, 10).await;
    assert_eq!(of_account.unwrap().items, vec![fresh.id(), old.clone()]);
    // A second deletion moves the new builds to a generation of their own.
    assert!(
        store
            .delete_project(ACCOUNT, "p", 600.0)
            .await
            .unwrap()
            .is_some()
    );
    store
        .create_project(&project(ACCOUNT, "p", 3.0))
        .await
        .unwrap();
    let mut third = queued_build(ACCOUNT, "p", 3, None);
    store.insert_build(&mut third, 0.0).await.unwrap();
    assert_eq!(third.build_number, 1);
}
