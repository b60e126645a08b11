//! The scheduler's side of leases: stop requests and lost leases cancel what it runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kiln_domain::badge_epoch::BadgeEpoch;
use kiln_runner::artifacts::{ArtifactStore, ArtifactStoreConfig};
use kiln_runner::disk::DiskReserve;
use kiln_runner::executor::Executor;
use kiln_runner::local_source::LocalSourcePolicies;
use kiln_store::{ClaimRequest, Store};
use kiln_store_conformance::fixtures::{ACCOUNT, project, queued_build};
use kiln_store_sqlite::SqliteStore;
use tokio_util::sync::CancellationToken;

use super::*;

const INSTANCE: &str = "replica-test";

async fn manager(dir: &tempfile::TempDir) -> (Arc<dyn Store>, Arc<BuildManager>) {
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("kiln.db"))
            .await
            .unwrap(),
    );
    let manager = BuildManager::new(
        Arc::clone(&store),
        Arc::new(BadgeEpoch::default()),
        BuildSettings {
            data_dir: dir.path().to_path_buf(),
            instance: INSTANCE.into(),
            max_concurrent_builds: 1,
            local_builds: true,
            max_concurrent_builds_per_account: None,
            lease: DEFAULT_LEASE,
            region: "us-east-1".into(),
            public_url: "http://127.0.0.1:1".into(),
            minute: Duration::from_secs(60),
            artifact_store: Arc::new(ArtifactStore::new(ArtifactStoreConfig::Local {
                root: dir.path().join("artifacts"),
            })),
            executor: Executor::local(),
            registry_credentials: Default::default(),
            source_hosts: Default::default(),
            local_sources: LocalSourcePolicies::new(
                dir.path().to_path_buf(),
                1,
                Default::default(),
            ),
            max_log_bytes: 64 << 20,
            disk_reserve: DiskReserve::new(dir.path(), None),
            runtimes: Default::default(),
            max_cache_archive_bytes: kiln_runner::cache::DEFAULT_MAX_CACHE_ARCHIVE_BYTES,
            secrets_cipher: Arc::new(crate::secrets::Cipher::new(&[7; crate::secrets::KEY_BYTES])),
        },
    );
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    (store, manager)
}

/// Queues a build and claims it as the manager's instance, listed as running (as `launch`
/// lists it) without running anything; returns its uuid, stop token and released flag.
async fn hold_a_build(
    store: &Arc<dyn Store>,
    manager: &BuildManager,
) -> (String, CancellationToken, Arc<AtomicBool>) {
    store
        .create_project(&project(ACCOUNT, "p", 1.0))
        .await
        .unwrap();
    let mut build = queued_build(ACCOUNT, "p", 1, None);
    build.start_time = now_epoch();
    store.insert_build(&mut build, 0.0).await.unwrap();
    let request = ClaimRequest {
        owner: INSTANCE,
        now: now_epoch(),
        lease_seconds: DEFAULT_LEASE.as_secs_f64(),
        capacity: 1,
        account_limit: None,
        minute_seconds: 60.0,
        fleet: kiln_store::ClaimFleet::OnDemand { overflow: &[] },
    };
    let claimed = store.claim_builds(&request).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let stop = CancellationToken::new();
    let released = Arc::new(AtomicBool::new(false));
    manager.running().insert(
        build.uuid.clone(),
        Running {
            stop: stop.clone(),
            released: Arc::clone(&released),
        },
    );
    (build.uuid, stop, released)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_request_cancels_the_running_build_well_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let (store, manager) = manager(&dir).await;
    let (uuid, stop, _) = hold_a_build(&store, &manager).await;
    tokio::spawn(Arc::clone(&manager).follow_events(store.subscribe()));
    let asked = Instant::now();
    store
        .request_stop(ACCOUNT, &uuid, now_epoch())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(1), stop.cancelled())
        .await
        .expect("the build was not cancelled within a second");
    assert!(
        asked.elapsed() < Duration::from_millis(500),
        "{:?}",
        asked.elapsed()
    );
}

