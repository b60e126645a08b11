//! Report group pages: the account's groups, and one group with its latest reports and their
//! trend.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use kiln_domain::report::{ReportGroupRecord, ReportType};
use kiln_store::{ProjectKey, ProjectSort};
use serde::Deserialize;

use super::trend_chart::{self, TrendChart};
use super::{ReportLink, group_url, store_error_page};
use crate::console::session::Session;
use crate::console::view::{self, Chrome};
use crate::state::AppState;

/// Groups a page of the list shows.
const PAGE_SIZE: u64 = 100;
/// Reports a group's page lists and charts.
const LATEST_REPORTS: u64 = 50;
/// Longest group name (a longer one names no group).
const MAX_NAME: usize = 128;

fn type_label(report_type: ReportType) -> &'static str {
    match report_type {
        ReportType::Test => "Test",
        ReportType::CodeCoverage => "Code coverage",
    }
}

pub struct GroupRow {
    pub name: String,
    pub url: String,
    pub kind: &'static str,
    pub created: String,
}

impl GroupRow {
    fn of(group: &ReportGroupRecord) -> GroupRow {
        GroupRow {
            name: group.name.clone(),
            url: group_url(&group.name),
            kind: type_label(group.report_type),
            created: view::format_time(group.created),
        }
    }
}

#[derive(Template)]
#[template(path = "report_groups.html")]
struct GroupsPage {
    chrome: Chrome,
    groups: Vec<GroupRow>,
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
            .list_report_groups(account, ProjectSort::Name, true, after.as_ref(), PAGE_SIZE)
            .await?;
        let names: Vec<&str> = page.items.iter().map(String::as_str).collect();
        let mut groups = state.store.get_report_groups(account, &names).await?;
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        Ok::<_, kiln_store::StoreError>((groups, page.next))
    };
    let (groups, next) = match read.await {
        Ok(read) => read,
        Err(err) => return store_error_page(&session, &err),
    };
    let page = GroupsPage {
        chrome: session.chrome(),
        groups: groups.iter().map(GroupRow::of).collect(),
        next_url: next.map_or_else(String::new, |key| {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("after", &key.name);
            format!("/report-groups?{}", query.finish())
        }),
        first_url: if after.is_some() {
            "/report-groups".to_string()
        } else {
            String::new()
        },
    };
    view::render(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "report_group.html")]
struct GroupPage {
    chrome: Chrome,
    group: GroupRow,
    arn: String,
    reports: Vec<ReportLink>,
    charts: Vec<TrendChart>,
}

/// The charts of a group of `report_type`.
fn charts_of(
    report_type: ReportType,
    reports: &[kiln_domain::report::ReportRecord],
) -> Vec<TrendChart> {
    let specs = match report_type {
        ReportType::Test => [&trend_chart::PASS_RATE, &trend_chart::DURATION].as_slice(),
        ReportType::CodeCoverage => [&trend_chart::LINE_COVERAGE].as_slice(),
    };
    specs
        .iter()
        .filter_map(|spec| trend_chart::chart(spec, reports))
        .collect()
}

pub async fn details(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(name): Path<String>,
) -> Response {
    let account = &session.caller.account_id;
    let not_found = || {
        view::not_found_page(
            Some(&session),
            "Report group not found",
            "There is no such report group in this account.",
        )
    };
    if name.len() > MAX_NAME {
        return not_found();
    }
    let read = async {
        let group = state
            .store
            .get_report_groups(account, &[&name])
            .await?
            .pop();
        let reports = match &group {
            Some(_) => {
                state
                    .store
                    .report_group_trend(account, &name, LATEST_REPORTS)
                    .await?
            }
            None => Vec::new(),
        };
        Ok::<_, kiln_store::StoreError>((group, reports))
    };
    let (group, reports) = match read.await {
        Ok((Some(group), reports)) => (group, reports),
        Ok((None, _)) => return not_found(),
        Err(err) => return store_error_page(&session, &err),
    };
    let page = GroupPage {
        chrome: session.chrome(),
        arn: group.arn(&state.region),
        charts: charts_of(group.report_type, &reports),
        reports: reports.iter().map(ReportLink::of).collect(),
        group: GroupRow::of(&group),
    };
    view::render(StatusCode::OK, &page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::reports::tests::{coverage, record, tests};

    #[test]
    fn test_groups_chart_pass_rate_and_duration_coverage_groups_lines() {
        let reports = [record("a", tests(3, 1))];
        let titles: Vec<&str> = charts_of(ReportType::Test, &reports)
            .iter()
            .map(|c| c.title)
            .collect();
        assert_eq!(titles, ["Pass rate", "Duration"]);
        let reports = [record("a", coverage(3, 1))];
        let titles: Vec<&str> = charts_of(ReportType::CodeCoverage, &reports)
            .iter()
            .map(|c| c.title)
            .collect();
        assert_eq!(titles, ["Line coverage"]);
        assert!(charts_of(ReportType::Test, &[]).is_empty());
    }
}
