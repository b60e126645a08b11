//! The build queue: claims within every limit, fenced saves, heartbeats, stop requests and
//! expiry, each exactly once whoever races.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use kiln_domain::build::{BuildStatus, PhaseType};
use kiln_store::{
    ClaimRequest, LEASE_EXPIRED_REASON, LeasedBuild, QUEUED_TIMEOUT_REASON, Store, StoreError,
    StoreEvent, StoreResult,
};

use crate::fixtures::{
    ACCOUNT, LEASE_SECONDS, OTHER_ACCOUNT, claim_request, end_reason, insert, project,
    queued_build, uuid_of,
};

/// How long a case waits for an event it expects.
const EVENT_DEADLINE: Duration = Duration::from_secs(5);

async fn claim(store: &Arc<dyn Store>, request: &ClaimRequest<'_>) -> Vec<LeasedBuild> {
    store.claim_builds(request).await.unwrap()
}

fn uuids(claimed: &[LeasedBuild]) -> Vec<String> {
    claimed.iter().map(|b| b.record.uuid.clone()).collect()
}

/// Creates project `name` of `account` with `limit` as its `concurrentBuildLimit`.
async fn create_project(store: &Arc<dyn Store>, account: &str, name: &str, limit: Option<i64>) {
    let mut record = project(account, name, 1.0);
    record.settings.concurrent_build_limit = limit;
    store.create_project(&record).await.unwrap();
}

/// Queues build `n` of a project of `account`; returns its uuid.
async fn queue(store: &Arc<dyn Store>, account: &str, name: &str, n: u64) -> String {
    let mut build = queued_build(account, name, n, None);
    store.insert_build(&mut build, 0.0).await.unwrap();
    build.uuid
}

/// Waits for the first event that `wanted` accepts.
pub(crate) async fn expect_event(
    events: &mut kiln_store::EventSubscription,
    what: &str,
    wanted: impl Fn(&StoreEvent) -> bool,
) {
    let found = tokio::time::timeout(EVENT_DEADLINE, async {
        while let Some(event) = events.next().await {
            if wanted(&event) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "expected event: {what}");
}

/// Ends a leased build as its runner would: SUCCEEDED, saved with its lease.
async fn complete(store: &Arc<dyn Store>, leased: &LeasedBuild, now: f64) -> StoreResult<()> {
    let mut record = leased.record.clone();
    record.end_phase(BuildStatus::Succeeded, None, now);
    record.begin_phase(PhaseType::Completed, now);
    store.save_leased_build(&record, &leased.lease).await
}

pub async fn claims_honour_capacity_project_and_account_limits(store: Arc<dyn Store>) {
    create_project(&store, ACCOUNT, "limited", Some(2)).await;
    create_project(&store, ACCOUNT, "free", None).await;
    create_project(&store, OTHER_ACCOUNT, "other", None).await;
    let mut limited = Vec::new();
    for n in 0..4 {
        limited.push(queue(&store, ACCOUNT, "limited", n).await);
    }
    let free = queue(&store, ACCOUNT, "free", 10).await;
    let other = queue(&store, OTHER_ACCOUNT, "other", 20).await;

    // Capacity 1: the oldest build only.
    let first = claim(&store, &claim_request("a", 200.0, 1)).await;
    assert_eq!(uuids(&first), vec![limited[0].clone()]);
    assert_eq!(first[0].lease.owner, "a");
    // Capacity counts what the owner holds: one more, the project's second.
    let second = claim(&store, &claim_request("a", 200.0, 2)).await;
    assert_eq!(uuids(&second), vec![limited[1].clone()]);
    // The project's limit counts every owner's builds: "b" skips the rest of "limited", and
    // an account limit of 3 leaves "b" one build of ACCOUNT.
    let request = ClaimRequest {
        account_limit: Some(3),
        ..claim_request("b", 200.0, 10)
    };
    let third = claim(&store, &request).await;
    assert_eq!(uuids(&third), vec![free.clone(), other.clone()]);
    assert!(claim(&store, &request).await.is_empty());

    // A completed build frees its project's slot, and the queue moves on in order.
    complete(&store, &first[0], 210.0).await.unwrap();
    let fourth = claim(&store, &claim_request("b", 220.0, 10)).await;
    assert_eq!(uuids(&fourth), vec![limited[2].clone()]);
    let stored = store
        .get_build(ACCOUNT, &limited[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, BuildStatus::Succeeded);
}

pub async fn racing_owners_never_exceed_a_limit_nor_claim_a_build_twice(store: Arc<dyn Store>) {
    create_project(&store, ACCOUNT, "limited", Some(3)).await;
    create_project(&store, ACCOUNT, "free", None).await;
    for n in 0..20 {
        queue(&store, ACCOUNT, "limited", n).await;
        queue(&store, ACCOUNT, "free", 100 + n).await;
    }
    let owners: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let owner = format!("owner-{i}");
                let mut claimed = Vec::new();
                for _ in 0..5 {
                    let request = ClaimRequest {
                        account_limit: Some(12),
                        ..claim_request(&owner, 200.0, 2)
                    };
                    claimed.extend(store.claim_builds(&request).await.unwrap());
                }
                claimed
            })
        })
        .collect();
    let mut all = Vec::new();
    for owner in owners {
        let claimed = owner.await.unwrap();
        assert!(claimed.len() <= 2, "an owner exceeded its capacity");
        all.extend(claimed);
    }
    let distinct: HashSet<_> = all.iter().map(|b| b.record.uuid.clone()).collect();
    assert_eq!(distinct.len(), all.len(), "a build was claimed twice");
    let in_limited = all
        .iter()
        .filter(|b| b.record.project_name == "limited")
        .count();
    assert_eq!(in_limited, 3, "the project's limit, filled exactly");
    assert_eq!(all.len(), 12, "the account's limit, filled exactly");
}

