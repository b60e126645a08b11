//! The review step of "Create build project": the settings in words, and the form's fields
//! carried on as hidden inputs to the "Create" button.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::form::ProjectForm;
use super::form_options::{COMPUTE_TYPES, CuratedImage, ENV_VAR_TYPES, SOURCE_PROVIDERS, label_of};
use super::project_form_page::source_labels;
use super::view::{self, Chrome};

/// The settings of one section: (label, value in words).
type Section = (&'static str, Vec<(&'static str, String)>);

#[derive(Template)]
#[template(path = "review.html")]
pub struct ReviewPage {
    chrome: Chrome,
    name: String,
    sections: Vec<Section>,
    hidden: Vec<(&'static str, String)>,
}

impl ReviewPage {
    pub fn new(chrome: Chrome, form: &ProjectForm, images: &[CuratedImage]) -> ReviewPage {
        ReviewPage {
            chrome,
            name: form.name.trim().to_string(),
            sections: sections(form, images),
            hidden: form.hidden_fields(),
        }
    }

    pub fn respond(&self) -> Response {
        view::render(StatusCode::OK, self)
    }
}

/// The settings in words, for the review page.
fn sections(form: &ProjectForm, images: &[CuratedImage]) -> Vec<Section> {
    let or_none = |s: &str| {
        if s.trim().is_empty() {
            "—".to_string()
        } else {
            s.trim().to_string()
        }
    };
    let yes_no = |b: bool| if b { "Yes" } else { "No" }.to_string();
    let env_vars = form
        .env_rows()
        .iter()
        .map(|r| {
            format!(
                "{} ({})",
                r.name.trim(),
                label_of(ENV_VAR_TYPES, &r.var_type)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let buildspec = match form.buildspec_mode.as_str() {
        "commands" => format!("Build commands:\n{}", form.build_commands.trim()),
        _ if form.buildspec_path.trim().is_empty() => {
            "buildspec.yml in the source root".to_string()
        }
        _ => format!("File {}", form.buildspec_path.trim()),
    };
    let artifacts = if form.artifacts_type == "S3" {
        vec![
            ("Type", "Amazon S3".to_string()),
            ("Name", or_none(&form.artifacts_name)),
            ("Bucket", or_none(&form.artifacts_location)),
            ("Output files", or_none(&form.output_files().join(", "))),
            ("Zip", yes_no(form.zip())),
        ]
    } else {
        vec![("Type", "No artifacts".to_string())]
    };
    vec![
        (
            "Project",
            vec![
                ("Name", or_none(&form.name)),
                ("Description", or_none(&form.description)),
                (
                    "Build badge",
                    yes_no(form.badge_enabled() && form.badge_available()),
                ),
            ],
        ),
        (
            "Source",
            vec![
                ("Provider", label_of(SOURCE_PROVIDERS, &form.source_type)),
                (
                    source_labels(&form.source_type).label,
                    or_none(&form.source_location),
                ),
                ("Source version", or_none(&form.source_version)),
            ],
        ),
        (
            "Environment",
            vec![
                (
                    "Image",
                    if form.image_mode == "custom" {
                        format!("Custom image {}", or_none(&form.image()))
                    } else {
                        format!("Managed image {}", or_none(&form.image()))
                    },
                ),
                ("Environment type", form.environment_type(images)),
                ("Compute", label_of(COMPUTE_TYPES, &form.compute_type)),
                ("Privileged", yes_no(form.privileged_mode())),
                ("Environment variables", or_none(&env_vars)),
                ("Service role", or_none(&form.service_role())),
            ],
        ),
        ("Buildspec", vec![("Build specifications", buildspec)]),
        ("Artifacts", artifacts),
        (
            "Additional configuration",
            vec![
                ("Timeout", format!("{} min", or_none(&form.timeout))),
                (
                    "Queued timeout",
                    format!("{} min", or_none(&form.queued_timeout)),
                ),
                (
                    "Concurrent build limit",
                    or_none(&form.concurrent_build_limit),
                ),
            ],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::form_options::curated_images;
    use super::*;

    #[test]
    fn the_review_names_an_s3_source_by_bucket_and_key() {
        let images = curated_images(&crate::api::projects::curated_images());
        let form = ProjectForm {
            name: "site".into(),
            source_type: "S3".into(),
            source_location: "bucket/src.zip".into(),
            badge_kept: Some("on".into()),
            ..ProjectForm::new_project(&images)
        };
        let page = ReviewPage::new(Chrome::of(None), &form, &images);
        let source = &page.sections[1].1;
        assert_eq!(source[0], ("Provider", "Amazon S3".to_string()));
        assert_eq!(
            source[1],
            ("Bucket and object key", "bucket/src.zip".to_string())
        );
        // No badge for S3, but the choice rides along for "Edit".
        assert_eq!(page.sections[0].1[2], ("Build badge", "No".to_string()));
        assert!(page.hidden.contains(&("badge_kept", "on".to_string())));
    }
}
