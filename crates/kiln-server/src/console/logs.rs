//! The live log: server-sent events that follow a build's stored log, from any replica. The
//! follower reads the store when the change feed says the log grew or the build changed
//! (`LogAppended`, `ProjectChanged`), and every [`SAFETY_POLL`] whatever it heard.
//!
//! Each event carries the text that was added (as a JSON string, so no character can break
//! the event framing) and, as its id, the byte offset after it. A reconnecting `EventSource`
//! sends that id back as `Last-Event-ID` and the stream resumes there. A `progress` event
//! carries the phases and the resolved commit whenever they change. When the build has
//! completed and its log is read to the end, an `end` event names the final status
//! (`DELETED` when the build was deleted meanwhile).
//!
//! With `html=true` (the build page's viewer) each event carries whole lines instead, rendered
//! and numbered as the page renders them ([`log_view`]), and its id is the offset after the
//! last of them.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use kiln_domain::shapes::Build;
use kiln_store::log_lines::{LineMarks, line_breaks};
use kiln_store::{EventSubscription, MAX_LOG_CHUNK_BYTES, StoreEvent, StoreResult};
use serde::Deserialize;

use super::builds::{build_not_found, get_build, phase_rows};
use super::log_view;
use super::session::Session;
use super::view;
use crate::state::AppState;

/// How often the store is read when the feed says nothing: in case an event was lost.
const SAFETY_POLL: Duration = Duration::from_secs(2);
/// Most bytes sent in one event.
const MAX_CHUNK: usize = 64 * 1024;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EventsQuery {
    /// Where to start when the browser has no `Last-Event-ID` yet.
    from: u64,
    /// Whole lines as HTML rather than text.
    html: bool,
    /// The Kiln time (epoch milliseconds) of the lines at `from`, for the HTML lines' times.
    time: Option<i64>,
}

