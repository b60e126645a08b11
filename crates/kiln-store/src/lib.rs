//! Storage behind one trait. Each backend is a crate of its own with its own migrations
//! (`kiln-store-sqlite`, the embedded default, and `kiln-store-postgres`); callers see only this
//! trait and its backend-neutral errors.

use async_trait::async_trait;
use kiln_domain::build::{BuildRecord, BuildStatus};
use kiln_domain::fleet::FleetRecord;
use kiln_domain::project::ProjectRecord;
use kiln_domain::refs::GitRef;
use kiln_domain::report::{
    CodeCoverage, ReportContents, ReportGroupRecord, ReportRecord, TestCase,
};
use kiln_domain::visibility::ProjectVisibility;
use kiln_domain::webhook::{DeliveryOutcome, DeliveryRecord, WebhookRecord};

pub mod agents;
mod events;
pub mod fleets;
pub mod log_lines;
mod logs;
pub mod pages;
mod queue;
pub mod records;
pub mod report_records;
mod reports;
pub mod secrets;

pub use agents::{AgentSession, AgentToken};
pub use events::{EventFeed, EventSubscription, StoreEvent};
pub use fleets::{DeletedFleet, FleetBuild};
pub use logs::{join_log_pieces, pack_log_piece, read_stored_pieces, unpack_log_piece};
pub use queue::{
    AUTO_RETRIED_STATUSES, AUTO_RETRY_BATCH, ClaimFleet, ClaimRequest, HeldLease,
    LEASE_EXPIRED_REASON, Lease, LeasedBuild, QUEUED_TIMEOUT_REASON, QueueGauges, auto_retry_of,
    auto_retry_remaining,
};
pub use reports::{
    BranchReports, CoverageKey, CoverageQuery, DeletedReportGroup, ReportQuery, TestCaseQuery,
};
pub use secrets::{SecretStore, StoredParameter, StoredSecret, StoredSecretVersion};

/// A backend's own error, kept for its message and source chain.
pub type BackendError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("already exists")]
    AlreadyExists,
    #[error("not found")]
    NotFound,
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(BackendError),
    /// The database cannot be written or read right now (its disk is full, an IO error, no
    /// connection), which another try may not meet: the API answers 503, not 500.
    #[error("storage unavailable: {0}")]
    Unavailable(BackendError),
    #[error("migration error: {0}")]
    Migration(BackendError),
    /// A read on the calling thread failed (or the database was busy); the async read works.
    #[error("direct read: {0}")]
    Direct(String),
    /// The caller no longer holds the build's lease (it expired, another owner claimed the
    /// build, or the build ended): it must stop running the build and save nothing more.
    #[error("the build's lease was lost")]
    LeaseLost,
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if is_unavailable(&err) {
            Self::Unavailable(Box::new(err))
        } else {
            Self::Database(Box::new(err))
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        Self::Migration(Box::new(err))
    }
}

impl StoreError {
    /// Whether the storage itself failed (full disk, IO error) rather than a request or a record.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// SQLite's primary result codes (the low byte of an extended code) for a full disk and an IO
/// error (<https://www.sqlite.org/rescode.html>). SQLite reports codes as decimal numbers of at
/// most four digits; PostgreSQL as five-character SQLSTATEs.
const SQLITE_IOERR: i64 = 10;
const SQLITE_FULL: i64 = 13;

/// PostgreSQL SQLSTATE classes of the server's resources and state rather than the statement:
/// 08 connection exception, 53 insufficient resources (disk full, out of memory), 57P admin
/// shutdown / cannot connect now, 58 system error (IO).
fn is_postgres_unavailable(sqlstate: &str) -> bool {
    ["08", "53", "57P", "58"]
        .iter()
        .any(|class| sqlstate.starts_with(class))
}

/// Errors of the storage rather than of the statement: a full disk and IO errors, the file
/// system's own errors, a lost connection, and no free connection within the pool's timeout.
fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            if code.len() == 5 {
                is_postgres_unavailable(&code)
            } else {
                code.parse::<i64>()
                    .is_ok_and(|code| matches!(code & 0xff, SQLITE_IOERR | SQLITE_FULL))
            }
        }),
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        _ => false,
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The largest log piece a shipper stores at once: big enough that a loud build costs few
/// writes, small enough that a reader slicing one piece reads little it does not need.
pub const MAX_LOG_CHUNK_BYTES: usize = 1024 * 1024;

