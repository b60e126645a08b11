//! Report groups, reports, test cases and code coverages as every backend stores them: the
//! columns written from a record and the row structs that read one back (see [`crate::records`]
//! for how the columns decode alike on SQLite and PostgreSQL).

use kiln_domain::refs::GitRef;
use kiln_domain::report::{
    CodeCoverage, CodeCoverageReportSummary, ReportGroupRecord, ReportRecord, ReportStatusType,
    ReportSummary, ReportType, TestCase, TestCaseStatus, TestReportSummary,
};
use sqlx::FromRow;

use crate::records::{RecordRow, from_json, git_ref_columns, to_json};
use crate::{CoverageKey, Page, StoreError, StoreResult, sql_int};

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt(what)
}

/// A stored count: never negative, so a negative one reads as 0.
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn report_type(name: &str) -> StoreResult<ReportType> {
    ReportType::from_name(name).ok_or_else(|| corrupt(format!("report type {name}")))
}

/// The `export_config` column of a group: its export configuration as JSON.
pub fn export_config_json(group: &ReportGroupRecord) -> StoreResult<String> {
    to_json(&group.export_config)
}

/// The `tags` column of a group: its tags as JSON.
pub fn tags_json(group: &ReportGroupRecord) -> StoreResult<String> {
    to_json(&group.tags)
}

/// The `ref_kind` and `ref_name` columns of a report: the ref its build checked out.
pub fn report_ref_columns(report: &ReportRecord) -> (Option<&'static str>, Option<&str>) {
    git_ref_columns(report.git_ref.as_ref())
}

/// The summary columns of `reports`: a test report's counts, or a coverage report's figures;
/// the other kind's columns are NULL.
#[derive(Debug, Default, PartialEq)]
pub struct SummaryColumns {
    pub total: Option<i64>,
    pub succeeded: Option<i64>,
    pub failed: Option<i64>,
    pub errored: Option<i64>,
    pub skipped: Option<i64>,
    pub unknown: Option<i64>,
    pub duration_ns: Option<i64>,
    pub line_coverage: Option<f64>,
    pub lines_covered: Option<i64>,
    pub lines_missed: Option<i64>,
    pub branch_coverage: Option<f64>,
    pub branches_covered: Option<i64>,
    pub branches_missed: Option<i64>,
}

impl SummaryColumns {
    pub fn of(summary: &ReportSummary) -> Self {
        match summary {
            ReportSummary::Test(s) => {
                let status_count = |status: TestCaseStatus| {
                    Some(sql_int(
                        s.status_counts.get(status.as_str()).copied().unwrap_or(0),
                    ))
                };
                SummaryColumns {
                    total: Some(sql_int(s.total)),
                    succeeded: status_count(TestCaseStatus::Succeeded),
                    failed: status_count(TestCaseStatus::Failed),
                    errored: status_count(TestCaseStatus::Error),
                    skipped: status_count(TestCaseStatus::Skipped),
                    unknown: status_count(TestCaseStatus::Unknown),
                    duration_ns: Some(sql_int(s.duration_in_nano_seconds)),
                    ..SummaryColumns::default()
                }
            }
            ReportSummary::CodeCoverage(s) => SummaryColumns {
                line_coverage: Some(s.line_coverage_percentage),
                lines_covered: Some(sql_int(s.lines_covered)),
                lines_missed: Some(sql_int(s.lines_missed)),
                branch_coverage: Some(s.branch_coverage_percentage),
                branches_covered: Some(sql_int(s.branches_covered)),
                branches_missed: Some(sql_int(s.branches_missed)),
                ..SummaryColumns::default()
            },
        }
    }
}

/// A summary column the report's type fills, read back.
fn filled<T>(value: Option<T>, column: &str) -> StoreResult<T> {
    value.ok_or_else(|| corrupt(format!("report {column} missing")))
}

/// A row of `report_groups`.
#[derive(FromRow)]
pub struct ReportGroupRow {
    account_id: String,
    name: String,
    report_type: String,
    export_config: String,
    tags: String,
    created: f64,
    last_modified: f64,
}

impl RecordRow for ReportGroupRow {
    type Record = ReportGroupRecord;

