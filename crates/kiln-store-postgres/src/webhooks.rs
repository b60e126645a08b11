//! Projects' webhooks: the payload URL's token, the shared secret and the filter configuration.
//! A webhook belongs to its project (a foreign key, so it goes with it).

use kiln_domain::webhook::WebhookRecord;
use sqlx::PgPool;

use crate::key_violation;
use kiln_store::records::{RecordRow, WebhookRow, webhook_config_json};
use kiln_store::{StoreError, StoreResult};

pub(super) async fn create(pool: &PgPool, webhook: &WebhookRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO webhooks (account_id, project_name, token, secret, config, created,
            last_modified_secret)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&webhook.account_id)
    .bind(&webhook.project_name)
    .bind(&webhook.token)
    .bind(&webhook.secret)
    .bind(webhook_config_json(webhook)?)
    .bind(webhook.created)
    .bind(webhook.last_modified_secret)
    .execute(pool)
    .await
    .map_err(key_violation)?;
    Ok(())
}

pub(super) async fn get(
    pool: &PgPool,
    account_id: &str,
    project_name: &str,
) -> StoreResult<Option<WebhookRecord>> {
    let row = sqlx::query("SELECT * FROM webhooks WHERE account_id = $1 AND project_name = $2")
        .bind(account_id)
        .bind(project_name)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(WebhookRow::read).transpose()
}

pub(super) async fn by_token(pool: &PgPool, token: &str) -> StoreResult<Option<WebhookRecord>> {
    let row = sqlx::query("SELECT * FROM webhooks WHERE token = $1")
        .bind(token)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(WebhookRow::read).transpose()
}

pub(super) async fn update(pool: &PgPool, webhook: &WebhookRecord) -> StoreResult<()> {
    let result = sqlx::query(
        "UPDATE webhooks SET secret = $1, config = $2, last_modified_secret = $3
         WHERE account_id = $4 AND project_name = $5",
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

pub(super) async fn delete(
    pool: &PgPool,
    account_id: &str,
    project_name: &str,
) -> StoreResult<bool> {
    let result = sqlx::query("DELETE FROM webhooks WHERE account_id = $1 AND project_name = $2")
        .bind(account_id)
        .bind(project_name)
        .execute(pool)
        .await?;
    Ok(result.rows_affected() > 0)
}
