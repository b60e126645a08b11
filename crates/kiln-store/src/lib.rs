//! Storage behind one trait. The embedded default is SQLite; each backend keeps its own
//! migrations (`migrations/<backend>/`) so a PostgreSQL implementation can follow without
//! changing callers.

use async_trait::async_trait;
use kiln_domain::build::{BuildRecord, BuildStatus};
use kiln_domain::project::ProjectRecord;
use kiln_domain::refs::GitRef;

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
    async fn get_project(&self, account_id: &str, name: &str)
    -> StoreResult<Option<ProjectRecord>>;
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

    /// Stores a new build, giving it the project's next build number (no gaps, no duplicates,
    /// whatever runs concurrently). `NotFound` when the project is gone.
    async fn insert_build(&self, build: &mut BuildRecord) -> StoreResult<()>;
    async fn get_build(&self, account_id: &str, uuid: &str) -> StoreResult<Option<BuildRecord>>;
    /// A build started with this idempotency token at or after `since`.
    async fn build_by_idempotency_token(
        &self,
        account_id: &str,
        project_name: &str,
        token: &str,
        since: f64,
    ) -> StoreResult<Option<BuildRecord>>;
    /// Replaces a stored build's state.
    async fn save_build(&self, build: &BuildRecord) -> StoreResult<()>;
    async fn delete_build(&self, account_id: &str, uuid: &str) -> StoreResult<bool>;
    /// Build ids (`project:uuid`), newest first unless `ascending`.
    async fn list_builds(
        &self,
        account_id: &str,
        project_name: Option<&str>,
        ascending: bool,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Page<String>>;
    /// Every build not yet complete, in every account, oldest first.
    async fn incomplete_builds(&self) -> StoreResult<Vec<BuildRecord>>;
    /// The status of the most recently started build for `git_ref` among the builds of the
    /// project's current source (`source_epoch`).
    async fn latest_status_for_ref(
        &self,
        account_id: &str,
        project_name: &str,
        git_ref: &GitRef,
        source_epoch: i64,
    ) -> StoreResult<Option<BuildStatus>>;
    /// The branch that the latest build without a source version checked out: the remote's
    /// default branch, as far as Kiln has seen it.
    async fn default_branch_built(
        &self,
        account_id: &str,
        project_name: &str,
        source_epoch: i64,
    ) -> StoreResult<Option<String>>;

    /// Saves a source credential; `AlreadyExists` when one exists for the server type and
    /// `overwrite` is false.
    async fn put_source_credential(
        &self,
        credential: &SourceCredential,
        overwrite: bool,
    ) -> StoreResult<()>;
    async fn source_credentials(&self, account_id: &str) -> StoreResult<Vec<SourceCredential>>;
    async fn delete_source_credential(&self, account_id: &str, arn: &str) -> StoreResult<bool>;
}

/// A token for cloning private repositories, imported with `ImportSourceCredentials`.
#[derive(Clone, PartialEq)]
pub struct SourceCredential {
    pub arn: String,
    pub account_id: String,
    pub server_type: String,
    pub auth_type: String,
    pub username: Option<String>,
    pub token: String,
}

impl std::fmt::Debug for SourceCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceCredential")
            .field("arn", &self.arn)
            .field("server_type", &self.server_type)
            .field("token", &"<redacted>")
            .finish()
    }
}
