//! Builds read back by id within their account, saved through their lease, deleted, and
//! found by filters.

use std::sync::Arc;

use kiln_domain::build::{BuildRecord, BuildStatus, PhaseType};
use kiln_domain::refs::GitRef;
use kiln_store::{BuildFilter, Store, StoreError};

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

/// The uuids of every page of `filter`'s builds, `limit` a page.
async fn found_pages(
    store: &Arc<dyn Store>,
    filter: &BuildFilter<'_>,
    limit: u64,
) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .find_builds(ACCOUNT, filter, after, limit)
            .await
            .unwrap();
        pages.push(page.items.iter().map(|b| b.uuid.clone()).collect());
        match page.next {
            Some(next) => after = Some(next),
            None => return pages,
        }
    }
}

/// The uuids of all of `filter`'s builds, newest first.
async fn found(store: &Arc<dyn Store>, filter: &BuildFilter<'_>) -> Vec<String> {
    found_pages(store, filter, 100).await.concat()
}

pub async fn builds_are_found_by_project_status_and_branch_newest_first(store: Arc<dyn Store>) {
    for (account, name) in [(ACCOUNT, "web"), (ACCOUNT, "api"), (OTHER_ACCOUNT, "web")] {
        store
            .create_project(&project(account, name, 1.0))
            .await
            .unwrap();
    }
    let mut web = Vec::new();
    for n in 1..=5 {
        web.push(stored(&store, queued_build(ACCOUNT, "web", n, None)).await);
    }
    let mut api = Vec::new();
    for n in 6..=8 {
        api.push(stored(&store, queued_build(ACCOUNT, "api", n, None)).await);
    }
    stored(&store, queued_build(OTHER_ACCOUNT, "web", 9, None)).await;
    // web #1 fails on main, #2 passes on feature/x, #3 passes on main; the rest run or wait.
    let claimed = store
        .claim_builds(&claim_request("a", 200.0, 3))
        .await
        .unwrap();
    let outcomes = [
        (BuildStatus::Failed, "main"),
        (BuildStatus::Succeeded, "feature/x"),
        (BuildStatus::Succeeded, "main"),
    ];
    for (leased, (status, branch)) in claimed.iter().zip(outcomes) {
        let mut done = leased.record.clone();
        done.status = status;
        done.current_phase = PhaseType::Completed;
        done.end_time = Some(200.0);
        done.git_ref = Some(GitRef::Branch(branch.into()));
        store.save_leased_build(&done, &leased.lease).await.unwrap();
    }
    let uuids = |builds: &[&BuildRecord]| -> Vec<String> {
        builds.iter().map(|b| b.uuid.clone()).collect()
    };

    let everything = BuildFilter::default();
    let all = uuids(&[
        &api[2], &api[1], &api[0], &web[4], &web[3], &web[2], &web[1], &web[0],
    ]);
    assert_eq!(found(&store, &everything).await, all);
    // Pages of three: neither repeat nor skip, and the last says there is no more.
    let pages = found_pages(&store, &everything, 3).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 2]);
    assert_eq!(pages.concat(), all);
    let found_page = store
        .find_builds(ACCOUNT, &everything, None, 1)
        .await
        .unwrap();
    assert_eq!(found_page.items[0].status, BuildStatus::InProgress);
    assert_eq!(found_page.items[0], api[2]);

    let of_web = BuildFilter {
        project_name: Some("web"),
        ..BuildFilter::default()
    };
    assert_eq!(
        found(&store, &of_web).await,
        uuids(&[&web[4], &web[3], &web[2], &web[1], &web[0]])
    );
    let failed = BuildFilter {
        status: Some(BuildStatus::Failed),
        ..BuildFilter::default()
    };
    assert_eq!(found(&store, &failed).await, uuids(&[&web[0]]));
    let on_main = BuildFilter {
        branch: Some("main"),
        ..BuildFilter::default()
    };
    assert_eq!(found(&store, &on_main).await, uuids(&[&web[2], &web[0]]));
    let passed_on_main_of_web = BuildFilter {
        project_name: Some("web"),
        status: Some(BuildStatus::Succeeded),
        branch: Some("main"),
    };
    assert_eq!(
        found(&store, &passed_on_main_of_web).await,
        uuids(&[&web[2]])
    );
    let api_on_main = BuildFilter {
        project_name: Some("api"),
        branch: Some("main"),
        ..BuildFilter::default()
    };
    assert!(found(&store, &api_on_main).await.is_empty());

    // A deleted project's builds stay found under its name, beside those of its successor.
    store.delete_project(ACCOUNT, "api", 300.0).await.unwrap();
    store
        .create_project(&project(ACCOUNT, "api", 301.0))
        .await
        .unwrap();
    let successor = stored(&store, queued_build(ACCOUNT, "api", 10, None)).await;
    assert_eq!(successor.build_number, 1);
    let of_api = BuildFilter {
        project_name: Some("api"),
        ..BuildFilter::default()
    };
    assert_eq!(
        found(&store, &of_api).await,
        uuids(&[&successor, &api[2], &api[1], &api[0]])
    );
    // Another account's builds are never found.
    let other = store
        .find_builds(OTHER_ACCOUNT, &of_web, None, 100)
        .await
        .unwrap();
    assert_eq!(other.items.len(), 1);
    assert_eq!(other.items[0].account_id, OTHER_ACCOUNT);
}
