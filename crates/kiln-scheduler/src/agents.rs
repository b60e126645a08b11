//! The queue as agents see it (`kiln agent`, through any replica's agent endpoints): claims
//! for one fleet, heartbeats that renew only the builds an agent lists, progress saved through
//! the agent's lease, log chunks appended at the offset the store has reached, and a watch
//! that answers as soon as a build must stop. Every check is against the store, so any replica
//! serves any agent. See `docs/agents.md`.

use std::collections::HashSet;
use std::time::Duration;

use kiln_domain::agent::{
    AssignedBuild, AssignedCredential, AssignedRegistryCredential, BuildOrders, BuildProgress,
    MAX_LOG_CHUNK_BYTES,
};
use kiln_domain::build::BuildRecord;
use kiln_domain::clock::now_epoch;
use kiln_runner::build::{CollectedReport, SavedReport};
use kiln_store::{AgentSession, ClaimFleet, ClaimRequest, Lease, StoreError, StoreEvent};
use secrecy::ExposeSecret;

use crate::BuildManager;

/// Why an agent's call about a build was refused.
#[derive(Debug, thiserror::Error)]
pub enum AgentCallError {
    /// The agent does not hold the build (any more): its lease expired, the build ended, or
    /// it never was the agent's.
    #[error("this agent does not hold build {0}")]
    NotHeld(String),
    /// The call is malformed or out of bounds.
    #[error("{0}")]
    Invalid(String),
    /// A log chunk would leave a gap: the store has `expected` bytes.
    #[error("the log has {expected} bytes stored; a chunk must start at or before that")]
    LogGap { expected: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BuildManager {
    /// How long a lease lasts unless renewed.
    pub fn lease(&self) -> Duration {
        self.settings.lease
    }

    /// How long an agent may stay silent before it no longer counts as connected: its
    /// builds' leases have expired by then.
    pub fn agent_silence(&self) -> Duration {
        self.settings.lease
    }

    /// Each build's log size limit in bytes.
    pub fn max_log_bytes(&self) -> u64 {
        self.settings.max_log_bytes
    }

    pub fn region(&self) -> &str {
        &self.settings.region
    }

    /// Claims builds of the agent's fleet for `session`, waiting up to `wait` for one to be
    /// queued. Each comes with what the agent needs to run it, credentials included.
    pub async fn claim_for_agent(
        &self,
        session: &AgentSession,
        wait: Duration,
    ) -> Result<Vec<AssignedBuild>, StoreError> {
        let owner = session.lease_owner();
        let deadline = tokio::time::Instant::now() + wait;
        // Subscribed before the first look: a build queued meanwhile wakes this claim.
        let mut events = self.store.subscribe();
        loop {
            if self.intake_closed.is_cancelled() {
                return Ok(Vec::new());
            }
            let request = ClaimRequest {
                owner: &owner,
                now: now_epoch(),
                lease_seconds: self.settings.lease.as_secs_f64(),
                capacity: u32::try_from(session.capacity).unwrap_or(0),
                account_limit: self.settings.max_concurrent_builds_per_account,
                minute_seconds: self.settings.minute.as_secs_f64(),
                fleet: ClaimFleet::Fleet(&session.fleet_arn),
            };
            let claimed = self.store.claim_builds(&request).await?;
            if !claimed.is_empty() {
                let mut assigned = Vec::with_capacity(claimed.len());
                for leased in claimed {
                    tracing::info!(build = %leased.record.id(), agent = %session.name, "build claimed by an agent");
                    assigned.push(self.assign(leased.record, leased.lease.version).await);
                }
                return Ok(assigned);
            }
            let queue_changed = async {
                while let Some(event) = events.next().await {
                    if matches!(event, StoreEvent::QueueChanged | StoreEvent::FeedResumed) {
                        return true;
                    }
                }
                false
            };
            if !self.wait_until(deadline, queue_changed).await {
                return Ok(Vec::new());
            }
        }
    }

    async fn assign(&self, record: BuildRecord, lease_version: i64) -> AssignedBuild {
        let source_credential = self
            .source_credential(&record)
            .await
            .map(|c| AssignedCredential {
                server_type: c.server_type,
                username: c.username,
                token: c.token.expose_secret().to_owned(),
                hosts: c.hosts.iter().map(ToString::to_string).collect(),
            });
        let registry_credential =
            self.registry_auth(&record)
                .map(|auth| AssignedRegistryCredential {
                    username: auth.username,
                    password: auth.password.expose_secret().to_owned(),
                    server: auth.server,
                });
        AssignedBuild {
            cache_generation: self.cache_generation(&record).await,
            log_link: self.log_link(&record),
            public_build_url: self.public_build_url(&record).await,
            lease_version,
            source_credential,
            registry_credential,
            record,
        }
    }

    /// The agent's heartbeat: renews the leases of the builds it lists and says which of them
    /// must stop or are no longer its own. `None` when the session is gone (replaced by a
    /// restarted agent, or its token revoked): the agent registers again.
    pub async fn agent_heartbeat(
        &self,
        session: &AgentSession,
        builds: &[String],
    ) -> Result<Option<BuildOrders>, StoreError> {
        if !self
            .store
            .touch_agent(&session.session, now_epoch())
            .await?
        {
            return Ok(None);
        }
        self.orders(session, builds).await.map(Some)
    }

    /// Renews the listed leases and sorts the builds into those to stop and those lost.
    async fn orders(
        &self,
        session: &AgentSession,
        builds: &[String],
    ) -> Result<BuildOrders, StoreError> {
        let held = self
            .store
            .renew_listed_leases(
                &session.lease_owner(),
                builds,
                now_epoch(),
                self.settings.lease.as_secs_f64(),
            )
            .await?;
        let held_ids: HashSet<&str> = held.iter().map(|h| h.uuid.as_str()).collect();
        Ok(BuildOrders {
            stop: held
                .iter()
                .filter(|h| h.stop_requested)
                .map(|h| h.uuid.clone())
                .collect(),
            lost: builds
                .iter()
                .filter(|uuid| !held_ids.contains(uuid.as_str()))
                .cloned()
                .collect(),
        })
    }

    /// Waits up to `wait` until one of the listed builds must stop or is lost, and says which.
    pub async fn agent_watch(
        &self,
        session: &AgentSession,
        builds: &[String],
        wait: Duration,
    ) -> Result<BuildOrders, StoreError> {
        let deadline = tokio::time::Instant::now() + wait;
        let listed: HashSet<&str> = builds.iter().map(String::as_str).collect();
        let mut events = self.store.subscribe();
        loop {
            let orders = self.orders(session, builds).await?;
            if !orders.is_empty() {
                return Ok(orders);
            }
            // A stop request names its build; an expiry or a deletion moves the queue.
            let may_have_changed = async {
                while let Some(event) = events.next().await {
                    match event {
                        StoreEvent::StopRequested { uuid } if listed.contains(uuid.as_str()) => {
                            return true;
                        }
                        StoreEvent::QueueChanged | StoreEvent::FeedResumed => return true,
                        _ => {}
                    }
                }
                false
            };
            if !self.wait_until(deadline, may_have_changed).await {
                return Ok(BuildOrders::default());
            }
        }
    }

    /// Waits for `event` until `deadline`: false when the deadline passed, the feed ended or
    /// the server began to shut down (a long poll then answers at once).
    async fn wait_until(
        &self,
        deadline: tokio::time::Instant,
        event: impl std::future::Future<Output = bool>,
    ) -> bool {
        tokio::select! {
            happened = event => happened,
            () = tokio::time::sleep_until(deadline) => false,
            () = self.intake_closed.cancelled() => false,
        }
    }

    /// The build as the agent's lease holds it, or `NotHeld`.
    pub(crate) async fn held_by(
        &self,
        session: &AgentSession,
        uuid: &str,
    ) -> Result<BuildRecord, AgentCallError> {
        match self.store.leased_build(uuid).await? {
            Some(leased)
                if leased.lease.owner == session.lease_owner()
                    && leased.record.account_id == session.account_id =>
            {
                Ok(leased.record)
            }
            _ => Err(AgentCallError::NotHeld(uuid.to_owned())),
        }
    }

    /// Saves what the agent's runner reports of a build, through the agent's lease.
    pub async fn save_agent_progress(
        &self,
        session: &AgentSession,
        uuid: &str,
        progress: BuildProgress,
    ) -> Result<(), AgentCallError> {
        let stored = self.held_by(session, uuid).await?;
        let lease = Lease {
            owner: session.lease_owner(),
            version: progress.lease_version,
        };
        let mut record = progress
            .apply_to(&stored)
            .map_err(|refused| AgentCallError::Invalid(refused.0))?;
        record.agent = Some(session.name.clone());
        if record.is_complete() {
            // The agent ships its whole log before it saves the last state.
            self.copy_log_to_s3(&record).await;
        }
        let _change = self
            .badges
            .begin_change(&record.account_id, &record.project_name);
        match self.store.save_leased_build(&record, &lease).await {
            Ok(()) => {
                self.metrics.ended(&record);
                Ok(())
            }
            Err(StoreError::LeaseLost) => Err(AgentCallError::NotHeld(uuid.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    /// Appends a chunk of a build's log that starts at byte `offset`: bytes the store already
    /// has are skipped (a chunk resent after a dropped answer), a chunk past the stored end is
    /// a gap. Returns how many bytes are stored now.
    pub async fn append_agent_log(
        &self,
        session: &AgentSession,
        uuid: &str,
        offset: u64,
        data: &[u8],
    ) -> Result<u64, AgentCallError> {
        if data.len() > MAX_LOG_CHUNK_BYTES {
            return Err(AgentCallError::Invalid(format!(
                "a log chunk is at most {MAX_LOG_CHUNK_BYTES} bytes"
            )));
        }
        self.held_by(session, uuid).await?;
        let size = self.store.log_size(uuid).await?;
        if offset > size {
            return Err(AgentCallError::LogGap { expected: size });
        }
        let skip = usize::try_from(size - offset).unwrap_or(usize::MAX);
        let Some(new) = data.get(skip..).filter(|new| !new.is_empty()) else {
            return Ok(size);
        };
        // The runner cuts the log at the limit and says so; a little room is left for its
        // own last lines.
        let end = size.saturating_add(new.len() as u64);
        if end > self.settings.max_log_bytes.saturating_add(64 * 1024) {
            return Err(AgentCallError::Invalid(format!(
                "the log would exceed the limit of {} bytes",
                self.settings.max_log_bytes
            )));
        }
        let mut offset = size;
        for piece in new.chunks(kiln_store::MAX_LOG_CHUNK_BYTES) {
            self.store.append_log(uuid, offset, piece).await?;
            offset += piece.len() as u64;
        }
        Ok(end)
    }

    /// Makes the reports of a build the agent ran, from what its runner collected.
    pub async fn save_agent_reports(
        &self,
        session: &AgentSession,
        uuid: &str,
        reports: Vec<CollectedReport>,
    ) -> Result<Vec<Result<SavedReport, String>>, AgentCallError> {
        let record = self.held_by(session, uuid).await?;
        Ok(
            crate::reports::save_all(self.store.as_ref(), &self.settings.region, &record, reports)
                .await,
        )
    }

    /// The values of a build's secret references, for the agent that holds its lease: always
    /// of the build's account, over the agent's authenticated channel (docs/security.md).
    pub async fn resolve_agent_secrets(
        &self,
        session: &AgentSession,
        uuid: &str,
        references: &[kiln_domain::secrets::SecretReference],
    ) -> Result<kiln_runner::build::Resolved, AgentCallError> {
        let record = self.held_by(session, uuid).await?;
        self.vault
            .resolve(&record.account_id, references)
            .await
            .map_err(|e| match e {
                crate::secrets::VaultError::Store(e) => AgentCallError::Store(e),
                other => {
                    tracing::error!(build = %uuid, error = %other, "cannot resolve a build's secrets");
                    AgentCallError::Invalid(other.to_string())
                }
            })
    }
}
