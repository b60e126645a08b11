//! Build project pages: the list, create (form, review, create), details with the badge and
//! build history, edit and delete.

use std::collections::BTreeSet;
use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use kiln_domain::project::{ProjectInput, ProjectSettings};
use kiln_domain::shapes::Build;
use kiln_domain::unapplied::{Unapplied, UnappliedProjectSettings};
use kiln_domain::webhook::{DeliveryOutcome, DeliveryRecord};
use kiln_domain::{ApiError, ErrorKind};
use serde::Deserialize;
use serde_json::{Value, json};

use super::errors::FieldErrors;
use super::form::{self, CuratedImage, EnvRow, ProjectForm};
use super::session::Session;
use super::view::{self, Chrome};
use super::visibility::PublicView;
use crate::api::{
    self,
    builds::{IdsInput, ListBuildsInput},
};
use crate::state::AppState;
use crate::webhooks::recent_deliveries;

/// Most projects the list shows at once (the filter narrows it down).
const MAX_LISTED: usize = 100;
/// Most project names read for the list.
const MAX_NAMES: usize = 10_000;
/// Builds shown in a project's history.
const HISTORY_LEN: usize = 20;
/// Webhook deliveries shown on a project's page.
const DELIVERIES_SHOWN: u64 = 20;

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
// The list

pub struct ProjectRow {
    pub name: String,
    pub url: String,
    pub description: String,
    pub source: String,
    pub location: String,
    /// The live badge; empty when the project has none.
    pub badge_url: String,
    pub status: String,
    pub status_class: &'static str,
    pub last_modified: String,
}

#[derive(Template)]
#[template(path = "projects.html")]
struct ProjectsPage {
    chrome: Chrome,
    rows: Vec<ProjectRow>,
    query: String,
    matching: usize,
    total: usize,
    notice: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ListQuery {
    q: String,
    deleted: String,
}

async fn all_project_names(state: &AppState, session: &Session) -> Result<Vec<String>, ApiError> {
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut input = json!({"sortBy": "NAME", "sortOrder": "ASCENDING"});
        if let Some(t) = &token {
            input["nextToken"] = t.clone().into();
        }
        let out = call(state, session, "ListProjects", input).await?;
        names.extend(
            out["projects"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str().map(str::to_string)),
        );
        token = out["nextToken"].as_str().map(str::to_string);
        if token.is_none() || names.len() >= MAX_NAMES {
            return Ok(names);
        }
    }
}

/// The latest `count` builds of a project, newest first, in the API's `Build` shape.
async fn latest_builds(
    state: &AppState,
    session: &Session,
    name: &str,
    count: usize,
) -> Result<Vec<Build>, ApiError> {
    let listed = api::builds::list_for_project(
        state,
        &session.caller,
        ListBuildsInput {
            project_name: Some(name.to_string()),
            sort_order: Some("DESCENDING".to_string()),
            ..ListBuildsInput::default()
        },
    )
    .await?;
    let ids: Vec<String> = listed.ids.into_iter().take(count).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let input = IdsInput { ids: Some(ids) };
    Ok(api::builds::batch_get(state, &session.caller, input)
        .await?
        .builds)
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(query): Query<ListQuery>,
) -> Response {
    match list_page(&state, &session, query).await {
        Ok(page) => view::render_with_origin(StatusCode::OK, &page, &state.public_url),
        Err(err) => view::api_error_page(&session, &err),
    }
}

