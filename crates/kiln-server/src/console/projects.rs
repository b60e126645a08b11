//! Build project pages: create (form, review, create), edit and delete, and what the project
//! pages share. The list is console/project_list.rs, a project's page console/project_page.rs.

use std::collections::BTreeSet;
use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use kiln_domain::project::{ProjectInput, ProjectSettings};
use kiln_domain::{ApiError, ErrorKind};
use serde::Deserialize;
use serde_json::{Value, json};

use super::errors::FieldErrors;
use super::form::{self, CuratedImage, EnvRow, ProjectForm};
use super::session::Session;
use super::view::{self, Chrome};
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

fn choices(table: &[(&str, &str)], selected: &str) -> Vec<Choice> {
    table
        .iter()
        .map(|(value, label)| Choice {
            value: (*value).to_string(),
            label: (*label).to_string(),
            selected: *value == selected,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Create and edit

pub struct ImageChoice {
    pub value: String,
    pub label: String,
    pub platform: String,
    pub language: String,
    pub selected: bool,
}

pub struct VersionChoice {
    pub value: String,
    pub image: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "project_form.html")]
struct FormPage {
    chrome: Chrome,
    editing: bool,
    action: String,
    form: ProjectForm,
    errors: FieldErrors,
    providers: Vec<Choice>,
    badge_reason: &'static str,
    oses: Vec<Choice>,
    runtimes: Vec<Choice>,
    images: Vec<ImageChoice>,
    versions: Vec<VersionChoice>,
    env_types: Vec<Choice>,
    compute_types: Vec<Choice>,
    var_types: Vec<Choice>,
    env_rows: Vec<EnvRow>,
}

fn unique_choices(
    values: impl Iterator<Item = String>,
    label: fn(&str) -> String,
    selected: &str,
) -> Vec<Choice> {
    values
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|value| Choice {
            label: label(&value),
            selected: value == selected,
            value,
        })
        .collect()
}

fn form_page(
    session: &Session,
    editing: bool,
    action: String,
    form: ProjectForm,
    errors: FieldErrors,
    images: &[CuratedImage],
) -> FormPage {
    FormPage {
        chrome: session.chrome(),
        editing,
        action,
        providers: choices(form::SOURCE_PROVIDERS, &form.source_type),
        badge_reason: form::BADGE_UNAVAILABLE,
        oses: unique_choices(
            images.iter().map(|i| i.platform.clone()),
            form::platform_label,
            &form.managed_os,
        ),
        runtimes: unique_choices(
            images.iter().map(|i| i.language.clone()),
            form::runtime_label,
            &form.managed_runtime,
        ),
        images: images
            .iter()
            .map(|i| ImageChoice {
                value: i.name.clone(),
                label: i.name.clone(),
                platform: i.platform.clone(),
                language: i.language.clone(),
                selected: i.name == form.managed_image,
            })
            .collect(),
        versions: images
            .iter()
            .flat_map(|i| {
                i.versions.iter().map(|v| VersionChoice {
                    value: v.clone(),
                    image: i.name.clone(),
                    selected: *v == form.managed_image_version,
                })
            })
            .collect(),
        env_types: choices(form::CUSTOM_ENVIRONMENT_TYPES, &form.custom_env_type),
        compute_types: choices(form::COMPUTE_TYPES, &form.compute_type),
        var_types: choices(form::ENV_VAR_TYPES, ""),
        env_rows: form.env_rows_with_spare(),
        form,
        errors,
    }
}

async fn images(state: &AppState, session: &Session) -> Result<Vec<CuratedImage>, ApiError> {
    let out = call(state, session, "ListCuratedEnvironmentImages", json!({})).await?;
    Ok(form::curated_images(&out))
}

pub async fn create_page(State(state): State<Arc<AppState>>, session: Session) -> Response {
    let images = match images(&state, &session).await {
        Ok(images) => images,
        Err(err) => return view::api_error_page(&session, &err),
    };
    let form = ProjectForm::new_project(&images);
    let page = form_page(
        &session,
        false,
        "/create-project".into(),
        form,
        FieldErrors::default(),
        &images,
    );
    view::render(StatusCode::OK, &page)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StepField {
    step: String,
}

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage {
    chrome: Chrome,
    name: String,
    sections: Vec<(&'static str, Vec<(&'static str, String)>)>,
    hidden: Vec<(&'static str, String)>,
}

/// Checks a new project as `CreateProject` will, without creating it: the API's input
/// parsing and the domain's validation, then the name's uniqueness.
async fn check_new_project(
    state: &AppState,
    session: &Session,
    input: Value,
) -> Result<(), ApiError> {
    crate::api::parse_input::<ProjectSettings>(input.clone())?;
    let parsed: ProjectInput = crate::api::parse_input(input)?;
    let new = kiln_domain::project::validate_create(parsed)?;
    if get_project(state, session, &new.name).await?.is_some() {
        return Err(ApiError::new(
            ErrorKind::ResourceAlreadyExists,
            format!("Project already exists: {}", new.name),
        ));
    }
    Ok(())
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
    let images = match images(&state, &session).await {
        Ok(images) => images,
        Err(err) => return view::api_error_page(&session, &err),
    };
    let show_form = |form: ProjectForm, errors: FieldErrors| {
        let status = if errors.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        let page = form_page(
            &session,
            false,
            "/create-project".into(),
            form,
            errors,
            &images,
        );
        view::render(status, &page)
    };
    if step == "edit" {
        return show_form(form, FieldErrors::default());
    }
    let local = form.local_errors();
    if !local.is_empty() {
        return show_form(form, local);
    }
    let input = form.to_input(&images);
    if step == "create" {
        return match call(&state, &session, "CreateProject", input).await {
            Ok(out) => {
                let name = out["project"]["name"].as_str().unwrap_or_default();
                view::redirect(&format!("/projects/{name}?created=1"))
            }
            Err(err) => {
                let errors = FieldErrors::from_api(&err, |p, m| form.field_for(p, m));
                show_form(form, errors)
            }
        };
    }
    match check_new_project(&state, &session, input).await {
        Ok(()) => view::render(
            StatusCode::OK,
            &ReviewPage {
                chrome: session.chrome(),
                name: form.name.trim().to_string(),
                sections: form.review_sections(&images),
                hidden: form.hidden_fields(),
            },
        ),
        Err(err) => {
            let errors = FieldErrors::from_api(&err, |p, m| form.field_for(p, m));
            show_form(form, errors)
        }
    }
}

pub async fn edit_page(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(name): Path<String>,
) -> Response {
    let (project, images) = match (
        get_project(&state, &session, &name).await,
        images(&state, &session).await,
    ) {
        (Ok(Some(project)), Ok(images)) => (project, images),
        (Ok(None), _) => return project_not_found(&session, &name),
        (Err(err), _) | (_, Err(err)) => return view::api_error_page(&session, &err),
    };
    let form = ProjectForm::from_project(&project, &images);
    let page = form_page(
        &session,
        true,
        format!("/projects/{name}/edit"),
        form,
        FieldErrors::default(),
        &images,
    );
    view::render(StatusCode::OK, &page)
}

/// The form has no fleet field: an edit keeps the fleet the project runs on
/// (docs/fleets.md), so editing in the console never moves a project off its fleet.
async fn keep_fleet(state: &AppState, session: &Session, name: &str, input: &mut Value) {
    let stored = state
        .store
        .get_project(&session.caller.account_id, name)
        .await;
    let fleet = stored
        .ok()
        .flatten()
        .and_then(|p| p.settings.environment)
        .and_then(|env| env.fleet);
    if let (Some(fleet), Some(env)) = (fleet, input["environment"].as_object_mut()) {
        env.insert(
            "fleet".into(),
            serde_json::to_value(fleet).unwrap_or_default(),
        );
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
    let images = match images(&state, &session).await {
        Ok(images) => images,
        Err(err) => return view::api_error_page(&session, &err),
    };
    let mut errors = form.local_errors();
    if errors.is_empty() {
        let mut input = form.to_input(&images);
        keep_fleet(&state, &session, &name, &mut input).await;
        match call(&state, &session, "UpdateProject", input).await {
            Ok(_) => return view::redirect(&format!("/projects/{name}?updated=1")),
            Err(err) if err.kind == ErrorKind::ResourceNotFound => {
                return project_not_found(&session, &name);
            }
            Err(err) => errors = FieldErrors::from_api(&err, |p, m| form.field_for(p, m)),
        }
    }
    let page = form_page(
        &session,
        true,
        format!("/projects/{name}/edit"),
        form,
        errors,
        &images,
    );
    view::render(StatusCode::BAD_REQUEST, &page)
}

// ---------------------------------------------------------------------------------------------
// Delete

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
        match call(&state, &session, "DeleteProject", json!({"name": name})).await {
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
