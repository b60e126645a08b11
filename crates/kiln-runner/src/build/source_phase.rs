//! DOWNLOAD_SOURCE: the source checked out, then the buildspec loaded and the shell started.

use std::path::{Path, PathBuf};

use kiln_domain::build::PhaseContext;
use kiln_domain::project::ProjectSource;

use super::interrupt::{Interrupt, output_not_open};
use super::{PhaseResult, Run, client_error, environment};
use crate::executor::Environment;
use crate::source::{self, CheckedOut, CheckoutRequest, SourceError};

/// How the log names the primary source.
const PRIMARY: &str = "source";

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
        for warning in buildspec.warnings() {
            self.log.line(&format!("Warning: {warning}"));
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
        if matches!(result, Ok(Ok(()))) {
            self.restore_cache().await?;
        }
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

    /// The primary source into `CODEBUILD_SRC_DIR`, then each secondary source into a
    /// directory of its own, `CODEBUILD_SRC_DIR_<sourceIdentifier>`.
    async fn check_out(&mut self) -> Result<PhaseResult, Interrupt> {
        let source = self.record.settings.source.clone();
        let version = self.record.settings.source_version.clone();
        let dest = self.src_dir.clone();
        let checked_out = match self.check_out_one(&source, version, dest, PRIMARY).await? {
            Ok(checked_out) => checked_out,
            Err(context) => return Ok(Err(context)),
        };
        if let Some(checked_out) = checked_out {
            self.record.resolved_source_version = Some(checked_out.resolved_commit);
            self.record.commit = checked_out.commit;
            // What the checkout resolved wins over StartBuild's reading of the version
            // (a bare `v1` may be a tag); a ref set by the caller for a bare commit (a
            // webhook's pushed branch) stays.
            if let Some(git_ref) = checked_out.git_ref {
                self.record.git_ref = Some(git_ref);
            }
            self.sink.save(&self.record).await;
        }
        for secondary in self.record.settings.secondary_sources.clone() {
            let id = secondary.source_identifier.clone().unwrap_or_default();
            let version = self
                .record
                .settings
                .secondary_source_versions
                .iter()
                .find(|v| v.source_identifier.as_deref() == Some(id.as_str()))
                .and_then(|v| v.source_version.clone());
            let dest = secondary_source_dir(&self.work_dir, &id);
            self.log
                .line(&format!("CODEBUILD_SRC_DIR_{id}={}", dest.display()));
            let what = format!("secondary source {id}");
            if let Err(context) = self.check_out_one(&secondary, version, dest, &what).await? {
                return Ok(Err(context));
            }
        }
        Ok(Ok(()))
    }

    /// Checks out one source (`what` names it in the log): `Ok(None)` when it has none
    /// (NO_SOURCE), the phase's CLIENT_ERROR context when it fails (the reason logged).
    async fn check_out_one(
        &mut self,
        source: &ProjectSource,
        version: Option<String>,
        dest: PathBuf,
        what: &str,
    ) -> Result<Result<Option<CheckedOut>, PhaseContext>, Interrupt> {
        match source.source_type.as_deref() {
            Some("NO_SOURCE") => return Ok(Ok(None)),
            Some(kind @ ("S3" | "CODEPIPELINE")) => {
                return Ok(self.fail(format!(
                    "Source type {kind} of the {what} is not supported by Kiln; use a git repository"
                )));
            }
            _ => {}
        }
        let Some(location) = source.location.clone().filter(|l| !l.trim().is_empty()) else {
            return Ok(self.fail(format!("The {what} has no location")));
        };
        let location = match self.local_sources.resolve_for_checkout(&location) {
            Ok(location) => location,
            Err(err) => return Ok(self.fail(format!("Cannot download the {what}: {err}"))),
        };
        // The account's credential of the source's own type, and only for its forge's hosts.
        let credential = self
            .source_credential
            .as_ref()
            .filter(|c| source.source_type.as_deref() == Some(c.server_type.as_str()))
            .and_then(|credential| match credential.destination(&location) {
                Ok(_) => Some(credential.clone()),
                Err(withheld) => {
                    // The primary source is "the source" of the build; others are named.
                    let of = if what == PRIMARY {
                        String::new()
                    } else {
                        format!(" for the {what}")
                    };
                    self.log.line(&format!(
                        "The imported {} source credential was not used{of}: {withheld}",
                        credential.server_type
                    ));
                    None
                }
            });
        let request = CheckoutRequest {
            version,
            dest,
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
            source_cache: if what == PRIMARY {
                self.source_cache_dir().await
            } else {
                None
            },
        };
        let output = self.log.output().ok_or_else(output_not_open)?;
        match source::checkout(&request, output, &self.cancel).await {
            Ok(checked_out) => {
                if let Some(note) = &checked_out.source_cache_note {
                    self.log.line(note);
                }
                self.log.line(&format!(
                    "{} checked out at commit {}",
                    capitalised(what),
                    checked_out.resolved_commit
                ));
                Ok(Ok(Some(checked_out)))
            }
            Err(SourceError::Cancelled) => Err(self.interruption()),
            Err(err) => Ok(self.fail(format!("Cannot download the {what}: {err}"))),
        }
    }

    /// Logs why a checkout failed; the phase's CLIENT_ERROR context.
    fn fail<T>(&self, message: String) -> Result<T, PhaseContext> {
        self.log.line(&message);
        Err(client_error(message))
    }
}

/// Where secondary source `id` is checked out: beside the primary source, in the work dir.
pub(super) fn secondary_source_dir(work_dir: &Path, id: &str) -> PathBuf {
    work_dir.join("secondary").join(id)
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
