//! The build queue on SQLite: claims, fenced saves, heartbeats, stop requests and expiry.
//!
//! Every method that reads a build's state and then writes it runs in one `BEGIN IMMEDIATE`
//! transaction, which takes SQLite's single write lock at its start: counts read inside it
//! stay exact until the commit, so claimers never exceed a limit. Writes still compare and set
//! the fencing version, the contract every backend keeps (see `docs/queue.md`).

use std::collections::HashMap;

use kiln_domain::build::{BuildRecord, BuildStatus, PhaseContext, context_codes};
use kiln_store::agents::lease_expired_reason;
use kiln_store::records::{
    BuildRow, LeasedBuildRow, RecordRow, build_json, default_branch_column, ref_columns,
};
use kiln_store::{
    ClaimRequest, HeldLease, Lease, LeasedBuild, QUEUED_TIMEOUT_REASON, QueueGauges, StoreError,
    StoreEvent, StoreResult,
};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};

use crate::SqliteStore;

/// Queued builds read per step of a claim.
const CLAIM_BATCH: i64 = 256;

pub(crate) async fn write_transaction(
    pool: &SqlitePool,
) -> StoreResult<Transaction<'static, Sqlite>> {
    Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
}

/// How a fenced write treats the lease.
pub(crate) enum Fence<'a> {
    /// The lease's holder saves: owner and version must match; the version stays.
    Holder(&'a Lease),
    /// Anyone else ends the build: the version must still be `expected`.
    Version(i64),
}

/// Writes a build's state if the fence still holds; returns whether it did. A complete build
/// releases its lease, and every write but the holder's moves the version on.
pub(crate) async fn write_fenced(
    tx: &mut Transaction<'_, Sqlite>,
    build: &BuildRecord,
    fence: Fence<'_>,
) -> StoreResult<bool> {
    let (ref_kind, ref_name) = ref_columns(build);
    let complete = build.is_complete();
    let (owner, version, bump) = match fence {
        Fence::Holder(lease) => (Some(lease.owner.as_str()), lease.version, complete),
        Fence::Version(version) => (None, version, true),
    };
    let result = sqlx::query(
        "UPDATE builds SET status = ?, complete = ?, ref_kind = ?, ref_name = ?, default_branch = ?,
             record = ?, version = version + ?,
             lease_owner = CASE WHEN ? THEN NULL ELSE lease_owner END,
             lease_expires = CASE WHEN ? THEN NULL ELSE lease_expires END
         WHERE uuid = ? AND account_id = ? AND version = ?
           AND (? IS NULL OR lease_owner = ?)",
    )
    .bind(build.status.as_str())
    .bind(complete)
    .bind(ref_kind)
    .bind(ref_name)
    .bind(default_branch_column(build))
    .bind(build_json(build)?)
    .bind(i64::from(bump))
    .bind(complete)
    .bind(complete)
    .bind(&build.uuid)
    .bind(&build.account_id)
    .bind(version)
    .bind(owner)
    .bind(owner)
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Leased builds (never complete) whoever holds them: of a live project, and of an account
/// (a deleted project's builds count until they end: they still run).
#[derive(Default)]
struct LeaseCounts {
    projects: HashMap<(String, String), (Option<i64>, i64)>,
    accounts: HashMap<String, i64>,
}

impl LeaseCounts {
    /// The project's limit and how many of its builds are leased.
    async fn project(
        &mut self,
        tx: &mut Transaction<'_, Sqlite>,
        account_id: &str,
        project_name: &str,
    ) -> StoreResult<(Option<i64>, i64)> {
        let key = (account_id.to_owned(), project_name.to_owned());
        if let Some(known) = self.projects.get(&key) {
            return Ok(*known);
        }
        let limit: Option<i64> = sqlx::query_scalar(
            "SELECT concurrent_build_limit FROM projects WHERE account_id = ? AND name = ?",
        )
        .bind(account_id)
        .bind(project_name)
        .fetch_optional(&mut **tx)
        .await?
        .flatten();
        let leased: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM builds WHERE account_id = ? AND project_name = ?
             AND lease_owner IS NOT NULL AND project_generation = 0",
        )
        .bind(account_id)
        .bind(project_name)
        .fetch_one(&mut **tx)
        .await?;
        self.projects.insert(key, (limit, leased));
        Ok((limit, leased))
    }

    async fn account(
        &mut self,
        tx: &mut Transaction<'_, Sqlite>,
        account_id: &str,
    ) -> StoreResult<i64> {
        if let Some(known) = self.accounts.get(account_id) {
            return Ok(*known);
        }
        let leased: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM builds WHERE account_id = ? AND lease_owner IS NOT NULL",
        )
        .bind(account_id)
        .fetch_one(&mut **tx)
        .await?;
        self.accounts.insert(account_id.to_owned(), leased);
        Ok(leased)
    }

    fn claimed(&mut self, account_id: &str, project_name: &str) {
        let key = (account_id.to_owned(), project_name.to_owned());
        if let Some((_, leased)) = self.projects.get_mut(&key) {
            *leased += 1;
        }
        if let Some(leased) = self.accounts.get_mut(account_id) {
            *leased += 1;
        }
    }
}