/// Whether a statement failed on a unique key (SQLite and PostgreSQL alike).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Whether a statement failed on a foreign key (SQLite and PostgreSQL alike).
pub fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

/// A count as SQL's signed 64-bit integer (a `LIMIT`), saturating.
pub fn sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Deliveries a backend keeps per project, for claims and for other deliveries each (see
/// [`Store::claim_webhook_delivery`]).
pub const DELIVERIES_KEPT: i64 = 500;

/// How `list_projects` orders names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectSort {
    Name,
    Created,
    LastModified,
}

/// One page of a listing, with the key the next page starts after, if there is one. Keys are
/// keyset positions, so a page boundary does not move when items are inserted or deleted.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, K> {
    pub items: Vec<T>,
    pub next: Option<K>,
}

impl<T, K> Page<T, K> {
    /// A page from `limit + 1` rows read in order: the extra row says that a next page exists,
    /// which starts after the key of the page's last item.
    pub fn from_overfetched<R>(
        mut rows: Vec<R>,
        limit: u64,
        item: impl Fn(&R) -> T,
        key: impl Fn(&R) -> K,
    ) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more { rows.last().map(key) } else { None };
        Page {
            items: rows.iter().map(item).collect(),
            next,
        }
    }
}

/// Where a page of projects ends: the last project's sort value (`created` or `last_modified`;
/// unused when sorting by name) and its name.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectKey {
    pub sort_value: f64,
    pub name: String,
}

/// Which of an account's builds [`Store::find_builds`] returns: every filter that is set must
/// match.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BuildFilter<'a> {
    /// Builds of projects of this name: the live project's and those of any deleted project
    /// that had the name.
    pub project_name: Option<&'a str>,
    pub status: Option<BuildStatus>,
    /// Builds that checked out this branch.
    pub branch: Option<&'a str>,
}

/// What [`Store::set_project_visibility`] stores.
#[derive(Debug, Clone, PartialEq)]
pub struct VisibilityUpdate<'a> {
    pub visibility: ProjectVisibility,
    pub resource_access_role: Option<&'a str>,
    /// The alias the project takes if it is made public and has none yet.
    pub new_alias: &'a str,
    pub now: f64,
}

/// What [`Store::insert_build`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum InsertedBuild {
    /// The build was stored with its new build number.
    Inserted,
    /// A build of the project already holds the idempotency token within its window.
    Existing(Box<BuildRecord>),
}

