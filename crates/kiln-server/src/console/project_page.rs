//! A project's page: its badge, the Start build form, its build history (a page at a time,
//! with a chart of the recent builds' durations), its webhook, visibility and configuration.
//! While it is open, static/live.js follows the project's events (console/project_events.rs)
//! and redraws the parts marked `data-live` when a build starts or ends.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use kiln_domain::build::BuildRecord;
use kiln_domain::shapes::Project;
use kiln_domain::unapplied::{Unapplied, UnappliedProjectSettings};
use kiln_domain::webhook::{DeliveryOutcome, DeliveryRecord};
use serde::Deserialize;

use super::badge_panel::{BadgeChoice, BadgeView, badge_view};
use super::build_chart::{self, DurationChart};
use super::errors::FieldErrors;
use super::form::EnvRow;
use super::form_options as form;
use super::history::{self, BuildRow};
use super::projects::{get_project, project_not_found};
use super::session::Session;
use super::view::{self, Chrome};
use super::visibility::PublicView;
use crate::state::AppState;
use crate::webhooks::recent_deliveries;

/// Builds shown on a page of a project's history.
const HISTORY_LEN: usize = 20;
/// Webhook deliveries shown on a project's page.
const DELIVERIES_SHOWN: u64 = 20;

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
    chart: Option<DurationChart>,
    /// The next (older) page of the history; empty on its last page.
    older_url: String,
    /// Whether this is a later page of the history (which links back to the newest).
    older_page: bool,
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
    /// The page of the history: builds numbered below this.
    after: String,
    ref_type: String,
    style: String,
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
    let shown = PageView {
        badge: &BadgeChoice::new(&query.branch, &query.ref_type, &query.style),
        notice,
        after: history::after_of(&query.after),
    };
    render(
        &state,
        &session,
        &name,
        shown,
        StartFields::default(),
        FieldErrors::default(),
    )
    .await
}

/// The configuration table of `project`, and its inline buildspec (empty when it reads a file).
fn config_rows(project: &Project) -> (Vec<(&'static str, String)>, String) {
    let settings = &project.settings;
    let or_dash = |text: Option<&str>| {
        text.filter(|t| !t.is_empty())
            .map_or_else(|| "—".to_string(), str::to_string)
    };
    let source = settings.source.clone().unwrap_or_default();
    let env = settings.environment.clone().unwrap_or_default();
    let artifacts = settings.artifacts.clone().unwrap_or_default();
    let buildspec = source.buildspec.clone().unwrap_or_default();
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
    let artifacts_row = match artifacts.artifacts_type.as_deref() {
        Some("S3") => format!(
            "Amazon S3: bucket {}, name {}, {}",
            artifacts.location.as_deref().unwrap_or_default(),
            or_dash(artifacts.name.as_deref()),
            if artifacts.packaging.as_deref() == Some("ZIP") {
                "zipped"
            } else {
                "not zipped"
            }
        ),
        _ => "No artifacts".to_string(),
    };
    let minutes = |m: Option<i64>| format!("{} min", m.unwrap_or_default());
    let rows = vec![
        (
            "Source provider",
            form::label_of(
                form::SOURCE_PROVIDERS,
                source.source_type.as_deref().unwrap_or_default(),
            ),
        ),
        ("Repository", or_dash(source.location.as_deref())),
        (
            "Source version",
            or_dash(settings.source_version.as_deref()),
        ),
        ("Image", or_dash(env.image.as_deref())),
        ("Environment type", or_dash(env.env_type.as_deref())),
        (
            "Compute",
            form::label_of(
                form::COMPUTE_TYPES,
                env.compute_type.as_deref().unwrap_or_default(),
            ),
        ),
        (
            "Privileged",
            if env.privileged_mode == Some(true) {
                "Yes"
            } else {
                "No"
            }
            .to_string(),
        ),
        ("Service role", or_dash(settings.service_role.as_deref())),
        ("Buildspec", buildspec_row),
        ("Artifacts", artifacts_row),
        ("Timeout", minutes(settings.timeout_in_minutes)),
        (
            "Queued timeout",
            minutes(settings.queued_timeout_in_minutes),
        ),
        (
            "Concurrent build limit",
            settings
                .concurrent_build_limit
                .map_or_else(|| "—".to_string(), |n| n.to_string()),
        ),
        ("ARN", project.arn.clone()),
        ("Created", view::format_time(project.created)),
        ("Last modified", view::format_time(project.last_modified)),
    ];
    (rows, inline)
}

/// The notes for the settings of `project` that Kiln does not apply.
fn unapplied_notes(project: &Project) -> Vec<String> {
    UnappliedProjectSettings::of(&project.settings)
        .set()
        .into_iter()
        .map(Unapplied::note)
        .collect()
}

/// The environment variables of `project`, their types in words.
fn env_rows(project: &Project) -> Vec<EnvRow> {
    let variables = project
        .settings
        .environment
        .as_ref()
        .and_then(|env| env.environment_variables.as_deref())
        .unwrap_or_default();
    variables
        .iter()
        .map(|v| EnvRow {
            name: v.name.clone().unwrap_or_default(),
            value: v.value.clone().unwrap_or_default(),
            var_type: form::label_of(
                form::ENV_VAR_TYPES,
                v.var_type.as_deref().unwrap_or("PLAINTEXT"),
            ),
        })
        .collect()
}

/// What a project's page shows besides the project: the badge's branch, a notice, and the
/// page of its history.
struct PageView<'a> {
    badge: &'a BadgeChoice,
    notice: &'a str,
    after: Option<i64>,
}

