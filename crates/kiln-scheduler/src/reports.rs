//! A build's reports: one per report group of its buildspec, made from the files its runner
//! collected and parsed, stored with all their test cases or file coverages at once.
//!
//! A group named by a name is the project's `<project>-<name>`, created on first use as
//! CodeBuild does; one named by an ARN must be an existing group of the build's account. A
//! report is INCOMPLETE when files are missing or did not parse (the log says which), else
//! FAILED when a test case failed or errored, else SUCCEEDED. Nothing here fails the build.
//! The group's S3 `exportConfig` goes back to the runner, which holds the raw files.

use kiln_domain::build::BuildRecord;
use kiln_domain::clock::now_epoch;
use kiln_domain::report::{
    CodeCoverage, CodeCoverageReportSummary, ReportContents, ReportExportConfig, ReportGroupRecord,
    ReportRecord, ReportStatusType, ReportSummary, TestCase, TestReportSummary,
    group_name_from_arn, report_arn, report_group_arn, validate_group_name,
};
use kiln_domain::validate::Violations;
use kiln_reports::{CollectedReport, ParsedReport};
use kiln_runner::build::{ReportExport, SavedReport};
use kiln_store::{Store, StoreError};

/// Makes and stores the reports of every collected group of `build`, in order: what a
/// `BuildSink` answers its runner, whether the build runs here or on an agent.
pub(crate) async fn save_all(
    store: &dyn Store,
    region: &str,
    build: &BuildRecord,
    reports: Vec<CollectedReport>,
) -> Vec<Result<SavedReport, String>> {
    let mut saved = Vec::with_capacity(reports.len());
    for collected in reports {
        saved.push(save(store, region, build, collected).await);
    }
    saved
}

/// Makes and stores the report of one collected group of `build`: its ARN and where its group
/// exports raw files, or why no report was made.
async fn save(
    store: &dyn Store,
    region: &str,
    build: &BuildRecord,
    collected: CollectedReport,
) -> Result<SavedReport, String> {
    let group = resolve_group(store, region, build, &collected).await?;
    let gathered = Gathered::of(collected);
    let summary = gathered.summary();
    let report = ReportRecord {
        arn: report_arn(region, &build.account_id, &group.record.name, &build.uuid),
        account_id: build.account_id.clone(),
        group_arn: report_group_arn(region, &build.account_id, &group.record.name),
        group_name: group.record.name.clone(),
        // CodeBuild names a report after its group.
        name: group.record.name.clone(),
        execution_id: build.arn(region),
        build_uuid: build.uuid.clone(),
        project_name: build.project_name.clone(),
        git_ref: build.git_ref.clone(),
        build_start_time: build.start_time,
        status: gathered.status(&summary),
        created: now_epoch(),
        truncated: false,
        export_config: group.record.export_config.clone(),
        summary,
    };
    let contents = match &gathered.contents {
        Contents::Test(cases) => ReportContents::Test(cases),
        Contents::CodeCoverage(files) => ReportContents::CodeCoverage(files),
    };
    let create = group.create.then_some(&group.record);
    match store.save_report(&report, contents, create).await {
        Ok(()) => Ok(SavedReport {
            arn: report.arn,
            export: ReportExport::of(&group.record.export_config, &group.record.name),
        }),
        Err(StoreError::NotFound) => Err(format!(
            "report group {} does not take {} reports",
            group.record.name,
            type_name(&report.summary)
        )),
        Err(e) => {
            tracing::error!(build = %build.id(), error = %e, "cannot store a report");
            Err(format!(
                "report group {}: the report could not be stored",
                group.record.name
            ))
        }
    }
}

/// The group a report goes to, and whether it is to be created with the report.
struct Group {
    record: ReportGroupRecord,
    create: bool,
}

async fn resolve_group(
    store: &dyn Store,
    region: &str,
    build: &BuildRecord,
    collected: &CollectedReport,
) -> Result<Group, String> {
    let report_type = collected.format.report_type();
    if collected.group.starts_with("arn:") {
        let name = group_name_from_arn(region, &build.account_id, &collected.group)
            .ok_or_else(|| format!("{} is not a report group of this account", collected.group))?;
        let found = store
            .get_report_groups(&build.account_id, &[name])
            .await
            .map_err(|e| {
                tracing::error!(build = %build.id(), error = %e, "cannot read a report group");
                format!("report group {name} could not be read")
            })?;
        let record = found
            .into_iter()
            .next()
            .ok_or_else(|| format!("report group {} does not exist", collected.group))?;
        return Ok(Group {
            record,
            create: false,
        });
    }
    let name = format!("{}-{}", build.project_name, collected.group);
    let mut violations = Violations::new();
    validate_group_name(&mut violations, "reports", &name);
    if !violations.is_empty() {
        return Err(format!(
            "{name} cannot be a report group name: 2 to 128 letters, digits, '-' and '_'"
        ));
    }
    let now = now_epoch();
    Ok(Group {
        record: ReportGroupRecord {
            account_id: build.account_id.clone(),
            name,
            report_type,
            export_config: ReportExportConfig::no_export(),
            tags: Vec::new(),
            created: now,
            last_modified: now,
        },
        create: true,
    })
}

/// The cases or file coverages of all of a group's files, and whether any were missing.
struct Gathered {
    contents: Contents,
    incomplete: bool,
}

enum Contents {
    Test(Vec<TestCase>),
    CodeCoverage(Vec<CodeCoverage>),
}

impl Gathered {
    fn of(collected: CollectedReport) -> Self {
        let mut contents = match collected.format.report_type() {
            kiln_domain::report::ReportType::Test => Contents::Test(Vec::new()),
            kiln_domain::report::ReportType::CodeCoverage => Contents::CodeCoverage(Vec::new()),
        };
        let mut incomplete = collected.missing_files;
        for file in collected.files {
            match (file.outcome, &mut contents) {
                (Ok(ParsedReport::Test(report)), Contents::Test(cases)) => {
                    cases.extend(report.cases.into_iter().map(|case| TestCase {
                        test_raw_data_path: Some(file.path.clone()),
                        ..case
                    }));
                }
                (Ok(ParsedReport::CodeCoverage(report)), Contents::CodeCoverage(files)) => {
                    files.extend(report.files);
                }
                // Unreadable, unparsable, or (never, one format per group) of the other kind.
                _ => incomplete = true,
            }
        }
        Gathered {
            contents,
            incomplete,
        }
    }

    fn summary(&self) -> ReportSummary {
        match &self.contents {
            Contents::Test(cases) => ReportSummary::Test(TestReportSummary::of(cases)),
            Contents::CodeCoverage(files) => {
                ReportSummary::CodeCoverage(CodeCoverageReportSummary::of(files))
            }
        }
    }

    /// The report's status, given its `summary` (of these contents).
    fn status(&self, summary: &ReportSummary) -> ReportStatusType {
        if self.incomplete {
            return ReportStatusType::Incomplete;
        }
        match summary {
            ReportSummary::Test(summary) => summary.report_status(),
            ReportSummary::CodeCoverage(_) => ReportStatusType::Succeeded,
        }
    }
}

fn type_name(summary: &ReportSummary) -> &'static str {
    match summary {
        ReportSummary::Test(_) => "test",
        ReportSummary::CodeCoverage(_) => "code coverage",
    }
}