pub async fn events(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path((project, uuid)): Path<(String, String)>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Response {
    let build = match get_build(&state, &session, &project, &uuid).await {
        Ok(Some(build)) => build,
        Ok(None) => return build_not_found(&session),
        Err(err) => return view::api_error_page(&session, &err),
    };
    let uuid = build.uuid().to_string();
    let account_id = session.caller.account_id.clone();
    follow(state, account_id, project, uuid, &query, &headers)
}

/// The live log of the account's build `uuid` of `project_name`, from the browser's
/// `Last-Event-ID`, else from the query's `from`.
pub(super) fn follow(
    state: Arc<AppState>,
    account_id: String,
    project_name: String,
    uuid: String,
    query: &EventsQuery,
    headers: &HeaderMap,
) -> Response {
    let offset = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(query.from);
    let follower = LogFollower {
        // Subscribed before the first read, so no change after it goes unheard.
        feed: state.store.subscribe(),
        account_id,
        project_name,
        uuid,
        state,
        offset,
        html: query.html.then_some(HtmlLines {
            time: query.time,
            number: None,
        }),
        unsent: Vec::new(),
        progress_sent: None,
        done: false,
    };
    let stream = futures::stream::unfold(follower, |mut follower| async move {
        let event = follower.next_event().await?;
        Some((Ok::<Event, Infallible>(event), follower))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

struct LogFollower {
    state: Arc<AppState>,
    feed: EventSubscription,
    account_id: String,
    project_name: String,
    uuid: String,
    /// The offset of the next byte to send.
    offset: u64,
    /// In HTML mode, what the lines at `offset` need to be rendered.
    html: Option<HtmlLines>,
    /// Bytes read from the store at `offset`, not sent yet.
    unsent: Vec<u8>,
    /// The last `progress` event's data, so only changes are sent.
    progress_sent: Option<String>,
    done: bool,
}

/// Text of `bytes` that can be sent now, and how many bytes it used. A character cut at the
/// end waits for its remaining bytes, unless the log is `finished`.
fn decode_chunk(bytes: &[u8], finished: bool) -> Option<(String, usize)> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Some((text.to_string(), bytes.len())),
        Err(err) if err.error_len().is_none() && !finished => {
            let valid = err.valid_up_to();
            // Only the cut character is held back; the valid text before it goes now.
            (valid > 0).then(|| (String::from_utf8_lossy(&bytes[..valid]).into_owned(), valid))
        }
        Err(_) => Some((String::from_utf8_lossy(bytes).into_owned(), bytes.len())),
    }
}

/// What the HTML lines at the follower's offset need to be rendered as the page renders them.
#[derive(Clone, Copy)]
struct HtmlLines {
    /// The Kiln time of the lines, if known.
    time: Option<i64>,
    /// The number of the line, once read from the store's line marks.
    number: Option<u64>,
}

impl LogFollower {
    /// The number of the line at the follower's offset, from the store's line marks.
    async fn line_number(&self) -> StoreResult<u64> {
        let store = self.state.store.as_ref();
        let size = store.log_size(&self.uuid).await?;
        let marks = LineMarks::load(store, &self.uuid, size.min(self.offset)).await?;
        marks.line_at(store, self.offset).await
    }

    /// The next log text, if the log has grown; `finished` sends a cut character as it is.
    async fn log_event(&mut self, finished: bool) -> Option<Event> {
        if self.unsent.len() < MAX_CHUNK {
            let from = self.offset + self.unsent.len() as u64;
            match self
                .state
                .store
                .read_log(&self.uuid, from, MAX_LOG_CHUNK_BYTES)
                .await
            {
                Ok(bytes) => self.unsent.extend_from_slice(&bytes),
                Err(err) => tracing::error!(error = %err, "cannot read a build's live log"),
            }
        }
        let take = self.unsent.len().min(MAX_CHUNK);
        if take == 0 {
            return None;
        }
        let all = take == self.unsent.len();
        if let Some(mut lines) = self.html {
            if lines.number.is_none() {
                match self.line_number().await {
                    Ok(number) => lines.number = Some(number),
                    Err(err) => {
                        tracing::error!(error = %err, "cannot number a build's live log");
                        return None;
                    }
                }
            }
            return self.lines_event(take, finished && all, lines);
        }
        let (text, used) = decode_chunk(&self.unsent[..take], finished && all)?;
        self.unsent.drain(..used);
        self.offset += used as u64;
        let data = serde_json::to_string(&text).unwrap_or_default();
        Some(Event::default().id(self.offset.to_string()).data(data))
    }

    /// The whole lines of the first `take` unsent bytes as HTML; a line not ended waits,
    /// unless the log is `finished` or the line fills a whole event.
    fn lines_event(&mut self, take: usize, finished: bool, lines: HtmlLines) -> Option<Event> {
        let bytes = &self.unsent[..take];
        let used = match bytes.iter().rposition(|&b| b == b'\n') {
            _ if finished => take,
            Some(at) => at + 1,
            None if take == MAX_CHUNK => take,
            None => return None,
        };
        let number = lines.number.unwrap_or(1);
        let (sections, time) = log_view::sections(&bytes[..used], number, lines.time);
        let data = serde_json::to_string(&log_view::sections_html(&sections)).unwrap_or_default();
        self.html = Some(HtmlLines {
            time,
            number: Some(number + line_breaks(&bytes[..used])),
        });
        self.unsent.drain(..used);
        self.offset += used as u64;
        Some(Event::default().id(self.offset.to_string()).data(data))
    }

    /// Waits until the feed says this build's log or state may have changed, or for
    /// [`SAFETY_POLL`].
    async fn wait_for_change(&mut self) {
        let heard = async {
            loop {
                match self.feed.next().await {
                    Some(StoreEvent::LogAppended { uuid }) if uuid == self.uuid => return,
                    Some(StoreEvent::ProjectChanged {
                        account_id,
                        project_name,
                    }) if account_id == self.account_id && project_name == self.project_name => {
                        return;
                    }
                    Some(StoreEvent::FeedInterrupted | StoreEvent::FeedResumed) => return,
                    Some(_) => {}
                    // The store is gone: only the safety poll is left.
                    None => std::future::pending::<()>().await,
                }
            }
        };
        let _ = tokio::time::timeout(SAFETY_POLL, heard).await;
    }

    async fn next_event(&mut self) -> Option<Event> {
        if self.done {
            return None;
        }
        loop {
            if let Some(event) = self.log_event(false).await {
                return Some(event);
            }
            let build = match self
                .state
                .store
                .get_build(&self.account_id, &self.uuid)
                .await
            {
                Ok(build) => build,
                Err(err) => {
                    tracing::error!(error = %err, "cannot read a build for its live log");
                    tokio::time::sleep(SAFETY_POLL).await;
                    continue;
                }
            };
            let Some(build) = build else {
                // Deleted meanwhile: nothing more will come. (An event without data is never
                // dispatched by a browser, so `end` says why.)
                self.done = true;
                return Some(Event::default().event("end").data("DELETED"));
            };
            let progress = progress_json(&build.to_api(&self.state.region, ""));
            if self.progress_sent.as_deref() != Some(progress.as_str()) {
                self.progress_sent = Some(progress.clone());
                return Some(Event::default().event("progress").data(progress));
            }
            if build.is_complete() {
                // The log is complete before the build is: what is left goes before `end`.
                if let Some(event) = self.log_event(true).await {
                    return Some(event);
                }
                self.done = true;
                return Some(Event::default().event("end").data(build.status.as_str()));
            }
            self.wait_for_change().await;
        }
    }
}

/// The phases and resolved commit of a build (the API's `Build` shape), as the page shows them.
fn progress_json(build: &Build) -> String {
    let phases: Vec<serde_json::Value> = phase_rows(build)
        .into_iter()
        .map(|p| {
            serde_json::json!({
                "name": p.name,
                "status": p.status,
                "statusClass": p.status_class,
                "duration": p.duration,
                "context": p.context,
            })
        })
        .collect();
    serde_json::json!({
        "phases": phases,
        "resolvedCommit": build.resolved_source_version.as_deref().unwrap_or("—"),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::{decode_chunk, progress_json};

    #[test]
    fn cut_characters_wait_for_the_rest() {
        let text = "ok é".as_bytes();
        let cut = &text[..text.len() - 1];
        assert_eq!(decode_chunk(cut, false), Some(("ok ".to_string(), 3)));
        assert_eq!(decode_chunk(&cut[3..], false), None);
        assert_eq!(
            decode_chunk(&cut[3..], true),
            Some(("\u{fffd}".to_string(), 1))
        );
        assert_eq!(decode_chunk(text, false), Some(("ok é".to_string(), 5)));
        assert_eq!(
            decode_chunk(b"a\xffb", false),
            Some(("a\u{fffd}b".to_string(), 3))
        );
    }

    #[test]
    fn progress_names_phases_and_commit() {
        let mut record = super::super::builds::tests::sample_record();
        record.begin_phase(kiln_domain::build::PhaseType::Build, 1.0);
        record.resolved_source_version = Some("abc".into());
        let build = record.to_api("r", "");
        let progress: serde_json::Value = serde_json::from_str(&progress_json(&build)).unwrap();
        let last = progress["phases"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["name"], "BUILD");
        assert_eq!(last["status"], "In progress");
        assert_eq!(progress["resolvedCommit"], "abc");
    }
}
