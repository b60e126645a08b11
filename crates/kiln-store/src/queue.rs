//! The build queue's types: who holds a build (a lease), and what a claim asks for.
//!
//! A queued build is claimed with a lease: an owner (a replica's instance name), an expiry the
//! owner keeps pushing forward by heartbeat, and a fencing version. Every write of a leased
//! build is a compare-and-set on the owner and the version, so a runner that lost its lease
//! (it expired, or the build ended without it) cannot overwrite the build. See `docs/queue.md`.

use kiln_domain::build::BuildRecord;

/// Who runs a build, and the fencing version every save of it must match.
///
/// The version changes whenever the build changes hands or is written by anyone but its
/// holder (a claim, a lease expiry, a stop of a queued build, a queued timeout); the holder's
/// own saves keep it, so one `Lease` stays valid for as long as it is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub version: i64,
}

/// A build as its claim returned it, with the lease that lets its owner save it.
#[derive(Debug, Clone, PartialEq)]
pub struct LeasedBuild {
    pub record: BuildRecord,
    pub lease: Lease,
}

/// What [`crate::Store::claim_builds`] may take.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest<'a> {
    /// The claiming replica's instance name.
    pub owner: &'a str,
    pub now: f64,
    /// How long a claimed lease lasts unless renewed.
    pub lease_seconds: f64,
    /// The most builds `owner` may hold at once; the store counts those it holds.
    pub capacity: u32,
    /// The most builds one account may have leased at once, across all owners.
    pub account_limit: Option<u32>,
    /// Length of one minute of `queuedTimeoutInMinutes` (shortened only by tests).
    pub minute_seconds: f64,
    /// Which builds the claimer may take, by the fleet they were sent to.
    pub fleet: ClaimFleet<'a>,
}

/// Which builds a claim may take, by their fleet (`environment.fleet.fleetArn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimFleet<'a> {
    /// A replica's own (on-demand) capacity: builds of no fleet, and builds of the fleets in
    /// `overflow` (fleets whose `overflowBehavior` is ON_DEMAND that have no free agent).
    OnDemand { overflow: &'a [String] },
    /// An agent of this fleet (its ARN): that fleet's builds only.
    Fleet(&'a str),
}

impl ClaimFleet<'_> {
    /// The fleet an agent claims for, if this is an agent's claim.
    pub fn only(&self) -> Option<&str> {
        match self {
            ClaimFleet::Fleet(arn) => Some(arn),
            ClaimFleet::OnDemand { .. } => None,
        }
    }

    /// The fleets whose builds on-demand capacity may take as well (none for an agent).
    pub fn overflow(&self) -> &[String] {
        match self {
            ClaimFleet::OnDemand { overflow } => overflow,
            ClaimFleet::Fleet(_) => &[],
        }
    }
}

/// A lease its owner still holds, as [`crate::Store::renew_leases`] renewed it (the `uuid` and
/// `stop_requested` columns of its build's row).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HeldLease {
    pub uuid: String,
    /// StopBuild was accepted for the build: its owner stops it.
    pub stop_requested: bool,
}

/// The queue as `/metrics` shows it: builds waiting, builds running (leased), and when the
/// longest-waiting build was queued.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct QueueGauges {
    pub queued: u64,
    pub running: u64,
    /// The queued time (epoch seconds) of the oldest queued build; `None` when none waits.
    pub oldest_queued_at: Option<f64>,
}

/// The reason a build whose lease expired ends FAULT with.
pub const LEASE_EXPIRED_REASON: &str = "the replica running it stopped renewing its lease";
/// The reason a build that waited in the queue past its queued timeout ends TIMED_OUT with.
pub const QUEUED_TIMEOUT_REASON: &str = "Build has timed out while queued";

/// The statuses of builds that are retried automatically, as a SQL list (see
/// `BuildStatus::is_auto_retried`): backends' sweeps and their partial indexes name them so.
pub const AUTO_RETRIED_STATUSES: &str = "('FAILED', 'FAULT', 'TIMED_OUT')";

/// Builds one call of [`crate::Store::start_auto_retries`] retries at most; the scheduler
/// calls it again within a second.
pub const AUTO_RETRY_BATCH: i64 = 64;

/// A build's `auto_retry_remaining` column: how many retries its chain may still make after
/// it, 0 once its retry exists. Set at insert; the sweep clears it.
pub fn auto_retry_remaining(build: &BuildRecord) -> i64 {
    if build.auto_retry.next.is_some() {
        0
    } else {
        build.auto_retry.remaining()
    }
}

/// The automatic retry `old` owes, as a new build under a fresh uuid, with the project's
/// current `source_epoch`; `None` when it owes none.
pub fn auto_retry_of(old: &BuildRecord, source_epoch: i64, now: f64) -> Option<BuildRecord> {
    old.auto_retried(uuid::Uuid::new_v4().to_string(), source_epoch, now)
}
