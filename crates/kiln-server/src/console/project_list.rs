//! The build projects list: each project's source, its latest build (whatever its branch) and
//! its badge, with a filter by name.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use kiln_domain::ApiError;
use kiln_domain::build::BuildRecord;
use kiln_domain::shapes::Project;
use serde::Deserialize;

use super::form_options as form;
use super::history::BuildRow;
use super::session::Session;
use super::view::{self, Chrome};
use crate::api::projects::{self, BatchGetProjectsInput, ListProjectsInput};
use crate::state::AppState;

/// Most projects the list shows at once (the filter narrows it down).
const MAX_LISTED: usize = 100;
/// Most project names read for the list.
const MAX_NAMES: usize = 10_000;
/// Latest builds read at once.
const READS_AT_ONCE: usize = 8;

pub struct ProjectRow {
    pub name: String,
    pub url: String,
    pub description: String,
    pub source: String,
    pub location: String,
    /// The live badge; empty when the project has none.
    pub badge_url: String,
    /// The project's latest build, on any branch; `None` before its first.
    pub latest: Option<BuildRow>,
    pub last_modified: String,
}

impl ProjectRow {
    /// The row of `project` (the API's `Project` shape) and its latest build, drawn at `now`.
    fn of(project: &Project, latest: Option<&BuildRecord>, now: f64) -> ProjectRow {
        let name = project.name.clone();
        let source = project.settings.source.as_ref();
        ProjectRow {
            url: format!("/projects/{name}"),
            description: project.settings.description.clone().unwrap_or_default(),
            source: form::label_of(
                form::SOURCE_PROVIDERS,
                source
                    .and_then(|s| s.source_type.as_deref())
                    .unwrap_or_default(),
            ),
            location: source.and_then(|s| s.location.clone()).unwrap_or_default(),
            badge_url: project.badge.badge_request_url.clone().unwrap_or_default(),
            latest: latest.map(|b| BuildRow::of(b, &format!("/projects/{name}/builds"), now)),
            last_modified: view::format_time(project.last_modified),
            name,
        }
    }
}

#[derive(Template)]
#[template(path = "projects.html")]
struct ProjectsPage {
    chrome: Chrome,
    rows: Vec<ProjectRow>,
    query: String,
    matching: usize,
    total: usize,
    notice: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ListQuery {
    q: String,
    deleted: String,
}

pub(super) async fn all_project_names(
    state: &AppState,
    session: &Session,
) -> Result<Vec<String>, ApiError> {
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let input = ListProjectsInput {
            sort_by: Some("NAME".into()),
            sort_order: Some("ASCENDING".into()),
            next_token: token,
        };
        let out = projects::list(state, &session.caller, input).await?;
        names.extend(out.projects);
        token = out.next_token;
        if token.is_none() || names.len() >= MAX_NAMES {
            return Ok(names);
        }
    }
}

/// The latest build of the account's project `name`: one index read for its id, one for it.
pub(super) async fn latest_build(
    state: &AppState,
    account_id: &str,
    name: &str,
) -> Result<Option<BuildRecord>, ApiError> {
    let page = state
        .store
        .list_builds(account_id, Some(name), false, None, 1)
        .await
        .map_err(crate::api::store_failure)?;
    let Some((_, uuid)) = page.items.first().and_then(|id| id.split_once(':')) else {
        return Ok(None);
    };
    state
        .store
        .get_build(account_id, uuid)
        .await
        .map_err(crate::api::store_failure)
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(query): Query<ListQuery>,
) -> Response {
    match list_page(&state, &session, query).await {
        Ok(page) => view::render_with_origin(StatusCode::OK, &page, &state.public_url),
        Err(err) => view::api_error_page(&session, &err),
    }
}

async fn list_page(
    state: &AppState,
    session: &Session,
    query: ListQuery,
) -> Result<ProjectsPage, ApiError> {
    let names = all_project_names(state, session).await?;
    let needle = query.q.trim().to_lowercase();
    let matching: Vec<String> = names
        .iter()
        .filter(|n| n.to_lowercase().contains(&needle))
        .cloned()
        .collect();
    let shown: Vec<String> = matching.iter().take(MAX_LISTED).cloned().collect();
    let mut rows = Vec::new();
    if !shown.is_empty() {
        let input = BatchGetProjectsInput { names: Some(shown) };
        let projects = projects::batch_get(state, &session.caller, input)
            .await?
            .projects;
        let account_id = session.caller.account_id.as_str();
        let mut latest: Vec<Option<BuildRecord>> = Vec::with_capacity(projects.len());
        for chunk in projects.chunks(READS_AT_ONCE) {
            let reads = chunk
                .iter()
                .map(|project| latest_build(state, account_id, &project.name));
            latest.extend(futures::future::try_join_all(reads).await?);
        }
        let now = state.now_epoch();
        rows = projects
            .iter()
            .zip(&latest)
            .map(|(project, latest)| ProjectRow::of(project, latest.as_ref(), now))
            .collect();
    }
    let notice = if kiln_domain::project::is_valid_project_name(&query.deleted) {
        format!("Deleted build project {}.", query.deleted)
    } else {
        String::new()
    };
    Ok(ProjectsPage {
        chrome: session.chrome(),
        rows,
        query: query.q,
        matching: matching.len(),
        total: names.len(),
        notice,
    })
}

#[cfg(test)]
mod tests {
    use kiln_domain::build::BuildStatus;
    use kiln_domain::refs::GitRef;

    use super::*;
    use crate::console::history::tests::build;
    use crate::console::projects::tests::sample_project;

    #[test]
    fn a_row_shows_the_latest_build_apart_from_the_badge() {
        let project = sample_project();
        let mut failed = build(5, BuildStatus::Failed, Some(112.0));
        failed.git_ref = Some(GitRef::Branch("feature/x".into()));
        let row = ProjectRow::of(&project, Some(&failed), 200.0);
        assert_eq!(row.url, "/projects/app");
        assert_eq!(row.description, "The app");
        assert_eq!(
            (row.source.as_str(), row.location.as_str()),
            ("GitHub", "https://git.example.com/app.git")
        );
        assert_eq!(row.badge_url, "http://k:1/badges?uuid=tok");
        let latest = row.latest.unwrap();
        assert_eq!((latest.number, latest.status.as_str()), (5, "Failed"));
        assert_eq!(latest.source_version, "feature/x");
        assert_eq!(latest.url, "/projects/app/builds/u5");
        assert_eq!(latest.duration, "12 s");

        let none = ProjectRow::of(&project, None, 200.0);
        assert!(none.latest.is_none());
    }
}
