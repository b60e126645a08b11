//! Projects: their settings, their badge token, and what deleting one does to its builds (see
//! `builds::retire_project_builds`).

use kiln_domain::build::BuildRecord;
use kiln_domain::project::ProjectRecord;
use kiln_store::fleets::fleet_arn_column;
use kiln_store::pages::project_page;
use kiln_store::records::{ProjectRow, RecordRow, settings_json};
use kiln_store::{
    Page, ProjectKey, ProjectSort, StoreError, StoreEvent, StoreResult, VisibilityUpdate, sql_int,
};
use sqlx::PgPool;

use crate::{builds, feed, key_violation, project_changed};

pub(crate) async fn create(pool: &PgPool, project: &ProjectRecord) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO projects (account_id, name, settings, badge_enabled, badge_token, created,
            last_modified, source_epoch, concurrent_build_limit, fleet_arn, visibility,
            public_alias, resource_access_role)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&project.account_id)
    .bind(&project.name)
    .bind(settings_json(project)?)
    .bind(project.badge_enabled)
    .bind(&project.badge_token)
    .bind(project.created)
    .bind(project.last_modified)
    .bind(project.source_epoch)
    .bind(project.settings.concurrent_build_limit)
    .bind(fleet_arn_column(project.settings.environment.as_ref()))
    .bind(project.public.visibility.as_str())
    .bind(&project.public.alias)
    .bind(&project.public.resource_access_role)
    .execute(&mut *tx)
    .await
    .map_err(key_violation)?;
    let changed = project_changed(&project.account_id, &project.name);
    feed::announce(&mut tx, &[changed]).await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn get(
    pool: &PgPool,
    account_id: &str,
    name: &str,
) -> StoreResult<Option<ProjectRecord>> {
    let row = sqlx::query("SELECT * FROM projects WHERE account_id = $1 AND name = $2")
        .bind(account_id)
        .bind(name)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(ProjectRow::read).transpose()
}

pub(crate) async fn update(pool: &PgPool, project: &ProjectRecord) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    let result = sqlx::query(
        "UPDATE projects SET settings = $1, badge_enabled = $2, last_modified = $3,
            source_epoch = $4, concurrent_build_limit = $5, fleet_arn = $6
         WHERE account_id = $7 AND name = $8",
    )
    .bind(settings_json(project)?)
    .bind(project.badge_enabled)
    .bind(project.last_modified)
    .bind(project.source_epoch)
    .bind(project.settings.concurrent_build_limit)
    .bind(fleet_arn_column(project.settings.environment.as_ref()))
    .bind(&project.account_id)
    .bind(&project.name)
    .execute(&mut *tx)
    .await
    .map_err(key_violation)?;
    if result.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    let changed = project_changed(&project.account_id, &project.name);
    feed::announce(&mut tx, &[changed]).await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn delete(
    pool: &PgPool,
    account_id: &str,
    name: &str,
    now: f64,
) -> StoreResult<Option<Vec<BuildRecord>>> {
    let mut tx = pool.begin().await?;
    let result = sqlx::query("DELETE FROM projects WHERE account_id = $1 AND name = $2")
        .bind(account_id)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    if result.rows_affected() == 0 {
        return Ok(None);
    }
    let (stopped, running) = builds::retire_project_builds(&mut tx, account_id, name, now).await?;
    let mut events = vec![project_changed(account_id, name), StoreEvent::QueueChanged];
    events.extend(
        running
            .into_iter()
            .map(|uuid| StoreEvent::StopRequested { uuid }),
    );
    feed::announce(&mut tx, &events).await?;
    tx.commit().await?;
    Ok(Some(stopped))
}

pub(crate) async fn by_badge_token(
    pool: &PgPool,
    token: &str,
) -> StoreResult<Option<ProjectRecord>> {
    project_where(pool, "SELECT * FROM projects WHERE badge_token = $1", token).await
}

pub(crate) async fn by_public_alias(
    pool: &PgPool,
    alias: &str,
) -> StoreResult<Option<ProjectRecord>> {
    project_where(
        pool,
        "SELECT * FROM projects WHERE public_alias = $1",
        alias,
    )
    .await
}

/// The project `sql` finds by `value`, in a column unique across accounts (a random token).
async fn project_where(
    pool: &PgPool,
    sql: &'static str,
    value: &str,
) -> StoreResult<Option<ProjectRecord>> {
    let row = sqlx::query(sql).bind(value).fetch_optional(pool).await?;
    row.as_ref().map(ProjectRow::read).transpose()
}

/// One statement, so the alias a project takes is decided with the write (racing calls agree).
pub(crate) async fn set_visibility(
    pool: &PgPool,
    account_id: &str,
    name: &str,
    change: &VisibilityUpdate<'_>,
) -> StoreResult<Option<ProjectRecord>> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "UPDATE projects SET visibility = $1,
            public_alias = CASE WHEN $1 = 'PUBLIC_READ' THEN COALESCE(public_alias, $2)
                                ELSE public_alias END,
            resource_access_role = $3, last_modified = $4
         WHERE account_id = $5 AND name = $6 RETURNING *",
    )
    .bind(change.visibility.as_str())
    .bind(change.new_alias)
    .bind(change.resource_access_role)
    .bind(change.now)
    .bind(account_id)
    .bind(name)
    .fetch_optional(&mut *tx)
    .await
    .map_err(key_violation)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let project = ProjectRow::read(&row)?;
    feed::announce(&mut tx, &[project_changed(account_id, name)]).await?;
    tx.commit().await?;
    Ok(Some(project))
}

/// A page of project names. Only fixed SQL text is ever built here: the column and direction
/// come from enums. Each sort has its index (account_id, column, name), so a page is one range
/// scan.
pub fn list_projects_sql(sort: ProjectSort, ascending: bool, after: bool) -> String {
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
    let (keyset, limit) = match (after, sort) {
        (false, _) => (String::new(), "$2"),
        (true, ProjectSort::Name) => (format!("AND name {beyond} $2"), "$3"),
        (true, _) => (format!("AND ({column}, name) {beyond} ($2, $3)"), "$4"),
    };
    format!(
        "SELECT name, {column} AS sort_value FROM projects WHERE account_id = $1 {keyset}
         ORDER BY {column} {direction}, name {direction} LIMIT {limit}"
    )
}

pub(crate) async fn list(
    pool: &PgPool,
    account_id: &str,
    sort: ProjectSort,
    ascending: bool,
    after: Option<&ProjectKey>,
    limit: u64,
) -> StoreResult<Page<String, ProjectKey>> {
    let sql = list_projects_sql(sort, ascending, after.is_some());
    let mut query = sqlx::query(&sql).bind(account_id);
    match (after, sort) {
        (None, _) => {}
        (Some(key), ProjectSort::Name) => query = query.bind(&key.name),
        (Some(key), _) => query = query.bind(key.sort_value).bind(&key.name),
    }
    let rows = query
        .bind(sql_int(limit.saturating_add(1)))
        .fetch_all(pool)
        .await?;
    project_page(&rows, sort, limit)
}
