//! Compute fleets as every backend stores them (table `fleets`), and what deleting one says.

use kiln_domain::build::BuildRecord;
use kiln_domain::fleet::FleetRecord;
use sqlx::{ColumnIndex, Decode, FromRow, Row, Type};

use crate::records::{RecordRow, from_json, to_json};
use crate::{Page, ProjectKey, ProjectSort, StoreResult};

/// What [`crate::Store::delete_fleet`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeletedFleet {
    Deleted,
    /// The account has no fleet of that ARN.
    NotFound,
    /// A project still runs its builds on the fleet (the first such project, by name): the
    /// fleet is kept.
    InUse {
        project: String,
    },
}

/// An incomplete build of a fleet, as [`crate::Store::fleet_builds`] reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetBuild {
    pub record: BuildRecord,
    /// Who holds its lease (an agent's is [`crate::AgentSession::lease_owner`]); `None` while
    /// the build waits in the queue.
    pub lease_owner: Option<String>,
}

/// The columns [`FleetBuildRow`] reads, in both backends' `builds`.
pub const FLEET_BUILD_COLUMNS: &str = "record, lease_owner";

/// A row of `builds` read as a [`FleetBuild`].
#[derive(FromRow)]
pub struct FleetBuildRow {
    record: String,
    lease_owner: Option<String>,
}

impl RecordRow for FleetBuildRow {
    type Record = FleetBuild;

    fn into_record(self) -> StoreResult<FleetBuild> {
        Ok(FleetBuild {
            record: from_json(&self.record)?,
            lease_owner: self.lease_owner,
        })
    }
}

/// The `settings` column: a fleet's settings as JSON.
pub fn fleet_settings_json(fleet: &FleetRecord) -> StoreResult<String> {
    to_json(&fleet.settings)
}

/// The `fleet_arn` column of `projects` and `builds`: the fleet an environment names.
pub fn fleet_arn_column(
    environment: Option<&kiln_domain::project::ProjectEnvironment>,
) -> Option<&str> {
    environment?.fleet_arn()
}

/// A row of `fleets`.
#[derive(FromRow)]
pub struct FleetRow {
    account_id: String,
    name: String,
    id: String,
    arn: String,
    created: f64,
    last_modified: f64,
    settings: String,
}

impl RecordRow for FleetRow {
    type Record = FleetRecord;

    fn into_record(self) -> StoreResult<FleetRecord> {
        Ok(FleetRecord {
            account_id: self.account_id,
            name: self.name,
            id: self.id,
            arn: self.arn,
            created: self.created,
            last_modified: self.last_modified,
            settings: from_json(&self.settings)?,
        })
    }
}

/// A page of fleet ARNs from rows of `arn`, `name` and, unless sorting by name, `sort_value`;
/// keys are as projects' (the sort value and the name).
pub fn fleet_page<'r, R: Row>(
    rows: &'r [R],
    sort: ProjectSort,
    limit: u64,
) -> StoreResult<Page<String, ProjectKey>>
where
    &'r str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    f64: Decode<'r, R::Database> + Type<R::Database>,
{
    let keyed = rows
        .iter()
        .map(|row| {
            let sort_value = match sort {
                ProjectSort::Name => 0.0,
                _ => row.try_get("sort_value")?,
            };
            let key = ProjectKey {
                sort_value,
                name: row.try_get("name")?,
            };
            Ok((row.try_get::<String, _>("arn")?, key))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Page::from_overfetched(
        keyed,
        limit,
        |(arn, _)| arn.clone(),
        |(_, key)| key.clone(),
    ))
}

/// The column a fleet listing sorts by, and its direction and keyset comparison. Fixed text
/// only: both come from enums.
pub fn fleet_sort_sql(
    sort: ProjectSort,
    ascending: bool,
) -> (&'static str, &'static str, &'static str) {
    let column = match sort {
        ProjectSort::Name => "name",
        ProjectSort::Created => "created",
        ProjectSort::LastModified => "last_modified",
    };
    if ascending {
        (column, "ASC", ">")
    } else {
        (column, "DESC", "<")
    }
}
