//! Console sign-in sessions: looked up by the hash of their token; expired ones are swept
//! when a new one is made.

use kiln_store::{ConsoleSession, StoreError, StoreResult, is_unique_violation};
use sqlx::SqlitePool;

pub(crate) async fn create_session(
    pool: &SqlitePool,
    session: &ConsoleSession,
    now: f64,
) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM console_sessions WHERE expires < ?")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO console_sessions (token_hash, account_id, access_key_id, csrf_token, created, expires)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&session.token_hash)
    .bind(&session.account_id)
    .bind(&session.access_key_id)
    .bind(&session.csrf_token)
    .bind(session.created)
    .bind(session.expires)
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::AlreadyExists
        } else {
            StoreError::from(e)
        }
    })?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn session(
    pool: &SqlitePool,
    token_hash: &str,
    now: f64,
) -> StoreResult<Option<ConsoleSession>> {
    let session =
        sqlx::query_as("SELECT * FROM console_sessions WHERE token_hash = ? AND expires >= ?")
            .bind(token_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?;
    Ok(session)
}

pub(crate) async fn delete_session(pool: &SqlitePool, token_hash: &str) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM console_sessions WHERE token_hash = ?")
        .bind(token_hash)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}
