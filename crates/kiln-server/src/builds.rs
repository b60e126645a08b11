//! The build manager: queues builds, runs at most N at once (and each project's
//! `concurrentBuildLimit`), stops them, and recovers after a crash.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use kiln_domain::build::{BuildRecord, BuildStatus, PhaseContext, PhaseType, context_codes};
use kiln_domain::source::hosts::SourceHosts;
use kiln_runner::artifacts::ArtifactStore;
use kiln_runner::build::{BuildJob, BuildLimits, BuildSink, run_build};
use kiln_runner::disk::DiskReserve;
use kiln_runner::docker::RegistryAuth;
use kiln_runner::executor::Executor;
use kiln_runner::local_source::{LocalSourcePolicies, LocalSourcePolicy};
use kiln_runner::source::GitCredential;
use kiln_store::Store;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::badges::BadgeEpoch;
use crate::log_shipper::LogShipper;

/// Settings of the build manager.
pub struct BuildSettings {
    pub data_dir: PathBuf,
    pub max_concurrent_builds: usize,
    pub region: String,
    pub public_url: String,
    /// Length of one "minute" of `timeoutInMinutes` (shortened only by tests).
    pub minute: Duration,
    pub artifact_store: Arc<ArtifactStore>,
    pub executor: Executor,
    /// Registry credentials by the name a project's `registryCredential.credential` gives.
    pub registry_credentials: HashMap<String, RegistryAuth>,
    /// The hosts of the forges whose host is configured (GitHub Enterprise, GitLab self-managed).
    pub source_hosts: SourceHosts,
    /// Which host paths each account's builds may check out.
    pub local_sources: LocalSourcePolicies,
    /// Each build's log size limit in bytes.
    pub max_log_bytes: u64,
    /// The data dir's free-space reserve: below it queued builds wait and running ones end.
    pub disk_reserve: DiskReserve,
}

/// A running build's handles.
struct Running {
    account_id: String,
    project_name: String,
    stop: CancellationToken,
}

pub struct BuildManager {
    store: Arc<dyn Store>,
    badges: Arc<BadgeEpoch>,
    settings: BuildSettings,
    running: Mutex<HashMap<String, Running>>,
    wake: Notify,
    /// Held while a queued build is re-read and marked running, while a queued build is
    /// stopped and while a project is deleted: a build stopped or dropped from the queue is
    /// never launched afterwards.
    launch_gate: tokio::sync::Mutex<()>,
    /// Cancelled when the server shuts down: no queued build starts after that.
    intake_closed: CancellationToken,
    /// Whether queued builds wait for disk space (so the change is logged once).
    waiting_for_disk: AtomicBool,
}

impl BuildManager {
    pub fn new(
        store: Arc<dyn Store>,
        badges: Arc<BadgeEpoch>,
        settings: BuildSettings,
    ) -> Arc<Self> {
        Arc::new(BuildManager {
            store,
            badges,
            settings,
            running: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            launch_gate: tokio::sync::Mutex::new(()),
            intake_closed: CancellationToken::new(),
            waiting_for_disk: AtomicBool::new(false),
        })
    }

    pub fn log_path(&self, uuid: &str) -> PathBuf {
        self.settings
            .data_dir
            .join("logs")
            .join(format!("{uuid}.log"))
    }

    pub fn log_link(&self, uuid: &str) -> String {
        format!("{}/builds/{uuid}/log", self.settings.public_url)
    }

    pub fn minute(&self) -> Duration {
        self.settings.minute
    }

    /// Where builds upload their artifacts; the console serves downloads from it.
    pub fn artifact_store(&self) -> &ArtifactStore {
        &self.settings.artifact_store
    }

