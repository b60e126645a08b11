//! The Parameter Store subset builds need (`AmazonSSM.*`, signed for `ssm`): PutParameter,
//! GetParameter, GetParameters, GetParametersByPath, DeleteParameter and DescribeParameters,
//! with the shapes and error names of botocore's ssm/2014-11-06 model (docs/secrets.md).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kiln_domain::secrets::{self, ParameterType};
use kiln_domain::{ApiError, ErrorKind};
use kiln_scheduler::secrets::{Missing, Vault, VaultError};
use kiln_store::{StoreError, StoredParameter};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, paging, parse_input, store_failure};
use crate::service::Service;
use crate::state::AppState;

/// Runs one operation by its SSM name.
pub async fn dispatch(
    state: &AppState,
    caller: &Caller,
    operation: &str,
    input: Value,
) -> Result<Value, ApiError> {
    match operation {
        "PutParameter" => put(state, caller, input).await,
        "GetParameter" => get(state, caller, input).await,
        "GetParameters" => get_many(state, caller, input).await,
        "GetParametersByPath" => by_path(state, caller, input).await,
        "DeleteParameter" => delete(state, caller, input).await,
        "DescribeParameters" => describe(state, caller, input).await,
        other => Err(Service::Ssm.unserved(other)),
    }
}

fn validation(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::Validation, message)
}

/// The answer to a vault failure: the store's, or a value this Kiln's key cannot open.
pub(crate) fn vault_failure(err: VaultError) -> ApiError {
    match err {
        VaultError::Store(e) => store_failure(e),
        VaultError::Cipher(e) => {
            tracing::error!(error = %e, "cannot encrypt or decrypt a stored value");
            ApiError::internal()
        }
    }
}

fn missing(missing: Missing) -> ApiError {
    let kind = match missing {
        Missing::ParameterVersion(_) => ErrorKind::ParameterVersionNotFound,
        Missing::Parameter(_) => ErrorKind::ParameterNotFound,
        _ => ErrorKind::ResourceNotFound,
    };
    ApiError::new(kind, missing.message())
}

fn vault(state: &AppState) -> &Vault {
    state.builds.vault()
}

fn parameter_arn(state: &AppState, p: &StoredParameter) -> String {
    let slash = if p.name.starts_with('/') { "" } else { "/" };
    format!(
        "arn:aws:ssm:{}:{}:parameter{slash}{}",
        state.region, p.account_id, p.name
    )
}

/// The `Parameter` shape. A SecureString read without decryption shows its stored ciphertext
/// (base64), as AWS shows its encrypted blob.
fn parameter_json(
    state: &AppState,
    p: &StoredParameter,
    decrypt: bool,
    selector: Option<&str>,
) -> Result<Value, ApiError> {
    let value = if p.param_type == ParameterType::SecureString.as_str() && !decrypt {
        STANDARD.encode(&p.ciphertext)
    } else {
        vault(state).open_parameter(p).map_err(vault_failure)?
    };
    let mut out = json!({
        "Name": p.name,
        "Type": p.param_type,
        "Value": value,
        "Version": p.version,
        "LastModifiedDate": p.last_modified,
        "ARN": parameter_arn(state, p),
        "DataType": p.data_type,
    });
    if let Some(selector) = selector {
        out["Selector"] = json!(selector);
    }
    Ok(out)
}

