//! Report groups: `CreateReportGroup` / `UpdateReportGroup` input, validated as CodeBuild does,
//! and the stored record.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ReportType, report_group_arn};
use crate::ApiError;
use crate::project::{Tag, validate_tags};
use crate::validate::{self, Violations};

/// The names Kiln accepts for report groups. The model gives only a length (`ReportGroupName`,
/// 2 to 128); Kiln keeps to the project name alphabet, so that a name is safe in an ARN (no `/`
/// nor `:`) and `<project>-<name>` of a buildspec is a valid group name.
pub const GROUP_NAME_PATTERN: &str = "[A-Za-z0-9][A-Za-z0-9\\-_]{1,127}";

const EXPORT_CONFIG_TYPE: &[&str] = &["S3", "NO_EXPORT"];
const PACKAGING: &[&str] = &["ZIP", "NONE"];

/// `ReportExportConfig`: where the raw report files go.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportExportConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_config_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_destination: Option<S3ReportExportConfig>,
}

/// `S3ReportExportConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3ReportExportConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packaging: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_disabled: Option<bool>,
}

impl ReportExportConfig {
    /// What CodeBuild gives a group the buildspec creates: no export.
    pub fn no_export() -> Self {
        Self {
            export_config_type: Some("NO_EXPORT".into()),
            s3_destination: None,
        }
    }

    fn validate(&self, v: &mut Violations) {
        match self.export_config_type.as_deref() {
            None => v.missing("exportConfig.exportConfigType"),
            Some(t) => v.one_of("exportConfig.exportConfigType", t, EXPORT_CONFIG_TYPE),
        }
        if let Some(s3) = &self.s3_destination {
            if let Some(bucket) = &s3.bucket {
                v.min_length("exportConfig.s3Destination.bucket", bucket, 1);
            }
            if let Some(key) = &s3.encryption_key {
                v.min_length("exportConfig.s3Destination.encryptionKey", key, 1);
            }
            if let Some(p) = &s3.packaging {
                v.one_of("exportConfig.s3Destination.packaging", p, PACKAGING);
            }
        }
    }

    /// An S3 export needs its bucket (checked once the shapes are valid, as CodeBuild does).
    fn check_destination(&self) -> Result<(), ApiError> {
        let bucket = self
            .s3_destination
            .as_ref()
            .and_then(|s3| s3.bucket.as_deref());
        if self.export_config_type.as_deref() == Some("S3") && bucket.is_none() {
            return Err(ApiError::invalid_input(
                "Invalid export config: s3Destination.bucket is required when exportConfigType is S3",
            ));
        }
        Ok(())
    }
}

/// A report group as the store keeps it. Its status is always ACTIVE: a deletion is immediate.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportGroupRecord {
    pub account_id: String,
    pub name: String,
    pub report_type: ReportType,
    pub export_config: ReportExportConfig,
    pub tags: Vec<Tag>,
    pub created: f64,
    pub last_modified: f64,
}

impl ReportGroupRecord {
    pub fn arn(&self, region: &str) -> String {
        report_group_arn(region, &self.account_id, &self.name)
    }

