//! What the build project pages share: reading a project, its 404 page.
//! The list is `project_list`, a project's page `project_page`; create, edit and delete are
//! `project_create`, `project_edit` and `project_delete`.

use axum::response::Response;
use kiln_domain::shapes::Project;
use kiln_domain::{ApiError, ErrorKind};

use super::session::Session;
use super::view;
use crate::api::projects::{self, BatchGetProjectsInput};
use crate::state::AppState;

pub(super) use super::project_page::{StartFields, project_page};

/// One of the caller's projects in the API's `Project` shape; `None` when there is none.
pub(super) async fn get_project(
    state: &AppState,
    session: &Session,
    name: &str,
) -> Result<Option<Project>, ApiError> {
    let input = BatchGetProjectsInput {
        names: Some(vec![name.to_string()]),
    };
    match projects::batch_get(state, &session.caller, input).await {
        Ok(out) => Ok(out.projects.into_iter().next()),
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

#[cfg(test)]
pub(in crate::console) mod tests {
    use kiln_domain::project::{ProjectRecord, PublicLinks};
    use kiln_domain::shapes::Project;
    use serde_json::json;

    /// Project "app" of account "111111111111" as BatchGetProjects answers it on
    /// `http://k:1`: a GitHub source, a managed image, no artifacts, its badge on.
    pub(in crate::console) fn sample_project() -> Project {
        let settings = serde_json::from_value(json!({
            "description": "The app",
            "source": {"type": "GITHUB", "location": "https://git.example.com/app.git"},
            "environment": {
                "type": "LINUX_CONTAINER",
                "image": "aws/codebuild/standard:7.0",
                "computeType": "BUILD_GENERAL1_SMALL",
                "environmentVariables": [{"name": "A", "value": "1", "type": "PLAINTEXT"}],
            },
            "artifacts": {"type": "NO_ARTIFACTS"},
            "serviceRole": "arn:aws:iam::111111111111:role/app",
        }))
        .unwrap();
        let record = ProjectRecord {
            account_id: "111111111111".into(),
            name: "app".into(),
            settings,
            badge_enabled: true,
            badge_token: "tok".into(),
            created: 0.0,
            last_modified: 0.0,
            source_epoch: 0,
            public: Default::default(),
        };
        record.to_api(&PublicLinks {
            public_url: "http://k:1",
            region: "eu-west-1",
        })
    }
}
