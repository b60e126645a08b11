//! The embedded store: SQLite in WAL mode with full fsync, so an acknowledged write survives
//! a crash of the process or the machine.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use async_trait::async_trait;
use kiln_domain::build::{BuildRecord, BuildStatus};
use kiln_domain::fleet::FleetRecord;
use kiln_domain::project::ProjectRecord;
use kiln_domain::refs::GitRef;
use kiln_domain::webhook::{DeliveryOutcome, DeliveryRecord, WebhookRecord};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use kiln_domain::report::{
    CodeCoverage, ReportContents, ReportGroupRecord, ReportRecord, TestCase,
};
use kiln_store::{
    AgentSession, AgentToken, BodyClaim, BranchReports, BuildFilter, Claim, ClaimRequest,
    ConsoleSession, CoverageKey, CoverageQuery, DeletedFleet, DeletedReportGroup, EventFeed,
    EventSubscription, FleetBuild, HeldLease, InsertedBuild, Lease, LeasedBuild, Page, ProjectKey,
    ProjectSort, QueueGauges, ReportQuery, SignInAttempt, SignInBackoff, SourceCredential, Store,
    StoreEvent, StoreResult, TestCaseQuery, VisibilityUpdate, sql_int,
};

mod agents;
mod auto_retry;
mod builds;
mod console;
mod credentials;
mod deliveries;
mod direct;
mod fleets;
mod logs;
mod project_cache;
mod projects;
mod queue;
mod reports;
mod secrets;
mod sign_in;
#[cfg(test)]
mod store_semantics_tests;
mod webhooks;

use direct::DirectReads;

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
}

#[async_trait]
impl Store for SqliteStore {
    fn subscribe(&self) -> EventSubscription {
        self.events.subscribe()
    }

    async fn create_project(&self, project: &ProjectRecord) -> StoreResult<()> {
        projects::create(self, project).await
    }

    async fn get_project(
        &self,
        account_id: &str,
        name: &str,
    ) -> StoreResult<Option<ProjectRecord>> {
        projects::get(&self.pool, account_id, name).await
    }

    async fn update_project(&self, project: &ProjectRecord) -> StoreResult<()> {
        projects::update(self, project).await
    }

    async fn delete_project(
        &self,
        account_id: &str,
        name: &str,
        now: f64,
    ) -> StoreResult<Option<Vec<BuildRecord>>> {
        projects::delete(self, account_id, name, now).await
    }

    async fn list_projects(
        &self,
        account_id: &str,
        sort: ProjectSort,
        ascending: bool,
        after: Option<&ProjectKey>,
        limit: u64,
    ) -> StoreResult<Page<String, ProjectKey>> {
        projects::list(&self.pool, account_id, sort, ascending, after, limit).await
    }

    async fn project_by_badge_token(&self, token: &str) -> StoreResult<Option<ProjectRecord>> {
        projects::by_badge_token(&self.pool, token).await
    }

    async fn set_project_visibility(
        &self,
        account_id: &str,
        name: &str,
        change: &VisibilityUpdate<'_>,
    ) -> StoreResult<Option<ProjectRecord>> {
        projects::set_visibility(self, account_id, name, change).await
    }

    async fn project_by_public_alias(&self, alias: &str) -> StoreResult<Option<ProjectRecord>> {
        projects::by_public_alias(&self.pool, alias).await
    }

    async fn insert_build(
        &self,
        build: &mut BuildRecord,
        idempotency_since: f64,
    ) -> StoreResult<InsertedBuild> {
        builds::insert(self, build, idempotency_since).await
    }

    async fn get_build(&self, account_id: &str, uuid: &str) -> StoreResult<Option<BuildRecord>> {
        builds::get(&self.pool, account_id, uuid).await
    }

    async fn get_builds(&self, account_id: &str, uuids: &[&str]) -> StoreResult<Vec<BuildRecord>> {
        builds::get_many(&self.pool, account_id, uuids).await
    }

    async fn delete_build(&self, account_id: &str, uuid: &str) -> StoreResult<bool> {
        builds::delete(self, account_id, uuid).await
    }

    async fn list_builds(
        &self,
        account_id: &str,
        project_name: Option<&str>,
        ascending: bool,
        after: Option<i64>,
        limit: u64,
    ) -> StoreResult<Page<String, i64>> {
        builds::list(
            &self.pool,
            account_id,
            project_name,
            ascending,
            after,
            limit,
        )
        .await
    }

