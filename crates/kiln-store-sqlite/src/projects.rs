//! Projects: their settings, their badge token, and what deleting one does to its builds
//! (queued ones stop, running ones are asked to, all stay readable by id).

use kiln_domain::build::{BuildRecord, BuildStatus, PhaseContext, context_codes};
use kiln_domain::project::ProjectRecord;
use kiln_store::fleets::fleet_arn_column;
use kiln_store::pages::project_page;
use kiln_store::records::{BuildRow, ProjectRow, RecordRow, settings_json};
use kiln_store::{
    Page, ProjectKey, ProjectSort, StoreError, StoreEvent, StoreResult, VisibilityUpdate,
    is_foreign_key_violation, is_unique_violation, sql_int,
};
use sqlx::{Row, SqlitePool};

use crate::{SqliteStore, queue};

/// A page of project names. Only fixed SQL text is ever built here: the column and direction
/// come from enums. Each sort has its index (account_id, column, name), so a page is one range
/// scan.
pub(crate) fn list_projects_sql(sort: ProjectSort, ascending: bool, after: bool) -> String {
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
        (false, _) => String::new(),
        (true, ProjectSort::Name) => format!("AND name {beyond} ?"),
        (true, _) => format!("AND ({column}, name) {beyond} (?, ?)"),
    };
    format!(
        "SELECT name, {column} AS sort_value FROM projects WHERE account_id = ? {keyset}
         ORDER BY {column} {direction}, name {direction} LIMIT ?"
    )
}

pub(crate) const GET_PROJECT: &str = "SELECT * FROM projects WHERE account_id = ? AND name = ?";
pub(crate) const PROJECT_BY_BADGE_TOKEN: &str = "SELECT * FROM projects WHERE badge_token = ?";
pub(crate) const PROJECT_BY_PUBLIC_ALIAS: &str = "SELECT * FROM projects WHERE public_alias = ?";
pub(crate) async fn create(store: &SqliteStore, project: &ProjectRecord) -> StoreResult<()> {
    let result = sqlx::query(
        "INSERT INTO projects (account_id, name, settings, badge_enabled, badge_token, created,
            last_modified, source_epoch, concurrent_build_limit, fleet_arn, visibility,
            public_alias, resource_access_role)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    .execute(&store.pool)
    .await;
    match result {
        Ok(_) => {
            store.project_changed(&project.account_id, &project.name);
            Ok(())
        }
        Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists),
        Err(e) if is_foreign_key_violation(&e) => Err(StoreError::NotFound),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn get(
    pool: &SqlitePool,
    account_id: &str,
    name: &str,
) -> StoreResult<Option<ProjectRecord>> {
    let row = sqlx::query(GET_PROJECT)
        .bind(account_id)
        .bind(name)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(ProjectRow::read).transpose()
}

pub(crate) async fn update(store: &SqliteStore, project: &ProjectRecord) -> StoreResult<()> {
    let result = sqlx::query(
        "UPDATE projects SET settings = ?, badge_enabled = ?, last_modified = ?, source_epoch = ?,
             concurrent_build_limit = ?, fleet_arn = ?
         WHERE account_id = ? AND name = ?",
    )
    .bind(settings_json(project)?)
    .bind(project.badge_enabled)
    .bind(project.last_modified)
    .bind(project.source_epoch)
    .bind(project.settings.concurrent_build_limit)
    .bind(fleet_arn_column(project.settings.environment.as_ref()))
    .bind(&project.account_id)
    .bind(&project.name)
    .execute(&store.pool)
    .await
    .map_err(|e| {
        if is_foreign_key_violation(&e) {
            StoreError::NotFound
        } else {
            e.into()
        }
    })?;
    if result.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    store.project_changed(&project.account_id, &project.name);
    Ok(())
}

pub(crate) async fn delete(
    store: &SqliteStore,
    account_id: &str,
    name: &str,
    now: f64,
) -> StoreResult<Option<Vec<BuildRecord>>> {
    let mut tx = store.pool.begin_with("BEGIN IMMEDIATE").await?;
    let result = sqlx::query("DELETE FROM projects WHERE account_id = ? AND name = ?")
        .bind(account_id)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    if result.rows_affected() == 0 {
        return Ok(None);
    }
    // Queued builds never launch; running ones are stopped by their owners.
    let queued = sqlx::query(
        "SELECT record, version FROM builds WHERE account_id = ? AND project_name = ?
         AND project_generation = 0 AND complete = 0 AND lease_owner IS NULL",
    )
    .bind(account_id)
    .bind(name)
    .fetch_all(&mut *tx)
    .await?;
    let mut stopped = Vec::with_capacity(queued.len());
    for row in &queued {
        let mut build = BuildRow::read(row)?;
        build.abort(
            BuildStatus::Stopped,
            PhaseContext::new(
                context_codes::BUILD_STOPPED,
                "The build's project was deleted before the build started",
            ),
            now,
        );
        queue::write_fenced(
            &mut tx,
            &build,
            queue::Fence::Version(row.try_get("version")?),
        )
        .await?;
        stopped.push(build);
    }
    let running: Vec<String> = sqlx::query_scalar(
        "UPDATE builds SET stop_requested = 1 WHERE account_id = ? AND project_name = ?
         AND project_generation = 0 AND lease_owner IS NOT NULL RETURNING uuid",
    )
    .bind(account_id)
    .bind(name)
    .fetch_all(&mut *tx)
    .await?;
    // The builds stay readable by id, in a past generation of the project.
    sqlx::query(
        "UPDATE builds SET project_generation = (
             SELECT MAX(project_generation) + 1 FROM builds
             WHERE account_id = ?1 AND project_name = ?2)
         WHERE account_id = ?1 AND project_name = ?2 AND project_generation = 0",
    )
    .bind(account_id)
    .bind(name)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    store.project_changed(account_id, name);
    store.events.publish(StoreEvent::QueueChanged);
    for uuid in running {
        store.events.publish(StoreEvent::StopRequested { uuid });
    }
    Ok(Some(stopped))
}

