//! Builds: numbering, idempotency, keyset pages, and what deleting their project does to them.

use kiln_domain::build::{BuildRecord, BuildStatus, PhaseContext, context_codes};
use sqlx::{PgConnection, PgPool, Row};

use crate::queue;
use kiln_store::pages::{build_page, build_record_page};
use kiln_store::records::{BuildRow, RecordRow, build_json, default_branch_column, ref_columns};
use kiln_store::{
    BuildFilter, InsertedBuild, Page, StoreError, StoreResult, auto_retry_remaining, sql_int,
};

/// Numbers and stores a build in the caller's transaction (see `Store::insert_build`).
pub(crate) async fn insert(
    tx: &mut PgConnection,
    build: &mut BuildRecord,
    idempotency_since: f64,
) -> StoreResult<InsertedBuild> {
    // The project's row stays locked to commit: inserts into one project run one after the
    // other, so the token check below sees every build committed before it.
    let number: Option<i64> = sqlx::query_scalar(
        "UPDATE projects SET build_counter = build_counter + 1
         WHERE account_id = $1 AND name = $2 RETURNING build_counter",
    )
    .bind(&build.account_id)
    .bind(&build.project_name)
    .fetch_optional(&mut *tx)
    .await?;
    build.build_number = number.ok_or(StoreError::NotFound)?;
    if let Some(token) = &build.idempotency_token {
        // A token whose window has passed is released, so it can name a new build.
        sqlx::query(
            "UPDATE builds SET idempotency_token = NULL
             WHERE account_id = $1 AND project_name = $2 AND project_generation = 0
             AND idempotency_token = $3 AND start_time < $4",
        )
        .bind(&build.account_id)
        .bind(&build.project_name)
        .bind(token)
        .bind(idempotency_since)
        .execute(&mut *tx)
        .await?;
        let existing = sqlx::query(
            "SELECT record FROM builds WHERE account_id = $1 AND project_name = $2
             AND project_generation = 0 AND idempotency_token = $3",
        )
        .bind(&build.account_id)
        .bind(&build.project_name)
        .bind(token)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = existing {
            // The caller drops the transaction, which rolls the build counter back.
            return Ok(InsertedBuild::Existing(Box::new(BuildRow::read(&row)?)));
        }
    }
    // From a counter that never goes back: a deleted build's seq is never given again.
    let seq: i64 =
        sqlx::query_scalar("UPDATE build_seq SET last = last + 1 WHERE id = 1 RETURNING last")
            .fetch_one(&mut *tx)
            .await?;
    let (ref_kind, ref_name) = ref_columns(build);
    sqlx::query(
        "INSERT INTO builds (uuid, account_id, project_name, build_number, status, complete,
            ref_kind, ref_name, source_epoch, start_time, idempotency_token, record, seq,
            queued_timeout_minutes, default_branch, fleet_arn, auto_retry_remaining)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(&build.uuid)
    .bind(&build.account_id)
    .bind(&build.project_name)
    .bind(build.build_number)
    .bind(build.status.as_str())
    .bind(build.is_complete())
    .bind(ref_kind)
    .bind(ref_name)
    .bind(build.source_epoch)
    .bind(build.start_time)
    .bind(&build.idempotency_token)
    .bind(build_json(build)?)
    .bind(seq)
    .bind(build.settings.queued_timeout_in_minutes)
    .bind(default_branch_column(build))
    .bind(build.settings.environment.fleet_arn())
    .bind(auto_retry_remaining(build))
    .execute(&mut *tx)
    .await?;
    Ok(InsertedBuild::Inserted)
}

