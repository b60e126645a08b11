//! "Create build project": the form, then the review of the settings, then the project.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use super::errors::FieldErrors;
use super::field_messages;
use super::form::ProjectForm;
use super::project_form_page::{self, FormPage};
use super::project_review::ReviewPage;
use super::projects::get_project;
use super::session::Session;
use super::view;
use crate::state::AppState;

const ACTION: &str = "/create-project";

pub async fn create_page(session: Session) -> Response {
    let images = project_form_page::images();
    let form = ProjectForm::new_project(&images);
    FormPage::new(
        session.chrome(),
        ACTION.into(),
        false,
        form,
        FieldErrors::default(),
        &images,
    )
    .respond()
}

/// Which button sent the form: "Next: review" (`review`), "Edit" on the review page (`edit`)
/// or "Create" (`create`).
#[derive(Deserialize, Default)]
#[serde(default)]
struct StepField {
    step: String,
}

pub async fn create_submit(
    State(state): State<Arc<AppState>>,
    session: Session,
    body: Bytes,
) -> Response {
    let form: ProjectForm = match session.form(&body) {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let step = serde_html_form::from_bytes::<StepField>(&body)
        .map(|s| s.step)
        .unwrap_or_default();
    let images = project_form_page::images();
    let show_form = |form: ProjectForm, errors: FieldErrors| {
        FormPage::new(
            session.chrome(),
            ACTION.into(),
            false,
            form,
            errors,
            &images,
        )
        .respond()
    };
    if step == "edit" {
        return show_form(form, FieldErrors::default());
    }
    // Every problem at once: the form's, the API's validation, and a name already taken.
    let (input, mut errors) = form.checked_input(&images);
    let name = input.name.clone().unwrap_or_default();
    if !errors.has("name") {
        match get_project(&state, &session, &name).await {
            Ok(Some(_)) => errors.add("name", field_messages::NAME_TAKEN.into()),
            Ok(None) => {}
            Err(err) => return view::api_error_page(&session, &err),
        }
    }
    if !errors.is_empty() {
        return show_form(form, errors);
    }
    if step != "create" {
        return ReviewPage::new(session.chrome(), &form, &images).respond();
    }
    match crate::api::projects::create(&state, &session.caller, input).await {
        Ok(out) => view::redirect(&format!("/projects/{}?created=1", out.project.name)),
        Err(err) => show_form(form, field_messages::refused(&err)),
    }
}
