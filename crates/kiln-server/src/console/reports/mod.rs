//! Report pages: the account's report groups, a group's latest reports with their trend, and
//! one report (its test cases, or its code coverage per file). The pages read the store
//! directly, always for the signed-in account: another account's group or report is not found.

mod badges;
mod coverage;
mod group;
mod test_cases;
mod trend_chart;

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use kiln_domain::report::{
    ReportRecord, ReportStatusType, ReportSummary, TestCaseStatus, report_arn,
};
use kiln_domain::shapes::Build;
use serde::Deserialize;

use super::session::Session;
use super::view;
use crate::state::AppState;

pub use badges::{ReportBadge, report_badges};
pub use group::{details as group_details, list as group_list};

/// A report as a row of a list: the build page's, a group page's.
pub struct ReportLink {
    pub group: String,
    pub group_url: String,
    pub kind: &'static str,
    pub status: String,
    pub status_class: &'static str,
    pub summary: String,
    pub url: String,
    pub build: String,
    pub build_url: String,
    pub created: String,
}

impl ReportLink {
    pub fn of(report: &ReportRecord) -> ReportLink {
        let status = report.status.as_str();
        ReportLink {
            group: report.group_name.clone(),
            group_url: group_url(&report.group_name),
            kind: kind_label(&report.summary),
            status: view::status_label(status),
            status_class: view::status_class(status),
            summary: summary_text(&report.summary),
            url: report_url(report),
            build: format!("{}:{}", report.project_name, report.build_uuid),
            build_url: format!(
                "/projects/{}/builds/{}",
                report.project_name, report.build_uuid
            ),
            created: view::format_time(report.created),
        }
    }

    /// The row without links: the report pages are the signed-in account's only.
    pub fn unlinked(self) -> ReportLink {
        ReportLink {
            group_url: String::new(),
            url: String::new(),
            build_url: String::new(),
            ..self
        }
    }
}

pub fn group_url(group: &str) -> String {
    format!("/report-groups/{group}")
}

pub fn report_url(report: &ReportRecord) -> String {
    format!(
        "/report-groups/{}/reports/{}",
        report.group_name, report.build_uuid
    )
}

fn kind_label(summary: &ReportSummary) -> &'static str {
    match summary {
        ReportSummary::Test(_) => "Test",
        ReportSummary::CodeCoverage(_) => "Code coverage",
    }
}

/// The statuses in the order a report lists its cases: what needs attention first.
const CASE_ORDER: [TestCaseStatus; 5] = [
    TestCaseStatus::Failed,
    TestCaseStatus::Error,
    TestCaseStatus::Succeeded,
    TestCaseStatus::Skipped,
    TestCaseStatus::Unknown,
];

/// The statuses in the order a summary counts them.
const SUMMARY_ORDER: [TestCaseStatus; 5] = [
    TestCaseStatus::Succeeded,
    TestCaseStatus::Failed,
    TestCaseStatus::Error,
    TestCaseStatus::Skipped,
    TestCaseStatus::Unknown,
];

fn case_status_word(status: TestCaseStatus) -> &'static str {
    match status {
        TestCaseStatus::Succeeded => "passed",
        TestCaseStatus::Failed => "failed",
        TestCaseStatus::Error => "errored",
        TestCaseStatus::Skipped => "skipped",
        TestCaseStatus::Unknown => "unknown",
    }
}

/// "120 passed, 2 failed" (statuses without cases left out); "87.5% lines, 50% branches".
pub fn summary_text(summary: &ReportSummary) -> String {
    match summary {
        ReportSummary::Test(s) => {
            let parts: Vec<String> = SUMMARY_ORDER
                .iter()
                .filter_map(|status| {
                    let count = s.status_counts.get(status.as_str()).copied().unwrap_or(0);
                    (count > 0).then(|| format!("{count} {}", case_status_word(*status)))
                })
                .collect();
            if parts.is_empty() {
                "No test cases".to_string()
            } else {
                parts.join(", ")
            }
        }
        ReportSummary::CodeCoverage(s) => {
            let mut text = format!("{}% lines", percent(s.line_coverage_percentage));
            if s.branches_covered + s.branches_missed > 0 {
                text.push_str(&format!(
                    ", {}% branches",
                    percent(s.branch_coverage_percentage)
                ));
            }
            text
        }
    }
}

/// A percentage with at most one decimal: `87.5`, `100`.
pub fn percent(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

/// The reports a build made (its `reportArns`), in the build's order.
pub async fn of_build(state: &AppState, account_id: &str, build: &Build) -> Vec<ReportLink> {
    let arns: Vec<&str> = build
        .report_arns
        .iter()
        .map(String::as_str)
        .take(100)
        .collect();
    if arns.is_empty() {
        return Vec::new();
    }
    match state.store.get_reports(account_id, &arns).await {
        Ok(reports) => arns
            .iter()
            .filter_map(|arn| reports.iter().find(|r| r.arn == *arn))
            .map(ReportLink::of)
            .collect(),
        Err(err) => {
            tracing::error!(error = %err, "cannot read a build's reports");
            Vec::new()
        }
    }
}

/// What a report page's address may carry: the test case filter and page, or the coverage
/// order and page. Unknown or malformed values fall back to the defaults.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ReportParams {
    status: String,
    q: String,
    after: String,
    sort: String,
    order: String,
    after_n: String,
    after_path: String,
    after_line: String,
}

