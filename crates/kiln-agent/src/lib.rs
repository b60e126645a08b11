//! `kiln agent`: runs builds of one fleet on this machine for the Kiln servers it connects
//! out to. The agent registers with its token, long-polls for builds of its fleet, runs each
//! with `kiln-runner` (the same phases, shell session, Docker executor and git source as a
//! server), ships its log in sequenced chunks, renews its leases by heartbeat and stops a
//! build as soon as a watch says so. It opens every connection itself: the machine needs no
//! inbound port. See `docs/agents.md`.

pub mod client;
mod job;
mod log_upload;
mod orders;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use kiln_domain::agent::{Registered, Registration};
use kiln_runner::artifacts::ArtifactStore;
use kiln_runner::executor::Executor;
use kiln_runner::runtimes::RuntimeTable;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::client::{CallError, ServerClient, kinds};

/// The longest pause between attempts to reach the server.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);

/// What `kiln agent` was started with.
pub struct AgentConfig {
    /// The agent's name in logs, leases and the console.
    pub name: String,
    /// The fleet the operator means it for; the server checks it against the token's.
    pub fleet: Option<String>,
    /// How many builds it runs at once.
    pub max_builds: u32,
    pub labels: Vec<String>,
    pub executor: Executor,
    /// Where builds run (`work/<uuid>`) and their logs are spooled (`logs/<uuid>.log`).
    pub work_dir: PathBuf,
    /// The S3-compatible store artifacts go to; `None`: through the server, which writes them
    /// to its own store (for machines that cannot reach it).
    pub artifact_store: Option<Arc<ArtifactStore>>,
    /// How INSTALL's `runtime-versions` are selected (`[runtimes]` of kiln.toml).
    pub runtimes: Arc<RuntimeTable>,
}

impl AgentConfig {
    /// What the agent tells the server of itself when it registers.
    fn registration(&self) -> Registration {
        Registration {
            name: self.name.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            os: std::env::consts::OS.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
            executor: self.executor.name().to_owned(),
            capacity: self.max_builds,
            labels: self.labels.clone(),
            cpus: std::thread::available_parallelism()
                .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX)),
            memory_mib: memory_mib(),
            fleet: self.fleet.clone(),
        }
    }
}

/// Why the agent stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("the server refused this agent: {0}")]
    Refused(CallError),
    #[error("cannot prepare the work directory {0}: {1}")]
    WorkDir(PathBuf, std::io::Error),
}

/// A build this agent runs.
#[derive(Clone)]
pub(crate) struct RunningBuild {
    /// Stops the build (StopBuild, or the lease is gone).
    pub stop: CancellationToken,
    /// Cancelled once the agent no longer holds the build: nothing more of it is sent.
    pub lost: CancellationToken,
    /// Cancelled once the build's last state is saved (the lease is released) or the lease is
    /// lost: the heartbeat and the watch no longer list it while its thread winds down.
    pub released: CancellationToken,
}

pub(crate) struct Agent {
    config: AgentConfig,
    client: Arc<ServerClient>,
    registered: RwLock<Registered>,
    running: Mutex<HashMap<String, RunningBuild>>,
    /// Notified when a build starts or ends (the watch and the claim loop look again).
    running_changed: Notify,
}

impl Agent {
    pub(crate) fn running(&self) -> MutexGuard<'_, HashMap<String, RunningBuild>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The builds whose leases the agent still holds.
    pub(crate) fn running_ids(&self) -> Vec<String> {
        self.running()
            .iter()
            .filter(|(_, build)| !build.released.is_cancelled())
            .map(|(uuid, _)| uuid.clone())
            .collect()
    }