#[async_trait]
pub trait Store: SecretStore + Send + Sync + 'static {
    /// Subscribes to the change feed: every event committed after this call, by any process
    /// sharing the store (see [`StoreEvent`]).
    fn subscribe(&self) -> EventSubscription;

    /// Stores a new project; `AlreadyExists` when the account has one of that name, `NotFound`
    /// when its `environment.fleet.fleetArn` names no stored fleet.
    async fn create_project(&self, project: &ProjectRecord) -> StoreResult<()>;
    async fn get_project(&self, account_id: &str, name: &str)
    -> StoreResult<Option<ProjectRecord>>;
    /// Replaces a stored project; `NotFound` when it is gone or its environment names a fleet
    /// that is.
    async fn update_project(&self, project: &ProjectRecord) -> StoreResult<()>;
    /// Deletes a project: `None` when there was none, else the queued builds it ended. In the
    /// same transaction its queued builds end STOPPED (stamped `now`), its leased builds are
    /// marked stop_requested (StopRequested is published for each), and all its builds move to
    /// a past generation: they stay readable by id, and a project re-created under the name
    /// numbers builds from 1.
    async fn delete_project(
        &self,
        account_id: &str,
        name: &str,
        now: f64,
    ) -> StoreResult<Option<Vec<BuildRecord>>>;
    async fn list_projects(
        &self,
        account_id: &str,
        sort: ProjectSort,
        ascending: bool,
        after: Option<&ProjectKey>,
        limit: u64,
    ) -> StoreResult<Page<String, ProjectKey>>;
    async fn project_by_badge_token(&self, token: &str) -> StoreResult<Option<ProjectRecord>>;
    /// Sets who may read the project's builds without signing in and its `resourceAccessRole`
    /// (`UpdateProjectVisibility`; docs/public-builds.md), stamps `last_modified`, and returns
    /// the project as stored; `None` when there is no such project. A project made public
    /// keeps the alias it has, or takes `new_alias` (`AlreadyExists` if another project holds
    /// it); a private one keeps its alias for the day it is public again.
    async fn set_project_visibility(
        &self,
        account_id: &str,
        name: &str,
        change: &VisibilityUpdate<'_>,
    ) -> StoreResult<Option<ProjectRecord>>;
    /// The project whose public alias is `alias`, public or private.
    async fn project_by_public_alias(&self, alias: &str) -> StoreResult<Option<ProjectRecord>>;

    /// Stores a new build, giving it the project's next build number (no gaps, no duplicates,
    /// whatever runs concurrently). `NotFound` when the project is gone. When the build carries
    /// an idempotency token that a build of the project started at or after
    /// `idempotency_since` holds, nothing is stored and that build is returned: the check and
    /// the insert are one transaction, so concurrent calls with one token store one build.
    async fn insert_build(
        &self,
        build: &mut BuildRecord,
        idempotency_since: f64,
    ) -> StoreResult<InsertedBuild>;
    async fn get_build(&self, account_id: &str, uuid: &str) -> StoreResult<Option<BuildRecord>>;
    /// The builds of `account_id` among `uuids` (at most 100: one BatchGetBuilds), in no
    /// particular order; absent ones are left out. One read where a backend can.
    async fn get_builds(&self, account_id: &str, uuids: &[&str]) -> StoreResult<Vec<BuildRecord>> {
        let mut builds = Vec::with_capacity(uuids.len());
        for uuid in uuids {
            builds.extend(self.get_build(account_id, uuid).await?);
        }
        Ok(builds)
    }
    /// Deletes a build and its stored log; returns whether there was one.
    async fn delete_build(&self, account_id: &str, uuid: &str) -> StoreResult<bool>;
    /// Build ids (`project:uuid`) of the account, or of one live project, newest first unless
    /// `ascending`. The key is the build's insertion sequence in the account listing, its build
    /// number in a project's.
    async fn list_builds(
        &self,
        account_id: &str,
        project_name: Option<&str>,
        ascending: bool,
        after: Option<i64>,
        limit: u64,
    ) -> StoreResult<Page<String, i64>>;
    /// The account's builds that pass `filter`, of live and deleted projects, newest first
    /// (the console's Builds page). The key is the build's insertion sequence, as in the
    /// account's `list_builds`, so pages stay put while builds start and go. One filter reads
    /// one range of its index in order; combined filters read the range of one of their
    /// indexes (a backend may sort what that range holds).
    async fn find_builds(
        &self,
        account_id: &str,
        filter: &BuildFilter<'_>,
        after: Option<i64>,
        limit: u64,
    ) -> StoreResult<Page<BuildRecord, i64>>;

    /// Claims queued builds for `request.owner`, oldest first: as many as its capacity leaves
    /// room for, within each project's `concurrentBuildLimit` and the account limit (both
    /// counting leased, incomplete builds of live projects, whoever holds them). Builds past
    /// their queued deadline are left to [`Store::expire_queued`]. Each claimed build gets a
    /// lease (owner, `now + lease_seconds`, a new version). Claimers never exceed a limit and
    /// never claim one build twice, however many run at once.
    async fn claim_builds(&self, request: &ClaimRequest<'_>) -> StoreResult<Vec<LeasedBuild>>;
    /// Saves a leased build's state, only while `lease` still holds it (owner and version
    /// match); else `LeaseLost`, and nothing is written. Saving a complete build releases its
    /// lease. Publishes ProjectChanged, and QueueChanged when the build completed.
    async fn save_leased_build(&self, build: &BuildRecord, lease: &Lease) -> StoreResult<()>;
    /// Pushes the expiry of every lease `owner` holds to `now + lease_seconds` and returns
    /// them: a build of the owner's that is missing here is no longer its own.
    async fn renew_leases(
        &self,
        owner: &str,
        now: f64,
        lease_seconds: f64,
    ) -> StoreResult<Vec<HeldLease>>;
    /// StopBuild: a queued build ends STOPPED at once (never overtaken by a racing claim); a
    /// leased one is marked stop_requested and StopRequested is published, for its owner to
    /// stop it; a complete one is left as it is. Returns the build as it now stands;
    /// `NotFound` when there is none.
    async fn request_stop(
        &self,
        account_id: &str,
        uuid: &str,
        now: f64,
    ) -> StoreResult<BuildRecord>;
    /// Ends FAULT ([`LEASE_EXPIRED_REASON`]) every incomplete build whose lease expired before
    /// `now`, and returns them. Each is ended by exactly one of any number of racing callers.
    async fn expire_leases(&self, now: f64) -> StoreResult<Vec<BuildRecord>>;
    /// Ends TIMED_OUT ([`QUEUED_TIMEOUT_REASON`]) every queued, unleased build that waited
    /// longer than its `queuedTimeoutInMinutes` (minutes of `minute_seconds`), and returns
    /// them; each exactly once, whoever else calls.
    async fn expire_queued(&self, now: f64, minute_seconds: f64) -> StoreResult<Vec<BuildRecord>>;
    /// Makes the automatic retries that complete builds owe (`BuildRecord::owes_auto_retry`:
    /// ended FAILED, FAULT or TIMED_OUT with retries left in their chain), oldest first, at
    /// most [`AUTO_RETRY_BATCH`] a call, and returns the new builds. Each retry is inserted like
    /// any build (the project's next build number, QUEUED, QueueChanged and ProjectChanged
    /// published) in one transaction with the record of its `nextAutoRetry` on the old build, so
    /// a build is retried exactly once however many callers race, and a crash loses none. A
    /// build whose project was deleted since owes nothing any more.
    async fn start_auto_retries(&self, now: f64) -> StoreResult<Vec<BuildRecord>>;
    /// An incomplete, leased build by id alone, with its current lease. For a process that
    /// inherited a build's work from its predecessor (the work directory is its own) and ends
    /// it at once rather than waiting for the lease to expire.
    async fn leased_build(&self, uuid: &str) -> StoreResult<Option<LeasedBuild>>;
    /// Counts of queued and running builds of every account (one scan of the incomplete builds'
    /// index), for `/metrics`.
    async fn queue_gauges(&self) -> StoreResult<QueueGauges>;
    /// Renews, of the leases `owner` holds, only those of `uuids` (at most 1,000), and returns
    /// them. An agent lists the builds it runs: a build whose claim never reached it (the
    /// answer was lost) is not renewed, and ends by lease expiry.
    async fn renew_listed_leases(
        &self,
        owner: &str,
        uuids: &[String],
        now: f64,
        lease_seconds: f64,
    ) -> StoreResult<Vec<HeldLease>>;
    /// Stores `data` as the piece of the build's log that starts at byte `start_offset`.
    /// Idempotent per (uuid, start_offset): a piece already stored there is kept and nothing
    /// changes (a shipper that retries after an unclear failure stores each byte once). A
    /// writer appends contiguous pieces in order; a piece may be of any size (shippers keep
    /// them at most [`MAX_LOG_CHUNK_BYTES`]). `NotFound` when the build is gone. Publishes
    /// [`StoreEvent::LogAppended`] once the piece is stored.
    async fn append_log(&self, uuid: &str, start_offset: u64, data: &[u8]) -> StoreResult<()>;
    /// Up to `max_bytes` of the build's stored log from byte `offset`, across pieces: fewer at
    /// the end of what is stored, none at or past it (or for an unknown build).
    async fn read_log(&self, uuid: &str, offset: u64, max_bytes: usize) -> StoreResult<Vec<u8>>;
    /// How many bytes of the build's log are stored (0 for an unknown build): the offset the
    /// next piece starts at.
    async fn log_size(&self, uuid: &str) -> StoreResult<u64>;
    /// The file this store keeps the build's log in, when it keeps logs as files that the
    /// process running the build can write itself (SQLite: beside its database; one process
    /// uses it). The runner then writes the log there directly, nothing copies it, and
    /// [`Store::log_grew`] announces new bytes. `None` (PostgreSQL): the log lives in the
    /// database, and a shipper stores it piece by piece with [`Store::append_log`].
    fn log_file(&self, _uuid: &str) -> Option<std::path::PathBuf> {
        None
    }
    /// Publishes [`StoreEvent::LogAppended`] for a log written straight into its
    /// [`Store::log_file`] (stores without log files are told of new bytes by `append_log`).
    fn log_grew(&self, _uuid: &str) {}
    /// The stored line marks of the build's log ([`log_lines`]): entry `i` counts the line
    /// breaks in its first `(i + 1) * LINE_MARK_BLOCK` bytes. Empty for an unknown build.
    async fn log_line_marks(&self, uuid: &str) -> StoreResult<Vec<u64>>;
    /// Stores `marks` as the line marks of blocks `first_block..` of the build's log. A mark
    /// already stored is kept (marks of an append-only log never change, so every reader may
    /// add them). `NotFound` when the build is gone.
    async fn add_log_line_marks(
        &self,
        uuid: &str,
        first_block: u64,
        marks: &[u64],
    ) -> StoreResult<()>;
    /// The status of the most recently started build for `git_ref` among the builds of the
    /// project's current source (`source_epoch`).
    async fn latest_status_for_ref(
        &self,
        account_id: &str,
        project_name: &str,
        git_ref: &GitRef,
        source_epoch: i64,
    ) -> StoreResult<Option<BuildStatus>>;
    /// [`Store::latest_status_for_ref`], read on the calling thread: a point read that costs less
    /// than handing it to another thread. `None` when the backend cannot read that way (callers
    /// use the async method then). May block the thread for as long as one indexed read takes.
    fn latest_status_for_ref_now(
        &self,
        _account_id: &str,
        _project_name: &str,
        _git_ref: &GitRef,
        _source_epoch: i64,
    ) -> Option<StoreResult<Option<BuildStatus>>> {
        None
    }
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

    /// Stores a project's webhook: `AlreadyExists` when it has one, `NotFound` when the project
    /// is gone.
    async fn create_webhook(&self, webhook: &WebhookRecord) -> StoreResult<()>;
    async fn get_webhook(
        &self,
        account_id: &str,
        project_name: &str,
    ) -> StoreResult<Option<WebhookRecord>>;
    /// The webhook whose payload URL carries `token`.
    async fn webhook_by_token(&self, token: &str) -> StoreResult<Option<WebhookRecord>>;
    /// Replaces a webhook's secret and configuration; `NotFound` when it is gone.
    async fn update_webhook(&self, webhook: &WebhookRecord) -> StoreResult<()>;
    /// Returns whether a webhook was deleted; its delivery history stays with the project.
    async fn delete_webhook(&self, account_id: &str, project_name: &str) -> StoreResult<bool>;
    /// Records a genuine delivery that claims its delivery id (when it has one) and its body:
    /// a duplicate when an earlier delivery to the project claimed the same id, or the same body
    /// since `claim.window_start`; nothing is recorded then. Only the most recent deliveries of
    /// each project are kept.
    async fn claim_webhook_delivery(
        &self,
        delivery: &DeliveryRecord,
        claim: &BodyClaim<'_>,
    ) -> StoreResult<Claim>;
    /// Records a delivery that claims nothing (refused, or a duplicate) and returns its sequence
    /// number.
    async fn insert_webhook_delivery(&self, delivery: &DeliveryRecord) -> StoreResult<i64>;
    /// Sets what became of a recorded delivery.
    async fn set_webhook_delivery_outcome(
        &self,
        seq: i64,
        outcome: DeliveryOutcome,
        reason: &str,
        build_id: Option<&str>,
    ) -> StoreResult<()>;
    /// A project's deliveries, newest first.
    async fn recent_webhook_deliveries(
        &self,
        account_id: &str,
        project_name: &str,
        limit: u64,
    ) -> StoreResult<Vec<DeliveryRecord>>;

    /// Saves a new console sign-in and drops the sessions that expired before `now`.
    async fn create_console_session(&self, session: &ConsoleSession, now: f64) -> StoreResult<()>;
    /// The console session whose cookie hashes to `token_hash`, unless it expired before `now`.
    async fn console_session(
        &self,
        token_hash: &str,
        now: f64,
    ) -> StoreResult<Option<ConsoleSession>>;
    /// Ends a console session (sign-out); returns whether there was one.
    async fn delete_console_session(&self, token_hash: &str) -> StoreResult<bool>;

    /// Counts a console sign-in attempt against every subject (client address, access key),
    /// unless one of them is locked out at `now`: then nothing is counted. Atomic, so attempts
    /// racing each other (from any replica) are all counted. Forgets subjects quiet for
    /// `backoff.forget_after` seconds.
    async fn begin_sign_in_attempt(
        &self,
        subjects: &[String],
        now: f64,
        backoff: &SignInBackoff,
    ) -> StoreResult<SignInAttempt>;
    /// A sign-in succeeded: its subjects' attempts are forgotten.
    async fn clear_sign_in_attempts(&self, subjects: &[String]) -> StoreResult<()>;

    /// The project's cache generation (0 until its first invalidation; docs/cache.md).
    async fn project_cache_generation(
        &self,
        account_id: &str,
        project_name: &str,
    ) -> StoreResult<i64>;
    /// InvalidateProjectCache: moves the project's cache generation on and returns the new one,
    /// so every cache made before is missed on every host.
    async fn invalidate_project_cache(
        &self,
        account_id: &str,
        project_name: &str,
    ) -> StoreResult<i64>;

    /// The secret stored under `name`; the first caller stores `candidate`, so every replica
    /// gets the same secret.
    async fn server_secret(&self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>>;

    /// Stores a new agent token under `token_hash` (the SHA-256 of the secret, hex).
    async fn create_agent_token(&self, token: &AgentToken, token_hash: &str) -> StoreResult<()>;
    /// The token whose secret hashes to `token_hash`, revoked or not.
    async fn agent_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<AgentToken>>;
    /// Every agent token of every account, oldest first.
    async fn agent_tokens(&self) -> StoreResult<Vec<AgentToken>>;
    /// Revokes a token (its sessions go with it); false when there is no such token, or it was
    /// revoked already.
    async fn revoke_agent_token(&self, id: &str, now: f64) -> StoreResult<bool>;
    /// Registers an agent session. A session of the same token and name is replaced (the agent
    /// restarted); a session of another token with that name in the fleet, heard from after
    /// `live_since`, makes this `AlreadyExists` (an older one is replaced).
    async fn register_agent(&self, session: &AgentSession, live_since: f64) -> StoreResult<()>;
    /// A session by its id.
    async fn agent_session(&self, session: &str) -> StoreResult<Option<AgentSession>>;
    /// Records that the session was heard from at `now`; false when it is gone (replaced by a
    /// restarted agent, or its token revoked).
    async fn touch_agent(&self, session: &str, now: f64) -> StoreResult<bool>;
    /// Removes a session (the agent stopped); false when it was gone already.
    async fn remove_agent(&self, session: &str) -> StoreResult<bool>;
    /// The fleets whose builds on-demand capacity may take now: fleets with `overflowBehavior`
    /// ON_DEMAND whose agents heard from after `live_since` have no free build slot.
    async fn overflowing_fleets(&self, live_since: f64) -> StoreResult<Vec<String>>;
    /// Sessions heard from after `live_since`, of `account_id` (of every account for `None`),
    /// ordered by fleet and name.
    async fn live_agents(
        &self,
        account_id: Option<&str>,
        live_since: f64,
    ) -> StoreResult<Vec<AgentSession>>;
    /// Stores a new fleet; `AlreadyExists` when the account has a fleet of that name.
    async fn create_fleet(&self, fleet: &FleetRecord) -> StoreResult<()>;
    /// The account's fleets that `names_or_arns` (at most 100) name, each by its name or its
    /// ARN, in no particular order.
    async fn get_fleets(
        &self,
        account_id: &str,
        names_or_arns: &[&str],
    ) -> StoreResult<Vec<FleetRecord>>;
    /// One fleet of the account, by name or ARN (`kiln agent-token create --fleet NAME`).
    async fn fleet(&self, account_id: &str, name_or_arn: &str) -> StoreResult<Option<FleetRecord>> {
        let fleets = self.get_fleets(account_id, &[name_or_arn]).await?;
        Ok(fleets.into_iter().next())
    }
    /// Replaces a stored fleet's settings and last-modified time (found by account and ARN);
    /// `NotFound` when it is gone.
    async fn update_fleet(&self, fleet: &FleetRecord) -> StoreResult<()>;
    /// Deletes the account's fleet of that ARN, unless a project names it in its environment:
    /// the check and the delete are one transaction, and a project stored meanwhile that names
    /// the fleet keeps it too. Builds that ran on the fleet keep its ARN.
    async fn delete_fleet(&self, account_id: &str, arn: &str) -> StoreResult<DeletedFleet>;
    /// The account's incomplete builds on fleet `fleet_arn`, at most `limit`: first the
    /// leased (running) ones, then the queued ones, each oldest first (queue order), so a
    /// long queue never hides what runs.
    async fn fleet_builds(
        &self,
        account_id: &str,
        fleet_arn: &str,
        limit: u64,
    ) -> StoreResult<Vec<FleetBuild>>;
    /// Fleet ARNs, sorted as `list_projects` sorts project names (keys are name and sort value).
    async fn list_fleets(
        &self,
        account_id: &str,
        sort: ProjectSort,
        ascending: bool,
        after: Option<&ProjectKey>,
        limit: u64,
    ) -> StoreResult<Page<String, ProjectKey>>;

    /// Stores a new report group; `AlreadyExists` when the account has one of that name.
    async fn create_report_group(&self, group: &ReportGroupRecord) -> StoreResult<()>;
    /// The account's report groups among `names` (at most 100), in no particular order.
    async fn get_report_groups(
        &self,
        account_id: &str,
        names: &[&str],
    ) -> StoreResult<Vec<ReportGroupRecord>>;
    /// Replaces a group's export configuration, tags and last-modified time; `NotFound` when
    /// it is gone.
    async fn update_report_group(&self, group: &ReportGroupRecord) -> StoreResult<()>;
    /// Deletes a group, and its reports when `delete_reports`; a group that still holds
    /// reports is otherwise kept.
    async fn delete_report_group(
        &self,
        account_id: &str,
        name: &str,
        delete_reports: bool,
    ) -> StoreResult<DeletedReportGroup>;
    /// Report group names, sorted as `list_projects` sorts project names.
    async fn list_report_groups(
        &self,
        account_id: &str,
        sort: ProjectSort,
        ascending: bool,
        after: Option<&ProjectKey>,
        limit: u64,
    ) -> StoreResult<Page<String, ProjectKey>>;
    /// Stores a report with its test cases or code coverages, in one transaction. When the
    /// report's group is missing, `create_group` is stored first (the group a buildspec names);
    /// without it, or when the group holds reports of the other type, `NotFound` and nothing
    /// is stored. `AlreadyExists` when the report's ARN is taken.
    async fn save_report(
        &self,
        report: &ReportRecord,
        contents: ReportContents<'_>,
        create_group: Option<&ReportGroupRecord>,
    ) -> StoreResult<()>;
    /// The account's reports among `arns` (at most 100), in no particular order.
    async fn get_reports(&self, account_id: &str, arns: &[&str]) -> StoreResult<Vec<ReportRecord>>;
    /// Report ARNs of the account or of one group, in the order they were stored (newest
    /// first unless ascending); the key is the report's place in that order.
    async fn list_reports(
        &self,
        account_id: &str,
        query: &ReportQuery<'_>,
        after: Option<i64>,
        limit: u64,
    ) -> StoreResult<Page<String, i64>>;
    /// Deletes a report and what it holds; returns whether there was one.
    async fn delete_report(&self, account_id: &str, arn: &str) -> StoreResult<bool>;
    /// A report's test cases that pass `query`, in the report's order; `NotFound` when the
    /// account has no such report.
    async fn describe_test_cases(
        &self,
        account_id: &str,
        arn: &str,
        query: &TestCaseQuery<'_>,
        after: Option<i64>,
        limit: u64,
    ) -> StoreResult<Page<TestCase, i64>>;
    /// A report's code coverages within the bounds, in the query's order, each with its place
    /// in the report; `NotFound` when the account has no such report.
    async fn describe_code_coverages(
        &self,
        account_id: &str,
        arn: &str,
        query: &CoverageQuery,
        after: Option<&CoverageKey>,
        limit: u64,
    ) -> StoreResult<Page<(i64, CodeCoverage), CoverageKey>>;
    /// The latest `limit` reports of a group, newest first.
    async fn report_group_trend(
        &self,
        account_id: &str,
        group_name: &str,
        limit: u64,
    ) -> StoreResult<Vec<ReportRecord>>;
    /// The reports of `which.report_type` (of one group, when named) of the latest completed
    /// build on the branch or tag that made such a report: empty when there is none.
    async fn latest_reports_for_ref(
        &self,
        which: &BranchReports<'_>,
    ) -> StoreResult<Vec<ReportRecord>>;
}

/// How console sign-in attempts are slowed down: the first `free_attempts` of a subject are
/// not limited; from then on each attempt locks the subject out for `first_lockout` seconds,
/// doubling with every further attempt up to `max_lockout`. A subject quiet for `forget_after`
/// seconds starts afresh.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignInBackoff {
    pub free_attempts: u32,
    pub first_lockout: f64,
    pub max_lockout: f64,
    pub forget_after: f64,
}

