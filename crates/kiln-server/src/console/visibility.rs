//! The project page's Public builds panel: whether the project's builds are public, their
//! address, and the form that changes it through UpdateProjectVisibility (docs/public-builds.md).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use kiln_domain::ErrorKind;
use kiln_domain::project::project_arn;
use kiln_domain::shapes::Project;
use kiln_domain::visibility::{UpdateVisibilityInput, public_project_url};
use serde::Deserialize;

use super::projects::project_not_found;
use super::session::Session;
use super::view;
use crate::state::AppState;

/// What the panel shows of a project.
#[derive(Debug, PartialEq)]
pub struct PublicView {
    /// The public page, while the project is public.
    pub page_url: Option<String>,
    pub resource_access_role: String,
}

impl PublicView {
    /// The panel of `project` on a Kiln at `public_url`.
    pub fn of(public_url: &str, project: &Project) -> PublicView {
        PublicView {
            page_url: public_page(public_url, project),
            resource_access_role: project.resource_access_role.clone().unwrap_or_default(),
        }
    }
}

/// The public page of `project`, while it is public.
pub fn public_page(public_url: &str, project: &Project) -> Option<String> {
    project
        .public_alias()
        .map(|alias| public_project_url(public_url, alias))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct VisibilityForm {
    visibility: String,
    resource_access_role: String,
}

pub async fn submit(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let form: VisibilityForm = match session.form(&body) {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let role = form.resource_access_role.trim();
    let input = UpdateVisibilityInput {
        project_arn: Some(project_arn(
            &state.region,
            &session.caller.account_id,
            &name,
        )),
        project_visibility: Some(form.visibility),
        resource_access_role: (!role.is_empty()).then(|| role.to_string()),
    };
    match crate::api::visibility::update(&state, &session.caller, input).await {
        Ok(_) => view::redirect(&format!("/projects/{name}?updated=1")),
        Err(err) if err.kind == ErrorKind::ResourceNotFound => project_not_found(&session, &name),
        Err(err) => view::api_error_page(&session, &err),
    }
}

#[cfg(test)]
mod tests {
    use kiln_domain::visibility::ProjectVisibility;

    use super::*;
    use crate::console::projects::tests::sample_project;

    #[test]
    fn the_panel_links_the_public_page_only_while_the_project_is_public() {
        let mut project = sample_project();
        project.public_project_alias = Some("alias".into());
        assert_eq!(
            PublicView::of("http://k:1", &project),
            PublicView {
                page_url: None,
                resource_access_role: String::new(),
            }
        );
        project.project_visibility = ProjectVisibility::PublicRead;
        project.resource_access_role = Some("arn:aws:iam::111111111111:role/read".into());
        assert_eq!(
            PublicView::of("http://k:1", &project),
            PublicView {
                page_url: Some("http://k:1/project/alias".into()),
                resource_access_role: "arn:aws:iam::111111111111:role/read".into(),
            }
        );
    }
}
