//! Counts of badge-changing writes, per project shard: a badge's cached status is used only
//! while its project's count is stable and unchanged since the status was read.
//!
//! Writes by other replicas reach the counters through the store's change feed
//! ([`follow_store`]): each `ProjectChanged` counts as a finished change of its project. While
//! the feed is interrupted (events may be lost) every counter shows a change in flight, so every
//! request reads the store; when it resumes every counter moves on, so nothing cached before is
//! used again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kiln_store::{EventSubscription, StoreEvent};

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
pub(super) struct Shard(usize);

impl Shard {
    pub(super) fn of(account_id: &str, project_name: &str) -> Shard {
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
    pub(super) fn stable_generation(&self, shard: Option<Shard>) -> Option<u64> {
        self.counter(shard).stable_generation()
    }

    /// The generation under which cached facts of projects are valid, or `None` while a write
    /// of a project is in flight.
    pub(super) fn projects_generation(&self) -> Option<u64> {
        self.projects.stable_generation()
    }

    fn every_counter(&self) -> impl Iterator<Item = &ChangeCounter> {
        [&self.all, &self.projects]
            .into_iter()
            .chain(self.shards.iter())
    }

    /// Applies one event of the store's change feed; `interrupted` is whether the feed is
    /// interrupted, kept by the caller between events.
    fn apply(&self, event: &StoreEvent, interrupted: &mut bool) {
        match event {
            StoreEvent::ProjectChanged {
                account_id,
                project_name,
            } => {
                // The event does not say whether the project or one of its builds changed.
                self.counter(Some(Shard::of(account_id, project_name)))
                    .count_committed();
                self.projects.count_committed();
                self.all.count_committed();
            }
            StoreEvent::FeedInterrupted if !*interrupted => {
                *interrupted = true;
                // A change in flight everywhere until the feed resumes: nothing cached is used
                // and nothing read meanwhile is cached.
                for counter in self.every_counter() {
                    counter.started.fetch_add(1, Ordering::SeqCst);
                }
            }
            StoreEvent::FeedResumed => {
                for counter in self.every_counter() {
                    if *interrupted {
                        counter.finished.fetch_add(1, Ordering::SeqCst);
                    } else {
                        counter.count_committed();
                    }
                }
                *interrupted = false;
            }
            _ => {}
        }
    }
}

/// Keeps `epoch` in step with the writes of every process sharing the store, as long as the
/// store's change feed lasts.
pub fn follow_store(
    epoch: Arc<BadgeEpoch>,
    mut feed: EventSubscription,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interrupted = false;
        while let Some(event) = feed.next().await {
            epoch.apply(&event, &mut interrupted);
        }
    })
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

    /// Waits (up to a deadline) until `done` holds for the epoch `follow_store` keeps.
    async fn until(epoch: &BadgeEpoch, what: &str, done: impl Fn(&BadgeEpoch) -> bool) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while !done(epoch) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the epoch never showed {what}"
            );
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn another_replicas_change_invalidates_only_its_projects_shard() {
        let feed = kiln_store::EventFeed::default();
        let epoch = Arc::new(BadgeEpoch::default());
        follow_store(Arc::clone(&epoch), feed.subscribe());
        let (app, other) = (Some(Shard::of("1", "app")), Some(Shard::of("1", "other")));
        feed.publish(StoreEvent::ProjectChanged {
            account_id: "1".into(),
            project_name: "app".into(),
        });
        until(&epoch, "app's change", |e| {
            e.stable_generation(app) == Some(1)
        })
        .await;
        assert_eq!(
            epoch.stable_generation(other),
            Some(0),
            "other is untouched"
        );
        assert_eq!(epoch.stable_generation(None), Some(1));
        assert_eq!(
            epoch.projects_generation(),
            Some(1),
            "the project's facts are read again"
        );
        // Events that move no badge leave every count as it was.
        feed.publish(StoreEvent::LogAppended { uuid: "u".into() });
        feed.publish(StoreEvent::QueueChanged);
        feed.publish(StoreEvent::ProjectChanged {
            account_id: "1".into(),
            project_name: "other".into(),
        });
        until(&epoch, "other's change", |e| {
            e.stable_generation(other) == Some(1)
        })
        .await;
        assert_eq!(epoch.stable_generation(app), Some(1));
    }

    #[tokio::test]
    async fn an_interrupted_feed_distrusts_every_cached_badge_until_it_resumes() {
        let feed = kiln_store::EventFeed::default();
        let epoch = Arc::new(BadgeEpoch::default());
        follow_store(Arc::clone(&epoch), feed.subscribe());
        let app = Some(Shard::of("1", "app"));
        feed.publish(StoreEvent::FeedInterrupted);
        until(&epoch, "the interruption", |e| {
            e.stable_generation(app).is_none()
        })
        .await;
        assert_eq!(epoch.stable_generation(None), None);
        assert_eq!(epoch.projects_generation(), None);
        // Events heard meanwhile, and a second interruption, change nothing about that.
        feed.publish(StoreEvent::FeedInterrupted);
        feed.publish(StoreEvent::ProjectChanged {
            account_id: "1".into(),
            project_name: "app".into(),
        });
        feed.publish(StoreEvent::FeedResumed);
        until(&epoch, "the resumption", |e| {
            e.stable_generation(app).is_some()
        })
        .await;
        // Every shard moved past what was cached before the interruption.
        for shard in [app, Some(Shard::of("2", "elsewhere")), None] {
            assert!(epoch.stable_generation(shard) > Some(0), "{shard:?}");
        }
        assert!(epoch.projects_generation() > Some(0));

        // Resuming without an interruption (a subscriber that fell behind) also starts afresh.
        let before = epoch.stable_generation(app);
        feed.publish(StoreEvent::FeedResumed);
        until(&epoch, "a fresh start", |e| {
            e.stable_generation(app) > before
        })
        .await;
        assert!(epoch.stable_generation(app).is_some());
    }

    #[test]
    fn the_replica_making_a_change_still_sees_it_in_flight() {
        let epoch = BadgeEpoch::default();
        let mut interrupted = false;
        let app = Some(Shard::of("1", "app"));
        let guard = epoch.begin_change("1", "app");
        // Its own change's event arrives before the write's guard is dropped.
        epoch.apply(
            &StoreEvent::ProjectChanged {
                account_id: "1".into(),
                project_name: "app".into(),
            },
            &mut interrupted,
        );
        assert_eq!(epoch.stable_generation(app), None);
        drop(guard);
        assert_eq!(epoch.stable_generation(app), Some(2));
    }
}
