//! Build operations: StartBuild, RetryBuild, StopBuild, BatchGetBuilds, BatchDeleteBuilds,
//! ListBuilds and ListBuildsForProject.

use std::collections::HashMap;

use kiln_domain::build::BuildRecord;
use kiln_domain::retry::{AutoRetry, NewBuild};
use kiln_domain::shapes::{BatchGetBuildsOutput, Build, BuildOutput, ListBuildsOutput};
use kiln_domain::start::StartBuildInput;
use kiln_domain::validate::{self, Violations};
use kiln_domain::{ApiError, enums};
use serde::Deserialize;
use serde_json::{Value, json};

use kiln_store::InsertedBuild;

use super::{Caller, paging, parse_input, store_failure};
use crate::state::AppState;

const PAGE_SIZE: u64 = 100;
/// How long an idempotency token names the build it started.
const IDEMPOTENCY_WINDOW_SECS: f64 = 300.0;

pub(crate) fn build_shape(state: &AppState, build: &BuildRecord) -> Build {
    build.to_api(&state.region, &state.public_url)
}

/// Splits `project:uuid` or a build ARN of the caller's account into (project, uuid).
/// The project and uuid a build id names (`<project>:<uuid>`, or the build's ARN in the
/// caller's account); `None` when it names no build the caller could have. An id without `:`
/// is refused outright, as CodeBuild does.
fn parse_build_id<'a>(
    state: &AppState,
    caller: &Caller,
    id: &'a str,
) -> Result<Option<(&'a str, &'a str)>, ApiError> {
    let prefix = format!(
        "arn:aws:codebuild:{}:{}:build/",
        state.region, caller.account_id
    );
    let id = id.strip_prefix(prefix.as_str()).unwrap_or(id);
    let Some((project, uuid)) = id.split_once(':') else {
        return Err(ApiError::invalid_input(format!(
            "Invalid build ID provided: {}",
            crate::protocol::truncate(id, 300)
        )));
    };
    Ok((!project.is_empty() && !uuid.is_empty()).then_some((project, uuid)))
}

/// Loads a build of the caller's account by id.
async fn find_build(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Option<BuildRecord>, ApiError> {
    let Some((project, uuid)) = parse_build_id(state, caller, id)? else {
        return Ok(None);
    };
    let build = state
        .store
        .get_build(&caller.account_id, uuid)
        .await
        .map_err(store_failure)?;
    Ok(build.filter(|b| b.project_name == project))
}

fn build_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!(
        "Build {} does not exist",
        crate::protocol::truncate(id, 300)
    ))
}

/// A new build of `project_name`, submitted and waiting in the queue.
pub(crate) fn new_build(
    state: &AppState,
    account_id: &str,
    project_name: &str,
    settings: kiln_domain::build::BuildSettings,
    source_epoch: i64,
    initiator: String,
) -> BuildRecord {
    BuildRecord::submitted(NewBuild {
        account_id,
        project_name,
        uuid: uuid::Uuid::new_v4().to_string(),
        settings,
        source_epoch,
        initiator,
        now: state.now_epoch(),
    })
}

/// Queues a new build. When its idempotency token already names a build of the project within
/// the window, nothing is queued and `build` becomes that build (refused if its settings differ).
pub(crate) async fn submit(state: &AppState, build: &mut BuildRecord) -> Result<(), ApiError> {
    let idempotency_since = state.now_epoch() - IDEMPOTENCY_WINDOW_SECS;
    let result = {
        let _change = state
            .badge_epoch
            .begin_change(&build.account_id, &build.project_name);
        state.store.insert_build(build, idempotency_since).await
    };
    match result {
        Ok(InsertedBuild::Inserted) => {
            state.builds.wake();
            Ok(())
        }
        Ok(InsertedBuild::Existing(existing)) if existing.settings != build.settings => {
            Err(ApiError::invalid_input(
                "The idempotency token was used with different parameters within the last 5 minutes",
            ))
        }
        Ok(InsertedBuild::Existing(existing)) => {
            *build = *existing;
            Ok(())
        }
        Err(kiln_store::StoreError::NotFound) => Err(ApiError::not_found(format!(
            "Project cannot be found: {}",
            build.project_name
        ))),
        Err(e) => Err(store_failure(e)),
    }
}

