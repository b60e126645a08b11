//! Restart recovery of this data dir's own builds. A build's work directory lives in the data
//! dir of the replica that runs it, so one found there at start was this process's
//! predecessor's: what it left running is killed and the build ends FAULT at once. Every
//! other build is left to lease expiry: a restarting replica never touches builds that other
//! replicas run.

use std::sync::Arc;

use kiln_domain::build::{BuildStatus, PhaseContext, context_codes};
use kiln_domain::clock::now_epoch;
use kiln_store::StoreError;

use crate::BuildManager;
use crate::log_shipper::LogShipper;

impl BuildManager {
    pub(crate) async fn recover_own_work(&self) -> Result<(), StoreError> {
        let work = self.settings.data_dir.join("work");
        let entries = match std::fs::read_dir(&work) {
            Ok(entries) => entries,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the work directory");
                return Ok(());
            }
        };
        for entry in entries.flatten() {
            let Some(uuid) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let work_dir = entry.path();
            let leased = self.store.leased_build(&uuid).await?;
            let build_id = leased
                .as_ref()
                .map_or_else(|| uuid.clone(), |b| b.record.id());
            // What a dead build left running is killed and its work directory removed.
            let killed = kiln_runner::build::kill_leftover_processes(
                &self.settings.executor,
                &work_dir,
                &build_id,
            );
            if killed > 0 {
                tracing::warn!(build = %build_id, process_groups = killed, "killed what the build left running");
            }
            let _ = std::fs::remove_dir_all(&work_dir);
            let Some(mut leased) = leased else { continue };
            // What the build logged before Kiln stopped is kept with its end.
            LogShipper::start(
                Arc::clone(&self.store),
                uuid.clone(),
                self.log_path(&uuid),
                self.intake_closed.clone(),
            )
            .finish()
            .await;
            leased.record.abort(
                BuildStatus::Fault,
                PhaseContext::new(
                    context_codes::SERVER_ERROR,
                    "Kiln stopped while this build was running; the build cannot be resumed",
                ),
                now_epoch(),
            );
            let saved = {
                let record = &leased.record;
                let _change = self
                    .badges
                    .begin_change(&record.account_id, &record.project_name);
                self.store.save_leased_build(record, &leased.lease).await
            };
            match saved {
                Ok(()) => {
                    tracing::warn!(build = %build_id, "build ended as FAULT after a restart");
                }
                // Expired and ended meanwhile by another replica: it is ended either way.
                Err(StoreError::LeaseLost) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
