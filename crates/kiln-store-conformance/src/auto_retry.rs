//! Automatic retries: a build that ended FAILED, FAULT or TIMED_OUT with retries left in its
//! chain is retried once, whoever races, and never when it was stopped, succeeded, reached
//! its limit or lost its project.

use std::collections::HashSet;
use std::sync::Arc;

use kiln_domain::build::{BuildRecord, BuildStatus, PhaseContext, context_codes};
use kiln_domain::retry::AutoRetry;
use kiln_store::{LeasedBuild, Store, StoreEvent};

use crate::fixtures::{ACCOUNT, claim_request, project, queued_build};
use crate::queue::expect_event;

/// Queues build `n` of project `p` whose chain may retry `limit` times; returns its uuid.
async fn queue_with_limit(store: &Arc<dyn Store>, n: u64, limit: i64) -> String {
    let mut build = queued_build(ACCOUNT, "p", n, None);
    build.auto_retry = AutoRetry::first(limit);
    store.insert_build(&mut build, 0.0).await.unwrap();
    build.uuid
}

/// Claims every queued build as owner `a`.
async fn claim_all(store: &Arc<dyn Store>, now: f64) -> Vec<LeasedBuild> {
    store
        .claim_builds(&claim_request("a", now, 1000))
        .await
        .unwrap()
}

/// Ends a leased build with `status`, saved through its lease as its runner saves it.
async fn end(store: &Arc<dyn Store>, leased: &LeasedBuild, status: BuildStatus, now: f64) {
    let mut record = leased.record.clone();
    record.abort(
        status,
        PhaseContext::new(context_codes::COMMAND_EXECUTION_ERROR, "it ended"),
        now,
    );
    store
        .save_leased_build(&record, &leased.lease)
        .await
        .unwrap();
}

async fn get(store: &Arc<dyn Store>, uuid: &str) -> BuildRecord {
    store.get_build(ACCOUNT, uuid).await.unwrap().unwrap()
}

async fn create_p(store: &Arc<dyn Store>) {
    store
        .create_project(&project(ACCOUNT, "p", 1.0))
        .await
        .unwrap();
}

pub async fn a_failed_build_is_retried_once_up_to_its_limit(store: Arc<dyn Store>) {
    create_p(&store).await;
    let first = queue_with_limit(&store, 1, 2).await;
    let leased = claim_all(&store, 200.0).await.remove(0);
    assert!(
        store.start_auto_retries(201.0).await.unwrap().is_empty(),
        "a running build owes nothing yet"
    );
    end(&store, &leased, BuildStatus::Failed, 202.0).await;
    let mut events = store.subscribe();
    let made = store.start_auto_retries(203.0).await.unwrap();
    assert_eq!(made.len(), 1);
    let second = &made[0];
    expect_event(
        &mut events,
        "ProjectChanged for the retry's project",
        |e| matches!(e, StoreEvent::ProjectChanged { project_name, .. } if project_name == "p"),
    )
    .await;
    expect_event(&mut events, "QueueChanged", |e| {
        *e == StoreEvent::QueueChanged
    })
    .await;
    assert_eq!(second.build_number, 2, "the project's next build number");
    assert!(!second.is_complete());
    assert_eq!(second.settings, leased.record.settings);
    assert_eq!(second.start_time, 203.0);
    assert_eq!(
        second.auto_retry,
        AutoRetry {
            limit: 2,
            number: 1,
            next: None,
            previous: Some(first.clone()),
        }
    );
    assert_eq!(
        &get(&store, &second.uuid).await,
        second,
        "stored as returned"
    );
    let old = get(&store, &first).await;
    assert_eq!(old.auto_retry.next.as_deref(), Some(second.uuid.as_str()));
    assert_eq!(
        old.status,
        BuildStatus::Failed,
        "the old build is otherwise unchanged"
    );
    assert!(
        store.start_auto_retries(204.0).await.unwrap().is_empty(),
        "made once"
    );

    // The retry is queued like any build; its FAULT is retried, and the last one is not.
    let leased = claim_all(&store, 205.0).await.remove(0);
    assert_eq!(leased.record.uuid, second.uuid);
    end(&store, &leased, BuildStatus::Fault, 206.0).await;
    let third = store.start_auto_retries(207.0).await.unwrap().remove(0);
    assert_eq!((third.build_number, third.auto_retry.number), (3, 2));
    assert_eq!(
        third.auto_retry.previous.as_deref(),
        Some(second.uuid.as_str())
    );
    let leased = claim_all(&store, 208.0).await.remove(0);
    end(&store, &leased, BuildStatus::TimedOut, 209.0).await;
    assert!(
        store.start_auto_retries(210.0).await.unwrap().is_empty(),
        "the chain's limit is reached"
    );
    assert_eq!(get(&store, &third.uuid).await.auto_retry.next, None);
}

