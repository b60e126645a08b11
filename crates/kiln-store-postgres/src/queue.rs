//! The build queue on PostgreSQL: claims, fenced saves, heartbeats, stop requests and expiry.
//!
//! Claimers are serialised by a transaction-scoped advisory lock: only a claim creates a lease,
//! so the lease counts a claim reads stay exact until it commits. Everyone else who ends or
//! marks a build locks its row (`FOR UPDATE`) before deciding, and every write of a build's
//! state compares and sets the fencing version, the contract every backend keeps (see
//! `docs/queue.md` and `docs/postgresql.md`).

use std::collections::BTreeSet;

use kiln_domain::build::{BuildRecord, BuildStatus, PhaseContext, context_codes};
use kiln_store::agents::lease_expired_reason;
use kiln_store::records::{
    BuildRow, LeasedBuildRow, RecordRow, build_json, default_branch_column, ref_columns,
};
use kiln_store::{
    ClaimRequest, HeldLease, Lease, LeasedBuild, QUEUED_TIMEOUT_REASON, QueueGauges, StoreError,
    StoreEvent, StoreResult,
};
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgConnection, PgPool, Postgres, Row};

use crate::{feed, project_changed};

/// The advisory lock that serialises claims across replicas: ASCII "kiln" and 2 (sign-in
/// attempts hold 1).
const CLAIM_LOCK: i64 = 0x6b69_6c6e_0000_0002;

/// Leases queued builds to `$1` until `$2`, oldest first, within every limit: `$3` is now, `$4`
/// the length of a queued-timeout minute, `$5` the account limit (NULL: none), `$6` the room
/// the owner's capacity leaves; `$7` the one fleet an agent claims for, else (NULL) builds of
/// no fleet or of the overflowing fleets `$8`. Window functions rank each queued build within its project and
/// then, among those its project's limit leaves, within its account; a rank plus the leases
/// already counted must fit the limit. Skipping a build for a full project or account never
/// frees room for a later one of the same project or account, so this is exactly the greedy
/// oldest-first walk of SQLite's claim. `FOR UPDATE` cannot go with window functions, so the
/// chosen builds are locked by a second select, which skips any row another transaction is
/// ending (a stop, an expiry, a project's deletion) and checks that each is still queued.
/// `project_room` is materialised so that each project's leases are counted once, not once
/// per queued build.
const CLAIM: &str = "
WITH queued AS (
    SELECT uuid, seq, account_id, project_name,
        row_number() OVER (PARTITION BY account_id, project_name ORDER BY seq) AS nth_of_project
    FROM builds
    WHERE NOT complete AND lease_owner IS NULL
      AND start_time + queued_timeout_minutes * $4 >= $3
      AND CASE WHEN $7::TEXT IS NOT NULL THEN fleet_arn = $7
          ELSE fleet_arn IS NULL OR fleet_arn = ANY($8::TEXT[]) END
),
project_room AS MATERIALIZED (
    SELECT p.account_id, p.name AS project_name,
        p.concurrent_build_limit - (
            SELECT COUNT(*) FROM builds l
            WHERE l.account_id = p.account_id AND l.project_name = p.name
              AND l.project_generation = 0 AND l.lease_owner IS NOT NULL
        ) AS room
    FROM projects p
    WHERE p.concurrent_build_limit IS NOT NULL
      AND (p.account_id, p.name) IN (SELECT account_id, project_name FROM queued)
),
within_projects AS (
    SELECT q.uuid, q.seq, q.account_id,
        row_number() OVER (PARTITION BY q.account_id ORDER BY q.seq) AS nth_of_account
    FROM queued q LEFT JOIN project_room r USING (account_id, project_name)
    WHERE r.room IS NULL OR q.nth_of_project <= r.room
),
account_room AS (
    SELECT a.account_id,
        $5::BIGINT - (
            SELECT COUNT(*) FROM builds l
            WHERE l.account_id = a.account_id AND l.lease_owner IS NOT NULL
        ) AS room
    FROM (SELECT DISTINCT account_id FROM within_projects) a
    WHERE $5::BIGINT IS NOT NULL
),
chosen AS (
    SELECT w.uuid FROM within_projects w LEFT JOIN account_room r USING (account_id)
    WHERE r.room IS NULL OR w.nth_of_account <= r.room
    ORDER BY w.seq LIMIT $6
),
locked AS MATERIALIZED (
    SELECT uuid FROM builds
    WHERE uuid IN (SELECT uuid FROM chosen) AND NOT complete AND lease_owner IS NULL
    FOR UPDATE SKIP LOCKED
)
UPDATE builds SET lease_owner = $1, lease_expires = $2, version = version + 1
FROM locked WHERE builds.uuid = locked.uuid
RETURNING builds.seq, builds.record, builds.lease_owner, builds.version";

