//! The change feed across replicas: every write that changes something announces it with
//! `pg_notify('kiln', payload)` inside its own transaction, so the announcement is delivered
//! exactly when the write commits (and never when it rolls back). Each store holds one
//! `LISTEN kiln` connection whose task forwards what it hears, its own writes included, into the
//! store's in-process [`EventFeed`].
//!
//! Payloads are short text, far under PostgreSQL's 8000-byte limit: `q` (QueueChanged),
//! `p:<account id>:<project name>` (ProjectChanged; an account id is 12 digits, so the name is
//! everything after the second colon), `s:<uuid>` (StopRequested), `l:<uuid>` (LogAppended).

use std::time::Duration;

use kiln_store::{EventFeed, StoreEvent, StoreResult};
use sqlx::PgConnection;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};

/// The notification channel every replica listens on.
pub(crate) const CHANNEL: &str = "kiln";
/// How the listening connection names itself in `pg_stat_activity`.
pub const LISTENER_APPLICATION_NAME: &str = "kiln-listener";

const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);

/// The payload that announces `event`; `None` for the feed's own state, which is never sent.
pub(crate) fn encode(event: &StoreEvent) -> Option<String> {
    match event {
        StoreEvent::QueueChanged => Some("q".to_owned()),
        StoreEvent::ProjectChanged {
            account_id,
            project_name,
        } => Some(format!("p:{account_id}:{project_name}")),
        StoreEvent::StopRequested { uuid } => Some(format!("s:{uuid}")),
        StoreEvent::LogAppended { uuid } => Some(format!("l:{uuid}")),
        StoreEvent::FeedInterrupted | StoreEvent::FeedResumed => None,
    }
}

pub(crate) fn decode(payload: &str) -> Option<StoreEvent> {
    let (kind, rest) = payload.split_once(':').unwrap_or((payload, ""));
    match kind {
        "q" => Some(StoreEvent::QueueChanged),
        "p" => rest
            .split_once(':')
            .map(|(account_id, project_name)| StoreEvent::ProjectChanged {
                account_id: account_id.to_owned(),
                project_name: project_name.to_owned(),
            }),
        "s" => Some(StoreEvent::StopRequested {
            uuid: rest.to_owned(),
        }),
        "l" => Some(StoreEvent::LogAppended {
            uuid: rest.to_owned(),
        }),
        _ => None,
    }
}

/// Announces `events` when the transaction that `connection` is in commits.
pub(crate) async fn announce(
    connection: &mut PgConnection,
    events: &[StoreEvent],
) -> StoreResult<()> {
    for payload in events.iter().filter_map(encode) {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
}

/// The task that forwards notifications into the feed; it ends when the store is dropped.
pub(crate) struct Listener {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener {
    /// Listens before returning, so that every write committed afterwards is heard.
    pub(crate) async fn start(options: &PgConnectOptions, feed: EventFeed) -> StoreResult<Self> {
        let options = options.clone().application_name(LISTENER_APPLICATION_NAME);
        let listener = listen(&options).await?;
        Ok(Listener {
            task: tokio::spawn(forward(listener, options, feed)),
        })
    }
}

async fn listen(options: &PgConnectOptions) -> Result<PgListener, sqlx::Error> {
    // A pool of one connection that is never recycled: the listener holds it for good.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_with(options.clone())
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    // Reconnection is ours (below), so that the feed can say when listening resumed.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

async fn forward(mut listener: PgListener, options: PgConnectOptions, feed: EventFeed) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => match decode(notification.payload()) {
                Some(event) => feed.publish(event),
                None => tracing::warn!(payload = notification.payload(), "unknown notification"),
            },
            // The connection was lost (`Ok(None)`) or failed: whatever was announced meanwhile
            // is lost, which subscribers must be told.
            outcome => {
                if let Err(err) = outcome {
                    tracing::warn!(%err, "the change feed's connection failed");
                }
                feed.publish(StoreEvent::FeedInterrupted);
                drop(listener);
                listener = relisten(&options).await;
                feed.publish(StoreEvent::FeedResumed);
            }
        }
    }
}

/// Listens again, retrying with a growing pause until the database answers.
async fn relisten(options: &PgConnectOptions) -> PgListener {
    let mut pause = FIRST_RETRY;
    loop {
        match listen(options).await {
            Ok(listener) => return listener,
            Err(err) => {
                tracing::warn!(%err, retry_in = ?pause, "the change feed cannot listen");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LAST_RETRY);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_announced_event_decodes_to_itself() {
        let events = [
            StoreEvent::QueueChanged,
            StoreEvent::ProjectChanged {
                account_id: "111111111111".into(),
                project_name: "name:with-colons".into(),
            },
            StoreEvent::StopRequested {
                uuid: "5b2a7c0e-0000-4000-8000-000000000001".into(),
            },
            StoreEvent::LogAppended { uuid: "u".into() },
        ];
        for event in events {
            let payload = encode(&event).unwrap();
            assert!(payload.len() < 8000);
            assert_eq!(decode(&payload), Some(event));
        }
        assert_eq!(encode(&StoreEvent::FeedInterrupted), None);
        assert_eq!(decode("x:y"), None);
    }
}