pub async fn racing_callers_retry_each_build_once(store: Arc<dyn Store>) {
    create_p(&store).await;
    let mut failed = HashSet::new();
    for n in 1..=6 {
        failed.insert(queue_with_limit(&store, n, 1).await);
    }
    for leased in claim_all(&store, 200.0).await {
        end(&store, &leased, BuildStatus::Failed, 201.0).await;
    }
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.start_auto_retries(202.0).await.unwrap() })
        })
        .collect();
    let mut made = Vec::new();
    for caller in callers {
        made.extend(caller.await.unwrap());
    }
    let previous: HashSet<String> = made
        .iter()
        .filter_map(|b| b.auto_retry.previous.clone())
        .collect();
    assert_eq!(made.len(), 6, "one retry per failed build");
    assert_eq!(previous, failed);
    let numbers: HashSet<i64> = made.iter().map(|b| b.build_number).collect();
    assert_eq!(numbers, (7..=12).collect::<HashSet<i64>>());
    for uuid in &failed {
        let next = get(&store, uuid).await.auto_retry.next.unwrap();
        assert!(made.iter().any(|b| b.uuid == next));
    }
    let page = store
        .list_builds(ACCOUNT, Some("p"), true, None, 100)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 12);
}

pub async fn stopped_succeeded_and_unlimited_builds_are_not_retried(store: Arc<dyn Store>) {
    create_p(&store).await;
    let stopped = queue_with_limit(&store, 1, 3).await;
    let succeeded = queue_with_limit(&store, 2, 3).await;
    let unlimited = queue_with_limit(&store, 3, 0).await;
    for leased in claim_all(&store, 200.0).await {
        let status = if leased.record.uuid == stopped {
            BuildStatus::Stopped
        } else if leased.record.uuid == succeeded {
            BuildStatus::Succeeded
        } else {
            BuildStatus::Failed
        };
        end(&store, &leased, status, 201.0).await;
    }
    // A queued build stopped before it ran is not retried either.
    let queued = queue_with_limit(&store, 4, 3).await;
    store.request_stop(ACCOUNT, &queued, 202.0).await.unwrap();
    assert!(store.start_auto_retries(203.0).await.unwrap().is_empty());
    for uuid in [&stopped, &succeeded, &unlimited, &queued] {
        assert_eq!(get(&store, uuid).await.auto_retry.next, None);
    }
}

pub async fn builds_ended_by_lease_expiry_or_queued_timeout_are_retried(store: Arc<dyn Store>) {
    create_p(&store).await;
    let expired = queue_with_limit(&store, 1, 1).await;
    claim_all(&store, 200.0).await;
    let waited = queue_with_limit(&store, 2, 1).await;
    let ended = store.expire_leases(10_000.0).await.unwrap();
    assert_eq!(ended.len(), 1);
    let ended = store.expire_queued(10_000.0, 1.0).await.unwrap();
    assert_eq!(ended.len(), 1);
    let made = store.start_auto_retries(10_001.0).await.unwrap();
    let previous: HashSet<String> = made
        .iter()
        .filter_map(|b| b.auto_retry.previous.clone())
        .collect();
    assert_eq!(previous, HashSet::from([expired, waited]));
}

pub async fn a_deleted_projects_builds_are_not_retried(store: Arc<dyn Store>) {
    create_p(&store).await;
    let failed = queue_with_limit(&store, 1, 2).await;
    let leased = claim_all(&store, 200.0).await.remove(0);
    end(&store, &leased, BuildStatus::Failed, 201.0).await;
    assert!(
        store
            .delete_project(ACCOUNT, "p", 202.0)
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.start_auto_retries(203.0).await.unwrap().is_empty());
    // Nor once a project of the same name exists again: the build was of the old one.
    create_p(&store).await;
    assert!(store.start_auto_retries(204.0).await.unwrap().is_empty());
    assert_eq!(get(&store, &failed).await.auto_retry.next, None);
    let page = store
        .list_builds(ACCOUNT, Some("p"), true, None, 100)
        .await
        .unwrap();
    assert!(page.items.is_empty());
}