    pub(crate) fn registered(&self) -> Registered {
        self.registered
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn fleet_name(&self) -> String {
        self.registered().fleet_name
    }

    /// Registers again after the server forgot the session (the agent's builds are then lost
    /// to it, and end by lease expiry).
    async fn register_again(&self) -> Result<(), AgentError> {
        let registered = register(&self.client, &self.config.registration()).await?;
        *self
            .registered
            .write()
            .unwrap_or_else(PoisonError::into_inner) = registered;
        Ok(())
    }
}

/// Registers, retrying while the server cannot be reached; a refusal is final.
async fn register(
    client: &ServerClient,
    registration: &Registration,
) -> Result<Registered, AgentError> {
    let mut pause = Duration::from_millis(200);
    loop {
        match client.register(registration).await {
            Ok(registered) => return Ok(registered),
            Err(e @ CallError::Unreachable(_)) => {
                tracing::warn!(error = %e, "cannot register yet; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_RETRY_PAUSE);
            }
            Err(e) => return Err(AgentError::Refused(e)),
        }
    }
}

/// Runs the agent until `shutdown` is cancelled (then running builds get `grace` to finish)
/// or the server refuses it (a revoked token).
pub async fn run(
    config: AgentConfig,
    client: ServerClient,
    shutdown: CancellationToken,
    grace: Duration,
) -> Result<(), AgentError> {
    for dir in ["work", "logs"] {
        let path = config.work_dir.join(dir);
        std::fs::create_dir_all(&path).map_err(|e| AgentError::WorkDir(path, e))?;
    }
    clean_leftovers(&config);
    let client = Arc::new(client);
    let registered = register(&client, &config.registration()).await?;
    tracing::info!(
        agent = %config.name,
        fleet = %registered.fleet_name,
        capacity = config.max_builds,
        executor = config.executor.name(),
        "agent registered"
    );
    let agent = Arc::new(Agent {
        config,
        client: Arc::clone(&client),
        registered: RwLock::new(registered),
        running: Mutex::new(HashMap::new()),
        running_changed: Notify::new(),
    });
    let refused = CancellationToken::new();
    tokio::spawn(Arc::clone(&agent).heartbeat_loop(refused.clone()));
    tokio::spawn(Arc::clone(&agent).watch_loop());
    let outcome = tokio::select! {
        outcome = Arc::clone(&agent).claim_loop() => outcome,
        () = shutdown.cancelled() => Ok(()),
        () = refused.cancelled() => Err(AgentError::Refused(CallError::Refused {
            kind: kinds::UNAUTHORIZED.into(),
            message: "the agent token was revoked".into(),
        })),
    };
    agent.drain(grace).await;
    if let Err(e) = client.deregister().await {
        tracing::warn!(error = %e, "cannot say goodbye to the server");
    }
    outcome
}

impl Agent {
    /// Takes builds while slots are free.
    async fn claim_loop(self: Arc<Self>) -> Result<(), AgentError> {
        let mut pause = Duration::from_millis(200);
        loop {
            let free = self
                .config
                .max_builds
                .saturating_sub(u32::try_from(self.running().len()).unwrap_or(u32::MAX));
            if free == 0 {
                let changed = self.running_changed.notified();
                if self.running().len() >= self.config.max_builds as usize {
                    changed.await;
                }
                continue;
            }
            let poll = Duration::from_secs_f64(self.registered().poll_seconds);
            match self.client.claim(free, poll).await {
                Ok(assigned) => {
                    pause = Duration::from_millis(200);
                    for build in assigned {
                        tracing::info!(build = %build.record.id(), "build claimed");
                        self.launch(build);
                    }
                }
                Err(e) if e.is(kinds::SESSION_GONE) => self.register_again().await?,
                Err(e @ CallError::Unreachable(_)) => {
                    tracing::warn!(error = %e, "cannot claim builds; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_RETRY_PAUSE);
                }
                Err(e) => return Err(AgentError::Refused(e)),
            }
        }
    }

    /// Lets running builds finish for up to `grace`, then stops them and waits for their
    /// last states.
    async fn drain(&self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        while !self.running().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for build in self.running().values() {
            build.stop.cancel();
        }
        let hard_deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while !self.running().is_empty() && tokio::time::Instant::now() < hard_deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Removes what a previous agent process in this work dir left: the processes its builds
/// left running, their work directories and log spools. Their builds end by lease expiry on
/// the server; a container it left is reaped by the Docker executor as it starts.
fn clean_leftovers(config: &AgentConfig) {
    let work = config.work_dir.join("work");
    for entry in std::fs::read_dir(&work).into_iter().flatten().flatten() {
        let Some(uuid) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let killed =
            kiln_runner::build::kill_leftover_processes(&config.executor, &entry.path(), &uuid);
        tracing::warn!(build = %uuid, process_groups = killed, "removing what a previous agent left");
        let _ = std::fs::remove_dir_all(entry.path());
    }
    for entry in std::fs::read_dir(config.work_dir.join("logs"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let _ = std::fs::remove_file(entry.path());
    }
}

/// This machine's memory in MiB (0 when it cannot be read).
fn memory_mib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        })
        .map_or(0, |kib| kib / 1024)
}
