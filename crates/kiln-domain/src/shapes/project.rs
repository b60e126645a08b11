//! CodeBuild's `Project` shape and the outputs of the project operations.

use serde::{Deserialize, Serialize};

use crate::project::ProjectSettings;
use crate::shapes::Webhook;
use crate::visibility::ProjectVisibility;

/// `Project`: the writable members as configured, with Kiln's additions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub name: String,
    pub arn: String,
    /// As configured, except that `timeoutInMinutes` and `queuedTimeoutInMinutes` are always
    /// there: the defaults when none was given, as on CodeBuild.
    #[serde(flatten)]
    pub settings: ProjectSettings,
    pub created: f64,
    pub last_modified: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Webhook>,
    pub badge: ProjectBadge,
    pub project_visibility: ProjectVisibility,
    /// Kept once given, also while the project is private (see [`Project::public_alias`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_project_alias: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_access_role: Option<String>,
}

impl Project {
    /// The alias of the project's public pages, while the project is public.
    pub fn public_alias(&self) -> Option<&str> {
        match self.project_visibility {
            ProjectVisibility::PublicRead => self.public_project_alias.as_deref(),
            ProjectVisibility::Private => None,
        }
    }
}

/// `ProjectBadge`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectBadge {
    pub badge_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge_request_url: Option<String>,
    /// Kiln's addition: the README snippet for `badge_request_url`. SDKs drop members they do
    /// not know, so CodeBuild clients are unaffected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge_markdown: Option<String>,
}

/// The output of CreateProject and UpdateProject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectOutput {
    pub project: Project,
}

/// The output of DeleteProject: no members.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeleteProjectOutput {}

/// The output of BatchGetProjects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchGetProjectsOutput {
    pub projects: Vec<Project>,
    pub projects_not_found: Vec<String>,
}

/// The output of ListProjects: project names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListProjectsOutput {
    pub projects: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// The output of UpdateProjectVisibility.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateProjectVisibilityOutput {
    pub project_arn: String,
    pub project_visibility: ProjectVisibility,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_project_alias: Option<String>,
}

/// The output of ListCuratedEnvironmentImages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListCuratedEnvironmentImagesOutput {
    pub platforms: Vec<EnvironmentPlatform>,
}

/// `EnvironmentPlatform`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentPlatform {
    pub platform: String,
    pub languages: Vec<EnvironmentLanguage>,
}

/// `EnvironmentLanguage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentLanguage {
    pub language: String,
    pub images: Vec<EnvironmentImage>,
}

/// `EnvironmentImage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentImage {
    pub name: String,
    pub description: String,
    pub versions: Vec<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::project::{ProjectRecord, PublicLinks};
    use crate::visibility::PublicAccess;

    fn record() -> ProjectRecord {
        ProjectRecord {
            account_id: "123456789012".into(),
            name: "demo".into(),
            settings: ProjectSettings {
                description: Some("d".into()),
                queued_timeout_in_minutes: Some(30),
                ..ProjectSettings::default()
            },
            badge_enabled: false,
            badge_token: "tok".into(),
            created: 1.0,
            last_modified: 2.5,
            source_epoch: 0,
            public: PublicAccess {
                visibility: ProjectVisibility::Private,
                alias: Some("alias".into()),
                resource_access_role: Some("role".into()),
            },
        }
    }

    const LINKS: PublicLinks<'static> = PublicLinks {
        public_url: "http://k:1",
        region: "eu-west-1",
    };

    #[test]
    fn a_record_answers_its_settings_as_members_with_the_default_timeouts() {
        let project = record().to_api(&LINKS);
        let wire = serde_json::to_value(&project).unwrap();
        assert_eq!(
            wire,
            json!({
                "name": "demo",
                "arn": "arn:aws:codebuild:eu-west-1:123456789012:project/demo",
                "description": "d",
                "timeoutInMinutes": 60,
                "queuedTimeoutInMinutes": 30,
                "created": 1.0,
                "lastModified": 2.5,
                "badge": {"badgeEnabled": false},
                "projectVisibility": "PRIVATE",
                "publicProjectAlias": "alias",
                "resourceAccessRole": "role",
            })
        );
        assert_eq!(serde_json::from_value::<Project>(wire).unwrap(), project);
    }

    #[test]
    fn the_alias_is_public_only_while_the_project_is() {
        let mut project = record().to_api(&LINKS);
        assert_eq!(project.public_alias(), None);
        project.project_visibility = ProjectVisibility::PublicRead;
        assert_eq!(project.public_alias(), Some("alias"));
    }

    #[test]
    fn delete_answers_an_empty_object() {
        assert_eq!(
            serde_json::to_value(DeleteProjectOutput {}).unwrap(),
            json!({})
        );
    }
}
