//! Projects' webhooks: the payload URL's token, the shared secret and the filter configuration.
//! A webhook belongs to its project (a foreign key, so it goes with it).

use kiln_domain::webhook::WebhookRecord;
use kiln_store::records::{RecordRow, WebhookRow, webhook_config_json};
use kiln_store::{StoreError, StoreResult, is_foreign_key_violation, is_unique_violation};
use sqlx::SqlitePool;

pub(crate) async fn create(pool: &SqlitePool, webhook: &WebhookRecord) -> StoreResult<()> {
    let result = sqlx::query(
        "INSERT INTO webhooks (account_id, project_name, token, secret, config, created, last_modified_secret)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&webhook.account_id)
    .bind(&webhook.project_name)
    .bind(&webhook.token)
    .bind(&webhook.secret)
    .bind(webhook_config_json(webhook)?)
    .bind(webhook.created)
    .bind(webhook.last_modified_secret)
    .execute(pool)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists),
        Err(e) if is_foreign_key_violation(&e) => Err(StoreError::NotFound),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn get(
    pool: &SqlitePool,
    account_id: &str,
    project_name: &str,
) -> StoreResult<Option<WebhookRecord>> {
    let row = sqlx::query("SELECT * FROM webhooks WHERE account_id = ? AND project_name = ?")
        .bind(account_id)
        .bind(project_name)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(WebhookRow::read).transpose()
}

pub(crate) async fn by_token(pool: &SqlitePool, token: &str) -> StoreResult<Option<WebhookRecord>> {
    let row = sqlx::query("SELECT * FROM webhooks WHERE token = ?")
        .bind(token)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(WebhookRow::read).transpose()
}

pub(crate) async fn update(pool: &SqlitePool, webhook: &WebhookRecord) -> StoreResult<()> {
    let result = sqlx::query(
        "UPDATE webhooks SET secret = ?, config = ?, last_modified_secret = ?
         WHERE account_id = ? AND project_name = ?",
    )
    .bind(&webhook.secret)
    .bind(webhook_config_json(webhook)?)
    .bind(webhook.last_modified_secret)
    .bind(&webhook.account_id)
    .bind(&webhook.project_name)
    .execute(pool)
    .await?;
    if result.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) async fn delete(
    pool: &SqlitePool,
    account_id: &str,
    project_name: &str,
) -> StoreResult<bool> {
    let result = sqlx::query("DELETE FROM webhooks WHERE account_id = ? AND project_name = ?")
        .bind(account_id)
        .bind(project_name)
        .execute(pool)
        .await?;
    Ok(result.rows_affected() > 0)
}
