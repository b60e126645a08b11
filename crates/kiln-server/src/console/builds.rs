//! Build actions: start a build, stop and retry it, its full log; and the reads every build
//! page shares. The details page is `build_page.rs`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use kiln_domain::{ApiError, ErrorKind};
use serde_json::{Value, json};

use super::build_page::build_page;
pub(super) use super::build_phases::phase_rows;
use super::errors::FieldErrors;
use super::projects::{self, StartFields, call};
use super::session::{EmptyForm, Session};
use super::view;
use crate::state::AppState;

/// One of the caller's builds, in the API's `Build` shape, if `project`/`uuid` names one.
pub(super) async fn get_build(
    state: &AppState,
    session: &Session,
    project: &str,
    uuid: &str,
) -> Result<Option<Value>, ApiError> {
    let id = format!("{project}:{uuid}");
    match call(state, session, "BatchGetBuilds", json!({"ids": [id]})).await {
        Ok(out) => Ok(out["builds"].as_array().and_then(|b| b.first()).cloned()),
        Err(err) if err.kind == ErrorKind::InvalidInput => Ok(None),
        Err(err) => Err(err),
    }
}

pub(super) fn build_not_found(session: &Session) -> Response {
    view::not_found_page(
        Some(session),
        "Build not found",
        "There is no such build in this account.",
    )
}

/// The build's uuid as the API reports it (never the text of the address).
pub(super) fn uuid_of(build: &Value) -> String {
    build["id"]
        .as_str()
        .and_then(|id| id.split_once(':'))
        .map(|(_, uuid)| uuid.to_string())
        .unwrap_or_default()
}

/// `NAME=value` lines as `environmentVariablesOverride`.
fn parse_overrides(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (name, value) = line.split_once('=').unwrap_or((line, ""));
            json!({"name": name.trim(), "value": value, "type": "PLAINTEXT"})
        })
        .collect()
}

fn start_field_for(path: &str) -> Option<&'static str> {
    if path == "sourceVersion" {
        Some("source_version")
    } else if path.starts_with("environmentVariablesOverride") {
        Some("env_overrides")
    } else {
        None
    }
}

pub async fn start(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let fields: StartFields = match session.form(&body) {
        Ok(fields) => fields,
        Err(refused) => return *refused,
    };
    let mut input = json!({"projectName": name});
    let version = fields.source_version.trim();
    if !version.is_empty() {
        input["sourceVersion"] = version.into();
    }
    let overrides = parse_overrides(&fields.env_overrides);
    if !overrides.is_empty() {
        input["environmentVariablesOverride"] = overrides.into();
    }
    match call(&state, &session, "StartBuild", input).await {
        Ok(out) => {
            let uuid = uuid_of(&out["build"]);
            view::redirect(&format!("/projects/{name}/builds/{uuid}"))
        }
        Err(err) if err.kind == ErrorKind::ResourceNotFound => {
            projects::project_not_found(&session, &name)
        }
        Err(err) => {
            let errors = FieldErrors::from_api(&err, |path, _| start_field_for(path));
            projects::project_page(&state, &session, &name, "", "", fields, errors).await
        }
    }
}

pub async fn stop(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path((project, uuid)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Err(refused) = session.form::<EmptyForm>(&body) {
        return *refused;
    }
    let id = format!("{project}:{uuid}");
    match call(&state, &session, "StopBuild", json!({"id": id})).await {
        Ok(_) => view::redirect(&format!("/projects/{project}/builds/{uuid}")),
        Err(err) if err.kind == ErrorKind::ResourceNotFound => build_not_found(&session),
        Err(err) => {
            let errors = FieldErrors::from_api(&err, |_, _| None);
            build_page(&state, &session, &project, &uuid, errors).await
        }
    }
}

pub async fn retry(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path((project, uuid)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Err(refused) = session.form::<EmptyForm>(&body) {
        return *refused;
    }
    let id = format!("{project}:{uuid}");
    match call(&state, &session, "RetryBuild", json!({"id": id})).await {
        Ok(out) => {
            let new_uuid = uuid_of(&out["build"]);
            view::redirect(&format!("/projects/{project}/builds/{new_uuid}"))
        }
        Err(err) if err.kind == ErrorKind::ResourceNotFound => build_not_found(&session),
        Err(err) => {
            let errors = FieldErrors::from_api(&err, |_, _| None);
            build_page(&state, &session, &project, &uuid, errors).await
        }
    }
}

/// The whole log as text.
pub async fn full_log(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path((project, uuid)): Path<(String, String)>,
) -> Response {
    let build = match get_build(&state, &session, &project, &uuid).await {
        Ok(Some(build)) => build,
        Ok(None) => return build_not_found(&session),
        Err(err) => return view::api_error_page(&session, &err),
    };
    match crate::logs::read_log(&state, &session.caller.account_id, &uuid_of(&build), 0).await {
        Ok(response) => response,
        Err((status, message)) => (status, message).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_are_name_value_lines() {
        assert_eq!(
            parse_overrides("A=1\n\n B = x=y\nFLAG\n"),
            vec![
                json!({"name": "A", "value": "1", "type": "PLAINTEXT"}),
                json!({"name": "B", "value": " x=y", "type": "PLAINTEXT"}),
                json!({"name": "FLAG", "value": "", "type": "PLAINTEXT"}),
            ]
        );
    }
}
