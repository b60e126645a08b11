//! Deleting a build project: the page that asks to confirm by typing a word.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use kiln_domain::ErrorKind;
use serde::Deserialize;

use super::errors::FieldErrors;
use super::projects::{get_project, project_not_found};
use super::session::Session;
use super::view::{self, Chrome};
use crate::api::projects::{self, DeleteProjectInput};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "delete.html")]
struct DeletePage {
    chrome: Chrome,
    name: String,
    confirm: String,
    errors: FieldErrors,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DeleteForm {
    confirm: String,
}

/// What the user types to confirm a deletion, as in the AWS console.
const DELETE_WORD: &str = "delete";

pub async fn delete_page(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(name): Path<String>,
) -> Response {
    match get_project(&state, &session, &name).await {
        Ok(Some(_)) => view::render(
            StatusCode::OK,
            &DeletePage {
                chrome: session.chrome(),
                name,
                confirm: String::new(),
                errors: FieldErrors::default(),
            },
        ),
        Ok(None) => project_not_found(&session, &name),
        Err(err) => view::api_error_page(&session, &err),
    }
}

pub async fn delete_submit(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let form: DeleteForm = match session.form(&body) {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let mut errors = FieldErrors::default();
    if form.confirm.trim() != DELETE_WORD {
        errors.add("confirm", format!("Type “{DELETE_WORD}” to confirm."));
    } else {
        let input = DeleteProjectInput {
            name: Some(name.clone()),
        };
        match projects::delete(&state, &session.caller, input).await {
            Ok(_) => return view::redirect(&format!("/?deleted={name}")),
            Err(err) if err.kind == ErrorKind::ResourceNotFound => {
                return project_not_found(&session, &name);
            }
            Err(err) => errors = FieldErrors::from_api(&err, |_, _| Some("confirm")),
        }
    }
    view::render(
        StatusCode::BAD_REQUEST,
        &DeletePage {
            chrome: session.chrome(),
            name,
            confirm: form.confirm,
            errors,
        },
    )
}
