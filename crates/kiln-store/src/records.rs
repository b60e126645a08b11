//! Records as every backend stores them: the columns written from a record, and the row structs
//! that read one back. The row structs derive `sqlx::FromRow` for any row type, so SQLite and
//! PostgreSQL read one shape; only the SQL is each backend's own (the dialects differ). The
//! columns decode alike on both: TEXT as `String`, REAL and DOUBLE PRECISION as `f64`, INTEGER
//! and BIGINT as `i64`, and SQLite's INTEGER 0/1 as PostgreSQL's BOOLEAN, `bool`.

use kiln_domain::build::{BuildRecord, BuildStatus};
use kiln_domain::project::ProjectRecord;
use kiln_domain::refs::GitRef;
use kiln_domain::visibility::{ProjectVisibility, PublicAccess};
use kiln_domain::webhook::{DeliveryOutcome, DeliveryRecord, WebhookRecord};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::{FromRow, Row};

use crate::{Lease, LeasedBuild, StoreError, StoreResult};

/// A record's stored columns, read from a row, and how they make the record.
pub trait RecordRow: Sized {
    type Record;

    /// The record; `Corrupt` when a stored value does not parse.
    fn into_record(self) -> StoreResult<Self::Record>;

    /// Reads the record from a row of any backend: a missing or mistyped column is a database
    /// error, a stored value that does not parse a corrupt record.
    fn read<'r, R: Row>(row: &'r R) -> StoreResult<Self::Record>
    where
        Self: FromRow<'r, R>,
    {
        <Self as FromRow<'r, R>>::from_row(row)?.into_record()
    }
}

/// The `settings` column: a project's settings as JSON.
pub fn settings_json(project: &ProjectRecord) -> StoreResult<String> {
    to_json(&project.settings)
}

/// The `record` column: the whole build as JSON.
pub fn build_json(build: &BuildRecord) -> StoreResult<String> {
    to_json(build)
}

/// The `config` column: a webhook's filter configuration as JSON.
pub fn webhook_config_json(webhook: &WebhookRecord) -> StoreResult<String> {
    to_json(&webhook.config)
}

/// The `ref_kind` and `ref_name` columns: the ref a build checked out, once known.
pub fn ref_columns(build: &BuildRecord) -> (Option<&'static str>, Option<&str>) {
    git_ref_columns(build.git_ref.as_ref())
}

/// `ref_kind` and `ref_name` of a ref, when there is one.
pub(crate) fn git_ref_columns(git_ref: Option<&GitRef>) -> (Option<&'static str>, Option<&str>) {
    match git_ref {
        Some(r) => {
            let (kind, name) = r.kind_and_name();
            (Some(kind), Some(name))
        }
        None => (None, None),
    }
}

/// The `default_branch` column: the branch a build without a source version checked out (the
/// remote's default branch).
pub fn default_branch_column(build: &BuildRecord) -> Option<&str> {
    match (&build.settings.source_version, &build.git_ref) {
        (None, Some(GitRef::Branch(name))) => Some(name),
        _ => None,
    }
}

/// A build's `status` column.
pub fn build_status(status: &str) -> StoreResult<BuildStatus> {
    BuildStatus::parse(status).ok_or_else(|| StoreError::Corrupt(format!("build status {status}")))
}

pub(crate) fn to_json(value: &impl Serialize) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn from_json<T: DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A row of `projects`.
#[derive(FromRow)]
pub struct ProjectRow {
    account_id: String,
    name: String,
    settings: String,
    badge_enabled: bool,
    badge_token: String,
    created: f64,
    last_modified: f64,
    source_epoch: i64,
    visibility: String,
    public_alias: Option<String>,
    resource_access_role: Option<String>,
}

impl RecordRow for ProjectRow {
    type Record = ProjectRecord;

    fn into_record(self) -> StoreResult<ProjectRecord> {
        Ok(ProjectRecord {
            account_id: self.account_id,
            name: self.name,
            settings: from_json(&self.settings)?,
            badge_enabled: self.badge_enabled,
            badge_token: self.badge_token,
            created: self.created,
            last_modified: self.last_modified,
            source_epoch: self.source_epoch,
            public: PublicAccess {
                visibility: ProjectVisibility::parse(&self.visibility).ok_or_else(|| {
                    StoreError::Corrupt(format!("project visibility {}", self.visibility))
                })?,
                alias: self.public_alias,
                resource_access_role: self.resource_access_role,
            },
        })
    }
}

/// The `record` column of a row of `builds` (the other columns index it).
#[derive(FromRow)]
pub struct BuildRow {
    record: String,
}

impl RecordRow for BuildRow {
    type Record = BuildRecord;

    fn into_record(self) -> StoreResult<BuildRecord> {
        from_json(&self.record)
    }
}

/// A leased build's row: its record and its lease.
#[derive(FromRow)]
pub struct LeasedBuildRow {
    record: String,
    lease_owner: String,
    version: i64,
}

impl RecordRow for LeasedBuildRow {
    type Record = LeasedBuild;

    fn into_record(self) -> StoreResult<LeasedBuild> {
        Ok(LeasedBuild {
            record: from_json(&self.record)?,
            lease: Lease {
                owner: self.lease_owner,
                version: self.version,
            },
        })
    }
}

/// A row of `webhooks`.
#[derive(FromRow)]
pub struct WebhookRow {
    account_id: String,
    project_name: String,
    token: String,
    secret: String,
    config: String,
    created: f64,
    last_modified_secret: f64,
}

impl RecordRow for WebhookRow {
    type Record = WebhookRecord;

    fn into_record(self) -> StoreResult<WebhookRecord> {
        Ok(WebhookRecord {
            account_id: self.account_id,
            project_name: self.project_name,
            token: self.token,
            secret: self.secret,
            config: from_json(&self.config)?,
            created: self.created,
            last_modified_secret: self.last_modified_secret,
        })
    }
}

/// A row of `webhook_deliveries` (its `seq` and `claimed` stay with the backend).
#[derive(FromRow)]
pub struct DeliveryRow {
    account_id: String,
    project_name: String,
    delivery_id: Option<String>,
    forge: Option<String>,
    event: String,
    outcome: String,
    reason: String,
    build_id: Option<String>,
    received_at: f64,
    verified: bool,
}

impl RecordRow for DeliveryRow {
    type Record = DeliveryRecord;

    fn into_record(self) -> StoreResult<DeliveryRecord> {
        let outcome = DeliveryOutcome::parse(&self.outcome)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery outcome {}", self.outcome)))?;
        Ok(DeliveryRecord {
            account_id: self.account_id,
            project_name: self.project_name,
            delivery_id: self.delivery_id,
            forge: self.forge,
            event: self.event,
            outcome,
            reason: self.reason,
            build_id: self.build_id,
            received_at: self.received_at,
            verified: self.verified,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_that_do_not_parse_are_corrupt_records() {
        let build = BuildRow { record: "{".into() };
        assert!(matches!(build.into_record(), Err(StoreError::Corrupt(_))));
        let delivery = DeliveryRow {
            account_id: "111111111111".into(),
            project_name: "p".into(),
            delivery_id: None,
            forge: None,
            event: "PUSH".into(),
            outcome: "EXPLODED".into(),
            reason: String::new(),
            build_id: None,
            received_at: 0.0,
            verified: false,
        };
        let Err(StoreError::Corrupt(message)) = delivery.into_record() else {
            panic!("an unknown outcome is a corrupt record");
        };
        assert_eq!(message, "delivery outcome EXPLODED");
    }
}
