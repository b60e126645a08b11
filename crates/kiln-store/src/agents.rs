//! Build agents (`kiln agent`): the tokens they sign in with and the sessions they keep alive.
//!
//! A token is shown once when it is made and stored only as its SHA-256, so a copy of the
//! database cannot be used to connect an agent. A session is one running agent process: it
//! is named by a random id the server hands out at registration, and its leases are owned by
//! [`AgentSession::lease_owner`], so a restarted agent never renews what its predecessor held.
//! See `docs/agents.md`.

use serde::{Deserialize, Serialize};

/// A token an agent connects with, bound to one fleet of one account.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AgentToken {
    /// Short public id, for `kiln agent-token list|revoke`.
    pub id: String,
    pub account_id: String,
    pub fleet_arn: String,
    pub fleet_name: String,
    pub created: f64,
    /// When it was revoked; a revoked token is refused at the agent's next call.
    pub revoked: Option<f64>,
}

/// What an agent reported of itself when it registered, and when it was last heard from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSession {
    pub session: String,
    pub token_id: String,
    pub account_id: String,
    pub fleet_arn: String,
    pub name: String,
    pub version: String,
    pub os: String,
    pub arch: String,
    pub executor: String,
    /// How many builds it runs at once.
    pub capacity: i64,
    pub labels: Vec<String>,
    pub registered: f64,
    pub last_heartbeat: f64,
}

/// The columns every session query selects, in both backends' tables: `labels` is JSON text.
pub const AGENT_SESSION_COLUMNS: &str = "session, token_id, account_id, fleet_arn, name, version, \
     os, arch, executor, capacity, labels, registered, last_heartbeat";

/// A row of `agent_sessions`, as both backends read it.
#[derive(sqlx::FromRow)]
pub struct AgentSessionRow {
    session: String,
    token_id: String,
    account_id: String,
    fleet_arn: String,
    name: String,
    version: String,
    os: String,
    arch: String,
    executor: String,
    capacity: i64,
    labels: String,
    registered: f64,
    last_heartbeat: f64,
}

impl AgentSessionRow {
    pub fn into_session(self) -> crate::StoreResult<AgentSession> {
        Ok(AgentSession {
            labels: crate::records::from_json(&self.labels)?,
            session: self.session,
            token_id: self.token_id,
            account_id: self.account_id,
            fleet_arn: self.fleet_arn,
            name: self.name,
            version: self.version,
            os: self.os,
            arch: self.arch,
            executor: self.executor,
            capacity: self.capacity,
            registered: self.registered,
            last_heartbeat: self.last_heartbeat,
        })
    }
}

/// The `labels` column of a session.
pub fn labels_json(session: &AgentSession) -> crate::StoreResult<String> {
    crate::records::to_json(&session.labels)
}

/// The prefix of every agent's lease owner; replicas' owners are their instance names.
pub const AGENT_OWNER_PREFIX: &str = "agent:";

impl AgentSession {
    /// The owner of the leases this session takes: `agent:<name>@<session>`.
    pub fn lease_owner(&self) -> String {
        format!("{AGENT_OWNER_PREFIX}{}@{}", self.name, self.session)
    }
}

/// The agent's name in a lease owner made by [`AgentSession::lease_owner`], if it is one.
pub fn agent_name_of_owner(owner: &str) -> Option<&str> {
    let rest = owner.strip_prefix(AGENT_OWNER_PREFIX)?;
    Some(rest.rsplit_once('@').map_or(rest, |(name, _)| name))
}

/// The reason a build ends FAULT with when its lease expired under `owner`.
pub fn lease_expired_reason(owner: Option<&str>) -> String {
    match owner.and_then(agent_name_of_owner) {
        Some(name) => format!("agent {name} stopped renewing its lease"),
        None => crate::LEASE_EXPIRED_REASON.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_owners_name_their_agent_and_replicas_keep_the_old_reason() {
        assert_eq!(agent_name_of_owner("agent:gpu-1@ab12"), Some("gpu-1"));
        assert_eq!(agent_name_of_owner("replica-a"), None);
        assert_eq!(
            lease_expired_reason(Some("agent:gpu-1@ab12")),
            "agent gpu-1 stopped renewing its lease"
        );
        assert_eq!(
            lease_expired_reason(Some("replica-a")),
            crate::LEASE_EXPIRED_REASON
        );
    }
}