async fn list_page(
    state: &AppState,
    session: &Session,
    query: ListQuery,
) -> Result<ProjectsPage, ApiError> {
    let names = all_project_names(state, session).await?;
    let needle = query.q.trim().to_lowercase();
    let matching: Vec<String> = names
        .iter()
        .filter(|n| n.to_lowercase().contains(&needle))
        .cloned()
        .collect();
    let shown: Vec<&String> = matching.iter().take(MAX_LISTED).collect();
    let mut rows = Vec::new();
    if !shown.is_empty() {
        let out = call(state, session, "BatchGetProjects", json!({"names": shown})).await?;
        for project in out["projects"].as_array().into_iter().flatten() {
            let name = project["name"].as_str().unwrap_or_default().to_string();
            let badge_url = project["badge"]["badgeRequestUrl"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let status = latest_builds(state, session, &name, 1)
                .await?
                .first()
                .map(|b| b.build_status.as_str().to_string())
                .unwrap_or_default();
            rows.push(ProjectRow {
                url: format!("/projects/{name}"),
                description: project["description"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                source: form::label_of(
                    form::SOURCE_PROVIDERS,
                    project["source"]["type"].as_str().unwrap_or_default(),
                ),
                location: project["source"]["location"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                badge_url,
                status_class: view::status_class(&status),
                status: view::status_label(&status),
                last_modified: view::format_time(project["lastModified"].as_f64().unwrap_or(0.0)),
                name,
            });
        }
    }
    let notice = if kiln_domain::project::is_valid_project_name(&query.deleted) {
        format!("Deleted build project {}.", query.deleted)
    } else {
        String::new()
    };
    Ok(ProjectsPage {
        chrome: session.chrome(),
        rows,
        query: query.q,
        matching: matching.len(),
        total: names.len(),
        notice,
    })
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
// Details

pub struct BadgeView {
    /// The badge URL for the chosen branch (the project's default when none is chosen).
    pub url: String,
    pub markdown: String,
    /// The project's own `badgeRequestUrl`.
    pub default_url: String,
    /// The URL without a branch, which the branch picker adds to.
    pub base_url: String,
    pub branch: String,
    /// Branches seen in the build history, offered by the picker.
    pub branches: Vec<String>,
    /// The test and coverage report badges for the same branch.
    pub reports: Vec<super::reports::ReportBadge>,
}

/// The project's webhook: where the forge posts, and what became of its recent deliveries.
struct WebhookView {
    payload_url: String,
    deliveries: Vec<DeliveryRow>,
}

struct DeliveryRow {
    received: String,
    forge: String,
    event: String,
    outcome: &'static str,
    outcome_class: &'static str,
    reason: String,
    /// The console page of the build it started.
    build_url: Option<String>,
}

impl DeliveryRow {
    fn of(delivery: &DeliveryRecord) -> DeliveryRow {
        let (outcome, outcome_class) = match delivery.outcome {
            DeliveryOutcome::Built => ("Built", "ok"),
            DeliveryOutcome::Filtered => ("Filtered out", "idle"),
            DeliveryOutcome::Refused => ("Refused", "bad"),
        };
        DeliveryRow {
            received: view::format_time(delivery.received_at),
            forge: delivery.forge.clone().unwrap_or_else(|| "—".to_string()),
            event: delivery.event.clone(),
            outcome,
            outcome_class,
            reason: delivery.reason.clone(),
            build_url: delivery
                .build_id
                .as_deref()
                .and_then(|id| id.split_once(':'))
                .map(|(project, uuid)| format!("/projects/{project}/builds/{uuid}")),
        }
    }
}

pub struct BuildRow {
    pub number: i64,
    pub url: String,
    pub status: String,
    pub status_class: &'static str,
    pub source_version: String,
    pub started: String,
    pub duration: String,
}

/// What the Start build form holds.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct StartFields {
    pub source_version: String,
    pub env_overrides: String,
}

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectPage {
    chrome: Chrome,
    name: String,
    description: String,
    notice: String,
    /// Settings Kiln stores but does not apply, one note each.
    unapplied: Vec<String>,
    config: Vec<(&'static str, String)>,
    env_vars: Vec<EnvRow>,
    inline_buildspec: String,
    badge: Option<BadgeView>,
    badge_reason: &'static str,
    badge_available: bool,
    builds: Vec<BuildRow>,
    webhook: Option<WebhookView>,
    public: PublicView,
    start: StartFields,
    errors: FieldErrors,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DetailsQuery {
    branch: String,
    created: String,
    updated: String,
}

pub async fn details(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(name): Path<String>,
    Query(query): Query<DetailsQuery>,
) -> Response {
    let notice = if !query.created.is_empty() {
        "Created the build project."
    } else if !query.updated.is_empty() {
        "Saved the build project."
    } else {
        ""
    };
    project_page(
        &state,
        &session,
        &name,
        &query.branch,
        notice,
        StartFields::default(),
        FieldErrors::default(),
    )
    .await
}

fn badge_view(
    state: &AppState,
    project: &Value,
    branch: &str,
    builds: &[Build],
) -> Option<BadgeView> {
    let default_url = project["badge"]["badgeRequestUrl"].as_str()?.to_string();
    let token = default_url.split_once('?').and_then(|(_, query)| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "uuid")
            .map(|(_, v)| v.into_owned())
    })?;
    let branch = branch.trim();
    let url = if branch.is_empty() {
        default_url.clone()
    } else {
        kiln_domain::token::badge_url(&state.public_url, &token, Some(branch))
    };
    let branches: BTreeSet<String> = builds
        .iter()
        .filter_map(|b| {
            b.source_version
                .as_deref()
                .and_then(kiln_domain::refs::branch_named_by)
        })
        .chain(
            project["sourceVersion"]
                .as_str()
                .and_then(kiln_domain::refs::branch_named_by),
        )
        .collect();
    Some(BadgeView {
        reports: super::reports::report_badges(&state.public_url, &token, branch),
        markdown: kiln_domain::token::badge_markdown(&url, public_page(state, project).as_deref()),
        url,
        base_url: kiln_domain::token::badge_url(&state.public_url, &token, None),
        default_url,
        branch: branch.to_string(),
        branches: branches.into_iter().collect(),
    })
}

/// The public page of `project` (the API shape), while it is public.
fn public_page(state: &AppState, project: &Value) -> Option<String> {
    let alias = project["publicProjectAlias"].as_str()?;
    (project["projectVisibility"] == "PUBLIC_READ")
        .then(|| kiln_domain::visibility::public_project_url(&state.public_url, alias))
}

/// A row of a build history; the build's page is `<builds_url>/<uuid>`.
pub(super) fn build_row(build: &Build, builds_url: &str) -> BuildRow {
    let status = build.build_status.as_str();
    BuildRow {
        number: build.build_number,
        url: format!("{builds_url}/{}", build.uuid()),
        status: view::status_label(status),
        status_class: view::status_class(status),
        source_version: build.source_version.as_deref().unwrap_or("—").to_string(),
        started: view::format_time(build.start_time),
        duration: build
            .end_time
            .map(|end| view::format_duration(end - build.start_time))
            .unwrap_or_else(|| "—".to_string()),
    }
}

fn config_rows(project: &Value) -> (Vec<(&'static str, String)>, String) {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let or_dash = |s: String| if s.is_empty() { "—".to_string() } else { s };
    let source = &project["source"];
    let env = &project["environment"];
    let artifacts = &project["artifacts"];
    let buildspec = text(&source["buildspec"]);
    let (buildspec_row, inline) = if buildspec.contains('\n') {
        (
            "Inserted build commands (shown below)".to_string(),
            buildspec,
        )
    } else if buildspec.is_empty() {
        (
            "buildspec.yml in the source root".to_string(),
            String::new(),
        )
    } else {
        (buildspec, String::new())
    };
    let artifacts_row = match artifacts["type"].as_str() {
        Some("S3") => format!(
            "Amazon S3: bucket {}, name {}, {}",
            text(&artifacts["location"]),
            or_dash(text(&artifacts["name"])),
            if artifacts["packaging"].as_str() == Some("ZIP") {
                "zipped"
            } else {
                "not zipped"
            }
        ),
        _ => "No artifacts".to_string(),
    };
    let rows = vec![
        (
            "Source provider",
            form::label_of(form::SOURCE_PROVIDERS, &text(&source["type"])),
        ),
        ("Repository", or_dash(text(&source["location"]))),
        ("Source version", or_dash(text(&project["sourceVersion"]))),
        ("Image", or_dash(text(&env["image"]))),
        ("Environment type", or_dash(text(&env["type"]))),
        (
            "Compute",
            form::label_of(form::COMPUTE_TYPES, &text(&env["computeType"])),
        ),
        (
            "Privileged",
            if env["privilegedMode"].as_bool() == Some(true) {
                "Yes"
            } else {
                "No"
            }
            .to_string(),
        ),
        ("Service role", or_dash(text(&project["serviceRole"]))),
        ("Buildspec", buildspec_row),
        ("Artifacts", artifacts_row),
        (
            "Timeout",
            format!(
                "{} min",
                project["timeoutInMinutes"].as_i64().unwrap_or_default()
            ),
        ),
        (
            "Queued timeout",
            format!(
                "{} min",
                project["queuedTimeoutInMinutes"]
                    .as_i64()
                    .unwrap_or_default()
            ),
        ),
        (
            "Concurrent build limit",
            project["concurrentBuildLimit"]
                .as_i64()
                .map_or_else(|| "—".to_string(), |n| n.to_string()),
        ),
        ("ARN", text(&project["arn"])),
        (
            "Created",
            view::format_time(project["created"].as_f64().unwrap_or(0.0)),
        ),
        (
            "Last modified",
            view::format_time(project["lastModified"].as_f64().unwrap_or(0.0)),
        ),
    ];
    (rows, inline)
}

/// The notes for the settings of `project` (the API shape) that Kiln does not apply.
fn unapplied_notes(project: &Value) -> Vec<String> {
    serde_json::from_value::<UnappliedProjectSettings>(project.clone())
        .map(|settings| settings.set().into_iter().map(Unapplied::note).collect())
        .unwrap_or_default()
}

/// Renders a project's page; the Start build form shows `start` and `errors`.
pub(super) async fn project_page(
    state: &AppState,
    session: &Session,
    name: &str,
    branch: &str,
    notice: &str,
    start: StartFields,
    errors: FieldErrors,
) -> Response {
    let project = match get_project(state, session, name).await {
        Ok(Some(p)) => p,
        Ok(None) => return project_not_found(session, name),
        Err(err) => return view::api_error_page(session, &err),
    };
    let builds = match latest_builds(state, session, name, HISTORY_LEN).await {
        Ok(b) => b,
        Err(err) => return view::api_error_page(session, &err),
    };
    let webhook = match project["webhook"]["payloadUrl"].as_str() {
        Some(payload_url) => {
            match recent_deliveries(state, &session.caller.account_id, name, DELIVERIES_SHOWN).await
            {
                Ok(deliveries) => Some(WebhookView {
                    payload_url: payload_url.to_string(),
                    deliveries: deliveries.iter().map(DeliveryRow::of).collect(),
                }),
                Err(err) => return view::api_error_page(session, &err),
            }
        }
        None => None,
    };
    let (config, inline_buildspec) = config_rows(&project);
    let env_vars = project["environment"]["environmentVariables"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| EnvRow {
            name: v["name"].as_str().unwrap_or_default().to_string(),
            value: v["value"].as_str().unwrap_or_default().to_string(),
            var_type: form::label_of(
                form::ENV_VAR_TYPES,
                v["type"].as_str().unwrap_or("PLAINTEXT"),
            ),
        })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = ProjectPage {
        chrome: session.chrome(),
        name: project["name"].as_str().unwrap_or(name).to_string(),
        description: project["description"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        notice: notice.to_string(),
        unapplied: unapplied_notes(&project),
        config,
        env_vars,
        inline_buildspec,
        badge: badge_view(state, &project, branch, &builds),
        badge_reason: form::BADGE_UNAVAILABLE,
        badge_available: form::badge_available(
            project["source"]["type"].as_str().unwrap_or_default(),
        ),
        builds: builds
            .iter()
            .map(|b| build_row(b, &format!("/projects/{name}/builds")))
            .collect(),
        webhook,
        public: PublicView::of(state, &project),
        start,
        errors,
    };
    view::render_with_origin(status, &page, &state.public_url)
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
