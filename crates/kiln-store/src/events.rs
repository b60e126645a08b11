//! The change feed: what committed writes changed, as every process sharing the store hears of
//! it. Replicas use it to wake their scheduler, to act on a StopBuild another replica accepted,
//! to follow a log written elsewhere and to invalidate cached badges. SQLite (one process)
//! announces in process; PostgreSQL uses `LISTEN/NOTIFY`. A consumer that may have missed
//! events is told so ([`StoreEvent::FeedInterrupted`]) and must not trust what it cached until
//! [`StoreEvent::FeedResumed`]; events are wake-ups, never the only copy of a state.

use tokio::sync::broadcast;

/// How many events a slow subscriber may fall behind before it is told it missed some.
const FEED_CAPACITY: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreEvent {
    /// A build was queued, or a running build ended and freed its slot: schedulers look at
    /// the queue again.
    QueueChanged,
    /// A write that can move a badge of the project: the project was created, changed or
    /// deleted, or one of its builds was inserted, changed or deleted.
    ProjectChanged {
        account_id: String,
        project_name: String,
    },
    /// StopBuild was accepted for a running build: its owner stops it.
    StopRequested { uuid: String },
    /// The build's stored log grew.
    LogAppended { uuid: String },
    /// Events may have been lost from here on (the feed's connection dropped, or this
    /// subscriber fell behind): nothing cached from the store may be trusted.
    FeedInterrupted,
    /// The feed is whole again: everything may have changed meanwhile, so caches start afresh.
    FeedResumed,
}

/// The sending side of the feed, kept by a backend.
#[derive(Debug, Clone)]
pub struct EventFeed {
    sender: broadcast::Sender<StoreEvent>,
}

impl Default for EventFeed {
    fn default() -> Self {
        EventFeed {
            sender: broadcast::channel(FEED_CAPACITY).0,
        }
    }
}

impl EventFeed {
    /// Announces an event to every current subscriber (none listening is not an error).
    pub fn publish(&self, event: StoreEvent) {
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> EventSubscription {
        EventSubscription {
            receiver: self.sender.subscribe(),
            missed: false,
        }
    }
}

/// One subscriber's view of the feed.
#[derive(Debug)]
pub struct EventSubscription {
    receiver: broadcast::Receiver<StoreEvent>,
    /// Set when this subscriber fell behind: it hears `FeedInterrupted`, then `FeedResumed`.
    missed: bool,
}

impl EventSubscription {
    /// The next event; `None` once the store is gone. Falling behind is reported as
    /// [`StoreEvent::FeedInterrupted`] followed by [`StoreEvent::FeedResumed`].
    pub async fn next(&mut self) -> Option<StoreEvent> {
        if std::mem::take(&mut self.missed) {
            return Some(StoreEvent::FeedResumed);
        }
        match self.receiver.recv().await {
            Ok(event) => Some(event),
            Err(broadcast::error::RecvError::Lagged(_)) => {
                self.missed = true;
                Some(StoreEvent::FeedInterrupted)
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_hear_events_published_after_they_subscribed() {
        let feed = EventFeed::default();
        feed.publish(StoreEvent::QueueChanged);
        let mut subscription = feed.subscribe();
        feed.publish(StoreEvent::StopRequested { uuid: "u".into() });
        assert_eq!(
            subscription.next().await,
            Some(StoreEvent::StopRequested { uuid: "u".into() })
        );
    }

    #[tokio::test]
    async fn a_subscriber_that_fell_behind_is_told_and_then_resumes() {
        let feed = EventFeed::default();
        let mut subscription = feed.subscribe();
        for _ in 0..FEED_CAPACITY + 1 {
            feed.publish(StoreEvent::QueueChanged);
        }
        assert_eq!(subscription.next().await, Some(StoreEvent::FeedInterrupted));
        assert_eq!(subscription.next().await, Some(StoreEvent::FeedResumed));
        assert_eq!(subscription.next().await, Some(StoreEvent::QueueChanged));
    }
}