    async fn find_builds(
        &self,
        account_id: &str,
        filter: &BuildFilter<'_>,
        after: Option<i64>,
        limit: u64,
    ) -> StoreResult<Page<BuildRecord, i64>> {
        builds::find(&self.pool, account_id, filter, after, limit).await
    }

    async fn append_log(&self, uuid: &str, start_offset: u64, data: &[u8]) -> StoreResult<()> {
        logs::append(self, uuid, start_offset, data).await
    }

    async fn read_log(&self, uuid: &str, offset: u64, max_bytes: usize) -> StoreResult<Vec<u8>> {
        self.log_files.read(uuid, offset, max_bytes).await
    }

    async fn log_size(&self, uuid: &str) -> StoreResult<u64> {
        self.log_files.size(uuid).await
    }

    async fn log_line_marks(&self, uuid: &str) -> StoreResult<Vec<u64>> {
        logs::line_marks(&self.pool, uuid).await
    }

    async fn add_log_line_marks(
        &self,
        uuid: &str,
        first_block: u64,
        marks: &[u64],
    ) -> StoreResult<()> {
        logs::add_line_marks(&self.pool, uuid, first_block, marks).await
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

    async fn start_auto_retries(&self, now: f64) -> StoreResult<Vec<BuildRecord>> {
        SqliteStore::start_auto_retries(self, now).await
    }

    async fn leased_build(&self, uuid: &str) -> StoreResult<Option<LeasedBuild>> {
        self.leased(uuid).await
    }

    async fn queue_gauges(&self) -> StoreResult<QueueGauges> {
        self.gauges().await
    }

    async fn renew_listed_leases(
        &self,
        owner: &str,
        uuids: &[String],
        now: f64,
        lease_seconds: f64,
    ) -> StoreResult<Vec<HeldLease>> {
        agents::renew_listed(&self.pool, owner, uuids, now, lease_seconds).await
    }

    async fn latest_status_for_ref(
        &self,
        account_id: &str,
        project_name: &str,
        git_ref: &GitRef,
        source_epoch: i64,
    ) -> StoreResult<Option<BuildStatus>> {
        builds::latest_status_for_ref(&self.pool, account_id, project_name, git_ref, source_epoch)
            .await
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
        builds::default_branch_built(&self.pool, account_id, project_name, source_epoch).await
    }

    async fn put_source_credential(
        &self,
        credential: &SourceCredential,
        overwrite: bool,
    ) -> StoreResult<()> {
        credentials::put(&self.pool, credential, overwrite).await
    }

    async fn source_credentials(&self, account_id: &str) -> StoreResult<Vec<SourceCredential>> {
        credentials::of_account(&self.pool, account_id).await
    }

    async fn delete_source_credential(&self, account_id: &str, arn: &str) -> StoreResult<bool> {
        credentials::delete(&self.pool, account_id, arn).await
    }

    async fn create_webhook(&self, webhook: &WebhookRecord) -> StoreResult<()> {
        webhooks::create(&self.pool, webhook).await
    }

    async fn get_webhook(
        &self,
        account_id: &str,
        project_name: &str,
    ) -> StoreResult<Option<WebhookRecord>> {
        webhooks::get(&self.pool, account_id, project_name).await
    }

    async fn webhook_by_token(&self, token: &str) -> StoreResult<Option<WebhookRecord>> {
        webhooks::by_token(&self.pool, token).await
    }

    async fn update_webhook(&self, webhook: &WebhookRecord) -> StoreResult<()> {
        webhooks::update(&self.pool, webhook).await
    }

    async fn delete_webhook(&self, account_id: &str, project_name: &str) -> StoreResult<bool> {
        webhooks::delete(&self.pool, account_id, project_name).await
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
        console::create_session(&self.pool, session, now).await
    }

    async fn console_session(
        &self,
        token_hash: &str,
        now: f64,
    ) -> StoreResult<Option<ConsoleSession>> {
        console::session(&self.pool, token_hash, now).await
    }

    async fn delete_console_session(&self, token_hash: &str) -> StoreResult<bool> {
        console::delete_session(&self.pool, token_hash).await
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

    async fn project_cache_generation(
        &self,
        account_id: &str,
        project_name: &str,
    ) -> StoreResult<i64> {
        project_cache::generation(&self.pool, account_id, project_name).await
    }

    async fn invalidate_project_cache(
        &self,
        account_id: &str,
        project_name: &str,
    ) -> StoreResult<i64> {
        project_cache::invalidate(&self.pool, account_id, project_name).await
    }

    async fn server_secret(&self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>> {
        sign_in::server_secret(&self.pool, name, candidate).await
    }

    async fn create_agent_token(&self, token: &AgentToken, token_hash: &str) -> StoreResult<()> {
        agents::create_token(&self.pool, token, token_hash).await
    }

    async fn agent_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<AgentToken>> {
        agents::token_by_hash(&self.pool, token_hash).await
    }

    async fn agent_tokens(&self) -> StoreResult<Vec<AgentToken>> {
        agents::tokens(&self.pool).await
    }

    async fn revoke_agent_token(&self, id: &str, now: f64) -> StoreResult<bool> {
        agents::revoke_token(&self.pool, id, now).await
    }

    async fn register_agent(&self, session: &AgentSession, live_since: f64) -> StoreResult<()> {
        agents::register(&self.pool, session, live_since).await
    }

    async fn agent_session(&self, session: &str) -> StoreResult<Option<AgentSession>> {
        agents::session(&self.pool, session).await
    }

    async fn touch_agent(&self, session: &str, now: f64) -> StoreResult<bool> {
        agents::touch(&self.pool, session, now).await
    }

    async fn remove_agent(&self, session: &str) -> StoreResult<bool> {
        agents::remove(&self.pool, session).await
    }

    async fn overflowing_fleets(&self, live_since: f64) -> StoreResult<Vec<String>> {
        agents::overflowing(&self.pool, live_since).await
    }

    async fn live_agents(
        &self,
        account_id: Option<&str>,
        live_since: f64,
    ) -> StoreResult<Vec<AgentSession>> {
        agents::live(&self.pool, account_id, live_since).await
    }

    async fn create_fleet(&self, fleet: &FleetRecord) -> StoreResult<()> {
        fleets::create(&self.pool, fleet).await
    }

    async fn get_fleets(&self, account_id: &str, names: &[&str]) -> StoreResult<Vec<FleetRecord>> {
        fleets::get(&self.pool, account_id, names).await
    }

    async fn update_fleet(&self, fleet: &FleetRecord) -> StoreResult<()> {
        fleets::update(&self.pool, fleet).await
    }

    async fn delete_fleet(&self, account_id: &str, arn: &str) -> StoreResult<DeletedFleet> {
        fleets::delete(&self.pool, account_id, arn).await
    }

    async fn fleet_builds(
        &self,
        account: &str,
        arn: &str,
        limit: u64,
    ) -> StoreResult<Vec<FleetBuild>> {
        fleets::builds(&self.pool, account, arn, limit).await
    }

    async fn list_fleets(
        &self,
        account_id: &str,
        sort: ProjectSort,
        ascending: bool,
        after: Option<&ProjectKey>,
        limit: u64,
    ) -> StoreResult<Page<String, ProjectKey>> {
        fleets::list(&self.pool, account_id, sort, ascending, after, limit).await
    }

    async fn create_report_group(&self, group: &ReportGroupRecord) -> StoreResult<()> {
        reports::groups::create(&self.pool, group).await
    }

    async fn get_report_groups(
        &self,
        account_id: &str,
        names: &[&str],
    ) -> StoreResult<Vec<ReportGroupRecord>> {
        reports::groups::get(&self.pool, account_id, names).await
    }

    async fn update_report_group(&self, group: &ReportGroupRecord) -> StoreResult<()> {
        reports::groups::update(&self.pool, group).await
    }

    async fn delete_report_group(
        &self,
        account_id: &str,
        name: &str,
        delete_reports: bool,
    ) -> StoreResult<DeletedReportGroup> {
        reports::groups::delete(&self.pool, account_id, name, delete_reports).await
    }

    async fn list_report_groups(
        &self,
        account_id: &str,
        sort: ProjectSort,
        ascending: bool,
        after: Option<&ProjectKey>,
        limit: u64,
    ) -> StoreResult<Page<String, ProjectKey>> {
        reports::groups::list(&self.pool, account_id, sort, ascending, after, limit).await
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
        reports::contents::describe_test_cases(&self.pool, account_id, arn, query, after, limit)
            .await
    }

    async fn describe_code_coverages(
        &self,
        account_id: &str,
        arn: &str,
        query: &CoverageQuery,
        after: Option<&CoverageKey>,
        limit: u64,
    ) -> StoreResult<Page<(i64, CodeCoverage), CoverageKey>> {
        reports::contents::describe_code_coverages(&self.pool, account_id, arn, query, after, limit)
            .await
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
    use kiln_store::StoreError;

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
            public: Default::default(),
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
}
