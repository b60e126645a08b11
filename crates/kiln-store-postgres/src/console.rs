//! Console sign-in sessions: looked up by the hash of their token; expired ones are swept
//! when a new one is made.

use kiln_store::{ConsoleSession, StoreResult};
use sqlx::PgPool;

use crate::key_violation;

pub(crate) async fn create_session(
    pool: &PgPool,
    session: &ConsoleSession,
    now: f64,
) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM console_sessions WHERE expires < $1")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO console_sessions (token_hash, account_id, access_key_id, csrf_token,
            created, expires)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&session.token_hash)
    .bind(&session.account_id)
    .bind(&session.access_key_id)
    .bind(&session.csrf_token)
    .bind(session.created)
    .bind(session.expires)
    .execute(&mut *tx)
    .await
    .map_err(key_violation)?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn session(
    pool: &PgPool,
    token_hash: &str,
    now: f64,
) -> StoreResult<Option<ConsoleSession>> {
    let session =
        sqlx::query_as("SELECT * FROM console_sessions WHERE token_hash = $1 AND expires >= $2")
            .bind(token_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?;
    Ok(session)
}

pub(crate) async fn delete_session(pool: &PgPool, token_hash: &str) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}
