//! The parsed results, named after botocore's CodeBuild shapes (`TestCase`, `TestReportSummary`,
//! `CodeCoverage`, `CodeCoverageReportSummary`) and enums (`ReportType`, `ReportStatusType`,
//! `ReportCodeCoverageSortByType`); serialized with the model's camelCase member names.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::limits::{KeptBytes, truncate};
use crate::{Limits, ReportError};

/// `ReportType`: what a report group holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReportType {
    Test,
    CodeCoverage,
}

/// `ReportStatusType`: the status of one report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReportStatusType {
    Generating,
    Succeeded,
    Failed,
    Incomplete,
    Deleting,
}

impl ReportStatusType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Generating => "GENERATING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Incomplete => "INCOMPLETE",
            Self::Deleting => "DELETING",
        }
    }
}

/// `ReportCodeCoverageSortByType`: the orders `DescribeCodeCoverages` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReportCodeCoverageSortByType {
    LineCoveragePercentage,
    FilePath,
}

impl ReportCodeCoverageSortByType {
    /// Sorts ascending by this key (ties by file path, so the order is total).
    pub fn sort(self, files: &mut [CodeCoverage]) {
        match self {
            Self::FilePath => files.sort_by(|a, b| a.file_path.cmp(&b.file_path)),
            Self::LineCoveragePercentage => files.sort_by(|a, b| {
                a.line_coverage_percentage
                    .total_cmp(&b.line_coverage_percentage)
                    .then_with(|| a.file_path.cmp(&b.file_path))
            }),
        }
    }
}

/// `TestCase.status`: the model documents exactly these five values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TestCaseStatus {
    Succeeded,
    Failed,
    Error,
    Skipped,
    Unknown,
}

impl TestCaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Error => "ERROR",
            Self::Skipped => "SKIPPED",
            Self::Unknown => "UNKNOWN",
        }
    }
}

/// One test case (`TestCase` without the store's `reportArn` and `expired`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestCase {
    /// The suite or class the case belongs to.
    pub prefix: String,
    pub name: String,
    pub status: TestCaseStatus,
    pub duration_in_nano_seconds: u64,
    /// Failure, error or skip text; `None` when the file gives none.
    pub message: Option<String>,
    pub test_suite_name: Option<String>,
    /// The report file the case came from, as the build recorded it; set when the build's
    /// files are gathered into a report (parsers know no path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_raw_data_path: Option<String>,
}

/// `TestReportSummary`, computed from the cases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestReportSummary {
    pub total: u64,
    /// Status string to count; every status present, zeros included, as CodeBuild returns.
    pub status_counts: BTreeMap<&'static str, u64>,
    pub duration_in_nano_seconds: u64,
}

impl TestReportSummary {
    pub fn of(cases: &[TestCase]) -> Self {
        let mut status_counts: BTreeMap<&'static str, u64> = [
            TestCaseStatus::Succeeded,
            TestCaseStatus::Failed,
            TestCaseStatus::Error,
            TestCaseStatus::Skipped,
            TestCaseStatus::Unknown,
        ]
        .into_iter()
        .map(|s| (s.as_str(), 0))
        .collect();
        let mut duration: u64 = 0;
        for case in cases {
            *status_counts.entry(case.status.as_str()).or_default() += 1;
            duration = duration.saturating_add(case.duration_in_nano_seconds);
        }
        Self {
            total: cases.len() as u64,
            status_counts,
            duration_in_nano_seconds: duration,
        }
    }

    /// The report's status: FAILED when any case failed or errored, else SUCCEEDED.
    pub fn report_status(&self) -> ReportStatusType {
        let bad = |s: TestCaseStatus| self.status_counts.get(s.as_str()).copied().unwrap_or(0);
        if bad(TestCaseStatus::Failed) + bad(TestCaseStatus::Error) > 0 {
            ReportStatusType::Failed
        } else {
            ReportStatusType::Succeeded
        }
    }
}

/// Read back (from an agent) as its cases alone: the summary is computed again from them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "TestCases")]
pub struct TestReport {
    pub cases: Vec<TestCase>,
    pub summary: TestReportSummary,
}

