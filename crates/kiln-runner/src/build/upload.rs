//! UPLOAD_ARTIFACTS: the buildspec's `artifacts` (and `secondary-artifacts`) packaged and
//! uploaded where the project's `artifacts` (and `secondaryArtifacts`) say.

use std::path::{Path, PathBuf};

use kiln_buildspec::ArtifactsSpec;
use kiln_domain::build::BuildArtifacts;
use kiln_domain::project::ProjectArtifacts;

use super::interrupt::{Interrupt, output_not_open};
use super::log::BuildLog;
use super::{PhaseResult, Run, SHELL_STATE_DIR, client_error};
use crate::artifacts::{
    self, ArtifactError, ArtifactSelection, ArtifactStore, ArtifactTarget, Packaging,
};
use crate::cache::shell_quote;
use crate::confined::{self, Follow};
use crate::shell::CommandOutcome;

/// Longest expanded artifact name read back (S3 keys are at most 1024 bytes).
const MAX_EXPANDED_NAME_BYTES: usize = 1024;
/// Where the build's shell writes an expanded artifact name, inside the work directory.
const EXPANDED_NAME_FILE: &str = "expanded-name";

/// Why an artifact could not be uploaded: the message for a CLIENT_ERROR context.
pub(super) type UploadError = String;

/// What the build record shows after the phase.
#[derive(Debug, Default)]
pub(super) struct Uploaded {
    pub primary: Option<BuildArtifacts>,
    pub secondary: Vec<BuildArtifacts>,
}

pub(super) struct Uploader<'a> {
    pub store: &'a ArtifactStore,
    pub log: &'a BuildLog,
    /// The build's work directory, holding the source directory [`super::SOURCE_DIR`].
    pub work_dir: &'a Path,
    pub build_uuid: &'a str,
    pub project_name: &'a str,
}