    /// The local-source rule of `account_id`, for the API and for its builds.
    pub fn local_sources(&self, account_id: &str) -> LocalSourcePolicy {
        self.settings.local_sources.for_account(account_id)
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn is_running(&self, uuid: &str) -> bool {
        self.running().contains_key(uuid)
    }

    /// Ends builds that were running when Kiln died, then starts the scheduler.
    pub async fn recover_and_start(self: &Arc<Self>) -> Result<(), kiln_store::StoreError> {
        for dir in ["logs", "work"] {
            if let Err(e) = std::fs::create_dir_all(self.settings.data_dir.join(dir)) {
                tracing::error!(error = %e, dir, "cannot create data directory");
            }
        }
        for mut build in self.store.incomplete_builds().await? {
            if build.current_phase > PhaseType::Queued {
                // What the build logged before Kiln stopped is kept with its end.
                LogShipper::start(
                    Arc::clone(&self.store),
                    build.uuid.clone(),
                    self.log_path(&build.uuid),
                    self.settings.disk_reserve.clone(),
                    self.intake_closed.clone(),
                )
                .finish()
                .await;
                build.abort(
                    BuildStatus::Fault,
                    PhaseContext::new(
                        context_codes::SERVER_ERROR,
                        "Kiln stopped while this build was running; the build cannot be resumed",
                    ),
                    now_epoch(),
                );
                {
                    let _change = self
                        .badges
                        .begin_change(&build.account_id, &build.project_name);
                    self.store.save_build(&build).await?;
                }
                tracing::warn!(build = %build.id(), "build ended as FAULT after a restart");
            }
            // What a dead build left running is killed and its work directory removed; queued
            // builds have neither.
            let work_dir = self.settings.data_dir.join("work").join(&build.uuid);
            let killed = kiln_runner::build::kill_leftover_processes(
                &self.settings.executor,
                &work_dir,
                &build.id(),
            );
            if killed > 0 {
                tracing::warn!(build = %build.id(), process_groups = killed, "killed what the build left running");
            }
            let _ = std::fs::remove_dir_all(&work_dir);
        }
        let manager = Arc::clone(self);
        tokio::spawn(async move { manager.schedule_loop().await });
        Ok(())
    }

    /// Tells the scheduler a build was queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops a build: a running one is cancelled, a queued one ends at once.
    pub async fn stop(&self, build: &mut BuildRecord) -> Result<(), kiln_store::StoreError> {
        let _gate = self.launch_gate.lock().await;
        if let Some(running) = self.running().get(&build.uuid) {
            running.stop.cancel();
            return Ok(());
        }
        if !build.is_complete() {
            build.abort(
                BuildStatus::Stopped,
                PhaseContext::new(context_codes::BUILD_STOPPED, "Build was stopped"),
                now_epoch(),
            );
            let _change = self
                .badges
                .begin_change(&build.account_id, &build.project_name);
            self.store.save_build(build).await?;
        }
        Ok(())
    }

    /// Deletes a project: its queued builds end STOPPED (in the store's transaction) and its
    /// running builds are stopped. Returns whether there was a project.
    pub async fn delete_project(
        &self,
        account_id: &str,
        name: &str,
    ) -> Result<bool, kiln_store::StoreError> {
        let _gate = self.launch_gate.lock().await;
        let deleted = self
            .store
            .delete_project(account_id, name, now_epoch())
            .await?;
        if deleted {
            let running = self.running();
            let of_project = running
                .values()
                .filter(|r| r.account_id == account_id && r.project_name == name);
            for build in of_project {
                build.stop.cancel();
            }
        }
        Ok(deleted)
    }

    /// Stops intake and waits up to `grace` for running builds; the rest are stopped.
    pub async fn shutdown(&self, grace: Duration) {
        self.intake_closed.cancel();
        let deadline = tokio::time::Instant::now() + grace;
        while !self.running().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let left: Vec<CancellationToken> =
            self.running().values().map(|r| r.stop.clone()).collect();
        for stop in &left {
            stop.cancel();
        }
        let hard_deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !self.running().is_empty() && tokio::time::Instant::now() < hard_deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn schedule_loop(self: Arc<Self>) {
        loop {
            if self.intake_closed.is_cancelled() {
                return;
            }
            if let Err(e) = self.schedule_once().await {
                tracing::error!(error = %e, "scheduling builds failed");
            }
            // Queued timeouts are checked at least once a second.
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = self.intake_closed.cancelled() => return,
            }
        }
    }

    async fn schedule_once(self: &Arc<Self>) -> Result<(), kiln_store::StoreError> {
        let queued: Vec<BuildRecord> = self
            .store
            .incomplete_builds()
            .await?
            .into_iter()
            .filter(|b| b.current_phase <= PhaseType::Queued && !self.is_running(&b.uuid))
            .collect();
        let now = now_epoch();
        let disk_has_room = queued.is_empty() || self.disk_has_room();
        for mut build in queued {
            let queued_limit = self.settings.minute.as_secs_f64()
                * build.settings.queued_timeout_in_minutes as f64;
            if now - build.start_time > queued_limit {
                build.abort(
                    BuildStatus::TimedOut,
                    PhaseContext::new(
                        context_codes::BUILD_TIMED_OUT,
                        "Build has timed out while queued",
                    ),
                    now,
                );
                {
                    let _change = self
                        .badges
                        .begin_change(&build.account_id, &build.project_name);
                    self.store.save_build(&build).await?;
                }
                continue;
            }
            if !disk_has_room || !self.has_slot(&build).await? {
                continue;
            }
            let _gate = self.launch_gate.lock().await;
            // Since the queue was read, the build may have been stopped or its project deleted.
            match self.store.get_build(&build.account_id, &build.uuid).await? {
                Some(fresh) if !fresh.is_complete() => self.launch(fresh).await,
                _ => continue,
            }
        }
        Ok(())
    }

    /// Whether the data dir's free space is above its reserve, so builds may start. Below it
    /// they stay QUEUED (until their queued timeout): a disk is often freed soon, and a build
    /// refused at StartBuild (a webhook's) would be lost.
    fn disk_has_room(&self) -> bool {
        let check = self.settings.disk_reserve.check();
        let was_waiting = self
            .waiting_for_disk
            .swap(check.is_err(), Ordering::Relaxed);
        match &check {
            Err(full) if !was_waiting => {
                tracing::warn!("queued builds wait until space is freed: {full}");
            }
            Ok(()) if was_waiting => tracing::info!("disk space is back above the reserve"),
            _ => {}
        }
        check.is_ok()
    }

    /// Whether the build may start now: a free global slot and room under its project's limit.
    async fn has_slot(&self, build: &BuildRecord) -> Result<bool, kiln_store::StoreError> {
        let (total, in_project) = {
            let running = self.running();
            let in_project = running
                .values()
                .filter(|r| {
                    r.account_id == build.account_id && r.project_name == build.project_name
                })
                .count();
            (running.len(), in_project)
        };
        if total >= self.settings.max_concurrent_builds {
            return Ok(false);
        }
        let project_limit = self
            .store
            .get_project(&build.account_id, &build.project_name)
            .await?
            .and_then(|p| p.settings.concurrent_build_limit);
        Ok(project_limit.is_none_or(|limit| (in_project as i64) < limit))
    }

    async fn launch(self: &Arc<Self>, build: BuildRecord) {
        let stop = CancellationToken::new();
        self.running().insert(
            build.uuid.clone(),
            Running {
                account_id: build.account_id.clone(),
                project_name: build.project_name.clone(),
                stop: stop.clone(),
            },
        );
        let credential = self.source_credential(&build).await;
        let registry_auth = build
            .settings
            .environment
            .registry_credential
            .as_ref()
            .and_then(|r| r.credential.as_deref())
            .and_then(|name| self.settings.registry_credentials.get(name).cloned());
        let executor = self.settings.executor.clone();
        let job = BuildJob {
            region: self.settings.region.clone(),
            work_dir: self.settings.data_dir.join("work").join(&build.uuid),
            log_path: self.log_path(&build.uuid),
            source_credential: credential,
            local_sources: self.local_sources(&build.account_id),
            artifact_store: Arc::clone(&self.settings.artifact_store),
            minute: self.settings.minute,
            log_link: self.log_link(&build.uuid),
            limits: BuildLimits {
                max_log_bytes: self.settings.max_log_bytes,
                disk_reserve: Some(self.settings.disk_reserve.clone()),
            },
            record: build,
        };
        let mut shipper = LogShipper::start(
            Arc::clone(&self.store),
            job.record.uuid.clone(),
            job.log_path.clone(),
            self.settings.disk_reserve.clone(),
            self.intake_closed.clone(),
        );
        let manager = Arc::clone(self);
        let runtime = tokio::runtime::Handle::current();
        // The build future is not `Send` (it borrows across awaits in ways rustc cannot prove
        // `Send` for every lifetime), so each build drives it on a blocking thread of its own.
        tokio::task::spawn_blocking(move || {
            let uuid = job.record.uuid.clone();
            let fallback = job.record.clone();
            let sink = StoreSink {
                store: Arc::clone(&manager.store),
                badges: Arc::clone(&manager.badges),
            };
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                runtime.block_on(async {
                    let finished = run_build(&executor, job, registry_auth, &sink, stop).await;
                    // The whole log is stored before the build shows as complete.
                    shipper.finish().await;
                    manager.save_final(&finished).await;
                })
            }));
            if outcome.is_err() {
                // A bug in the runner must not leave the build IN_PROGRESS or hold its slot.
                runtime.block_on(async {
                    shipper.finish().await;
                    let mut faulted =
                        match manager.store.get_build(&fallback.account_id, &uuid).await {
                            Ok(Some(saved)) => saved,
                            _ => fallback,
                        };
                    faulted.abort(
                        BuildStatus::Fault,
                        PhaseContext::new(
                            context_codes::SERVER_ERROR,
                            "Kiln hit an internal error while running this build",
                        ),
                        now_epoch(),
                    );
                    manager.save_final(&faulted).await;
                });
            }
            manager.running().remove(&uuid);
            manager.wake();
        });
    }

    /// Saves a finished build's last state, retrying while the store cannot write (a full
    /// disk): the build keeps its slot until its outcome is recorded.
    async fn save_final(&self, record: &BuildRecord) {
        let mut pause = Duration::from_millis(100);
        loop {
            let saved = {
                let _change = self
                    .badges
                    .begin_change(&record.account_id, &record.project_name);
                self.store.save_build(record).await
            };
            match saved {
                // The project (and so the build) was deleted meanwhile: nothing to record.
                Ok(()) | Err(kiln_store::StoreError::NotFound) => return,
                Err(e) if e.is_unavailable() && !self.intake_closed.is_cancelled() => {
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

    /// The imported credential for the build's source provider, if any, bound to the
    /// provider's hosts.
    async fn source_credential(&self, build: &BuildRecord) -> Option<GitCredential> {
        let server_type = build.settings.source.source_type.as_deref()?;
        let credentials = match self.store.source_credentials(&build.account_id).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot read source credentials");
                return None;
            }
        };
        let credential = credentials
            .into_iter()
            .find(|c| c.server_type == server_type)?;
        let username = credential.username.clone().unwrap_or_else(|| {
            match server_type {
                "GITLAB" | "GITLAB_SELF_MANAGED" => "oauth2",
                "BITBUCKET" => "x-token-auth",
                _ => "x-access-token",
            }
            .to_string()
        });
        Some(GitCredential {
            hosts: self.settings.source_hosts.hosts_for(server_type),
            server_type: server_type.to_owned(),
            username,
            token: credential.token.into(),
        })
    }
}

/// Persists every state the runner reports but the last, and tells badges about it. The last
/// (complete) state waits for [`BuildManager::save_final`], after the log is stored: a build
/// that shows as complete has its whole log in the store.
struct StoreSink {
    store: Arc<dyn Store>,
    badges: Arc<BadgeEpoch>,
}

#[async_trait]
impl BuildSink for StoreSink {
    async fn save(&self, record: &BuildRecord) {
        if record.is_complete() {
            return;
        }
        let _change = self
            .badges
            .begin_change(&record.account_id, &record.project_name);
        match self.store.save_build(record).await {
            Ok(()) => {}
            // The build was deleted meanwhile: nothing to record.
            Err(kiln_store::StoreError::NotFound) => {}
            Err(e) => tracing::error!(build = %record.id(), error = %e, "cannot save build state"),
        }
    }
}

pub fn now_epoch() -> f64 {
    let now = time::OffsetDateTime::now_utc();
    // Millisecond precision, as CodeBuild reports times.
    (now.unix_timestamp_nanos() / 1_000_000) as f64 / 1000.0
}