pub async fn details(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path((group, uuid)): Path<(String, String)>,
    Query(params): Query<ReportParams>,
) -> Response {
    let account = &session.caller.account_id;
    let arn = report_arn(&state.region, account, &group, &uuid);
    let report = match state.store.get_reports(account, &[&arn]).await {
        Ok(mut reports) => reports.pop(),
        Err(err) => return store_error_page(&session, &err),
    };
    let Some(report) = report else {
        return view::not_found_page(
            Some(&session),
            "Report not found",
            "There is no such report in this account.",
        );
    };
    match &report.summary {
        ReportSummary::Test(_) => test_cases::page(&state, &session, &report, &params).await,
        ReportSummary::CodeCoverage(_) => coverage::page(&state, &session, &report, &params).await,
    }
}

pub(super) fn store_error_page(session: &Session, err: &kiln_store::StoreError) -> Response {
    tracing::error!(error = %err, "console cannot read reports");
    let status = if err.is_unavailable() {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    } else {
        axum::http::StatusCode::INTERNAL_SERVER_ERROR
    };
    view::error_page(
        Some(session),
        status,
        "Reports unavailable",
        "The reports cannot be read right now. Try again later.",
    )
}

/// The page's heading facts, shared by both kinds of report.
pub struct ReportHead {
    pub group: String,
    pub group_url: String,
    pub status: String,
    pub status_label: String,
    pub status_class: &'static str,
    pub build: String,
    pub build_url: String,
    pub created: String,
    pub truncated: bool,
    /// Why the report may miss files.
    pub incomplete: bool,
    pub url: String,
}

impl ReportHead {
    fn of(report: &ReportRecord) -> ReportHead {
        let link = ReportLink::of(report);
        let status = report.status.as_str();
        ReportHead {
            group: link.group,
            group_url: link.group_url,
            status: status.to_string(),
            status_label: link.status,
            status_class: link.status_class,
            build: link.build,
            build_url: link.build_url,
            created: link.created,
            truncated: report.truncated,
            incomplete: report.status == ReportStatusType::Incomplete,
            url: link.url,
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use kiln_domain::report::{
        CodeCoverage, CodeCoverageReportSummary, ReportExportConfig, TestCase, TestReportSummary,
    };

    pub fn case(name: &str, status: TestCaseStatus) -> TestCase {
        TestCase {
            prefix: "suite".into(),
            name: name.into(),
            status,
            duration_in_nano_seconds: 2_000_000,
            message: None,
            test_suite_name: None,
            test_raw_data_path: None,
        }
    }

    pub fn record(uuid: &str, summary: ReportSummary) -> ReportRecord {
        ReportRecord {
            arn: report_arn("r", "1", "g", uuid),
            account_id: "1".into(),
            group_name: "g".into(),
            group_arn: "arn:aws:codebuild:r:1:report-group/g".into(),
            name: "g".into(),
            execution_id: format!("arn:aws:codebuild:r:1:build/p:{uuid}"),
            build_uuid: uuid.into(),
            project_name: "p".into(),
            git_ref: None,
            build_start_time: 0.0,
            status: ReportStatusType::Failed,
            created: 0.0,
            truncated: false,
            export_config: ReportExportConfig::no_export(),
            summary,
        }
    }

    pub fn tests(passed: usize, failed: usize) -> ReportSummary {
        let mut cases = vec![case("ok", TestCaseStatus::Succeeded); passed];
        cases.extend(vec![case("bad", TestCaseStatus::Failed); failed]);
        ReportSummary::Test(TestReportSummary::of(&cases))
    }

    pub fn coverage(covered: u64, missed: u64) -> ReportSummary {
        ReportSummary::CodeCoverage(CodeCoverageReportSummary::of(&[CodeCoverage {
            file_path: "a.rs".into(),
            line_coverage_percentage: 0.0,
            lines_covered: covered,
            lines_missed: missed,
            branch_coverage_percentage: 0.0,
            branches_covered: 0,
            branches_missed: 0,
        }]))
    }

    #[test]
    fn summaries_read_as_counts_and_percentages() {
        assert_eq!(summary_text(&tests(120, 2)), "120 passed, 2 failed");
        assert_eq!(summary_text(&tests(0, 0)), "No test cases");
        assert_eq!(summary_text(&coverage(7, 1)), "87.5% lines");
        assert_eq!(percent(100.0), "100");
        assert_eq!(percent(33.333), "33.3");
    }

    #[test]
    fn links_name_the_group_report_and_build() {
        let link = ReportLink::of(&record("u-1", tests(1, 1)));
        assert_eq!(link.url, "/report-groups/g/reports/u-1");
        assert_eq!(link.group_url, "/report-groups/g");
        assert_eq!(link.build_url, "/projects/p/builds/u-1");
        assert_eq!(link.kind, "Test");
        assert_eq!(link.status_class, "bad");
    }
}
