//! The build details page: status, the commit, what started the build and who, the builds
//! before and after it, the agent that ran it, artifacts (each file, inside a ZIP too),
//! reports, phases and the log. The public page of a build (`public.rs`) is the same page in
//! its public view.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use kiln_domain::build::BuildRecord;
use kiln_domain::shapes::Build;
use kiln_domain::unapplied::{self, Unapplied};

use super::artifacts::{self, ArtifactGroup};
use super::build_facts::{self, CommitView, Neighbours, RanOn, TriggerView};
use super::build_phases::{PhaseRow, phase_rows};
use super::builds::{build_not_found, get_build};
use super::errors::FieldErrors;
use super::log_view::{LogAt, LogView};
use super::reports::{self, ReportLink};
use super::session::Session;
use super::view::{self, Chrome};
use crate::state::AppState;

/// Where a build page's links lead and what it may show: the console's page of a signed-in
/// account, or the public page of a public project (docs/public-builds.md), which shows no
/// account facts (initiator, agent, settings) and no forms.
pub(super) struct BuildView {
    pub public: bool,
    pub project_url: String,
    /// Where the project's build pages are (`<builds_url>/<uuid>` each).
    pub builds_url: String,
    /// The page's own address; the full log and the live log are below it.
    pub page_url: String,
    /// Whether the page lists and serves the build's artifacts.
    pub artifacts_shown: bool,
    /// Which window of the log the page shows (`?before=`, `?line=`).
    pub log_at: LogAt,
}

impl BuildView {
    /// The view of build `uuid` whose project's pages are at `project_url`, below which its
    /// builds are at `builds_url`.
    pub(super) fn new(
        public: bool,
        project_url: String,
        builds_url: String,
        uuid: &str,
        artifacts_shown: bool,
        log_at: LogAt,
    ) -> BuildView {
        BuildView {
            public,
            project_url,
            page_url: format!("{builds_url}/{uuid}"),
            builds_url,
            artifacts_shown,
            log_at,
        }
    }
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
    commit: Option<CommitView>,
    trigger: TriggerView,
    neighbours: Neighbours,
    initiator: String,
    ran_on: Option<RanOn>,
    started: String,
    duration: String,
    /// While the build runs: its duration counts on in the browser (static/live.js).
    ticking: Option<super::history::Ticking>,
    log: LogView,
    artifacts: Vec<ArtifactGroup>,
    artifact_locations: Vec<String>,
    reports: Vec<ReportLink>,
    /// Settings Kiln stores but does not apply, one note each.
    unapplied: Vec<String>,
    errors: FieldErrors,
}

impl BuildPage {
    /// The page of `build` (the API's `Build` shape of `record`), without the facts only the
    /// console shows (initiator, agent, unapplied settings) and without errors.
    pub(super) async fn of(
        state: &AppState,
        record: &BuildRecord,
        build: &Build,
        chrome: Chrome,
        view: BuildView,
    ) -> BuildPage {
        let uuid = build.uuid().to_string();
        let log = LogView::read(
            state,
            &uuid,
            &view.page_url,
            view.log_at,
            build.build_complete,
        )
        .await;
        let status = build.build_status.as_str().to_string();
        let start = build.start_time;
        let end = build.end_time;
        let project = build.project_name.clone();
        let (artifacts, artifact_locations) = if view.artifacts_shown {
            (
                artifacts::groups(state, &view.page_url, build).await,
                artifacts::locations(build).into_iter().flatten().collect(),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let neighbours = build_facts::neighbours(state, record, &view.builds_url)
            .await
            .unwrap_or_else(|err| {
                tracing::error!(error = %err, "cannot read the builds next to a build");
                Neighbours::default()
            });
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
            commit: build_facts::commit_view(record),
            trigger: build_facts::trigger_view(record, neighbours.retried.as_ref()),
            neighbours,
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
            artifacts,
            artifact_locations,
            reports: reports::of_build(state, &record.account_id, build).await,
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

pub async fn details(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path((project, uuid)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    build_page(
        &state,
        &session,
        &project,
        &uuid,
        LogAt::of(query.as_deref()),
        FieldErrors::default(),
    )
    .await
}

/// The caller's build page, with `errors` of a refused form.
pub(super) async fn build_page(
    state: &AppState,
    session: &Session,
    project: &str,
    uuid: &str,
    log_at: LogAt,
    errors: FieldErrors,
) -> Response {
    let build = match get_build(state, session, project, uuid).await {
        Ok(Some(build)) => build,
        Ok(None) => return build_not_found(session),
        Err(err) => return view::api_error_page(session, &err),
    };
    let uuid = build.uuid().to_string();
    // The API found the build for the caller; the record has what its shape has not.
    let record = match state
        .store
        .get_build(&session.caller.account_id, &uuid)
        .await
    {
        Ok(Some(record)) => record,
        Ok(None) => return build_not_found(session),
        Err(err) => {
            tracing::error!(error = %err, "cannot read a build");
            return view::error_page(
                Some(session),
                StatusCode::SERVICE_UNAVAILABLE,
                "Build unavailable",
                "The build could not be read; try again shortly.",
            );
        }
    };
    let view = BuildView::new(
        false,
        format!("/projects/{project}"),
        format!("/projects/{project}/builds"),
        &uuid,
        true,
        log_at,
    );
    let mut page = BuildPage::of(state, &record, &build, session.chrome(), view).await;
    page.initiator = build_facts::initiator_name(&record, &session.caller.access_key_id);
    page.ran_on = build_facts::read_ran_on(state, &record).await;
    page.unapplied = unapplied::in_build(&record.settings)
        .into_iter()
        .map(Unapplied::note)
        .collect();
    page.errors = errors;
    view::render(StatusCode::OK, &page)
}