/// One source file's coverage (`CodeCoverage` without `id`, `reportARN`, `expired`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeCoverage {
    pub file_path: String,
    pub line_coverage_percentage: f64,
    pub lines_covered: u64,
    pub lines_missed: u64,
    pub branch_coverage_percentage: f64,
    pub branches_covered: u64,
    pub branches_missed: u64,
}

/// `CodeCoverageReportSummary`, computed from the files.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeCoverageReportSummary {
    pub line_coverage_percentage: f64,
    pub lines_covered: u64,
    pub lines_missed: u64,
    pub branch_coverage_percentage: f64,
    pub branches_covered: u64,
    pub branches_missed: u64,
}

impl CodeCoverageReportSummary {
    pub fn of(files: &[CodeCoverage]) -> Self {
        let mut counts = Counts::default();
        for f in files {
            counts.add(&Counts {
                lines_covered: f.lines_covered,
                lines_missed: f.lines_missed,
                branches_covered: f.branches_covered,
                branches_missed: f.branches_missed,
            });
        }
        Self {
            line_coverage_percentage: percentage(counts.lines_covered, counts.lines_missed),
            lines_covered: counts.lines_covered,
            lines_missed: counts.lines_missed,
            branch_coverage_percentage: percentage(counts.branches_covered, counts.branches_missed),
            branches_covered: counts.branches_covered,
            branches_missed: counts.branches_missed,
        }
    }
}

/// Read back (from an agent) as its files alone: the summary is computed again from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "CoverageFiles")]
pub struct CoverageReport {
    /// Sorted by file path.
    pub files: Vec<CodeCoverage>,
    pub summary: CodeCoverageReportSummary,
}

/// covered / (covered + missed) in percent, rounded to 2 decimals; 0 when there is nothing to
/// cover (a file without branches has 0 % branch coverage, as nothing is known).
fn percentage(covered: u64, missed: u64) -> f64 {
    let all = covered as f64 + missed as f64;
    if all == 0.0 {
        return 0.0;
    }
    (covered as f64 * 10_000.0 / all).round() / 100.0
}

/// Collects test cases under the limits: fields truncated, at most `max_items` cases and
/// `max_kept_bytes` of text.
pub(crate) struct CaseSink<'l> {
    cases: Vec<TestCase>,
    kept: KeptBytes,
    limits: &'l Limits,
}

impl<'l> CaseSink<'l> {
    pub(crate) fn new(limits: &'l Limits) -> Self {
        Self {
            cases: Vec::new(),
            kept: KeptBytes::new(limits),
            limits,
        }
    }

    /// Counts text a parser keeps beside the cases (TRX's test ids) against `max_kept_bytes`.
    pub(crate) fn keep(&mut self, bytes: usize, line: u64) -> Result<(), ReportError> {
        self.kept.take(bytes, line)
    }

    /// Adds a case; `line` is where it is, for the limit error.
    pub(crate) fn push(&mut self, case: TestCase, line: u64) -> Result<(), ReportError> {
        if self.cases.len() >= self.limits.max_items {
            return Err(ReportError::Limit {
                line,
                message: format!(
                    "more than the limit of {} test cases",
                    self.limits.max_items
                ),
            });
        }
        let field = |s: String| truncate(s, self.limits.max_field_bytes);
        let message = case
            .message
            .map(|m| truncate(m.trim().to_owned(), self.limits.max_message_bytes))
            .filter(|m| !m.is_empty());
        let case = TestCase {
            prefix: field(case.prefix),
            name: field(case.name),
            message,
            test_suite_name: case.test_suite_name.map(field),
            ..case
        };
        let bytes = case.prefix.len()
            + case.name.len()
            + case.message.as_ref().map_or(0, String::len)
            + case.test_suite_name.as_ref().map_or(0, String::len);
        self.kept.take(bytes, line)?;
        self.cases.push(case);
        Ok(())
    }

    /// How many cases are kept.
    pub(crate) fn len(&self) -> usize {
        self.cases.len()
    }

