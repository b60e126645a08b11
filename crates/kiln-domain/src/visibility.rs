//! Public builds (`UpdateProjectVisibility`; docs/public-builds.md): whether anyone may read a
//! project's builds without signing in, the alias that names the project on its public pages,
//! and those pages' addresses.

use serde::{Deserialize, Serialize};

use crate::validate::{self, Violations};
use crate::{ApiError, enums};

/// `ProjectVisibilityType`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProjectVisibility {
    #[default]
    Private,
    PublicRead,
}

impl ProjectVisibility {
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectVisibility::Private => "PRIVATE",
            ProjectVisibility::PublicRead => "PUBLIC_READ",
        }
    }

    pub fn parse(value: &str) -> Option<ProjectVisibility> {
        match value {
            "PRIVATE" => Some(ProjectVisibility::Private),
            "PUBLIC_READ" => Some(ProjectVisibility::PublicRead),
            _ => None,
        }
    }
}

/// What a project says about public access to its builds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PublicAccess {
    pub visibility: ProjectVisibility,
    /// Given the first time the project is made public (a [`crate::token`]: random, unrelated
    /// to the project's name or account) and kept for the project's life, so a project made
    /// private and public again keeps its address.
    pub alias: Option<String>,
    /// `resourceAccessRole`: while set, the public pages list and serve the builds' artifacts.
    pub resource_access_role: Option<String>,
}

impl PublicAccess {
    /// The alias of the project's public pages, while the project is public.
    pub fn public_alias(&self) -> Option<&str> {
        match self.visibility {
            ProjectVisibility::PublicRead => self.alias.as_deref(),
            ProjectVisibility::Private => None,
        }
    }

    /// Whether the public pages show the builds' artifacts.
    pub fn artifacts_public(&self) -> bool {
        self.resource_access_role.is_some()
    }
}

/// Longest `resourceAccessRole` kept: an IAM ARN's limit.
pub const MAX_ROLE_ARN_LEN: usize = 2048;

/// `UpdateProjectVisibilityInput`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateVisibilityInput {
    pub project_arn: Option<String>,
    pub project_visibility: Option<String>,
    pub resource_access_role: Option<String>,
}

/// A valid `UpdateProjectVisibility` call of the caller's account.
#[derive(Debug, Clone, PartialEq)]
pub struct VisibilityChange {
    pub project_name: String,
    pub visibility: ProjectVisibility,
    /// Replaces the stored role: a call without one removes it.
    pub resource_access_role: Option<String>,
}

/// Checks the call: InvalidInput for a missing member, a value outside the enum or something
/// that is not a project ARN; ResourceNotFound for a project ARN of another account or region.
pub fn validate_update(
    input: UpdateVisibilityInput,
    region: &str,
    account_id: &str,
) -> Result<VisibilityChange, ApiError> {
    let arn = validate::required("projectArn", input.project_arn)?;
    let visibility = validate::required("projectVisibility", input.project_visibility)?;
    let mut v = Violations::new();
    v.one_of("projectVisibility", &visibility, enums::PROJECT_VISIBILITY);
    if let Some(role) = &input.resource_access_role {
        v.length("resourceAccessRole", role, 1, MAX_ROLE_ARN_LEN);
    }
    v.finish()?;
    let visibility = ProjectVisibility::parse(&visibility)
        .ok_or_else(|| ApiError::invalid_input("Invalid projectVisibility"))?;
    let (arn_region, arn_account, name) = parse_project_arn(&arn)
        .ok_or_else(|| ApiError::invalid_input(format!("Invalid project ARN: {}", shown(&arn))))?;
    if arn_region != region || arn_account != account_id {
        return Err(ApiError::not_found(format!(
            "Project cannot be found: {}",
            shown(&arn)
        )));
    }
    Ok(VisibilityChange {
        project_name: name.to_string(),
        visibility,
        resource_access_role: input.resource_access_role,
    })
}

/// At most 255 characters of a caller's text, for a message.
fn shown(text: &str) -> &str {
    text.char_indices()
        .nth(255)
        .map_or(text, |(i, _)| &text[..i])
}

