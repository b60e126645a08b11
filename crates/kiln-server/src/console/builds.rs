//! Build pages (starting one is `build_start`): its details (phases, source, the agent that ran it, log,
//! artifacts, reports), stop and retry.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kiln_domain::build::{BuildRecord, BuildStatus};
use kiln_domain::fleet::FleetRecord;
use kiln_domain::shapes::Build;
use kiln_domain::unapplied::{self, Unapplied};
use kiln_domain::{ApiError, ErrorKind};

use super::artifacts::{self, ArtifactLink};
use super::errors::FieldErrors;
use super::reports::{self, ReportLink};
use super::session::{EmptyForm, Session};
use super::view::{self, Chrome};
use crate::api::{self, builds::IdInput, builds::IdsInput};
use crate::state::AppState;

/// Most of a log the build page shows inline; the full log is a link away.
const MAX_INLINE_LOG: u64 = 1024 * 1024;

/// One of the caller's builds, in the API's `Build` shape, if `project`/`uuid` names one.
pub(super) async fn get_build(
    state: &AppState,
    session: &Session,
    project: &str,
    uuid: &str,
) -> Result<Option<Build>, ApiError> {
    let input = IdsInput {
        ids: Some(vec![format!("{project}:{uuid}")]),
    };
    match api::builds::batch_get(state, &session.caller, input).await {
        Ok(out) => Ok(out.builds.into_iter().next()),
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
    /// While the build runs: its duration counts on in the browser (static/live.js).
    ticking: Option<super::history::Ticking>,
    log: String,
    log_offset: u64,
    log_truncated: bool,
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
        build: &Build,
        chrome: Chrome,
        view: BuildView,
    ) -> BuildPage {
        let uuid = build.uuid().to_string();
        let (log, log_offset, log_truncated) = read_log_tail(state, &uuid).await;
        let status = build.build_status.as_str().to_string();
        let start = build.start_time;
        let end = build.end_time;
        let project = build.project_name.clone();
        let (artifacts, artifact_locations) = if view.artifacts_shown {
            (
                artifacts::links(state, &view.page_url, build).await,
                artifacts::locations(build).into_iter().flatten().collect(),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        BuildPage {
            chrome,
            number: build.build_number,
            status_label: view::status_label(&status),
            status_class: view::status_class(&status),
            complete: build.build_complete,
            phases: phase_rows(build),
            source_version: build
                .source_version
                .clone()
                .unwrap_or_else(|| "Default branch".to_string()),
            resolved_version: build
                .resolved_source_version
                .clone()
                .unwrap_or_else(|| "—".to_string()),
            initiator: String::new(),
            ran_on: None,
            started: view::format_time(start),
            ticking: end.is_none().then(|| super::history::Ticking {
                started: format!("{start:.3}"),
                now: format!("{:.3}", state.now_epoch()),
            }),
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
            log_offset,
            log_truncated,
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

pub(super) fn phase_rows(build: &Build) -> Vec<PhaseRow> {
    build
        .phases
        .iter()
        .map(|phase| {
            let status = phase.phase_status.map_or("", BuildStatus::as_str);
            let context = phase
                .contexts
                .iter()
                .flatten()
                .filter_map(|c| {
                    let (code, message) = (&c.status_code, &c.message);
                    match (code.is_empty(), message.is_empty()) {
                        (true, true) => None,
                        (false, false) => Some(format!("{code}: {message}")),
                        _ => Some(format!("{code}{message}")),
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            let name = phase.phase_type.as_str();
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
                duration: phase
                    .duration_in_seconds
                    .map_or_else(String::new, |s| view::format_duration(s as f64)),
                context,
            }
        })
        .collect()
}

/// The last [`MAX_INLINE_LOG`] bytes of a build's stored log, its size, and whether the start
/// was cut.
async fn read_log_tail(state: &AppState, uuid: &str) -> (String, u64, bool) {
    let tail = async {
        let size = state.store.log_size(uuid).await?;
        let start = size.saturating_sub(MAX_INLINE_LOG);
        let wanted = usize::try_from(size - start).unwrap_or(usize::MAX);
        let bytes = state.store.read_log(uuid, start, wanted).await?;
        Ok::<_, kiln_store::StoreError>((start, bytes))
    };
    match tail.await {
        Ok((start, bytes)) => {
            let end = start + bytes.len() as u64;
            (String::from_utf8_lossy(&bytes).into_owned(), end, start > 0)
        }
        Err(err) => {
            tracing::error!(error = %err, "cannot read a build's log");
            (String::new(), 0, false)
        }
    }
}

pub async fn details(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path((project, uuid)): Path<(String, String)>,
) -> Response {
    build_page(&state, &session, &project, &uuid, FieldErrors::default()).await
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
    errors: FieldErrors,
) -> Response {
    let build = match get_build(state, session, project, uuid).await {
        Ok(Some(build)) => build,
        Ok(None) => return build_not_found(session),
        Err(err) => return view::api_error_page(session, &err),
    };
    let uuid = build.uuid().to_string();
    let view = BuildView {
        public: false,
        project_url: format!("/projects/{project}"),
        page_url: format!("/projects/{project}/builds/{uuid}"),
        artifacts_shown: true,
    };
    let account_id = &session.caller.account_id;
    let mut page = BuildPage::of(state, account_id, &build, session.chrome(), view).await;
    page.initiator = build.initiator.clone();
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
    let input = IdInput {
        id: Some(id),
        ..IdInput::default()
    };
    match api::builds::stop(&state, &session.caller, input).await {
        Ok(_) => view::redirect(&format!("/projects/{project}/builds/{uuid}")),
        Err(err) if err.kind == ErrorKind::ResourceNotFound => build_not_found(&session),
        Err(err) => {
            let errors = FieldErrors::from_api(&err, |_, _| None);
            build_page(&state, &session, &project, &uuid, errors).await
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
    let input = IdInput {
        id: Some(id),
        ..IdInput::default()
    };
    match api::builds::retry(&state, &session.caller, input).await {
        Ok(out) => {
            let new_uuid = out.build.uuid();
            view::redirect(&format!("/projects/{project}/builds/{new_uuid}"))
        }
        Err(err) if err.kind == ErrorKind::ResourceNotFound => build_not_found(&session),
        Err(err) => {
            let errors = FieldErrors::from_api(&err, |_, _| None);
            build_page(&state, &session, &project, &uuid, errors).await
        }
    }
}

/// The whole log as text.
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
    match crate::logs::read_log(&state, &session.caller.account_id, build.uuid(), 0).await {
        Ok(response) => response,
        Err((status, message)) => (status, message).into_response(),
    }
}

#[cfg(test)]
pub(in crate::console) mod tests {
    use super::*;
    use serde_json::json;

    /// A submitted build of project "app" in account "1", started by "me".
    pub(in crate::console) fn sample_record() -> BuildRecord {
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
        let settings = kiln_domain::start::StartBuildInput::default()
            .resolve(&project)
            .unwrap();
        BuildRecord::submitted(kiln_domain::retry::NewBuild {
            account_id: "1",
            project_name: "app",
            uuid: "u".into(),
            settings,
            source_epoch: 0,
            initiator: "me".into(),
            now: 0.0,
        })
    }

    #[test]
    fn builds_an_agent_ran_name_it_and_their_fleet() {
        let input: kiln_domain::fleet::FleetInput = serde_json::from_value(json!({
            "name": "linux", "baseCapacity": 1, "environmentType": "LINUX_CONTAINER",
            "computeType": "BUILD_GENERAL1_SMALL"
        }))
        .unwrap();
        let fleet = kiln_domain::fleet::validate_create(input, "1", "r", "id-1", 0.0).unwrap();
        let mut build = sample_record();
        build.settings.environment.fleet = Some(kiln_domain::fleet::ProjectFleet {
            fleet_arn: Some(fleet.arn.clone()),
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
        use kiln_domain::build::{BuildPhase, PhaseContext, PhaseType};
        let phase = |phase_type, phase_status, end_time, contexts| BuildPhase {
            phase_type,
            phase_status,
            start_time: 1.0,
            end_time,
            contexts,
        };
        let mut record = sample_record();
        record.phases = vec![
            phase(
                PhaseType::Submitted,
                Some(BuildStatus::Succeeded),
                Some(1.0),
                vec![],
            ),
            phase(
                PhaseType::Build,
                Some(BuildStatus::Failed),
                Some(4.0),
                vec![PhaseContext::new(
                    "COMMAND_EXECUTION_ERROR",
                    "exit status 1",
                )],
            ),
            phase(PhaseType::Finalizing, None, None, vec![]),
            phase(PhaseType::Completed, None, None, vec![]),
        ];
        let build = record.to_api("r", "");
        let rows = phase_rows(&build);
        assert_eq!(rows[1].context, "COMMAND_EXECUTION_ERROR: exit status 1");
        assert_eq!(rows[1].status_class, "bad");
        assert_eq!(rows[2].status, "In progress");
        assert_eq!(rows[3].status, "");
    }
}
