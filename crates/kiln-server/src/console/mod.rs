//! The web console: server-rendered pages for build projects, builds, badges, reports and
//! compute fleets, for a user signed in with an access key of their account. Pages read
//! projects and builds through the operations' typed functions (`crate::api::projects`,
//! `crate::api::builds`) as the API's shapes (`kiln_domain::shapes`); the forms build the
//! API's typed inputs and call those functions too, showing the API's validation in words
//! beside each field (`field_messages`, docs/console.md).
//!
//! Pages work without JavaScript; `static/console.js` only adds the live log (server-sent
//! events), copying to the clipboard and small conveniences, and `static/live.js` the live
//! project page and the ticking durations of running builds.

mod account_builds;
mod artifacts;
mod badge_panel;
mod build_chart;
mod build_facts;
mod build_page;
mod build_phases;
mod build_start;
mod builds;
mod chart;
mod errors;
mod field_messages;
mod fleets;
mod form;
mod form_input;
mod form_options;
mod form_token;
mod history;
mod log_view;
mod logs;
mod next;
mod project_create;
mod project_delete;
mod project_edit;
mod project_events;
mod project_form_page;
mod project_list;
mod project_page;
mod project_review;
mod projects;
mod public;
mod reports;
mod session;
mod sign_in_limit;
mod view;
mod visibility;
mod zip_entries;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::state::AppState;

pub use form_token::FormKey;
pub use session::SESSION_COOKIE;
pub use sign_in_limit::BACKOFF as SIGN_IN_BACKOFF;

/// The console's settings.
pub struct ConsoleConfig {
    /// Whether the client address (for sign-in limits and logs) is the last address of
    /// `X-Forwarded-For`, as a reverse proxy in front of Kiln sets it, rather than the peer.
    pub trust_forwarded_for: bool,
    /// Signs the sign-in form's CSRF token.
    pub form_key: FormKey,
    /// How failed sign-ins slow the next ones down ([`SIGN_IN_BACKOFF`] unless tests say).
    pub sign_in_backoff: kiln_store::SignInBackoff,
}

/// The console's routes; merged into [`crate::router`]. `POST /` stays the API.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(project_list::list))
        .route("/builds", get(account_builds::list))
        .route(
            "/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/sign-out", post(session::sign_out))
        .route("/console/static/{file}", get(static_file))
        .route(
            "/create-project",
            get(project_create::create_page).post(project_create::create_submit),
        )
        .route("/projects/{name}", get(project_page::details))
        .route("/projects/{name}/events", get(project_events::events))
        .route(
            "/projects/{name}/edit",
            get(project_edit::edit_page).post(project_edit::edit_submit),
        )
        .route(
            "/projects/{name}/delete",
            get(project_delete::delete_page).post(project_delete::delete_submit),
        )
        .route("/projects/{name}/visibility", post(visibility::submit))
        .route("/projects/{name}/builds", post(build_start::start))
        .route("/projects/{name}/builds/{uuid}", get(build_page::details))
        .route("/projects/{name}/builds/{uuid}/stop", post(builds::stop))
        .route("/projects/{name}/builds/{uuid}/retry", post(builds::retry))
        .route("/projects/{name}/builds/{uuid}/log", get(builds::full_log))
        .route(
            "/projects/{name}/builds/{uuid}/log/events",
            get(logs::events),
        )
        .route(
            "/projects/{name}/builds/{uuid}/log/lines",
            get(log_view::lines),
        )
        .route(
            "/projects/{name}/builds/{uuid}/artifacts/{index}",
            get(artifacts::download_archive),
        )
        .route(
            "/projects/{name}/builds/{uuid}/artifacts/{index}/{*file}",
            get(artifacts::download_file),
        )
        .route("/project/{alias}", get(public::project))
        .route("/project/{alias}/build/{uuid}", get(public::build))
        .route("/project/{alias}/build/{uuid}/log", get(public::full_log))
        .route(
            "/project/{alias}/build/{uuid}/log/events",
            get(public::log_events),
        )
        .route(
            "/project/{alias}/build/{uuid}/log/lines",
            get(public::log_lines),
        )
        .route(
            "/project/{alias}/build/{uuid}/artifacts/{index}",
            get(public::artifact),
        )
        .route(
            "/project/{alias}/build/{uuid}/artifacts/{index}/{*file}",
            get(public::artifact_file),
        )
        .route("/fleets", get(fleets::list))
        .route("/fleets/{name}", get(fleets::details))
        .route("/report-groups", get(reports::group_list))
        .route("/report-groups/{group}", get(reports::group_details))
        .route(
            "/report-groups/{group}/reports/{uuid}",
            get(reports::details),
        )
        .fallback(not_found)
}

const CONSOLE_CSS: &str = include_str!("../../static/console.css");
const CONSOLE_JS: &str = include_str!("../../static/console.js");
const LIVE_JS: &str = include_str!("../../static/live.js");

async fn static_file(Path(file): Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "console.css" => (CONSOLE_CSS, "text/css; charset=utf-8"),
        "console.js" => (CONSOLE_JS, "text/javascript; charset=utf-8"),
        "live.js" => (LIVE_JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    (headers, body).into_response()
}

/// Unknown pages get the console's 404 page, with the navigation when signed in.
async fn not_found(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let session = session::current(&state, &headers).await;
    view::not_found_page(
        session.as_ref(),
        "Page not found",
        "There is no page at this address.",
    )
}
