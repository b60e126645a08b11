//! The `kiln` binary.

mod config;
mod credentials;

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kiln_server::auth::{Credential, KeyRing};
use kiln_server::state::AppState;
use kiln_sigv4::SecretKey;
use kiln_store::SqliteStore;
use tracing_subscriber::EnvFilter;

use crate::config::{ServeArgs, Settings};

#[derive(Parser)]
#[command(name = "kiln", version, about = "A self-hosted build service that speaks the AWS CodeBuild API")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("KILN_LOG").unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve(Settings::resolve(args)?).await,
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data dir {}", settings.data_dir.display()))?;
    let credentials = if settings.credentials.is_empty() {
        credentials::load_or_generate(&settings.data_dir, &settings.region)?
    } else {
        settings.credentials
    };
    let store = SqliteStore::open(&settings.data_dir.join("kiln.db"))
        .await
        .context("opening the database")?;

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
    let state = Arc::new(AppState::new(Arc::new(store), settings.region, public_url, keys));
    let app = kiln_server::router(state);

    println!("listening on http://{bound}");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving")?;
    Ok(())
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
}
