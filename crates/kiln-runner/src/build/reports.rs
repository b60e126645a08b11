//! The buildspec's `reports:`, made at the start of UPLOAD_ARTIFACTS (after POST_BUILD,
//! whatever the build's outcome, and before the artifacts, whose failure must not lose them).
//! A report problem is logged and never fails the phase or the build (docs/reports.md).

use super::interrupt::Interrupt;
use super::{Run, SOURCE_DIR};
use crate::confined;
use crate::reports::{self, GroupCollection, ReportBudget};

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
                }
                Err(err) => self
                    .log
                    .line(&format!("Warning: a report group was not collected: {err}")),
            }
        }
        let mut arns = Vec::new();
        for saved in self.sink.save_reports(&self.record, collected).await {
            match saved {
                Ok(arn) => {
                    self.log.line(&format!("Report created: {arn}"));
                    arns.push(arn);
                }
                Err(why) => self.log.line(&format!("Warning: no report made: {why}")),
            }
        }
        self.record.report_arns = arns;
        Ok(())
    }
}
