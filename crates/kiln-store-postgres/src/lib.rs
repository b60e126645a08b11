//! The store for several replicas: PostgreSQL. Every replica shares the database; writes that
//! others must hear of are announced with `NOTIFY` in their transaction (see [`feed`]).
//! Migrations run at connect under sqlx's advisory lock, so replicas may start at once.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use kiln_domain::build::{BuildRecord, BuildStatus};
use kiln_domain::fleet::FleetRecord;
use kiln_domain::project::ProjectRecord;
use kiln_domain::refs::GitRef;
use kiln_domain::webhook::{DeliveryOutcome, DeliveryRecord, WebhookRecord};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use kiln_domain::report::{
    CodeCoverage, ReportContents, ReportGroupRecord, ReportRecord, TestCase,
};
use kiln_store::records::{BuildRow, RecordRow, build_status};
use kiln_store::{
    AgentSession, AgentToken, BodyClaim, BranchReports, BuildFilter, Claim, ClaimRequest,
    ConsoleSession, CoverageKey, CoverageQuery, DeletedFleet, DeletedReportGroup, EventFeed,
    EventSubscription, FleetBuild, HeldLease, InsertedBuild, Lease, LeasedBuild, Page, ProjectKey,
    ProjectSort, QueueGauges, ReportQuery, SignInAttempt, SignInBackoff, SourceCredential, Store,
    StoreError, StoreEvent, StoreResult, TestCaseQuery, VisibilityUpdate, is_foreign_key_violation,
    is_unique_violation, sql_int,
};

mod agents;
mod auto_retry;
mod builds;
mod console;
mod credentials;
mod deliveries;
mod feed;
mod fleets;
mod logs;
mod project_cache;
mod projects;
mod queue;
mod reports;
mod secrets;
mod sign_in;
mod webhooks;

pub use feed::LISTENER_APPLICATION_NAME;

/// The SQL of the listings and badge lookups, for the query-plan test.
#[doc(hidden)]
pub mod sql {
    pub use crate::auto_retry::OWING_AUTO_RETRY;
    pub use crate::builds::{
        DEFAULT_BRANCH_BUILT, LATEST_STATUS_FOR_REF, find_builds_sql, list_builds_sql,
    };
    pub use crate::projects::list_projects_sql;
}

/// Connections one replica keeps open (besides its listener's).
const MAX_CONNECTIONS: u32 = 16;

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    events: EventFeed,
    /// Forwards every replica's announcements into `events` while any clone of the store lives.
    _listener: Arc<feed::Listener>,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://…`), runs the migrations and starts
    /// listening for changes.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        // Migrations run on a connection of their own, closed afterwards: sqlx holds its
        // session-level advisory lock on it, which a failed run would leave held on a pooled
        // connection.
        let mut migrating = PgConnection::connect_with(&options).await?;
        // `run_direct` rather than `run`: the future of `run` on a connection is not `Send`
        // for every lifetime (sqlx's "Acquire is not general enough"), and `connect` must be
        // spawnable.
        let migrated = sqlx::migrate!("./migrations")
            .run_direct(&mut migrating)
            .await;
        migrating.close().await?;
        migrated?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options.clone())
            .await?;
        let events = EventFeed::default();
        let listener = feed::Listener::start(&options, events.clone()).await?;
        Ok(PgStore {
            pool,
            events,
            _listener: Arc::new(listener),
        })
    }

    /// The connection pool, for tests that read the database directly.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

fn project_changed(account_id: &str, project_name: &str) -> StoreEvent {
    StoreEvent::ProjectChanged {
        account_id: account_id.to_owned(),
        project_name: project_name.to_owned(),
    }
}

/// A unique key's violation as `AlreadyExists`, a foreign key's as `NotFound` (the row it
/// belongs to is gone).
fn key_violation(err: sqlx::Error) -> StoreError {
    if is_unique_violation(&err) {
        StoreError::AlreadyExists
    } else if is_foreign_key_violation(&err) {
        StoreError::NotFound
    } else {
        err.into()
    }
}

#[async_trait]
impl Store for PgStore {
    fn subscribe(&self) -> EventSubscription {
        self.events.subscribe()
    }

    async fn create_project(&self, project: &ProjectRecord) -> StoreResult<()> {
        projects::create(&self.pool, project).await
    }

    async fn get_project(
        &self,
        account_id: &str,
        name: &str,
    ) -> StoreResult<Option<ProjectRecord>> {
        projects::get(&self.pool, account_id, name).await
    }

    async fn update_project(&self, project: &ProjectRecord) -> StoreResult<()> {
        projects::update(&self.pool, project).await
    }

    async fn delete_project(
        &self,
        account_id: &str,
        name: &str,
        now: f64,
    ) -> StoreResult<Option<Vec<BuildRecord>>> {
        projects::delete(&self.pool, account_id, name, now).await
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
        projects::set_visibility(&self.pool, account_id, name, change).await
    }