fn metadata_json(state: &AppState, p: &StoredParameter) -> Value {
    let mut out = json!({
        "Name": p.name,
        "ARN": parameter_arn(state, p),
        "Type": p.param_type,
        "LastModifiedDate": p.last_modified,
        "Version": p.version,
        "Tier": p.tier,
        "Policies": [],
        "DataType": p.data_type,
    });
    if p.param_type == ParameterType::SecureString.as_str() {
        out["KeyId"] = json!("alias/aws/ssm");
    }
    if let Some(description) = &p.description {
        out["Description"] = json!(description);
    }
    out
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutInput {
    name: String,
    value: String,
    #[serde(rename = "Type")]
    param_type: Option<String>,
    description: Option<String>,
    #[serde(default)]
    overwrite: bool,
    tier: Option<String>,
    data_type: Option<String>,
    allowed_pattern: Option<String>,
    policies: Option<String>,
    /// Accepted: values are encrypted with Kiln's own key, whatever KMS key is named.
    #[serde(rename = "KeyId")]
    _key_id: Option<String>,
    /// Accepted and not kept.
    #[serde(rename = "Tags")]
    _tags: Option<Value>,
}

async fn put(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: PutInput = parse_input(input)?;
    let name = secrets::parameter_name(&input.name, &caller.account_id).map_err(validation)?;
    if input.allowed_pattern.is_some() || input.policies.is_some() {
        return Err(validation(
            "Kiln does not support AllowedPattern or Policies on parameters",
        ));
    }
    let tier = input.tier.as_deref().unwrap_or("Standard");
    let limit = secrets::max_parameter_value_chars(Some(tier)).ok_or_else(|| {
        validation(format!(
            "1 validation error detected: Value '{}' at 'tier' failed to satisfy constraint: \
             Member must satisfy enum value set: [Advanced, Intelligent-Tiering, Standard]",
            crate::protocol::truncate(tier, 64)
        ))
    })?;
    let length = input.value.chars().count();
    if length == 0 || length > limit {
        return Err(validation(format!(
            "1 validation error detected: Value at 'value' failed to satisfy constraint: Member \
             must have length between 1 and {limit}"
        )));
    }
    let data_type = input.data_type.as_deref().unwrap_or("text");
    if data_type != "text" {
        return Err(validation(
            "The following data type is not supported by Kiln: only text is",
        ));
    }
    let existing = state
        .store
        .parameter(&caller.account_id, &name, None)
        .await
        .map_err(store_failure)?;
    let param_type = match (&input.param_type, &existing) {
        (Some(text), _) => ParameterType::parse(text).ok_or_else(|| {
            ApiError::new(
                ErrorKind::UnsupportedParameterType,
                format!(
                    "1 validation error detected: Value '{}' at 'type' failed to satisfy \
                     constraint: Member must satisfy enum value set: [SecureString, StringList, String]",
                    crate::protocol::truncate(text, 64)
                ),
            )
        })?,
        (None, Some(existing)) => {
            ParameterType::parse(&existing.param_type).unwrap_or(ParameterType::String)
        }
        (None, None) => {
            return Err(validation(
                "A parameter type is required when you create a parameter.",
            ));
        }
    };
    let parameter = StoredParameter {
        account_id: caller.account_id.clone(),
        ciphertext: vault(state)
            .seal_parameter(&caller.account_id, &name, &input.value)
            .map_err(vault_failure)?,
        name,
        version: 0,
        param_type: param_type.as_str().to_owned(),
        description: input
            .description
            .or_else(|| existing.and_then(|e| e.description)),
        tier: tier.to_owned(),
        data_type: data_type.to_owned(),
        last_modified: state.now_epoch(),
    };
    match state.store.put_parameter(&parameter, input.overwrite).await {
        Ok(version) => Ok(json!({ "Version": version, "Tier": parameter.tier })),
        Err(StoreError::AlreadyExists) => Err(ApiError::new(
            ErrorKind::ParameterAlreadyExists,
            "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
        )),
        Err(e) => Err(store_failure(e)),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetInput {
    name: String,
    #[serde(default)]
    with_decryption: bool,
}

async fn get(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: GetInput = parse_input(input)?;
    let found = vault(state)
        .parameter(&caller.account_id, &input.name)
        .await
        .map_err(vault_failure)?
        .map_err(missing)?;
    let selector = input
        .name
        .rsplit_once(':')
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .map(|v| format!(":{v}"));
    let parameter = parameter_json(state, &found, input.with_decryption, selector.as_deref())?;
    Ok(json!({ "Parameter": parameter }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetManyInput {
    names: Vec<String>,
    #[serde(default)]
    with_decryption: bool,
}

async fn get_many(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: GetManyInput = parse_input(input)?;
    if input.names.is_empty() || input.names.len() > 10 {
        return Err(validation(
            "1 validation error detected: Value at 'names' failed to satisfy constraint: Member \
             must have length between 1 and 10",
        ));
    }
    let mut parameters = Vec::new();
    let mut invalid = Vec::new();
    for name in &input.names {
        match vault(state)
            .parameter(&caller.account_id, name)
            .await
            .map_err(vault_failure)?
        {
            Ok(p) => parameters.push(parameter_json(state, &p, input.with_decryption, None)?),
            Err(_) => invalid.push(name.clone()),
        }
    }
    Ok(json!({ "Parameters": parameters, "InvalidParameters": invalid }))
}

/// A page size from `MaxResults`: `default` when absent, at most `max`.
fn max_results(value: Option<i64>, max: i64) -> Result<u64, ApiError> {
    match value {
        None => Ok(max as u64),
        Some(n) if (1..=max).contains(&n) => Ok(n as u64),
        Some(n) => Err(validation(format!(
            "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy \
             constraint: Member must have value between 1 and {max}"
        ))),
    }
}

fn next_token(listing: &str, token: Option<&str>) -> Result<Option<String>, ApiError> {
    paging::decode(listing, token).map_err(|_| {
        ApiError::new(
            ErrorKind::InvalidNextToken,
            "The specified token is not valid.",
        )
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ByPathInput {
    path: String,
    #[serde(default)]
    recursive: bool,
    #[serde(default)]
    with_decryption: bool,
    max_results: Option<i64>,
    next_token: Option<String>,
    parameter_filters: Option<Vec<Value>>,
}

async fn by_path(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: ByPathInput = parse_input(input)?;
    if input.parameter_filters.is_some_and(|f| !f.is_empty()) {
        return Err(validation("Kiln does not support ParameterFilters"));
    }
    let path = secrets::parameter_path(&input.path).map_err(validation)?;
    let limit = max_results(input.max_results, 10)?;
    let listing = format!("ssm-path\n{path}\n{}", input.recursive);
    let after = next_token(&listing, input.next_token.as_deref())?;
    let page = state
        .store
        .list_parameters(
            &caller.account_id,
            &path,
            input.recursive,
            after.as_deref(),
            limit,
        )
        .await
        .map_err(store_failure)?;
    let parameters = page
        .items
        .iter()
        .map(|p| parameter_json(state, p, input.with_decryption, None))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = json!({ "Parameters": parameters });
    paging::set_next(&mut out, "NextToken", &listing, page.next.as_ref());
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NameInput {
    name: String,
}

async fn delete(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: NameInput = parse_input(input)?;
    let name = secrets::parameter_name(&input.name, &caller.account_id).map_err(validation)?;
    let deleted = state
        .store
        .delete_parameter(&caller.account_id, &name)
        .await
        .map_err(store_failure)?;
    if !deleted {
        return Err(ApiError::new(
            ErrorKind::ParameterNotFound,
            format!("Parameter {name} not found."),
        ));
    }
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeInput {
    max_results: Option<i64>,
    next_token: Option<String>,
    filters: Option<Vec<Value>>,
    parameter_filters: Option<Vec<Value>>,
    #[serde(default)]
    shared: bool,
}

async fn describe(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: DescribeInput = parse_input(input)?;
    let filtered = input.filters.is_some_and(|f| !f.is_empty())
        || input.parameter_filters.is_some_and(|f| !f.is_empty());
    if filtered || input.shared {
        return Err(validation(
            "Kiln does not support Filters, ParameterFilters or Shared",
        ));
    }
    let limit = max_results(input.max_results, 50)?;
    let listing = "ssm-describe";
    let after = next_token(listing, input.next_token.as_deref())?;
    let page = state
        .store
        .list_parameters(&caller.account_id, "", true, after.as_deref(), limit)
        .await
        .map_err(store_failure)?;
    let parameters: Vec<Value> = page.items.iter().map(|p| metadata_json(state, p)).collect();
    let mut out = json!({ "Parameters": parameters });
    paging::set_next(&mut out, "NextToken", listing, page.next.as_ref());
    Ok(out)
}
