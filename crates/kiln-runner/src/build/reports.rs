//! The buildspec's `reports:`, made at the start of UPLOAD_ARTIFACTS (after POST_BUILD,
//! whatever the build's outcome, and before the artifacts, whose failure must not lose them).
//! A report problem, or a failed export of a report's raw files, is logged and never fails
//! the phase or the build (docs/reports.md).

use super::interrupt::Interrupt;
use super::{Run, SOURCE_DIR};
use crate::artifacts::ArtifactFile;
use crate::confined;
use crate::reports::{self, GroupCollection, ReportBudget, ReportExport};

impl Run<'_> {
    /// Collects every report group of the buildspec, hands them to the sink, and records the
    /// reports it made in `reportArns`. Only a stop or timeout interrupts it.
    pub(super) async fn make_reports(&mut self) -> Result<(), Interrupt> {
        let Some(groups) = self
            .buildspec
            .as_ref()
            .map(|b| b.reports.clone())
            .filter(|r| !r.is_empty())
        else {
            return Ok(());
        };
        let mut budget = ReportBudget::default();
        let mut collected = Vec::with_capacity(groups.len());
        // The files each collected group opened, in the same order, for exports.
        let mut raw_files = Vec::with_capacity(groups.len());
        for (group, spec) in groups {
            let work_dir = self.work_dir.clone();
            let cancel = self.cancel.clone();
            // Reading and parsing is file work and CPU work: off the async threads.
            let task = tokio::task::spawn_blocking(move || {
                let mut left = budget;
                let collection = match confined::open_dir_in(&work_dir, SOURCE_DIR) {
                    Ok(root) => reports::collect_group(&root, &group, &spec, &mut left, &cancel),
                    Err(err) => GroupCollection {
                        report: kiln_reports::CollectedReport {
                            group,
                            format: spec.file_format,
                            files: Vec::new(),
                            missing_files: true,
                        },
                        log_lines: vec![format!(
                            "Warning: cannot open the source directory for reports: {}",
                            confined::describe(&err)
                        )],
                        raw_files: Vec::new(),
                    },
                };
                (collection, left)
            });
            let joined = tokio::select! {
                joined = task => joined,
                () = self.cancel.cancelled() => return Err(self.interruption()),
            };
            match joined {
                Ok((collection, left)) => {
                    for line in &collection.log_lines {
                        self.log.line(line);
                    }
                    budget = left;
                    collected.push(collection.report);
                    raw_files.push(collection.raw_files);
                }
                Err(err) => self
                    .log
                    .line(&format!("Warning: a report group was not collected: {err}")),
            }
        }
        let mut arns = Vec::new();
        let saved = self.sink.save_reports(&self.record, collected).await;
        for (saved, files) in saved.into_iter().zip(raw_files) {
            match saved {
                Ok(report) => {
                    self.log.line(&format!("Report created: {}", report.arn));
                    arns.push(report.arn);
                    if let Some(export) = report.export {
                        self.export_raw_files(&export, files).await?;
                    }
                }
                Err(why) => self.log.line(&format!("Warning: no report made: {why}")),
            }
        }
        self.record.report_arns = arns;
        Ok(())
    }

    /// Uploads a report's raw files where its group exports them. A failure is a warning:
    /// the report is made all the same. Only a stop or timeout interrupts it.
    async fn export_raw_files(
        &self,
        export: &ReportExport,
        files: Vec<ArtifactFile>,
    ) -> Result<(), Interrupt> {
        if files.is_empty() {
            self.log.line(&format!(
                "No raw report files to export for report group {}",
                export.group_name
            ));
            return Ok(());
        }
        let count = files.len();
        let uploading = export.upload(
            &self.artifact_store,
            self.work_dir.clone(),
            SOURCE_DIR,
            files,
            &self.record.uuid,
        );
        let uploaded = tokio::select! {
            uploaded = uploading => uploaded,
            () = self.cancel.cancelled() => return Err(self.interruption()),
        };
        match uploaded {
            Ok(key) => self.log.line(&format!(
                "Exported {count} raw report file(s) of report group {} to {}",
                export.group_name,
                export.location(&key)
            )),
            Err(err) => self.log.line(&format!(
                "Warning: the raw report files of report group {} were not exported to bucket {}: {}",
                export.group_name,
                export.bucket,
                reports::printable(&err.to_string())
            )),
        }
        Ok(())
    }
}
