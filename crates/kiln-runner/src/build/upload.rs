//! UPLOAD_ARTIFACTS: the buildspec's `artifacts` (and `secondary-artifacts`) packaged and
//! uploaded where the project's `artifacts` (and `secondaryArtifacts`) say.

use std::path::{Path, PathBuf};

use kiln_buildspec::ArtifactsSpec;
use kiln_domain::build::BuildArtifacts;
use kiln_domain::project::ProjectArtifacts;

use super::log::BuildLog;
use crate::artifacts::{
    self, ArtifactError, ArtifactSelection, ArtifactStore, ArtifactTarget, Packaging,
};
use crate::confined;

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