/// How a fenced write treats the lease.
enum Fence<'a> {
    /// The lease's holder saves: owner and version must match; the version stays.
    Holder(&'a Lease),
    /// Anyone else ends the build: the version must still be `expected`.
    Version(i64),
}

/// Writes a build's state if the fence still holds; returns whether it did. A complete build
/// releases its lease, and every write but the holder's moves the version on. The
/// default-branch column is written with the state, as at insert.
async fn write_fenced(
    connection: &mut PgConnection,
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
        "UPDATE builds SET status = $1, complete = $2, ref_kind = $3, ref_name = $4,
             default_branch = $5, record = $6, version = version + $7,
             lease_owner = CASE WHEN $2 THEN NULL ELSE lease_owner END,
             lease_expires = CASE WHEN $2 THEN NULL ELSE lease_expires END
         WHERE uuid = $8 AND account_id = $9 AND version = $10
           AND ($11::TEXT IS NULL OR lease_owner = $11)",
    )
    .bind(build.status.as_str())
    .bind(complete)
    .bind(ref_kind)
    .bind(ref_name)
    .bind(default_branch_column(build))
    .bind(build_json(build)?)
    .bind(i64::from(bump))
    .bind(&build.uuid)
    .bind(&build.account_id)
    .bind(version)
    .bind(owner)
    .execute(connection)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Ends a build whose row the caller's transaction locked when it read `version`: nobody can
/// have moved the version since, so a failed compare is a broken invariant, not a race.
pub(crate) async fn write_locked(
    connection: &mut PgConnection,
    build: &BuildRecord,
    version: i64,
) -> StoreResult<()> {
    if write_fenced(connection, build, Fence::Version(version)).await? {
        Ok(())
    } else {
        Err(StoreError::Database(
            "a build changed under its row lock".into(),
        ))
    }
}

pub(crate) async fn claim(
    pool: &PgPool,
    request: &ClaimRequest<'_>,
) -> StoreResult<Vec<LeasedBuild>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(CLAIM_LOCK)
        .execute(&mut *tx)
        .await?;
    // Each statement from here reads every claim committed before the lock was granted.
    let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM builds WHERE lease_owner = $1")
        .bind(request.owner)
        .fetch_one(&mut *tx)
        .await?;
    let room = i64::from(request.capacity) - held;
    if room <= 0 {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(CLAIM)
        .bind(request.owner)
        .bind(request.now + request.lease_seconds)
        .bind(request.now)
        .bind(request.minute_seconds)
        .bind(request.account_limit.map(i64::from))
        .bind(room)
        .bind(request.fleet.only())
        .bind(request.fleet.overflow())
        .fetch_all(&mut *tx)
        .await?;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in &rows {
        let seq: i64 = row.try_get("seq")?;
        claimed.push((seq, LeasedBuildRow::read(row)?));
    }
    claimed.sort_by_key(|(seq, _)| *seq);
    let projects: BTreeSet<_> = claimed
        .iter()
        .map(|(_, b)| (b.record.account_id.as_str(), b.record.project_name.as_str()))
        .collect();
    let events: Vec<_> = projects
        .into_iter()
        .map(|(account_id, project_name)| project_changed(account_id, project_name))
        .collect();
    feed::announce(&mut tx, &events).await?;
    tx.commit().await?;
    Ok(claimed.into_iter().map(|(_, build)| build).collect())
}

pub(crate) async fn save_leased(
    pool: &PgPool,
    build: &BuildRecord,
    lease: &Lease,
) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    if !write_fenced(&mut tx, build, Fence::Holder(lease)).await? {
        return Err(StoreError::LeaseLost);
    }
    let mut events = vec![project_changed(&build.account_id, &build.project_name)];
    if build.is_complete() {
        events.push(StoreEvent::QueueChanged);
    }
    feed::announce(&mut tx, &events).await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn renew(
    pool: &PgPool,
    owner: &str,
    now: f64,
    lease_seconds: f64,
) -> StoreResult<Vec<HeldLease>> {
    let held = sqlx::query_as(
        "UPDATE builds SET lease_expires = $1 WHERE lease_owner = $2
         RETURNING uuid, stop_requested",
    )
    .bind(now + lease_seconds)
    .bind(owner)
    .fetch_all(pool)
    .await?;
    Ok(held)
}

