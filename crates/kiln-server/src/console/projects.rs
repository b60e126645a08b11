//! What the build project pages share: the API call seam, reading a project, its 404 page.
//! The list is `project_list`, a project's page `project_page`; create, edit and delete are
//! `project_create`, `project_edit` and `project_delete`.

use axum::response::Response;
use kiln_domain::{ApiError, ErrorKind};
use serde_json::{Value, json};

use super::session::Session;
use super::view;
use crate::state::AppState;

pub(super) use super::project_page::{StartFields, project_page};

pub(super) async fn call(
    state: &AppState,
    session: &Session,
    operation: &str,
    input: Value,
) -> Result<Value, ApiError> {
    crate::api::dispatch(state, &session.caller, operation, input).await
}

/// One of the caller's projects in the API's `Project` shape; `None` when there is none.
pub(super) async fn get_project(
    state: &AppState,
    session: &Session,
    name: &str,
) -> Result<Option<Value>, ApiError> {
    match call(state, session, "BatchGetProjects", json!({"names": [name]})).await {
        Ok(out) => Ok(out["projects"].as_array().and_then(|a| a.first()).cloned()),
        Err(err) if err.kind == ErrorKind::InvalidInput => Ok(None),
        Err(err) => Err(err),
    }
}

pub(super) fn project_not_found(session: &Session, name: &str) -> Response {
    view::not_found_page(
        Some(session),
        "Project not found",
        &format!(
            "There is no build project named “{}” in account {}.",
            name.chars().take(150).collect::<String>(),
            session.caller.account_id
        ),
    )
}

/// A choice of a `<select>` or radio group.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}
