//! Build pages: start a build, its details (phases, source, the agent that ran it, log,
//! artifacts, reports), stop and retry.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kiln_domain::build::BuildRecord;
use kiln_domain::fleet::FleetRecord;
use kiln_domain::unapplied::{self, Unapplied};
use kiln_domain::{ApiError, ErrorKind};
use serde_json::{Value, json};

use super::artifacts::{self, ArtifactLink};
use super::errors::FieldErrors;
use super::log_view::{self, LogView};
use super::projects::{self, StartFields, call};
use super::reports::{self, ReportLink};
use super::session::{EmptyForm, Session};
use super::view::{self, Chrome};
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

/// The agent (`kiln agent`) that ran a build, and its fleet.
pub struct RanOn {
    pub agent: String,
    pub fleet: String,
    /// The fleet's page; empty when the fleet is gone (deleted, or re-created under its name).
    pub fleet_url: String,
}

/// Where `build` ran, if an agent ran it; `fleet` is the account's fleet of the build's fleet
/// name, if there is one.
fn ran_on(build: &BuildRecord, fleet: Option<&FleetRecord>) -> Option<RanOn> {
    let agent = build.agent.clone()?;
    let arn = build.settings.environment.fleet_arn().unwrap_or_default();
    let (fleet, fleet_url) = match fleet {
        Some(f) if f.arn == arn => (f.name.clone(), super::fleets::fleet_url(&f.name)),
        _ => (fleet_name_of(arn).to_string(), String::new()),
    };
    Some(RanOn {
        agent,
        fleet,
        fleet_url,
    })
}

/// `NAME` of `arn:aws:codebuild:<region>:<account>:fleet/NAME:ID`.
fn fleet_name_of(arn: &str) -> &str {
    arn.split_once(":fleet/")
        .map(|(_, rest)| rest.split_once(':').map_or(rest, |(name, _)| name))
        .unwrap_or(arn)
}

/// [`ran_on`] for the caller's build `uuid`, read from the store (the API's `Build` shape has
/// no agent). A read that fails leaves the fact out of the page.
async fn read_ran_on(state: &AppState, session: &Session, uuid: &str) -> Option<RanOn> {
    let account = &session.caller.account_id;
    let read = async {
        let Some(build) = state.store.get_build(account, uuid).await? else {
            return Ok(None);
        };
        if build.agent.is_none() {
            return Ok(None);
        }
        let arn = build.settings.environment.fleet_arn().unwrap_or_default();
        let fleet = match fleet_name_of(arn) {
            "" => None,
            name => state.store.fleet(account, name).await?,
        };
        Ok::<_, kiln_store::StoreError>(ran_on(&build, fleet.as_ref()))
    };
    read.await.unwrap_or_else(|err| {
        tracing::error!(error = %err, "cannot read the agent of a build");
        None
    })
}

pub struct PhaseRow {
    pub name: String,
    pub status: String,
    pub status_class: &'static str,
    pub duration: String,
    pub context: String,
}

/// Where a build page's links lead and what it may show: the console's page of a signed-in
/// account, or the public page of a public project (docs/public-builds.md), which shows no
/// account facts (initiator, agent, settings) and no forms.
pub(super) struct BuildView {
    pub public: bool,
    pub project_url: String,
    /// The page's own address; the full log and the live log are below it.
    pub page_url: String,
    /// Whether the page lists and serves the build's artifacts.
    pub artifacts_shown: bool,
    /// Where the log's window ends (`?before=`); the log's end without it.
    pub log_before: Option<u64>,
}

#[derive(Template)]
#[template(path = "build.html")]
pub(super) struct BuildPage {
    chrome: Chrome,
    view: BuildView,
    project: String,
    uuid: String,
    number: i64,
    status: String,
    status_label: String,
    status_class: &'static str,
    complete: bool,
    phases: Vec<PhaseRow>,
    source_version: String,
    resolved_version: String,
    initiator: String,
    ran_on: Option<RanOn>,
    started: String,
    duration: String,
    log: LogView,
    artifacts: Vec<ArtifactLink>,
    artifact_locations: Vec<String>,
    reports: Vec<ReportLink>,
    /// Settings Kiln stores but does not apply, one note each.
    unapplied: Vec<String>,
    errors: FieldErrors,
}