pub async fn a_lost_lease_cannot_save(store: Arc<dyn Store>) {
    create_project(&store, ACCOUNT, "p", None).await;
    let first = queue(&store, ACCOUNT, "p", 1).await;
    let second = queue(&store, ACCOUNT, "p", 2).await;
    let held = claim(&store, &claim_request("a", 200.0, 1)).await.remove(0);
    assert_eq!(held.record.uuid, first);
    let mut progress = held.record.clone();
    progress.begin_phase(PhaseType::Provisioning, 201.0);
    // The holder saves as often as it likes.
    store
        .save_leased_build(&progress, &held.lease)
        .await
        .unwrap();
    store
        .save_leased_build(&progress, &held.lease)
        .await
        .unwrap();

    // Another owner's lease does not let it write this build.
    let other = claim(&store, &claim_request("b", 200.0, 1)).await.remove(0);
    assert_eq!(other.record.uuid, second);
    assert!(matches!(
        store.save_leased_build(&progress, &other.lease).await,
        Err(StoreError::LeaseLost)
    ));

    // Past its expiry, once expired, the lease saves nothing.
    let expired = store
        .expire_leases(200.0 + LEASE_SECONDS + 1.0)
        .await
        .unwrap();
    assert_eq!(expired.len(), 2);
    progress.begin_phase(PhaseType::DownloadSource, 250.0);
    assert!(matches!(
        store.save_leased_build(&progress, &held.lease).await,
        Err(StoreError::LeaseLost)
    ));
    let stored = store.get_build(ACCOUNT, &first).await.unwrap().unwrap();
    assert_eq!(stored.status, BuildStatus::Fault);
    assert!(stored.is_complete());
    assert_eq!(end_reason(&stored), Some(LEASE_EXPIRED_REASON));
    assert!(store.leased_build(&first).await.unwrap().is_none());
}

pub async fn a_completed_build_releases_its_lease(store: Arc<dyn Store>) {
    create_project(&store, ACCOUNT, "p", None).await;
    let mut events = store.subscribe();
    let uuid = queue(&store, ACCOUNT, "p", 1).await;
    expect_event(&mut events, "QueueChanged on insert", |e| {
        *e == StoreEvent::QueueChanged
    })
    .await;
    let held = claim(&store, &claim_request("a", 200.0, 1)).await.remove(0);
    assert_eq!(store.leased_build(&uuid).await.unwrap(), Some(held.clone()));
    complete(&store, &held, 210.0).await.unwrap();
    expect_event(&mut events, "QueueChanged on completion", |e| {
        *e == StoreEvent::QueueChanged
    })
    .await;
    assert!(matches!(
        complete(&store, &held, 220.0).await,
        Err(StoreError::LeaseLost)
    ));
    let renewed = store.renew_leases("a", 230.0, LEASE_SECONDS).await.unwrap();
    assert!(renewed.is_empty(), "a completed build is not held");
}

