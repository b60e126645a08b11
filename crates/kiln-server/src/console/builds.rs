//! Build actions: stop and retry a build, its full log; and the reads every build page shares.
//! Starting one is `build_start.rs`, the details page `build_page.rs`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use kiln_domain::shapes::Build;
use kiln_domain::{ApiError, ErrorKind};

use super::build_page::build_page;
pub(super) use super::build_phases::phase_rows;
use super::errors::FieldErrors;
use super::log_view::{self, LogAt};
use super::session::{EmptyForm, Session};
use super::view;
use crate::api::{self, builds::IdInput, builds::IdsInput};
use crate::state::AppState;

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
            build_page(&state, &session, &project, &uuid, LogAt::End, errors).await
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
            build_page(&state, &session, &project, &uuid, LogAt::End, errors).await
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
    match crate::logs::read_log(&state, &session.caller.account_id, build.uuid(), 0).await {
        Ok(response) => log_view::as_download(response, &project, build.build_number),
        Err((status, message)) => (status, message).into_response(),
    }
}

#[cfg(test)]
pub(in crate::console) mod tests {
    use serde_json::json;

    /// A submitted build of project "app" in account "1", started by "me".
    pub(in crate::console) fn sample_record() -> kiln_domain::build::BuildRecord {
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
        kiln_domain::build::BuildRecord::submitted(kiln_domain::retry::NewBuild {
            account_id: "1",
            project_name: "app",
            uuid: "u".into(),
            settings,
            source_epoch: 0,
            initiator: "me".into(),
            now: 0.0,
        })
    }
}
