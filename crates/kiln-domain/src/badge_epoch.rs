//! Counts of badge-changing writes, per project shard: the write side (every store write
//! that can move a badge runs inside a change) and the read side (a cached badge status is
//! valid only while no change of its project is in flight and none finished since it was
//! read). Shared by the HTTP server's badge cache and the scheduler, which both write builds;
//! changes committed by other replicas arrive through the store's change feed
//! (`kiln_server::badges::follow_store`), and while that feed is interrupted nothing cached
//! is trusted.

use std::sync::atomic::{AtomicU64, Ordering};

/// Projects' changes are counted in this many shards.
const EPOCH_SHARDS: usize = 1024;

/// Counts badge-changing writes: `started` when one begins, `finished` when it has committed.
#[derive(Default)]
struct ChangeCounter {
    started: AtomicU64,
    finished: AtomicU64,
}

impl ChangeCounter {
    /// The generation under which cached answers are valid, or `None` while a write is in flight.
    fn stable_generation(&self) -> Option<u64> {
        let finished = self.finished.load(Ordering::SeqCst);
        let started = self.started.load(Ordering::SeqCst);
        (started == finished).then_some(finished)
    }

    /// A change made elsewhere, already committed: begun and finished at once.
    fn count_committed(&self) {
        self.started.fetch_add(1, Ordering::SeqCst);
        self.finished.fetch_add(1, Ordering::SeqCst);
    }
}

/// Badge-changing writes, counted per project shard and in total.
pub struct BadgeEpoch {
    /// Every change: for badges whose project is not known yet.
    all: ChangeCounter,
    shards: Box<[ChangeCounter]>,
    /// Changes to projects themselves (rare, so counted together): they invalidate the cached
    /// [`ProjectFacts`] that build changes leave alone.
    projects: ChangeCounter,
}

impl Default for BadgeEpoch {
    fn default() -> Self {
        BadgeEpoch {
            all: ChangeCounter::default(),
            shards: (0..EPOCH_SHARDS)
                .map(|_| ChangeCounter::default())
                .collect(),
            projects: ChangeCounter::default(),
        }
    }
}

/// Which shard a project's changes are counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard(usize);

impl Shard {
    pub fn of(account_id: &str, project_name: &str) -> Shard {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        (account_id, project_name).hash(&mut hasher);
        Shard((hasher.finish() % EPOCH_SHARDS as u64) as usize)
    }
}

/// Marks a badge-changing write in flight; dropping it marks the write finished.
pub struct ChangeGuard<'a> {
    epoch: &'a BadgeEpoch,
    shard: Shard,
    of_project: bool,
}

impl Drop for ChangeGuard<'_> {
    fn drop(&mut self) {
        if self.of_project {
            self.epoch.projects.finished.fetch_add(1, Ordering::SeqCst);
        }
        self.epoch
            .counter(Some(self.shard))
            .finished
            .fetch_add(1, Ordering::SeqCst);
        self.epoch.all.finished.fetch_add(1, Ordering::SeqCst);
    }
}

impl BadgeEpoch {
    /// Call before a write of a project's builds that may change a badge; keep the guard until
    /// the write has committed.
    pub fn begin_change(&self, account_id: &str, project_name: &str) -> ChangeGuard<'_> {
        self.begin(account_id, project_name, false)
    }

    /// Call before a write of the project itself (its settings, or deleting it).
    pub fn begin_project_change(&self, account_id: &str, project_name: &str) -> ChangeGuard<'_> {
        self.begin(account_id, project_name, true)
    }

    fn begin(&self, account_id: &str, project_name: &str, of_project: bool) -> ChangeGuard<'_> {
        let shard = Shard::of(account_id, project_name);
        self.all.started.fetch_add(1, Ordering::SeqCst);
        self.counter(Some(shard))
            .started
            .fetch_add(1, Ordering::SeqCst);
        if of_project {
            self.projects.started.fetch_add(1, Ordering::SeqCst);
        }
        ChangeGuard {
            epoch: self,
            shard,
            of_project,
        }
    }

    fn counter(&self, shard: Option<Shard>) -> &ChangeCounter {
        shard
            .and_then(|Shard(index)| self.shards.get(index))
            .unwrap_or(&self.all)
    }

    /// The generation under which cached answers for a badge of a project in `shard` (of any
    /// project when `None`) are valid, or `None` while such a write is in flight.
    pub fn stable_generation(&self, shard: Option<Shard>) -> Option<u64> {
        self.counter(shard).stable_generation()
    }

    /// The generation under which cached facts of projects are valid, or `None` while a write
    /// of a project is in flight.
    pub fn projects_stable_generation(&self) -> Option<u64> {
        self.projects.stable_generation()
    }

    fn every_counter(&self) -> impl Iterator<Item = &ChangeCounter> {
        [&self.all, &self.projects]
            .into_iter()
            .chain(self.shards.iter())
    }

    /// A change another process committed to a project or one of its builds (the change feed
    /// does not say which): it invalidates the project's shard and the projects' facts.
    pub fn count_committed_change(&self, account_id: &str, project_name: &str) {
        self.counter(Some(Shard::of(account_id, project_name)))
            .count_committed();
        self.projects.count_committed();
        self.all.count_committed();
    }

    /// Changes may be going unheard (the change feed is interrupted): every counter shows a
    /// change in flight, so nothing cached is used and nothing read meanwhile is cached, until
    /// [`BadgeEpoch::resume_trust`].
    pub fn suspend_trust(&self) {
        for counter in self.every_counter() {
            counter.started.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The change feed is whole again: every counter moves past what was cached before, and
    /// the one in flight since [`BadgeEpoch::suspend_trust`] (if `suspended`) is finished.
    pub fn resume_trust(&self, suspended: bool) {
        for counter in self.every_counter() {
            if suspended {
                counter.finished.fetch_add(1, Ordering::SeqCst);
            } else {
                counter.count_committed();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_is_unstable_while_a_change_is_in_flight() {
        let epoch = BadgeEpoch::default();
        let shard = Some(Shard::of("1", "app"));
        assert_eq!(epoch.stable_generation(shard), Some(0));
        let guard = epoch.begin_change("1", "app");
        assert_eq!(epoch.stable_generation(shard), None);
        assert_eq!(
            epoch.stable_generation(None),
            None,
            "every change counts in total"
        );
        drop(guard);
        assert_eq!(epoch.stable_generation(shard), Some(1));
        assert_eq!(epoch.stable_generation(None), Some(1));
    }

    #[test]
    fn another_projects_change_leaves_the_shard_stable() {
        let epoch = BadgeEpoch::default();
        let (app, other) = (Shard::of("1", "app"), Shard::of("1", "other"));
        assert_ne!(app, other, "these two names hash apart");
        let _guard = epoch.begin_change("1", "other");
        assert_eq!(epoch.stable_generation(Some(app)), Some(0));
        assert_eq!(epoch.stable_generation(Some(other)), None);
    }

    #[test]
    fn the_replica_making_a_change_still_sees_it_in_flight() {
        let epoch = BadgeEpoch::default();
        let app = Some(Shard::of("1", "app"));
        let guard = epoch.begin_change("1", "app");
        // Its own change's event arrives before the write's guard is dropped.
        epoch.count_committed_change("1", "app");
        assert_eq!(epoch.stable_generation(app), None);
        drop(guard);
        assert_eq!(epoch.stable_generation(app), Some(2));
    }
}
