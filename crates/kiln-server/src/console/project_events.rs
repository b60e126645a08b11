//! A project's events: server-sent events that tell an open project page when the project or
//! one of its builds changed (a build was queued, moved on, ended or was deleted), from any
//! replica, as the store's change feed (`ProjectChanged`) hears of it. Each `changed` event
//! carries only the project's name: static/live.js reads the page again and redraws the parts marked
//! `data-live`, so what it shows is always the store's, never a guess from the event.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use kiln_store::{EventSubscription, StoreEvent};

use super::projects::project_not_found;
use super::session::Session;
use crate::state::AppState;

pub async fn events(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(name): Path<String>,
) -> Response {
    if !kiln_domain::project::is_valid_project_name(&name) {
        return project_not_found(&session, &name);
    }
    let watch = ProjectWatch {
        feed: state.store.subscribe(),
        account_id: session.caller.account_id.clone(),
        project_name: name,
    };
    let stream = futures::stream::unfold(watch, |mut watch| async move {
        watch.next_change().await?;
        let event = changed(&watch.project_name);
        Some((Ok::<Event, Infallible>(event), watch))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The event's data names the project: a browser drops an event whose data is empty.
fn changed(project_name: &str) -> Event {
    Event::default().event("changed").data(project_name)
}

struct ProjectWatch {
    feed: EventSubscription,
    account_id: String,
    project_name: String,
}

impl ProjectWatch {
    /// Waits for the next change of the project; `None` once the store is gone.
    async fn next_change(&mut self) -> Option<()> {
        loop {
            let event = self.feed.next().await?;
            if self.concerns(&event) {
                return Some(());
            }
        }
    }

    /// Whether `event` may have changed what the project's page shows: a change of the
    /// project, or events that may have been missed (the page reads the store afresh).
    fn concerns(&self, event: &StoreEvent) -> bool {
        match event {
            StoreEvent::ProjectChanged {
                account_id,
                project_name,
            } => *account_id == self.account_id && *project_name == self.project_name,
            StoreEvent::FeedResumed => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use kiln_store::EventFeed;

    use super::*;

    #[tokio::test]
    async fn only_the_projects_own_changes_and_resumptions_concern_it() {
        let feed = EventFeed::default();
        let mut watch = ProjectWatch {
            feed: feed.subscribe(),
            account_id: "1".into(),
            project_name: "p".into(),
        };
        let changed = |account: &str, project: &str| StoreEvent::ProjectChanged {
            account_id: account.into(),
            project_name: project.into(),
        };
        assert!(watch.concerns(&changed("1", "p")));
        assert!(!watch.concerns(&changed("2", "p")));
        assert!(!watch.concerns(&changed("1", "q")));
        assert!(!watch.concerns(&StoreEvent::LogAppended { uuid: "u".into() }));
        assert!(watch.concerns(&StoreEvent::FeedResumed));
        feed.publish(changed("1", "q"));
        feed.publish(StoreEvent::QueueChanged);
        feed.publish(changed("1", "p"));
        assert_eq!(watch.next_change().await, Some(()));
    }
}
