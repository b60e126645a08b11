//! The project form page, shared by "Create build project" and "Edit": its view model (the
//! choices offered, the source field's labels for the chosen provider, the errors beside
//! their fields) and the managed images it offers.

use std::collections::BTreeSet;

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::errors::FieldErrors;
use super::form::{EnvRow, ProjectForm};
use super::form_options::{self, CuratedImage};
use super::projects::Choice;
use super::view::{self, Chrome};

pub struct ImageChoice {
    pub value: String,
    pub label: String,
    pub platform: String,
    pub language: String,
    pub selected: bool,
}

pub struct VersionChoice {
    pub value: String,
    pub image: String,
    pub selected: bool,
}

/// What the source location field is called, and its hint, for one kind of provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLabels {
    /// `s3` or `git`: which labels the page shows (console.js switches them live).
    pub kind: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
}

pub const S3_LABELS: SourceLabels = SourceLabels {
    kind: "s3",
    label: "Bucket and object key",
    hint: "The bucket, a slash and the key of a zip file of the source, such as my-bucket/source.zip.",
};

pub const GIT_LABELS: SourceLabels = SourceLabels {
    kind: "git",
    label: "Repository URL",
    hint: "A Git URL such as https://github.com/owner/repo.git, or a path to a repository on this host.",
};

/// The labels of the source location field for `provider`.
pub fn source_labels(provider: &str) -> SourceLabels {
    if provider == "S3" {
        S3_LABELS
    } else {
        GIT_LABELS
    }
}

#[derive(Template)]
#[template(path = "project_form.html")]
pub struct FormPage {
    chrome: Chrome,
    editing: bool,
    action: String,
    form: ProjectForm,
    errors: FieldErrors,
    providers: Vec<Choice>,
    badge_reason: &'static str,
    /// The labels of the source location for the chosen provider, and both sets for the page.
    source: SourceLabels,
    source_kinds: [SourceLabels; 2],
    oses: Vec<Choice>,
    runtimes: Vec<Choice>,
    images: Vec<ImageChoice>,
    versions: Vec<VersionChoice>,
    env_types: Vec<Choice>,
    compute_types: Vec<Choice>,
    var_types: Vec<Choice>,
    env_rows: Vec<EnvRow>,
}

/// The form's fields with an error place, in page order (the error summary follows it).
const FIELD_ORDER: &[&str] = &[
    "name",
    "description",
    "badge",
    "source_type",
    "source_location",
    "source_version",
    "image",
    "custom_env_type",
    "custom_registry_credential",
    "compute_type",
    "privileged",
    "env_vars",
    "service_role",
    "buildspec_path",
    "build_commands",
    "artifacts_type",
    "artifacts_location",
    "artifacts_name",
    "timeout",
    "queued_timeout",
    "concurrent_build_limit",
];

pub fn choices(table: &[(&str, &str)], selected: &str) -> Vec<Choice> {
    table
        .iter()
        .map(|(value, label)| Choice {
            value: (*value).to_string(),
            label: (*label).to_string(),
            selected: *value == selected,
        })
        .collect()
}

fn unique_choices(
    values: impl Iterator<Item = String>,
    label: fn(&str) -> String,
    selected: &str,
) -> Vec<Choice> {
    values
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|value| Choice {
            label: label(&value),
            selected: value == selected,
            value,
        })
        .collect()
}