pub async fn renewing_keeps_a_lease_and_reports_stop_requests(store: Arc<dyn Store>) {
    create_project(&store, ACCOUNT, "p", None).await;
    let first = queue(&store, ACCOUNT, "p", 1).await;
    let second = queue(&store, ACCOUNT, "p", 2).await;
    let held = claim(&store, &claim_request("a", 200.0, 2)).await;
    assert_eq!(held.len(), 2);
    let mut events = store.subscribe();
    let stopping = store.request_stop(ACCOUNT, &second, 205.0).await.unwrap();
    assert!(!stopping.is_complete(), "its owner stops a leased build");
    expect_event(&mut events, "StopRequested", |e| {
        *e == StoreEvent::StopRequested {
            uuid: second.clone(),
        }
    })
    .await;

    // Renewed just before each expiry, the leases outlive their first term.
    let mut now = 200.0;
    for _ in 0..3 {
        now += LEASE_SECONDS - 1.0;
        let mut renewed = store.renew_leases("a", now, LEASE_SECONDS).await.unwrap();
        renewed.sort_by(|a, b| a.uuid.cmp(&b.uuid));
        let mut expected = vec![(first.clone(), false), (second.clone(), true)];
        expected.sort();
        let got: Vec<_> = renewed
            .into_iter()
            .map(|h| (h.uuid, h.stop_requested))
            .collect();
        assert_eq!(got, expected);
        assert!(store.expire_leases(now).await.unwrap().is_empty());
    }
    assert!(
        store
            .renew_leases("b", now, LEASE_SECONDS)
            .await
            .unwrap()
            .is_empty()
    );
    // A renewed lease still saves.
    complete(&store, &held[0], now).await.unwrap();
}

pub async fn stop_requests_end_queued_mark_leased_and_leave_complete(store: Arc<dyn Store>) {
    create_project(&store, ACCOUNT, "p", None).await;
    let leased = queue(&store, ACCOUNT, "p", 1).await;
    let held = claim(&store, &claim_request("a", 200.0, 1)).await.remove(0);
    let queued = queue(&store, ACCOUNT, "p", 2).await;

    let stopped = store.request_stop(ACCOUNT, &queued, 210.0).await.unwrap();
    assert_eq!(stopped.status, BuildStatus::Stopped);
    assert!(stopped.is_complete());
    assert_eq!(stopped.end_time, Some(210.0));
    assert!(
        claim(&store, &claim_request("b", 220.0, 5))
            .await
            .is_empty(),
        "a stopped build is never claimed"
    );

    let marked = store.request_stop(ACCOUNT, &leased, 211.0).await.unwrap();
    assert!(!marked.is_complete());
    // The holder's lease survives the request: it records the stop itself.
    let mut ended = held.record.clone();
    ended.abort(
        BuildStatus::Stopped,
        kiln_domain::build::PhaseContext::new("BUILD_STOPPED", "Build was stopped"),
        212.0,
    );
    store.save_leased_build(&ended, &held.lease).await.unwrap();

    let again = store.request_stop(ACCOUNT, &leased, 213.0).await.unwrap();
    assert_eq!(again, ended, "a complete build is left as it is");
    assert!(matches!(
        store.request_stop(ACCOUNT, "no-such-build", 214.0).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.request_stop(OTHER_ACCOUNT, &leased, 214.0).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn a_stop_racing_claims_ends_each_build_once(store: Arc<dyn Store>) {
    create_project(&store, ACCOUNT, "p", None).await;
    let mut ids = Vec::new();
    for n in 0..16 {
        ids.push(insert(&store, "p", n).await);
    }
    let claimer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let mut claimed = Vec::new();
            for _ in 0..16 {
                claimed.extend(
                    store
                        .claim_builds(&claim_request("a", 200.0, 16))
                        .await
                        .unwrap(),
                );
                tokio::task::yield_now().await;
            }
            claimed
        })
    };
    let mut stops = Vec::new();
    for id in &ids {
        stops.push(
            store
                .request_stop(ACCOUNT, uuid_of(id), 201.0)
                .await
                .unwrap(),
        );
    }
    let claimed = claimer.await.unwrap();
    let claimed_uuids: HashSet<_> = uuids(&claimed).into_iter().collect();
    for stop in &stops {
        if claimed_uuids.contains(&stop.uuid) {
            // Claimed first: the stop is a request its holder sees on renewal.
            assert!(!stop.is_complete());
        } else {
            assert_eq!(stop.status, BuildStatus::Stopped);
        }
    }
    let renewed = store.renew_leases("a", 202.0, LEASE_SECONDS).await.unwrap();
    assert_eq!(renewed.len(), claimed.len());
    assert!(renewed.iter().all(|held| held.stop_requested));
    // A stopped queued build's record is never overwritten by a claim.
    for stop in stops.iter().filter(|s| s.is_complete()) {
        let stored = store.get_build(ACCOUNT, &stop.uuid).await.unwrap().unwrap();
        assert_eq!(&stored, stop);
    }
}

