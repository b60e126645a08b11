//! The Secrets Manager subset builds need (`secretsmanager.*`, signed for `secretsmanager`):
//! CreateSecret, PutSecretValue, GetSecretValue, DeleteSecret, ListSecrets and DescribeSecret,
//! with the shapes and error names of botocore's secretsmanager/2017-10-17 model
//! (docs/secrets.md).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kiln_domain::secrets::{self, AWSCURRENT};
use kiln_domain::{ApiError, ErrorKind};
use kiln_scheduler::secrets::{Missing, Vault};
use kiln_store::{StoreError, StoredSecret, StoredSecretVersion};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::ssm::vault_failure;
use super::{Caller, paging, parse_input, store_failure};
use crate::service::Service;
use crate::state::AppState;

/// Runs one operation by its Secrets Manager name.
pub async fn dispatch(
    state: &AppState,
    caller: &Caller,
    operation: &str,
    input: Value,
) -> Result<Value, ApiError> {
    match operation {
        "CreateSecret" => create(state, caller, input).await,
        "PutSecretValue" => put_value(state, caller, input).await,
        "GetSecretValue" => get_value(state, caller, input).await,
        "DeleteSecret" => delete(state, caller, input).await,
        "ListSecrets" => list(state, caller, input).await,
        "DescribeSecret" => describe(state, caller, input).await,
        other => Err(Service::SecretsManager.unserved(other)),
    }
}

/// The most days a deleted secret may be recovered in, and the least.
const RECOVERY_DAYS: std::ops::RangeInclusive<i64> = 7..=30;
const DAY_SECONDS: f64 = 86_400.0;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::InvalidParameter, message)
}

fn missing(missing: Missing) -> ApiError {
    let kind = match missing {
        Missing::DeletedSecret(_) => ErrorKind::InvalidRequest,
        _ => ErrorKind::ResourceNotFound,
    };
    ApiError::new(kind, missing.message())
}

fn vault(state: &AppState) -> &Vault {
    state.builds.vault()
}

/// The caller's secret `secret_id` names (name or ARN), deleted or not.
async fn any_secret(
    state: &AppState,
    caller: &Caller,
    secret_id: &str,
) -> Result<StoredSecret, ApiError> {
    state
        .store
        .secret(&caller.account_id, secret_id)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| {
            missing(Missing::Secret(
                "Secrets Manager can't find the specified secret.".to_owned(),
            ))
        })
}

/// The value of an input: its string, or its binary (base64 on the wire).
fn secret_value(
    string: Option<String>,
    binary: Option<String>,
) -> Result<Option<(Vec<u8>, bool)>, ApiError> {
    let value = match (string, binary) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "You can't specify both a binary secret value and a string secret value in the same secret.",
            ));
        }
        (Some(text), None) => Some((text.into_bytes(), false)),
        (None, Some(encoded)) => {
            let bytes = STANDARD
                .decode(encoded)
                .map_err(|_| invalid("SecretBinary is not base64"))?;
            Some((bytes, true))
        }
        (None, None) => None,
    };
    if let Some((bytes, _)) = &value
        && bytes.len() > secrets::MAX_SECRET_STRING_BYTES
    {
        return Err(invalid(format!(
            "The secret value is longer than {} bytes",
            secrets::MAX_SECRET_STRING_BYTES
        )));
    }
    Ok(value)
}

/// A `ClientRequestToken` (the version's id): 32 to 64 characters, or a new UUID.
fn version_id(token: Option<String>) -> Result<String, ApiError> {
    match token {
        None => Ok(uuid::Uuid::new_v4().to_string()),
        Some(token)
            if (32..=64).contains(&token.len())
                && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
        {
            Ok(token)
        }
        Some(_) => Err(invalid(
            "ClientRequestToken must be 32 to 64 letters, digits or hyphens",
        )),
    }
}