pub(crate) async fn stop(
    pool: &PgPool,
    account_id: &str,
    uuid: &str,
    now: f64,
) -> StoreResult<BuildRecord> {
    let mut tx = pool.begin().await?;
    // The row lock orders the stop against a racing claim: a claim that committed first is
    // seen (the build is leased), and a later one skips the locked row.
    let row = sqlx::query(
        "SELECT record, version, lease_owner IS NOT NULL AS leased FROM builds
         WHERE account_id = $1 AND uuid = $2 FOR UPDATE",
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
        sqlx::query("UPDATE builds SET stop_requested = TRUE WHERE uuid = $1")
            .bind(uuid)
            .execute(&mut *tx)
            .await?;
        let requested = StoreEvent::StopRequested {
            uuid: uuid.to_owned(),
        };
        feed::announce(&mut tx, &[requested]).await?;
        tx.commit().await?;
        return Ok(build);
    }
    build.abort(
        BuildStatus::Stopped,
        PhaseContext::new(context_codes::BUILD_STOPPED, "Build was stopped"),
        now,
    );
    write_locked(&mut tx, &build, row.try_get("version")?).await?;
    feed::announce(
        &mut tx,
        &[project_changed(&build.account_id, &build.project_name)],
    )
    .await?;
    tx.commit().await?;
    Ok(build)
}

/// Ends every build `select` returns (record, version; rows locked `FOR UPDATE SKIP LOCKED`)
/// with `status` and `context`, in one transaction; returns the builds it ended. A racing
/// caller skips the rows this one locked, and finds them ended once it may lock them, so
/// each build is ended once.
async fn end_selected<'q>(
    pool: &PgPool,
    select: Query<'q, Postgres, PgArguments>,
    status: BuildStatus,
    context: impl Fn(&sqlx::postgres::PgRow) -> PhaseContext,
    now: f64,
) -> StoreResult<Vec<BuildRecord>> {
    let mut tx = pool.begin().await?;
    let rows = select.fetch_all(&mut *tx).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut ended = Vec::with_capacity(rows.len());
    let mut events = Vec::with_capacity(rows.len() + 1);
    for row in &rows {
        let mut build = BuildRow::read(row)?;
        build.abort(status, context(row), now);
        write_locked(&mut tx, &build, row.try_get("version")?).await?;
        events.push(project_changed(&build.account_id, &build.project_name));
        ended.push(build);
    }
    events.push(StoreEvent::QueueChanged);
    feed::announce(&mut tx, &events).await?;
    tx.commit().await?;
    Ok(ended)
}

pub(crate) async fn expire_leased(pool: &PgPool, now: f64) -> StoreResult<Vec<BuildRecord>> {
    let select = sqlx::query(
        "SELECT record, version, lease_owner FROM builds
         WHERE lease_owner IS NOT NULL AND lease_expires < $1
         ORDER BY lease_expires FOR UPDATE SKIP LOCKED",
    )
    .bind(now);
    end_selected(
        pool,
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
    pool: &PgPool,
    now: f64,
    minute_seconds: f64,
) -> StoreResult<Vec<BuildRecord>> {
    let select = sqlx::query(
        "SELECT record, version FROM builds
         WHERE NOT complete AND lease_owner IS NULL
           AND start_time + queued_timeout_minutes * $1 < $2
         ORDER BY seq FOR UPDATE SKIP LOCKED",
    )
    .bind(minute_seconds)
    .bind(now);
    end_selected(
        pool,
        select,
        BuildStatus::TimedOut,
        |_| PhaseContext::new(context_codes::BUILD_TIMED_OUT, QUEUED_TIMEOUT_REASON),
        now,
    )
    .await
}

pub(crate) async fn leased(pool: &PgPool, uuid: &str) -> StoreResult<Option<LeasedBuild>> {
    let row = sqlx::query(
        "SELECT record, lease_owner, version FROM builds
         WHERE uuid = $1 AND lease_owner IS NOT NULL",
    )
    .bind(uuid)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(LeasedBuildRow::read).transpose()
}

pub(crate) async fn gauges(pool: &PgPool) -> StoreResult<QueueGauges> {
    let (queued, running, oldest): (i64, i64, Option<f64>) = sqlx::query_as(
        "SELECT COUNT(*) FILTER (WHERE lease_owner IS NULL),
                COUNT(*) FILTER (WHERE lease_owner IS NOT NULL),
                MIN(start_time) FILTER (WHERE lease_owner IS NULL)
         FROM builds WHERE NOT complete",
    )
    .fetch_one(pool)
    .await?;
    Ok(QueueGauges {
        queued: queued.max(0).unsigned_abs(),
        running: running.max(0).unsigned_abs(),
        oldest_queued_at: oldest,
    })
}
