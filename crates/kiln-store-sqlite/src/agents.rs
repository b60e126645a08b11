//! Build agents: their tokens (kept hashed) and sessions (see `docs/agents.md`).

use kiln_store::agents::{AGENT_SESSION_COLUMNS, AgentSessionRow, labels_json};
use kiln_store::{
    AgentSession, AgentToken, HeldLease, StoreError, StoreResult, is_unique_violation,
};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use crate::queue::write_transaction;

/// The most uuids one renewal lists.
const MAX_LISTED_LEASES: usize = 1000;

pub(crate) async fn create_token(
    pool: &SqlitePool,
    token: &AgentToken,
    token_hash: &str,
) -> StoreResult<()> {
    let result = sqlx::query(
        "INSERT INTO agent_tokens (id, account_id, fleet_arn, fleet_name, token_hash, created, revoked)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&token.id)
    .bind(&token.account_id)
    .bind(&token.fleet_arn)
    .bind(&token.fleet_name)
    .bind(token_hash)
    .bind(token.created)
    .bind(token.revoked)
    .execute(pool)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn token_by_hash(
    pool: &SqlitePool,
    token_hash: &str,
) -> StoreResult<Option<AgentToken>> {
    Ok(sqlx::query_as(
        "SELECT id, account_id, fleet_arn, fleet_name, created, revoked FROM agent_tokens
         WHERE token_hash = ?",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await?)
}

pub(crate) async fn tokens(pool: &SqlitePool) -> StoreResult<Vec<AgentToken>> {
    Ok(sqlx::query_as(
        "SELECT id, account_id, fleet_arn, fleet_name, created, revoked FROM agent_tokens
         ORDER BY created, id",
    )
    .fetch_all(pool)
    .await?)
}

pub(crate) async fn revoke_token(pool: &SqlitePool, id: &str, now: f64) -> StoreResult<bool> {
    let mut tx = write_transaction(pool).await?;
    let revoked =
        sqlx::query("UPDATE agent_tokens SET revoked = ? WHERE id = ? AND revoked IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
    sqlx::query("DELETE FROM agent_sessions WHERE token_id = ?")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(revoked)
}

pub(crate) async fn register(
    pool: &SqlitePool,
    session: &AgentSession,
    live_since: f64,
) -> StoreResult<()> {
    let mut tx = write_transaction(pool).await?;
    let holder: Option<(String, f64)> = sqlx::query_as(
        "SELECT token_id, last_heartbeat FROM agent_sessions WHERE fleet_arn = ? AND name = ?",
    )
    .bind(&session.fleet_arn)
    .bind(&session.name)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((token_id, last_heartbeat)) = holder {
        if token_id != session.token_id && last_heartbeat > live_since {
            return Err(StoreError::AlreadyExists);
        }
        sqlx::query("DELETE FROM agent_sessions WHERE fleet_arn = ? AND name = ?")
            .bind(&session.fleet_arn)
            .bind(&session.name)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "INSERT INTO agent_sessions (session, token_id, account_id, fleet_arn, name, version, os,
             arch, executor, capacity, labels, registered, last_heartbeat)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&session.session)
    .bind(&session.token_id)
    .bind(&session.account_id)
    .bind(&session.fleet_arn)
    .bind(&session.name)
    .bind(&session.version)
    .bind(&session.os)
    .bind(&session.arch)
    .bind(&session.executor)
    .bind(session.capacity)
    .bind(labels_json(session)?)
    .bind(session.registered)
    .bind(session.last_heartbeat)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn session(pool: &SqlitePool, id: &str) -> StoreResult<Option<AgentSession>> {
    let row: Option<AgentSessionRow> = sqlx::query_as(&format!(
        "SELECT {AGENT_SESSION_COLUMNS} FROM agent_sessions WHERE session = ?"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.map(AgentSessionRow::into_session).transpose()
}

pub(crate) async fn touch(pool: &SqlitePool, id: &str, now: f64) -> StoreResult<bool> {
    let result = sqlx::query("UPDATE agent_sessions SET last_heartbeat = ? WHERE session = ?")
        .bind(now)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(result.rows_affected() > 0)
}

pub(crate) async fn remove(pool: &SqlitePool, id: &str) -> StoreResult<bool> {
    let result = sqlx::query("DELETE FROM agent_sessions WHERE session = ?")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(result.rows_affected() > 0)
}

pub(crate) async fn live(
    pool: &SqlitePool,
    account_id: Option<&str>,
    live_since: f64,
) -> StoreResult<Vec<AgentSession>> {
    let rows: Vec<AgentSessionRow> = sqlx::query_as(&format!(
        "SELECT {AGENT_SESSION_COLUMNS} FROM agent_sessions
         WHERE last_heartbeat > ? AND (? IS NULL OR account_id = ?)
         ORDER BY fleet_arn, name"
    ))
    .bind(live_since)
    .bind(account_id)
    .bind(account_id)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(AgentSessionRow::into_session)
        .collect()
}

/// Fleets with `overflowBehavior` ON_DEMAND that have queued builds and no free agent slot:
/// the slots of their live agents are all taken by leased builds.
pub(crate) async fn overflowing(pool: &SqlitePool, live_since: f64) -> StoreResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT f.arn FROM fleets f
         WHERE f.overflow_behavior = 'ON_DEMAND'
           AND EXISTS (SELECT 1 FROM builds b
                       WHERE b.fleet_arn = f.arn AND b.complete = 0 AND b.lease_owner IS NULL)
           AND COALESCE((SELECT SUM(s.capacity) FROM agent_sessions s
                         WHERE s.fleet_arn = f.arn AND s.last_heartbeat > ?), 0)
               <= (SELECT COUNT(*) FROM builds b
                   WHERE b.fleet_arn = f.arn AND b.lease_owner LIKE 'agent:%')",
    )
    .bind(live_since)
    .fetch_all(pool)
    .await?)
}

pub(crate) async fn renew_listed(
    pool: &SqlitePool,
    owner: &str,
    uuids: &[String],
    now: f64,
    lease_seconds: f64,
) -> StoreResult<Vec<HeldLease>> {
    if uuids.is_empty() {
        return Ok(Vec::new());
    }
    let mut query: QueryBuilder<Sqlite> = QueryBuilder::new("UPDATE builds SET lease_expires = ");
    query
        .push_bind(now + lease_seconds)
        .push(" WHERE lease_owner = ")
        .push_bind(owner)
        .push(" AND uuid IN (");
    let mut list = query.separated(", ");
    for uuid in uuids.iter().take(MAX_LISTED_LEASES) {
        list.push_bind(uuid);
    }
    query.push(") RETURNING uuid, stop_requested");
    Ok(query.build_query_as().fetch_all(pool).await?)
}
