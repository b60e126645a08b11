//! Source credentials: ImportSourceCredentials, ListSourceCredentials, DeleteSourceCredentials.
//! Tokens are stored for git to use at checkout and never returned.

use kiln_domain::ApiError;
use kiln_domain::validate::{self, Violations};
use kiln_store::{SourceCredential, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, parse_input, store_failure};
use crate::state::AppState;

const SERVER_TYPES: &[&str] = &[
    "GITHUB",
    "BITBUCKET",
    "GITHUB_ENTERPRISE",
    "GITLAB",
    "GITLAB_SELF_MANAGED",
];
const AUTH_TYPES: &[&str] = &[
    "OAUTH",
    "BASIC_AUTH",
    "PERSONAL_ACCESS_TOKEN",
    "CODECONNECTIONS",
    "SECRETS_MANAGER",
];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImportInput {
    username: Option<String>,
    token: Option<String>,
    server_type: Option<String>,
    auth_type: Option<String>,
    should_overwrite: Option<bool>,
}

pub async fn import(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: ImportInput = parse_input(input)?;
    let mut v = Violations::new();
    match &input.token {
        None => v.missing("token"),
        // The token itself is never echoed in an error.
        Some(t) if t.is_empty() || t.len() > 4096 => v.add(
            "token",
            "***",
            "Member must have length between 1 and 4096, inclusive",
        ),
        Some(_) => {}
    }
    match &input.server_type {
        None => v.missing("serverType"),
        Some(s) => v.one_of("serverType", s, SERVER_TYPES),
    }
    match &input.auth_type {
        None => v.missing("authType"),
        Some(a) => v.one_of("authType", a, AUTH_TYPES),
    }
    if let Some(u) = &input.username {
        v.length("username", u, 1, 256);
    }
    v.finish()?;
    let server_type = input.server_type.unwrap_or_default();
    if input.auth_type.as_deref() == Some("BASIC_AUTH") && input.username.is_none() {
        return Err(ApiError::invalid_input(
            "username is required with authType BASIC_AUTH",
        ));
    }
    let credential = SourceCredential {
        arn: format!(
            "arn:aws:codebuild:{}:{}:token/{}",
            state.region,
            caller.account_id,
            server_type.to_ascii_lowercase()
        ),
        account_id: caller.account_id.clone(),
        server_type,
        auth_type: input.auth_type.unwrap_or_default(),
        username: input.username,
        token: input.token.unwrap_or_default(),
    };
    match state
        .store
        .put_source_credential(&credential, input.should_overwrite.unwrap_or(false))
        .await
    {
        Ok(()) => Ok(json!({ "arn": credential.arn })),
        Err(StoreError::AlreadyExists) => Err(ApiError::new(
            kiln_domain::ErrorKind::ResourceAlreadyExists,
            format!(
                "Source credentials for {} already exist; set shouldOverwrite to replace them",
                credential.server_type
            ),
        )),
        Err(e) => Err(store_failure(e)),
    }
}

pub async fn list(state: &AppState, caller: &Caller) -> Result<Value, ApiError> {
    let infos: Vec<Value> = state
        .store
        .source_credentials(&caller.account_id)
        .await
        .map_err(store_failure)?
        .into_iter()
        .map(|c| json!({"arn": c.arn, "serverType": c.server_type, "authType": c.auth_type}))
        .collect();
    Ok(json!({ "sourceCredentialsInfos": infos }))
}

#[derive(Deserialize)]
struct DeleteInput {
    arn: Option<String>,
}

pub async fn delete(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: DeleteInput = parse_input(input)?;
    let arn = validate::required("arn", input.arn)?;
    let deleted = state
        .store
        .delete_source_credential(&caller.account_id, &arn)
        .await
        .map_err(store_failure)?;
    if !deleted {
        return Err(ApiError::not_found(format!(
            "Source credentials cannot be found: {}",
            crate::protocol::truncate(&arn, 300)
        )));
    }
    Ok(json!({ "arn": arn }))
}
