//! The embedded store: SQLite in WAL mode with full fsync, so an acknowledged write survives
//! a crash of the process or the machine.

use std::path::Path;
use std::str::FromStr;

use async_trait::async_trait;
use kiln_domain::project::{ProjectRecord, ProjectSettings};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::{Page, ProjectSort, Store, StoreError, StoreResult};

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and runs the migrations.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(SqliteStore { pool })
    }
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

fn project_from_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<ProjectRecord> {
    let settings: String = row.try_get("settings")?;
    let settings: ProjectSettings =
        serde_json::from_str(&settings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(ProjectRecord {
        account_id: row.try_get("account_id")?,
        name: row.try_get("name")?,
        settings,
        badge_enabled: row.try_get("badge_enabled")?,
        badge_token: row.try_get("badge_token")?,
        created: row.try_get("created")?,
        last_modified: row.try_get("last_modified")?,
        source_epoch: row.try_get("source_epoch")?,
    })
}

fn settings_json(project: &ProjectRecord) -> StoreResult<String> {
    serde_json::to_string(&project.settings).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_project(&self, project: &ProjectRecord) -> StoreResult<()> {
        let result = sqlx::query(
            "INSERT INTO projects (account_id, name, settings, badge_enabled, badge_token, created, last_modified, source_epoch)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&project.account_id)
        .bind(&project.name)
        .bind(settings_json(project)?)
        .bind(project.badge_enabled)
        .bind(&project.badge_token)
        .bind(project.created)
        .bind(project.last_modified)
        .bind(project.source_epoch)
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists),
            Err(e) => Err(e.into()),
        }
    }

    async fn get_project(&self, account_id: &str, name: &str) -> StoreResult<Option<ProjectRecord>> {
        let row = sqlx::query("SELECT * FROM projects WHERE account_id = ? AND name = ?")
            .bind(account_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(project_from_row).transpose()
    }

    async fn update_project(&self, project: &ProjectRecord) -> StoreResult<()> {
        let result = sqlx::query(
            "UPDATE projects SET settings = ?, badge_enabled = ?, last_modified = ?, source_epoch = ?
             WHERE account_id = ? AND name = ?",
        )
        .bind(settings_json(project)?)
        .bind(project.badge_enabled)
        .bind(project.last_modified)
        .bind(project.source_epoch)
        .bind(&project.account_id)
        .bind(&project.name)
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_project(&self, account_id: &str, name: &str) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM projects WHERE account_id = ? AND name = ?")
            .bind(account_id)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn list_projects(
        &self,
        account_id: &str,
        sort: ProjectSort,
        ascending: bool,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Page<String>> {
        // Only fixed SQL text is ever built here: the column and direction come from enums.
        let column = match sort {
            ProjectSort::Name => "name",
            ProjectSort::Created => "created",
            ProjectSort::LastModified => "last_modified",
        };
        let direction = if ascending { "ASC" } else { "DESC" };
        let sql = format!(
            "SELECT name FROM projects WHERE account_id = ? ORDER BY {column} {direction}, name {direction} LIMIT ? OFFSET ?"
        );
        let fetch = limit.saturating_add(1);
        let rows = sqlx::query(&sql)
            .bind(account_id)
            .bind(i64::try_from(fetch).unwrap_or(i64::MAX))
            .bind(i64::try_from(offset).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        let mut items = rows
            .iter()
            .map(|r| r.try_get::<String, _>("name"))
            .collect::<Result<Vec<_>, _>>()?;
        let next_offset = if items.len() as u64 > limit {
            items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            Some(offset + limit)
        } else {
            None
        };
        Ok(Page { items, next_offset })
    }

    async fn project_by_badge_token(&self, token: &str) -> StoreResult<Option<ProjectRecord>> {
        let row = sqlx::query("SELECT * FROM projects WHERE badge_token = ?")
            .bind(token)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(project_from_row).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(account: &str, name: &str, created: f64) -> ProjectRecord {
        ProjectRecord {
            account_id: account.into(),
            name: name.into(),
            settings: ProjectSettings::default(),
            badge_enabled: false,
            badge_token: format!("tok-{account}-{name}"),
            created,
            last_modified: created,
            source_epoch: 0,
        }
    }

    #[tokio::test]
    async fn projects_round_trip_and_stay_in_their_account() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("kiln.db")).await.unwrap();
        store.create_project(&record("111111111111", "a", 1.0)).await.unwrap();
        assert!(matches!(
            store.create_project(&record("111111111111", "a", 2.0)).await,
            Err(StoreError::AlreadyExists)
        ));
        store.create_project(&record("222222222222", "a", 3.0)).await.unwrap();
        let got = store.get_project("111111111111", "a").await.unwrap().unwrap();
        assert_eq!(got.created, 1.0);
        assert!(store.get_project("333333333333", "a").await.unwrap().is_none());
        assert!(store.delete_project("111111111111", "a").await.unwrap());
        assert!(store.get_project("222222222222", "a").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn listing_sorts_and_pages() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("kiln.db")).await.unwrap();
        for (i, name) in ["c", "a", "b"].iter().enumerate() {
            store.create_project(&record("1", name, i as f64)).await.unwrap();
        }
        let page = store.list_projects("1", ProjectSort::Name, true, 0, 2).await.unwrap();
        assert_eq!(page.items, vec!["a", "b"]);
        assert_eq!(page.next_offset, Some(2));
        let page = store.list_projects("1", ProjectSort::Name, true, 2, 2).await.unwrap();
        assert_eq!(page.items, vec!["c"]);
        assert_eq!(page.next_offset, None);
        let page = store.list_projects("1", ProjectSort::Created, false, 0, 10).await.unwrap();
        assert_eq!(page.items, vec!["b", "a", "c"]);
    }
}