impl SignInBackoff {
    /// Seconds a subject is locked out for after its `attempts`-th attempt (counting it).
    pub fn lockout_after(&self, attempts: u32) -> f64 {
        if attempts < self.free_attempts {
            return 0.0;
        }
        let doublings = (attempts - self.free_attempts).min(62);
        (self.first_lockout * (1u64 << doublings) as f64).min(self.max_lockout)
    }
}

/// What [`Store::begin_sign_in_attempt`] decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SignInAttempt {
    /// The attempt was counted. Should it fail, further attempts are refused until
    /// `locked_until` (not after `now` when there is no lockout).
    Counted { locked_until: f64 },
    /// A subject is locked out until `until`: the attempt must be refused, whatever it carries.
    LockedOut { until: f64 },
}

/// A delivery's body, as it claims it against replays.
#[derive(Debug, Clone, Copy)]
pub struct BodyClaim<'a> {
    /// SHA-256 (hex) of the signed body.
    pub body_sha256: &'a str,
    /// Epoch seconds: claims older than this no longer make a body a duplicate.
    pub window_start: f64,
}

/// What became of a delivery's claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The delivery was recorded with this sequence number; it is the first of its kind.
    Claimed(i64),
    /// An earlier delivery to the project had the same delivery id.
    DuplicateDeliveryId,
    /// An earlier delivery to the project within the window had the same body.
    DuplicateBody,
}

