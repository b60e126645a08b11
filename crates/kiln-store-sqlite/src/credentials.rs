//! Source credentials (`ImportSourceCredentials`): one per account and server type.

use kiln_store::{SourceCredential, StoreError, StoreResult, is_unique_violation};
use sqlx::SqlitePool;

pub(crate) async fn put(
    pool: &SqlitePool,
    credential: &SourceCredential,
    overwrite: bool,
) -> StoreResult<()> {
    let sql = if overwrite {
        "INSERT INTO source_credentials (arn, account_id, server_type, auth_type, username, token)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (account_id, server_type) DO UPDATE SET
           arn = excluded.arn, auth_type = excluded.auth_type, username = excluded.username, token = excluded.token"
    } else {
        "INSERT INTO source_credentials (arn, account_id, server_type, auth_type, username, token)
         VALUES (?, ?, ?, ?, ?, ?)"
    };
    let result = sqlx::query(sql)
        .bind(&credential.arn)
        .bind(&credential.account_id)
        .bind(&credential.server_type)
        .bind(&credential.auth_type)
        .bind(&credential.username)
        .bind(&credential.token)
        .execute(pool)
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn of_account(
    pool: &SqlitePool,
    account_id: &str,
) -> StoreResult<Vec<SourceCredential>> {
    let credentials = sqlx::query_as(
        "SELECT * FROM source_credentials WHERE account_id = ? ORDER BY server_type",
    )
    .bind(account_id)
    .fetch_all(pool)
    .await?;
    Ok(credentials)
}

pub(crate) async fn delete(pool: &SqlitePool, account_id: &str, arn: &str) -> StoreResult<bool> {
    let result = sqlx::query("DELETE FROM source_credentials WHERE account_id = ? AND arn = ?")
        .bind(account_id)
        .bind(arn)
        .execute(pool)
        .await?;
    Ok(result.rows_affected() > 0)
}