struct Candidate {
    seq: i64,
    uuid: String,
    account_id: String,
    project_name: String,
    deadline: f64,
}

async fn queued_after(
    tx: &mut Transaction<'_, Sqlite>,
    after_seq: i64,
    request: &ClaimRequest<'_>,
) -> StoreResult<Vec<Candidate>> {
    let rows = sqlx::query(
        "SELECT seq, uuid, account_id, project_name,
                start_time + queued_timeout_minutes * ? AS deadline
         FROM builds WHERE complete = 0 AND lease_owner IS NULL AND seq > ?
           AND CASE WHEN ?3 IS NOT NULL THEN fleet_arn = ?3
               ELSE fleet_arn IS NULL OR fleet_arn IN (SELECT value FROM json_each(?4)) END
         ORDER BY seq LIMIT ?5",
    )
    .bind(request.minute_seconds)
    .bind(after_seq)
    .bind(request.fleet.only())
    .bind(
        serde_json::to_string(request.fleet.overflow())
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
    )
    .bind(CLAIM_BATCH)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Candidate {
                seq: row.try_get("seq")?,
                uuid: row.try_get("uuid")?,
                account_id: row.try_get("account_id")?,
                project_name: row.try_get("project_name")?,
                deadline: row.try_get("deadline")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}

impl SqliteStore {
    pub(crate) async fn claim(&self, request: &ClaimRequest<'_>) -> StoreResult<Vec<LeasedBuild>> {
        let mut tx = write_transaction(&self.pool).await?;
        let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM builds WHERE lease_owner = ?")
            .bind(request.owner)
            .fetch_one(&mut *tx)
            .await?;
        let mut room = i64::from(request.capacity) - held;
        let mut counts = LeaseCounts::default();
        let mut claimed = Vec::new();
        let mut after_seq = 0;
        while room > 0 {
            let batch = queued_after(&mut tx, after_seq, request).await?;
            let Some(last) = batch.last() else { break };
            after_seq = last.seq;
            for candidate in batch {
                if room == 0 {
                    break;
                }
                if candidate.deadline < request.now {
                    continue;
                }
                let (limit, in_project) = counts
                    .project(&mut tx, &candidate.account_id, &candidate.project_name)
                    .await?;
                if limit.is_some_and(|limit| in_project >= limit) {
                    continue;
                }
                if let Some(account_limit) = request.account_limit
                    && counts.account(&mut tx, &candidate.account_id).await?
                        >= i64::from(account_limit)
                {
                    continue;
                }
                let row = sqlx::query(
                    "UPDATE builds SET lease_owner = ?, lease_expires = ?, version = version + 1
                     WHERE uuid = ? AND lease_owner IS NULL AND complete = 0
                     RETURNING record, lease_owner, version",
                )
                .bind(request.owner)
                .bind(request.now + request.lease_seconds)
                .bind(&candidate.uuid)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else { continue };
                counts.claimed(&candidate.account_id, &candidate.project_name);
                room -= 1;
                claimed.push(LeasedBuildRow::read(&row)?);
            }
        }
        tx.commit().await?;
        for build in &claimed {
            self.project_changed(&build.record.account_id, &build.record.project_name);
        }
        Ok(claimed)
    }

    pub(crate) async fn save_leased(&self, build: &BuildRecord, lease: &Lease) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        if !write_fenced(&mut tx, build, Fence::Holder(lease)).await? {
            return Err(StoreError::LeaseLost);
        }
        tx.commit().await?;
        self.project_changed(&build.account_id, &build.project_name);
        if build.is_complete() {
            self.events.publish(StoreEvent::QueueChanged);
        }
        Ok(())
    }

    pub(crate) async fn renew(
        &self,
        owner: &str,
        now: f64,
        lease_seconds: f64,
    ) -> StoreResult<Vec<HeldLease>> {
        let held = sqlx::query_as(
            "UPDATE builds SET lease_expires = ? WHERE lease_owner = ?
             RETURNING uuid, stop_requested",
        )
        .bind(now + lease_seconds)
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        Ok(held)
    }

    pub(crate) async fn stop(
        &self,
        account_id: &str,
        uuid: &str,
        now: f64,
    ) -> StoreResult<BuildRecord> {
        let mut tx = write_transaction(&self.pool).await?;
        let row = sqlx::query(
            "SELECT record, version, lease_owner IS NOT NULL AS leased FROM builds
             WHERE account_id = ? AND uuid = ?",
        )
        .bind(account_id)
        .bind(uuid)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let mut build = BuildRow::read(&row)?;
        if build.is_complete() {
            return Ok(build);
        }
        if row.try_get("leased")? {
            sqlx::query("UPDATE builds SET stop_requested = 1 WHERE uuid = ?")
                .bind(uuid)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            self.events.publish(StoreEvent::StopRequested {
                uuid: uuid.to_owned(),
            });
            return Ok(build);
        }
        build.abort(
            BuildStatus::Stopped,
            PhaseContext::new(context_codes::BUILD_STOPPED, "Build was stopped"),
            now,
        );
        // The write lock is held since the read, so no claim can have moved the version.
        if !write_fenced(&mut tx, &build, Fence::Version(row.try_get("version")?)).await? {
            return Err(StoreError::Database(
                "a queued build changed under the write lock".into(),
            ));
        }
        tx.commit().await?;
        self.project_changed(&build.account_id, &build.project_name);
        Ok(build)
    }

    /// Ends every build `select` returns (record, version) with `status` and `context`, in one
    /// write transaction, each by a fenced write; returns the builds it ended.
    async fn end_selected<'q>(
        &self,
        select: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
        status: BuildStatus,
        context: impl Fn(&sqlx::sqlite::SqliteRow) -> PhaseContext,
        now: f64,
    ) -> StoreResult<Vec<BuildRecord>> {
        let mut tx = write_transaction(&self.pool).await?;
        let rows = select.fetch_all(&mut *tx).await?;
        let mut ended = Vec::new();
        for row in &rows {
            let mut build = BuildRow::read(row)?;
            build.abort(status, context(row), now);
            if write_fenced(&mut tx, &build, Fence::Version(row.try_get("version")?)).await? {
                ended.push(build);
            }
        }
        tx.commit().await?;
        for build in &ended {
            self.project_changed(&build.account_id, &build.project_name);
        }
        if !ended.is_empty() {
            self.events.publish(StoreEvent::QueueChanged);
        }
        Ok(ended)
    }

    pub(crate) async fn expire_leased(&self, now: f64) -> StoreResult<Vec<BuildRecord>> {
        let select = sqlx::query(
            "SELECT record, version, lease_owner FROM builds
             WHERE lease_owner IS NOT NULL AND lease_expires < ? ORDER BY lease_expires",
        )
        .bind(now);
        self.end_selected(
            select,
            BuildStatus::Fault,
            |row| {
                let owner: Option<String> = row.try_get("lease_owner").ok().flatten();
                PhaseContext::new(
                    context_codes::SERVER_ERROR,
                    lease_expired_reason(owner.as_deref()),
                )
            },
            now,
        )
        .await
    }

    pub(crate) async fn expire_waiting(
        &self,
        now: f64,
        minute_seconds: f64,
    ) -> StoreResult<Vec<BuildRecord>> {
        let select = sqlx::query(
            "SELECT record, version FROM builds WHERE complete = 0 AND lease_owner IS NULL
             AND start_time + queued_timeout_minutes * ? < ? ORDER BY seq",
        )
        .bind(minute_seconds)
        .bind(now);
        self.end_selected(
            select,
            BuildStatus::TimedOut,
            |_| PhaseContext::new(context_codes::BUILD_TIMED_OUT, QUEUED_TIMEOUT_REASON),
            now,
        )
        .await
    }

    pub(crate) async fn leased(&self, uuid: &str) -> StoreResult<Option<LeasedBuild>> {
        let row = sqlx::query(
            "SELECT record, lease_owner, version FROM builds
             WHERE uuid = ? AND lease_owner IS NOT NULL",
        )
        .bind(uuid)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(LeasedBuildRow::read).transpose()
    }

    pub(crate) async fn gauges(&self) -> StoreResult<QueueGauges> {
        let (queued, running, oldest): (i64, i64, Option<f64>) = sqlx::query_as(
            "SELECT COALESCE(SUM(lease_owner IS NULL), 0), COALESCE(SUM(lease_owner IS NOT NULL), 0),
                    MIN(CASE WHEN lease_owner IS NULL THEN start_time END)
             FROM builds WHERE complete = 0",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(QueueGauges {
            queued: queued.max(0).unsigned_abs(),
            running: running.max(0).unsigned_abs(),
            oldest_queued_at: oldest,
        })
    }
}
