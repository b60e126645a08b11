//! Fleet pages: the account's compute fleets with their status and capacity, and one fleet's
//! settings, connected agents (with the builds each runs) and queue. The pages read the store
//! directly, always for the signed-in account; every status comes from the same
//! [`crate::fleets`] functions as the API's (docs/fleets.md).

mod view;

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use kiln_domain::fleet::{FleetRecord, is_valid_fleet_name};
use kiln_store::{AgentSession, ProjectKey, ProjectSort, StoreError};
use serde::Deserialize;

use super::session::Session;
use super::view::{self as page, Chrome};
use crate::state::AppState;

pub use view::fleet_url;
use view::{AgentRow, BuildLink, ElsewhereRow, FleetRow, FleetView, settings_of};

/// Fleets a page of the list shows.
const PAGE_SIZE: u64 = 100;
/// Incomplete builds a fleet's page reads: its running builds come first, so only a queue
/// longer than this is cut.
const MAX_BUILDS: u64 = 200;
/// Longest fleet name (a longer one names no fleet).
const MAX_NAME: usize = 128;

fn store_error_page(session: &Session, err: &StoreError) -> Response {
    tracing::error!(error = %err, "console cannot read fleets");
    let status = if err.is_unavailable() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    page::error_page(
        Some(session),
        status,
        "Fleets unavailable",
        "The fleets cannot be read right now. Try again later.",
    )
}

/// A fleet's view, from its incomplete builds and the account's connected `agents`.
async fn view_of(
    state: &AppState,
    fleet: &FleetRecord,
    agents: &[AgentSession],
) -> Result<FleetView, StoreError> {
    let builds = state
        .store
        .fleet_builds(&fleet.account_id, &fleet.arn, MAX_BUILDS)
        .await?;
    let truncated = builds.len() as u64 >= MAX_BUILDS;
    Ok(FleetView::of(
        fleet,
        agents,
        &builds,
        truncated,
        state.now_epoch(),
    ))
}

#[derive(Template)]
#[template(path = "fleets.html")]
struct FleetsPage {
    chrome: Chrome,
    fleets: Vec<FleetRow>,
    next_url: String,
    first_url: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ListParams {
    after: String,
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(params): Query<ListParams>,
) -> Response {
    let account = &session.caller.account_id;
    let after = (!params.after.is_empty() && params.after.len() <= MAX_NAME).then(|| ProjectKey {
        sort_value: 0.0,
        name: params.after.clone(),
    });
    let read = async {
        let page = state
            .store
            .list_fleets(account, ProjectSort::Name, true, after.as_ref(), PAGE_SIZE)
            .await?;
        let arns: Vec<&str> = page.items.iter().map(String::as_str).collect();
        let mut fleets = state.store.get_fleets(account, &arns).await?;
        fleets.sort_by(|a, b| a.name.cmp(&b.name));
        let agents = crate::fleets::live_agents(&state, account).await?;
        let mut rows = Vec::with_capacity(fleets.len());
        for fleet in &fleets {
            rows.push(view_of(&state, fleet, &agents).await?.row);
        }
        Ok::<_, StoreError>((rows, page.next))
    };
    let (fleets, next) = match read.await {
        Ok(read) => read,
        Err(err) => return store_error_page(&session, &err),
    };
    let page = FleetsPage {
        chrome: session.chrome(),
        fleets,
        next_url: next.map_or_else(String::new, |key| {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("after", &key.name);
            format!("/fleets?{}", query.finish())
        }),
        first_url: if after.is_some() {
            "/fleets".to_string()
        } else {
            String::new()
        },
    };
    page::render(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "fleet.html")]
struct FleetPage {
    chrome: Chrome,
    fleet: FleetRow,
    arn: String,
    settings: Vec<(&'static str, String)>,
    agents: Vec<AgentRow>,
    elsewhere: Vec<ElsewhereRow>,
    queue: Vec<BuildLink>,
    truncated: bool,
}

pub async fn details(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(name): Path<String>,
) -> Response {
    let account = &session.caller.account_id;
    let not_found = || {
        page::not_found_page(
            Some(&session),
            "Fleet not found",
            "There is no such fleet in this account.",
        )
    };
    // Only a name: the store would find a fleet by its ARN too.
    if !is_valid_fleet_name(&name) {
        return not_found();
    }
    let read = async {
        let Some(fleet) = state.store.fleet(account, &name).await? else {
            return Ok(None);
        };
        let agents = crate::fleets::live_agents(&state, account).await?;
        let view = view_of(&state, &fleet, &agents).await?;
        Ok::<_, StoreError>(Some((fleet, view)))
    };
    let (fleet, view) = match read.await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(),
        Err(err) => return store_error_page(&session, &err),
    };
    let page = FleetPage {
        chrome: session.chrome(),
        arn: fleet.arn.clone(),
        settings: settings_of(&fleet),
        fleet: view.row,
        agents: view.agents,
        elsewhere: view.elsewhere,
        queue: view.queue,
        truncated: view.truncated,
    };
    page::render(StatusCode::OK, &page)
}
