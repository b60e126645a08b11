//! Automatic retries on PostgreSQL: the builds that owe one are found through the partial
//! index `builds_owing_auto_retry`, and each retry is made in a transaction of its own that
//! locks the project's row (as an insert and a project's deletion do, in that order) and then
//! the old build's row, `SKIP LOCKED`: a racing replica skips the build, and once this commits
//! finds it owing nothing (see `docs/queue.md`).

use kiln_domain::build::BuildRecord;
use kiln_store::records::{BuildRow, RecordRow, build_json};
use kiln_store::{AUTO_RETRY_BATCH, InsertedBuild, StoreError, StoreEvent, StoreResult};
use sqlx::{PgPool, Row};

use crate::{builds, feed, project_changed};

/// Builds that owe an automatic retry, oldest first: a range of builds_owing_auto_retry.
/// The conditions repeat the index's so the planner can use it.
pub const OWING_AUTO_RETRY: &str = "SELECT uuid, account_id, project_name FROM builds
    WHERE auto_retry_remaining > 0 AND complete AND status IN ('FAILED', 'FAULT', 'TIMED_OUT')
    ORDER BY seq LIMIT $1";

pub(crate) async fn start(pool: &PgPool, now: f64) -> StoreResult<Vec<BuildRecord>> {
    let owing = sqlx::query(OWING_AUTO_RETRY)
        .bind(AUTO_RETRY_BATCH)
        .fetch_all(pool)
        .await?;
    let mut made = Vec::new();
    for row in &owing {
        let uuid: String = row.try_get("uuid")?;
        let account_id: String = row.try_get("account_id")?;
        let project_name: String = row.try_get("project_name")?;
        if let Some(retry) = retry_one(pool, &uuid, &account_id, &project_name, now).await? {
            made.push(retry);
        }
    }
    Ok(made)
}

/// Retries one build if it still owes it. A build of a deleted project (a past generation,
/// or no project row) stops owing without a retry.
async fn retry_one(
    pool: &PgPool,
    uuid: &str,
    account_id: &str,
    project_name: &str,
    now: f64,
) -> StoreResult<Option<BuildRecord>> {
    let mut tx = pool.begin().await?;
    let source_epoch: Option<i64> = sqlx::query_scalar(
        "SELECT source_epoch FROM projects WHERE account_id = $1 AND name = $2 FOR UPDATE",
    )
    .bind(account_id)
    .bind(project_name)
    .fetch_optional(&mut *tx)
    .await?;
    let row = sqlx::query(
        "SELECT record, project_generation FROM builds
         WHERE uuid = $1 AND auto_retry_remaining > 0 AND complete
         FOR UPDATE SKIP LOCKED",
    )
    .bind(uuid)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut old = BuildRow::read(&row)?;
    let live = row.try_get::<i64, _>("project_generation")? == 0;
    let mut retry = source_epoch
        .filter(|_| live)
        .and_then(|epoch| kiln_store::auto_retry_of(&old, epoch, now));
    if let Some(retry) = &mut retry {
        if builds::insert(&mut tx, retry, now).await? != InsertedBuild::Inserted {
            return Err(StoreError::Database(
                "an automatic retry, which has no idempotency token, was not inserted".into(),
            ));
        }
        old.auto_retry.next = Some(retry.uuid.clone());
    }
    // Compared and set as well as locked: whoever clears the column made the one retry.
    let done = sqlx::query(
        "UPDATE builds SET auto_retry_remaining = 0, record = $1
         WHERE uuid = $2 AND auto_retry_remaining > 0",
    )
    .bind(build_json(&old)?)
    .bind(uuid)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    if let Some(retry) = &retry {
        let events = [
            project_changed(&retry.account_id, &retry.project_name),
            StoreEvent::QueueChanged,
        ];
        feed::announce(&mut tx, &events).await?;
    }
    tx.commit().await?;
    Ok(retry)
}
