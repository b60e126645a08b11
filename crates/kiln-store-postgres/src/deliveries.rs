//! Webhook deliveries: the record of each one, and the claims that make a delivery act once.
//!
//! A genuine delivery claims its delivery id (kept with the last [`DELIVERIES_KEPT`] claims of
//! the project) and the SHA-256 of its body (kept for the replay window the caller gives), so a
//! replayed body counts as a duplicate whatever delivery id it is sent with. Racing claims of
//! one id or body meet on a unique index: the second waits for the first to commit, then fails.

use kiln_domain::webhook::{DeliveryOutcome, DeliveryRecord};
use sqlx::{PgConnection, PgPool};

use kiln_store::records::{DeliveryRow, RecordRow};
use kiln_store::{
    BodyClaim, Claim, DELIVERIES_KEPT, StoreError, StoreResult, is_foreign_key_violation,
    is_unique_violation,
};

pub(super) async fn claim(
    pool: &PgPool,
    delivery: &DeliveryRecord,
    claim: &BodyClaim<'_>,
) -> StoreResult<Claim> {
    let mut tx = pool.begin().await?;
    // A duplicate rolls the transaction back (it is dropped uncommitted): nothing is recorded.
    let claims_id = delivery.delivery_id.is_some();
    let seq = match insert(&mut tx, delivery, claims_id).await {
        Ok(seq) => seq,
        Err(e) if is_unique_violation(&e) => return Ok(Claim::DuplicateDeliveryId),
        Err(e) if is_foreign_key_violation(&e) => return Err(StoreError::NotFound),
        Err(e) => return Err(e.into()),
    };
    sqlx::query(
        "DELETE FROM webhook_body_claims
         WHERE account_id = $1 AND project_name = $2 AND claimed_at < $3",
    )
    .bind(&delivery.account_id)
    .bind(&delivery.project_name)
    .bind(claim.window_start)
    .execute(&mut *tx)
    .await?;
    let body_claimed = sqlx::query(
        "INSERT INTO webhook_body_claims (account_id, project_name, body_sha256, claimed_at)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(&delivery.account_id)
    .bind(&delivery.project_name)
    .bind(claim.body_sha256)
    .bind(delivery.received_at)
    .execute(&mut *tx)
    .await;
    match body_claimed {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Ok(Claim::DuplicateBody),
        Err(e) => return Err(e.into()),
    }
    prune(&mut tx, delivery, claims_id).await?;
    tx.commit().await?;
    Ok(Claim::Claimed(seq))
}

pub(super) async fn record(pool: &PgPool, delivery: &DeliveryRecord) -> StoreResult<i64> {
    let mut tx = pool.begin().await?;
    let seq = match insert(&mut tx, delivery, false).await {
        Ok(seq) => seq,
        Err(e) if is_foreign_key_violation(&e) => return Err(StoreError::NotFound),
        Err(e) => return Err(e.into()),
    };
    prune(&mut tx, delivery, false).await?;
    tx.commit().await?;
    Ok(seq)
}

async fn insert(
    connection: &mut PgConnection,
    delivery: &DeliveryRecord,
    claimed: bool,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO webhook_deliveries (account_id, project_name, delivery_id, forge, event,
            outcome, reason, build_id, received_at, verified, claimed)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING seq",
    )
    .bind(&delivery.account_id)
    .bind(&delivery.project_name)
    .bind(&delivery.delivery_id)
    .bind(&delivery.forge)
    .bind(&delivery.event)
    .bind(delivery.outcome.as_str())
    .bind(&delivery.reason)
    .bind(&delivery.build_id)
    .bind(delivery.received_at)
    .bind(delivery.verified)
    .bind(claimed)
    .fetch_one(connection)
    .await
}

/// Claims and other deliveries are kept apart, so a flood of refused requests cannot push out
/// the claims that stop a replayed delivery from building again.
async fn prune(
    connection: &mut PgConnection,
    delivery: &DeliveryRecord,
    claimed: bool,
) -> StoreResult<()> {
    sqlx::query(
        "DELETE FROM webhook_deliveries WHERE account_id = $1 AND project_name = $2 AND claimed = $3
         AND seq <= (SELECT seq FROM webhook_deliveries WHERE account_id = $1 AND project_name = $2
                     AND claimed = $3 ORDER BY seq DESC LIMIT 1 OFFSET $4)",
    )
    .bind(&delivery.account_id)
    .bind(&delivery.project_name)
    .bind(claimed)
    .bind(DELIVERIES_KEPT)
    .execute(connection)
    .await?;
    Ok(())
}

pub(super) async fn set_outcome(
    pool: &PgPool,
    seq: i64,
    outcome: DeliveryOutcome,
    reason: &str,
    build_id: Option<&str>,
) -> StoreResult<()> {
    // A delivery pruned meanwhile has nothing left to update.
    sqlx::query(
        "UPDATE webhook_deliveries SET outcome = $1, reason = $2, build_id = $3 WHERE seq = $4",
    )
    .bind(outcome.as_str())
    .bind(reason)
    .bind(build_id)
    .bind(seq)
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn recent(
    pool: &PgPool,
    account_id: &str,
    project_name: &str,
    limit: i64,
) -> StoreResult<Vec<DeliveryRecord>> {
    let rows = sqlx::query(
        "SELECT * FROM webhook_deliveries WHERE account_id = $1 AND project_name = $2
         ORDER BY seq DESC LIMIT $3",
    )
    .bind(account_id)
    .bind(project_name)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(DeliveryRow::read).collect()
}
