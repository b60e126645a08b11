//! The build scheduler: claims queued builds from the store with a lease (within this
//! replica's capacity, each project's `concurrentBuildLimit` and the account limit, all
//! counted by the store), runs them with the runner, renews their leases by heartbeat, stops
//! them on request, and ends builds whose leases expired or that waited too long in the queue.
//! Nothing here counts builds in memory for a limit: any number of replicas share one queue.
//! See `docs/queue.md`.

mod agent_artifacts;
mod agents;
mod lease;
mod log_shipper;
mod metrics;
mod recovery;
mod reports;
mod s3_logs;
mod schedule;
pub mod secrets;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

pub use agents::AgentCallError;
use kiln_domain::badge_epoch::BadgeEpoch;
use kiln_domain::build::BuildRecord;
use kiln_domain::clock::now_epoch;
use kiln_domain::source::hosts::SourceHosts;
use kiln_runner::artifacts::ArtifactStore;
use kiln_runner::disk::DiskReserve;
use kiln_runner::docker::RegistryAuth;
use kiln_runner::executor::Executor;
use kiln_runner::local_source::{LocalSourcePolicies, LocalSourcePolicy};
use kiln_runner::runtimes::RuntimeTable;
use kiln_store::{Store, StoreError};
pub use metrics::BuildMetrics;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long a lease lasts unless renewed, by default.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// Settings of the build manager.
pub struct BuildSettings {
    pub data_dir: PathBuf,
    /// This replica's instance name: the owner of the leases it takes.
    pub instance: String,
    /// The most builds this replica runs at once.
    pub max_concurrent_builds: usize,
    /// Whether this replica runs builds itself (on-demand capacity); without, only agents do.
    pub local_builds: bool,
    /// The most builds one account may run at once, across all replicas.
    pub max_concurrent_builds_per_account: Option<u32>,
    /// How long a lease lasts unless renewed; renewed every third of it.
    pub lease: Duration,
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
    /// The largest project cache archive saved or restored (`max_cache_archive_bytes`).
    pub max_cache_archive_bytes: u64,
    /// The data dir's free-space reserve: below it queued builds wait and running ones end.
    pub disk_reserve: DiskReserve,
    /// How INSTALL's `runtime-versions` are selected (`[runtimes]` of kiln.toml).
    pub runtimes: Arc<RuntimeTable>,
    /// Encrypts and decrypts parameter and secret values (Kiln's secrets key).
    pub secrets_cipher: Arc<secrets::Cipher>,
}

/// A build this replica runs.
struct Running {
    stop: CancellationToken,
    /// Set once this process no longer holds the lease: lost (the build is cancelled and
    /// nothing more of it is saved) or released by the final save.
    released: Arc<AtomicBool>,
}

pub struct BuildManager {
    store: Arc<dyn Store>,
    badges: Arc<BadgeEpoch>,
    settings: BuildSettings,
    running: Mutex<HashMap<String, Running>>,
    wake: Notify,
    /// Cancelled when the server shuts down: no queued build is claimed after that.
    intake_closed: CancellationToken,
    /// Whether queued builds wait for disk space (so the change is logged once).
    waiting_for_disk: AtomicBool,
    metrics: BuildMetrics,
    vault: Arc<secrets::Vault>,
}

impl BuildManager {
    pub fn new(
        store: Arc<dyn Store>,
        badges: Arc<BadgeEpoch>,
        settings: BuildSettings,
    ) -> Arc<Self> {
        let vault = Arc::new(secrets::Vault::new(
            Arc::clone(&store),
            Arc::clone(&settings.secrets_cipher),
        ));
        Arc::new(BuildManager {
            vault,
            store,
            badges,
            settings,
            running: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            intake_closed: CancellationToken::new(),
            waiting_for_disk: AtomicBool::new(false),
            metrics: BuildMetrics::default(),
        })
    }

    /// The builds this replica ended, for `/metrics`.
    pub fn metrics(&self) -> &BuildMetrics {
        &self.metrics
    }

    /// The file the runner writes the build's log to: the store's own where it keeps logs as
    /// files, else a spool in the data dir that the log shipper copies into the store.
    pub fn log_path(&self, uuid: &str) -> PathBuf {
        self.store.log_file(uuid).unwrap_or_else(|| {
            self.settings
                .data_dir
                .join("logs")
                .join(format!("{uuid}.log"))
        })
    }

    /// The build's page (and live log) in the console, for people: the log's first lines and
    /// the commit status a webhook build reports link to it.
    pub fn log_link(&self, build: &BuildRecord) -> String {
        build.console_link(&self.settings.public_url)
    }