fn sealed_version(
    state: &AppState,
    secret: &StoredSecret,
    version_id: String,
    (value, binary): (Vec<u8>, bool),
    stages: Vec<String>,
) -> Result<StoredSecretVersion, ApiError> {
    Ok(StoredSecretVersion {
        ciphertext: vault(state)
            .seal_secret(&secret.account_id, &secret.name, &version_id, &value)
            .map_err(vault_failure)?,
        version_id,
        binary,
        created: state.now_epoch(),
        stages,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateInput {
    name: String,
    client_request_token: Option<String>,
    description: Option<String>,
    secret_string: Option<String>,
    secret_binary: Option<String>,
    add_replica_regions: Option<Vec<Value>>,
    /// Accepted: values are encrypted with Kiln's own key, whatever KMS key is named.
    #[serde(rename = "KmsKeyId")]
    _kms_key_id: Option<String>,
    /// Accepted and not kept.
    #[serde(rename = "Tags")]
    _tags: Option<Value>,
    #[serde(rename = "ForceOverwriteReplicaSecret")]
    _force_overwrite_replica_secret: Option<bool>,
}

async fn create(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: CreateInput = parse_input(input)?;
    let name = secrets::secret_name(&input.name).map_err(invalid)?;
    if input.add_replica_regions.is_some_and(|r| !r.is_empty()) {
        return Err(invalid("Kiln does not replicate secrets to other regions"));
    }
    let value = secret_value(input.secret_string, input.secret_binary)?;
    // Six random characters, as Secrets Manager ends its ARNs with.
    let suffix: String = uuid::Uuid::new_v4().simple().to_string()[..6].to_owned();
    let now = state.now_epoch();
    let secret = StoredSecret {
        account_id: caller.account_id.clone(),
        name: name.to_owned(),
        arn: secrets::secret_arn(&state.region, &caller.account_id, name, &suffix),
        description: input.description,
        created: now,
        last_changed: now,
        deleted: None,
    };
    let first = match value {
        Some(value) => {
            let id = version_id(input.client_request_token)?;
            Some(sealed_version(
                state,
                &secret,
                id,
                value,
                vec![AWSCURRENT.to_owned()],
            )?)
        }
        None => None,
    };
    match state.store.create_secret(&secret, first.as_ref()).await {
        Ok(()) => {}
        Err(StoreError::AlreadyExists) => {
            return Err(ApiError::new(
                ErrorKind::ResourceExists,
                format!("The operation failed because the secret {name} already exists."),
            ));
        }
        Err(e) => return Err(store_failure(e)),
    }
    let mut out = json!({ "ARN": secret.arn, "Name": secret.name });
    if let Some(first) = first {
        out["VersionId"] = json!(first.version_id);
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutValueInput {
    secret_id: String,
    client_request_token: Option<String>,
    secret_string: Option<String>,
    secret_binary: Option<String>,
    version_stages: Option<Vec<String>>,
}

async fn put_value(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: PutValueInput = parse_input(input)?;
    let secret = vault(state)
        .live_secret(&caller.account_id, &input.secret_id)
        .await
        .map_err(vault_failure)?
        .map_err(missing)?;
    let value = secret_value(input.secret_string, input.secret_binary)?
        .ok_or_else(|| invalid("You must provide either SecretString or SecretBinary."))?;
    let stages = input
        .version_stages
        .unwrap_or_else(|| vec![AWSCURRENT.to_owned()]);
    if stages.is_empty()
        || stages.len() > 20
        || stages.iter().any(|s| s.is_empty() || s.len() > 256)
    {
        return Err(invalid(
            "VersionStages must hold 1 to 20 labels of 1 to 256 characters",
        ));
    }
    let id = version_id(input.client_request_token)?;
    let answer = json!({
        "ARN": secret.arn, "Name": secret.name, "VersionId": id, "VersionStages": stages,
    });
    let version = sealed_version(state, &secret, id, value.clone(), stages)?;
    match state
        .store
        .put_secret_version(&caller.account_id, &secret.name, &version)
        .await
    {
        Ok(()) => Ok(answer),
        Err(StoreError::AlreadyExists) => {
            // The same token with the same value is a retry: nothing changes.
            let versions = state
                .store
                .secret_versions(&caller.account_id, &secret.name)
                .await
                .map_err(store_failure)?;
            let existing = versions.iter().find(|v| v.version_id == version.version_id);
            match existing.map(|v| vault(state).open_secret(&secret, v)) {
                Some(Ok(stored)) if stored == value.0 => Ok(answer),
                Some(Err(e)) => Err(vault_failure(e)),
                _ => Err(ApiError::new(
                    ErrorKind::ResourceExists,
                    "You can't modify an existing version, you can only create a new version.",
                )),
            }
        }
        Err(StoreError::NotFound) => Err(missing(Missing::Secret(
            "Secrets Manager can't find the specified secret.".to_owned(),
        ))),
        Err(e) => Err(store_failure(e)),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetValueInput {
    secret_id: String,
    version_id: Option<String>,
    version_stage: Option<String>,
}

async fn get_value(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: GetValueInput = parse_input(input)?;
    let (secret, version) = vault(state)
        .secret_version(
            &caller.account_id,
            &input.secret_id,
            input.version_id.as_deref(),
            input.version_stage.as_deref(),
        )
        .await
        .map_err(vault_failure)?
        .map_err(missing)?;
    let value = vault(state)
        .open_secret(&secret, &version)
        .map_err(vault_failure)?;
    let mut out = json!({
        "ARN": secret.arn,
        "Name": secret.name,
        "VersionId": version.version_id,
        "VersionStages": version.stages,
        "CreatedDate": version.created,
    });
    if version.binary {
        out["SecretBinary"] = json!(STANDARD.encode(&value));
    } else {
        out["SecretString"] = json!(String::from_utf8_lossy(&value));
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteInput {
    secret_id: String,
    recovery_window_in_days: Option<i64>,
    #[serde(default)]
    force_delete_without_recovery: bool,
}

/// With `ForceDeleteWithoutRecovery`, the secret and its versions are removed at once.
/// Otherwise it is marked deleted with its deletion date (it then reads as deleted); Kiln does
/// not remove it at that date, nor serve RestoreSecret (docs/secrets.md).
async fn delete(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: DeleteInput = parse_input(input)?;
    if input.force_delete_without_recovery && input.recovery_window_in_days.is_some() {
        return Err(invalid(
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
        ));
    }
    let days = input.recovery_window_in_days.unwrap_or(30);
    if !RECOVERY_DAYS.contains(&days) {
        return Err(invalid(
            "The recovery window must be between 7 and 30 days.",
        ));
    }
    let secret = any_secret(state, caller, &input.secret_id).await?;
    let now = state.now_epoch();
    let deletion_date = if input.force_delete_without_recovery {
        None
    } else if secret.deleted.is_some() {
        return Err(missing(Missing::DeletedSecret(
            "You can't delete secret because it was already scheduled for deletion.".to_owned(),
        )));
    } else {
        Some(now + days as f64 * DAY_SECONDS)
    };
    state
        .store
        .delete_secret(&caller.account_id, &secret.name, deletion_date)
        .await
        .map_err(store_failure)?;
    Ok(json!({
        "ARN": secret.arn,
        "Name": secret.name,
        "DeletionDate": deletion_date.unwrap_or(now),
    }))
}

/// The fields ListSecrets and DescribeSecret share, with each version's stages under
/// `versions_key` (versions without a stage are not listed, as AWS).
async fn secret_json(
    state: &AppState,
    secret: &StoredSecret,
    versions_key: &str,
) -> Result<Value, ApiError> {
    let versions = state
        .store
        .secret_versions(&secret.account_id, &secret.name)
        .await
        .map_err(store_failure)?;
    let stages: Map<String, Value> = versions
        .into_iter()
        .filter(|v| !v.stages.is_empty())
        .map(|v| (v.version_id, json!(v.stages)))
        .collect();
    let mut out = json!({
        "ARN": secret.arn,
        "Name": secret.name,
        "RotationEnabled": false,
        "LastChangedDate": secret.last_changed,
        "CreatedDate": secret.created,
        "Tags": [],
    });
    out[versions_key] = Value::Object(stages);
    if let Some(description) = &secret.description {
        out["Description"] = json!(description);
    }
    if let Some(deleted) = secret.deleted {
        out["DeletedDate"] = json!(deleted);
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListInput {
    #[serde(default)]
    include_planned_deletion: bool,
    max_results: Option<i64>,
    next_token: Option<String>,
    filters: Option<Vec<Value>>,
    sort_order: Option<String>,
    sort_by: Option<String>,
}

async fn list(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: ListInput = parse_input(input)?;
    if input.filters.is_some_and(|f| !f.is_empty()) {
        return Err(invalid("Kiln does not support Filters on ListSecrets"));
    }
    if input.sort_order.is_some_and(|o| o != "asc") || input.sort_by.is_some_and(|b| b != "name") {
        return Err(invalid("Kiln lists secrets by name, ascending, only"));
    }
    let limit = match input.max_results {
        None => 100,
        Some(n @ 1..=100) => n as u64,
        Some(_) => return Err(invalid("MaxResults must be between 1 and 100")),
    };
    let listing = format!("secrets\n{}", input.include_planned_deletion);
    let after: Option<String> =
        paging::decode(&listing, input.next_token.as_deref()).map_err(|_| {
            ApiError::new(
                ErrorKind::InvalidNextTokenException,
                "The NextToken value is invalid.",
            )
        })?;
    let page = state
        .store
        .list_secrets(
            &caller.account_id,
            input.include_planned_deletion,
            after.as_deref(),
            limit,
        )
        .await
        .map_err(store_failure)?;
    let mut secrets = Vec::with_capacity(page.items.len());
    for secret in &page.items {
        secrets.push(secret_json(state, secret, "SecretVersionsToStages").await?);
    }
    let mut out = json!({ "SecretList": secrets });
    paging::set_next(&mut out, "NextToken", &listing, page.next.as_ref());
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeInput {
    secret_id: String,
}

async fn describe(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: DescribeInput = parse_input(input)?;
    let secret = any_secret(state, caller, &input.secret_id).await?;
    secret_json(state, &secret, "VersionIdsToStages").await
}
