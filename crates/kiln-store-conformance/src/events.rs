//! The change feed: what a subscriber hears of the store's own writes.

use std::sync::Arc;
use std::time::Duration;

use kiln_domain::build::{BuildStatus, PhaseType};
use kiln_store::{EventSubscription, Store, StoreEvent};

use crate::fixtures::{ACCOUNT, project, queued_build};

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

    build.status = BuildStatus::Succeeded;
    build.current_phase = PhaseType::Completed;
    store.save_build(&build).await.unwrap();
    hear(&mut feed, &changed("p")).await;
    hear(&mut feed, &StoreEvent::QueueChanged).await;

    assert!(store.delete_build(ACCOUNT, &build.uuid).await.unwrap());
    hear(&mut feed, &changed("p")).await;

    assert!(store.delete_project(ACCOUNT, "p", 3.0).await.unwrap());
    hear(&mut feed, &changed("p")).await;
    hear(&mut feed, &StoreEvent::QueueChanged).await;
}
