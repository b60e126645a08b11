//! Public builds (docs/public-builds.md): the unauthenticated, read-only pages of a project made
//! `PUBLIC_READ` with `UpdateProjectVisibility`, at `/project/<alias>`: its builds, each build's
//! phases, log (live while it runs, masked as stored) and reports, and its artifacts only when
//! the project has a `resourceAccessRole`. They are the console's build pages in their public
//! view ([`BuildView`]), which shows nothing of the account (initiator, agent, settings,
//! environment variables, source credentials).
//!
//! As the badge endpoint, they look nothing up for an address that cannot be Kiln's (an alias
//! that is not a well-formed token, a build id that is not a UUID, a query over 2 KiB), and an
//! unknown alias, a private project, another project's build and a missing page all get one
//! and the same 404 page.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use kiln_domain::build::BuildRecord;
use kiln_domain::project::ProjectRecord;
use kiln_domain::token;
use kiln_domain::visibility::ProjectVisibility;
use kiln_store::StoreError;

use super::build_page::{BuildPage, BuildView};
use super::history::{self, BuildRow};
use super::log_view::LogAt;
use super::logs::EventsQuery;
use super::view::{self, Chrome};
use crate::state::AppState;

/// Builds per page of a public project.
const PAGE_SIZE: u64 = 20;
/// Longest query string looked at, as the badge endpoint's.
const MAX_QUERY: usize = 2048;

/// The one answer to every address that names nothing public.
fn not_found() -> Response {
    view::not_found_page(None, "Page not found", "There is no page at this address.")
}

fn unavailable(err: &StoreError) -> Response {
    tracing::error!(error = %err, "cannot read a public project");
    view::error_page(
        None,
        StatusCode::SERVICE_UNAVAILABLE,
        "Unavailable",
        "The page cannot be shown right now. Try again later.",
    )
}

/// The public project of `alias`: `None` for an alias no project has or a private project.
async fn public_project(
    state: &AppState,
    alias: &str,
) -> Result<Option<ProjectRecord>, StoreError> {
    if !token::is_well_formed(alias) {
        return Ok(None);
    }
    let project = state.store.project_by_public_alias(alias).await?;
    Ok(project.filter(|p| p.public.visibility == ProjectVisibility::PublicRead))
}

/// The build `uuid` of the public project of `alias`. A build of an older project of the same
/// name (deleted, then created again) started before this project was created.
async fn public_build(
    state: &AppState,
    alias: &str,
    uuid: &str,
) -> Result<Option<(ProjectRecord, BuildRecord)>, StoreError> {
    if uuid::Uuid::try_parse(uuid).is_err() {
        return Ok(None);
    }
    let Some(project) = public_project(state, alias).await? else {
        return Ok(None);
    };
    let build = state.store.get_build(&project.account_id, uuid).await?;
    Ok(build
        .filter(|b| b.project_name == project.name && b.start_time >= project.created)
        .map(|b| (project, b)))
}

fn project_url(alias: &str) -> String {
    format!("/project/{alias}")
}

/// Where the public project's build pages are (`…/<uuid>` each).
fn builds_url(alias: &str) -> String {
    format!("/project/{alias}/build")
}

#[derive(Template)]
#[template(path = "public_project.html")]
struct PublicProjectPage {
    chrome: Chrome,
    name: String,
    builds: Vec<BuildRow>,
    /// The next page's address; empty on the last page.
    older_url: String,
}

/// `?after=<build number>`: the page of builds numbered below it; anything else is the first.
fn after_of(query: Option<&str>) -> Option<i64> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == "after")
        .and_then(|(_, value)| history::after_of(&value))
}