/// Renders a project's page (the newest builds); the Start build form shows `start` and
/// `errors`.
pub(super) async fn project_page(
    state: &AppState,
    session: &Session,
    name: &str,
    badge: &BadgeChoice,
    notice: &str,
    start: StartFields,
    errors: FieldErrors,
) -> Response {
    let shown = PageView {
        badge,
        notice,
        after: None,
    };
    render(state, session, name, shown, start, errors).await
}

/// The project's recent builds (for the chart and the badge's branches) and the page of its
/// history that `after` names, with the key of the page after it.
async fn builds_and_history(
    state: &AppState,
    account_id: &str,
    name: &str,
    after: Option<i64>,
) -> kiln_store::StoreResult<(Vec<BuildRecord>, Vec<BuildRecord>, Option<i64>)> {
    let store = state.store.as_ref();
    let (recent, _) =
        history::project_builds(store, account_id, name, None, build_chart::CHART_LEN as u64)
            .await?;
    if after.is_some() {
        let (page, next) =
            history::project_builds(store, account_id, name, after, HISTORY_LEN as u64).await?;
        return Ok((recent, page, next));
    }
    let page: Vec<BuildRecord> = recent.iter().take(HISTORY_LEN).cloned().collect();
    let next = (recent.len() > HISTORY_LEN)
        .then(|| page.last().map(|b| b.build_number))
        .flatten();
    Ok((recent, page, next))
}

async fn render(
    state: &AppState,
    session: &Session,
    name: &str,
    shown: PageView<'_>,
    start: StartFields,
    errors: FieldErrors,
) -> Response {
    let project = match get_project(state, session, name).await {
        Ok(Some(p)) => p,
        Ok(None) => return project_not_found(session, name),
        Err(err) => return view::api_error_page(session, &err),
    };
    let account_id = &session.caller.account_id;
    let (recent, page, next) = match builds_and_history(state, account_id, name, shown.after).await
    {
        Ok(found) => found,
        Err(err) => return view::api_error_page(session, &crate::api::store_failure(err)),
    };
    let webhook = match &project.webhook {
        Some(hook) => match recent_deliveries(state, account_id, name, DELIVERIES_SHOWN).await {
            Ok(deliveries) => Some(WebhookView {
                payload_url: hook.payload_url.clone(),
                deliveries: deliveries.iter().map(DeliveryRow::of).collect(),
            }),
            Err(err) => return view::api_error_page(session, &err),
        },
        None => None,
    };
    let (config, inline_buildspec) = config_rows(&project);
    let env_vars = env_rows(&project);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let name = project.name.clone();
    let builds_url = format!("/projects/{name}/builds");
    let now = state.now_epoch();
    let page = ProjectPage {
        chrome: session.chrome(),
        description: project.settings.description.clone().unwrap_or_default(),
        notice: shown.notice.to_string(),
        unapplied: unapplied_notes(&project),
        config,
        env_vars,
        inline_buildspec,
        badge: badge_view(&state.public_url, &project, shown.badge, &recent),
        badge_reason: form::BADGE_UNAVAILABLE,
        badge_available: form::badge_available(
            project
                .settings
                .source
                .as_ref()
                .and_then(|s| s.source_type.as_deref())
                .unwrap_or_default(),
        ),
        builds: page
            .iter()
            .map(|b| BuildRow::of(b, &builds_url, now))
            .collect(),
        chart: build_chart::durations(&recent, &builds_url, now),
        older_url: next.map_or_else(String::new, |n| {
            format!("/projects/{name}?after={n}#history")
        }),
        older_page: shown.after.is_some(),
        webhook,
        public: PublicView::of(&state.public_url, &project),
        start,
        errors,
        name,
    };
    view::render_with_origin(status, &page, &state.public_url)
}

