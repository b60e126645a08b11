//! Projects: round trips, accounts, updates, badge tokens and sorted keyset listings.

use std::sync::Arc;

use kiln_store::{ProjectSort, Store, StoreError};

use crate::fixtures::{ACCOUNT, OTHER_ACCOUNT, project};

pub async fn projects_round_trip_and_stay_in_their_account(store: Arc<dyn Store>) {
    let stored = project(ACCOUNT, "a", 1.0);
    store.create_project(&stored).await.unwrap();
    assert!(matches!(
        store.create_project(&project(ACCOUNT, "a", 2.0)).await,
        Err(StoreError::AlreadyExists)
    ));
    store
        .create_project(&project(OTHER_ACCOUNT, "a", 3.0))
        .await
        .unwrap();
    assert_eq!(
        store.get_project(ACCOUNT, "a").await.unwrap(),
        Some(stored.clone())
    );
    assert_eq!(store.get_project("333333333333", "a").await.unwrap(), None);
    assert_eq!(
        store
            .project_by_badge_token(&stored.badge_token)
            .await
            .unwrap(),
        Some(stored)
    );
    assert_eq!(store.project_by_badge_token("nope").await.unwrap(), None);

    assert!(
        store
            .delete_project(ACCOUNT, "a", 9.0)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .delete_project(ACCOUNT, "a", 9.0)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.get_project(ACCOUNT, "a").await.unwrap(), None);
    assert!(
        store
            .get_project(OTHER_ACCOUNT, "a")
            .await
            .unwrap()
            .is_some()
    );
}

pub async fn updates_replace_a_project_that_still_exists(store: Arc<dyn Store>) {
    let mut stored = project(ACCOUNT, "a", 1.0);
    store.create_project(&stored).await.unwrap();
    stored.settings.description = Some("changed".into());
    stored.settings.concurrent_build_limit = Some(2);
    stored.badge_enabled = false;
    stored.last_modified = 5.0;
    stored.source_epoch = 1;
    store.update_project(&stored).await.unwrap();
    assert_eq!(
        store.get_project(ACCOUNT, "a").await.unwrap(),
        Some(stored.clone())
    );
    stored.name = "gone".into();
    assert!(matches!(
        store.update_project(&stored).await,
        Err(StoreError::NotFound)
    ));
}

/// Every page of a listing, `limit` names at a time.
async fn walk(
    store: &Arc<dyn Store>,
    sort: ProjectSort,
    ascending: bool,
    limit: u64,
) -> Vec<String> {
    let mut names = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_projects(ACCOUNT, sort, ascending, after.as_ref(), limit)
            .await
            .unwrap();
        assert!(page.items.len() <= limit as usize);
        names.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => return names,
        }
    }
}

pub async fn listings_sort_and_page(store: Arc<dyn Store>) {
    // Created in the order c, a, B, b; last modified in the order a, b, c, B. Names sort
    // bytewise (upper case first), ties of a sort value by name.
    for (created, name) in [(1.0, "c"), (2.0, "a"), (3.0, "B"), (3.0, "b")] {
        store
            .create_project(&project(ACCOUNT, name, created))
            .await
            .unwrap();
    }
    store
        .create_project(&project(OTHER_ACCOUNT, "other", 0.0))
        .await
        .unwrap();
    for (modified, name) in [(10.0, "a"), (11.0, "b"), (12.0, "c"), (13.0, "B")] {
        let mut stored = store.get_project(ACCOUNT, name).await.unwrap().unwrap();
        stored.last_modified = modified;
        store.update_project(&stored).await.unwrap();
    }
    let expected = [
        (ProjectSort::Name, ["B", "a", "b", "c"]),
        (ProjectSort::Created, ["c", "a", "B", "b"]),
        (ProjectSort::LastModified, ["a", "b", "c", "B"]),
    ];
    for (sort, ascending) in expected {
        for limit in [1, 2, 3, 10] {
            assert_eq!(walk(&store, sort, true, limit).await, ascending, "{sort:?}");
            let mut descending = ascending.to_vec();
            descending.reverse();
            assert_eq!(
                walk(&store, sort, false, limit).await,
                descending,
                "{sort:?}"
            );
        }
    }
    let first = store
        .list_projects(ACCOUNT, ProjectSort::Name, true, None, 2)
        .await
        .unwrap();
    assert_eq!(first.next.map(|key| key.name), Some("a".to_owned()));
    let all = store
        .list_projects(ACCOUNT, ProjectSort::Name, true, None, 4)
        .await
        .unwrap();
    assert_eq!(all.next, None, "no next page after the last name");
}
