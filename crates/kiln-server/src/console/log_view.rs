//! The build page's log viewer (docs/console.md): a window of the stored log, at most
//! [`WINDOW_BYTES`], rendered on the server as lines grouped into the build's phases, with
//! ANSI colours ([`ansi`]), each line's time and a stable anchor. The page shows the tail;
//! "Load earlier output" asks for the window before it (`?before=<offset>` for the page,
//! `log/lines?before=<offset>` as a fragment for the script), and the live log sends new
//! lines rendered the same way, so the rules live here only.
//!
//! A line's anchor is `#L<number>`. Numbers come from the store's line marks
//! ([`kiln_store::log_lines`]), so any window is numbered without reading the log before it,
//! and `?line=<number>` shows the window around a line wherever it is in the log.

mod ansi;

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kiln_store::log_lines::LineMarks;
use kiln_store::{Store, StoreResult};

use super::builds::{build_not_found, get_build};
use super::session::Session;
use super::view;
use crate::cwlogs::kiln_timestamp;
use crate::state::AppState;

/// The most of the log one window (the page's tail, one "earlier" page) holds.
pub const WINDOW_BYTES: u64 = 256 * 1024;

/// One line of the log.
pub struct Line {
    /// Its number, from 1: its anchor.
    number: u64,
    /// The time of the latest Kiln line before it (or of itself), `HH:MM:SS` UTC.
    time: String,
    html: String,
}

/// The lines of one phase, from its "Entering phase" line to its "Phase complete" line.
pub struct Section {
    /// The phase's name; empty for output outside a phase or before a window's first phase line.
    phase: String,
    /// The phase's final state (`SUCCEEDED`, `FAILED`, …); empty while it runs.
    state: String,
    /// Whether the section began at the window's start, so it continues the window before.
    continued: bool,
    lines: Vec<Line>,
}

impl Section {
    fn new(phase: &str, continued: bool) -> Section {
        Section {
            phase: phase.to_string(),
            state: String::new(),
            continued,
            lines: Vec::new(),
        }
    }

    /// Phases that succeeded are closed; a failed, running or unnamed one is open.
    fn open(&self) -> bool {
        self.state != "SUCCEEDED"
    }

    fn state_label(&self) -> String {
        view::status_label(&self.state)
    }

    fn state_class(&self) -> &'static str {
        view::status_class(&self.state)
    }
}

/// The text of one of Kiln's own lines after its `[Container] <time> ` prefix.
fn kiln_message(line: &str) -> Option<&str> {
    line.strip_prefix("[Container] ")?.get(27..)
}

/// `HH:MM:SS` of epoch milliseconds.
fn clock(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(|t| format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second()))
        .unwrap_or_default()
}

/// The lines of `bytes` in sections; `number` is the first line's number, `time` the Kiln time
/// before it. Returns the sections and the Kiln time after the last line.
pub fn sections(
    bytes: &[u8],
    mut number: u64,
    mut time: Option<i64>,
) -> (Vec<Section>, Option<i64>) {
    let mut done: Vec<Section> = Vec::new();
    let mut current = Section::new("", true);
    for raw in bytes.split_inclusive(|&b| b == b'\n') {
        let text = String::from_utf8_lossy(raw.strip_suffix(b"\n").unwrap_or(raw));
        if let Some(at) = kiln_timestamp(text.as_bytes()) {
            time = Some(at);
        }
        let message = kiln_message(&text);
        let line = Line {
            number,
            time: time.map_or_else(String::new, clock),
            html: ansi::line_to_html(&text),
        };
        number += 1;
        // The context line after "Phase complete" belongs to the phase it completes.
        if message.is_some_and(|m| m.starts_with("Phase context status code: "))
            && current.lines.is_empty()
            && let Some(completed) = done.last_mut()
        {
            completed.lines.push(line);
            continue;
        }
        if let Some(phase) = message.and_then(|m| m.strip_prefix("Entering phase ")) {
            let previous = std::mem::replace(&mut current, Section::new(phase.trim(), false));
            if !previous.lines.is_empty() {
                done.push(previous);
            }
        }
        current.lines.push(line);
        let completed = message
            .and_then(|m| m.strip_prefix("Phase complete: "))
            .and_then(|m| m.split_once(" State: "));
        if let Some((phase, state)) = completed {
            current.phase = phase.trim().to_string();
            current.state = state.trim().to_string();
            done.push(std::mem::replace(&mut current, Section::new("", false)));
        }
    }
    if !current.lines.is_empty() {
        done.push(current);
    }
    (done, time)
}

