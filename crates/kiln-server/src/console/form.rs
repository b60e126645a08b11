//! The build project form: the fields of the console's "Create build project" and "Edit"
//! pages, as posted (`form_input` turns them into the API's input and back).

use serde::Deserialize;

use super::form_input::commands_buildspec;
use super::form_options::{self, CuratedImage};

/// Longest project name part of a derived role name (IAM role names end at 64 characters).
const MAX_DERIVED_ROLE_NAME: usize = 64 - "codebuild--service-role".len();

/// Empty environment variable rows offered for new variables.
const SPARE_ENV_ROWS: usize = 1;

/// The fields of the project form, as posted. Every field is text, as the browser sends it;
/// the API decides what is valid.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ProjectForm {
    pub name: String,
    pub description: String,
    pub source_type: String,
    pub source_location: String,
    pub source_version: String,
    pub badge: Option<String>,
    /// The badge choice kept while the provider cannot have one (the box is off then), so it
    /// is back when a Git provider is chosen again.
    pub badge_kept: Option<String>,
    /// `managed` or `custom`.
    pub image_mode: String,
    pub managed_os: String,
    pub managed_runtime: String,
    pub managed_image: String,
    /// Empty for "always the latest version".
    pub managed_image_version: String,
    pub custom_env_type: String,
    /// `dockerhub` or `other`.
    pub custom_registry: String,
    pub custom_image: String,
    pub custom_registry_url: String,
    pub custom_registry_credential: String,
    pub compute_type: String,
    pub privileged: Option<String>,
    pub env_name: Vec<String>,
    pub env_value: Vec<String>,
    pub env_type: Vec<String>,
    /// `new` or `existing`.
    pub service_role_mode: String,
    pub service_role_name: String,
    pub service_role_arn: String,
    /// `file` or `commands`.
    pub buildspec_mode: String,
    pub buildspec_path: String,
    pub build_commands: String,
    /// `NO_ARTIFACTS` or `S3`.
    pub artifacts_type: String,
    pub artifacts_name: String,
    pub artifacts_location: String,
    pub artifacts_files: String,
    pub artifacts_zip: Option<String>,
    pub timeout: String,
    pub queued_timeout: String,
    pub concurrent_build_limit: String,
}

impl Default for ProjectForm {
    fn default() -> Self {
        ProjectForm {
            name: String::new(),
            description: String::new(),
            source_type: "GITHUB".into(),
            source_location: String::new(),
            source_version: String::new(),
            badge: None,
            badge_kept: None,
            image_mode: "managed".into(),
            managed_os: String::new(),
            managed_runtime: String::new(),
            managed_image: String::new(),
            managed_image_version: String::new(),
            custom_env_type: "LINUX_CONTAINER".into(),
            custom_registry: "dockerhub".into(),
            custom_image: String::new(),
            custom_registry_url: String::new(),
            custom_registry_credential: String::new(),
            compute_type: "BUILD_GENERAL1_SMALL".into(),
            privileged: None,
            env_name: Vec::new(),
            env_value: Vec::new(),
            env_type: Vec::new(),
            service_role_mode: "new".into(),
            service_role_name: String::new(),
            service_role_arn: String::new(),
            buildspec_mode: "file".into(),
            buildspec_path: String::new(),
            build_commands: String::new(),
            artifacts_type: "NO_ARTIFACTS".into(),
            artifacts_name: String::new(),
            artifacts_location: String::new(),
            artifacts_files: String::new(),
            artifacts_zip: None,
            timeout: "60".into(),
            queued_timeout: "480".into(),
            concurrent_build_limit: String::new(),
        }
    }
}

/// One environment variable row of the form.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvRow {
    pub name: String,
    pub value: String,
    pub var_type: String,
}

fn checked(field: &Option<String>) -> bool {
    field.as_deref().is_some_and(|v| !v.is_empty())
}

impl ProjectForm {
    /// A new project's form, with the first managed image chosen.
    pub fn new_project(images: &[CuratedImage]) -> Self {
        let mut form = ProjectForm::default();
        if let Some(first) = images.first() {
            form.managed_os = first.platform.clone();
            form.managed_runtime = first.language.clone();
            form.managed_image = first.name.clone();
        }
        form
    }

    /// Whether the badge box is ticked (the only way to ask for a badge).
    pub fn badge_enabled(&self) -> bool {
        checked(&self.badge)
    }

    /// Whether the person wants a badge: ticked, or kept while the provider cannot have one.
    pub fn badge_wanted(&self) -> bool {
        self.badge_enabled() || checked(&self.badge_kept)
    }

    pub fn privileged_mode(&self) -> bool {
        checked(&self.privileged)
    }

    pub fn zip(&self) -> bool {
        checked(&self.artifacts_zip)
    }

    /// Whether the chosen provider can have a badge.
    pub fn badge_available(&self) -> bool {
        form_options::badge_available(&self.source_type)
    }

