//! Source credentials (`ImportSourceCredentials`): one per account and server type.

use sqlx::PgPool;

use crate::key_violation;
use kiln_store::{SourceCredential, StoreResult};

pub(super) async fn put(
    pool: &PgPool,
    credential: &SourceCredential,
    overwrite: bool,
) -> StoreResult<()> {
    let sql = if overwrite {
        "INSERT INTO source_credentials (arn, account_id, server_type, auth_type, username, token)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (account_id, server_type) DO UPDATE SET
           arn = excluded.arn, auth_type = excluded.auth_type, username = excluded.username,
           token = excluded.token"
    } else {
        "INSERT INTO source_credentials (arn, account_id, server_type, auth_type, username, token)
         VALUES ($1, $2, $3, $4, $5, $6)"
    };
    sqlx::query(sql)
        .bind(&credential.arn)
        .bind(&credential.account_id)
        .bind(&credential.server_type)
        .bind(&credential.auth_type)
        .bind(&credential.username)
        .bind(&credential.token)
        .execute(pool)
        .await
        .map_err(key_violation)?;
    Ok(())
}

pub(super) async fn of_account(
    pool: &PgPool,
    account_id: &str,
) -> StoreResult<Vec<SourceCredential>> {
    let credentials = sqlx::query_as(
        "SELECT * FROM source_credentials WHERE account_id = $1 ORDER BY server_type",
    )
    .bind(account_id)
    .fetch_all(pool)
    .await?;
    Ok(credentials)
}

pub(super) async fn delete(pool: &PgPool, account_id: &str, arn: &str) -> StoreResult<bool> {
    let result = sqlx::query("DELETE FROM source_credentials WHERE account_id = $1 AND arn = $2")
        .bind(account_id)
        .bind(arn)
        .execute(pool)
        .await?;
    Ok(result.rows_affected() > 0)
}
