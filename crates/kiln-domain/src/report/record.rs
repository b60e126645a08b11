//! Reports: one per report group and build, with its test or coverage summary.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    CodeCoverage, CodeCoverageReportSummary, ReportExportConfig, ReportStatusType, ReportType,
    TestCase, TestReportSummary,
};
use crate::refs::GitRef;

/// `arn:aws:codebuild:<region>:<account>:report/<group-name>:<build-uuid>`.
pub fn report_arn(region: &str, account_id: &str, group_name: &str, build_uuid: &str) -> String {
    format!("arn:aws:codebuild:{region}:{account_id}:report/{group_name}:{build_uuid}")
}

/// A report's summary, which also says its type.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportSummary {
    Test(TestReportSummary),
    CodeCoverage(CodeCoverageReportSummary),
}

impl ReportSummary {
    pub fn report_type(&self) -> ReportType {
        match self {
            Self::Test(_) => ReportType::Test,
            Self::CodeCoverage(_) => ReportType::CodeCoverage,
        }
    }
}

/// What a report holds, saved with it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReportContents<'a> {
    Test(&'a [TestCase]),
    CodeCoverage(&'a [CodeCoverage]),
}

impl ReportContents<'_> {
    pub fn report_type(&self) -> ReportType {
        match self {
            Self::Test(_) => ReportType::Test,
            Self::CodeCoverage(_) => ReportType::CodeCoverage,
        }
    }
}

/// A report as the store keeps it. The build's project and branch or tag are kept with it, so
/// that a badge finds the reports of a branch's latest build without reading builds' records.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRecord {
    pub arn: String,
    pub account_id: String,
    pub group_name: String,
    pub group_arn: String,
    /// `Report.name`: CodeBuild names a report after its group.
    pub name: String,
    /// The build's ARN.
    pub execution_id: String,
    pub build_uuid: String,
    pub project_name: String,
    pub git_ref: Option<GitRef>,
    pub build_start_time: f64,
    pub status: ReportStatusType,
    pub created: f64,
    /// Whether the parser stopped at a limit and the report holds only part of its files.
    pub truncated: bool,
    /// The group's export configuration when the report was made.
    pub export_config: ReportExportConfig,
    pub summary: ReportSummary,
}

impl ReportRecord {
    pub fn report_type(&self) -> ReportType {
        self.summary.report_type()
    }

    /// The report as `Report`; timestamps in epoch seconds.
    pub fn to_api(&self) -> Value {
        let mut out = json!({
            "arn": self.arn,
            "type": self.report_type().as_str(),
            "name": self.name,
            "reportGroupArn": self.group_arn,
            "executionId": self.execution_id,
            "status": self.status.as_str(),
            "created": self.created,
            "exportConfig": self.export_config,
            "truncated": self.truncated,
        });
        match &self.summary {
            ReportSummary::Test(s) => out["testSummary"] = json!(s),
            ReportSummary::CodeCoverage(s) => out["codeCoverageSummary"] = json!(s),
        }
        out
    }
}

/// A `TestCase` of the report `report_arn`.
pub fn test_case_to_api(report_arn: &str, case: &TestCase) -> Value {
    let mut out = json!(case);
    out["reportArn"] = Value::String(report_arn.to_owned());
    out
}

/// A `CodeCoverage` of the report `report_arn`: `n` is the file's place in the report, which
/// with the report's ARN makes its id (a stable UUID-shaped digest).
pub fn code_coverage_to_api(report_arn: &str, n: i64, coverage: &CodeCoverage) -> Value {
    let digest = Sha256::digest(format!("{report_arn}\n{n}"));
    let h = hex::encode(&digest[..16]);
    let id = format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    );
    let mut out = json!(coverage);
    out["id"] = Value::String(id);
    out["reportARN"] = Value::String(report_arn.to_owned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::TestCaseStatus;

    fn case() -> TestCase {
        TestCase {
            prefix: "p".into(),
            name: "n".into(),
            status: TestCaseStatus::Failed,
            duration_in_nano_seconds: 7,
            message: Some("m".into()),
            test_suite_name: None,
            test_raw_data_path: Some("reports/junit.xml".into()),
        }
    }

    #[test]
    fn reports_serialize_as_botocore_shapes() {
        let report = ReportRecord {
            arn: report_arn("r", "1", "g", "u"),
            account_id: "1".into(),
            group_name: "g".into(),
            group_arn: "arn:aws:codebuild:r:1:report-group/g".into(),
            name: "g".into(),
            execution_id: "arn:aws:codebuild:r:1:build/p:u".into(),
            build_uuid: "u".into(),
            project_name: "p".into(),
            git_ref: None,
            build_start_time: 1.0,
            status: ReportStatusType::Failed,
            created: 2.0,
            truncated: false,
            export_config: ReportExportConfig::no_export(),
            summary: ReportSummary::Test(TestReportSummary::of(&[case()])),
        };
        let api = report.to_api();
        assert_eq!(api["type"], "TEST");
        assert_eq!(api["status"], "FAILED");
        assert_eq!(api["testSummary"]["statusCounts"]["FAILED"], 1);
        assert_eq!(api["testSummary"]["durationInNanoSeconds"], 7);
        assert!(api.get("codeCoverageSummary").is_none());
        let tc = test_case_to_api(&report.arn, &case());
        assert_eq!(tc["reportArn"], report.arn);
        assert_eq!(tc["status"], "FAILED");
        assert_eq!(tc["testRawDataPath"], "reports/junit.xml");
    }

    #[test]
    fn coverage_ids_are_stable_and_distinct() {
        let file = CodeCoverage {
            file_path: "a.rs".into(),
            line_coverage_percentage: 50.0,
            lines_covered: 1,
            lines_missed: 1,
            branch_coverage_percentage: 0.0,
            branches_covered: 0,
            branches_missed: 0,
        };
        let a = code_coverage_to_api("arn", 1, &file);
        assert_eq!(a, code_coverage_to_api("arn", 1, &file));
        assert_ne!(a["id"], code_coverage_to_api("arn", 2, &file)["id"]);
        assert_eq!(a["id"].as_str().map(str::len), Some(36));
        assert_eq!(a["reportARN"], "arn");
    }
}
