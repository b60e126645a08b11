//! Exporting a report's raw files to its group's S3 destination (`exportConfig` of type S3),
//! through the artifact store: packaged and uploaded by the artifact code, so that a ZIP is
//! written to a temporary file and files are streamed, never held whole (docs/reports.md).

use std::path::PathBuf;

use kiln_domain::report::ReportExportConfig;

use crate::artifacts::{self, ArtifactError, ArtifactFile, ArtifactStore, Packaging};
use crate::confined;

/// Where the raw files of one report go.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReportExport {
    pub bucket: String,
    /// `s3Destination.path`, the key prefix; `None` when empty.
    pub path: Option<String>,
    /// The report group's name, the next part of the key.
    pub group_name: String,
    /// `packaging: ZIP` (one archive); else `NONE` (the files as they are, the default).
    pub packaging_zip: bool,
}

impl ReportExport {
    /// The destination of group `group_name` with `config`: `None` for NO_EXPORT (or an S3
    /// export without a bucket, which the API refuses).
    pub fn of(config: &ReportExportConfig, group_name: &str) -> Option<Self> {
        if config.export_config_type.as_deref() != Some("S3") {
            return None;
        }
        let s3 = config.s3_destination.as_ref()?;
        let bucket = s3.bucket.clone().filter(|b| !b.is_empty())?;
        Some(Self {
            bucket,
            path: s3.path.clone().filter(|p| !p.trim_matches('/').is_empty()),
            group_name: group_name.to_owned(),
            packaging_zip: s3.packaging.as_deref() == Some("ZIP"),
        })
    }

    /// `[<path>/]<group name>/<build uuid>.zip` for ZIP, or the prefix
    /// `[<path>/]<group name>/<build uuid>` of the files for NONE. A path's leading and
    /// trailing `/` are dropped (`/reports/` is `reports`).
    pub fn key(&self, build_uuid: &str) -> Result<String, ArtifactError> {
        let mut parts = Vec::with_capacity(3);
        if let Some(path) = &self.path {
            parts.push(artifacts::key_part("path", path.trim_start_matches('/'))?);
        }
        parts.push(artifacts::key_part("report group name", &self.group_name)?);
        parts.push(artifacts::key_part("build id", build_uuid)?);
        let mut key = parts.join("/");
        if self.packaging_zip {
            key.push_str(".zip");
        }
        artifacts::check_key_len(&key)?;
        Ok(key)
    }

    /// `s3://<bucket>/<key>`, for the build log.
    pub fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// Packages `files` (paths beneath `source_dir` of `work_dir`, each opened beneath it when
    /// it is read, as artifact files are) and uploads them to the key of build `build_uuid`;
    /// the key. Packaging is file work: it runs off the async threads.
    pub async fn upload(
        &self,
        store: &ArtifactStore,
        work_dir: PathBuf,
        source_dir: &'static str,
        files: Vec<ArtifactFile>,
        build_uuid: &str,
    ) -> Result<String, ArtifactError> {
        let key = self.key(build_uuid)?;
        let packaging = if self.packaging_zip {
            Packaging::Zip
        } else {
            Packaging::None
        };
        let package = tokio::task::spawn_blocking(move || {
            let root = confined::open_dir_in(&work_dir, source_dir)
                .map_err(|err| ArtifactError::SourceDirectory(confined::describe(&err)))?;
            artifacts::package(&root, &files, packaging)
        })
        .await
        .map_err(|err| ArtifactError::Io {
            path: source_dir.into(),
            source: std::io::Error::other(err),
        })??;
        store.upload(&self.bucket, &key, &package).await?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_domain::report::S3ReportExportConfig;

    fn s3(path: Option<&str>, packaging: Option<&str>) -> ReportExportConfig {
        ReportExportConfig {
            export_config_type: Some("S3".into()),
            s3_destination: Some(S3ReportExportConfig {
                bucket: Some("reports-bucket".into()),
                path: path.map(Into::into),
                packaging: packaging.map(Into::into),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn only_an_s3_export_with_a_bucket_has_a_destination() {
        assert_eq!(
            ReportExport::of(&ReportExportConfig::no_export(), "g"),
            None
        );
        let mut no_bucket = s3(None, None);
        no_bucket.s3_destination = Some(S3ReportExportConfig::default());
        assert_eq!(ReportExport::of(&no_bucket, "g"), None);
        let export = ReportExport::of(&s3(Some("/"), None), "g").unwrap();
        assert_eq!(export.path, None);
        assert!(!export.packaging_zip, "NONE is the default");
    }

    #[test]
    fn keys_are_path_group_and_build() {
        let uuid = "0b8f6c1e-0000-4000-8000-000000000001";
        let zip = ReportExport::of(&s3(Some("/exports/tests/"), Some("ZIP")), "unit").unwrap();
        assert_eq!(
            zip.key(uuid).unwrap(),
            format!("exports/tests/unit/{uuid}.zip")
        );
        let none = ReportExport::of(&s3(None, Some("NONE")), "unit").unwrap();
        assert_eq!(none.key(uuid).unwrap(), format!("unit/{uuid}"));
        assert_eq!(
            none.location("unit/x"),
            "s3://reports-bucket/unit/x".to_owned()
        );
        let bad = ReportExport::of(&s3(Some("a/../b"), None), "unit").unwrap();
        assert!(bad.key(uuid).is_err());
    }
}
