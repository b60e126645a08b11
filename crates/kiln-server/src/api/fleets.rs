//! Compute fleet operations: CreateFleet, BatchGetFleets, ListFleets, UpdateFleet and
//! DeleteFleet, and the check that a project or build names a fleet of the account.

use kiln_domain::fleet::{self, FleetInput, FleetRecord};
use kiln_domain::project::ProjectEnvironment;
use kiln_domain::validate::{self, Violations};
use kiln_domain::{ApiError, ErrorKind, enums};
use kiln_store::{DeletedFleet, ProjectKey, ProjectSort, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::reports::{arn_list, page_size};
use super::{Caller, paging, parse_input, store_failure};
use crate::state::AppState;

fn shown(reference: &str) -> &str {
    crate::protocol::truncate(reference, 300)
}

fn not_found(reference: &str) -> ApiError {
    ApiError::not_found(format!("Fleet {} does not exist", shown(reference)))
}

/// The `Fleet` shapes of `fleets`, each with its status from its connected capacity.
async fn fleets_json(
    state: &AppState,
    account_id: &str,
    fleets: &[&FleetRecord],
) -> Result<Vec<Value>, ApiError> {
    let arns: Vec<&str> = fleets.iter().map(|f| f.arn.as_str()).collect();
    let capacity = crate::fleets::connected_capacity(state, account_id, &arns).await?;
    Ok(fleets
        .iter()
        .map(|f| f.to_api(&crate::fleets::status_of(f, &capacity)))
        .collect())
}

async fn fleet_json(state: &AppState, fleet: &FleetRecord) -> Result<Value, ApiError> {
    let mut list = fleets_json(state, &fleet.account_id, &[fleet]).await?;
    list.pop().ok_or_else(ApiError::internal)
}

/// The caller's fleet that `reference` names (by name or ARN).
async fn find(
    state: &AppState,
    caller: &Caller,
    reference: &str,
) -> Result<Option<FleetRecord>, ApiError> {
    state
        .store
        .fleet(&caller.account_id, reference)
        .await
        .map_err(store_failure)
}

pub async fn create(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: FleetInput = parse_input(input)?;
    let id = uuid::Uuid::new_v4().to_string();
    let record = fleet::validate_create(
        input,
        &caller.account_id,
        &state.region,
        &id,
        state.now_epoch(),
    )?;
    match state.store.create_fleet(&record).await {
        Ok(()) => Ok(json!({ "fleet": fleet_json(state, &record).await? })),
        Err(StoreError::AlreadyExists) => Err(ApiError::new(
            ErrorKind::ResourceAlreadyExists,
            format!("Fleet already exists: {}", record.name),
        )),
        Err(e) => Err(store_failure(e)),
    }
}

pub async fn update(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: FleetInput = parse_input(input)?;
    let arn = validate::required("arn", input.arn.clone())?;
    let mut record = find(state, caller, &arn)
        .await?
        .ok_or_else(|| not_found(&arn))?;
    fleet::apply_update(&mut record, input, state.now_epoch())?;
    match state.store.update_fleet(&record).await {
        Ok(()) => Ok(json!({ "fleet": fleet_json(state, &record).await? })),
        Err(StoreError::NotFound) => Err(not_found(&arn)),
        Err(e) => Err(store_failure(e)),
    }
}

#[derive(Deserialize)]
struct ArnInput {
    arn: Option<String>,
}

/// The model lists only InvalidInputException for DeleteFleet: an unknown fleet and a fleet a
/// project still runs on are both invalid input.
pub async fn delete(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: ArnInput = parse_input(input)?;
    let arn = validate::required("arn", input.arn)?;
    let missing = || ApiError::invalid_input(format!("Fleet {} does not exist", shown(&arn)));
    let record = find(state, caller, &arn).await?.ok_or_else(missing)?;
    let deleted = state
        .store
        .delete_fleet(&caller.account_id, &record.arn)
        .await
        .map_err(store_failure)?;
    match deleted {
        DeletedFleet::Deleted => Ok(json!({})),
        DeletedFleet::NotFound => Err(missing()),
        DeletedFleet::InUse { project } => Err(ApiError::invalid_input(format!(
            "Fleet {} cannot be deleted: it is used by project {project}. Change the project's environment.fleet first",
            record.name
        ))),
    }
}

#[derive(Deserialize)]
struct BatchGetInput {
    names: Option<Vec<String>>,
}

pub async fn batch_get(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: BatchGetInput = parse_input(input)?;
    let names = arn_list("names", input.names)?;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let stored = state
        .store
        .get_fleets(&caller.account_id, &refs)
        .await
        .map_err(store_failure)?;
    let mut found = Vec::new();
    let mut not_found = Vec::new();
    for reference in &names {
        match stored
            .iter()
            .find(|f| &f.name == reference || &f.arn == reference)
        {
            Some(f) => found.push(f),
            None => not_found.push(reference.clone()),
        }
    }
    let fleets = fleets_json(state, &caller.account_id, &found).await?;
    Ok(json!({ "fleets": fleets, "fleetsNotFound": not_found }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListInput {
    sort_by: Option<String>,
    sort_order: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

pub async fn list(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: ListInput = parse_input(input)?;
    let mut v = Violations::new();
    if let Some(s) = &input.sort_by {
        v.one_of("sortBy", s, enums::PROJECT_SORT_BY);
    }
    if let Some(s) = &input.sort_order {
        v.one_of("sortOrder", s, enums::SORT_ORDER);
    }
    let limit = page_size(&mut v, input.max_results);
    v.finish()?;
    let sort = match input.sort_by.as_deref() {
        Some("CREATED_TIME") => ProjectSort::Created,
        Some("LAST_MODIFIED_TIME") => ProjectSort::LastModified,
        _ => ProjectSort::Name,
    };
    let ascending = input.sort_order.as_deref() != Some("DESCENDING");
    let listing = format!("fleets:{sort:?}:{ascending}");
    // The sort value travels as its bits, as ListProjects' does.
    let after = match paging::decode::<(u64, String)>(&listing, input.next_token.as_deref())? {
        Some((bits, name)) if f64::from_bits(bits).is_finite() => Some(ProjectKey {
            sort_value: f64::from_bits(bits),
            name,
        }),
        Some(_) => {
            return Err(ApiError::invalid_input(
                "Invalid pagination token: nextToken",
            ));
        }
        None => None,
    };
    let page = state
        .store
        .list_fleets(&caller.account_id, sort, ascending, after.as_ref(), limit)
        .await
        .map_err(store_failure)?;
    let mut out = json!({ "fleets": page.items });
    let next = page.next.map(|next| (next.sort_value.to_bits(), next.name));
    paging::set_next(&mut out, "nextToken", &listing, next.as_ref());
    Ok(out)
}

/// `fleetArn` (at `field`) must be the ARN of one of the caller's fleets (`ProjectFleet`
/// documents an ARN; a fleet's name is refused with its ARN in the message).
pub(crate) async fn check_fleet_arn(
    state: &AppState,
    caller: &Caller,
    field: &str,
    fleet_arn: &str,
) -> Result<(), ApiError> {
    let fleet = find(state, caller, fleet_arn).await?;
    match fleet {
        Some(f) if f.arn == fleet_arn => Ok(()),
        Some(f) => Err(ApiError::invalid_input(format!(
            "{field} must be a fleet ARN, not a name: use {}",
            f.arn
        ))),
        None => Err(ApiError::invalid_input(format!(
            "{field}: fleet {} does not exist",
            shown(fleet_arn)
        ))),
    }
}

/// Checks the fleet a project's environment names, if it names one.
pub(crate) async fn check_environment(
    state: &AppState,
    caller: &Caller,
    environment: Option<&ProjectEnvironment>,
) -> Result<(), ApiError> {
    match environment.and_then(ProjectEnvironment::fleet_arn) {
        Some(arn) => check_fleet_arn(state, caller, "environment.fleet.fleetArn", arn).await,
        None => Ok(()),
    }
}
