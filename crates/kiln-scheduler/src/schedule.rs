//! Claiming queued builds and launching them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kiln_domain::build::{BuildRecord, BuildStatus, PhaseContext, context_codes};
use kiln_domain::clock::now_epoch;
use kiln_runner::build::{BuildJob, BuildLimits, run_build};
use kiln_runner::cache::CacheSettings;
use kiln_runner::docker::RegistryAuth;
use kiln_runner::source::GitCredential;
use kiln_store::{ClaimFleet, ClaimRequest, LeasedBuild, StoreError};
use tokio_util::sync::CancellationToken;

use crate::lease::LeasedSink;
use crate::log_shipper::LogShipper;
use crate::{BuildManager, Running};

/// How often the queue is looked at when no event said it changed: the safety net for a
/// missed wake-up (queued timeouts are the expiry loop's).
const SCHEDULE_POLL: Duration = Duration::from_secs(2);

impl BuildManager {
    pub(crate) async fn schedule_loop(self: Arc<Self>) {
        loop {
            if self.intake_closed.is_cancelled() {
                return;
            }
            if let Err(e) = self.schedule_once().await {
                tracing::error!(instance = %self.settings.instance, error = %e, "claiming builds failed");
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(SCHEDULE_POLL) => {}
                _ = self.intake_closed.cancelled() => return,
            }
        }
    }

    async fn schedule_once(self: &Arc<Self>) -> Result<(), StoreError> {
        if !self.settings.local_builds
            || self.running().len() >= self.settings.max_concurrent_builds
            || !self.disk_has_room()
        {
            return Ok(());
        }
        let overflow = self
            .store
            .overflowing_fleets(now_epoch() - self.agent_silence().as_secs_f64())
            .await?;
        let request = ClaimRequest {
            owner: &self.settings.instance,
            now: now_epoch(),
            lease_seconds: self.settings.lease.as_secs_f64(),
            capacity: u32::try_from(self.settings.max_concurrent_builds).unwrap_or(u32::MAX),
            account_limit: self.settings.max_concurrent_builds_per_account,
            minute_seconds: self.settings.minute.as_secs_f64(),
            fleet: ClaimFleet::OnDemand {
                overflow: &overflow,
            },
        };
        let started = std::time::Instant::now();
        let claimed = self.store.claim_builds(&request).await?;
        // bench/queue.sh reads these for the claim latency.
        tracing::debug!(
            count = claimed.len(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "claimed builds"
        );
        if claimed.is_empty() {
            return Ok(());
        }
        for build in claimed {
            self.launch(build).await;
        }
        // A StopBuild that landed between the claim and the launch set stop_requested before
        // these builds were listed as running: the renewal reports it.
        self.heartbeat_once().await;
        Ok(())
    }

    /// The project's cache generation, read when its build is claimed (docs/cache.md); `None`
    /// when the store cannot say, and the build then uses no cache.
    pub(crate) async fn cache_generation(&self, build: &BuildRecord) -> Option<i64> {
        match self
            .store
            .project_cache_generation(&build.account_id, &build.project_name)
            .await
        {
            Ok(generation) => Some(generation),
            Err(err) => {
                tracing::warn!(build = %build.id(), error = %err, "cannot read the project's cache generation");
                None
            }
        }
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

    async fn launch(self: &Arc<Self>, leased: LeasedBuild) {
        let LeasedBuild {
            record: build,
            lease,
        } = leased;
        let stop = CancellationToken::new();
        let released = Arc::new(AtomicBool::new(false));
        self.running().insert(
            build.uuid.clone(),
            Running {
                stop: stop.clone(),
                released: Arc::clone(&released),
            },
        );
        let instance = &self.settings.instance;
        tracing::info!(build = %build.id(), instance = %instance, "build claimed");
        let log_path = self.log_path(&build.uuid);
        if let Err(e) = kiln_runner::build::append_log_line(
            &log_path,
            &format!("Running on instance {instance}"),
        ) {
            tracing::warn!(build = %build.id(), error = %e, "cannot write the build log");
        }
        let credential = self.source_credential(&build).await;
        let registry_auth = self.registry_auth(&build);
        let executor = self.settings.executor.clone();
        let cache = CacheSettings::new(
            self.settings.data_dir.join("cache"),
            self.cache_generation(&build).await,
            self.settings.max_cache_archive_bytes,
        );
        let job = BuildJob {
            cache,
            region: self.settings.region.clone(),
            work_dir: self.settings.data_dir.join("work").join(&build.uuid),
            log_path,
            source_credential: credential,
            local_sources: self.local_sources(&build.account_id),
            artifact_store: Arc::clone(&self.settings.artifact_store),
            minute: self.settings.minute,
            log_link: self.log_link(&build),
            public_build_url: self.public_build_url(&build).await,
            limits: BuildLimits {
                max_log_bytes: self.settings.max_log_bytes,
                disk_reserve: Some(self.settings.disk_reserve.clone()),
            },
            runtimes: Arc::clone(&self.settings.runtimes),
            secrets: Arc::new(crate::secrets::AccountSecrets {
                vault: Arc::clone(&self.vault),
                account_id: build.account_id.clone(),
            }),
            record: build,
        };
        let mut shipper = LogShipper::start(
            Arc::clone(&self.store),
            job.record.uuid.clone(),
            job.log_path.clone(),
            self.intake_closed.clone(),
        );
        let manager = Arc::clone(self);
        let runtime = tokio::runtime::Handle::current();
        // The build future is not `Send` (it borrows across awaits in ways rustc cannot prove
        // `Send` for every lifetime), so each build drives it on a blocking thread of its own.
        tokio::task::spawn_blocking(move || {
            let uuid = job.record.uuid.clone();
            let mut last_state = job.record.clone();
            let sink = LeasedSink {
                manager: Arc::clone(&manager),
                lease,
                released,
                stop: stop.clone(),
                log_path: job.log_path.clone(),
            };
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                runtime.block_on(async {
                    let finished = run_build(&executor, job, registry_auth, &sink, stop).await;
                    // The whole log is stored before the build shows as complete.
                    shipper.finish().await;
                    sink.save_final(&finished).await;
                })
            }));
            if outcome.is_err() {
                // A bug in the runner must not leave the build IN_PROGRESS or hold its slot.
                runtime.block_on(async {
                    shipper.finish().await;
                    if let Ok(Some(saved)) =
                        manager.store.get_build(&last_state.account_id, &uuid).await
                    {
                        last_state = saved;
                    }
                    last_state.abort(
                        BuildStatus::Fault,
                        PhaseContext::new(
                            context_codes::SERVER_ERROR,
                            "Kiln hit an internal error while running this build",
                        ),
                        now_epoch(),
                    );
                    sink.save_final(&last_state).await;
                });
            }
            manager.running().remove(&uuid);
            // A build that ended FAILED, FAULT or TIMED_OUT may owe a retry: made now, not at
            // the next expiry sweep.
            runtime.block_on(manager.start_auto_retries());
            manager.wake();
        });
    }

    /// The registry credential the build's project names, if this server has it.
    pub(crate) fn registry_auth(&self, build: &BuildRecord) -> Option<RegistryAuth> {
        let name = build
            .settings
            .environment
            .registry_credential
            .as_ref()?
            .credential
            .as_deref()?;
        self.settings.registry_credentials.get(name).cloned()
    }

    /// The imported credential for the build's source provider, if any, bound to the
    /// provider's hosts.
    pub(crate) async fn source_credential(&self, build: &BuildRecord) -> Option<GitCredential> {
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
