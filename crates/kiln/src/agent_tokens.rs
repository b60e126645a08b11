//! `kiln agent-token create|list|revoke`: the tokens agents connect with, in the same store
//! `kiln serve` uses (same flags, variables and `kiln.toml`). A token is printed once and
//! stored only as its SHA-256.

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::{Args, Subcommand};
use kiln_domain::clock::now_epoch;
use std::sync::Arc;

use kiln_store::{AgentToken, Store};

use crate::config::{ServeArgs, Settings};

#[derive(Debug, Args)]
pub struct AgentTokenArgs {
    #[command(subcommand)]
    action: TokenAction,
}

#[derive(Debug, Subcommand)]
enum TokenAction {
    /// Makes a token for the agents of a fleet and prints it (once).
    Create(CreateArgs),
    /// Lists every token: id, account, fleet, created, revoked.
    List(StoreArgs),
    /// Revokes a token: its agents are refused at their next call.
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// The fleet's name or ARN (`aws codebuild create-fleet`).
    #[arg(long)]
    fleet: String,
    /// The fleet's account (needed only when Kiln has several).
    #[arg(long)]
    account: Option<String>,
    #[command(flatten)]
    store: ServeArgs,
}

#[derive(Debug, Args)]
struct StoreArgs {
    #[command(flatten)]
    store: ServeArgs,
}

#[derive(Debug, Args)]
struct RevokeArgs {
    /// The token's id, as `list` shows it.
    id: String,
    #[command(flatten)]
    store: ServeArgs,
}

/// The store `kiln serve` with these settings uses, and the settings.
async fn open(store: ServeArgs) -> anyhow::Result<(Settings, Arc<dyn Store>)> {
    let settings = Settings::resolve(store)?;
    crate::data_dir::prepare(&settings.data_dir, &settings.database)?;
    let store = settings.database.open().await?;
    Ok((settings, store))
}

pub async fn run(args: AgentTokenArgs) -> anyhow::Result<()> {
    match args.action {
        TokenAction::Create(CreateArgs {
            fleet,
            account,
            store,
        }) => {
            let (settings, store) = open(store).await?;
            let account_id = match account {
                Some(account) => account,
                None => {
                    let credentials =
                        crate::credentials::resolve(&settings, store.as_ref()).await?;
                    let mut accounts: Vec<String> =
                        credentials.into_iter().map(|c| c.account_id).collect();
                    accounts.sort();
                    accounts.dedup();
                    match accounts.as_slice() {
                        [only] => only.clone(),
                        _ => bail!("Kiln has several accounts: say which with --account"),
                    }
                }
            };
            let Some(found) = store.fleet(&account_id, &fleet).await? else {
                bail!(
                    "account {account_id} has no fleet {fleet:?}: create it first with \
                     `aws codebuild create-fleet`"
                );
            };
            let secret = format!(
                "kiln_agent_{}",
                URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
            );
            let token = AgentToken {
                id: hex::encode(rand::random::<[u8; 6]>()),
                account_id,
                fleet_arn: found.arn.clone(),
                fleet_name: found.name.clone(),
                created: now_epoch(),
                revoked: None,
            };
            store
                .create_agent_token(&token, &kiln_server::agents::token_hash(&secret))
                .await
                .context("storing the token")?;
            eprintln!(
                "token {} for fleet {} (account {}); it is shown only now:",
                token.id, token.fleet_name, token.account_id
            );
            println!("{secret}");
        }
        TokenAction::List(StoreArgs { store }) => {
            let (_, store) = open(store).await?;
            println!(
                "{:<12}  {:<12}  {:<24}  {:<20}  revoked",
                "id", "account", "fleet", "created"
            );
            for token in store.agent_tokens().await? {
                println!(
                    "{:<12}  {:<12}  {:<24}  {:<20}  {}",
                    token.id,
                    token.account_id,
                    token.fleet_name,
                    time_text(token.created),
                    token.revoked.map(time_text).unwrap_or_else(|| "-".into())
                );
            }
        }
        TokenAction::Revoke(RevokeArgs { id, store }) => {
            let (_, store) = open(store).await?;
            if !store.revoke_agent_token(&id, now_epoch()).await? {
                bail!("no token {id:?} to revoke (see `kiln agent-token list`)");
            }
            println!("revoked {id}; its agents are refused at their next call");
        }
    }
    Ok(())
}

fn time_text(epoch: f64) -> String {
    httpdate::fmt_http_date(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(epoch.max(0.0)),
    )
}