pub async fn expiry_ends_each_build_exactly_once(store: Arc<dyn Store>) {
    create_project(&store, ACCOUNT, "p", None).await;
    for n in 0..6 {
        queue(&store, ACCOUNT, "p", n).await;
    }
    let held = claim(&store, &claim_request("a", 200.0, 3)).await;
    assert_eq!(held.len(), 3);
    // Queued builds start at 100 + n and wait at most 480 minutes of 0.5 s each.
    let minute = 0.5;
    let late = 100.0 + 5.0 + 480.0 * minute + 1.0;
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let leases = store.expire_leases(late).await.unwrap();
                let queued = store.expire_queued(late, minute).await.unwrap();
                (leases, queued)
            })
        })
        .collect();
    let mut faulted = Vec::new();
    let mut timed_out = Vec::new();
    for racer in racers {
        let (leases, queued) = racer.await.unwrap();
        faulted.extend(leases);
        timed_out.extend(queued);
    }
    assert_eq!(faulted.len(), 3, "each expired lease ended once");
    assert_eq!(timed_out.len(), 3, "each late queued build ended once");
    assert!(faulted.iter().all(|b| b.status == BuildStatus::Fault));
    for build in &timed_out {
        assert_eq!(build.status, BuildStatus::TimedOut);
        let stored = store
            .get_build(ACCOUNT, &build.uuid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&stored, build);
        assert_eq!(end_reason(&stored), Some(QUEUED_TIMEOUT_REASON));
    }
    assert!(
        store
            .renew_leases("a", late, LEASE_SECONDS)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn queued_builds_past_their_deadline_are_not_claimed(store: Arc<dyn Store>) {
    create_project(&store, ACCOUNT, "p", None).await;
    queue(&store, ACCOUNT, "p", 0).await;
    let request = ClaimRequest {
        minute_seconds: 0.001,
        fleet: kiln_store::ClaimFleet::OnDemand { overflow: &[] },
        ..claim_request("a", 200.0, 1)
    };
    assert!(claim(&store, &request).await.is_empty());
    assert_eq!(store.expire_queued(200.0, 0.001).await.unwrap().len(), 1);
}

pub async fn deleting_a_project_marks_its_leased_builds(store: Arc<dyn Store>) {
    create_project(&store, ACCOUNT, "p", None).await;
    let running = queue(&store, ACCOUNT, "p", 1).await;
    let held = claim(&store, &claim_request("a", 200.0, 1)).await.remove(0);
    let queued = queue(&store, ACCOUNT, "p", 2).await;
    let mut events = store.subscribe();
    let stopped = store.delete_project(ACCOUNT, "p", 210.0).await.unwrap();
    // Only the queued build ended in the deletion (the running one ends where it runs).
    let stopped: Vec<_> = stopped
        .unwrap()
        .into_iter()
        .map(|b| (b.uuid, b.status))
        .collect();
    assert_eq!(stopped, [(queued.clone(), BuildStatus::Stopped)]);
    expect_event(&mut events, "StopRequested for the running build", |e| {
        *e == StoreEvent::StopRequested {
            uuid: running.clone(),
        }
    })
    .await;
    let renewed = store.renew_leases("a", 211.0, LEASE_SECONDS).await.unwrap();
    assert_eq!(renewed.len(), 1);
    assert!(renewed[0].stop_requested);
    let dropped = store.get_build(ACCOUNT, &queued).await.unwrap().unwrap();
    assert_eq!(dropped.status, BuildStatus::Stopped);
    // The runner still records how its build ended.
    complete(&store, &held, 212.0).await.unwrap();
    // A re-created project's limit counts only its own builds.
    create_project(&store, ACCOUNT, "p", Some(1)).await;
    queue(&store, ACCOUNT, "p", 3).await;
    assert_eq!(claim(&store, &claim_request("b", 213.0, 1)).await.len(), 1);
}

pub async fn queue_gauges_count_waiting_and_running_builds(store: Arc<dyn Store>) {
    assert_eq!(
        store.queue_gauges().await.unwrap(),
        kiln_store::QueueGauges::default()
    );
    create_project(&store, ACCOUNT, "p", None).await;
    create_project(&store, OTHER_ACCOUNT, "q", None).await;
    queue(&store, ACCOUNT, "p", 1).await;
    queue(&store, OTHER_ACCOUNT, "q", 2).await;
    queue(&store, ACCOUNT, "p", 3).await;
    // The oldest (build 1, queued at 101) is claimed: build 2 has waited longest since.
    let claimed = claim(&store, &claim_request("owner", 1000.0, 1)).await;
    assert_eq!(claimed.len(), 1);
    let gauges = store.queue_gauges().await.unwrap();
    assert_eq!((gauges.queued, gauges.running), (2, 1));
    assert_eq!(gauges.oldest_queued_at, Some(102.0));
    complete(&store, &claimed[0], 1001.0).await.unwrap();
    let gauges = store.queue_gauges().await.unwrap();
    assert_eq!((gauges.queued, gauges.running), (2, 0));
}
