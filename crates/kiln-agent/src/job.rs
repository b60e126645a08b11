//! One build on the agent: its spool, its log uploader, the sink that saves its progress
//! through the agent's lease, and the runner, exactly as a server runs a build.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kiln_domain::agent::{AssignedBuild, BuildProgress, log_chunk};
use kiln_domain::build::{BuildRecord, BuildStatus, PhaseContext, context_codes};
use kiln_domain::clock::now_epoch;
use kiln_domain::secrets::SecretReference;
use kiln_domain::source::hosts::CredentialHost;
use kiln_runner::artifacts::ArtifactStore;
use kiln_runner::build::{
    BuildJob, BuildLimits, BuildSink, CollectedReport, Resolved, SavedReport, SecretSource,
    append_log_line, run_build,
};
use kiln_runner::cache::{CacheSettings, DEFAULT_MAX_CACHE_ARCHIVE_BYTES};
use kiln_runner::disk::DiskReserve;
use kiln_runner::docker::RegistryAuth;
use kiln_runner::local_source::LocalSourcePolicy;
use kiln_runner::source::GitCredential;
use tokio_util::sync::CancellationToken;

use crate::client::{CallError, ServerClient, kinds};
use crate::log_upload::LogUploader;
use crate::{Agent, RunningBuild};

/// The longest pause between retries of a build's last save.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);

impl Agent {
    /// Runs `assigned` on a thread of its own; its slot is freed when it ends.
    pub(crate) fn launch(self: &Arc<Self>, assigned: AssignedBuild) {
        let uuid = assigned.record.uuid.clone();
        let running = RunningBuild {
            stop: CancellationToken::new(),
            lost: CancellationToken::new(),
            released: CancellationToken::new(),
        };
        self.running().insert(uuid.clone(), running.clone());
        self.running_changed.notify_waiters();
        let spool = self
            .config
            .work_dir
            .join("logs")
            .join(format!("{uuid}.log"));
        let header = format!(
            "Running on agent {} (fleet {}, kiln {})",
            self.config.name,
            self.fleet_name(),
            env!("CARGO_PKG_VERSION")
        );
        if let Err(e) = append_log_line(&spool, &header) {
            tracing::warn!(build = %uuid, error = %e, "cannot write the build log");
        }
        let registered = self.registered();
        let job = BuildJob {
            cache: CacheSettings::new(
                self.config.work_dir.join("cache"),
                assigned.cache_generation,
                DEFAULT_MAX_CACHE_ARCHIVE_BYTES,
            ),
            region: registered.region.clone(),
            work_dir: self.config.work_dir.join("work").join(&uuid),
            log_path: spool.clone(),
            source_credential: assigned.source_credential.map(|c| GitCredential {
                hosts: c
                    .hosts
                    .iter()
                    .filter_map(|h| CredentialHost::parse(h).ok())
                    .collect(),
                server_type: c.server_type,
                username: c.username,
                token: c.token.into(),
            }),
            local_sources: LocalSourcePolicy::anywhere_outside(self.config.work_dir.clone()),
            artifact_store: match &self.config.artifact_store {
                Some(store) => Arc::clone(store),
                None => Arc::new(ArtifactStore::new(self.client.relay_store_config(&uuid))),
            },
            minute: Duration::from_secs_f64(registered.minute_seconds),
            log_link: assigned.log_link,
            public_build_url: assigned.public_build_url,
            limits: BuildLimits {
                max_log_bytes: registered.max_log_bytes,
                disk_reserve: Some(DiskReserve::new(&self.config.work_dir, None)),
            },
            runtimes: Arc::clone(&self.config.runtimes),
            secrets: Arc::new(ServerSecrets {
                client: Arc::clone(&self.client),
                uuid: uuid.clone(),
            }),
            record: assigned.record,
        };
        let registry_auth = assigned.registry_credential.map(|c| RegistryAuth {
            username: c.username,
            password: c.password.into(),
            server: c.server,
        });
        let sink = AgentSink {
            client: Arc::clone(&self.client),
            uuid: uuid.clone(),
            lease_version: assigned.lease_version,
            running: running.clone(),
        };
        let uploader = LogUploader::start(
            Arc::clone(&self.client),
            uuid.clone(),
            spool.clone(),
            registered
                .log_encodings
                .iter()
                .any(|e| e == log_chunk::LZ4_BLOCK),
            running.lost.clone(),
        );
        let agent = Arc::clone(self);
        let runtime = tokio::runtime::Handle::current();
        // As on the server: the build future is not `Send`, so it runs on a thread of its own.
        tokio::task::spawn_blocking(move || {
            let last_state = job.record.clone();
            let executor = agent.config.executor.clone();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                runtime.block_on(async {
                    let finished =
                        run_build(&executor, job, registry_auth, &sink, running.stop.clone()).await;
                    uploader.finish().await;
                    sink.save_final(&finished).await;
                })
            }));
            if outcome.is_err() {
                runtime.block_on(async {
                    let mut record = last_state;
                    record.abort(
                        BuildStatus::Fault,
                        PhaseContext::new(
                            context_codes::SERVER_ERROR,
                            "the Kiln agent hit an internal error while running this build",
                        ),
                        now_epoch(),
                    );
                    sink.save_final(&record).await;
                });
            }
            let _ = std::fs::remove_file(&spool);
            agent.running().remove(&uuid);
            agent.running_changed.notify_waiters();
        });
    }
}

