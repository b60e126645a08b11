//! Keeping leases: the runner's saves through its lease, the heartbeat, stop requests, and
//! the expiry every replica runs.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use kiln_domain::build::BuildRecord;
use kiln_domain::clock::now_epoch;
use kiln_runner::build::{BuildSink, CollectedReport, SavedReport};
use kiln_store::{EventSubscription, Lease, StoreError, StoreEvent};
use tokio_util::sync::CancellationToken;

use crate::BuildManager;

/// How often every replica ends expired leases and queued builds past their timeout.
const EXPIRY_INTERVAL: Duration = Duration::from_secs(1);

/// Saves every state the runner reports through the build's lease, and tells badges about it.
pub(crate) struct LeasedSink {
    pub manager: Arc<BuildManager>,
    pub lease: Lease,
    /// Set once this process no longer holds the lease (lost, or released by the final save).
    pub released: Arc<AtomicBool>,
    pub stop: CancellationToken,
    pub log_path: PathBuf,
}

impl LeasedSink {
    /// Saves once; `Err` only when the store could not write (not for a lost lease).
    async fn try_save(&self, record: &BuildRecord) -> Result<(), StoreError> {
        if self.released.load(Ordering::SeqCst) {
            return Ok(());
        }
        let saved = {
            let _change = self
                .manager
                .badges
                .begin_change(&record.account_id, &record.project_name);
            self.manager
                .store
                .save_leased_build(record, &self.lease)
                .await
        };
        match saved {
            Ok(()) => {
                if record.is_complete() {
                    self.released.store(true, Ordering::SeqCst);
                    self.manager.metrics.ended(record);
                }
                Ok(())
            }
            Err(StoreError::LeaseLost) => {
                self.manager
                    .lose_lease(&record.id(), &self.stop, &self.released, &self.log_path);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Saves a finished build's last state, retrying while the store cannot write (a full
    /// disk): the build keeps its slot until its outcome is recorded or its lease is gone.
    pub async fn save_final(&self, record: &BuildRecord) {
        if !self.released.load(Ordering::SeqCst) {
            self.manager.copy_log_to_s3(record).await;
        }
        let mut pause = Duration::from_millis(100);
        loop {
            match self.try_save(record).await {
                Ok(()) => return,
                Err(e) if e.is_unavailable() && !self.manager.intake_closed.is_cancelled() => {
                    tracing::warn!(build = %record.id(), error = %e, "cannot save the build's final state yet; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(10));
                }
                Err(e) => {
                    tracing::error!(build = %record.id(), error = %e, "cannot save the build's final state");
                    return;
                }
            }
        }
    }
}

#[async_trait]
impl BuildSink for LeasedSink {
    /// Every state but the last: the complete one waits for [`LeasedSink::save_final`], after
    /// the log is stored, so a build that shows as complete has its whole log in the store.
    async fn save(&self, record: &BuildRecord) {
        if record.is_complete() {
            return;
        }
        if let Err(e) = self.try_save(record).await {
            tracing::error!(build = %record.id(), error = %e, "cannot save build state");
        }
    }

    async fn save_reports(
        &self,
        record: &BuildRecord,
        reports: Vec<CollectedReport>,
    ) -> Vec<Result<SavedReport, String>> {
        let manager = &self.manager;
        crate::reports::save_all(
            manager.store.as_ref(),
            &manager.settings.region,
            record,
            reports,
        )
        .await
    }
}

impl BuildManager {
    /// This process no longer holds a build it runs: the build is cancelled at once and
    /// nothing more of it is saved (whoever holds it now owns its record).
    pub(crate) fn lose_lease(
        &self,
        build_id: &str,
        stop: &CancellationToken,
        released: &AtomicBool,
        log_path: &std::path::Path,
    ) {
        if released.swap(true, Ordering::SeqCst) {
            return;
        }
        stop.cancel();
        let instance = &self.settings.instance;
        tracing::warn!(build = %build_id, instance = %instance, "lease lost; the build is cancelled");
        let line = format!("Build cancelled: instance {instance} lost the build's lease");
        if let Err(e) = kiln_runner::build::append_log_line(log_path, &line) {
            tracing::warn!(build = %build_id, error = %e, "cannot write the build log");
        }
    }

    pub(crate) async fn heartbeat_loop(self: Arc<Self>) {
        let period = self.settings.lease / 3;
        loop {
            tokio::time::sleep(period).await;
            self.heartbeat_once().await;
        }
    }

    /// Renews this replica's leases; stops the builds whose stop was requested, and cancels
    /// those it no longer holds.
    pub(crate) async fn heartbeat_once(&self) {
        // Only a build that ran before the renewal began can be missing from it: one launched
        // meanwhile (a claim racing the renewal) may have been claimed after the renewal read.
        let listed: HashSet<String> = self.running().keys().cloned().collect();
        let renewed = self
            .store
            .renew_leases(
                &self.settings.instance,
                now_epoch(),
                self.settings.lease.as_secs_f64(),
            )
            .await;
        let held: HashMap<String, bool> = match renewed {
            Ok(held) => held
                .into_iter()
                .map(|h| (h.uuid, h.stop_requested))
                .collect(),
            Err(e) => {
                tracing::error!(instance = %self.settings.instance, error = %e, "cannot renew leases");
                return;
            }
        };
        let running = self.running();
        for (uuid, build) in running.iter() {
            match held.get(uuid) {
                Some(true) => build.stop.cancel(),
                Some(false) => {}
                None if listed.contains(uuid) => {
                    self.lose_lease(uuid, &build.stop, &build.released, &self.log_path(uuid));
                }
                None => {}
            }
        }
    }

    /// Wakes the scheduler on queue changes and stops builds on request, as the store's
    /// change feed announces them.
    pub(crate) async fn follow_events(self: Arc<Self>, mut events: EventSubscription) {
        while let Some(event) = events.next().await {
            match event {
                StoreEvent::QueueChanged => self.wake(),
                StoreEvent::StopRequested { uuid } => {
                    if let Some(build) = self.running().get(&uuid) {
                        build.stop.cancel();
                    }
                }
                // Events may have been missed: look at the queue and the leases again.
                StoreEvent::FeedResumed => {
                    self.wake();
                    self.heartbeat_once().await;
                }
                _ => {}
            }
        }
    }

    /// Ends, on any replica's behalf, builds whose lease expired and queued builds past their
    /// timeout; the store ends each exactly once, whoever else tries.
    pub(crate) async fn expiry_loop(self: Arc<Self>) {
        loop {
            tokio::time::sleep(EXPIRY_INTERVAL).await;
            let now = now_epoch();
            match self.store.expire_leases(now).await {
                Ok(ended) => {
                    for build in &ended {
                        tracing::warn!(build = %build.id(), "build ended as FAULT: its lease expired");
                        self.metrics.ended(build);
                    }
                    self.badges_changed(&ended);
                }
                Err(e) => tracing::error!(error = %e, "cannot expire leases"),
            }
            let minute = self.settings.minute.as_secs_f64();
            match self.store.expire_queued(now, minute).await {
                Ok(ended) => {
                    for build in &ended {
                        self.metrics.ended(build);
                    }
                    self.badges_changed(&ended);
                }
                Err(e) => tracing::error!(error = %e, "cannot time out queued builds"),
            }
            // After the expiries: the builds they ended FAULT or TIMED_OUT are retried at once.
            // Also the safety net for a replica that stopped between a final save and its retry.
            self.start_auto_retries().await;
        }
    }

    /// Queues the automatic retries that ended builds owe, on any replica's behalf; the store
    /// makes each exactly once, whoever else tries (`docs/queue.md`).
    pub(crate) async fn start_auto_retries(&self) {
        match self.store.start_auto_retries(now_epoch()).await {
            Ok(made) if !made.is_empty() => {
                for retry in &made {
                    tracing::info!(
                        build = %retry.id(),
                        number = retry.auto_retry.number,
                        "build queued as an automatic retry"
                    );
                }
                self.badges_changed(&made);
                self.wake();
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot start automatic retries"),
        }
    }

    /// Builds another writer's decision ended: cached badges of their projects are dropped.
    fn badges_changed(&self, ended: &[BuildRecord]) {
        for build in ended {
            drop(
                self.badges
                    .begin_change(&build.account_id, &build.project_name),
            );
        }
    }
}
