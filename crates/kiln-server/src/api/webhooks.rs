//! Webhook operations: CreateWebhook, UpdateWebhook and DeleteWebhook. Kiln never registers a
//! hook with the forge: like CodeBuild's `manualCreation`, it answers with the payload URL and
//! the secret, and the forge's admin adds the hook.

use kiln_domain::project::ProjectRecord;
use kiln_domain::shapes::Webhook;
use kiln_domain::webhook::{
    self, CreateWebhookInput, SecretShown, UpdateWebhookInput, WebhookRecord,
};
use kiln_domain::{ApiError, ErrorKind, token};
use kiln_store::StoreError;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, parse_input, store_failure};
use crate::state::AppState;

fn project_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "Project cannot be found: {}",
        crate::protocol::truncate(name, 255)
    ))
}

fn webhook_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "Webhook cannot be found for project: {}",
        crate::protocol::truncate(name, 255)
    ))
}

async fn load_project(
    state: &AppState,
    caller: &Caller,
    name: &str,
) -> Result<ProjectRecord, ApiError> {
    state
        .store
        .get_project(&caller.account_id, name)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| project_not_found(name))
}

/// Webhooks build pushed commits, so the project's source must be a repository.
fn check_source(project: &ProjectRecord) -> Result<(), ApiError> {
    let source_type = project
        .settings
        .source
        .as_ref()
        .and_then(|s| s.source_type.as_deref())
        .unwrap_or("NO_SOURCE");
    match source_type {
        "CODEPIPELINE" | "S3" | "NO_SOURCE" => Err(ApiError::invalid_input(format!(
            "Webhooks need a git repository source; project {} has source type {source_type}",
            project.name
        ))),
        _ => Ok(()),
    }
}

fn webhook_json(state: &AppState, hook: &WebhookRecord, secret: SecretShown) -> Value {
    json!({ "webhook": hook.to_api(&state.public_url, secret) })
}

pub async fn create(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: CreateWebhookInput = parse_input(input)?;
    let (name, config) = webhook::validate_create(input)?;
    let project = load_project(state, caller, &name).await?;
    check_source(&project)?;
    let now = state.now_epoch();
    let hook = WebhookRecord {
        account_id: caller.account_id.clone(),
        project_name: project.name,
        token: token::new_token(),
        secret: token::new_token(),
        config,
        created: now,
        last_modified_secret: now,
    };
    match state.store.create_webhook(&hook).await {
        Ok(()) => Ok(webhook_json(state, &hook, SecretShown::InFull)),
        Err(StoreError::AlreadyExists) => Err(ApiError::new(
            ErrorKind::ResourceAlreadyExists,
            format!("Webhook already exists for project: {name}"),
        )),
        Err(StoreError::NotFound) => Err(project_not_found(&name)),
        Err(e) => Err(store_failure(e)),
    }
}

pub async fn update(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: UpdateWebhookInput = parse_input(input)?;
    let update = webhook::validate_update(input)?;
    let name = update.project_name.clone();
    load_project(state, caller, &name).await?;
    let mut hook = state
        .store
        .get_webhook(&caller.account_id, &name)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| webhook_not_found(&name))?;
    let rotate = update.rotate_secret;
    update.apply(&mut hook.config)?;
    if rotate {
        hook.secret = token::new_token();
        hook.last_modified_secret = state.now_epoch();
    }
    match state.store.update_webhook(&hook).await {
        Ok(()) => {
            let shown = if rotate {
                SecretShown::InFull
            } else {
                SecretShown::Hidden
            };
            Ok(webhook_json(state, &hook, shown))
        }
        Err(StoreError::NotFound) => Err(webhook_not_found(&name)),
        Err(e) => Err(store_failure(e)),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteInput {
    project_name: Option<String>,
}

pub async fn delete(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: DeleteInput = parse_input(input)?;
    let name = kiln_domain::validate::required("projectName", input.project_name)?;
    load_project(state, caller, &name).await?;
    let deleted = state
        .store
        .delete_webhook(&caller.account_id, &name)
        .await
        .map_err(store_failure)?;
    if !deleted {
        return Err(webhook_not_found(&name));
    }
    Ok(json!({}))
}

/// The project's webhook (secret hidden), as `BatchGetProjects` shows it in the project.
pub(crate) async fn of_project(
    state: &AppState,
    project: &ProjectRecord,
) -> Result<Option<Webhook>, ApiError> {
    let hook = state
        .store
        .get_webhook(&project.account_id, &project.name)
        .await
        .map_err(store_failure)?;
    Ok(hook.map(|hook| hook.to_api(&state.public_url, SecretShown::Hidden)))
}
