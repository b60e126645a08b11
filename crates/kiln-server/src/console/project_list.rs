//! The build projects list: each project's source, its latest build (whatever its branch) and
//! its badge, with a filter by name.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use kiln_domain::ApiError;
use kiln_domain::build::BuildRecord;
use serde::Deserialize;
use serde_json::{Value, json};

use super::form_options as form;
use super::history::BuildRow;
use super::projects::call;
use super::session::Session;
use super::view::{self, Chrome};
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
    fn of(project: &Value, latest: Option<&BuildRecord>, now: f64) -> ProjectRow {
        let name = project["name"].as_str().unwrap_or_default().to_string();
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        ProjectRow {
            url: format!("/projects/{name}"),
            description: text(&project["description"]),
            source: form::label_of(
                form::SOURCE_PROVIDERS,
                project["source"]["type"].as_str().unwrap_or_default(),
            ),
            location: text(&project["source"]["location"]),
            badge_url: text(&project["badge"]["badgeRequestUrl"]),
            latest: latest.map(|b| BuildRow::of(b, &format!("/projects/{name}/builds"), now)),
            last_modified: view::format_time(project["lastModified"].as_f64().unwrap_or(0.0)),
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
        let mut input = json!({"sortBy": "NAME", "sortOrder": "ASCENDING"});
        if let Some(t) = &token {
            input["nextToken"] = t.clone().into();
        }
        let out = call(state, session, "ListProjects", input).await?;
        names.extend(
            out["projects"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str().map(str::to_string)),
        );
        token = out["nextToken"].as_str().map(str::to_string);
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
    let shown: Vec<&String> = matching.iter().take(MAX_LISTED).collect();
    let mut rows = Vec::new();
    if !shown.is_empty() {
        let out = call(state, session, "BatchGetProjects", json!({"names": shown})).await?;
        let projects = out["projects"].as_array().cloned().unwrap_or_default();
        let account_id = session.caller.account_id.as_str();
        let names: Vec<String> = projects
            .iter()
            .map(|p| p["name"].as_str().unwrap_or_default().to_string())
            .collect();
        let mut latest: Vec<Option<BuildRecord>> = Vec::with_capacity(names.len());
        for chunk in names.chunks(READS_AT_ONCE) {
            let reads = chunk
                .iter()
                .map(|name| latest_build(state, account_id, name));
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

    #[test]
    fn a_row_shows_the_latest_build_apart_from_the_badge() {
        let project = json!({
            "name": "p", "description": "d",
            "source": {"type": "GITHUB", "location": "https://git.example.com/a.git"},
            "badge": {"badgeRequestUrl": "http://k/badges?uuid=t"},
            "lastModified": 0.0,
        });
        let mut failed = build(5, BuildStatus::Failed, Some(112.0));
        failed.git_ref = Some(GitRef::Branch("feature/x".into()));
        let row = ProjectRow::of(&project, Some(&failed), 200.0);
        assert_eq!(row.url, "/projects/p");
        assert_eq!(row.badge_url, "http://k/badges?uuid=t");
        let latest = row.latest.unwrap();
        assert_eq!((latest.number, latest.status.as_str()), (5, "Failed"));
        assert_eq!(latest.source_version, "feature/x");
        assert_eq!(latest.url, "/projects/p/builds/u5");
        assert_eq!(latest.duration, "12 s");

        let none = ProjectRow::of(&project, None, 200.0);
        assert!(none.latest.is_none());
    }
}
