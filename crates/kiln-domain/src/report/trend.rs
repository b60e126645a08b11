//! `GetReportGroupTrend`: one value per report, and their average, maximum and minimum.

use serde_json::{Value, json};

use super::{ReportRecord, ReportSummary, TestCaseStatus};

/// `ReportGroupTrendFieldType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrendField {
    PassRate,
    Duration,
    Total,
    LineCoverage,
    LinesCovered,
    LinesMissed,
    BranchCoverage,
    BranchesCovered,
    BranchesMissed,
}

/// The fields by API name.
pub const TREND_FIELDS: &[(&str, TrendField)] = &[
    ("PASS_RATE", TrendField::PassRate),
    ("DURATION", TrendField::Duration),
    ("TOTAL", TrendField::Total),
    ("LINE_COVERAGE", TrendField::LineCoverage),
    ("LINES_COVERED", TrendField::LinesCovered),
    ("LINES_MISSED", TrendField::LinesMissed),
    ("BRANCH_COVERAGE", TrendField::BranchCoverage),
    ("BRANCHES_COVERED", TrendField::BranchesCovered),
    ("BRANCHES_MISSED", TrendField::BranchesMissed),
];

impl TrendField {
    pub fn from_name(name: &str) -> Option<Self> {
        TREND_FIELDS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
    }

    /// The field's value for one report; `None` when the report is of the other type.
    /// PASS_RATE is succeeded / total in percent; DURATION is in milliseconds, as the console
    /// shows it.
    fn value(self, summary: &ReportSummary) -> Option<f64> {
        match (self, summary) {
            (Self::PassRate, ReportSummary::Test(s)) => {
                let passed = s
                    .status_counts
                    .get(TestCaseStatus::Succeeded.as_str())
                    .copied()
                    .unwrap_or(0);
                Some(if s.total == 0 {
                    0.0
                } else {
                    passed as f64 * 100.0 / s.total as f64
                })
            }
            (Self::Duration, ReportSummary::Test(s)) => {
                Some((s.duration_in_nano_seconds / 1_000_000) as f64)
            }
            (Self::Total, ReportSummary::Test(s)) => Some(s.total as f64),
            (Self::LineCoverage, ReportSummary::CodeCoverage(s)) => {
                Some(s.line_coverage_percentage)
            }
            (Self::LinesCovered, ReportSummary::CodeCoverage(s)) => Some(s.lines_covered as f64),
            (Self::LinesMissed, ReportSummary::CodeCoverage(s)) => Some(s.lines_missed as f64),
            (Self::BranchCoverage, ReportSummary::CodeCoverage(s)) => {
                Some(s.branch_coverage_percentage)
            }
            (Self::BranchesCovered, ReportSummary::CodeCoverage(s)) => {
                Some(s.branches_covered as f64)
            }
            (Self::BranchesMissed, ReportSummary::CodeCoverage(s)) => {
                Some(s.branches_missed as f64)
            }
            _ => None,
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A number as the trend's strings show it: whole numbers without a fraction, others with at
/// most two decimals.
fn shown(x: f64) -> String {
    let x = round2(x);
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// `GetReportGroupTrendOutput` over `reports` (newest first): `rawData` holds each report's
/// value, `stats` their average, maximum and minimum; no stats when no report has the field.
pub fn trend(field: TrendField, reports: &[ReportRecord]) -> Value {
    let values: Vec<(&str, f64)> = reports
        .iter()
        .filter_map(|r| field.value(&r.summary).map(|v| (r.arn.as_str(), v)))
        .collect();
    let raw: Vec<Value> = values
        .iter()
        .map(|(arn, v)| json!({"reportArn": arn, "data": shown(*v)}))
        .collect();
    let mut out = json!({ "rawData": raw });
    if !values.is_empty() {
        let sum: f64 = values.iter().map(|(_, v)| v).sum();
        let max = values.iter().map(|(_, v)| *v).fold(f64::MIN, f64::max);
        let min = values.iter().map(|(_, v)| *v).fold(f64::MAX, f64::min);
        out["stats"] = json!({
            "average": shown(sum / values.len() as f64),
            "max": shown(max),
            "min": shown(min),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{
        CodeCoverageReportSummary, ReportExportConfig, ReportStatusType, TestCase,
        TestReportSummary,
    };

    fn report(arn: &str, summary: ReportSummary) -> ReportRecord {
        ReportRecord {
            arn: arn.into(),
            account_id: "1".into(),
            group_name: "g".into(),
            group_arn: "ga".into(),
            name: "g".into(),
            execution_id: "b".into(),
            build_uuid: "u".into(),
            project_name: "p".into(),
            git_ref: None,
            build_start_time: 0.0,
            status: ReportStatusType::Succeeded,
            created: 0.0,
            truncated: false,
            export_config: ReportExportConfig::no_export(),
            summary,
        }
    }

    fn tests(passed: usize, failed: usize) -> ReportSummary {
        let case = |status| TestCase {
            prefix: String::new(),
            name: String::new(),
            status,
            duration_in_nano_seconds: 1_500_000,
            message: None,
            test_suite_name: None,
            test_raw_data_path: None,
        };
        let mut cases = vec![case(TestCaseStatus::Succeeded); passed];
        cases.extend(vec![case(TestCaseStatus::Failed); failed]);
        ReportSummary::Test(TestReportSummary::of(&cases))
    }

    #[test]
    fn every_field_names_a_value() {
        for (name, field) in TREND_FIELDS {
            assert_eq!(TrendField::from_name(name), Some(*field));
        }
        assert_eq!(TrendField::from_name("pass_rate"), None);
    }

    #[test]
    fn pass_rates_average_and_skip_other_types() {
        let coverage = ReportSummary::CodeCoverage(CodeCoverageReportSummary::of(&[]));
        let reports = [
            report("a", tests(1, 2)),
            report("b", tests(1, 0)),
            report("c", coverage),
        ];
        let out = trend(TrendField::PassRate, &reports);
        assert_eq!(
            out["rawData"][0],
            json!({"reportArn": "a", "data": "33.33"})
        );
        assert_eq!(out["rawData"][1]["data"], "100");
        assert_eq!(out["rawData"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            out["stats"],
            json!({"average": "66.67", "max": "100", "min": "33.33"})
        );
        let out = trend(TrendField::Duration, &reports);
        assert_eq!(out["rawData"][0]["data"], "4");
        let out = trend(TrendField::LinesCovered, &reports[..2]);
        assert_eq!(out, json!({"rawData": []}));
    }
}