/// Resolves the build's secret references on the server, which holds the values and the key:
/// the agent never stores them (docs/security.md).
struct ServerSecrets {
    client: Arc<ServerClient>,
    uuid: String,
}

#[async_trait]
impl SecretSource for ServerSecrets {
    async fn resolve(&self, references: &[SecretReference]) -> Result<Resolved, String> {
        self.client
            .secrets(&self.uuid, references)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Saves the runner's states through the agent's lease.
struct AgentSink {
    client: Arc<ServerClient>,
    uuid: String,
    lease_version: i64,
    running: RunningBuild,
}

impl AgentSink {
    /// The agent no longer holds the build: it is stopped at once and nothing more is saved.
    fn lose(&self) {
        if !self.running.released.is_cancelled() {
            tracing::warn!(build = %self.uuid, "the build is no longer this agent's; it is stopped");
        }
        self.running.released.cancel();
        self.running.lost.cancel();
        self.running.stop.cancel();
    }

    async fn try_save(&self, record: &BuildRecord) -> Result<(), CallError> {
        if self.running.released.is_cancelled() {
            return Ok(());
        }
        let progress = BuildProgress::of(record, self.lease_version);
        match self.client.progress(&self.uuid, &progress).await {
            Err(e) if e.is(kinds::NOT_HELD) => {
                self.lose();
                Ok(())
            }
            other => other,
        }
    }

    /// Saves the build's last state, retrying while the server cannot be reached, until it is
    /// saved or the build is no longer the agent's (its lease expired meanwhile).
    async fn save_final(&self, record: &BuildRecord) {
        let mut pause = Duration::from_millis(100);
        loop {
            match self.try_save(record).await {
                Ok(()) => {
                    self.running.released.cancel();
                    return;
                }
                Err(e @ CallError::Unreachable(_)) => {
                    tracing::warn!(build = %self.uuid, error = %e, "cannot save the build's last state yet; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = self.running.lost.cancelled() => return,
                    }
                    pause = (pause * 2).min(MAX_RETRY_PAUSE);
                }
                Err(e) => {
                    tracing::error!(build = %self.uuid, error = %e, "the server refused the build's last state");
                    return;
                }
            }
        }
    }
}

#[async_trait]
impl BuildSink for AgentSink {
    /// Every state but the last, once: a state that cannot be sent now is carried by the next
    /// (each holds the whole progress). The last waits for the log, in `save_final`.
    async fn save(&self, record: &BuildRecord) {
        if record.is_complete() {
            return;
        }
        if let Err(e) = self.try_save(record).await {
            tracing::warn!(build = %self.uuid, error = %e, "cannot save the build's state");
        }
    }

    async fn save_reports(
        &self,
        _record: &BuildRecord,
        reports: Vec<CollectedReport>,
    ) -> Vec<Result<SavedReport, String>> {
        let count = reports.len();
        match self.client.reports(&self.uuid, &reports).await {
            Ok(saved) if saved.len() == count => saved,
            Ok(_) => vec![Err("the server answered for other reports".into()); count],
            Err(e) => {
                if e.is(kinds::NOT_HELD) {
                    self.lose();
                }
                vec![Err(format!("the reports could not be sent to Kiln: {e}")); count]
            }
        }
    }
}
