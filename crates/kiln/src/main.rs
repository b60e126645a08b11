//! The `kiln` binary.

mod agent_cli;
mod agent_tokens;
mod config;
mod credentials;
mod data_dir;
mod database;
mod http;
mod logging;
mod secrets_key;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use kiln_domain::badge_epoch::BadgeEpoch;
use kiln_runner::artifacts::{ArtifactStore, ArtifactStoreConfig};
use kiln_runner::disk::DiskReserve;
use kiln_runner::docker::{DockerConfig, RegistryAuth};
use kiln_runner::executor::Executor;
use kiln_runner::local_source::LocalSourcePolicies;
use kiln_scheduler::{BuildManager, BuildSettings};
use kiln_server::auth::{Credential, KeyRing};
use kiln_server::badges::BadgeCache;
use kiln_server::console::{ConsoleConfig, FormKey};
use kiln_server::metrics::Metrics;
use kiln_server::state::AppState;
use kiln_sigv4::SecretKey;

use crate::config::{ServeArgs, Settings};

#[derive(Parser)]
#[command(
    name = "kiln",
    version,
    about = "A self-hosted build service that speaks the AWS CodeBuild API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How Kiln writes its own log to standard error: `text`, or `json` (one object a line).
    #[arg(
        long,
        global = true,
        env = "KILN_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: logging::LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Run builds of a fleet on this machine for the Kiln servers it connects to.
    Agent(agent_cli::AgentArgs),
    /// Make, list or revoke the tokens agents connect with.
    AgentToken(agent_tokens::AgentTokenArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    match cli.command {
        Command::Serve(args) => serve(Settings::resolve(args)?).await,
        Command::Agent(args) => agent_cli::run(args).await,
        Command::AgentToken(args) => agent_tokens::run(args).await,
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let real_data_dir = data_dir::prepare(&settings.data_dir, &settings.database)?;
    let store = settings.database.open().await?;
    let secrets_cipher = Arc::new(secrets_key::load(
        settings.secrets_key.as_ref(),
        &settings.data_dir,
        settings.database.is_shared(),
    )?);
    secrets_key::check_against_store(&secrets_cipher, store.as_ref()).await?;
    let credentials = credentials::resolve(&settings, store.as_ref()).await?;
    let accounts: BTreeSet<&str> = credentials.iter().map(|c| c.account_id.as_str()).collect();
    let local_sources = LocalSourcePolicies::new(
        real_data_dir,
        accounts.len(),
        local_source_roots(&credentials)?,
    );
    let several_accounts = accounts.len() > 1;

    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let bound = listener.local_addr()?;
    let public_url = settings
        .public_url
        .unwrap_or_else(|| format!("http://{bound}"));
    let keys = KeyRing::new(
        &settings.region,
        credentials
            .into_iter()
            .map(|c| Credential {
                access_key_id: c.access_key_id,
                secret_access_key: SecretKey::new(c.secret_access_key),
                account_id: c.account_id,
            })
            .collect(),
    );
    let artifact_store = ArtifactStore::new(match &settings.artifacts {
        None => ArtifactStoreConfig::Local {
            root: settings.data_dir.join("artifacts"),
        },
        Some(s3) => ArtifactStoreConfig::S3 {
            allow_http: s3.s3_endpoint.starts_with("http://"),
            endpoint: Some(s3.s3_endpoint.clone()),
            region: s3.region.clone().unwrap_or_else(|| settings.region.clone()),
            access_key_id: s3.access_key_id.clone(),
            secret_access_key: s3.secret_access_key.clone().into(),
        },
    });
    let executor = Executor::select(
        settings.executor,
        &DockerConfig {
            host: settings.docker.host.clone(),
            images: settings.docker.images.clone(),
            instance: settings.docker.instance.clone().unwrap_or_default(),
        },
        settings.build_uid_range,
    )
    .await
    .context("setting up the build executor")?;
    if matches!(executor, Executor::Local(_)) && several_accounts && !settings.trust_local_builds {
        bail!(
            "refusing the local executor{fallback}: several accounts are configured, and local \
             builds run on this host{rights}. Start with --trust-local-builds \
             (KILN_TRUST_LOCAL_BUILDS=true, or trust_local_builds = true in kiln.toml) to allow \
             it, or use --executor docker",
            fallback = if settings.executor == kiln_runner::executor::ExecutorChoice::Auto {
                " (auto found no Docker Engine)"
            } else {
                ""
            },
            rights = if executor.build_uid_range().is_some() {
                ", each as a user of its own that can read whatever this host lets anyone read"
            } else {
                " with Kiln's own rights, and can read its database"
            },
        );
    }
    let registry_credentials = settings
        .registry_credentials
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                RegistryAuth {
                    username: c.username.clone(),
                    password: c.password.clone().into(),
                    server: c.server.clone(),
                },
            )
        })
        .collect();
    let form_key = FormKey::load(store.as_ref())
        .await
        .context("reading the console's form key")?;
    let badge_epoch = Arc::new(BadgeEpoch::default());
    kiln_server::badges::follow_store(Arc::clone(&badge_epoch), store.subscribe());
    let builds = BuildManager::new(
        Arc::clone(&store),
        Arc::clone(&badge_epoch),
        BuildSettings {
            data_dir: settings.data_dir.clone(),
            instance: settings.instance.clone(),
            max_concurrent_builds: settings.max_concurrent_builds,
            local_builds: settings.local_builds,
            max_concurrent_builds_per_account: settings.max_concurrent_builds_per_account,
            lease: settings.lease,
            region: settings.region.clone(),
            public_url: public_url.trim_end_matches('/').to_string(),
            minute: settings.minute,
            artifact_store: Arc::new(artifact_store),
            executor: executor.clone(),
            registry_credentials,
            source_hosts: settings.source_hosts.clone(),
            local_sources,
            max_log_bytes: settings.max_log_bytes,
            disk_reserve: DiskReserve::new(&settings.data_dir, settings.disk_reserve_bytes),
            runtimes: Arc::new(settings.runtimes.clone()),
            max_cache_archive_bytes: settings.max_cache_archive_bytes,
            secrets_cipher: Arc::clone(&secrets_cipher),
        },
    );
    builds
        .recover_and_start()
        .await
        .context("recovering builds")?;
    tracing::info!(
        instance = %settings.instance,
        executor = executor.name(),
        max_concurrent_builds = settings.max_concurrent_builds,
        build_uids = executor.build_uid_range().map(|r| r.to_string()),
        "build executor ready"
    );
    let state = Arc::new(AppState {
        store,
        region: settings.region,
        public_url: public_url.trim_end_matches('/').to_string(),
        keys,
        builds: Arc::clone(&builds),
        badge_epoch,
        badge_cache: BadgeCache::default(),
        metrics: Metrics::new(builds.metrics()),
        console: ConsoleConfig {
            trust_forwarded_for: settings.trust_forwarded_for,
            form_key,
            sign_in_backoff: settings.sign_in_backoff,
        },
    });
    if let Some(address) = settings.metrics_listen {
        serve_metrics(address, Arc::clone(&state)).await?;
    }
    let app = kiln_server::router(state);

    // Registered before anyone can learn the address: a SIGTERM from then on shuts down
    // cleanly (the handler was only installed once serving polled it, racing the first
    // requests).
    let shutdown = shutdown_signal();
    println!("listening on http://{bound}");
    let grace = settings.shutdown_grace;
    http::serve(listener, app, async move {
        shutdown.await;
        // Intake stops first; running builds get the grace period; then HTTP closes.
        builds.shutdown(grace).await;
    })
    .await
    .context("serving")?;
    Ok(())
}