impl FormPage {
    pub fn new(
        chrome: Chrome,
        action: String,
        editing: bool,
        form: ProjectForm,
        errors: FieldErrors,
        images: &[CuratedImage],
    ) -> FormPage {
        FormPage {
            chrome,
            editing,
            action,
            providers: choices(form_options::SOURCE_PROVIDERS, &form.source_type),
            badge_reason: form_options::BADGE_UNAVAILABLE,
            source: source_labels(&form.source_type),
            source_kinds: [GIT_LABELS, S3_LABELS],
            oses: unique_choices(
                images.iter().map(|i| i.platform.clone()),
                form_options::platform_label,
                &form.managed_os,
            ),
            runtimes: unique_choices(
                images.iter().map(|i| i.language.clone()),
                form_options::runtime_label,
                &form.managed_runtime,
            ),
            images: images
                .iter()
                .map(|i| ImageChoice {
                    value: i.name.clone(),
                    label: i.name.clone(),
                    platform: i.platform.clone(),
                    language: i.language.clone(),
                    selected: i.name == form.managed_image,
                })
                .collect(),
            versions: images
                .iter()
                .flat_map(|i| {
                    i.versions.iter().map(|v| VersionChoice {
                        value: v.clone(),
                        image: i.name.clone(),
                        selected: *v == form.managed_image_version,
                    })
                })
                .collect(),
            env_types: choices(
                form_options::CUSTOM_ENVIRONMENT_TYPES,
                &form.custom_env_type,
            ),
            compute_types: choices(form_options::COMPUTE_TYPES, &form.compute_type),
            var_types: choices(form_options::ENV_VAR_TYPES, ""),
            env_rows: form.env_rows_with_spare(),
            form,
            errors: errors.in_page_order(FIELD_ORDER),
        }
    }

    /// The page: 400 when it shows errors.
    pub fn respond(&self) -> Response {
        let status = if self.errors.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        view::render(status, self)
    }

    /// Whether the badge box shows ticked: the choice, while the provider can have a badge.
    fn badge_checked(&self) -> bool {
        self.form.badge_wanted() && self.form.badge_available()
    }

    /// Whether the page carries a badge choice the disabled box cannot (see `badge_kept`).
    fn badge_kept(&self) -> bool {
        self.form.badge_wanted() && !self.form.badge_available()
    }
}

/// The managed images offered (`ListCuratedEnvironmentImages`).
pub fn images() -> Vec<CuratedImage> {
    form_options::curated_images(&crate::api::projects::curated_images())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(form: ProjectForm, errors: FieldErrors) -> FormPage {
        let images = images();
        FormPage::new(
            Chrome::of(None),
            "/create-project".into(),
            false,
            form,
            errors,
            &images,
        )
    }

    #[test]
    fn the_source_field_is_named_for_its_provider() {
        let s3 = page(
            ProjectForm {
                source_type: "S3".into(),
                ..ProjectForm::default()
            },
            FieldErrors::default(),
        );
        assert_eq!(s3.source, S3_LABELS);
        let html = s3.render().unwrap();
        assert!(html.contains("Bucket and object key"), "{html}");
        let git = page(ProjectForm::default(), FieldErrors::default());
        assert_eq!(git.source.label, "Repository URL");
    }

    #[test]
    fn the_badge_choice_is_kept_while_the_provider_cannot_have_one() {
        let form = ProjectForm {
            source_type: "NO_SOURCE".into(),
            badge_kept: Some("on".into()),
            ..ProjectForm::default()
        };
        let off = page(form.clone(), FieldErrors::default());
        assert!(!off.badge_checked() && off.badge_kept());
        let html = off.render().unwrap();
        assert!(html.contains(r#"name="badge_kept" value="on""#), "{html}");
        let back = page(
            ProjectForm {
                source_type: "GITHUB".into(),
                ..form
            },
            FieldErrors::default(),
        );
        assert!(back.badge_checked() && !back.badge_kept());
    }

    #[test]
    fn a_page_with_errors_says_so_in_its_title_and_lists_them_in_page_order() {
        let mut errors = FieldErrors::default();
        errors.add("name", "Enter a project name.".into());
        errors.add("timeout", "Enter a whole number.".into());
        errors.add("env_vars", "Variable 1: enter a name.".into());
        let shown = page(ProjectForm::default(), errors);
        // The summary lists the problems in the order of the page.
        let fields: Vec<String> = shown.errors.summary().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["name", "env_vars", "timeout"]);
        let html = shown.render().unwrap();
        assert!(
            html.contains("<title>Error: Create build project · Kiln</title>"),
            "{html}"
        );
        let fine = page(ProjectForm::default(), FieldErrors::default())
            .render()
            .unwrap();
        assert!(fine.contains("<title>Create build project · Kiln</title>"));
    }
}