impl Uploader<'_> {
    /// Uploads the primary and then every secondary artifact of the buildspec's `artifacts`.
    pub(super) async fn upload_all(
        &self,
        primary: &ProjectArtifacts,
        secondary: &[ProjectArtifacts],
        spec: Option<&ArtifactsSpec>,
    ) -> Result<Uploaded, UploadError> {
        let mut uploaded = Uploaded::default();
        if is_uploaded(primary)? {
            match spec {
                Some(spec) => {
                    uploaded.primary = Some(self.upload(primary, spec).await?);
                }
                None => self
                    .log
                    .line("Skipping artifact upload: the buildspec has no artifacts section"),
            }
        }
        for project in secondary {
            if !is_uploaded(project)? {
                continue;
            }
            let id = project.artifact_identifier.as_deref().unwrap_or_default();
            let Some((_, spec)) = spec
                .into_iter()
                .flat_map(|s| &s.secondary)
                .find(|(spec_id, _)| spec_id == id)
            else {
                return Err(format!(
                    "Secondary artifact {id:?} is not defined in the buildspec's artifacts.secondary-artifacts"
                ));
            };
            uploaded.secondary.push(self.upload(project, spec).await?);
        }
        for (id, _) in spec.into_iter().flat_map(|s| &s.secondary) {
            if !secondary
                .iter()
                .any(|p| p.artifact_identifier.as_deref() == Some(id.as_str()))
            {
                self.log.line(&format!(
                    "Warning: buildspec secondary artifact {id} matches no secondary artifact of the project and was not uploaded"
                ));
            }
        }
        Ok(uploaded)
    }

    async fn upload(
        &self,
        project: &ProjectArtifacts,
        spec: &ArtifactsSpec,
    ) -> Result<BuildArtifacts, UploadError> {
        let bucket = project
            .location
            .clone()
            .filter(|l| !l.is_empty())
            .ok_or("The artifacts have no location (bucket)")?;
        let target = ArtifactTarget {
            bucket: bucket.clone(),
            path: project.path.clone().filter(|p| !p.is_empty()),
            namespace_build_id: project.namespace_type.as_deref() == Some("BUILD_ID"),
            name: project
                .name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| self.project_name.to_owned()),
            override_artifact_name: project.override_artifact_name.unwrap_or(false),
            packaging_zip: project.packaging.as_deref() == Some("ZIP"),
        };
        let key = artifacts::artifact_key(
            &target,
            self.build_uuid,
            spec.name.as_deref(),
            spec.s3_prefix.as_deref(),
        )
        .map_err(describe)?;

        let selection = ArtifactSelection {
            files: spec.files.clone(),
            base_directory: spec.base_directory.clone(),
            discard_paths: spec.discard_paths,
            exclude_paths: spec.exclude_paths.clone(),
            // CodeBuild keeps links only in a ZIP.
            enable_symlinks: spec.enable_symlinks && target.packaging_zip,
        };
        let base = selection.base_directory.as_deref().unwrap_or(".");
        self.log
            .line(&format!("Expanding base directory path: {base}"));
        self.log.line("Assembling file list");
        for pattern in &selection.files {
            self.log.line(&format!("Expanding {pattern}"));
        }
        // The source directory is opened once, beneath the work directory and never through
        // a link, and every file is then found and read through that handle.
        let work_dir: PathBuf = self.work_dir.to_owned();
        let (root, collected) = blocking(move || {
            let root = confined::open_dir_in(&work_dir, super::SOURCE_DIR)
                .map_err(|err| ArtifactError::SourceDirectory(confined::describe(&err)))?;
            let collected = artifacts::collect(&root, &selection)?;
            Ok((root, collected))
        })
        .await?;
        for left_out in &collected.left_out {
            self.log
                .line(&format!("Warning: left out of the artifact: {left_out}"));
        }
        let files = collected.files;
        self.log.line(&format!("Found {} file(s)", files.len()));
        let packaging = if target.packaging_zip {
            Packaging::Zip
        } else {
            Packaging::None
        };
        let package = blocking(move || artifacts::package(&root, &files, packaging)).await?;
        let uploaded = self
            .store
            .upload(&bucket, &key, &package)
            .await
            .map_err(describe)?;
        self.log
            .line(&format!("Uploaded artifact to {}", uploaded.location));
        Ok(BuildArtifacts {
            location: Some(uploaded.location),
            sha256sum: uploaded.sha256sum,
            md5sum: uploaded.md5sum,
            override_artifact_name: project.override_artifact_name,
            artifact_identifier: project.artifact_identifier.clone(),
        })
    }
}

