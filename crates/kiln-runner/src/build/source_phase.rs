//! DOWNLOAD_SOURCE: the source checked out, then the buildspec loaded and the shell started.

use super::interrupt::{Interrupt, output_not_open};
use super::{PhaseResult, Run, client_error, environment};
use crate::executor::Environment;
use crate::source::{self, CheckoutRequest, SourceError};

impl Run<'_> {
    pub(super) async fn download_source(&mut self) -> Result<PhaseResult, Interrupt> {
        self.log.line("Phase is DOWNLOAD_SOURCE");
        self.log
            .line(&format!("CODEBUILD_SRC_DIR={}", self.src_dir.display()));
        if let Err(context) = self.check_out().await? {
            return Ok(Err(context));
        }
        self.hand_over_work_dir().await?;
        let buildspec = match self.load_buildspec().await {
            Ok(spec) => spec,
            Err(context) => return Ok(Err(context)),
        };
        for key in buildspec.unsupported_keys() {
            self.log.line(&format!(
                "Warning: buildspec key {key} is not supported by Kiln and was ignored"
            ));
        }
        self.log.line("Processing environment variables");
        let user_names: Vec<&str> = self
            .user_variables
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        let pending = environment::buildspec_secrets(&buildspec, &user_names);
        let resolved = match self.resolve_secrets(pending).await? {
            Ok(resolved) => resolved,
            Err(context) => return Ok(Err(context)),
        };
        let result = self.start_shell(&buildspec, &resolved);
        self.log_phases_found(&buildspec);
        self.buildspec = Some(buildspec);
        result
    }

    /// Gives the work directory (source, home, shell state) to the build's own user, if it has
    /// one. Kiln checked the source out as itself; no command of the build has run yet.
    async fn hand_over_work_dir(&self) -> Result<(), Interrupt> {
        let Some(user) = self.environment.as_ref().and_then(Environment::build_user) else {
            return Ok(());
        };
        let (uid, gid) = (user.uid(), user.gid());
        let work_dir = self.work_dir.clone();
        tokio::task::spawn_blocking(move || crate::build_user::hand_over(&work_dir, uid, gid))
            .await
            .map_err(|err| Interrupt::Fault(err.to_string()))?
            .map_err(|err| Interrupt::Fault(err.to_string()))
    }

    async fn check_out(&mut self) -> Result<PhaseResult, Interrupt> {
        let source = &self.record.settings.source;
        match source.source_type.as_deref() {
            Some("NO_SOURCE") => return Ok(Ok(())),
            Some(kind @ ("S3" | "CODEPIPELINE")) => {
                return Ok(Err(client_error(format!(
                    "Source type {kind} is not supported by Kiln; use a git repository"
                ))));
            }
            _ => {}
        }
        let Some(location) = source.location.clone().filter(|l| !l.trim().is_empty()) else {
            return Ok(Err(client_error("The source has no location")));
        };
        let location = match self.local_sources.resolve_for_checkout(&location) {
            Ok(location) => location,
            Err(err) => {
                let message = format!("Cannot download the source: {err}");
                self.log.line(&message);
                return Ok(Err(client_error(message)));
            }
        };
        let credential = self.source_credential.take().and_then(|credential| {
            match credential.destination(&location) {
                Ok(_) => Some(credential),
                Err(withheld) => {
                    self.log.line(&format!(
                        "The imported {} source credential was not used: {withheld}",
                        credential.server_type
                    ));
                    None
                }
            }
        });
        let request = CheckoutRequest {
            version: self.record.settings.source_version.clone(),
            dest: self.src_dir.clone(),
            clone_depth: source
                .git_clone_depth
                .and_then(|depth| u32::try_from(depth).ok()),
            fetch_submodules: source
                .git_submodules_config
                .as_ref()
                .and_then(|config| config.fetch_submodules)
                .unwrap_or(false),
            credential,
            location,
        };
        let output = self.log.output().ok_or_else(output_not_open)?;
        match source::checkout(&request, output, &self.cancel).await {
            Ok(checked_out) => {
                self.log.line(&format!(
                    "Source checked out at commit {}",
                    checked_out.resolved_commit
                ));
                self.record.resolved_source_version = Some(checked_out.resolved_commit);
                // What the checkout resolved wins over StartBuild's reading of the version
                // (a bare `v1` may be a tag); a ref set by the caller for a bare commit (a
                // webhook's pushed branch) stays.
                if let Some(git_ref) = checked_out.git_ref {
                    self.record.git_ref = Some(git_ref);
                }
                self.sink.save(&self.record).await;
                Ok(Ok(()))
            }
            Err(SourceError::Cancelled) => Err(self.interruption()),
            Err(err) => {
                let message = format!("Cannot download the source: {err}");
                self.log.line(&message);
                Ok(Err(client_error(message)))
            }
        }
    }
}
