//! What the report methods of [`crate::Store`] take and give besides the domain's records.

use kiln_domain::report::{ReportCodeCoverageSortByType, ReportStatusType, TestCaseStatus};

/// What [`crate::Store::delete_report_group`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletedReportGroup {
    Deleted,
    NotFound,
    /// The group still holds reports and they were not to be deleted: nothing changed.
    HasReports,
}

/// `DescribeTestCases`' filter: both parts must match. `keyword` is a substring of the case's
/// name or prefix (case-sensitive).
#[derive(Debug, Clone, Copy, Default)]
pub struct TestCaseQuery<'a> {
    pub status: Option<TestCaseStatus>,
    pub keyword: Option<&'a str>,
}

/// `DescribeCodeCoverages`' order and line coverage bounds (inclusive).
#[derive(Debug, Clone, Copy)]
pub struct CoverageQuery {
    pub sort: ReportCodeCoverageSortByType,
    pub ascending: bool,
    pub min_line_coverage: f64,
    pub max_line_coverage: f64,
}

/// Where a page of code coverages ends: the last file's line coverage (unused when sorting by
/// path), path and place in its report.
#[derive(Debug, Clone, PartialEq)]
pub struct CoverageKey {
    pub line_coverage: f64,
    pub file_path: String,
    pub n: i64,
}

/// Which reports [`crate::Store::list_reports`] lists.
#[derive(Debug, Clone, Copy)]
pub struct ReportQuery<'a> {
    /// One group's reports, or the whole account's.
    pub group_name: Option<&'a str>,
    pub status: Option<ReportStatusType>,
    pub ascending: bool,
}

/// Selects the reports of the latest completed build on a branch or tag, for a badge.
#[derive(Debug, Clone, Copy)]
pub struct BranchReports<'a> {
    pub account_id: &'a str,
    pub project_name: &'a str,
    pub git_ref: &'a kiln_domain::refs::GitRef,
    pub report_type: kiln_domain::report::ReportType,
    pub group_name: Option<&'a str>,
}