#[derive(Template)]
#[template(path = "build_log_sections.html")]
struct SectionsHtml<'a> {
    sections: &'a [Section],
}

/// The HTML of `sections`, as the page, the "earlier" fragments and the live log show them.
pub fn sections_html(sections: &[Section]) -> String {
    SectionsHtml { sections }.render().unwrap_or_else(|err| {
        tracing::error!(error = %err, "cannot render a build log");
        String::new()
    })
}

/// Where a window of `bytes` starts and ends: at line starts, except that a window without a
/// line break keeps its cut line. `after_byte` when `bytes` begin with the byte before the
/// window's first (the window does not start the log): the window starts after the first line
/// break from there. `whole_lines` leaves out a last line not ended yet (a running build's).
fn line_bounds(bytes: &[u8], after_byte: bool, whole_lines: bool) -> (usize, usize) {
    let skip = if after_byte {
        bytes
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len().min(1), |at| at + 1)
    } else {
        0
    };
    let keep = if whole_lines {
        bytes[skip..]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(bytes.len(), |at| skip + at + 1)
    } else {
        bytes.len()
    };
    (skip, keep)
}

/// A window of the log, rendered.
pub struct Window {
    pub start: u64,
    pub end: u64,
    /// The log's size when read.
    pub size: u64,
    pub html: String,
    /// The Kiln time after the window's last line, in epoch milliseconds.
    pub last_time: Option<i64>,
}

/// Which window of the log a page shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogAt {
    /// The tail.
    #[default]
    End,
    /// The window that ends at this byte (`?before=<offset>`).
    Before(u64),
    /// The window around this line (`?line=<number>`); the tail if the log has no such line.
    Line(u64),
}

impl LogAt {
    /// `before=<offset>` or `line=<number>` of a query string; anything else is the log's end.
    pub fn of(query: Option<&str>) -> LogAt {
        let number = |value: &str| value.parse::<u64>().ok();
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .find_map(|(key, value)| match key.as_ref() {
                "before" => number(&value).map(LogAt::Before),
                "line" => number(&value).map(LogAt::Line),
                _ => None,
            })
            .unwrap_or_default()
    }
}

/// The window at `at`. Reads at most [`WINDOW_BYTES`] and two blocks of line marks' worth,
/// whatever the log's size (once the log's line marks are stored).
pub async fn read_window(
    store: &dyn Store,
    uuid: &str,
    at: LogAt,
    whole_lines: bool,
) -> StoreResult<Window> {
    let size = store.log_size(uuid).await?;
    let marks = LineMarks::load(store, uuid, size).await?;
    let end = match at {
        LogAt::End => size,
        LogAt::Before(before) => before.min(size),
        // The line in the window's middle, so the lines around it show too.
        LogAt::Line(number) => match marks.line_start(store, number).await? {
            Some(start) => start.saturating_add(WINDOW_BYTES / 2).min(size),
            None => size,
        },
    };
    let from = end.saturating_sub(WINDOW_BYTES);
    // The byte before the window too, to know whether the window starts at a line's start.
    let read_from = from.saturating_sub(1);
    let wanted = usize::try_from(end - read_from).unwrap_or(0);
    let bytes = store.read_log(uuid, read_from, wanted).await?;
    let (skip, keep) = line_bounds(&bytes, from > 0, whole_lines);
    let start = read_from + skip as u64;
    let number = marks.line_at(store, start).await?;
    let (sections, last_time) = sections(&bytes[skip..keep], number, None);
    Ok(Window {
        start,
        end: read_from + keep as u64,
        size,
        html: sections_html(&sections),
        last_time,
    })
}