    /// The group as `ReportGroup`; timestamps in epoch seconds.
    pub fn to_api(&self, region: &str) -> Value {
        json!({
            "arn": self.arn(region),
            "name": self.name,
            "type": self.report_type.as_str(),
            "exportConfig": self.export_config,
            "created": self.created,
            "lastModified": self.last_modified,
            "tags": self.tags,
            "status": "ACTIVE",
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateReportGroupInput {
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub report_type: Option<String>,
    pub export_config: Option<ReportExportConfig>,
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateReportGroupInput {
    pub arn: Option<String>,
    pub export_config: Option<ReportExportConfig>,
    pub tags: Option<Vec<Tag>>,
}

/// Checks a name against `ReportGroupName` and [`GROUP_NAME_PATTERN`].
pub fn validate_group_name(v: &mut Violations, field: &str, name: &str) {
    v.length(field, name, 2, 128);
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        v.add(
            field,
            name,
            &format!("Member must satisfy regular expression pattern: {GROUP_NAME_PATTERN}"),
        );
    }
}

/// `CreateReportGroup`: the new group of `account_id`, created at `now`.
pub fn validate_create(
    input: CreateReportGroupInput,
    account_id: &str,
    now: f64,
) -> Result<ReportGroupRecord, ApiError> {
    let mut v = Violations::new();
    match input.name.as_deref() {
        None => v.missing("name"),
        Some(name) => validate_group_name(&mut v, "name", name),
    }
    let allowed: Vec<&str> = ReportType::ALL.iter().map(|t| t.as_str()).collect();
    match input.report_type.as_deref() {
        None => v.missing("type"),
        Some(t) => v.one_of("type", t, &allowed),
    }
    match &input.export_config {
        None => v.missing("exportConfig"),
        Some(config) => config.validate(&mut v),
    }
    if let Some(tags) = &input.tags {
        validate_tags(&mut v, tags);
    }
    v.finish()?;
    let export_config = input.export_config.unwrap_or_default();
    export_config.check_destination()?;
    let report_type = input
        .report_type
        .as_deref()
        .and_then(ReportType::from_name)
        .ok_or_else(ApiError::internal)?;
    Ok(ReportGroupRecord {
        account_id: account_id.to_owned(),
        name: validate::required("name", input.name)?,
        report_type,
        export_config,
        tags: input.tags.unwrap_or_default(),
        created: now,
        last_modified: now,
    })
}

/// `UpdateReportGroup`: replaces what the input gives (export config, tags) at `now`. The
/// caller has found `record` by the input's `arn`.
pub fn apply_update(
    record: &mut ReportGroupRecord,
    input: UpdateReportGroupInput,
    now: f64,
) -> Result<(), ApiError> {
    let mut v = Violations::new();
    if let Some(config) = &input.export_config {
        config.validate(&mut v);
    }
    if let Some(tags) = &input.tags {
        validate_tags(&mut v, tags);
    }
    v.finish()?;
    if let Some(config) = input.export_config {
        config.check_destination()?;
        record.export_config = config;
    }
    if let Some(tags) = input.tags {
        record.tags = tags;
    }
    record.last_modified = now;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(value: Value) -> CreateReportGroupInput {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_valid_group_is_created() {
        let record = validate_create(
            input(json!({"name": "unit-tests", "type": "TEST",
                "exportConfig": {"exportConfigType": "S3",
                    "s3Destination": {"bucket": "b", "packaging": "ZIP"}},
                "tags": [{"key": "team", "value": "a"}]})),
            "111",
            5.0,
        )
        .unwrap();
        assert_eq!(record.report_type, ReportType::Test);
        assert_eq!(record.created, 5.0);
        let api = record.to_api("eu-west-1");
        assert_eq!(
            api["arn"],
            "arn:aws:codebuild:eu-west-1:111:report-group/unit-tests"
        );
        assert_eq!(api["exportConfig"]["s3Destination"]["bucket"], "b");
        assert_eq!(api["status"], "ACTIVE");
        assert_eq!(api["tags"][0]["key"], "team");
    }

    #[test]
    fn invalid_input_reads_like_aws() {
        let err = validate_create(input(json!({})), "111", 0.0).unwrap_err();
        assert!(
            err.message.starts_with("3 validation errors detected"),
            "{err}"
        );
        assert!(
            err.message.contains("Value null at 'exportConfig'"),
            "{err}"
        );
        let err = validate_create(
            input(
                json!({"name": "x", "type": "UNIT", "exportConfig": {"exportConfigType": "FTP"}}),
            ),
            "111",
            0.0,
        )
        .unwrap_err();
        assert!(err.message.contains("between 2 and 128"), "{err}");
        assert!(err.message.contains("Value 'UNIT' at 'type'"), "{err}");
        assert!(
            err.message.contains("'exportConfig.exportConfigType'"),
            "{err}"
        );
        let err = validate_create(
            input(json!({"name": "a/b", "type": "TEST", "exportConfig": {"exportConfigType": "NO_EXPORT"}})),
            "111",
            0.0,
        )
        .unwrap_err();
        assert!(err.message.contains("regular expression pattern"), "{err}");
        let err = validate_create(
            input(
                json!({"name": "ab", "type": "TEST", "exportConfig": {"exportConfigType": "S3"}}),
            ),
            "111",
            0.0,
        )
        .unwrap_err();
        assert!(err.message.contains("bucket is required"), "{err}");
        let tags: Vec<Value> = (0..51).map(|i| json!({"key": format!("k{i}")})).collect();
        let err = validate_create(
            input(json!({"name": "ab", "type": "TEST", "tags": tags,
                "exportConfig": {"exportConfigType": "NO_EXPORT"}})),
            "111",
            0.0,
        )
        .unwrap_err();
        assert!(err.message.contains("at 'tags'"), "{err}");
    }

    #[test]
    fn updates_replace_what_is_given() {
        let mut record = validate_create(
            input(json!({"name": "ab", "type": "CODE_COVERAGE",
                "exportConfig": {"exportConfigType": "NO_EXPORT"}, "tags": [{"key": "k"}]})),
            "111",
            1.0,
        )
        .unwrap();
        let update: UpdateReportGroupInput = serde_json::from_value(
            json!({"arn": "x", "exportConfig": {"exportConfigType": "S3",
                "s3Destination": {"bucket": "b"}}}),
        )
        .unwrap();
        apply_update(&mut record, update, 2.0).unwrap();
        assert_eq!(
            record.export_config.export_config_type.as_deref(),
            Some("S3")
        );
        assert_eq!(record.tags.len(), 1);
        assert_eq!((record.created, record.last_modified), (1.0, 2.0));
        let bad: UpdateReportGroupInput =
            serde_json::from_value(json!({"arn": "x", "exportConfig": {"exportConfigType": "S3"}}))
                .unwrap();
        assert!(apply_update(&mut record, bad, 3.0).is_err());
        assert_eq!(record.last_modified, 2.0);
    }
}
