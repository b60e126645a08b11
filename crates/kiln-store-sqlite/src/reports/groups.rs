//! Report groups: made first (or with a build's first report of one), they hold their reports
//! until deleted with them.

use kiln_domain::report::ReportGroupRecord;
use kiln_store::pages::project_page;
use kiln_store::records::RecordRow;
use kiln_store::report_records::{ReportGroupRow, export_config_json, tags_json};
use kiln_store::{
    DeletedReportGroup, Page, ProjectKey, ProjectSort, StoreError, StoreResult,
    is_unique_violation, sql_int,
};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

pub(crate) async fn create(pool: &SqlitePool, group: &ReportGroupRecord) -> StoreResult<()> {
    match insert(pool, group, false).await {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists),
        Err(e) => Err(e.into()),
    }
}

/// Inserts a group; with `if_missing`, an existing group is kept. Returns whether it was new.
pub(super) async fn insert<'c, E: sqlx::Executor<'c, Database = Sqlite>>(
    executor: E,
    group: &ReportGroupRecord,
    if_missing: bool,
) -> Result<bool, sqlx::Error> {
    let conflict = if if_missing {
        "ON CONFLICT (account_id, name) DO NOTHING"
    } else {
        ""
    };
    let sql = format!(
        "INSERT INTO report_groups
         (account_id, name, report_type, export_config, tags, created, last_modified)
         VALUES (?, ?, ?, ?, ?, ?, ?) {conflict}"
    );
    let export_config = export_config_json(group).unwrap_or_default();
    let tags = tags_json(group).unwrap_or_default();
    let done = sqlx::query(&sql)
        .bind(&group.account_id)
        .bind(&group.name)
        .bind(group.report_type.as_str())
        .bind(export_config)
        .bind(tags)
        .bind(group.created)
        .bind(group.last_modified)
        .execute(executor)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn get(
    pool: &SqlitePool,
    account_id: &str,
    names: &[&str],
) -> StoreResult<Vec<ReportGroupRecord>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = QueryBuilder::<Sqlite>::new("SELECT * FROM report_groups WHERE account_id = ");
    q.push_bind(account_id).push(" AND name IN (");
    let mut list = q.separated(", ");
    for name in names {
        list.push_bind(*name);
    }
    q.push(")");
    let rows = q.build().fetch_all(pool).await?;
    rows.iter().map(ReportGroupRow::read).collect()
}

pub(crate) async fn update(pool: &SqlitePool, group: &ReportGroupRecord) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE report_groups SET export_config = ?, tags = ?, last_modified = ?
         WHERE account_id = ? AND name = ?",
    )
    .bind(export_config_json(group)?)
    .bind(tags_json(group)?)
    .bind(group.last_modified)
    .bind(&group.account_id)
    .bind(&group.name)
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
    name: &str,
    delete_reports: bool,
) -> StoreResult<DeletedReportGroup> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM report_groups WHERE account_id = ? AND name = ?")
            .bind(account_id)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
    if exists.is_none() {
        return Ok(DeletedReportGroup::NotFound);
    }
    if delete_reports {
        sqlx::query("DELETE FROM reports WHERE account_id = ? AND group_name = ?")
            .bind(account_id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
    } else {
        let report: Option<i64> = sqlx::query_scalar(
            "SELECT seq FROM reports WHERE account_id = ? AND group_name = ? LIMIT 1",
        )
        .bind(account_id)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        if report.is_some() {
            return Ok(DeletedReportGroup::HasReports);
        }
    }
    sqlx::query("DELETE FROM report_groups WHERE account_id = ? AND name = ?")
        .bind(account_id)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(DeletedReportGroup::Deleted)
}

/// A page of group names; each sort is one range scan of its index. Fixed SQL text only.
pub(crate) async fn list(
    pool: &SqlitePool,
    account_id: &str,
    sort: ProjectSort,
    ascending: bool,
    after: Option<&ProjectKey>,
    limit: u64,
) -> StoreResult<Page<String, ProjectKey>> {
    let column = match sort {
        ProjectSort::Name => "name",
        ProjectSort::Created => "created",
        ProjectSort::LastModified => "last_modified",
    };
    let (direction, beyond) = if ascending {
        ("ASC", ">")
    } else {
        ("DESC", "<")
    };
    let keyset = match (after, sort) {
        (None, _) => String::new(),
        (Some(_), ProjectSort::Name) => format!("AND name {beyond} ?"),
        (Some(_), _) => format!("AND ({column}, name) {beyond} (?, ?)"),
    };
    let sql = format!(
        "SELECT name, {column} AS sort_value FROM report_groups WHERE account_id = ? {keyset}
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
    project_page(&rows, sort, limit)
}
