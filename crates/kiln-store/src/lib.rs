//! Storage behind one trait. The embedded default is SQLite; each backend keeps its own
//! migrations (`migrations/<backend>/`) so a PostgreSQL implementation can follow without
//! changing callers.

use async_trait::async_trait;
use kiln_domain::project::ProjectRecord;

mod sqlite;

pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("already exists")]
    AlreadyExists,
    #[error("not found")]
    NotFound,
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// How `list_projects` orders names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectSort {
    Name,
    Created,
    LastModified,
}

/// One page of a listing, with the offset of the next page if there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_offset: Option<u64>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn create_project(&self, project: &ProjectRecord) -> StoreResult<()>;
    async fn get_project(&self, account_id: &str, name: &str) -> StoreResult<Option<ProjectRecord>>;
    /// Replaces a stored project; `NotFound` when it is gone.
    async fn update_project(&self, project: &ProjectRecord) -> StoreResult<()>;
    /// Returns whether a project was deleted.
    async fn delete_project(&self, account_id: &str, name: &str) -> StoreResult<bool>;
    async fn list_projects(
        &self,
        account_id: &str,
        sort: ProjectSort,
        ascending: bool,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Page<String>>;
    async fn project_by_badge_token(&self, token: &str) -> StoreResult<Option<ProjectRecord>>;
}
