//! Builds: numbering, idempotency, reads by id, keyset pages and the badge lookups.

use kiln_domain::build::{BuildRecord, BuildStatus};
use kiln_domain::refs::GitRef;
use kiln_store::pages::{build_page, build_record_page};
use kiln_store::records::{
    BuildRow, RecordRow, build_json, build_status, default_branch_column, ref_columns,
};
use kiln_store::{
    BuildFilter, InsertedBuild, Page, StoreError, StoreEvent, StoreResult, auto_retry_remaining,
    sql_int,
};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::SqliteStore;
use crate::direct::LATEST_STATUS_FOR_REF;

/// A page of build ids: a range scan of builds_by_account (account_id, seq) or of
/// builds_by_project (…, project_generation, build_number). Fixed SQL text only.
pub(crate) fn list_builds_sql(of_project: bool, ascending: bool, after: bool) -> String {
    let (direction, beyond) = if ascending {
        ("ASC", ">")
    } else {
        ("DESC", "<")
    };
    let (scope, key) = if of_project {
        (
            "account_id = ? AND project_name = ? AND project_generation = 0",
            "build_number",
        )
    } else {
        ("account_id = ?", "seq")
    };
    let keyset = if after {
        format!("AND {key} {beyond} ?")
    } else {
        String::new()
    };
    format!(
        "SELECT project_name || ':' || uuid AS id, {key} AS page_key FROM builds
         WHERE {scope} {keyset} ORDER BY {key} {direction} LIMIT ?"
    )
}

/// A page of the account's builds that pass `filter`: a range scan of builds_by_account or of
/// the index of one of the filters (builds_by_project_seq, builds_by_status_seq,
/// builds_by_ref_seq), all ordered by seq. Fixed SQL text only; binds in the order of the
/// filter's fields, then `after`, then the limit.
pub(crate) fn find_builds_sql(filter: &BuildFilter<'_>, after: bool) -> String {
    let mut sql = String::from("SELECT record, seq AS page_key FROM builds WHERE account_id = ?");
    if filter.project_name.is_some() {
        sql.push_str(" AND project_name = ?");
    }
    if filter.status.is_some() {
        sql.push_str(" AND status = ?");
    }
    if filter.branch.is_some() {
        sql.push_str(" AND ref_kind = 'branch' AND ref_name = ?");
    }
    if after {
        sql.push_str(" AND seq < ?");
    }
    sql.push_str(" ORDER BY seq DESC LIMIT ?");
    sql
}

pub(crate) const GET_BUILD: &str = "SELECT record FROM builds WHERE account_id = ? AND uuid = ?";

/// Builds by uuid, `count` of them: one lookup of the uuid index each. Fixed SQL text only.
pub(crate) fn get_builds_sql(count: usize) -> String {
    let marks = vec!["?"; count].join(", ");
    format!("SELECT record FROM builds WHERE account_id = ? AND uuid IN ({marks})")
}

/// The latest default-branch build of a project's current source: the first entry of one
/// range of builds_by_default_branch.
pub(crate) const DEFAULT_BRANCH_BUILT: &str = "SELECT default_branch FROM builds
    WHERE account_id = ? AND project_name = ? AND project_generation = 0 AND source_epoch = ?
    AND default_branch IS NOT NULL ORDER BY start_time DESC, build_number DESC LIMIT 1";

pub(crate) async fn insert(
    store: &SqliteStore,
    build: &mut BuildRecord,
    idempotency_since: f64,
) -> StoreResult<InsertedBuild> {
    // The first statement writes, so the transaction holds SQLite's write lock from the
    // start: the token check below and the insert cannot interleave with another insert.
    let mut tx = store.pool.begin().await?;
    let inserted = insert_in(&mut tx, build, idempotency_since).await?;
    if inserted == InsertedBuild::Inserted {
        tx.commit().await?;
        store.project_changed(&build.account_id, &build.project_name);
        store.events.publish(StoreEvent::QueueChanged);
    }
    Ok(inserted)
}

