//! "Edit" of a build project: the project form filled with its settings.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use kiln_domain::ErrorKind;
use kiln_domain::project::ProjectInput;

use super::errors::FieldErrors;
use super::field_messages;
use super::form::ProjectForm;
use super::project_form_page::{self, FormPage};
use super::projects::{get_project, project_not_found};
use super::session::Session;
use super::view;
use crate::state::AppState;

fn action(name: &str) -> String {
    format!("/projects/{name}/edit")
}

pub async fn edit_page(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(name): Path<String>,
) -> Response {
    let project = match get_project(&state, &session, &name).await {
        Ok(Some(project)) => project,
        Ok(None) => return project_not_found(&session, &name),
        Err(err) => return view::api_error_page(&session, &err),
    };
    let images = project_form_page::images();
    let form = ProjectForm::from_project(&project, &images);
    FormPage::new(
        session.chrome(),
        action(&name),
        true,
        form,
        FieldErrors::default(),
        &images,
    )
    .respond()
}

/// The form has no fleet field: an edit keeps the fleet the project runs on
/// (docs/fleets.md), so editing in the console never moves a project off its fleet.
async fn keep_fleet(state: &AppState, session: &Session, name: &str, input: &mut ProjectInput) {
    let stored = state
        .store
        .get_project(&session.caller.account_id, name)
        .await;
    let fleet = stored
        .ok()
        .flatten()
        .and_then(|p| p.settings.environment)
        .and_then(|env| env.fleet);
    if let (Some(fleet), Some(env)) = (fleet, input.settings.environment.as_mut()) {
        env.fleet = Some(fleet);
    }
}

pub async fn edit_submit(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let mut form: ProjectForm = match session.form(&body) {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    // The name is not editable: the project is the one in the address.
    form.name = name.clone();
    let images = project_form_page::images();
    let (mut input, mut errors) = form.checked_input(&images);
    if errors.is_empty() {
        keep_fleet(&state, &session, &name, &mut input).await;
        match crate::api::projects::update(&state, &session.caller, input).await {
            Ok(_) => return view::redirect(&format!("/projects/{name}?updated=1")),
            Err(err) if err.kind == ErrorKind::ResourceNotFound => {
                return project_not_found(&session, &name);
            }
            Err(err) => errors = field_messages::refused(&err),
        }
    }
    FormPage::new(session.chrome(), action(&name), true, form, errors, &images).respond()
}
