//! The embedded store: SQLite in WAL mode with full fsync, so an acknowledged write survives
//! a crash of the process or the machine.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use async_trait::async_trait;
use kiln_domain::build::{BuildRecord, BuildStatus, PhaseContext, context_codes};
use kiln_domain::project::ProjectRecord;
use kiln_domain::refs::GitRef;
use kiln_domain::webhook::{DeliveryOutcome, DeliveryRecord, WebhookRecord};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use kiln_domain::report::{
    CodeCoverage, ReportContents, ReportGroupRecord, ReportRecord, TestCase,
};
use kiln_store::pages::{build_page, project_page};
use kiln_store::records::{
    BuildRow, ProjectRow, RecordRow, WebhookRow, build_json, build_status, default_branch_column,
    ref_columns, settings_json, webhook_config_json,
};
use kiln_store::{
    BodyClaim, BranchReports, Claim, ClaimRequest, ConsoleSession, CoverageKey, CoverageQuery,
    DeletedReportGroup, EventFeed, EventSubscription, HeldLease, InsertedBuild, Lease, LeasedBuild,
    Page, ProjectKey, ProjectSort, ReportQuery, SignInAttempt, SignInBackoff, SourceCredential,
    Store, StoreError, StoreEvent, StoreResult, TestCaseQuery, is_foreign_key_violation,
    is_unique_violation, sql_int,
};

mod deliveries;
mod direct;
mod logs;
mod queue;
mod reports;
mod sign_in;
#[cfg(test)]
mod store_semantics_tests;

use direct::{DirectReads, LATEST_STATUS_FOR_REF};

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    log_files: logs::LogFiles,
    direct: std::sync::Arc<DirectReads>,
    /// One process uses the file, so the change feed is in process: announced after commit.
    events: EventFeed,
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
        sqlx::migrate!("./migrations").run(&pool).await?;
        let log_files = logs::LogFiles::open(path)?;
        logs::move_database_pieces_to_files(&pool, &log_files).await?;
        // Statistics for the planner, refreshed where they are missing or stale, within a
        // bounded amount of work (SQLite's advice for connections that live long). The queries'
        // plans do not depend on them (store_semantics_tests), but SQLite's other choices do.
        sqlx::query("PRAGMA optimize=0x10002")
            .execute(&pool)
            .await?;
        Ok(SqliteStore {
            pool,
            log_files,
            direct: std::sync::Arc::new(DirectReads::new(path)),
            events: EventFeed::default(),
        })
    }
}

impl SqliteStore {
    fn project_changed(&self, account_id: &str, project_name: &str) {
        self.events.publish(StoreEvent::ProjectChanged {
            account_id: account_id.to_owned(),
            project_name: project_name.to_owned(),
        });
    }

    async fn build_exists(&self, uuid: &str) -> StoreResult<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM builds WHERE uuid = ?")
            .bind(uuid)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }
}