/// `arn:aws:codebuild:<region>:<account>:project/<name>` as (region, account, name).
fn parse_project_arn(arn: &str) -> Option<(&str, &str, &str)> {
    let rest = arn.strip_prefix("arn:aws:codebuild:")?;
    let (region, rest) = rest.split_once(':')?;
    let (account, rest) = rest.split_once(':')?;
    let name = rest.strip_prefix("project/")?;
    let well_formed = !region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && crate::project::is_valid_project_name(name);
    well_formed.then_some((region, account, name))
}

/// `<public-url>/project/<alias>`: the project's public page.
pub fn public_project_url(public_url: &str, alias: &str) -> String {
    format!("{}/project/{alias}", public_url.trim_end_matches('/'))
}

/// `<public-url>/project/<alias>/build/<uuid>`: a build's public page, as CodeBuild's
/// `CODEBUILD_PUBLIC_BUILD_URL`.
pub fn public_build_url(public_url: &str, alias: &str, uuid: &str) -> String {
    format!("{}/build/{uuid}", public_project_url(public_url, alias))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn input(arn: &str, visibility: &str, role: Option<&str>) -> UpdateVisibilityInput {
        UpdateVisibilityInput {
            project_arn: Some(arn.into()),
            project_visibility: Some(visibility.into()),
            resource_access_role: role.map(str::to_string),
        }
    }

    const ARN: &str = "arn:aws:codebuild:us-east-1:123456789012:project/app";

    #[test]
    fn a_call_names_a_project_of_the_callers_account() {
        let change =
            validate_update(input(ARN, "PUBLIC_READ", None), "us-east-1", "123456789012").unwrap();
        assert_eq!(change.project_name, "app");
        assert_eq!(change.visibility, ProjectVisibility::PublicRead);
        let other = validate_update(input(ARN, "PRIVATE", None), "us-east-1", "999999999999");
        assert_eq!(other.unwrap_err().kind, ErrorKind::ResourceNotFound);
        let elsewhere = validate_update(input(ARN, "PRIVATE", None), "eu-west-1", "123456789012");
        assert_eq!(elsewhere.unwrap_err().kind, ErrorKind::ResourceNotFound);
    }

    #[test]
    fn bad_arns_and_values_are_invalid_input() {
        for (arn, visibility, role) in [
            ("app", "PUBLIC_READ", None),
            (
                "arn:aws:codebuild:us-east-1:123456789012:build/app:x",
                "PRIVATE",
                None,
            ),
            (
                "arn:aws:codebuild:us-east-1:12345:project/app",
                "PRIVATE",
                None,
            ),
            (
                "arn:aws:codebuild:us-east-1:123456789012:project/a b",
                "PRIVATE",
                None,
            ),
            (ARN, "PUBLIC", None),
            (ARN, "", None),
            ("", "PRIVATE", None),
            (ARN, "PRIVATE", Some("")),
        ] {
            let err = validate_update(input(arn, visibility, role), "us-east-1", "123456789012")
                .unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidInput, "{arn} {visibility}");
        }
        let long_role = "r".repeat(MAX_ROLE_ARN_LEN + 1);
        let err = validate_update(
            input(ARN, "PRIVATE", Some(&long_role)),
            "us-east-1",
            "123456789012",
        )
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
    }

    #[test]
    fn the_alias_is_public_only_while_the_project_is() {
        let mut access = PublicAccess {
            visibility: ProjectVisibility::PublicRead,
            alias: Some("tok".into()),
            resource_access_role: None,
        };
        assert_eq!(access.public_alias(), Some("tok"));
        access.visibility = ProjectVisibility::Private;
        assert_eq!(access.public_alias(), None);
    }

    #[test]
    fn public_urls() {
        assert_eq!(
            public_build_url("http://h:1/", "tok", "u-1"),
            "http://h:1/project/tok/build/u-1"
        );
        assert_eq!(
            public_project_url("http://h:1", "tok"),
            "http://h:1/project/tok"
        );
    }
}