/// Serves `GET /metrics` on `address`, a listener of its own so that the operator chooses who
/// reaches it; prints where, as it does for the API.
async fn serve_metrics(address: std::net::SocketAddr, state: Arc<AppState>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding the metrics listener {address}"))?;
    let bound = listener.local_addr()?;
    let router = kiln_server::metrics::router(state);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    println!("metrics on http://{bound}/metrics");
    Ok(())
}

/// Each account's `local_source_roots`, as real paths; every root must exist.
fn local_source_roots(
    credentials: &[config::CredentialConfig],
) -> anyhow::Result<HashMap<String, Vec<PathBuf>>> {
    let mut roots: HashMap<String, Vec<PathBuf>> = HashMap::new();
    for credential in credentials {
        for root in &credential.local_source_roots {
            if !root.is_absolute() {
                bail!(
                    "local source root {} of account {} must be an absolute path",
                    root.display(),
                    credential.account_id
                );
            }
            let real = std::fs::canonicalize(root).with_context(|| {
                format!(
                    "local source root {} of account {}",
                    root.display(),
                    credential.account_id
                )
            })?;
            roots
                .entry(credential.account_id.clone())
                .or_default()
                .push(real);
        }
    }
    Ok(roots)
}

/// Installs the SIGTERM and SIGINT handlers now; the future resolves on either signal.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        let (mut term, mut interrupt) = match (term, interrupt) {
            (Ok(term), Ok(interrupt)) => (term, interrupt),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM and SIGINT");
                return std::future::pending().await;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
        tracing::info!("shutting down");
    }
}
