//! Build project pages: the list, and details with the badge and build history (create, edit
//! and delete are `project_create`, `project_edit` and `project_delete`).

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use kiln_domain::shapes::Build;
use kiln_domain::unapplied::{Unapplied, UnappliedProjectSettings};
use kiln_domain::webhook::{DeliveryOutcome, DeliveryRecord};
use kiln_domain::{ApiError, ErrorKind};
use serde::Deserialize;
use serde_json::{Value, json};

use super::badge_panel::{BadgeChoice, BadgeView, badge_view};
use super::errors::FieldErrors;
use super::form::EnvRow;
use super::form_options as form;
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
// Details

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
    /// The badge panel's choice (see [`BadgeChoice`]).
    branch: String,
    ref_type: String,
    style: String,
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
        &BadgeChoice::new(&query.branch, &query.ref_type, &query.style),
        notice,
        StartFields::default(),
        FieldErrors::default(),
    )
    .await
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
    badge: &BadgeChoice,
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
        badge: badge_view(state, &project, badge, &builds),
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