    fn into_record(self) -> StoreResult<ReportGroupRecord> {
        Ok(ReportGroupRecord {
            account_id: self.account_id,
            name: self.name,
            report_type: report_type(&self.report_type)?,
            export_config: from_json(&self.export_config)?,
            tags: from_json(&self.tags)?,
            created: self.created,
            last_modified: self.last_modified,
        })
    }
}

/// A row of `reports` (its `seq` stays with the backend).
#[derive(FromRow)]
pub struct ReportRow {
    arn: String,
    account_id: String,
    group_name: String,
    group_arn: String,
    name: String,
    report_type: String,
    execution_id: String,
    build_uuid: String,
    project_name: String,
    ref_kind: Option<String>,
    ref_name: Option<String>,
    build_start_time: f64,
    status: String,
    created: f64,
    truncated: bool,
    export_config: String,
    #[sqlx(flatten)]
    summary: SummaryRow,
}

/// The summary columns of a row of `reports`.
#[derive(FromRow)]
struct SummaryRow {
    total: Option<i64>,
    succeeded: Option<i64>,
    failed: Option<i64>,
    errored: Option<i64>,
    skipped: Option<i64>,
    unknown: Option<i64>,
    duration_ns: Option<i64>,
    line_coverage: Option<f64>,
    lines_covered: Option<i64>,
    lines_missed: Option<i64>,
    branch_coverage: Option<f64>,
    branches_covered: Option<i64>,
    branches_missed: Option<i64>,
}

impl SummaryRow {
    fn into_summary(self, report_type: ReportType) -> StoreResult<ReportSummary> {
        Ok(match report_type {
            ReportType::Test => {
                let status_counts = [
                    (TestCaseStatus::Succeeded, self.succeeded, "succeeded"),
                    (TestCaseStatus::Failed, self.failed, "failed"),
                    (TestCaseStatus::Error, self.errored, "errored"),
                    (TestCaseStatus::Skipped, self.skipped, "skipped"),
                    (TestCaseStatus::Unknown, self.unknown, "unknown"),
                ]
                .into_iter()
                .map(|(status, n, column)| Ok((status.as_str(), count(filled(n, column)?))))
                .collect::<StoreResult<_>>()?;
                ReportSummary::Test(TestReportSummary {
                    total: count(filled(self.total, "total")?),
                    status_counts,
                    duration_in_nano_seconds: count(filled(self.duration_ns, "duration_ns")?),
                })
            }
            ReportType::CodeCoverage => ReportSummary::CodeCoverage(CodeCoverageReportSummary {
                line_coverage_percentage: filled(self.line_coverage, "line_coverage")?,
                lines_covered: count(filled(self.lines_covered, "lines_covered")?),
                lines_missed: count(filled(self.lines_missed, "lines_missed")?),
                branch_coverage_percentage: filled(self.branch_coverage, "branch_coverage")?,
                branches_covered: count(filled(self.branches_covered, "branches_covered")?),
                branches_missed: count(filled(self.branches_missed, "branches_missed")?),
            }),
        })
    }
}

impl RecordRow for ReportRow {
    type Record = ReportRecord;

    fn into_record(self) -> StoreResult<ReportRecord> {
        let summary = self.summary.into_summary(report_type(&self.report_type)?)?;
        let git_ref = match (self.ref_kind.as_deref(), self.ref_name) {
            (Some("branch"), Some(name)) => Some(GitRef::Branch(name)),
            (Some("tag"), Some(name)) => Some(GitRef::Tag(name)),
            _ => None,
        };
        let status = ReportStatusType::from_name(&self.status)
            .ok_or_else(|| corrupt(format!("report status {}", self.status)))?;
        Ok(ReportRecord {
            arn: self.arn,
            account_id: self.account_id,
            group_name: self.group_name,
            group_arn: self.group_arn,
            name: self.name,
            execution_id: self.execution_id,
            build_uuid: self.build_uuid,
            project_name: self.project_name,
            git_ref,
            build_start_time: self.build_start_time,
            status,
            created: self.created,
            truncated: self.truncated,
            export_config: from_json(&self.export_config)?,
            summary,
        })
    }
}

/// A row of `report_test_cases`: the case and its place `n` in its report.
#[derive(FromRow)]
pub struct TestCaseRow {
    n: i64,
    prefix: String,
    name: String,
    status: String,
    duration_ns: i64,
    message: Option<String>,
    test_suite_name: Option<String>,
    test_raw_data_path: Option<String>,
}