    async fn project_by_public_alias(&self, alias: &str) -> StoreResult<Option<ProjectRecord>> {
        projects::by_public_alias(&self.pool, alias).await
    }

    async fn insert_build(
        &self,
        build: &mut BuildRecord,
        idempotency_since: f64,
    ) -> StoreResult<InsertedBuild> {
        let mut tx = self.pool.begin().await?;
        let inserted = builds::insert(&mut tx, build, idempotency_since).await?;
        if inserted == InsertedBuild::Inserted {
            let events = [
                project_changed(&build.account_id, &build.project_name),
                StoreEvent::QueueChanged,
            ];
            feed::announce(&mut tx, &events).await?;
            tx.commit().await?;
        }
        Ok(inserted)
    }

    async fn get_build(&self, account_id: &str, uuid: &str) -> StoreResult<Option<BuildRecord>> {
        let row = sqlx::query("SELECT record FROM builds WHERE account_id = $1 AND uuid = $2")
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
        let rows =
            sqlx::query("SELECT record FROM builds WHERE account_id = $1 AND uuid = ANY($2)")
                .bind(account_id)
                .bind(uuids)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(BuildRow::read).collect()
    }

    async fn delete_build(&self, account_id: &str, uuid: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let project: Option<String> = sqlx::query_scalar(
            "DELETE FROM builds WHERE account_id = $1 AND uuid = $2 RETURNING project_name",
        )
        .bind(account_id)
        .bind(uuid)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(project_name) = project else {
            return Ok(false);
        };
        feed::announce(&mut tx, &[project_changed(account_id, &project_name)]).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn list_builds(
        &self,
        account_id: &str,
        project_name: Option<&str>,
        ascending: bool,
        after: Option<i64>,
        limit: u64,
    ) -> StoreResult<Page<String, i64>> {
        builds::list_builds(
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
        builds::find_builds(&self.pool, account_id, filter, after, limit).await
    }

    async fn claim_builds(&self, request: &ClaimRequest<'_>) -> StoreResult<Vec<LeasedBuild>> {
        queue::claim(&self.pool, request).await
    }

    async fn save_leased_build(&self, build: &BuildRecord, lease: &Lease) -> StoreResult<()> {
        queue::save_leased(&self.pool, build, lease).await
    }

    async fn renew_leases(
        &self,
        owner: &str,
        now: f64,
        lease_seconds: f64,
    ) -> StoreResult<Vec<HeldLease>> {
        queue::renew(&self.pool, owner, now, lease_seconds).await
    }

    async fn request_stop(
        &self,
        account_id: &str,
        uuid: &str,
        now: f64,
    ) -> StoreResult<BuildRecord> {
        queue::stop(&self.pool, account_id, uuid, now).await
    }

    async fn expire_leases(&self, now: f64) -> StoreResult<Vec<BuildRecord>> {
        queue::expire_leased(&self.pool, now).await
    }

    async fn expire_queued(&self, now: f64, minute_seconds: f64) -> StoreResult<Vec<BuildRecord>> {
        queue::expire_waiting(&self.pool, now, minute_seconds).await
    }

    async fn start_auto_retries(&self, now: f64) -> StoreResult<Vec<BuildRecord>> {
        auto_retry::start(&self.pool, now).await
    }

    async fn leased_build(&self, uuid: &str) -> StoreResult<Option<LeasedBuild>> {
        queue::leased(&self.pool, uuid).await
    }

    async fn queue_gauges(&self) -> StoreResult<QueueGauges> {
        queue::gauges(&self.pool).await
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

    async fn append_log(&self, uuid: &str, start_offset: u64, data: &[u8]) -> StoreResult<()> {
        if data.is_empty() {
            return Ok(());
        }
        logs::append(&self.pool, uuid, start_offset, data).await
    }

    async fn read_log(&self, uuid: &str, offset: u64, max_bytes: usize) -> StoreResult<Vec<u8>> {
        logs::read(&self.pool, uuid, offset, max_bytes).await
    }

    async fn log_size(&self, uuid: &str) -> StoreResult<u64> {
        logs::size(&self.pool, uuid).await
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

    async fn latest_status_for_ref(
        &self,
        account_id: &str,
        project_name: &str,
        git_ref: &GitRef,
        source_epoch: i64,
    ) -> StoreResult<Option<BuildStatus>> {
        let (kind, name) = git_ref.kind_and_name();
        let status: Option<String> = sqlx::query_scalar(builds::LATEST_STATUS_FOR_REF)
            .bind(account_id)
            .bind(project_name)
            .bind(kind)
            .bind(name)
            .bind(source_epoch)
            .fetch_optional(&self.pool)
            .await?;
        status.as_deref().map(build_status).transpose()
    }

    async fn default_branch_built(
        &self,
        account_id: &str,
        project_name: &str,
        source_epoch: i64,
    ) -> StoreResult<Option<String>> {
        let name: Option<String> = sqlx::query_scalar(builds::DEFAULT_BRANCH_BUILT)
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