    pub fn output_files(&self) -> Vec<String> {
        self.artifacts_files
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The variable rows the user filled in (rows left empty are dropped).
    pub fn env_rows(&self) -> Vec<EnvRow> {
        let count = self.env_name.len().max(self.env_value.len());
        (0..count)
            .map(|i| EnvRow {
                name: self.env_name.get(i).cloned().unwrap_or_default(),
                value: self.env_value.get(i).cloned().unwrap_or_default(),
                var_type: self
                    .env_type
                    .get(i)
                    .filter(|t| !t.is_empty())
                    .cloned()
                    .unwrap_or_else(|| "PLAINTEXT".into()),
            })
            .filter(|row| !row.name.trim().is_empty() || !row.value.is_empty())
            .collect()
    }

    /// The rows to show: the filled ones and a spare one.
    pub fn env_rows_with_spare(&self) -> Vec<EnvRow> {
        let mut rows = self.env_rows();
        for _ in 0..SPARE_ENV_ROWS {
            rows.push(EnvRow {
                name: String::new(),
                value: String::new(),
                var_type: "PLAINTEXT".into(),
            });
        }
        rows
    }

    pub fn service_role(&self) -> String {
        if self.service_role_mode == "existing" {
            self.service_role_arn.trim().to_string()
        } else if self.service_role_name.trim().is_empty() {
            // As the AWS console names it; a name the role cannot carry is left out, so
            // only the name field reports it.
            let name: String = self
                .name
                .trim()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c))
                .take(MAX_DERIVED_ROLE_NAME)
                .collect();
            format!("codebuild-{name}-service-role")
        } else {
            self.service_role_name.trim().to_string()
        }
    }

    pub fn image(&self) -> String {
        if self.image_mode == "custom" {
            if self.custom_registry == "other" {
                self.custom_registry_url.trim().to_string()
            } else {
                self.custom_image.trim().to_string()
            }
        } else if self.managed_image_version.is_empty() {
            self.managed_image.clone()
        } else {
            self.managed_image_version.clone()
        }
    }

    pub fn environment_type(&self, images: &[CuratedImage]) -> String {
        if self.image_mode == "custom" {
            return self.custom_env_type.clone();
        }
        images
            .iter()
            .find(|i| i.name == self.managed_image)
            .map_or("LINUX_CONTAINER", CuratedImage::environment_type)
            .to_string()
    }

    /// The buildspec the project gets: a path, the inserted commands, or none (the
    /// repository's `buildspec.yml`).
    pub fn buildspec(&self) -> Option<String> {
        if self.buildspec_mode == "commands" {
            Some(commands_buildspec(
                &self.build_commands,
                &self.output_files(),
            ))
        } else {
            Some(self.buildspec_path.trim().to_string()).filter(|p| !p.is_empty())
        }
    }

    /// The fields as name/value pairs, for the hidden inputs of the review page.
    pub fn hidden_fields(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("name", self.name.clone()),
            ("description", self.description.clone()),
            ("source_type", self.source_type.clone()),
            ("source_location", self.source_location.clone()),
            ("source_version", self.source_version.clone()),
            ("image_mode", self.image_mode.clone()),
            ("managed_os", self.managed_os.clone()),
            ("managed_runtime", self.managed_runtime.clone()),
            ("managed_image", self.managed_image.clone()),
            ("managed_image_version", self.managed_image_version.clone()),
            ("custom_env_type", self.custom_env_type.clone()),
            ("custom_registry", self.custom_registry.clone()),
            ("custom_image", self.custom_image.clone()),
            ("custom_registry_url", self.custom_registry_url.clone()),
            (
                "custom_registry_credential",
                self.custom_registry_credential.clone(),
            ),
            ("compute_type", self.compute_type.clone()),
            ("service_role_mode", self.service_role_mode.clone()),
            ("service_role_name", self.service_role_name.clone()),
            ("service_role_arn", self.service_role_arn.clone()),
            ("buildspec_mode", self.buildspec_mode.clone()),
            ("buildspec_path", self.buildspec_path.clone()),
            ("build_commands", self.build_commands.clone()),
            ("artifacts_type", self.artifacts_type.clone()),
            ("artifacts_name", self.artifacts_name.clone()),
            ("artifacts_location", self.artifacts_location.clone()),
            ("artifacts_files", self.artifacts_files.clone()),
            ("timeout", self.timeout.clone()),
            ("queued_timeout", self.queued_timeout.clone()),
            (
                "concurrent_build_limit",
                self.concurrent_build_limit.clone(),
            ),
        ];
        for (field, on) in [
            ("badge", self.badge_enabled()),
            ("badge_kept", self.badge_wanted() && !self.badge_enabled()),
            ("privileged", self.privileged_mode()),
            ("artifacts_zip", self.zip()),
        ] {
            if on {
                out.push((field, "on".into()));
            }
        }
        for row in self.env_rows() {
            out.push(("env_name", row.name));
            out.push(("env_value", row.value));
            out.push(("env_type", row.var_type));
        }
        out
    }
}