/// The log section of a build page.
pub struct LogView {
    pub start: u64,
    pub end: u64,
    pub html: String,
    /// The page of the window before this one (works without the script); empty at the start.
    pub earlier_url: String,
    /// The script's address for earlier windows as fragments.
    pub lines_url: String,
    /// The live log's address, when the page follows it; empty otherwise.
    pub events_url: String,
    /// The page of the window after this one, when it ends before the log's end; empty
    /// otherwise.
    pub later_url: String,
    /// The Kiln time at the window's end, in epoch milliseconds, for the live log.
    pub last_time: String,
    /// What the window holds, e.g. "the last 256 KiB of 200.0 MiB".
    pub extent: String,
}

fn size_text(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KIB {
        format!("{bytes} B")
    } else if b < KIB * KIB {
        format!("{:.0} KiB", b / KIB)
    } else {
        format!("{:.1} MiB", b / KIB / KIB)
    }
}

impl LogView {
    /// The window at `at` of the log of build `uuid`, for the page at `page_url`. A running
    /// build's tail is followed live.
    pub async fn read(
        state: &AppState,
        uuid: &str,
        page_url: &str,
        at: LogAt,
        complete: bool,
    ) -> LogView {
        let live = !complete && at == LogAt::End;
        let window = match read_window(state.store.as_ref(), uuid, at, live).await {
            Ok(window) => window,
            Err(err) => {
                tracing::error!(error = %err, "cannot read a build's log");
                Window {
                    start: 0,
                    end: 0,
                    size: 0,
                    html: String::new(),
                    last_time: None,
                }
            }
        };
        let extent = if window.start == 0 && window.end == window.size {
            String::new()
        } else {
            format!(
                "Showing bytes {} to {} of {}.",
                window.start,
                window.end,
                size_text(window.size)
            )
        };
        LogView {
            start: window.start,
            end: window.end,
            html: window.html,
            earlier_url: if window.start > 0 {
                format!("{page_url}?before={}#log", window.start)
            } else {
                String::new()
            },
            lines_url: format!("{page_url}/log/lines"),
            events_url: if live {
                format!("{page_url}/log/events")
            } else {
                String::new()
            },
            later_url: if window.end < window.size {
                // The next window starts where this one ends.
                format!("{page_url}?before={}#log", window.end + WINDOW_BYTES)
            } else {
                String::new()
            },
            last_time: window.last_time.map_or_else(String::new, |t| t.to_string()),
            extent,
        }
    }
}

/// The window at `at` as an HTML fragment, for the script's "Load earlier output";
/// `x-kiln-log-start` says where it starts (the next request's `before`).
pub(super) async fn fragment(state: &AppState, uuid: &str, at: LogAt) -> Response {
    match read_window(state.store.as_ref(), uuid, at, false).await {
        Ok(window) => {
            let mut response = (StatusCode::OK, window.html).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert("x-kiln-log-start", HeaderValue::from(window.start));
            response
        }
        Err(err) => {
            tracing::error!(error = %err, "cannot read a build's log");
            (StatusCode::SERVICE_UNAVAILABLE, "log unreadable").into_response()
        }
    }
}