pub(crate) fn refuse_unsupported_platform(
    settings: &kiln_domain::build::BuildSettings,
) -> Result<(), ApiError> {
    if let Some(t) = settings.environment.env_type.as_deref()
        && (t.starts_with("WINDOWS") || t == "MAC_ARM")
    {
        return Err(ApiError::invalid_input(format!(
            "Environment type {t} cannot run on this Kiln host, which runs Linux builds only"
        )));
    }
    Ok(())
}

pub async fn start(
    state: &AppState,
    caller: &Caller,
    input: StartBuildInput,
) -> Result<BuildOutput, ApiError> {
    input.validate()?;
    let reference = input.project_name.clone().unwrap_or_default();
    let name = super::projects::name_from_reference(state, caller, &reference);
    let project = state
        .store
        .get_project(&caller.account_id, name)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| ApiError::not_found(format!("Project cannot be found: {name}")))?;
    let settings = input.resolve(&project)?;
    refuse_unsupported_platform(&settings)?;
    if let Some(arn) = input
        .fleet_override
        .as_ref()
        .and_then(|f| f.fleet_arn.as_deref())
    {
        super::fleets::check_fleet_arn(state, caller, "fleetOverride.fleetArn", arn).await?;
    }
    super::local_sources::check_build(
        state,
        &caller.account_id,
        &settings,
        input.source_location_override.is_some(),
    )?;

    let mut build = new_build(
        state,
        &caller.account_id,
        &project.name,
        settings,
        project.source_epoch,
        caller.access_key_id.clone(),
    );
    build.auto_retry = AutoRetry::first(input.auto_retry_limit(&project));
    build.idempotency_token = input.idempotency_token;
    submit(state, &mut build).await?;
    Ok(BuildOutput {
        build: build_shape(state, &build),
    })
}

/// The input of StopBuild and RetryBuild.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdInput {
    pub id: Option<String>,
    pub idempotency_token: Option<String>,
}

pub async fn stop(
    state: &AppState,
    caller: &Caller,
    input: IdInput,
) -> Result<BuildOutput, ApiError> {
    let id = validate::required("id", input.id)?;
    let build = find_build(state, caller, &id)
        .await?
        .ok_or_else(|| build_not_found(&id))?;
    let mut build = state.builds.stop(&build).await.map_err(|e| match e {
        kiln_store::StoreError::NotFound => build_not_found(&id),
        e => store_failure(e),
    })?;
    // A running build stops within seconds; answer with its state once it has, when it does soon.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !build.is_complete() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if let Some(fresh) = find_build(state, caller, &id).await? {
            build = fresh;
        }
    }
    Ok(BuildOutput {
        build: build_shape(state, &build),
    })
}

pub async fn retry(
    state: &AppState,
    caller: &Caller,
    input: IdInput,
) -> Result<BuildOutput, ApiError> {
    let id = validate::required("id", input.id)?;
    let old = find_build(state, caller, &id)
        .await?
        .ok_or_else(|| build_not_found(&id))?;
    if !old.is_complete() {
        return Err(ApiError::invalid_input(format!(
            "Build {id} is still in progress; only a completed build can be retried"
        )));
    }
    let project = state
        .store
        .get_project(&caller.account_id, &old.project_name)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| {
            ApiError::not_found(format!("Project cannot be found: {}", old.project_name))
        })?;
    super::local_sources::check_build(state, &caller.account_id, &old.settings, false)?;
    // The fleet the build ran on may be gone since.
    super::fleets::check_environment(state, caller, Some(&old.settings.environment)).await?;
    let mut build = old.retried(
        uuid::Uuid::new_v4().to_string(),
        project.source_epoch,
        caller.access_key_id.clone(),
        state.now_epoch(),
    );
    build.idempotency_token = input.idempotency_token;
    submit(state, &mut build).await?;
    Ok(BuildOutput {
        build: build_shape(state, &build),
    })
}

/// The input of BatchGetBuilds and BatchDeleteBuilds.
#[derive(Debug, Default, Deserialize)]
pub struct IdsInput {
    pub ids: Option<Vec<String>>,
}

fn required_ids(ids: Option<Vec<String>>) -> Result<Vec<String>, ApiError> {
    let ids = ids.unwrap_or_default();
    let mut v = Violations::new();
    if ids.is_empty() {
        v.add(
            "ids",
            "[]",
            "Member must have length greater than or equal to 1",
        );
    }
    v.count("ids", ids.len(), 100);
    for (i, id) in ids.iter().enumerate() {
        v.min_length(&format!("ids.{}.member", i + 1), id, 1);
    }
    v.finish()?;
    Ok(ids)
}