pub async fn project(
    State(state): State<Arc<AppState>>,
    Path(alias): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    if query.as_ref().is_some_and(|q| q.len() > MAX_QUERY) {
        return not_found();
    }
    let project = match public_project(&state, &alias).await {
        Ok(Some(project)) => project,
        Ok(None) => return not_found(),
        Err(err) => return unavailable(&err),
    };
    let page = history::project_builds(
        state.store.as_ref(),
        &project.account_id,
        &project.name,
        after_of(query.as_deref()),
        PAGE_SIZE,
    );
    let (builds, next) = match page.await {
        Ok(found) => found,
        Err(err) => return unavailable(&err),
    };
    let builds_url = builds_url(&alias);
    let now = state.now_epoch();
    let rows = builds
        .iter()
        .map(|b| BuildRow::of(b, &builds_url, now))
        .collect();
    let page = PublicProjectPage {
        chrome: Chrome::of(None),
        name: project.name,
        builds: rows,
        older_url: next.map_or_else(String::new, |n| {
            format!("{}?after={n}", project_url(&alias))
        }),
    };
    view::render(StatusCode::OK, &page)
}

/// The build's page (the API's `Build` shape) in its public view.
pub async fn build(
    State(state): State<Arc<AppState>>,
    Path((alias, uuid)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let (project, build) = match public_build(&state, &alias, &uuid).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(),
        Err(err) => return unavailable(&err),
    };
    let api = build.to_api(&state.region, &state.public_url);
    let view = BuildView::new(
        true,
        project_url(&alias),
        builds_url(&alias),
        &build.uuid,
        project.public.artifacts_public(),
        LogAt::of(query.as_deref()),
    );
    let page = BuildPage::of(&state, &build, &api, Chrome::of(None), view)
        .await
        .public_reports();
    view::render(StatusCode::OK, &page)
}

/// The whole log as text, as a download.
pub async fn full_log(
    State(state): State<Arc<AppState>>,
    Path((alias, uuid)): Path<(String, String)>,
) -> Response {
    match public_build(&state, &alias, &uuid).await {
        Ok(Some((project, build))) => {
            match crate::logs::read_log(&state, &project.account_id, &build.uuid, 0).await {
                Ok(response) => {
                    super::log_view::as_download(response, &project.name, build.build_number)
                }
                Err(_) => not_found(),
            }
        }
        Ok(None) => not_found(),
        Err(err) => unavailable(&err),
    }
}

/// Earlier output of the log, as the console's build page loads it.
pub async fn log_lines(
    State(state): State<Arc<AppState>>,
    Path((alias, uuid)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    match public_build(&state, &alias, &uuid).await {
        Ok(Some((_, build))) => {
            super::log_view::fragment(&state, &build.uuid, LogAt::of(query.as_deref())).await
        }
        Ok(None) => not_found(),
        Err(err) => unavailable(&err),
    }
}

/// The live log, as the console's build page follows it.
pub async fn log_events(
    State(state): State<Arc<AppState>>,
    Path((alias, uuid)): Path<(String, String)>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Response {
    match public_build(&state, &alias, &uuid).await {
        Ok(Some((project, build))) => super::logs::follow(
            Arc::clone(&state),
            project.account_id,
            project.name,
            build.uuid,
            &query,
            &headers,
        ),
        Ok(None) => not_found(),
        Err(err) => unavailable(&err),
    }
}

/// An artifact, or a file of one, when the project makes its artifacts public.
pub async fn artifact(
    State(state): State<Arc<AppState>>,
    Path((alias, uuid, index)): Path<(String, String, usize)>,
) -> Response {
    serve_artifact(&state, &alias, &uuid, index, None).await
}

pub async fn artifact_file(
    State(state): State<Arc<AppState>>,
    Path((alias, uuid, index, file)): Path<(String, String, usize, String)>,
) -> Response {
    serve_artifact(&state, &alias, &uuid, index, Some(&file)).await
}

async fn serve_artifact(
    state: &AppState,
    alias: &str,
    uuid: &str,
    index: usize,
    file: Option<&str>,
) -> Response {
    match public_build(state, alias, uuid).await {
        Ok(Some((project, build))) if project.public.artifacts_public() => {
            let api = build.to_api(&state.region, &state.public_url);
            super::artifacts::serve(state, None, &api, index, file).await
        }
        Ok(_) => not_found(),
        Err(err) => unavailable(&err),
    }
}

#[cfg(test)]
mod tests {
    use super::after_of;

    #[test]
    fn pages_start_after_a_build_number() {
        assert_eq!(after_of(Some("after=20")), Some(20));
        assert_eq!(after_of(Some("after=x")), None);
        assert_eq!(after_of(None), None);
    }
}
