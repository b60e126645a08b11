//! Keeps the badge epoch in step with writes made by other processes sharing the store: each
//! `ProjectChanged` of the change feed counts as a committed change of its project; while the
//! feed is interrupted (events may be lost) every counter shows a change in flight, so every
//! request reads the store; when it resumes every counter moves on, so nothing cached before is
//! used again.

use std::sync::Arc;

use kiln_domain::badge_epoch::BadgeEpoch;
use kiln_store::{EventSubscription, StoreEvent};

/// Keeps `epoch` in step with the writes of every process sharing the store, as long as the
/// store's change feed lasts.
pub fn follow_store(
    epoch: Arc<BadgeEpoch>,
    mut feed: EventSubscription,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interrupted = false;
        while let Some(event) = feed.next().await {
            match event {
                StoreEvent::ProjectChanged {
                    account_id,
                    project_name,
                } => epoch.count_committed_change(&account_id, &project_name),
                StoreEvent::FeedInterrupted if !interrupted => {
                    interrupted = true;
                    epoch.suspend_trust();
                }
                StoreEvent::FeedResumed => {
                    epoch.resume_trust(std::mem::take(&mut interrupted));
                }
                _ => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use kiln_domain::badge_epoch::Shard;

    use super::*;

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
            epoch.projects_stable_generation(),
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
        assert_eq!(epoch.projects_stable_generation(), None);
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
        assert!(epoch.projects_stable_generation() > Some(0));

        // Resuming without an interruption (a subscriber that fell behind) also starts afresh.
        let before = epoch.stable_generation(app);
        feed.publish(StoreEvent::FeedResumed);
        until(&epoch, "a fresh start", |e| {
            e.stable_generation(app) > before
        })
        .await;
        assert!(epoch.stable_generation(app).is_some());
    }
}
