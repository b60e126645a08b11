//! Where an agent may write a build's objects through the server (docs/agents.md, "Artifacts
//! through the server"): only while it holds the build, and only to a bucket the build
//! writes to anyway: one of its `artifacts` / `secondaryArtifacts` settings, or the S3 export
//! of a report the build made, at that report's key.

use kiln_domain::build::BuildRecord;
use kiln_domain::report::report_arn;
use kiln_runner::build::ReportExport;
use kiln_store::AgentSession;

use crate::BuildManager;
use crate::agents::AgentCallError;

/// At most this many report ARNs are looked up for one key (a store lookup takes 100).
const MAX_REPORT_CANDIDATES: usize = 16;

impl BuildManager {
    /// Whether the agent of `session` may write object `key` of `bucket` for build `uuid`:
    /// `NotHeld` when the build is not (or no longer) its own, `Invalid` when the build does
    /// not write there.
    pub async fn artifact_target(
        &self,
        session: &AgentSession,
        uuid: &str,
        bucket: &str,
        key: &str,
    ) -> Result<(), AgentCallError> {
        let record = self.held_by(session, uuid).await?;
        if settings_buckets(&record).any(|b| b == bucket) {
            return Ok(());
        }
        let arns = report_candidates(&self.settings.region, &record, key);
        if !arns.is_empty() {
            let arns: Vec<&str> = arns.iter().map(String::as_str).collect();
            let reports = self.store.get_reports(&record.account_id, &arns).await?;
            let exported_here = reports.iter().any(|report| {
                report.build_uuid == record.uuid
                    && ReportExport::of(&report.export_config, &report.group_name)
                        .is_some_and(|export| export_holds(&export, &record.uuid, bucket, key))
            });
            if exported_here {
                return Ok(());
            }
        }
        Err(AgentCallError::Invalid(format!(
            "build {uuid} does not write to bucket {bucket} at this key: its artifacts and \
             report exports name other places"
        )))
    }
}

/// The buckets of the build's S3 artifacts (primary and secondary).
pub(crate) fn settings_buckets(record: &BuildRecord) -> impl Iterator<Item = &str> {
    std::iter::once(&record.settings.artifacts)
        .chain(&record.settings.secondary_artifacts)
        .filter(|a| a.artifacts_type.as_deref() == Some("S3"))
        .filter_map(|a| a.location.as_deref())
        .filter(|bucket| !bucket.is_empty())
}

/// The reports of the build `key` may be the export of: a report export's key is
/// `[<path>/]<group>/<build uuid>` (its files below it) or `…/<build uuid>.zip`, so each
/// segment naming the build, after a group name, gives one report ARN.
pub(crate) fn report_candidates(region: &str, record: &BuildRecord, key: &str) -> Vec<String> {
    let zip = format!("{}.zip", record.uuid);
    let segments: Vec<&str> = key.split('/').collect();
    segments
        .windows(2)
        .filter(|pair| pair[1] == record.uuid || pair[1] == zip)
        .map(|pair| report_arn(region, &record.account_id, pair[0], &record.uuid))
        .take(MAX_REPORT_CANDIDATES)
        .collect()
}

/// Whether `key` of `bucket` is where `export` puts the raw files of build `uuid`: its ZIP,
/// or a file below its prefix.
pub(crate) fn export_holds(export: &ReportExport, uuid: &str, bucket: &str, key: &str) -> bool {
    if export.bucket != bucket {
        return false;
    }
    let Ok(expected) = export.key(uuid) else {
        return false;
    };
    if export.packaging_zip {
        key == expected
    } else {
        key.strip_prefix(&expected)
            .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
    }
}

#[cfg(test)]
mod tests {
    use kiln_domain::project::ProjectArtifacts;

    use super::*;

    const UUID: &str = "5b2a7c0e-0000-4000-8000-000000000001";

    fn s3(bucket: &str) -> ProjectArtifacts {
        ProjectArtifacts {
            artifacts_type: Some("S3".into()),
            location: Some(bucket.into()),
            ..ProjectArtifacts::default()
        }
    }

    fn record() -> BuildRecord {
        kiln_store_conformance::fixtures::queued_build("000000000000", "proj", 1, None)
    }

    #[test]
    fn a_build_writes_to_the_buckets_of_its_s3_artifacts() {
        let mut record = record();
        record.settings.artifacts = s3("primary");
        record.settings.secondary_artifacts = vec![
            s3("second"),
            ProjectArtifacts {
                artifacts_type: Some("NO_ARTIFACTS".into()),
                location: Some("ignored".into()),
                ..ProjectArtifacts::default()
            },
            s3(""),
        ];
        let buckets: Vec<&str> = settings_buckets(&record).collect();
        assert_eq!(buckets, ["primary", "second"]);
        record.settings.artifacts = ProjectArtifacts::default();
        record.settings.secondary_artifacts.clear();
        assert_eq!(settings_buckets(&record).count(), 0);
    }

    #[test]
    fn a_report_export_key_names_its_report() {
        let record = record();
        let arn = |group: &str| report_arn("eu-west-1", "000000000000", group, UUID);
        assert_eq!(
            report_candidates("eu-west-1", &record, &format!("out/proj-unit/{UUID}.zip")),
            [arn("proj-unit")]
        );
        assert_eq!(
            report_candidates("eu-west-1", &record, &format!("proj-unit/{UUID}/junit.xml")),
            [arn("proj-unit")]
        );
        for key in [
            format!("{UUID}/junit.xml"),
            "proj-unit/other-build/junit.xml".to_owned(),
            "a/b/c".to_owned(),
        ] {
            assert!(
                report_candidates("eu-west-1", &record, &key).is_empty(),
                "{key}"
            );
        }
        let many = format!("{UUID}/").repeat(40);
        assert!(report_candidates("eu-west-1", &record, &many).len() <= MAX_REPORT_CANDIDATES);
    }

    #[test]
    fn only_the_exports_own_keys_are_writable() {
        let files = ReportExport {
            bucket: "reports".into(),
            path: Some("raw".into()),
            group_name: "proj-unit".into(),
            packaging_zip: false,
        };
        assert!(export_holds(
            &files,
            UUID,
            "reports",
            &format!("raw/proj-unit/{UUID}/junit.xml")
        ));
        for (bucket, key) in [
            ("other", format!("raw/proj-unit/{UUID}/junit.xml")),
            ("reports", format!("raw/proj-unit/{UUID}")),
            ("reports", format!("raw/proj-unit/{UUID}/")),
            ("reports", format!("elsewhere/proj-unit/{UUID}/junit.xml")),
            ("reports", format!("raw/proj-unit/{UUID}x/junit.xml")),
        ] {
            assert!(!export_holds(&files, UUID, bucket, &key), "{bucket} {key}");
        }
        let zip = ReportExport {
            packaging_zip: true,
            path: None,
            ..files
        };
        assert!(export_holds(
            &zip,
            UUID,
            "reports",
            &format!("proj-unit/{UUID}.zip")
        ));
        assert!(!export_holds(
            &zip,
            UUID,
            "reports",
            &format!("proj-unit/{UUID}.zip/x")
        ));
    }
}