/// A signed-in web console user: the access key they signed in with and its account. Stored
/// as it is: a row of `console_sessions`.
#[derive(Clone, PartialEq, sqlx::FromRow)]
pub struct ConsoleSession {
    /// SHA-256 (hex) of the session cookie's value; the value itself is never stored.
    pub token_hash: String,
    pub account_id: String,
    pub access_key_id: String,
    /// The token every console form must carry.
    pub csrf_token: String,
    pub created: f64,
    pub expires: f64,
}

impl std::fmt::Debug for ConsoleSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleSession")
            .field("account_id", &self.account_id)
            .field("access_key_id", &self.access_key_id)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// A token for cloning private repositories, imported with `ImportSourceCredentials`. Stored as
/// it is: a row of `source_credentials`.
#[derive(Clone, PartialEq, sqlx::FromRow)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_failures_are_unavailable_and_statement_failures_are_not() {
        let full_disk = std::io::Error::from(std::io::ErrorKind::StorageFull);
        assert!(StoreError::from(sqlx::Error::Io(full_disk)).is_unavailable());
        assert!(StoreError::from(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(!StoreError::from(sqlx::Error::RowNotFound).is_unavailable());
        assert!(!StoreError::NotFound.is_unavailable());
    }

    #[test]
    fn sign_in_lockouts_double_up_to_the_cap() {
        let backoff = SignInBackoff {
            free_attempts: 3,
            first_lockout: 10.0,
            max_lockout: 35.0,
            forget_after: 100.0,
        };
        let lockouts: Vec<f64> = (1..=7).map(|n| backoff.lockout_after(n)).collect();
        assert_eq!(lockouts, [0.0, 0.0, 10.0, 20.0, 35.0, 35.0, 35.0]);
        assert_eq!(backoff.lockout_after(u32::MAX), 35.0);
    }
}
