//! The groups, reports, test cases and code coverages the report cases store.

use std::sync::Arc;

use kiln_domain::project::Tag;
use kiln_domain::refs::GitRef;
use kiln_domain::report::{
    CodeCoverage, ReportContents, ReportExportConfig, ReportGroupRecord, ReportRecord,
    ReportStatusType, ReportSummary, ReportType, TestCase, TestCaseStatus, TestReportSummary,
    report_arn, report_group_arn,
};
use kiln_store::Store;

pub const REGION: &str = "eu-west-1";

pub fn group(account: &str, name: &str, report_type: ReportType, at: f64) -> ReportGroupRecord {
    ReportGroupRecord {
        account_id: account.into(),
        name: name.into(),
        report_type,
        export_config: ReportExportConfig::no_export(),
        tags: vec![Tag {
            key: Some("k".into()),
            value: Some("v".into()),
        }],
        created: at,
        last_modified: at,
    }
}

pub fn case(n: usize, status: TestCaseStatus) -> TestCase {
    TestCase {
        prefix: format!("suite{}", n % 3),
        name: format!("test_{n}"),
        status,
        duration_in_nano_seconds: n as u64 * 1000,
        message: (status == TestCaseStatus::Failed).then(|| format!("boom {n}")),
        test_suite_name: Some("all".into()),
        test_raw_data_path: Some(format!("reports/junit-{}.xml", n % 2)),
    }
}

/// Cases 0..n: every fourth fails.
pub fn cases(n: usize) -> Vec<TestCase> {
    (0..n)
        .map(|i| {
            let status = if i % 4 == 3 {
                TestCaseStatus::Failed
            } else {
                TestCaseStatus::Succeeded
            };
            case(i, status)
        })
        .collect()
}

pub fn file(path: &str, covered: u64, missed: u64) -> CodeCoverage {
    let pct = (covered as f64 * 10_000.0 / (covered + missed).max(1) as f64).round() / 100.0;
    CodeCoverage {
        file_path: path.into(),
        line_coverage_percentage: pct,
        lines_covered: covered,
        lines_missed: missed,
        branch_coverage_percentage: 0.0,
        branches_covered: 0,
        branches_missed: 2,
    }
}

pub fn report(
    account: &str,
    group_name: &str,
    build_uuid: &str,
    summary: ReportSummary,
) -> ReportRecord {
    let status = match &summary {
        ReportSummary::Test(s) => s.report_status(),
        ReportSummary::CodeCoverage(_) => ReportStatusType::Succeeded,
    };
    ReportRecord {
        arn: report_arn(REGION, account, group_name, build_uuid),
        account_id: account.into(),
        group_name: group_name.into(),
        group_arn: report_group_arn(REGION, account, group_name),
        name: group_name.into(),
        execution_id: format!("arn:aws:codebuild:{REGION}:{account}:build/p:{build_uuid}"),
        build_uuid: build_uuid.into(),
        project_name: "p".into(),
        git_ref: Some(GitRef::Branch("main".into())),
        build_start_time: 10.0,
        status,
        created: 20.0,
        truncated: false,
        export_config: ReportExportConfig::no_export(),
        summary,
    }
}

/// Saves a test report of `n` cases (from [`cases`]) in `group_name`, creating the group.
pub async fn save_test_report(
    store: &Arc<dyn Store>,
    account: &str,
    group_name: &str,
    build_uuid: &str,
    n: usize,
) -> ReportRecord {
    let cases = cases(n);
    let record = report(
        account,
        group_name,
        build_uuid,
        ReportSummary::Test(TestReportSummary::of(&cases)),
    );
    let new_group = group(account, group_name, ReportType::Test, 1.0);
    store
        .save_report(&record, ReportContents::Test(&cases), Some(&new_group))
        .await
        .unwrap();
    record
}