    /// Sets the prefix of the cases kept since the first `from` (a Cucumber feature's name,
    /// which may come after its scenarios), counting each copy against `max_kept_bytes`.
    pub(crate) fn set_prefixes(
        &mut self,
        from: usize,
        prefix: String,
        line: u64,
    ) -> Result<(), ReportError> {
        let prefix = truncate(prefix, self.limits.max_field_bytes);
        let cases = self.cases.get_mut(from..).unwrap_or_default();
        self.kept
            .take(prefix.len().saturating_mul(cases.len()), line)?;
        for case in cases {
            case.prefix.clone_from(&prefix);
        }
        Ok(())
    }

    pub(crate) fn cases_mut(&mut self) -> &mut [TestCase] {
        &mut self.cases
    }

    pub(crate) fn finish(self) -> TestReport {
        TestReport {
            summary: TestReportSummary::of(&self.cases),
            cases: self.cases,
        }
    }
}

/// Line and branch counts of one file or of a whole report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) lines_covered: u64,
    pub(crate) lines_missed: u64,
    pub(crate) branches_covered: u64,
    pub(crate) branches_missed: u64,
}

impl Counts {
    pub(crate) fn add(&mut self, other: &Counts) {
        self.lines_covered = self.lines_covered.saturating_add(other.lines_covered);
        self.lines_missed = self.lines_missed.saturating_add(other.lines_missed);
        self.branches_covered = self.branches_covered.saturating_add(other.branches_covered);
        self.branches_missed = self.branches_missed.saturating_add(other.branches_missed);
    }
}

/// Collects per-file counts under the limits (at most `max_items` files and `max_kept_bytes` of
/// paths); a path seen twice (two classes of one file) adds up.
pub(crate) struct FileSink<'l> {
    files: BTreeMap<String, Counts>,
    kept: KeptBytes,
    limits: &'l Limits,
}

impl<'l> FileSink<'l> {
    pub(crate) fn new(limits: &'l Limits) -> Self {
        Self {
            files: BTreeMap::new(),
            kept: KeptBytes::new(limits),
            limits,
        }
    }

    pub(crate) fn add(
        &mut self,
        path: String,
        counts: &Counts,
        line: u64,
    ) -> Result<(), ReportError> {
        let path = truncate(path, self.limits.max_field_bytes);
        if let Some(existing) = self.files.get_mut(&path) {
            existing.add(counts);
            return Ok(());
        }
        if self.files.len() >= self.limits.max_items {
            return Err(ReportError::Limit {
                line,
                message: format!("more than the limit of {} files", self.limits.max_items),
            });
        }
        self.kept.take(path.len(), line)?;
        self.files.insert(path, *counts);
        Ok(())
    }

    pub(crate) fn finish(self) -> CoverageReport {
        let files: Vec<CodeCoverage> = self
            .files
            .into_iter()
            .map(|(file_path, c)| CodeCoverage {
                file_path,
                line_coverage_percentage: percentage(c.lines_covered, c.lines_missed),
                lines_covered: c.lines_covered,
                lines_missed: c.lines_missed,
                branch_coverage_percentage: percentage(c.branches_covered, c.branches_missed),
                branches_covered: c.branches_covered,
                branches_missed: c.branches_missed,
            })
            .collect();
        CoverageReport {
            summary: CodeCoverageReportSummary::of(&files),
            files,
        }
    }
}

