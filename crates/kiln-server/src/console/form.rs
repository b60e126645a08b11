//! The build project form: the fields of the console's "Create build project" page, and how
//! they become a `CreateProject`/`UpdateProject` input and back.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::errors::FieldErrors;

/// Source providers offered, with their labels.
pub const SOURCE_PROVIDERS: &[(&str, &str)] = &[
    ("GITHUB", "GitHub"),
    ("GITHUB_ENTERPRISE", "GitHub Enterprise"),
    ("BITBUCKET", "Bitbucket"),
    ("GITLAB", "GitLab"),
    ("CODECOMMIT", "AWS CodeCommit"),
    ("S3", "Amazon S3"),
    ("NO_SOURCE", "No source"),
];

/// Why the badge option is off for some providers.
pub const BADGE_UNAVAILABLE: &str = "Build badges need a Git source: builds from Amazon S3 or without a source have no branch to report on.";

/// Custom image environment types offered.
pub const CUSTOM_ENVIRONMENT_TYPES: &[(&str, &str)] = &[
    ("LINUX_CONTAINER", "Linux"),
    ("ARM_CONTAINER", "ARM"),
    ("LINUX_GPU_CONTAINER", "Linux GPU"),
    ("WINDOWS_SERVER_2019_CONTAINER", "Windows Server 2019"),
];

pub const COMPUTE_TYPES: &[(&str, &str)] = &[
    ("BUILD_GENERAL1_SMALL", "Small: 3 GB memory, 2 vCPUs"),
    ("BUILD_GENERAL1_MEDIUM", "Medium: 7 GB memory, 4 vCPUs"),
    ("BUILD_GENERAL1_LARGE", "Large: 15 GB memory, 8 vCPUs"),
    ("BUILD_GENERAL1_XLARGE", "X-Large: 70 GB memory, 36 vCPUs"),
    (
        "BUILD_GENERAL1_2XLARGE",
        "2X-Large: 145 GB memory, 72 vCPUs",
    ),
];

pub const ENV_VAR_TYPES: &[(&str, &str)] = &[
    ("PLAINTEXT", "Plaintext"),
    ("PARAMETER_STORE", "Parameter"),
    ("SECRETS_MANAGER", "Secrets Manager"),
];

/// Longest project name part of a derived role name (IAM role names end at 64 characters).
const MAX_DERIVED_ROLE_NAME: usize = 64 - "codebuild--service-role".len();

/// Empty environment variable rows offered for new variables.
const SPARE_ENV_ROWS: usize = 1;

pub fn label_of(table: &[(&str, &str)], value: &str) -> String {
    table
        .iter()
        .find(|(v, _)| *v == value)
        .map_or_else(|| value.to_string(), |(_, l)| (*l).to_string())
}

/// A managed image of `ListCuratedEnvironmentImages`.
#[derive(Debug, Clone, PartialEq)]
pub struct CuratedImage {
    pub platform: String,
    pub language: String,
    pub name: String,
    pub description: String,
    pub versions: Vec<String>,
}

impl CuratedImage {
    /// The environment type a managed image runs as.
    pub fn environment_type(&self) -> &'static str {
        if self.name.contains("aarch64") {
            "ARM_CONTAINER"
        } else {
            "LINUX_CONTAINER"
        }
    }
}

pub fn platform_label(platform: &str) -> String {
    match platform {
        "UBUNTU" => "Ubuntu".into(),
        "AMAZON_LINUX_2" | "AMAZON_LINUX" => "Amazon Linux".into(),
        "WINDOWS_SERVER_2019" => "Windows Server 2019".into(),
        other => other.replace('_', " "),
    }
}

pub fn runtime_label(language: &str) -> String {
    match language {
        "STANDARD" => "Standard".into(),
        other => other.replace('_', " "),
    }
}