pub async fn batch_get(
    state: &AppState,
    caller: &Caller,
    input: IdsInput,
) -> Result<BatchGetBuildsOutput, ApiError> {
    let ids = required_ids(input.ids)?;
    let wanted = ids
        .iter()
        .map(|id| parse_build_id(state, caller, id))
        .collect::<Result<Vec<_>, _>>()?;
    let uuids: Vec<&str> = wanted.iter().flatten().map(|(_, uuid)| *uuid).collect();
    let found = state
        .store
        .get_builds(&caller.account_id, &uuids)
        .await
        .map_err(store_failure)?;
    let by_uuid: HashMap<&str, &BuildRecord> = found.iter().map(|b| (b.uuid.as_str(), b)).collect();
    let mut builds = Vec::new();
    let mut builds_not_found = Vec::new();
    // In the order asked, each id's build only if it is of the project the id names.
    for (id, wanted) in ids.iter().zip(&wanted) {
        let build = wanted.and_then(|(project, uuid)| {
            by_uuid
                .get(uuid)
                .filter(|b| b.project_name == project)
                .copied()
        });
        match build {
            Some(build) => builds.push(build_shape(state, build)),
            None => builds_not_found.push(id.clone()),
        }
    }
    Ok(BatchGetBuildsOutput {
        builds,
        builds_not_found,
    })
}

pub async fn batch_delete(
    state: &AppState,
    caller: &Caller,
    input: Value,
) -> Result<Value, ApiError> {
    let input: IdsInput = parse_input(input)?;
    let ids = required_ids(input.ids)?;
    for id in &ids {
        parse_build_id(state, caller, id)?;
    }
    let mut deleted = Vec::new();
    let mut not_deleted = Vec::new();
    for id in &ids {
        match find_build(state, caller, id).await? {
            None => not_deleted.push(json!({"id": id, "statusCode": "BUILD_NOT_FOUND"})),
            Some(build) if !build.is_complete() => {
                not_deleted.push(json!({"id": id, "statusCode": "BUILD_IN_PROGRESS"}));
            }
            Some(build) => {
                let _change = state
                    .badge_epoch
                    .begin_change(&build.account_id, &build.project_name);
                state
                    .store
                    .delete_build(&caller.account_id, &build.uuid)
                    .await
                    .map_err(store_failure)?;
                deleted.push(Value::String(id.clone()));
            }
        }
    }
    Ok(json!({ "buildsDeleted": deleted, "buildsNotDeleted": not_deleted }))
}

/// The input of ListBuilds and ListBuildsForProject.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListBuildsInput {
    pub project_name: Option<String>,
    pub sort_order: Option<String>,
    pub next_token: Option<String>,
}

async fn list_ids(
    state: &AppState,
    caller: &Caller,
    input: ListBuildsInput,
    project: Option<&str>,
) -> Result<ListBuildsOutput, ApiError> {
    let mut v = Violations::new();
    if let Some(s) = &input.sort_order {
        v.one_of("sortOrder", s, enums::SORT_ORDER);
    }
    v.finish()?;
    let ascending = input.sort_order.as_deref() == Some("ASCENDING");
    // A token only continues the listing (account or project, sort order) that issued it.
    let listing = format!(
        "builds:{}:{}",
        project.unwrap_or("*"),
        if ascending { "ASC" } else { "DESC" }
    );
    let after: Option<i64> = paging::decode(&listing, input.next_token.as_deref())?;
    let page = state
        .store
        .list_builds(&caller.account_id, project, ascending, after, PAGE_SIZE)
        .await
        .map_err(store_failure)?;
    Ok(ListBuildsOutput {
        ids: page.items,
        next_token: paging::token_after(&listing, page.next.as_ref()),
    })
}

pub async fn list(
    state: &AppState,
    caller: &Caller,
    input: ListBuildsInput,
) -> Result<ListBuildsOutput, ApiError> {
    list_ids(state, caller, input, None).await
}

pub async fn list_for_project(
    state: &AppState,
    caller: &Caller,
    input: ListBuildsInput,
) -> Result<ListBuildsOutput, ApiError> {
    let reference = validate::required("projectName", input.project_name.clone())?;
    let name = super::projects::name_from_reference(state, caller, &reference).to_string();
    state
        .store
        .get_project(&caller.account_id, &name)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| ApiError::not_found(format!("Project cannot be found: {name}")))?;
    list_ids(state, caller, input, Some(&name)).await
}
