//! Report groups and reports (CodeBuild's `ReportGroup`, `Report`, `TestCase`, `CodeCoverage`):
//! the records the store keeps, their ARNs, the validation of the group operations' input, and
//! their API JSON. The parsed contents are `kiln-reports`' types, re-exported here.

mod group;
mod record;
mod trend;

pub use group::{
    CreateReportGroupInput, GROUP_NAME_PATTERN, ReportExportConfig, ReportGroupRecord,
    S3ReportExportConfig, UpdateReportGroupInput, apply_update, validate_create,
    validate_group_name,
};
pub use kiln_reports::{
    CodeCoverage, CodeCoverageReportSummary, ReportCodeCoverageSortByType, ReportStatusType,
    ReportType, TestCase, TestCaseStatus, TestReportSummary,
};
pub use record::{
    ReportContents, ReportRecord, ReportSummary, code_coverage_to_api, report_arn, test_case_to_api,
};
pub use trend::{TREND_FIELDS, TrendField, trend};

/// `arn:aws:codebuild:<region>:<account>:report-group/<name>`.
pub fn report_group_arn(region: &str, account_id: &str, name: &str) -> String {
    format!("arn:aws:codebuild:{region}:{account_id}:report-group/{name}")
}

/// The group name in a report group ARN of `account_id` in `region`; `None` for any other text
/// (another account's, another region's, not an ARN), which the API answers as not found.
pub fn group_name_from_arn<'a>(region: &str, account_id: &str, arn: &'a str) -> Option<&'a str> {
    let prefix = format!("arn:aws:codebuild:{region}:{account_id}:report-group/");
    arn.strip_prefix(prefix.as_str())
        .filter(|name| !name.is_empty())
}

/// Whether `arn` is a report ARN of `account_id` in `region` (the store is asked for no other).
pub fn is_own_report_arn(region: &str, account_id: &str, arn: &str) -> bool {
    let prefix = format!("arn:aws:codebuild:{region}:{account_id}:report/");
    arn.strip_prefix(prefix.as_str())
        .is_some_and(|rest| rest.contains(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_of_the_callers_account_only() {
        let arn = report_group_arn("eu-west-1", "111", "g");
        assert_eq!(arn, "arn:aws:codebuild:eu-west-1:111:report-group/g");
        assert_eq!(group_name_from_arn("eu-west-1", "111", &arn), Some("g"));
        assert_eq!(group_name_from_arn("eu-west-1", "222", &arn), None);
        assert_eq!(group_name_from_arn("us-east-1", "111", &arn), None);
        assert_eq!(group_name_from_arn("eu-west-1", "111", "g"), None);
        let report = report_arn("eu-west-1", "111", "g", "u-1");
        assert_eq!(report, "arn:aws:codebuild:eu-west-1:111:report/g:u-1");
        assert!(is_own_report_arn("eu-west-1", "111", &report));
        assert!(!is_own_report_arn("eu-west-1", "222", &report));
        assert!(!is_own_report_arn("eu-west-1", "111", &arn));
    }
}
