//! Compute fleets: stored settings, listings, and deletion only while no project names one.

use kiln_domain::fleet::FleetRecord;
use kiln_store::fleets::{
    DeletedFleet, FLEET_BUILD_COLUMNS, FleetBuild, FleetBuildRow, FleetRow, fleet_page,
    fleet_settings_json, fleet_sort_sql,
};
use kiln_store::records::RecordRow;
use kiln_store::{
    Page, ProjectKey, ProjectSort, StoreError, StoreResult, is_foreign_key_violation,
    is_unique_violation, sql_int,
};
use sqlx::PgPool;

pub(crate) async fn create(pool: &PgPool, fleet: &FleetRecord) -> StoreResult<()> {
    let result = sqlx::query(
        "INSERT INTO fleets (account_id, name, id, arn, created, last_modified,
            overflow_behavior, settings)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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
    pool: &PgPool,
    account_id: &str,
    names_or_arns: &[&str],
) -> StoreResult<Vec<FleetRecord>> {
    if names_or_arns.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT * FROM fleets WHERE account_id = $1 AND (name = ANY($2) OR arn = ANY($2))",
    )
    .bind(account_id)
    .bind(names_or_arns)
    .fetch_all(pool)
    .await?;
    rows.iter().map(FleetRow::read).collect()
}

pub(crate) async fn update(pool: &PgPool, fleet: &FleetRecord) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE fleets SET settings = $1, overflow_behavior = $2, last_modified = $3
         WHERE account_id = $4 AND arn = $5",
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

const FIRST_USER: &str = "SELECT name FROM projects WHERE fleet_arn = $1 ORDER BY name LIMIT 1";

pub(crate) async fn delete(
    pool: &PgPool,
    account_id: &str,
    arn: &str,
) -> StoreResult<DeletedFleet> {
    let mut tx = pool.begin().await?;
    // The row lock conflicts with the key-share lock that storing a project naming the fleet
    // takes: such a write either committed before (and is seen below) or waits, then finds
    // the fleet gone.
    let exists: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM fleets WHERE account_id = $1 AND arn = $2 FOR UPDATE")
            .bind(account_id)
            .bind(arn)
            .fetch_optional(&mut *tx)
            .await?;
    if exists.is_none() {
        return Ok(DeletedFleet::NotFound);
    }
    let user: Option<String> = sqlx::query_scalar(FIRST_USER)
        .bind(arn)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(project) = user {
        return Ok(DeletedFleet::InUse { project });
    }
    let deleted = sqlx::query("DELETE FROM fleets WHERE account_id = $1 AND arn = $2")
        .bind(account_id)
        .bind(arn)
        .execute(&mut *tx)
        .await;
    match deleted {
        Ok(_) => {
            tx.commit().await?;
            Ok(DeletedFleet::Deleted)
        }
        // The foreign key is the last word, should a project have named the fleet regardless.
        Err(e) if is_foreign_key_violation(&e) => {
            drop(tx);
            let project: Option<String> = sqlx::query_scalar(FIRST_USER)
                .bind(arn)
                .fetch_optional(pool)
                .await?;
            Ok(DeletedFleet::InUse {
                project: project.unwrap_or_default(),
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// A page of fleet ARNs; each sort is one range scan of its index.
pub(crate) async fn list(
    pool: &PgPool,
    account_id: &str,
    sort: ProjectSort,
    ascending: bool,
    after: Option<&ProjectKey>,
    limit: u64,
) -> StoreResult<Page<String, ProjectKey>> {
    let (column, direction, beyond) = fleet_sort_sql(sort, ascending);
    let (keyset, limit_param) = match (after, sort) {
        (None, _) => (String::new(), 2),
        (Some(_), ProjectSort::Name) => (format!("AND name {beyond} $2"), 3),
        (Some(_), _) => (format!("AND ({column}, name) {beyond} ($2, $3)"), 4),
    };
    let sql = format!(
        "SELECT arn, name, {column} AS sort_value FROM fleets WHERE account_id = $1 {keyset}
         ORDER BY {column} {direction}, name {direction} LIMIT ${limit_param}"
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
    pool: &PgPool,
    account_id: &str,
    fleet_arn: &str,
    limit: u64,
) -> StoreResult<Vec<FleetBuild>> {
    let rows = sqlx::query(&format!(
        "SELECT {FLEET_BUILD_COLUMNS} FROM builds
         WHERE account_id = $1 AND fleet_arn = $2 AND NOT complete
         ORDER BY lease_owner IS NULL, seq LIMIT $3"
    ))
    .bind(account_id)
    .bind(fleet_arn)
    .bind(sql_int(limit))
    .fetch_all(pool)
    .await?;
    rows.iter().map(FleetBuildRow::read).collect()
}