/// Numbers and stores a build in the caller's transaction, which holds the write lock from
/// its first statement (see `Store::insert_build`). The caller publishes the events.
pub(crate) async fn insert_in(
    tx: &mut Transaction<'_, Sqlite>,
    build: &mut BuildRecord,
    idempotency_since: f64,
) -> StoreResult<InsertedBuild> {
    let number: Option<i64> = sqlx::query_scalar(
        "UPDATE projects SET build_counter = build_counter + 1
         WHERE account_id = ? AND name = ? RETURNING build_counter",
    )
    .bind(&build.account_id)
    .bind(&build.project_name)
    .fetch_optional(&mut **tx)
    .await?;
    build.build_number = number.ok_or(StoreError::NotFound)?;
    if let Some(token) = &build.idempotency_token {
        // A token whose window has passed is released, so it can name a new build.
        sqlx::query(
            "UPDATE builds SET idempotency_token = NULL
             WHERE account_id = ? AND project_name = ? AND project_generation = 0
             AND idempotency_token = ? AND start_time < ?",
        )
        .bind(&build.account_id)
        .bind(&build.project_name)
        .bind(token)
        .bind(idempotency_since)
        .execute(&mut **tx)
        .await?;
        let existing = sqlx::query(
            "SELECT record FROM builds WHERE account_id = ? AND project_name = ?
             AND project_generation = 0 AND idempotency_token = ?",
        )
        .bind(&build.account_id)
        .bind(&build.project_name)
        .bind(token)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(row) = existing {
            // Dropping the transaction rolls the build counter back.
            return Ok(InsertedBuild::Existing(Box::new(BuildRow::read(&row)?)));
        }
    }
    // From a counter that never goes back: a deleted build's seq is never given again.
    let seq: i64 =
        sqlx::query_scalar("UPDATE build_seq SET last = last + 1 WHERE id = 1 RETURNING last")
            .fetch_one(&mut **tx)
            .await?;
    let (ref_kind, ref_name) = ref_columns(build);
    sqlx::query(
        "INSERT INTO builds (uuid, account_id, project_name, build_number, status, complete,
            ref_kind, ref_name, default_branch, source_epoch, start_time, idempotency_token,
            record, seq, queued_timeout_minutes, fleet_arn, auto_retry_remaining)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&build.uuid)
    .bind(&build.account_id)
    .bind(&build.project_name)
    .bind(build.build_number)
    .bind(build.status.as_str())
    .bind(build.is_complete())
    .bind(ref_kind)
    .bind(ref_name)
    .bind(default_branch_column(build))
    .bind(build.source_epoch)
    .bind(build.start_time)
    .bind(&build.idempotency_token)
    .bind(build_json(build)?)
    .bind(seq)
    .bind(build.settings.queued_timeout_in_minutes)
    .bind(build.settings.environment.fleet_arn())
    .bind(auto_retry_remaining(build))
    .execute(&mut **tx)
    .await?;
    Ok(InsertedBuild::Inserted)
}

pub(crate) async fn get(
    pool: &SqlitePool,
    account_id: &str,
    uuid: &str,
) -> StoreResult<Option<BuildRecord>> {
    let row = sqlx::query(GET_BUILD)
        .bind(account_id)
        .bind(uuid)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(BuildRow::read).transpose()
}

pub(crate) async fn get_many(
    pool: &SqlitePool,
    account_id: &str,
    uuids: &[&str],
) -> StoreResult<Vec<BuildRecord>> {
    if uuids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = get_builds_sql(uuids.len());
    let mut query = sqlx::query(&sql).bind(account_id);
    for uuid in uuids {
        query = query.bind(*uuid);
    }
    let rows = query.fetch_all(pool).await?;
    rows.iter().map(BuildRow::read).collect()
}

pub(crate) async fn delete(store: &SqliteStore, account_id: &str, uuid: &str) -> StoreResult<bool> {
    let project: Option<String> = sqlx::query_scalar(
        "DELETE FROM builds WHERE account_id = ? AND uuid = ? RETURNING project_name",
    )
    .bind(account_id)
    .bind(uuid)
    .fetch_optional(&store.pool)
    .await?;
    match project {
        Some(project_name) => {
            store.project_changed(account_id, &project_name);
            store.log_files.remove(uuid).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

pub(crate) async fn list(
    pool: &SqlitePool,
    account_id: &str,
    project_name: Option<&str>,
    ascending: bool,
    after: Option<i64>,
    limit: u64,
) -> StoreResult<Page<String, i64>> {
    let sql = list_builds_sql(project_name.is_some(), ascending, after.is_some());
    let mut query = sqlx::query_as(&sql).bind(account_id);
    if let Some(project_name) = project_name {
        query = query.bind(project_name);
    }
    if let Some(after) = after {
        query = query.bind(after);
    }
    let rows = query
        .bind(sql_int(limit.saturating_add(1)))
        .fetch_all(pool)
        .await?;
    Ok(build_page(rows, limit))
}

pub(crate) async fn find(
    pool: &SqlitePool,
    account_id: &str,
    filter: &BuildFilter<'_>,
    after: Option<i64>,
    limit: u64,
) -> StoreResult<Page<BuildRecord, i64>> {
    let sql = find_builds_sql(filter, after.is_some());
    let mut query = sqlx::query_as(&sql).bind(account_id);
    if let Some(project_name) = filter.project_name {
        query = query.bind(project_name);
    }
    if let Some(status) = filter.status {
        query = query.bind(status.as_str());
    }
    if let Some(branch) = filter.branch {
        query = query.bind(branch);
    }
    if let Some(after) = after {
        query = query.bind(after);
    }
    let rows = query
        .bind(sql_int(limit.saturating_add(1)))
        .fetch_all(pool)
        .await?;
    build_record_page(rows, limit)
}

pub(crate) async fn latest_status_for_ref(
    pool: &SqlitePool,
    account_id: &str,
    project_name: &str,
    git_ref: &GitRef,
    source_epoch: i64,
) -> StoreResult<Option<BuildStatus>> {
    let (kind, name) = git_ref.kind_and_name();
    let status: Option<String> = sqlx::query_scalar(LATEST_STATUS_FOR_REF)
        .bind(account_id)
        .bind(project_name)
        .bind(kind)
        .bind(name)
        .bind(source_epoch)
        .fetch_optional(pool)
        .await?;
    status.as_deref().map(build_status).transpose()
}

pub(crate) async fn default_branch_built(
    pool: &SqlitePool,
    account_id: &str,
    project_name: &str,
    source_epoch: i64,
) -> StoreResult<Option<String>> {
    let name: Option<String> = sqlx::query_scalar(DEFAULT_BRANCH_BUILT)
        .bind(account_id)
        .bind(project_name)
        .bind(source_epoch)
        .fetch_optional(pool)
        .await?;
    Ok(name)
}