/// `GET /projects/<name>/builds/<uuid>/log/lines?before=<offset>`.
pub async fn lines(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path((project, uuid)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    match get_build(&state, &session, &project, &uuid).await {
        Ok(Some(build)) => fragment(&state, build.uuid(), LogAt::of(query.as_deref())).await,
        Ok(None) => build_not_found(&session),
        Err(err) => view::api_error_page(&session, &err),
    }
}

/// The full log `response` as a download named `<project>-<build number>.log`.
pub(super) fn as_download(mut response: Response, project: &str, number: i64) -> Response {
    // Project names are already of these characters; the filter keeps the header sound anyway.
    let name: String = project
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    let value = format!("attachment; filename=\"{name}-{number}.log\"");
    if response.status() == StatusCode::OK
        && let Ok(value) = HeaderValue::from_str(&value)
    {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "[Container] 2026/12/01 05:44:00.123456 Running on kiln\n\
        [Container] 2026/12/01 05:44:01.000000 Entering phase INSTALL\n\
        installing\n\
        [Container] 2026/12/01 05:44:02.000000 Phase complete: INSTALL State: SUCCEEDED\n\
        [Container] 2026/12/01 05:44:02.000000 Phase context status code:  Message: \n\
        [Container] 2026/12/01 05:44:03.000000 Entering phase BUILD\n\
        \x1b[31mboom\x1b[0m <html>\n\
        [Container] 2026/12/01 05:44:04.500000 Phase complete: BUILD State: FAILED\n";

    #[test]
    fn lines_fall_into_their_phases_with_numbers_and_times() {
        let (sections, last) = sections(LOG.as_bytes(), 1, None);
        let names: Vec<(&str, &str, bool)> = sections
            .iter()
            .map(|s| (s.phase.as_str(), s.state.as_str(), s.open()))
            .collect();
        assert_eq!(
            names,
            [
                ("", "", true),
                ("INSTALL", "SUCCEEDED", false),
                ("BUILD", "FAILED", true)
            ]
        );
        assert!(sections[0].continued && !sections[1].continued);
        let boom = &sections[2].lines[1];
        assert_eq!(boom.number, 7);
        assert_eq!(
            sections[1].lines.len(),
            4,
            "the context line is the phase's"
        );
        assert_eq!(boom.time, "05:44:03");
        assert_eq!(boom.html, "<span class=\"a-fg1\">boom</span> &lt;html&gt;");
        assert_eq!(sections[0].lines[0].time, "05:44:00");
        assert_eq!(last, Some(1_796_103_844_500));
    }

    #[test]
    fn a_window_from_the_middle_knows_the_phase_when_it_completes() {
        let from = LOG.find("installing").unwrap();
        let (sections, _) = sections(&LOG.as_bytes()[from..], 3, None);
        assert_eq!(sections[0].phase, "INSTALL");
        assert!(sections[0].continued);
        assert_eq!(sections[0].lines[0].number, 3);
        assert_eq!(sections[0].lines[0].time, "", "no Kiln line before it");
    }

    #[test]
    fn windows_start_and_end_at_line_starts() {
        assert_eq!(line_bounds(b"ut\nab\ncd", true, false), (3, 8));
        assert_eq!(line_bounds(b"ut\nab\ncd", true, true), (3, 6));
        assert_eq!(line_bounds(b"ab\ncd\n", false, true), (0, 6));
        // The byte before the window ends a line: the window starts with the next one.
        assert_eq!(line_bounds(b"\nab\n", true, true), (1, 4));
        // One long line: kept as it is (after the byte before it) rather than shown as nothing.
        assert_eq!(line_bounds(b"abcdef", true, true), (1, 6));
        assert_eq!(line_bounds(b"", true, true), (0, 0));
    }

    #[test]
    fn the_html_anchors_and_escapes_lines() {
        let (sections, _) = sections(b"<b>\n", 12, None);
        let html = sections_html(&sections);
        assert!(html.contains("id=\"L12\""), "{html}");
        assert!(html.contains("href=\"#L12\""), "{html}");
        assert!(html.contains(">12</a>"), "{html}");
        assert!(html.contains("&lt;b&gt;"), "{html}");
        assert!(html.contains(" open"), "{html}");
    }

    #[test]
    fn the_window_is_before_an_offset_around_a_line_or_at_the_end() {
        assert_eq!(LogAt::of(Some("before=42")), LogAt::Before(42));
        assert_eq!(LogAt::of(Some("x=1&line=7")), LogAt::Line(7));
        assert_eq!(LogAt::of(Some("before=-1")), LogAt::End);
        assert_eq!(LogAt::of(Some("line=L7")), LogAt::End);
        assert_eq!(LogAt::of(None), LogAt::End);
    }

    #[test]
    fn downloads_are_named_after_the_build() {
        let response = as_download(StatusCode::OK.into_response(), "app\"x", 7);
        assert_eq!(
            response.headers()[header::CONTENT_DISPOSITION],
            "attachment; filename=\"appx-7.log\""
        );
        assert_eq!(size_text(200 * 1024 * 1024), "200.0 MiB");
    }
}