    /// The build's public page while its project is public (`CODEBUILD_PUBLIC_BUILD_URL`;
    /// docs/public-builds.md). A project that cannot be read gives the build none.
    pub async fn public_build_url(&self, build: &BuildRecord) -> Option<String> {
        let project = self
            .store
            .get_project(&build.account_id, &build.project_name)
            .await
            .inspect_err(
                |e| tracing::warn!(build = %build.id(), error = %e, "cannot read the project"),
            )
            .ok()??;
        let alias = project.public.public_alias()?;
        Some(kiln_domain::visibility::public_build_url(
            &self.settings.public_url,
            alias,
            &build.uuid,
        ))
    }

    /// Parameter and secret values: the SSM and Secrets Manager APIs' and the builds'.
    pub fn vault(&self) -> &Arc<secrets::Vault> {
        &self.vault
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

    fn running(&self) -> MutexGuard<'_, HashMap<String, Running>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends the builds this data dir's previous process left running, then starts claiming,
    /// the heartbeat and the expiry of leases and queued builds.
    pub async fn recover_and_start(self: &Arc<Self>) -> Result<(), StoreError> {
        for dir in ["logs", "work"] {
            if let Err(e) = std::fs::create_dir_all(self.settings.data_dir.join(dir)) {
                tracing::error!(error = %e, dir, "cannot create data directory");
            }
        }
        // Subscribed before the first claim: no queue change or stop request is missed.
        let events = self.store.subscribe();
        self.recover_own_work().await?;
        tokio::spawn(Arc::clone(self).follow_events(events));
        tokio::spawn(Arc::clone(self).heartbeat_loop());
        tokio::spawn(Arc::clone(self).expiry_loop());
        tokio::spawn(Arc::clone(self).schedule_loop());
        Ok(())
    }

    /// Tells the scheduler a build was queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// StopBuild: a queued build ends STOPPED at once; a running one (on any replica) is asked
    /// to stop, and its owner stops it. Returns the build as it now stands.
    pub async fn stop(&self, build: &BuildRecord) -> Result<BuildRecord, StoreError> {
        let _change = self
            .badges
            .begin_change(&build.account_id, &build.project_name);
        let was_complete = build.is_complete();
        let build = self
            .store
            .request_stop(&build.account_id, &build.uuid, now_epoch())
            .await?;
        // A queued build ends here, in the store; a running one ends where it runs.
        let ended_in_queue = !build.phases.iter().any(|p| {
            p.phase_type > kiln_domain::build::PhaseType::Queued
                && p.phase_type != kiln_domain::build::PhaseType::Completed
        });
        if !was_complete && build.is_complete() && ended_in_queue {
            self.metrics.ended(&build);
        }
        Ok(build)
    }

    /// Deletes a project: its queued builds end STOPPED (counted as ended here) and its running
    /// builds (on any replica) are asked to stop, in the store's transaction. Returns whether
    /// there was one.
    pub async fn delete_project(&self, account_id: &str, name: &str) -> Result<bool, StoreError> {
        let Some(stopped) = self
            .store
            .delete_project(account_id, name, now_epoch())
            .await?
        else {
            return Ok(false);
        };
        for build in &stopped {
            self.metrics.ended(build);
        }
        Ok(true)
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
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed step fails the test.
mod tests;
impl BuildManager {
    /// InvalidateProjectCache: moves the project's cache generation on in the store, so every
    /// replica and agent misses what was cached before, then deletes the S3 cache's older
    /// objects in the background (docs/cache.md).
    pub async fn invalidate_project_cache(
        &self,
        project: &kiln_domain::project::ProjectRecord,
    ) -> Result<i64, StoreError> {
        let generation = self
            .store
            .invalidate_project_cache(&project.account_id, &project.name)
            .await?;
        let kind = kiln_runner::cache::CacheKind::of(project.settings.cache.as_ref());
        if matches!(kind, kiln_runner::cache::CacheKind::S3 { .. }) {
            let artifacts = Arc::clone(&self.settings.artifact_store);
            let (account, name) = (project.account_id.clone(), project.name.clone());
            tokio::spawn(async move {
                let deleted = kiln_runner::cache::delete_older_generations(
                    &artifacts, &kind, &account, &name, generation,
                )
                .await;
                match deleted {
                    Ok(count) => {
                        tracing::info!(project = %name, objects = count, "invalidated cache deleted")
                    }
                    Err(err) => {
                        tracing::warn!(project = %name, error = %err, "cannot delete an invalidated cache")
                    }
                }
            });
        }
        Ok(generation)
    }
}