/// A page of project names. Only fixed SQL text is ever built here: the column and direction
/// come from enums. Each sort has its index (account_id, column, name), so a page is one range
/// scan.
fn list_projects_sql(sort: ProjectSort, ascending: bool, after: bool) -> String {
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

/// A page of build ids: a range scan of builds_by_account (account_id, seq) or of
/// builds_by_project (…, project_generation, build_number). Fixed SQL text only.
fn list_builds_sql(of_project: bool, ascending: bool, after: bool) -> String {
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

const GET_PROJECT: &str = "SELECT * FROM projects WHERE account_id = ? AND name = ?";
const PROJECT_BY_BADGE_TOKEN: &str = "SELECT * FROM projects WHERE badge_token = ?";
const GET_BUILD: &str = "SELECT record FROM builds WHERE account_id = ? AND uuid = ?";

/// Builds by uuid, `count` of them: one lookup of the uuid index each. Fixed SQL text only.
fn get_builds_sql(count: usize) -> String {
    let marks = vec!["?"; count].join(", ");
    format!("SELECT record FROM builds WHERE account_id = ? AND uuid IN ({marks})")
}

/// The latest default-branch build of a project's current source: the first entry of one
/// range of builds_by_default_branch.
const DEFAULT_BRANCH_BUILT: &str = "SELECT default_branch FROM builds
    WHERE account_id = ? AND project_name = ? AND project_generation = 0 AND source_epoch = ?
    AND default_branch IS NOT NULL ORDER BY start_time DESC, build_number DESC LIMIT 1";

#[async_trait]
impl Store for SqliteStore {
    fn subscribe(&self) -> EventSubscription {
        self.events.subscribe()
    }

    async fn create_project(&self, project: &ProjectRecord) -> StoreResult<()> {
        let result = sqlx::query(
            "INSERT INTO projects (account_id, name, settings, badge_enabled, badge_token, created, last_modified, source_epoch, concurrent_build_limit)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => {
                self.project_changed(&project.account_id, &project.name);
                Ok(())
            }
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists),
            Err(e) => Err(e.into()),
        }
    }

    async fn get_project(
        &self,
        account_id: &str,
        name: &str,
    ) -> StoreResult<Option<ProjectRecord>> {
        let row = sqlx::query(GET_PROJECT)
            .bind(account_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(ProjectRow::read).transpose()
    }

    async fn update_project(&self, project: &ProjectRecord) -> StoreResult<()> {
        let result = sqlx::query(
            "UPDATE projects SET settings = ?, badge_enabled = ?, last_modified = ?, source_epoch = ?,
                 concurrent_build_limit = ?
             WHERE account_id = ? AND name = ?",
        )
        .bind(settings_json(project)?)
        .bind(project.badge_enabled)
        .bind(project.last_modified)
        .bind(project.source_epoch)
        .bind(project.settings.concurrent_build_limit)
        .bind(&project.account_id)
        .bind(&project.name)
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.project_changed(&project.account_id, &project.name);
        Ok(())
    }

    async fn delete_project(&self, account_id: &str, name: &str, now: f64) -> StoreResult<bool> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let result = sqlx::query("DELETE FROM projects WHERE account_id = ? AND name = ?")
            .bind(account_id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if result.rows_affected() == 0 {
            return Ok(false);
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
        self.project_changed(account_id, name);
        self.events.publish(StoreEvent::QueueChanged);
        for uuid in running {
            self.events.publish(StoreEvent::StopRequested { uuid });
        }
        Ok(true)
    }

    async fn list_projects(
        &self,
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
            .fetch_all(&self.pool)
            .await?;
        project_page(&rows, sort, limit)
    }

    async fn project_by_badge_token(&self, token: &str) -> StoreResult<Option<ProjectRecord>> {
        let row = sqlx::query(PROJECT_BY_BADGE_TOKEN)
            .bind(token)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(ProjectRow::read).transpose()
    }

    async fn insert_build(
        &self,
        build: &mut BuildRecord,
        idempotency_since: f64,
    ) -> StoreResult<InsertedBuild> {
        // The first statement writes, so the transaction holds SQLite's write lock from the
        // start: the token check below and the insert cannot interleave with another insert.
        let mut tx = self.pool.begin().await?;
        let number: Option<i64> = sqlx::query_scalar(
            "UPDATE projects SET build_counter = build_counter + 1
             WHERE account_id = ? AND name = ? RETURNING build_counter",
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
                 WHERE account_id = ? AND project_name = ? AND project_generation = 0
                 AND idempotency_token = ? AND start_time < ?",
            )
            .bind(&build.account_id)
            .bind(&build.project_name)
            .bind(token)
            .bind(idempotency_since)
            .execute(&mut *tx)
            .await?;
            let existing = sqlx::query(
                "SELECT record FROM builds WHERE account_id = ? AND project_name = ?
                 AND project_generation = 0 AND idempotency_token = ?",
            )
            .bind(&build.account_id)
            .bind(&build.project_name)
            .bind(token)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = existing {
                // Dropping the transaction rolls the build counter back.
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
                ref_kind, ref_name, default_branch, source_epoch, start_time, idempotency_token,
                record, seq, queued_timeout_minutes)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.project_changed(&build.account_id, &build.project_name);
        self.events.publish(StoreEvent::QueueChanged);
        Ok(InsertedBuild::Inserted)
    }

    async fn get_build(&self, account_id: &str, uuid: &str) -> StoreResult<Option<BuildRecord>> {
        let row = sqlx::query(GET_BUILD)
            .bind(account_id)
            .bind(uuid)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(BuildRow::read).transpose()
    }

    async fn get_builds(&self, account_id: &str, uuids: &[&str]) -> StoreResult<Vec<BuildRecord>> {
        if uuids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = get_builds_sql(uuids.len());
        let mut query = sqlx::query(&sql).bind(account_id);
        for uuid in uuids {
            query = query.bind(*uuid);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(BuildRow::read).collect()
    }

    async fn delete_build(&self, account_id: &str, uuid: &str) -> StoreResult<bool> {
        let project: Option<String> = sqlx::query_scalar(
            "DELETE FROM builds WHERE account_id = ? AND uuid = ? RETURNING project_name",
        )
        .bind(account_id)
        .bind(uuid)
        .fetch_optional(&self.pool)
        .await?;
        match project {
            Some(project_name) => {
                self.project_changed(account_id, &project_name);
                self.log_files.remove(uuid).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn list_builds(
        &self,
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
            .fetch_all(&self.pool)
            .await?;
        Ok(build_page(rows, limit))
    }

    async fn append_log(&self, uuid: &str, start_offset: u64, data: &[u8]) -> StoreResult<()> {
        if data.is_empty() {
            return Ok(());
        }
        if !self.build_exists(uuid).await? {
            return Err(StoreError::NotFound);
        }
        let grew = self
            .log_files
            .append(uuid, start_offset, data.to_vec())
            .await?;
        // A build deleted meanwhile takes its log with it.
        if !self.build_exists(uuid).await? {
            self.log_files.remove(uuid).await?;
            return Err(StoreError::NotFound);
        }
        if grew {
            self.log_grew(uuid);
        }
        Ok(())
    }

    async fn read_log(&self, uuid: &str, offset: u64, max_bytes: usize) -> StoreResult<Vec<u8>> {
        self.log_files.read(uuid, offset, max_bytes).await
    }

    async fn log_size(&self, uuid: &str) -> StoreResult<u64> {
        self.log_files.size(uuid).await
    }

    fn log_file(&self, uuid: &str) -> Option<PathBuf> {
        self.log_files.path_of(uuid)
    }

    fn log_grew(&self, uuid: &str) {
        self.events.publish(StoreEvent::LogAppended {
            uuid: uuid.to_owned(),
        });
    }

    async fn claim_builds(&self, request: &ClaimRequest<'_>) -> StoreResult<Vec<LeasedBuild>> {
        self.claim(request).await
    }

    async fn save_leased_build(&self, build: &BuildRecord, lease: &Lease) -> StoreResult<()> {
        self.save_leased(build, lease).await
    }

    async fn renew_leases(
        &self,
        owner: &str,
        now: f64,
        lease_seconds: f64,
    ) -> StoreResult<Vec<HeldLease>> {
        self.renew(owner, now, lease_seconds).await
    }

    async fn request_stop(
        &self,
        account_id: &str,
        uuid: &str,
        now: f64,
    ) -> StoreResult<BuildRecord> {
        self.stop(account_id, uuid, now).await
    }

    async fn expire_leases(&self, now: f64) -> StoreResult<Vec<BuildRecord>> {
        self.expire_leased(now).await
    }

    async fn expire_queued(&self, now: f64, minute_seconds: f64) -> StoreResult<Vec<BuildRecord>> {
        self.expire_waiting(now, minute_seconds).await
    }

    async fn leased_build(&self, uuid: &str) -> StoreResult<Option<LeasedBuild>> {
        self.leased(uuid).await
    }

    async fn latest_status_for_ref(
        &self,
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
            .fetch_optional(&self.pool)
            .await?;
        status.as_deref().map(build_status).transpose()
    }

    fn latest_status_for_ref_now(
        &self,
        account_id: &str,
        project_name: &str,
        git_ref: &GitRef,
        source_epoch: i64,
    ) -> Option<StoreResult<Option<BuildStatus>>> {
        Some(
            self.direct
                .latest_status_for_ref(account_id, project_name, git_ref, source_epoch),
        )
    }

    async fn default_branch_built(
        &self,
        account_id: &str,
        project_name: &str,
        source_epoch: i64,
    ) -> StoreResult<Option<String>> {
        let name: Option<String> = sqlx::query_scalar(DEFAULT_BRANCH_BUILT)
            .bind(account_id)
            .bind(project_name)
            .bind(source_epoch)
            .fetch_optional(&self.pool)
            .await?;
        Ok(name)
    }

    async fn put_source_credential(
        &self,
        credential: &SourceCredential,
        overwrite: bool,
    ) -> StoreResult<()> {
        let sql = if overwrite {
            "INSERT INTO source_credentials (arn, account_id, server_type, auth_type, username, token)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (account_id, server_type) DO UPDATE SET
               arn = excluded.arn, auth_type = excluded.auth_type, username = excluded.username, token = excluded.token"
        } else {
            "INSERT INTO source_credentials (arn, account_id, server_type, auth_type, username, token)
             VALUES (?, ?, ?, ?, ?, ?)"
        };
        let result = sqlx::query(sql)
            .bind(&credential.arn)
            .bind(&credential.account_id)
            .bind(&credential.server_type)
            .bind(&credential.auth_type)
            .bind(&credential.username)
            .bind(&credential.token)
            .execute(&self.pool)
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists),
            Err(e) => Err(e.into()),
        }
    }

    async fn source_credentials(&self, account_id: &str) -> StoreResult<Vec<SourceCredential>> {
        let credentials = sqlx::query_as(
            "SELECT * FROM source_credentials WHERE account_id = ? ORDER BY server_type",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(credentials)
    }

    async fn delete_source_credential(&self, account_id: &str, arn: &str) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM source_credentials WHERE account_id = ? AND arn = ?")
            .bind(account_id)
            .bind(arn)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn create_webhook(&self, webhook: &WebhookRecord) -> StoreResult<()> {
        let result = sqlx::query(
            "INSERT INTO webhooks (account_id, project_name, token, secret, config, created, last_modified_secret)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&webhook.account_id)
        .bind(&webhook.project_name)
        .bind(&webhook.token)
        .bind(&webhook.secret)
        .bind(webhook_config_json(webhook)?)
        .bind(webhook.created)
        .bind(webhook.last_modified_secret)
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists),
            Err(e) if is_foreign_key_violation(&e) => Err(StoreError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    async fn get_webhook(
        &self,
        account_id: &str,
        project_name: &str,
    ) -> StoreResult<Option<WebhookRecord>> {
        let row = sqlx::query("SELECT * FROM webhooks WHERE account_id = ? AND project_name = ?")
            .bind(account_id)
            .bind(project_name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(WebhookRow::read).transpose()
    }

    async fn webhook_by_token(&self, token: &str) -> StoreResult<Option<WebhookRecord>> {
        let row = sqlx::query("SELECT * FROM webhooks WHERE token = ?")
            .bind(token)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(WebhookRow::read).transpose()
    }

    async fn update_webhook(&self, webhook: &WebhookRecord) -> StoreResult<()> {
        let result = sqlx::query(
            "UPDATE webhooks SET secret = ?, config = ?, last_modified_secret = ?
             WHERE account_id = ? AND project_name = ?",
        )
        .bind(&webhook.secret)
        .bind(webhook_config_json(webhook)?)
        .bind(webhook.last_modified_secret)
        .bind(&webhook.account_id)
        .bind(&webhook.project_name)
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_webhook(&self, account_id: &str, project_name: &str) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM webhooks WHERE account_id = ? AND project_name = ?")
            .bind(account_id)
            .bind(project_name)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn claim_webhook_delivery(
        &self,
        delivery: &DeliveryRecord,
        claim: &BodyClaim<'_>,
    ) -> StoreResult<Claim> {
        deliveries::claim(&self.pool, delivery, claim).await
    }

    async fn insert_webhook_delivery(&self, delivery: &DeliveryRecord) -> StoreResult<i64> {
        deliveries::record(&self.pool, delivery).await
    }

    async fn set_webhook_delivery_outcome(
        &self,
        seq: i64,
        outcome: DeliveryOutcome,
        reason: &str,
        build_id: Option<&str>,
    ) -> StoreResult<()> {
        deliveries::set_outcome(&self.pool, seq, outcome, reason, build_id).await
    }

    async fn recent_webhook_deliveries(
        &self,
        account_id: &str,
        project_name: &str,
        limit: u64,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        deliveries::recent(&self.pool, account_id, project_name, sql_int(limit)).await
    }

    async fn create_console_session(&self, session: &ConsoleSession, now: f64) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM console_sessions WHERE expires < ?")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO console_sessions (token_hash, account_id, access_key_id, csrf_token, created, expires)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&session.token_hash)
        .bind(&session.account_id)
        .bind(&session.access_key_id)
        .bind(&session.csrf_token)
        .bind(session.created)
        .bind(session.expires)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::AlreadyExists
            } else {
                StoreError::from(e)
            }
        })?;
        tx.commit().await?;
        Ok(())
    }

    async fn console_session(
        &self,
        token_hash: &str,
        now: f64,
    ) -> StoreResult<Option<ConsoleSession>> {
        let session =
            sqlx::query_as("SELECT * FROM console_sessions WHERE token_hash = ? AND expires >= ?")
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
        Ok(session)
    }

    async fn delete_console_session(&self, token_hash: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM console_sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn begin_sign_in_attempt(
        &self,
        subjects: &[String],
        now: f64,
        backoff: &SignInBackoff,
    ) -> StoreResult<SignInAttempt> {
        sign_in::begin_attempt(&self.pool, subjects, now, backoff).await
    }

    async fn clear_sign_in_attempts(&self, subjects: &[String]) -> StoreResult<()> {
        sign_in::clear_attempts(&self.pool, subjects).await
    }

    async fn server_secret(&self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>> {
        sign_in::server_secret(&self.pool, name, candidate).await
    }

    async fn create_report_group(&self, group: &ReportGroupRecord) -> StoreResult<()> {
        reports::create_group(&self.pool, group).await
    }

    async fn get_report_groups(
        &self,
        account_id: &str,
        names: &[&str],
    ) -> StoreResult<Vec<ReportGroupRecord>> {
        reports::get_groups(&self.pool, account_id, names).await
    }

    async fn update_report_group(&self, group: &ReportGroupRecord) -> StoreResult<()> {
        reports::update_group(&self.pool, group).await
    }

    async fn delete_report_group(
        &self,
        account_id: &str,
        name: &str,
        delete_reports: bool,
    ) -> StoreResult<DeletedReportGroup> {
        reports::delete_group(&self.pool, account_id, name, delete_reports).await
    }

    async fn list_report_groups(
        &self,
        account_id: &str,
        sort: ProjectSort,
        ascending: bool,
        after: Option<&ProjectKey>,
        limit: u64,
    ) -> StoreResult<Page<String, ProjectKey>> {
        reports::list_groups(&self.pool, account_id, sort, ascending, after, limit).await
    }

    async fn save_report(
        &self,
        report: &ReportRecord,
        contents: ReportContents<'_>,
        create_group: Option<&ReportGroupRecord>,
    ) -> StoreResult<()> {
        reports::save(&self.pool, report, contents, create_group).await
    }

    async fn get_reports(&self, account_id: &str, arns: &[&str]) -> StoreResult<Vec<ReportRecord>> {
        reports::get_reports(&self.pool, account_id, arns).await
    }

    async fn list_reports(
        &self,
        account_id: &str,
        query: &ReportQuery<'_>,
        after: Option<i64>,
        limit: u64,
    ) -> StoreResult<Page<String, i64>> {
        reports::list_reports(&self.pool, account_id, query, after, limit).await
    }

    async fn delete_report(&self, account_id: &str, arn: &str) -> StoreResult<bool> {
        reports::delete_report(&self.pool, account_id, arn).await
    }

    async fn describe_test_cases(
        &self,
        account_id: &str,
        arn: &str,
        query: &TestCaseQuery<'_>,
        after: Option<i64>,
        limit: u64,
    ) -> StoreResult<Page<TestCase, i64>> {
        reports::describe_test_cases(&self.pool, account_id, arn, query, after, limit).await
    }

    async fn describe_code_coverages(
        &self,
        account_id: &str,
        arn: &str,
        query: &CoverageQuery,
        after: Option<&CoverageKey>,
        limit: u64,
    ) -> StoreResult<Page<(i64, CodeCoverage), CoverageKey>> {
        reports::describe_code_coverages(&self.pool, account_id, arn, query, after, limit).await
    }

    async fn report_group_trend(
        &self,
        account_id: &str,
        group_name: &str,
        limit: u64,
    ) -> StoreResult<Vec<ReportRecord>> {
        reports::group_trend(&self.pool, account_id, group_name, limit).await
    }

    async fn latest_reports_for_ref(
        &self,
        which: &BranchReports<'_>,
    ) -> StoreResult<Vec<ReportRecord>> {
        reports::latest_for_ref(&self.pool, which).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_domain::project::ProjectSettings;

    pub(crate) fn record(account: &str, name: &str, created: f64) -> ProjectRecord {
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
    async fn a_database_that_cannot_grow_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("kiln.db"))
            .await
            .unwrap();
        let mut connection = store.pool.acquire().await.unwrap();
        // SQLite's page limit (raised to the current size) stands in for a full disk: both
        // fail with SQLITE_FULL.
        sqlx::query("PRAGMA max_page_count = 1")
            .execute(&mut *connection)
            .await
            .unwrap();
        // A page the migrations freed may still take a small table; a large row cannot fit.
        let err = sqlx::query("CREATE TABLE filler AS SELECT zeroblob(1000000) AS x")
            .execute(&mut *connection)
            .await
            .unwrap_err();
        assert!(StoreError::from(err).is_unavailable());
    }

    #[tokio::test]
    async fn direct_reads_see_each_committed_status() {
        use kiln_domain::build::PhaseType;
        use kiln_domain::start::StartBuildInput;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("kiln.db"))
            .await
            .unwrap();
        let mut project = record("111111111111", "a", 1.0);
        project.settings.source = serde_json::from_value(serde_json::json!(
            {"type": "GITHUB", "location": "https://git.example.com/a.git"}
        ))
        .unwrap();
        store.create_project(&project).await.unwrap();
        let main = GitRef::Branch("main".into());
        let direct = |store: &SqliteStore| {
            store
                .latest_status_for_ref_now("111111111111", "a", &main, 0)
                .unwrap()
                .unwrap()
        };
        assert_eq!(direct(&store), None);
        let mut build = BuildRecord {
            account_id: project.account_id.clone(),
            project_name: project.name.clone(),
            uuid: "5b2a7c0e-0000-4000-8000-000000000001".into(),
            build_number: 0,
            status: BuildStatus::InProgress,
            current_phase: PhaseType::Queued,
            phases: Vec::new(),
            start_time: 10.0,
            end_time: None,
            initiator: "test".into(),
            settings: StartBuildInput::default().resolve(&project).unwrap(),
            resolved_source_version: None,
            git_ref: Some(main.clone()),
            source_epoch: 0,
            artifacts: None,
            secondary_artifacts: Vec::new(),
            exported_environment_variables: Vec::new(),
            idempotency_token: None,
            trigger_variables: Vec::new(),
            report_arns: Vec::new(),
        };
        store.insert_build(&mut build, 0.0).await.unwrap();
        assert_eq!(direct(&store), Some(BuildStatus::InProgress));
        let claimed = store
            .claim_builds(&ClaimRequest {
                owner: "test",
                now: 10.0,
                lease_seconds: 30.0,
                capacity: 1,
                account_limit: None,
                minute_seconds: 60.0,
            })
            .await
            .unwrap();
        build.status = BuildStatus::Succeeded;
        store
            .save_leased_build(&build, &claimed[0].lease)
            .await
            .unwrap();
        // The same thread's connection, read again after the write: never a stale snapshot.
        assert_eq!(direct(&store), Some(BuildStatus::Succeeded));
        assert_eq!(
            direct(&store),
            store
                .latest_status_for_ref("111111111111", "a", &main, 0)
                .await
                .unwrap()
        );
        let other_source = store
            .latest_status_for_ref_now("111111111111", "a", &main, 1)
            .unwrap()
            .unwrap();
        assert_eq!(other_source, None, "builds of an older source do not count");
    }
}
