//! Webhook deliveries: the record of each one, and the claims that make a delivery act once.
//!
//! A genuine delivery claims its delivery id (kept with the last [`DELIVERIES_KEPT`] claims of
//! the project) and the SHA-256 of its body (kept for the replay window the caller gives), so a
//! replayed body counts as a duplicate whatever delivery id it is sent with.

use kiln_domain::webhook::{DeliveryOutcome, DeliveryRecord};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};

use kiln_store::{
    BodyClaim, Claim, DELIVERIES_KEPT, StoreError, StoreResult, is_foreign_key_violation,
    is_unique_violation,
};

pub(super) async fn claim(
    pool: &SqlitePool,
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
         WHERE account_id = ? AND project_name = ? AND claimed_at < ?",
    )
    .bind(&delivery.account_id)
    .bind(&delivery.project_name)
    .bind(claim.window_start)
    .execute(&mut *tx)
    .await?;
    let body_claimed = sqlx::query(
        "INSERT INTO webhook_body_claims (account_id, project_name, body_sha256, claimed_at)
         VALUES (?, ?, ?, ?)",
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

pub(super) async fn record(pool: &SqlitePool, delivery: &DeliveryRecord) -> StoreResult<i64> {
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
    tx: &mut Transaction<'_, Sqlite>,
    delivery: &DeliveryRecord,
    claimed: bool,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO webhook_deliveries (account_id, project_name, delivery_id, forge, event,
            outcome, reason, build_id, received_at, verified, claimed)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
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
    .fetch_one(&mut **tx)
    .await
}

/// Claims and other deliveries are kept apart, so a flood of refused requests cannot push out
/// the claims that stop a replayed delivery from building again.
async fn prune(
    tx: &mut Transaction<'_, Sqlite>,
    delivery: &DeliveryRecord,
    claimed: bool,
) -> StoreResult<()> {
    sqlx::query(
        "DELETE FROM webhook_deliveries WHERE account_id = ? AND project_name = ? AND claimed = ?
         AND seq <= (SELECT seq FROM webhook_deliveries WHERE account_id = ? AND project_name = ?
                     AND claimed = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)",
    )
    .bind(&delivery.account_id)
    .bind(&delivery.project_name)
    .bind(claimed)
    .bind(&delivery.account_id)
    .bind(&delivery.project_name)
    .bind(claimed)
    .bind(DELIVERIES_KEPT)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn set_outcome(
    pool: &SqlitePool,
    seq: i64,
    outcome: DeliveryOutcome,
    reason: &str,
    build_id: Option<&str>,
) -> StoreResult<()> {
    // A delivery pruned meanwhile has nothing left to update.
    sqlx::query(
        "UPDATE webhook_deliveries SET outcome = ?, reason = ?, build_id = ? WHERE seq = ?",
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
    pool: &SqlitePool,
    account_id: &str,
    project_name: &str,
    limit: i64,
) -> StoreResult<Vec<DeliveryRecord>> {
    let rows = sqlx::query(
        "SELECT * FROM webhook_deliveries WHERE account_id = ? AND project_name = ?
         ORDER BY seq DESC LIMIT ?",
    )
    .bind(account_id)
    .bind(project_name)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(delivery_from_row).collect()
}

fn delivery_from_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<DeliveryRecord> {
    let outcome: String = row.try_get("outcome")?;
    Ok(DeliveryRecord {
        account_id: row.try_get("account_id")?,
        project_name: row.try_get("project_name")?,
        delivery_id: row.try_get("delivery_id")?,
        forge: row.try_get("forge")?,
        event: row.try_get("event")?,
        outcome: DeliveryOutcome::parse(&outcome)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery outcome {outcome}")))?,
        reason: row.try_get("reason")?,
        build_id: row.try_get("build_id")?,
        received_at: row.try_get("received_at")?,
        verified: row.try_get("verified")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;
    use crate::tests::{delivery, record};
    use kiln_store::Store;

    const DAY: f64 = 86_400.0;

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("kiln.db"))
            .await
            .unwrap();
        store.create_project(&record("1", "a", 1.0)).await.unwrap();
        store.create_project(&record("1", "b", 1.0)).await.unwrap();
        (dir, store)
    }

    fn body(sha: &str) -> BodyClaim<'_> {
        BodyClaim {
            body_sha256: sha,
            window_start: 0.0,
        }
    }

    #[tokio::test]
    async fn deliveries_claim_their_id_once_and_are_pruned() {
        let (_dir, store) = store().await;
        let Claim::Claimed(first) = store
            .claim_webhook_delivery(&delivery("a", Some("d1")), &body("b1"))
            .await
            .unwrap()
        else {
            panic!("the first delivery is no duplicate");
        };
        assert_eq!(
            store
                .claim_webhook_delivery(&delivery("a", Some("d1")), &body("b2"))
                .await
                .unwrap(),
            Claim::DuplicateDeliveryId
        );
        // Unclaimed rows (refused, duplicates) and other projects do not collide.
        store
            .insert_webhook_delivery(&delivery("a", Some("d1")))
            .await
            .unwrap();
        assert!(matches!(
            store
                .claim_webhook_delivery(&delivery("b", Some("d1")), &body("b1"))
                .await
                .unwrap(),
            Claim::Claimed(_)
        ));
        store
            .set_webhook_delivery_outcome(first, DeliveryOutcome::Built, "built", Some("a:u"))
            .await
            .unwrap();
        let recent = store.recent_webhook_deliveries("1", "a", 10).await.unwrap();
        assert_eq!(recent.len(), 2);
        assert_eq!(recent[1].outcome, DeliveryOutcome::Built);
        assert_eq!(recent[1].build_id.as_deref(), Some("a:u"));

        for i in 0..DELIVERIES_KEPT + 5 {
            store
                .insert_webhook_delivery(&delivery("a", Some(&format!("x{i}"))))
                .await
                .unwrap();
        }
        let all = store
            .recent_webhook_deliveries("1", "a", 10_000)
            .await
            .unwrap();
        // The unclaimed ones are capped; the claim survives the flood.
        assert_eq!(all.len() as i64, DELIVERIES_KEPT + 1);
        assert_eq!(
            store
                .claim_webhook_delivery(&delivery("a", Some("d1")), &body("b3"))
                .await
                .unwrap(),
            Claim::DuplicateDeliveryId
        );
    }

    #[tokio::test]
    async fn a_body_is_claimed_once_per_window_whatever_its_delivery_id() {
        let (_dir, store) = store().await;
        let at = |id: Option<&str>, received_at: f64| DeliveryRecord {
            received_at,
            ..delivery("a", id)
        };
        let window = |now: f64| BodyClaim {
            body_sha256: "same",
            window_start: now - DAY,
        };
        assert!(matches!(
            store
                .claim_webhook_delivery(&at(Some("d1"), DAY), &window(DAY))
                .await
                .unwrap(),
            Claim::Claimed(_)
        ));
        for id in [Some("d2"), Some("D1"), None] {
            assert_eq!(
                store
                    .claim_webhook_delivery(&at(id, DAY + 10.0), &window(DAY + 10.0))
                    .await
                    .unwrap(),
                Claim::DuplicateBody,
                "{id:?}"
            );
        }
        // Nothing was recorded for the duplicates, and the id d2 is still free.
        assert_eq!(
            store
                .recent_webhook_deliveries("1", "a", 10)
                .await
                .unwrap()
                .len(),
            1
        );
        // Another project may receive the same body.
        assert!(matches!(
            store
                .claim_webhook_delivery(&delivery("b", None), &window(DAY + 20.0))
                .await
                .unwrap(),
            Claim::Claimed(_)
        ));
        // Past the window the body may build again.
        assert!(matches!(
            store
                .claim_webhook_delivery(&at(Some("d2"), 2.0 * DAY + 1.0), &window(2.0 * DAY + 1.0))
                .await
                .unwrap(),
            Claim::Claimed(_)
        ));
    }
}
