//! The change feed across replicas: what one store writes, another store's subscribers hear;
//! a lost listening connection is reported, and listening resumes by itself.
#![allow(clippy::unwrap_used)] // Test code: a failed step fails the test.

mod common;

use kiln_store::{Store, StoreEvent};
use kiln_store_conformance::events::hear;
use kiln_store_conformance::fixtures::{ACCOUNT, project, queued_build};
use kiln_store_postgres::LISTENER_APPLICATION_NAME;

fn changed(name: &str) -> StoreEvent {
    StoreEvent::ProjectChanged {
        account_id: ACCOUNT.into(),
        project_name: name.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_by_another_replica_is_heard() {
    let database = common::TestDatabase::create().await;
    let listening = database.store().await;
    let writing = database.store().await;
    let mut feed = listening.subscribe();
    writing
        .create_project(&project(ACCOUNT, "p", 1.0))
        .await
        .unwrap();
    hear(&mut feed, &changed("p")).await;
    let mut build = queued_build(ACCOUNT, "p", 1, None);
    writing.insert_build(&mut build, 0.0).await.unwrap();
    hear(&mut feed, &changed("p")).await;
    hear(&mut feed, &StoreEvent::QueueChanged).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listener_is_reported_and_listens_again() {
    let database = common::TestDatabase::create().await;
    let store = database.store().await;
    let mut feed = store.subscribe();
    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = $1 AND datname = current_database()",
    )
    .bind(LISTENER_APPLICATION_NAME)
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(terminated, vec![true], "one listening connection");
    hear(&mut feed, &StoreEvent::FeedInterrupted).await;
    hear(&mut feed, &StoreEvent::FeedResumed).await;
    store
        .create_project(&project(ACCOUNT, "after", 1.0))
        .await
        .unwrap();
    hear(&mut feed, &changed("after")).await;
}