impl RecordRow for TestCaseRow {
    type Record = (i64, TestCase);

    fn into_record(self) -> StoreResult<(i64, TestCase)> {
        let status = TestCaseStatus::from_name(&self.status)
            .ok_or_else(|| corrupt(format!("test case status {}", self.status)))?;
        let case = TestCase {
            prefix: self.prefix,
            name: self.name,
            status,
            duration_in_nano_seconds: count(self.duration_ns),
            message: self.message,
            test_suite_name: self.test_suite_name,
            test_raw_data_path: self.test_raw_data_path,
        };
        Ok((self.n, case))
    }
}

/// A row of `report_code_coverages`: the file's coverage and its place `n` in its report.
#[derive(FromRow)]
pub struct CodeCoverageRow {
    n: i64,
    file_path: String,
    line_coverage: f64,
    lines_covered: i64,
    lines_missed: i64,
    branch_coverage: f64,
    branches_covered: i64,
    branches_missed: i64,
}

impl RecordRow for CodeCoverageRow {
    type Record = (i64, CodeCoverage);

    fn into_record(self) -> StoreResult<(i64, CodeCoverage)> {
        let file = CodeCoverage {
            file_path: self.file_path,
            line_coverage_percentage: self.line_coverage,
            lines_covered: count(self.lines_covered),
            lines_missed: count(self.lines_missed),
            branch_coverage_percentage: self.branch_coverage,
            branches_covered: count(self.branches_covered),
            branches_missed: count(self.branches_missed),
        };
        Ok((self.n, file))
    }
}

/// A page of report ARNs from rows of `(arn, seq)`.
pub fn report_page(rows: Vec<(String, i64)>, limit: u64) -> Page<String, i64> {
    Page::from_overfetched(rows, limit, |(arn, _)| arn.clone(), |(_, seq)| *seq)
}

/// A page of a report's test cases, keyed by their place in it.
pub fn test_case_page(rows: Vec<TestCaseRow>, limit: u64) -> StoreResult<Page<TestCase, i64>> {
    let cases = rows
        .into_iter()
        .map(RecordRow::into_record)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Page::from_overfetched(
        cases,
        limit,
        |(_, case)| case.clone(),
        |(n, _)| *n,
    ))
}

/// A page of a report's code coverages, keyed for either sort (see [`CoverageKey`]).
pub fn code_coverage_page(
    rows: Vec<CodeCoverageRow>,
    limit: u64,
) -> StoreResult<Page<(i64, CodeCoverage), CoverageKey>> {
    let files = rows
        .into_iter()
        .map(RecordRow::into_record)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Page::from_overfetched(
        files,
        limit,
        Clone::clone,
        |(n, file)| CoverageKey {
            line_coverage: file.line_coverage_percentage,
            file_path: file.file_path.clone(),
            n: *n,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_columns_read_back_as_the_summary() {
        let summary = ReportSummary::Test(TestReportSummary {
            total: 3,
            status_counts: [("SUCCEEDED", 2), ("FAILED", 1)].into_iter().collect(),
            duration_in_nano_seconds: 7,
        });
        let row = row_of(&SummaryColumns::of(&summary));
        let ReportSummary::Test(read) = row.into_summary(ReportType::Test).unwrap() else {
            panic!("a test report's summary");
        };
        assert_eq!(read.total, 3);
        assert_eq!(read.status_counts.get("SUCCEEDED"), Some(&2));
        assert_eq!(read.status_counts.get("ERROR"), Some(&0));
        let coverage = SummaryRow {
            line_coverage: None,
            ..row_of(&SummaryColumns::default())
        };
        assert!(matches!(
            coverage.into_summary(ReportType::CodeCoverage),
            Err(StoreError::Corrupt(_))
        ));
    }

    fn row_of(c: &SummaryColumns) -> SummaryRow {
        SummaryRow {
            total: c.total,
            succeeded: c.succeeded,
            failed: c.failed,
            errored: c.errored,
            skipped: c.skipped,
            unknown: c.unknown,
            duration_ns: c.duration_ns,
            line_coverage: c.line_coverage,
            lines_covered: c.lines_covered,
            lines_missed: c.lines_missed,
            branch_coverage: c.branch_coverage,
            branches_covered: c.branches_covered,
            branches_missed: c.branches_missed,
        }
    }
}