/// A case's message from a short headline (an attribute, an exception type) and a body (text,
/// a stack trace): both joined by a newline, the headline dropped when the body repeats it.
pub(crate) fn join_message(headline: Option<&str>, body: &str) -> Option<String> {
    let headline = headline.map(str::trim).filter(|h| !h.is_empty());
    let body = body.trim();
    match headline {
        Some(h) if !body.contains(h) && !body.is_empty() => Some(format!("{h}\n{body}")),
        Some(h) if body.is_empty() => Some(h.to_owned()),
        _ if body.is_empty() => None,
        _ => Some(body.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(status: TestCaseStatus, ns: u64) -> TestCase {
        TestCase {
            prefix: "p".into(),
            name: "n".into(),
            status,
            duration_in_nano_seconds: ns,
            message: None,
            test_suite_name: None,
            test_raw_data_path: None,
        }
    }

    #[test]
    fn summary_counts_and_status() {
        let s = TestReportSummary::of(&[
            case(TestCaseStatus::Succeeded, 5),
            case(TestCaseStatus::Skipped, u64::MAX),
        ]);
        assert_eq!(s.total, 2);
        assert_eq!(s.status_counts["SUCCEEDED"], 1);
        assert_eq!(s.status_counts["FAILED"], 0);
        assert_eq!(s.duration_in_nano_seconds, u64::MAX);
        assert_eq!(s.report_status(), ReportStatusType::Succeeded);
        let s = TestReportSummary::of(&[case(TestCaseStatus::Error, 0)]);
        assert_eq!(s.report_status(), ReportStatusType::Failed);
    }

    #[test]
    fn percentages() {
        assert_eq!(percentage(1, 2), 33.33);
        assert_eq!(percentage(0, 0), 0.0);
        assert_eq!(percentage(u64::MAX, u64::MAX), 50.0);
    }

    #[test]
    fn sink_limits() {
        let limits = Limits {
            max_items: 1,
            max_field_bytes: 2,
            max_message_bytes: 3,
            ..Limits::default()
        };
        let mut sink = CaseSink::new(&limits);
        let mut c = case(TestCaseStatus::Failed, 0);
        c.name = "long".into();
        c.message = Some("  abcdef ".into());
        sink.push(c.clone(), 1).unwrap();
        assert!(matches!(
            sink.push(c, 7),
            Err(ReportError::Limit { line: 7, .. })
        ));
        let report = sink.finish();
        assert_eq!(report.cases[0].name, "lo");
        assert_eq!(report.cases[0].message.as_deref(), Some("abc"));
    }

    #[test]
    fn sinks_count_kept_bytes() {
        let limits = Limits {
            max_kept_bytes: 10,
            ..Limits::default()
        };
        let mut sink = CaseSink::new(&limits);
        let mut c = case(TestCaseStatus::Failed, 0); // "p" + "n"
        c.message = Some("  abcdef ".into()); // kept trimmed: 6
        sink.push(c.clone(), 1).unwrap();
        sink.keep(2, 2).unwrap();
        let err = sink.push(c, 9).unwrap_err();
        assert!(matches!(err, ReportError::Limit { line: 9, .. }), "{err:?}");
        assert!(err.message().contains("limit of 10 bytes"), "{err:?}");

        let mut files = FileSink::new(&limits);
        files.add("abcdefgh".into(), &Counts::default(), 1).unwrap();
        // The same path again adds up and keeps nothing new.
        files.add("abcdefgh".into(), &Counts::default(), 2).unwrap();
        let err = files.add("xyz".into(), &Counts::default(), 3).unwrap_err();
        assert!(matches!(err, ReportError::Limit { line: 3, .. }), "{err:?}");
    }

    #[test]
    fn sorts_coverage() {
        let limits = Limits::default();
        let mut sink = FileSink::new(&limits);
        let c = |covered, missed| Counts {
            lines_covered: covered,
            lines_missed: missed,
            ..Counts::default()
        };
        sink.add("b".into(), &c(1, 0), 1).unwrap();
        sink.add("a".into(), &c(0, 1), 1).unwrap();
        sink.add("a".into(), &c(1, 0), 1).unwrap();
        let mut files = sink.finish().files;
        ReportCodeCoverageSortByType::LineCoveragePercentage.sort(&mut files);
        assert_eq!(files[0].file_path, "a");
        assert_eq!(files[0].line_coverage_percentage, 50.0);
    }
}

/// What a [`TestReport`] is read back from.
#[derive(Deserialize)]
struct TestCases {
    cases: Vec<TestCase>,
}

impl From<TestCases> for TestReport {
    fn from(read: TestCases) -> Self {
        TestReport {
            summary: TestReportSummary::of(&read.cases),
            cases: read.cases,
        }
    }
}

/// What a [`CoverageReport`] is read back from.
#[derive(Deserialize)]
struct CoverageFiles {
    files: Vec<CodeCoverage>,
}

impl From<CoverageFiles> for CoverageReport {
    fn from(read: CoverageFiles) -> Self {
        CoverageReport {
            summary: CodeCoverageReportSummary::of(&read.files),
            files: read.files,
        }
    }
}