#[tokio::test]
async fn a_build_whose_lease_expired_is_cancelled_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (store, manager) = manager(&dir).await;
    let (uuid, stop, released) = hold_a_build(&store, &manager).await;
    manager.heartbeat_once().await;
    assert!(!stop.is_cancelled(), "a renewed lease keeps its build");

    let later = now_epoch() + DEFAULT_LEASE.as_secs_f64() + 1.0;
    assert_eq!(store.expire_leases(later).await.unwrap().len(), 1);
    manager.heartbeat_once().await;
    assert!(stop.is_cancelled());
    assert!(
        released.load(Ordering::SeqCst),
        "nothing more of it is saved"
    );
    let log = std::fs::read_to_string(manager.log_path(&uuid)).unwrap();
    assert!(
        log.contains("instance replica-test lost the build's lease"),
        "{log}"
    );
}

#[tokio::test]
async fn a_stop_requested_before_the_build_was_listed_is_seen_by_the_heartbeat() {
    let dir = tempfile::tempdir().unwrap();
    let (store, manager) = manager(&dir).await;
    let (uuid, stop, released) = hold_a_build(&store, &manager).await;
    // No event follower: only the renewal can tell.
    store
        .request_stop(ACCOUNT, &uuid, now_epoch())
        .await
        .unwrap();
    manager.heartbeat_once().await;
    assert!(stop.is_cancelled());
    assert!(
        !released.load(Ordering::SeqCst),
        "the lease is still held: it saves STOPPED"
    );
}

#[tokio::test]
async fn a_failed_build_is_retried_as_the_scheduler_ends_it_and_only_once() {
    let dir = tempfile::tempdir().unwrap();
    let (store, manager) = manager(&dir).await;
    store
        .create_project(&project(ACCOUNT, "p", 1.0))
        .await
        .unwrap();
    let mut build = queued_build(ACCOUNT, "p", 1, None);
    build.start_time = now_epoch();
    build.auto_retry = kiln_domain::retry::AutoRetry::first(1);
    store.insert_build(&mut build, 0.0).await.unwrap();
    let request = ClaimRequest {
        owner: INSTANCE,
        now: now_epoch(),
        lease_seconds: DEFAULT_LEASE.as_secs_f64(),
        capacity: 1,
        account_limit: None,
        minute_seconds: 60.0,
        fleet: kiln_store::ClaimFleet::OnDemand { overflow: &[] },
    };
    let leased = store.claim_builds(&request).await.unwrap().remove(0);
    let sink = lease::LeasedSink {
        manager: Arc::clone(&manager),
        lease: leased.lease,
        released: Arc::new(AtomicBool::new(false)),
        stop: CancellationToken::new(),
        log_path: manager.log_path(&build.uuid),
    };
    let mut failed = leased.record;
    failed.abort(
        kiln_domain::build::BuildStatus::Failed,
        kiln_domain::build::PhaseContext::new("COMMAND_EXECUTION_ERROR", "exit 1"),
        now_epoch(),
    );
    sink.save_final(&failed).await;
    // What `launch` does after the final save, and what every replica's expiry loop repeats.
    manager.start_auto_retries().await;
    manager.start_auto_retries().await;
    let old = store
        .get_build(ACCOUNT, &build.uuid)
        .await
        .unwrap()
        .unwrap();
    let next = old.auto_retry.next.expect("the failed build was retried");
    let retry = store.get_build(ACCOUNT, &next).await.unwrap().unwrap();
    assert_eq!(retry.build_number, 2);
    assert_eq!(
        retry.auto_retry.previous.as_deref(),
        Some(build.uuid.as_str())
    );
    let page = store
        .list_builds(ACCOUNT, Some("p"), true, None, 10)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2, "retried once");
    let claimed = store.claim_builds(&request).await.unwrap();
    assert_eq!(claimed[0].record.uuid, next, "the retry is queued");
}