impl BuildPage {
    /// The page of `build` (the API's `Build` shape) of `account_id`, without the facts only
    /// the console shows (initiator, agent, unapplied settings) and without errors.
    pub(super) async fn of(
        state: &AppState,
        account_id: &str,
        build: &Value,
        chrome: Chrome,
        view: BuildView,
    ) -> BuildPage {
        let uuid = uuid_of(build);
        let status = build["buildStatus"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let start = build["startTime"].as_f64().unwrap_or(0.0);
        let end = build["endTime"].as_f64();
        let project = build["projectName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (artifacts, artifact_locations) = if view.artifacts_shown {
            (
                artifacts::links(state, &view.page_url, build).await,
                artifacts::locations(build).into_iter().flatten().collect(),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let complete = build["buildComplete"].as_bool().unwrap_or(false);
        let log = LogView::read(state, &uuid, &view.page_url, view.log_before, complete).await;
        BuildPage {
            chrome,
            number: build["buildNumber"].as_i64().unwrap_or(0),
            status_label: view::status_label(&status),
            status_class: view::status_class(&status),
            complete,
            phases: phase_rows(build),
            source_version: build["sourceVersion"]
                .as_str()
                .unwrap_or("Default branch")
                .to_string(),
            resolved_version: build["resolvedSourceVersion"]
                .as_str()
                .unwrap_or("—")
                .to_string(),
            initiator: String::new(),
            ran_on: None,
            started: view::format_time(start),
            duration: end.map_or_else(
                || {
                    format!(
                        "{} so far",
                        view::format_duration(state.now_epoch() - start)
                    )
                },
                |end| view::format_duration(end - start),
            ),
            log,
            artifacts,
            artifact_locations,
            reports: reports::of_build(state, account_id, build).await,
            unapplied: Vec::new(),
            status,
            uuid,
            project,
            view,
            errors: FieldErrors::default(),
        }
    }

    pub(super) fn public_reports(mut self) -> BuildPage {
        self.reports = self.reports.into_iter().map(ReportLink::unlinked).collect();
        self
    }
}

pub(super) fn phase_rows(build: &Value) -> Vec<PhaseRow> {
    build["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|phase| {
            let status = phase["phaseStatus"].as_str().unwrap_or_default();
            let context = phase["contexts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    let code = c["statusCode"].as_str().unwrap_or_default();
                    let message = c["message"].as_str().unwrap_or_default();
                    match (code.is_empty(), message.is_empty()) {
                        (true, true) => None,
                        (false, false) => Some(format!("{code}: {message}")),
                        _ => Some(format!("{code}{message}")),
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            let name = phase["phaseType"].as_str().unwrap_or_default();
            PhaseRow {
                name: name.to_string(),
                // COMPLETED only marks the end; it has no status of its own.
                status: if name == "COMPLETED" {
                    String::new()
                } else if status.is_empty() {
                    "In progress".to_string()
                } else {
                    view::status_label(status)
                },
                status_class: if status.is_empty() {
                    "busy"
                } else {
                    view::status_class(status)
                },
                duration: phase["durationInSeconds"]
                    .as_f64()
                    .map_or_else(String::new, view::format_duration),
                context,
            }
        })
        .collect()
}

pub async fn details(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path((project, uuid)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let before = log_view::before_of(query.as_deref());
    build_page(
        &state,
        &session,
        &project,
        &uuid,
        before,
        FieldErrors::default(),
    )
    .await
}

/// The notes for the settings of the build that Kiln does not apply (none if it cannot be read).
async fn unapplied_notes(state: &AppState, session: &Session, uuid: &str) -> Vec<String> {
    match state
        .store
        .get_build(&session.caller.account_id, uuid)
        .await
    {
        Ok(Some(build)) => unapplied::in_build(&build.settings)
            .into_iter()
            .map(Unapplied::note)
            .collect(),
        _ => Vec::new(),
    }
}

async fn build_page(
    state: &AppState,
    session: &Session,
    project: &str,
    uuid: &str,
    log_before: Option<u64>,
    errors: FieldErrors,
) -> Response {
    let build = match get_build(state, session, project, uuid).await {
        Ok(Some(build)) => build,
        Ok(None) => return build_not_found(session),
        Err(err) => return view::api_error_page(session, &err),
    };
    let uuid = uuid_of(&build);
    let view = BuildView {
        public: false,
        project_url: format!("/projects/{project}"),
        page_url: format!("/projects/{project}/builds/{uuid}"),
        artifacts_shown: true,
        log_before,
    };
    let account_id = &session.caller.account_id;
    let mut page = BuildPage::of(state, account_id, &build, session.chrome(), view).await;
    page.initiator = build["initiator"].as_str().unwrap_or_default().to_string();
    page.ran_on = read_ran_on(state, session, &uuid).await;
    page.unapplied = unapplied_notes(state, session, &uuid).await;
    page.errors = errors;
    view::render(StatusCode::OK, &page)
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
            build_page(&state, &session, &project, &uuid, None, errors).await
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
            build_page(&state, &session, &project, &uuid, None, errors).await
        }
    }
}

/// The whole log as text, as a download.
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
        Ok(response) => log_view::as_download(
            response,
            &project,
            build["buildNumber"].as_i64().unwrap_or(0),
        ),
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

    #[test]
    fn builds_an_agent_ran_name_it_and_their_fleet() {
        let input: kiln_domain::fleet::FleetInput = serde_json::from_value(json!({
            "name": "linux", "baseCapacity": 1, "environmentType": "LINUX_CONTAINER",
            "computeType": "BUILD_GENERAL1_SMALL"
        }))
        .unwrap();
        let fleet = kiln_domain::fleet::validate_create(input, "1", "r", "id-1", 0.0).unwrap();
        let project = kiln_domain::project::ProjectRecord {
            account_id: "1".into(),
            name: "app".into(),
            settings: kiln_domain::project::ProjectSettings {
                source: serde_json::from_value(json!({"type": "NO_SOURCE", "buildspec": "x"}))
                    .unwrap(),
                ..Default::default()
            },
            badge_enabled: false,
            badge_token: String::new(),
            created: 0.0,
            last_modified: 0.0,
            source_epoch: 0,
            public: Default::default(),
        };
        let mut settings = kiln_domain::start::StartBuildInput::default()
            .resolve(&project)
            .unwrap();
        settings.environment.fleet = Some(kiln_domain::fleet::ProjectFleet {
            fleet_arn: Some(fleet.arn.clone()),
        });
        let mut build = BuildRecord::submitted(kiln_domain::retry::NewBuild {
            account_id: "1",
            project_name: "app",
            uuid: "u".into(),
            settings,
            source_epoch: 0,
            initiator: "me".into(),
            now: 0.0,
        });
        assert!(ran_on(&build, Some(&fleet)).is_none(), "no agent ran it");
        build.agent = Some("gpu-1".into());
        let on = ran_on(&build, Some(&fleet)).unwrap();
        assert_eq!(
            (on.agent.as_str(), on.fleet.as_str(), on.fleet_url.as_str()),
            ("gpu-1", "linux", "/fleets/linux")
        );
        // A fleet re-created under the name is another fleet: no link.
        let mut recreated = fleet.clone();
        recreated.arn = "arn:aws:codebuild:r:1:fleet/linux:id-2".into();
        let on = ran_on(&build, Some(&recreated)).unwrap();
        assert_eq!((on.fleet.as_str(), on.fleet_url.as_str()), ("linux", ""));
        assert_eq!(fleet_name_of("arn:aws:codebuild:r:1:fleet/a-b:id"), "a-b");
    }

    #[test]
    fn phases_read_well() {
        let build = json!({"phases": [
            {"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED", "durationInSeconds": 0, "endTime": 1.0},
            {"phaseType": "BUILD", "phaseStatus": "FAILED", "durationInSeconds": 3, "endTime": 4.0,
             "contexts": [{"statusCode": "COMMAND_EXECUTION_ERROR", "message": "exit status 1"}]},
            {"phaseType": "FINALIZING"},
            {"phaseType": "COMPLETED"},
        ]});
        let rows = phase_rows(&build);
        assert_eq!(rows[1].context, "COMMAND_EXECUTION_ERROR: exit status 1");
        assert_eq!(rows[1].status_class, "bad");
        assert_eq!(rows[2].status, "In progress");
        assert_eq!(rows[3].status, "");
    }
}
