//! Automatic retries on SQLite: the builds that owe one are found through the partial index
//! `builds_owing_auto_retry`, and each retry is made in a `BEGIN IMMEDIATE` transaction of
//! its own with the write on the old build that stops it owing one (see `docs/queue.md`).

use kiln_domain::build::BuildRecord;
use kiln_store::records::{BuildRow, RecordRow, build_json};
use kiln_store::{AUTO_RETRY_BATCH, InsertedBuild, StoreError, StoreEvent, StoreResult};
use sqlx::Row;

use crate::SqliteStore;
use crate::builds::insert_in;

/// Builds that owe an automatic retry, oldest first: a range of builds_owing_auto_retry.
/// The conditions repeat the index's, word for word, so the planner uses it.
pub(crate) const OWING_AUTO_RETRY: &str = "SELECT uuid FROM builds
    WHERE auto_retry_remaining > 0 AND complete = 1 AND status IN ('FAILED', 'FAULT', 'TIMED_OUT')
    ORDER BY seq LIMIT ?";

impl SqliteStore {
    pub(crate) async fn start_auto_retries(&self, now: f64) -> StoreResult<Vec<BuildRecord>> {
        let owing: Vec<String> = sqlx::query_scalar(OWING_AUTO_RETRY)
            .bind(AUTO_RETRY_BATCH)
            .fetch_all(&self.pool)
            .await?;
        let mut made = Vec::new();
        for uuid in owing {
            if let Some(retry) = self.auto_retry(&uuid, now).await? {
                self.project_changed(&retry.account_id, &retry.project_name);
                made.push(retry);
            }
        }
        if !made.is_empty() {
            self.events.publish(StoreEvent::QueueChanged);
        }
        Ok(made)
    }

    /// Retries one build if it still owes it, under the write lock: a racing caller finds it
    /// owing nothing once this commits. A build of a deleted project (a past generation, or
    /// no project row) stops owing without a retry.
    async fn auto_retry(&self, uuid: &str, now: f64) -> StoreResult<Option<BuildRecord>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query(
            "SELECT record, project_generation FROM builds
             WHERE uuid = ? AND auto_retry_remaining > 0 AND complete = 1",
        )
        .bind(uuid)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut old = BuildRow::read(&row)?;
        let source_epoch: Option<i64> = if row.try_get::<i64, _>("project_generation")? == 0 {
            sqlx::query_scalar(
                "SELECT source_epoch FROM projects WHERE account_id = ? AND name = ?",
            )
            .bind(&old.account_id)
            .bind(&old.project_name)
            .fetch_optional(&mut *tx)
            .await?
        } else {
            None
        };
        let mut retry = source_epoch.and_then(|epoch| kiln_store::auto_retry_of(&old, epoch, now));
        if let Some(retry) = &mut retry {
            if insert_in(&mut tx, retry, now).await? != InsertedBuild::Inserted {
                return Err(StoreError::Database(
                    "an automatic retry, which has no idempotency token, was not inserted".into(),
                ));
            }
            old.auto_retry.next = Some(retry.uuid.clone());
        }
        // Compared and set: whoever clears the column made the build's one retry.
        let done = sqlx::query(
            "UPDATE builds SET auto_retry_remaining = 0, record = ?
             WHERE uuid = ? AND auto_retry_remaining > 0",
        )
        .bind(build_json(&old)?)
        .bind(uuid)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        tx.commit().await?;
        Ok(retry)
    }
}