pub(crate) async fn list(
    pool: &SqlitePool,
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

pub(crate) async fn by_badge_token(
    pool: &SqlitePool,
    token: &str,
) -> StoreResult<Option<ProjectRecord>> {
    project_where(pool, PROJECT_BY_BADGE_TOKEN, token).await
}

pub(crate) async fn by_public_alias(
    pool: &SqlitePool,
    alias: &str,
) -> StoreResult<Option<ProjectRecord>> {
    project_where(pool, PROJECT_BY_PUBLIC_ALIAS, alias).await
}

/// The project `sql` finds by `value`, in a column unique across accounts (a random token).
async fn project_where(
    pool: &SqlitePool,
    sql: &'static str,
    value: &str,
) -> StoreResult<Option<ProjectRecord>> {
    let row = sqlx::query(sql).bind(value).fetch_optional(pool).await?;
    row.as_ref().map(ProjectRow::read).transpose()
}

pub(crate) async fn set_visibility(
    store: &SqliteStore,
    account_id: &str,
    name: &str,
    change: &VisibilityUpdate<'_>,
) -> StoreResult<Option<ProjectRecord>> {
    let row = sqlx::query(SET_VISIBILITY)
        .bind(change.visibility.as_str())
        .bind(change.new_alias)
        .bind(change.resource_access_role)
        .bind(change.now)
        .bind(account_id)
        .bind(name)
        .fetch_optional(&store.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::AlreadyExists
            } else {
                e.into()
            }
        })?;
    let Some(row) = row else {
        return Ok(None);
    };
    let project = ProjectRow::read(&row)?;
    store.project_changed(account_id, name);
    Ok(Some(project))
}

/// One statement, so the alias a project takes is decided with the write (racing calls agree).
const SET_VISIBILITY: &str = "UPDATE projects SET visibility = ?1,
        public_alias = CASE WHEN ?1 = 'PUBLIC_READ' THEN COALESCE(public_alias, ?2)
                            ELSE public_alias END,
        resource_access_role = ?3, last_modified = ?4
     WHERE account_id = ?5 AND name = ?6 RETURNING *";
