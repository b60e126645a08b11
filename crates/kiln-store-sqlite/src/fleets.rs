//! Compute fleets: stored settings, listings, and deletion only while no project names one.

use kiln_domain::fleet::FleetRecord;
use kiln_store::fleets::{
    DeletedFleet, FLEET_BUILD_COLUMNS, FleetBuild, FleetBuildRow, FleetRow, fleet_page,
    fleet_settings_json, fleet_sort_sql,
};
use kiln_store::records::RecordRow;
use kiln_store::{
    Page, ProjectKey, ProjectSort, StoreError, StoreResult, is_unique_violation, sql_int,
};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

pub(crate) async fn create(pool: &SqlitePool, fleet: &FleetRecord) -> StoreResult<()> {
    let result = sqlx::query(
        "INSERT INTO fleets (account_id, name, id, arn, created, last_modified,
            overflow_behavior, settings)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&fleet.account_id)
    .bind(&fleet.name)
    .bind(&fleet.id)
    .bind(&fleet.arn)
    .bind(fleet.created)
    .bind(fleet.last_modified)
    .bind(&fleet.settings.overflow_behavior)
    .bind(fleet_settings_json(fleet)?)
    .execute(pool)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn get(
    pool: &SqlitePool,
    account_id: &str,
    names_or_arns: &[&str],
) -> StoreResult<Vec<FleetRecord>> {
    if names_or_arns.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = QueryBuilder::<Sqlite>::new("SELECT * FROM fleets WHERE account_id = ");
    q.push_bind(account_id).push(" AND (name IN (");
    let mut list = q.separated(", ");
    for name in names_or_arns {
        list.push_bind(*name);
    }
    q.push(") OR arn IN (");
    let mut list = q.separated(", ");
    for arn in names_or_arns {
        list.push_bind(*arn);
    }
    q.push("))");
    let rows = q.build().fetch_all(pool).await?;
    rows.iter().map(FleetRow::read).collect()
}

pub(crate) async fn update(pool: &SqlitePool, fleet: &FleetRecord) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE fleets SET settings = ?, overflow_behavior = ?, last_modified = ?
         WHERE account_id = ? AND arn = ?",
    )
    .bind(fleet_settings_json(fleet)?)
    .bind(&fleet.settings.overflow_behavior)
    .bind(fleet.last_modified)
    .bind(&fleet.account_id)
    .bind(&fleet.arn)
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) async fn delete(
    pool: &SqlitePool,
    account_id: &str,
    arn: &str,
) -> StoreResult<DeletedFleet> {
    // One writer at a time: no project can name the fleet between the check and the delete.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let user: Option<String> =
        sqlx::query_scalar("SELECT name FROM projects WHERE fleet_arn = ? ORDER BY name LIMIT 1")
            .bind(arn)
            .fetch_optional(&mut *tx)
            .await?;
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM fleets WHERE account_id = ? AND arn = ?")
            .bind(account_id)
            .bind(arn)
            .fetch_optional(&mut *tx)
            .await?;
    if exists.is_none() {
        return Ok(DeletedFleet::NotFound);
    }
    if let Some(project) = user {
        return Ok(DeletedFleet::InUse { project });
    }
    sqlx::query("DELETE FROM fleets WHERE account_id = ? AND arn = ?")
        .bind(account_id)
        .bind(arn)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(DeletedFleet::Deleted)
}

/// A page of fleet ARNs; each sort is one range scan of its index.
pub(crate) async fn list(
    pool: &SqlitePool,
    account_id: &str,
    sort: ProjectSort,
    ascending: bool,
    after: Option<&ProjectKey>,
    limit: u64,
) -> StoreResult<Page<String, ProjectKey>> {
    let (column, direction, beyond) = fleet_sort_sql(sort, ascending);
    let keyset = match (after, sort) {
        (None, _) => String::new(),
        (Some(_), ProjectSort::Name) => format!("AND name {beyond} ?"),
        (Some(_), _) => format!("AND ({column}, name) {beyond} (?, ?)"),
    };
    let sql = format!(
        "SELECT arn, name, {column} AS sort_value FROM fleets WHERE account_id = ? {keyset}
         ORDER BY {column} {direction}, name {direction} LIMIT ?"
    );
    let mut query = sqlx::query(&sql).bind(account_id);
    if let Some(key) = after {
        if sort != ProjectSort::Name {
            query = query.bind(key.sort_value);
        }
        query = query.bind(&key.name);
    }
    let rows = query
        .bind(sql_int(limit).saturating_add(1))
        .fetch_all(pool)
        .await?;
    fleet_page(&rows, sort, limit)
}

/// The account's incomplete builds on the fleet: leased ones first, then queued, each in queue
/// order.
pub(crate) async fn builds(
    pool: &SqlitePool,
    account_id: &str,
    fleet_arn: &str,
    limit: u64,
) -> StoreResult<Vec<FleetBuild>> {
    let rows = sqlx::query(&format!(
        "SELECT {FLEET_BUILD_COLUMNS} FROM builds
         WHERE account_id = ? AND fleet_arn = ? AND complete = 0
         ORDER BY lease_owner IS NULL, seq LIMIT ?"
    ))
    .bind(account_id)
    .bind(fleet_arn)
    .bind(sql_int(limit))
    .fetch_all(pool)
    .await?;
    rows.iter().map(FleetBuildRow::read).collect()
}
