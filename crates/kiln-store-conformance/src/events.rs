//! The change feed: what a subscriber hears of the store's own writes.

use std::sync::Arc;
use std::time::Duration;

use kiln_domain::build::{BuildStatus, PhaseType};
use kiln_store::{EventSubscription, InsertedBuild, Store, StoreEvent};

use crate::fixtures::{ACCOUNT, claim_request, project, queued_build};

/// How long an announced event may take to arrive (PostgreSQL's goes through the server).
pub const EVENT_DEADLINE: Duration = Duration::from_secs(10);

/// The next event, which must be `expected`; fails at the deadline.
pub async fn hear(subscription: &mut EventSubscription, expected: &StoreEvent) {
    let heard = tokio::time::timeout(EVENT_DEADLINE, subscription.next()).await;
    match heard {
        Ok(event) => assert_eq!(event.as_ref(), Some(expected)),
        Err(_) => panic!("{expected:?} not heard within {EVENT_DEADLINE:?}"),
    }
}

fn changed(name: &str) -> StoreEvent {
    StoreEvent::ProjectChanged {
        account_id: ACCOUNT.into(),
        project_name: name.into(),
    }
}

pub async fn subscribers_hear_every_kind_of_write(store: Arc<dyn Store>) {
    let mut feed = store.subscribe();
    let mut stored = project(ACCOUNT, "p", 1.0);
    store.create_project(&stored).await.unwrap();
    hear(&mut feed, &changed("p")).await;

    stored.last_modified = 2.0;
    store.update_project(&stored).await.unwrap();
    hear(&mut feed, &changed("p")).await;

    let mut build = queued_build(ACCOUNT, "p", 1, None);
    store.insert_build(&mut build, 0.0).await.unwrap();
    hear(&mut feed, &changed("p")).await;
    hear(&mut feed, &StoreEvent::QueueChanged).await;

    let claimed = store
        .claim_builds(&claim_request("a", 200.0, 1))
        .await
        .unwrap();
    hear(&mut feed, &changed("p")).await;
    build.status = BuildStatus::Succeeded;
    build.current_phase = PhaseType::Completed;
    store
        .save_leased_build(&build, &claimed[0].lease)
        .await
        .unwrap();
    hear(&mut feed, &changed("p")).await;
    hear(&mut feed, &StoreEvent::QueueChanged).await;

    assert!(store.delete_build(ACCOUNT, &build.uuid).await.unwrap());
    hear(&mut feed, &changed("p")).await;

    assert!(
        store
            .delete_project(ACCOUNT, "p", 3.0)
            .await
            .unwrap()
            .is_some()
    );
    hear(&mut feed, &changed("p")).await;
    hear(&mut feed, &StoreEvent::QueueChanged).await;
}

pub async fn refused_writes_announce_nothing(store: Arc<dyn Store>) {
    // Subscribed first, and the setup's own events heard: a backend may deliver an event
    // committed just before a subscription (PostgreSQL's arrive through the server).
    let mut feed = store.subscribe();
    store
        .create_project(&project(ACCOUNT, "p", 1.0))
        .await
        .unwrap();
    let mut first = queued_build(ACCOUNT, "p", 1, Some("token"));
    store.insert_build(&mut first, 0.0).await.unwrap();
    hear(&mut feed, &changed("p")).await;
    hear(&mut feed, &changed("p")).await;
    hear(&mut feed, &StoreEvent::QueueChanged).await;
    // A duplicate project, a build refused for its token, a build of no project, a missing
    // project's update and deletion: none of them changed anything.
    assert!(
        store
            .create_project(&project(ACCOUNT, "p", 2.0))
            .await
            .is_err()
    );
    let mut again = queued_build(ACCOUNT, "p", 2, Some("token"));
    let refused = store.insert_build(&mut again, 0.0).await.unwrap();
    assert_eq!(refused, InsertedBuild::Existing(Box::new(first)));
    let mut orphan = queued_build(ACCOUNT, "gone", 3, None);
    assert!(store.insert_build(&mut orphan, 0.0).await.is_err());
    assert!(
        store
            .update_project(&project(ACCOUNT, "gone", 1.0))
            .await
            .is_err()
    );
    assert!(
        store
            .delete_project(ACCOUNT, "gone", 5.0)
            .await
            .unwrap()
            .is_none()
    );
    assert!(!store.delete_build(ACCOUNT, "no-such-build").await.unwrap());
    // The first event heard is the next real change's.
    store
        .create_project(&project(ACCOUNT, "next", 1.0))
        .await
        .unwrap();
    hear(&mut feed, &changed("next")).await;
}