impl Run<'_> {
    pub(super) async fn upload_artifacts(&mut self) -> Result<PhaseResult, Interrupt> {
        self.make_reports().await?;
        let spec = self.artifacts_spec().await?;
        let settings = &self.record.settings;
        let uploader = Uploader {
            store: &self.artifact_store,
            log: &self.log,
            work_dir: &self.work_dir,
            build_uuid: &self.record.uuid,
            project_name: &self.record.project_name,
        };
        let uploading = uploader.upload_all(
            &settings.artifacts,
            &settings.secondary_artifacts,
            spec.as_ref(),
        );
        let uploaded = tokio::select! {
            uploaded = uploading => uploaded,
            () = self.cancel.cancelled() => return Err(self.interruption()),
        };
        self.save_cache().await?;
        match uploaded {
            Ok(uploaded) => {
                self.record.artifacts = uploaded.primary;
                self.record.secondary_artifacts = uploaded.secondary;
                Ok(Ok(()))
            }
            Err(message) => {
                self.log.line(&message);
                Ok(Err(client_error(message)))
            }
        }
    }

    /// The buildspec's `artifacts`, with the names that replace the project's artifact names
    /// expanded by the build's shell, as CodeBuild does (`name: app-$CODEBUILD_BUILD_NUMBER`).
    async fn artifacts_spec(&mut self) -> Result<Option<ArtifactsSpec>, Interrupt> {
        let Some(mut spec) = self.buildspec.as_ref().and_then(|b| b.artifacts.clone()) else {
            return Ok(None);
        };
        let settings = &self.record.settings;
        let primary_overridden = settings.artifacts.override_artifact_name == Some(true);
        let overridden: Vec<String> = settings
            .secondary_artifacts
            .iter()
            .filter(|a| a.override_artifact_name == Some(true))
            .filter_map(|a| a.artifact_identifier.clone())
            .collect();
        if primary_overridden && let Some(name) = spec.name.take() {
            spec.name = Some(self.expand_in_shell(name, "artifact name").await?);
        }
        for (id, secondary) in &mut spec.secondary {
            if overridden.contains(id)
                && let Some(name) = secondary.name.take()
            {
                secondary.name = Some(self.expand_in_shell(name, "artifact name").await?);
            }
        }
        Ok(Some(spec))
    }

    /// `text` as the shell expands it inside double quotes; `text` itself if that fails
    /// (`what` names it in the warning).
    pub(super) async fn expand_in_shell(
        &mut self,
        text: String,
        what: &str,
    ) -> Result<String, Interrupt> {
        if !text.contains(['$', '`']) {
            return Ok(text);
        }
        let Some(shell) = self.shell.as_mut() else {
            return Ok(text);
        };
        // In the shell's state directory, which the user commands run as (`run-as`) can write.
        let out = self.work_dir.join(SHELL_STATE_DIR).join(EXPANDED_NAME_FILE);
        // In a subshell, so the session keeps its PATH; `codebuild-hash-files` is there for
        // cache keys, as on CodeBuild.
        let helpers = self.work_dir.join(super::cache_phase::HELPERS_DIR);
        let command = format!(
            "( PATH={}:\"$PATH\"; printf '%s' \"{text}\" > {} )",
            shell_quote(&helpers.to_string_lossy()),
            shell_quote(&out.to_string_lossy())
        );
        let output = self.log.output().ok_or_else(output_not_open)?;
        let outcome = shell.run(&command, output, &self.cancel).await;
        match outcome {
            Ok(CommandOutcome::Exited(0)) => {}
            Ok(CommandOutcome::Cancelled) => return Err(self.interruption()),
            _ => {
                self.log.line(&format!(
                    "Warning: cannot expand {what} {text}; using it as written"
                ));
                return Ok(text);
            }
        }
        // The build could have put a link (or a FIFO) there: read it beneath the work
        // directory, never following a link, and never more than a name.
        let work_dir = self.work_dir.clone();
        let read = tokio::task::spawn_blocking(move || {
            let dir = confined::open_dir_in(&work_dir, SHELL_STATE_DIR)?;
            let limit = MAX_EXPANDED_NAME_BYTES as u64 + 1;
            confined::read_regular(&dir, EXPANDED_NAME_FILE, Follow::Never, limit)
        })
        .await;
        match read {
            Ok(Ok(Some(bytes))) if bytes.len() <= MAX_EXPANDED_NAME_BYTES => {
                Ok(String::from_utf8_lossy(&bytes).trim().to_owned())
            }
            _ => Ok(text),
        }
    }
}

/// Whether artifacts of this kind are uploaded at all; Kiln uploads only to S3.
fn is_uploaded(project: &ProjectArtifacts) -> Result<bool, UploadError> {
    match project.artifacts_type.as_deref() {
        None | Some("NO_ARTIFACTS") => Ok(false),
        Some("S3") => Ok(true),
        Some(other) => Err(format!(
            "Artifacts type {other} is not supported by Kiln; use S3 or NO_ARTIFACTS"
        )),
    }
}

fn describe(err: ArtifactError) -> UploadError {
    err.to_string()
}

/// Runs file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ArtifactError> + Send + 'static,
) -> Result<T, UploadError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(describe),
        Err(err) => Err(format!("artifact packaging failed: {err}")),
    }
}
