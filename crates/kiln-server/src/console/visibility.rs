//! The project page's Public builds panel: whether the project's builds are public, their
//! address, and the form that changes it through UpdateProjectVisibility (docs/public-builds.md).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use kiln_domain::ErrorKind;
use kiln_domain::project::project_arn;
use kiln_domain::visibility::public_project_url;
use serde::Deserialize;
use serde_json::{Value, json};

use super::projects::{call, project_not_found};
use super::session::Session;
use super::view;
use crate::state::AppState;

/// What the panel shows of a project (the API's `Project` shape).
pub struct PublicView {
    /// The public page, while the project is public.
    pub page_url: Option<String>,
    pub resource_access_role: String,
}

impl PublicView {
    pub fn of(state: &AppState, project: &Value) -> PublicView {
        let alias = project["publicProjectAlias"].as_str();
        let public = project["projectVisibility"] == "PUBLIC_READ";
        PublicView {
            page_url: alias
                .filter(|_| public)
                .map(|alias| public_project_url(&state.public_url, alias)),
            resource_access_role: project["resourceAccessRole"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct VisibilityForm {
    visibility: String,
    resource_access_role: String,
}

pub async fn submit(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let form: VisibilityForm = match session.form(&body) {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let mut input = json!({
        "projectArn": project_arn(&state.region, &session.caller.account_id, &name),
        "projectVisibility": form.visibility,
    });
    let role = form.resource_access_role.trim();
    if !role.is_empty() {
        input["resourceAccessRole"] = role.into();
    }
    match call(&state, &session, "UpdateProjectVisibility", input).await {
        Ok(_) => view::redirect(&format!("/projects/{name}?updated=1")),
        Err(err) if err.kind == ErrorKind::ResourceNotFound => project_not_found(&session, &name),
        Err(err) => view::api_error_page(&session, &err),
    }
}
