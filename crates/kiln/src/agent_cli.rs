//! `kiln agent`: flags, then `KILN_AGENT_*` variables (both through clap), then the `[agent]`
//! section of `kiln.toml` (with its `[artifacts]` and `[docker]`), then defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use kiln_agent::AgentConfig;
use kiln_agent::client::ServerClient;
use kiln_runner::artifacts::{ArtifactStore, ArtifactStoreConfig};
use kiln_runner::docker::DockerConfig;
use kiln_runner::executor::{Executor, ExecutorChoice};
use kiln_runner::runtimes::RuntimeSelector;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::config::{ArtifactStoreConfig as ArtifactsSection, DockerSection};

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The Kiln server (any replica, or the load balancer in front of them), e.g.
    /// https://kiln.example.com.
    #[arg(long, env = "KILN_AGENT_SERVER")]
    pub server: Option<String>,
    /// The agent token `kiln agent-token create` printed. Prefer KILN_AGENT_TOKEN or
    /// kiln.toml: a flag is visible to every user of this machine.
    #[arg(long, env = "KILN_AGENT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The fleet this machine is meant for; the server refuses a token of another fleet.
    #[arg(long, env = "KILN_AGENT_FLEET")]
    pub fleet: Option<String>,
    /// Builds this machine runs at once (default 1).
    #[arg(long, env = "KILN_AGENT_MAX_BUILDS")]
    pub max_builds: Option<u32>,
    /// Where builds run: `local`, `docker` or `auto` (default local).
    #[arg(long, env = "KILN_AGENT_EXECUTOR")]
    pub executor: Option<String>,
    /// Where builds and their log spools live (default ./kiln-agent).
    #[arg(long, env = "KILN_AGENT_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
    /// The agent's name in logs and the console (default: the host name).
    #[arg(long, env = "KILN_AGENT_NAME")]
    pub name: Option<String>,
    /// Labels the agent reports (repeat, or comma-separated).
    #[arg(long = "label", env = "KILN_AGENT_LABELS", value_delimiter = ',')]
    pub labels: Vec<String>,
    /// Seconds running builds get to finish after SIGTERM before they are stopped.
    #[arg(long, env = "KILN_AGENT_SHUTDOWN_GRACE_SECONDS")]
    pub shutdown_grace_seconds: Option<u64>,
    /// Configuration file (default: ./kiln.toml when it exists).
    #[arg(long, env = "KILN_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The parts of `kiln.toml` the agent reads; the server's keys are left to `kiln serve`.
#[derive(Debug, Default, Deserialize)]
struct AgentFile {
    #[serde(default)]
    agent: AgentSection,
    artifacts: Option<ArtifactsSection>,
    #[serde(default)]
    docker: DockerSection,
    #[serde(default)]
    runtimes: BTreeMap<String, RuntimeSelector>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    server: Option<String>,
    token: Option<String>,
    fleet: Option<String>,
    max_builds: Option<u32>,
    executor: Option<String>,
    work_dir: Option<PathBuf>,
    name: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
    shutdown_grace_seconds: Option<u64>,
}

pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    let file = load(args.config.as_deref())?;
    let section = file.agent;
    let server = args
        .server
        .or(section.server)
        .context("--server (KILN_AGENT_SERVER) is required: the URL of a Kiln server")?;
    if !(server.starts_with("http://") || server.starts_with("https://")) {
        bail!("server {server:?} must start with http:// or https://");
    }
    let token = args
        .token
        .or(section.token)
        .context("--token (KILN_AGENT_TOKEN) is required: see `kiln agent-token create`")?;
    let work_dir = args
        .work_dir
        .or(section.work_dir)
        .unwrap_or_else(|| PathBuf::from("./kiln-agent"));
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("creating the work directory {}", work_dir.display()))?;
    let work_dir = std::fs::canonicalize(&work_dir)?;
    let name = match args.name.or(section.name) {
        Some(name) => name,
        None => crate::config::host_name().unwrap_or_else(|| "kiln-agent".to_owned()),
    };
    let choice: ExecutorChoice = match args.executor.or(section.executor) {
        None => ExecutorChoice::Local,
        Some(text) => text
            .parse()
            .map_err(|_| anyhow::anyhow!("executor {text:?} must be docker, local or auto"))?,
    };
    let executor = Executor::select(
        choice,
        &DockerConfig {
            host: file.docker.host.clone(),
            images: file.docker.images.clone(),
            // Containers are labelled with the agent's name: a restarted agent reaps its own.
            instance: file.docker.instance.clone().unwrap_or_else(|| name.clone()),
        },
        kiln_runner::build_user::UidRange::DEFAULT,
    )
    .await
    .context("setting up the build executor")?;
    // Without an `[artifacts]` store of its own, the agent sends artifacts through the server.
    let artifact_store = file.artifacts.as_ref().map(|s3| {
        Arc::new(ArtifactStore::new(ArtifactStoreConfig::S3 {
            allow_http: s3.s3_endpoint.starts_with("http://"),
            endpoint: Some(s3.s3_endpoint.clone()),
            region: s3.region.clone().unwrap_or_else(|| "us-east-1".to_owned()),
            access_key_id: s3.access_key_id.clone(),
            secret_access_key: s3.secret_access_key.clone().into(),
        }))
    });
    let labels = if args.labels.is_empty() {
        section.labels
    } else {
        args.labels
    };
    let config = AgentConfig {
        name,
        fleet: args.fleet.or(section.fleet),
        max_builds: args.max_builds.or(section.max_builds).unwrap_or(1),
        labels,
        executor,
        work_dir,
        artifact_store,
        runtimes: Arc::new(crate::config::runtime_table(file.runtimes)?),
    };
    let grace = Duration::from_secs(
        args.shutdown_grace_seconds
            .or(section.shutdown_grace_seconds)
            .unwrap_or(60),
    );
    let client = ServerClient::new(&server, token.into())
        .map_err(|e| anyhow::anyhow!("cannot make an HTTP client: {e}"))?;
    let shutdown = CancellationToken::new();
    let signal = crate::shutdown_signal();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        signal.await;
        on_signal.cancel();
    });
    println!("kiln agent {} connecting to {server}", config.name);
    kiln_agent::run(config, client, shutdown, grace).await?;
    Ok(())
}

fn load(explicit: Option<&std::path::Path>) -> anyhow::Result<AgentFile> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let default = PathBuf::from("kiln.toml");
            if !default.exists() {
                return Ok(AgentFile::default());
            }
            default
        }
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
}
