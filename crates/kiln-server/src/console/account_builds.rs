//! The account's Builds page: every build of the account, of live and deleted projects, newest
//! first, filtered by project, status and branch, a page at a time (keyset pages, as the
//! API's `nextToken`: a page does not shift while builds start).

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use kiln_domain::build::BuildStatus;
use kiln_store::BuildFilter;
use serde::Deserialize;

use super::history::{self, BuildRow};
use super::project_list::all_project_names;
use super::projects::Choice;
use super::session::Session;
use super::view::{self, Chrome};
use crate::state::AppState;

/// Builds on a page.
const PAGE_SIZE: u64 = 25;
/// Longest filter value looked at (a project name is at most 255 characters, a branch name
/// not much more).
const MAX_FILTER: usize = 512;

/// The statuses the filter offers, as the API names them.
const STATUSES: [BuildStatus; 6] = [
    BuildStatus::InProgress,
    BuildStatus::Succeeded,
    BuildStatus::Failed,
    BuildStatus::Fault,
    BuildStatus::TimedOut,
    BuildStatus::Stopped,
];

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct BuildsQuery {
    project: String,
    status: String,
    branch: String,
    after: String,
}

/// The filters of a query, trimmed; a value too long to name anything, or an unknown status,
/// filters nothing.
struct Filters {
    project: String,
    status: Option<BuildStatus>,
    branch: String,
}

impl Filters {
    fn of(query: &BuildsQuery) -> Filters {
        let text = |v: &str| {
            let v = v.trim();
            if v.len() > MAX_FILTER {
                String::new()
            } else {
                v.to_string()
            }
        };
        Filters {
            project: text(&query.project),
            status: BuildStatus::parse(query.status.trim()),
            branch: text(&query.branch),
        }
    }

    fn store_filter(&self) -> BuildFilter<'_> {
        BuildFilter {
            project_name: non_empty(&self.project),
            status: self.status,
            branch: non_empty(&self.branch),
        }
    }

    fn any(&self) -> bool {
        !self.project.is_empty() || self.status.is_some() || !self.branch.is_empty()
    }

    /// This page's address with the filters set, starting after `after` when given.
    fn url(&self, after: Option<i64>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if !self.project.is_empty() {
            query.append_pair("project", &self.project);
        }
        if let Some(status) = self.status {
            query.append_pair("status", status.as_str());
        }
        if !self.branch.is_empty() {
            query.append_pair("branch", &self.branch);
        }
        if let Some(after) = after {
            query.append_pair("after", &after.to_string());
        }
        let query = query.finish();
        if query.is_empty() {
            "/builds".to_string()
        } else {
            format!("/builds?{query}")
        }
    }

    fn status_choices(&self) -> Vec<Choice> {
        let selected = self.status.map_or("", BuildStatus::as_str);
        std::iter::once(("", "Any status".to_string()))
            .chain(
                STATUSES
                    .iter()
                    .map(|s| (s.as_str(), view::status_label(s.as_str()))),
            )
            .map(|(value, label)| Choice {
                value: value.to_string(),
                label,
                selected: value == selected,
            })
            .collect()
    }
}

fn non_empty(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

#[derive(Template)]
#[template(path = "builds.html")]
struct BuildsPage {
    chrome: Chrome,
    project: String,
    branch: String,
    statuses: Vec<Choice>,
    /// The account's project names, offered by the project filter.
    project_names: Vec<String>,
    builds: Vec<BuildRow>,
    filtered: bool,
    /// The next (older) page; empty on the last page.
    older_url: String,
    /// The first page with the same filters, when this is a later one; else empty.
    newest_url: String,
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(query): Query<BuildsQuery>,
) -> Response {
    let filters = Filters::of(&query);
    let after = history::after_of(&query.after);
    let account_id = &session.caller.account_id;
    let page = match state
        .store
        .find_builds(account_id, &filters.store_filter(), after, PAGE_SIZE)
        .await
    {
        Ok(page) => page,
        Err(err) => return view::api_error_page(&session, &crate::api::store_failure(err)),
    };
    let project_names = match all_project_names(&state, &session).await {
        Ok(names) => names,
        Err(err) => return view::api_error_page(&session, &err),
    };
    let now = state.now_epoch();
    let builds = page
        .items
        .iter()
        .map(|b| BuildRow::of(b, &format!("/projects/{}/builds", b.project_name), now))
        .collect();
    let page = BuildsPage {
        chrome: session.chrome(),
        statuses: filters.status_choices(),
        project_names,
        builds,
        filtered: filters.any(),
        older_url: page.next.map_or_else(String::new, |n| filters.url(Some(n))),
        newest_url: if after.is_some() {
            filters.url(None)
        } else {
            String::new()
        },
        project: filters.project,
        branch: filters.branch,
    };
    view::render(StatusCode::OK, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(project: &str, status: &str, branch: &str) -> BuildsQuery {
        BuildsQuery {
            project: project.into(),
            status: status.into(),
            branch: branch.into(),
            after: String::new(),
        }
    }

    #[test]
    fn filters_become_the_store_filter_and_page_addresses() {
        let filters = Filters::of(&query(" web ", "FAILED", "feature/a b"));
        let filter = filters.store_filter();
        assert_eq!(filter.project_name, Some("web"));
        assert_eq!(filter.status, Some(BuildStatus::Failed));
        assert_eq!(filter.branch, Some("feature/a b"));
        assert_eq!(
            filters.url(Some(42)),
            "/builds?project=web&status=FAILED&branch=feature%2Fa+b&after=42"
        );
        assert!(filters.any());
    }

    #[test]
    fn empty_unknown_or_overlong_values_filter_nothing() {
        let long = "x".repeat(MAX_FILTER + 1);
        let filters = Filters::of(&query("", "NOPE", &long));
        assert_eq!(filters.store_filter(), BuildFilter::default());
        assert!(!filters.any());
        assert_eq!(filters.url(None), "/builds");
        let choices = filters.status_choices();
        assert_eq!(choices.len(), 7);
        assert!(choices[0].selected);
        assert_eq!(choices[1].label, "In progress");
    }
}