#[cfg(test)]
mod tests {
    use kiln_domain::project::ProjectArtifacts;

    use super::*;
    use crate::console::projects::tests::sample_project;

    #[test]
    fn deliveries_link_the_build_they_started() {
        let delivery = DeliveryRecord {
            account_id: "1".into(),
            project_name: "p".into(),
            delivery_id: None,
            forge: None,
            event: "PUSH".into(),
            outcome: DeliveryOutcome::Built,
            reason: "pushed".into(),
            build_id: Some("p:u1".into()),
            received_at: 0.0,
            verified: true,
        };
        let row = DeliveryRow::of(&delivery);
        assert_eq!((row.outcome, row.outcome_class), ("Built", "ok"));
        assert_eq!(row.forge, "—");
        assert_eq!(row.build_url.as_deref(), Some("/projects/p/builds/u1"));
    }

    #[test]
    fn config_shows_inline_commands_apart() {
        let mut project = sample_project();
        let settings = &mut project.settings;
        if let Some(source) = settings.source.as_mut() {
            source.buildspec = Some("version: 0.2\nphases: {}".into());
            source.location = None;
        }
        if let Some(env) = settings.environment.as_mut() {
            env.privileged_mode = Some(true);
        }
        settings.concurrent_build_limit = Some(3);
        let (rows, inline) = config_rows(&project);
        assert!(inline.starts_with("version: 0.2"));
        let row = |label: &str| rows.iter().find(|(l, _)| *l == label).unwrap().1.clone();
        assert_eq!(row("Buildspec"), "Inserted build commands (shown below)");
        assert_eq!(row("Privileged"), "Yes");
        assert_eq!(row("Repository"), "—");
        assert_eq!(row("Source provider"), "GitHub");
        assert_eq!(row("Compute"), "Small: 3 GB memory, 2 vCPUs");
        // The API answers the default timeouts of a project that set none.
        assert_eq!(row("Timeout"), "60 min");
        assert_eq!(row("Queued timeout"), "480 min");
        assert_eq!(row("Concurrent build limit"), "3");
        assert_eq!(
            row("ARN"),
            "arn:aws:codebuild:eu-west-1:111111111111:project/app"
        );
        assert_eq!(row("Artifacts"), "No artifacts");
    }

    #[test]
    fn config_names_a_buildspec_file_and_s3_artifacts() {
        let mut project = sample_project();
        project.settings.artifacts = Some(ProjectArtifacts {
            artifacts_type: Some("S3".into()),
            location: Some("bucket".into()),
            packaging: Some("ZIP".into()),
            ..ProjectArtifacts::default()
        });
        let (rows, inline) = config_rows(&project);
        let row = |label: &str| rows.iter().find(|(l, _)| *l == label).unwrap().1.clone();
        assert_eq!(inline, "");
        assert_eq!(row("Buildspec"), "buildspec.yml in the source root");
        assert_eq!(row("Artifacts"), "Amazon S3: bucket bucket, name —, zipped");
        assert_eq!(row("Repository"), "https://git.example.com/app.git");
        assert_eq!(row("Concurrent build limit"), "—");
    }

    #[test]
    fn settings_kiln_ignores_get_a_note_and_variables_their_type_in_words() {
        let mut project = sample_project();
        assert!(unapplied_notes(&project).is_empty());
        project.settings.vpc_config = Some(serde_json::json!({"vpcId": "vpc-1"}));
        let notes = unapplied_notes(&project);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].starts_with("vpcConfig is set"), "{notes:?}");
        let rows = env_rows(&project);
        assert_eq!(
            rows.iter()
                .map(|r| (r.name.as_str(), r.value.as_str(), r.var_type.as_str()))
                .collect::<Vec<_>>(),
            [("A", "1", "Plaintext")]
        );
    }
}