/// In the caller's transaction, after the project's row is deleted: its queued builds end
/// STOPPED, its leased builds are marked stop_requested, and all its builds move to a past
/// generation. Returns the builds it stopped, and the uuids of the marked builds, whose owners
/// must hear StopRequested.
pub(crate) async fn retire_project_builds(
    tx: &mut PgConnection,
    account_id: &str,
    name: &str,
    now: f64,
) -> StoreResult<(Vec<BuildRecord>, Vec<String>)> {
    // Locked before deciding: a claim racing the deletion has either committed (the build is
    // leased now and seen so) or skips the locked row.
    let rows = sqlx::query(
        "SELECT uuid, record, version, lease_owner IS NOT NULL AS leased FROM builds
         WHERE account_id = $1 AND project_name = $2 AND project_generation = 0 AND NOT complete
         ORDER BY seq FOR UPDATE",
    )
    .bind(account_id)
    .bind(name)
    .fetch_all(&mut *tx)
    .await?;
    let (mut stopped, mut running) = (Vec::new(), Vec::new());
    for row in &rows {
        // Running builds are stopped by their owners; queued ones never launch.
        if row.try_get("leased")? {
            running.push(row.try_get::<String, _>("uuid")?);
            continue;
        }
        let mut build = BuildRow::read(row)?;
        build.abort(
            BuildStatus::Stopped,
            PhaseContext::new(
                context_codes::BUILD_STOPPED,
                "The build's project was deleted before the build started",
            ),
            now,
        );
        queue::write_locked(&mut *tx, &build, row.try_get("version")?).await?;
        stopped.push(build);
    }
    sqlx::query("UPDATE builds SET stop_requested = TRUE WHERE uuid = ANY($1)")
        .bind(&running)
        .execute(&mut *tx)
        .await?;
    // The builds stay readable by id, in a past generation of the project.
    sqlx::query(
        "UPDATE builds SET project_generation = (
             SELECT MAX(project_generation) + 1 FROM builds
             WHERE account_id = $1 AND project_name = $2)
         WHERE account_id = $1 AND project_name = $2 AND project_generation = 0",
    )
    .bind(account_id)
    .bind(name)
    .execute(&mut *tx)
    .await?;
    Ok((stopped, running))
}

/// A page of build ids: a range scan of builds_by_account (account_id, seq) or of
/// builds_by_project (…, project_generation, build_number). Fixed SQL text only.
pub fn list_builds_sql(of_project: bool, ascending: bool, after: bool) -> String {
    let (direction, beyond) = if ascending {
        ("ASC", ">")
    } else {
        ("DESC", "<")
    };
    let (scope, key, next) = if of_project {
        (
            "account_id = $1 AND project_name = $2 AND project_generation = 0",
            "build_number",
            3,
        )
    } else {
        ("account_id = $1", "seq", 2)
    };
    let (keyset, limit) = if after {
        (format!("AND {key} {beyond} ${next}"), next + 1)
    } else {
        (String::new(), next)
    };
    format!(
        "SELECT project_name || ':' || uuid AS id, {key} AS page_key FROM builds
         WHERE {scope} {keyset} ORDER BY {key} {direction} LIMIT ${limit}"
    )
}

pub(crate) async fn list_builds(
    pool: &PgPool,
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
/// A page of the account's builds that pass `filter`: a range scan of builds_by_account or of
/// the index of one of the filters (builds_by_project_seq, builds_by_status_seq,
/// builds_by_ref_seq), all ordered by seq. Fixed SQL text only; binds in the order of the
/// filter's fields, then `after`, then the limit.
pub fn find_builds_sql(filter: &BuildFilter<'_>, after: bool) -> String {
    let mut sql = String::from("SELECT record, seq AS page_key FROM builds WHERE account_id = $1");
    let mut next = 2;
    let mut condition = |sql: &mut String, text: &str| {
        sql.push_str(&format!(" AND {text}${next}"));
        next += 1;
    };
    if filter.project_name.is_some() {
        condition(&mut sql, "project_name = ");
    }
    if filter.status.is_some() {
        condition(&mut sql, "status = ");
    }
    if filter.branch.is_some() {
        condition(&mut sql, "ref_kind = 'branch' AND ref_name = ");
    }
    if after {
        condition(&mut sql, "seq < ");
    }
    sql.push_str(&format!(" ORDER BY seq DESC LIMIT ${next}"));
    sql
}

pub(crate) async fn find_builds(
    pool: &PgPool,
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

/// The latest status among a ref's builds of the current source: the first entry of one
/// range of builds_by_ref.
pub const LATEST_STATUS_FOR_REF: &str = "SELECT status FROM builds
    WHERE account_id = $1 AND project_name = $2 AND project_generation = 0 AND ref_kind = $3
    AND ref_name = $4 AND source_epoch = $5
    ORDER BY start_time DESC, build_number DESC LIMIT 1";

/// The branch of the latest build without a source version: the first entry of one range of
/// builds_by_default_branch.
pub const DEFAULT_BRANCH_BUILT: &str = "SELECT default_branch FROM builds
    WHERE account_id = $1 AND project_name = $2 AND project_generation = 0 AND source_epoch = $3
    AND default_branch IS NOT NULL
    ORDER BY start_time DESC, build_number DESC LIMIT 1";