/// The images of a `ListCuratedEnvironmentImages` output.
pub fn curated_images(output: &Value) -> Vec<CuratedImage> {
    let text = |v: &Value, key: &str| v[key].as_str().unwrap_or_default().to_string();
    let mut images = Vec::new();
    for platform in output["platforms"].as_array().into_iter().flatten() {
        for language in platform["languages"].as_array().into_iter().flatten() {
            for image in language["images"].as_array().into_iter().flatten() {
                images.push(CuratedImage {
                    platform: text(platform, "platform"),
                    language: text(language, "language"),
                    name: text(image, "name"),
                    description: text(image, "description"),
                    versions: image["versions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect(),
                });
            }
        }
    }
    images
}

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

/// A number field: the number, or the text as typed so the API names the wrong member.
fn number(text: &str) -> Value {
    let text = text.trim();
    text.parse::<i64>()
        .map_or_else(|_| Value::String(text.to_string()), Value::from)
}

fn checked(field: &Option<String>) -> bool {
    field.as_deref().is_some_and(|v| !v.is_empty())
}

/// The buildspec that "insert build commands" stands for: the commands as the build phase,
/// the output files as the artifacts. Text that is already a buildspec is kept as it is.
pub fn commands_buildspec(commands: &str, output_files: &[String]) -> String {
    if commands.trim_start().starts_with("version:") {
        return commands.to_string();
    }
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut yaml = String::from("version: 0.2\nphases:\n  build:\n    commands:\n");
    for line in commands.lines().map(str::trim).filter(|l| !l.is_empty()) {
        yaml.push_str(&format!("      - {}\n", quote(line)));
    }
    if !output_files.is_empty() {
        yaml.push_str("artifacts:\n  files:\n");
        for file in output_files {
            yaml.push_str(&format!("    - {}\n", quote(file)));
        }
    }
    yaml
}

/// The commands and output files of a buildspec that [`commands_buildspec`] wrote.
fn parse_commands_buildspec(yaml: &str) -> Option<(Vec<String>, Vec<String>)> {
    let mut commands = Vec::new();
    let mut files = Vec::new();
    let mut lines = yaml.lines();
    for expected in ["version: 0.2", "phases:", "  build:", "    commands:"] {
        if lines.next()? != expected {
            return None;
        }
    }
    for line in lines {
        if let Some(item) = line.strip_prefix("      - ") {
            commands.push(serde_json::from_str::<String>(item).ok()?);
        } else if let Some(item) = line.strip_prefix("    - ") {
            files.push(serde_json::from_str::<String>(item).ok()?);
        }
    }
    (commands_buildspec(&commands.join("\n"), &files) == yaml).then_some((commands, files))
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

    pub fn badge_enabled(&self) -> bool {
        checked(&self.badge)
    }

    pub fn privileged_mode(&self) -> bool {
        checked(&self.privileged)
    }

    pub fn zip(&self) -> bool {
        checked(&self.artifacts_zip)
    }

    /// Whether the chosen provider can have a badge.
    pub fn badge_available(&self) -> bool {
        badge_available(&self.source_type)
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

    fn environment_type(&self, images: &[CuratedImage]) -> String {
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

    /// Problems the console itself catches: choices the API cannot see.
    pub fn local_errors(&self) -> FieldErrors {
        let mut errors = FieldErrors::default();
        if self.buildspec_mode == "commands" && self.build_commands.trim().is_empty() {
            errors.add("build_commands", "Enter at least one build command.".into());
        }
        errors
    }

    /// The `CreateProject`/`UpdateProject` input these fields stand for.
    pub fn to_input(&self, images: &[CuratedImage]) -> Value {
        let mut source = Map::new();
        source.insert("type".into(), self.source_type.clone().into());
        if self.source_type != "NO_SOURCE" {
            source.insert("location".into(), self.source_location.trim().into());
        }
        if let Some(buildspec) = self.buildspec() {
            source.insert("buildspec".into(), buildspec.into());
        }
        let mut environment = Map::new();
        environment.insert("type".into(), self.environment_type(images).into());
        environment.insert("image".into(), self.image().into());
        environment.insert("computeType".into(), self.compute_type.clone().into());
        environment.insert("privilegedMode".into(), self.privileged_mode().into());
        let variables: Vec<Value> = self
            .env_rows()
            .into_iter()
            .map(|row| json!({"name": row.name.trim(), "value": row.value, "type": row.var_type}))
            .collect();
        environment.insert("environmentVariables".into(), variables.into());
        if self.image_mode == "custom" && !self.custom_registry_credential.trim().is_empty() {
            environment.insert(
                "registryCredential".into(),
                json!({
                    "credential": self.custom_registry_credential.trim(),
                    "credentialProvider": "SECRETS_MANAGER",
                }),
            );
            environment.insert("imagePullCredentialsType".into(), "SERVICE_ROLE".into());
        } else {
            environment.insert("imagePullCredentialsType".into(), "CODEBUILD".into());
        }
        let artifacts = if self.artifacts_type == "S3" {
            json!({
                "type": "S3",
                "location": self.artifacts_location.trim(),
                "name": self.artifacts_name.trim(),
                "packaging": if self.zip() { "ZIP" } else { "NONE" },
            })
        } else {
            json!({"type": self.artifacts_type})
        };
        let mut input = json!({
            "name": self.name.trim(),
            "description": self.description,
            "source": source,
            "environment": environment,
            "serviceRole": self.service_role(),
            "artifacts": artifacts,
            "timeoutInMinutes": number(&self.timeout),
            "queuedTimeoutInMinutes": number(&self.queued_timeout),
            // A disabled box is not sent, so this is off for S3 and no source unless a request
            // made without the page ticks it: then the API says why it cannot be.
            "badgeEnabled": self.badge_enabled(),
        });
        if !self.source_version.trim().is_empty() {
            input["sourceVersion"] = self.source_version.trim().into();
        }
        if !self.concurrent_build_limit.trim().is_empty() {
            input["concurrentBuildLimit"] = number(&self.concurrent_build_limit);
        }
        input
    }

    /// The form of a stored project (the `Project` shape of `BatchGetProjects`).
    pub fn from_project(project: &Value, images: &[CuratedImage]) -> Self {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let source = &project["source"];
        let mut form = ProjectForm {
            name: text(&project["name"]),
            description: text(&project["description"]),
            source_type: text(&source["type"]),
            source_location: text(&source["location"]),
            source_version: text(&project["sourceVersion"]),
            ..ProjectForm::default()
        };
        form.badge = project["badge"]["badgeEnabled"]
            .as_bool()
            .unwrap_or(false)
            .then(|| "on".to_string());
        let buildspec = text(&source["buildspec"]);
        if buildspec.contains('\n') {
            form.buildspec_mode = "commands".into();
            match parse_commands_buildspec(&buildspec) {
                Some((commands, files)) => {
                    form.build_commands = commands.join("\n");
                    form.artifacts_files = files.join(", ");
                }
                None => form.build_commands = buildspec,
            }
        } else {
            form.buildspec_path = buildspec;
        }
        let env = &project["environment"];
        let image = text(&env["image"]);
        match images
            .iter()
            .find(|i| i.name == image || i.versions.contains(&image))
        {
            Some(curated) => {
                form.image_mode = "managed".into();
                form.managed_os = curated.platform.clone();
                form.managed_runtime = curated.language.clone();
                form.managed_image = curated.name.clone();
                if curated.name != image {
                    form.managed_image_version = image;
                }
            }
            None => {
                form.image_mode = "custom".into();
                form.custom_env_type = text(&env["type"]);
                let registry_host = image.split_once('/').is_some_and(|(host, _)| {
                    host.contains('.') || host.contains(':') || host == "localhost"
                });
                if registry_host {
                    form.custom_registry = "other".into();
                    form.custom_registry_url = image;
                } else {
                    form.custom_image = image;
                }
                form.custom_registry_credential = text(&env["registryCredential"]["credential"]);
            }
        }
        form.compute_type = text(&env["computeType"]);
        form.privileged = env["privilegedMode"]
            .as_bool()
            .unwrap_or(false)
            .then(|| "on".to_string());
        for var in env["environmentVariables"].as_array().into_iter().flatten() {
            form.env_name.push(text(&var["name"]));
            form.env_value.push(text(&var["value"]));
            form.env_type.push(text(&var["type"]));
        }
        form.service_role_mode = "existing".into();
        form.service_role_arn = text(&project["serviceRole"]);
        let artifacts = &project["artifacts"];
        form.artifacts_type = text(&artifacts["type"]);
        form.artifacts_name = text(&artifacts["name"]);
        form.artifacts_location = text(&artifacts["location"]);
        form.artifacts_zip =
            (artifacts["packaging"].as_str() == Some("ZIP")).then(|| "on".to_string());
        let number_text = |v: &Value| v.as_i64().map(|n| n.to_string()).unwrap_or_default();
        form.timeout = number_text(&project["timeoutInMinutes"]);
        form.queued_timeout = number_text(&project["queuedTimeoutInMinutes"]);
        form.concurrent_build_limit = number_text(&project["concurrentBuildLimit"]);
        form
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

    /// The settings in words, for the review page.
    pub fn review_sections(
        &self,
        images: &[CuratedImage],
    ) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
        let or_none = |s: &str| {
            if s.trim().is_empty() {
                "—".to_string()
            } else {
                s.trim().to_string()
            }
        };
        let yes_no = |b: bool| if b { "Yes" } else { "No" }.to_string();
        let env_vars = self
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
        let buildspec = match self.buildspec_mode.as_str() {
            "commands" => format!("Build commands:\n{}", self.build_commands.trim()),
            _ if self.buildspec_path.trim().is_empty() => {
                "buildspec.yml in the source root".to_string()
            }
            _ => format!("File {}", self.buildspec_path.trim()),
        };
        let artifacts = if self.artifacts_type == "S3" {
            vec![
                ("Type", "Amazon S3".to_string()),
                ("Name", or_none(&self.artifacts_name)),
                ("Bucket", or_none(&self.artifacts_location)),
                ("Output files", or_none(&self.output_files().join(", "))),
                ("Zip", yes_no(self.zip())),
            ]
        } else {
            vec![("Type", "No artifacts".to_string())]
        };
        vec![
            (
                "Project",
                vec![
                    ("Name", or_none(&self.name)),
                    ("Description", or_none(&self.description)),
                    (
                        "Build badge",
                        yes_no(self.badge_enabled() && self.badge_available()),
                    ),
                ],
            ),
            (
                "Source",
                vec![
                    ("Provider", label_of(SOURCE_PROVIDERS, &self.source_type)),
                    ("Repository", or_none(&self.source_location)),
                    ("Source version", or_none(&self.source_version)),
                ],
            ),
            (
                "Environment",
                vec![
                    (
                        "Image",
                        if self.image_mode == "custom" {
                            format!("Custom image {}", or_none(&self.image()))
                        } else {
                            format!("Managed image {}", or_none(&self.image()))
                        },
                    ),
                    ("Environment type", self.environment_type(images)),
                    ("Compute", label_of(COMPUTE_TYPES, &self.compute_type)),
                    ("Privileged", yes_no(self.privileged_mode())),
                    ("Environment variables", or_none(&env_vars)),
                    ("Service role", or_none(&self.service_role())),
                ],
            ),
            ("Buildspec", vec![("Build specifications", buildspec)]),
            ("Artifacts", artifacts),
            (
                "Additional configuration",
                vec![
                    ("Timeout", format!("{} min", or_none(&self.timeout))),
                    (
                        "Queued timeout",
                        format!("{} min", or_none(&self.queued_timeout)),
                    ),
                    (
                        "Concurrent build limit",
                        or_none(&self.concurrent_build_limit),
                    ),
                ],
            ),
        ]
    }

    /// The form field an API problem about member `path` concerns.
    pub fn field_for(&self, path: &str, problem: &str) -> Option<&'static str> {
        let field = match path {
            "name" => "name",
            "description" => "description",
            "source" | "source.type" => "source_type",
            "source.location" => "source_location",
            "source.buildspec" => {
                if self.buildspec_mode == "commands" {
                    "build_commands"
                } else {
                    "buildspec_path"
                }
            }
            "sourceVersion" => "source_version",
            "environment.image" | "environment" => "image",
            "environment.type" => {
                if self.image_mode == "custom" {
                    "custom_env_type"
                } else {
                    "image"
                }
            }
            "environment.computeType" => "compute_type",
            "environment.privilegedMode" => "privileged",
            p if p.starts_with("environment.environmentVariables") => "env_vars",
            p if p.starts_with("environment.registryCredential")
                || p == "environment.imagePullCredentialsType" =>
            {
                "custom_registry_credential"
            }
            "serviceRole" => "service_role",
            "artifacts.location" => "artifacts_location",
            "artifacts.name" => "artifacts_name",
            p if p.starts_with("artifacts") => "artifacts_type",
            "timeoutInMinutes" => "timeout",
            "queuedTimeoutInMinutes" => "queued_timeout",
            "concurrentBuildLimit" => "concurrent_build_limit",
            "badgeEnabled" => "badge",
            _ if problem.starts_with("Build badges") => "badge",
            _ if problem.starts_with("Project already exists") => "name",
            _ => return None,
        };
        Some(field)
    }
}

pub fn badge_available(source_type: &str) -> bool {
    !matches!(source_type, "S3" | "NO_SOURCE" | "CODEPIPELINE")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images() -> Vec<CuratedImage> {
        curated_images(&crate::api::projects::curated_images())
    }

    #[test]
    fn curated_images_are_read() {
        let images = images();
        assert!(images.len() >= 2);
        assert!(
            images
                .iter()
                .all(|i| !i.name.is_empty() && !i.versions.is_empty())
        );
        assert!(
            images
                .iter()
                .any(|i| i.environment_type() == "ARM_CONTAINER")
        );
    }

    #[test]
    fn commands_become_a_buildspec_and_back() {
        let yaml = commands_buildspec("echo \"hi\"\n\nmake: all\n", &["out/*".to_string()]);
        assert_eq!(
            yaml,
            "version: 0.2\nphases:\n  build:\n    commands:\n      - \"echo \\\"hi\\\"\"\n      - \"make: all\"\nartifacts:\n  files:\n    - \"out/*\"\n"
        );
        assert_eq!(
            parse_commands_buildspec(&yaml),
            Some((
                vec!["echo \"hi\"".to_string(), "make: all".to_string()],
                vec!["out/*".to_string()]
            ))
        );
        assert_eq!(parse_commands_buildspec("version: 0.2\nphases: {}\n"), None);
    }

    #[test]
    fn a_form_round_trips_through_the_api_shape() {
        let images = images();
        let mut form = ProjectForm::new_project(&images);
        form.name = "web-app".into();
        form.source_location = "https://github.com/example/app.git".into();
        form.badge = Some("on".into());
        form.buildspec_mode = "commands".into();
        form.build_commands = "make".into();
        form.env_name = vec!["A".into(), String::new()];
        form.env_value = vec!["1".into(), String::new()];
        form.env_type = vec!["PLAINTEXT".into(), "PLAINTEXT".into()];
        form.artifacts_type = "S3".into();
        form.artifacts_location = "bucket".into();
        form.artifacts_zip = Some("on".into());
        form.artifacts_files = "a, b".into();
        let input = form.to_input(&images);
        assert_eq!(input["serviceRole"], "codebuild-web-app-service-role");
        form.name = format!("bad name!{}", "x".repeat(100));
        let role = form.service_role();
        assert!(
            role.starts_with("codebuild-badnamexx") && role.len() == 64,
            "{role}"
        );
        form.name = "web-app".into();
        assert_eq!(
            input["environment"]["environmentVariables"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(input["artifacts"]["packaging"], "ZIP");
        assert_eq!(input["badgeEnabled"], true);
        // What the API returns for it gives the same form back.
        let mut project = input.clone();
        project["badge"] = json!({"badgeEnabled": true});
        let back = ProjectForm::from_project(&project, &images);
        assert_eq!(back.to_input(&images), input);
        assert_eq!(back.build_commands, "make");
        assert_eq!(back.artifacts_files, "a, b");
    }

    #[test]
    fn numbers_stay_text_when_they_are_not() {
        let mut form = ProjectForm {
            timeout: "soon".into(),
            ..ProjectForm::default()
        };
        assert_eq!(form.to_input(&[])["timeoutInMinutes"], "soon");
        form.timeout = " 30 ".into();
        assert_eq!(form.to_input(&[])["timeoutInMinutes"], 30);
    }

    #[test]
    fn custom_images_keep_their_registry() {
        let project = json!({
            "name": "x",
            "environment": {"type": "ARM_CONTAINER", "image": "registry.example.com:5000/team/img:1", "computeType": "BUILD_GENERAL1_SMALL"},
        });
        let form = ProjectForm::from_project(&project, &images());
        assert_eq!(form.image_mode, "custom");
        assert_eq!(form.custom_registry, "other");
        assert_eq!(form.image(), "registry.example.com:5000/team/img:1");
        let hub =
            json!({"environment": {"type": "LINUX_CONTAINER", "image": "library/ubuntu:22.04"}});
        assert_eq!(
            ProjectForm::from_project(&hub, &images()).custom_registry,
            "dockerhub"
        );
    }

    #[test]
    fn problems_map_to_fields() {
        let form = ProjectForm::default();
        assert_eq!(form.field_for("timeoutInMinutes", ""), Some("timeout"));
        assert_eq!(
            form.field_for("environment.environmentVariables.1.member.name", ""),
            Some("env_vars")
        );
        assert_eq!(
            form.field_for("", "Build badges are not supported for S3 source"),
            Some("badge")
        );
        assert_eq!(form.field_for("tags", ""), None);
    }
}
