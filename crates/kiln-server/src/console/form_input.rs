//! How the project form becomes the API's typed `CreateProject`/`UpdateProject` input (with
//! every problem in words beside its field), and how a stored project fills the form.

use kiln_domain::project::{
    self, EnvironmentVariable, ProjectArtifacts, ProjectEnvironment, ProjectInput, ProjectSettings,
    ProjectSource, RegistryCredential, create_violations,
};
use kiln_domain::shapes::Project;

use super::errors::FieldErrors;
use super::field_messages::{self, FormContext};
use super::form::ProjectForm;
use super::form_options::{BADGE_UNAVAILABLE, CuratedImage};

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

/// Says a whole number field is not one; `None` when it is (or is empty and optional).
fn whole_number(
    errors: &mut FieldErrors,
    field: &'static str,
    text: &str,
    words: &str,
) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let number = text.parse::<i64>().ok();
    if number.is_none() {
        errors.add(field, words.to_string());
    }
    number
}

impl ProjectForm {
    /// The `CreateProject`/`UpdateProject` input these fields stand for, and what the console
    /// finds wrong before the API sees it: numbers that are not numbers, a project without a
    /// source that would read a buildspec file, no build commands.
    pub fn to_input(&self, images: &[CuratedImage]) -> (ProjectInput, FieldErrors) {
        let mut errors = FieldErrors::default();
        let no_source = self.source_type == "NO_SOURCE";
        if self.buildspec_mode == "commands" && self.build_commands.trim().is_empty() {
            errors.add("build_commands", "Enter at least one build command.".into());
        }
        if no_source && self.buildspec_mode != "commands" {
            errors.add(
                "buildspec_path",
                "A project without a source has no buildspec file to read: choose “Insert build commands” and enter them.".into(),
            );
        }
        let timeout = whole_number(
            &mut errors,
            "timeout",
            &self.timeout,
            "Enter the timeout as a whole number of minutes, such as 60.",
        );
        let queued_timeout = whole_number(
            &mut errors,
            "queued_timeout",
            &self.queued_timeout,
            "Enter the queued timeout as a whole number of minutes, such as 480.",
        );
        let concurrent_build_limit = whole_number(
            &mut errors,
            "concurrent_build_limit",
            &self.concurrent_build_limit,
            "Enter the limit as a whole number, such as 3, or leave it empty.",
        );
        let source = ProjectSource {
            source_type: Some(self.source_type.clone()),
            location: (!no_source).then(|| self.source_location.trim().to_string()),
            buildspec: self.buildspec(),
            ..ProjectSource::default()
        };
        let custom_credential = self.custom_registry_credential.trim();
        let (registry_credential, pull_credentials) =
            if self.image_mode == "custom" && !custom_credential.is_empty() {
                let credential = RegistryCredential {
                    credential: Some(custom_credential.to_string()),
                    credential_provider: Some("SECRETS_MANAGER".into()),
                };
                (Some(credential), "SERVICE_ROLE")
            } else {
                (None, "CODEBUILD")
            };
        let variables = self
            .env_rows()
            .into_iter()
            .map(|row| EnvironmentVariable {
                // A value without a name is sent without one, so the API's rule says so.
                name: Some(row.name.trim().to_string()).filter(|n| !n.is_empty()),
                value: Some(row.value),
                var_type: Some(row.var_type),
            })
            .collect();
        let environment = ProjectEnvironment {
            env_type: Some(self.environment_type(images)),
            image: Some(self.image()),
            compute_type: Some(self.compute_type.clone()),
            privileged_mode: Some(self.privileged_mode()),
            environment_variables: Some(variables),
            registry_credential,
            image_pull_credentials_type: Some(pull_credentials.into()),
            ..ProjectEnvironment::default()
        };
        let artifacts = if self.artifacts_type == "S3" {
            ProjectArtifacts {
                artifacts_type: Some("S3".into()),
                location: Some(self.artifacts_location.trim().to_string()),
                name: Some(self.artifacts_name.trim().to_string()),
                packaging: Some(if self.zip() { "ZIP" } else { "NONE" }.into()),
                ..ProjectArtifacts::default()
            }
        } else {
            ProjectArtifacts {
                artifacts_type: Some(self.artifacts_type.clone()),
                ..ProjectArtifacts::default()
            }
        };
        let input = ProjectInput {
            name: Some(self.name.trim().to_string()),
            settings: ProjectSettings {
                description: Some(self.description.clone()),
                source: Some(source),
                source_version: Some(self.source_version.trim().to_string())
                    .filter(|v| !v.is_empty()),
                environment: Some(environment),
                service_role: Some(self.service_role()),
                artifacts: Some(artifacts),
                timeout_in_minutes: timeout,
                queued_timeout_in_minutes: queued_timeout,
                concurrent_build_limit,
                ..ProjectSettings::default()
            },
            // Only a ticked box asks for a badge; a kept choice waits for a Git provider.
            badge_enabled: Some(self.badge_enabled()),
        };
        (input, errors)
    }

    /// The input, with every problem of it beside its field: the console's own checks and
    /// the API's validation (`kiln_domain::project`), all at once.
    pub fn checked_input(&self, images: &[CuratedImage]) -> (ProjectInput, FieldErrors) {
        let (input, mut errors) = self.to_input(images);
        let ctx = FormContext {
            source_type: &self.source_type,
            inline_buildspec: self.buildspec_mode == "commands",
            custom_image: self.image_mode == "custom",
        };
        field_messages::project_errors(&mut errors, create_violations(&input).list(), &ctx);
        if project::badge_unsupported_by(
            input.badge_enabled.unwrap_or(false),
            input.settings.source.as_ref(),
        )
        .is_some()
        {
            errors.add("badge", BADGE_UNAVAILABLE.into());
        }
        (input, errors)
    }

    /// The form of a stored project (the `Project` shape of `BatchGetProjects`).
    pub fn from_project(project: &Project, images: &[CuratedImage]) -> Self {
        let settings = &project.settings;
        let text = |t: &Option<String>| t.clone().unwrap_or_default();
        let on = |ticked: bool| ticked.then(|| "on".to_string());
        let source = settings.source.clone().unwrap_or_default();
        let mut form = ProjectForm {
            name: project.name.clone(),
            description: text(&settings.description),
            source_type: text(&source.source_type),
            source_location: text(&source.location),
            source_version: text(&settings.source_version),
            badge: on(project.badge.badge_enabled),
            ..ProjectForm::default()
        };
        let buildspec = text(&source.buildspec);
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
        let env = settings.environment.clone().unwrap_or_default();
        let image = text(&env.image);
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
                form.custom_env_type = text(&env.env_type);
                let registry_host = image.split_once('/').is_some_and(|(host, _)| {
                    host.contains('.') || host.contains(':') || host == "localhost"
                });
                if registry_host {
                    form.custom_registry = "other".into();
                    form.custom_registry_url = image;
                } else {
                    form.custom_image = image;
                }
                form.custom_registry_credential = env
                    .registry_credential
                    .as_ref()
                    .and_then(|c| c.credential.clone())
                    .unwrap_or_default();
            }
        }
        form.compute_type = text(&env.compute_type);
        form.privileged = on(env.privileged_mode == Some(true));
        for var in env.environment_variables.iter().flatten() {
            form.env_name.push(text(&var.name));
            form.env_value.push(text(&var.value));
            form.env_type.push(text(&var.var_type));
        }
        form.service_role_mode = "existing".into();
        form.service_role_arn = text(&settings.service_role);
        let artifacts = settings.artifacts.clone().unwrap_or_default();
        form.artifacts_type = text(&artifacts.artifacts_type);
        form.artifacts_name = text(&artifacts.name);
        form.artifacts_location = text(&artifacts.location);
        form.artifacts_zip = on(artifacts.packaging.as_deref() == Some("ZIP"));
        let number_text = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
        form.timeout = number_text(settings.timeout_in_minutes);
        form.queued_timeout = number_text(settings.queued_timeout_in_minutes);
        form.concurrent_build_limit = number_text(settings.concurrent_build_limit);
        form
    }
}

#[cfg(test)]
mod tests {
    use kiln_domain::project::{ProjectRecord, PublicLinks};

    use super::super::form_options::curated_images;
    use super::*;
    use crate::console::projects::tests::sample_project;

    fn images() -> Vec<CuratedImage> {
        curated_images(&crate::api::projects::curated_images())
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

    /// The API's `Project` shape of an input, as `BatchGetProjects` answers once it is created.
    fn api_shape(input: &ProjectInput) -> Project {
        let new = project::validate_create(input.clone()).unwrap();
        let record = ProjectRecord {
            account_id: "111111111111".into(),
            name: new.name,
            settings: new.settings,
            badge_enabled: new.badge_enabled,
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
        let (input, errors) = form.checked_input(&images);
        assert!(errors.is_empty(), "{:?}", errors.summary());
        let settings = &input.settings;
        assert_eq!(
            settings.service_role.as_deref(),
            Some("codebuild-web-app-service-role")
        );
        let env = settings.environment.as_ref().unwrap();
        assert_eq!(env.environment_variables.as_ref().unwrap().len(), 1);
        let artifacts = settings.artifacts.as_ref().unwrap();
        assert_eq!(artifacts.packaging.as_deref(), Some("ZIP"));
        assert_eq!(input.badge_enabled, Some(true));
        // What the API returns for it gives the same form back.
        let back = ProjectForm::from_project(&api_shape(&input), &images);
        assert_eq!(api_shape(&back.to_input(&images).0), api_shape(&input));
        assert_eq!(back.build_commands, "make");
        assert_eq!(back.artifacts_files, "a, b");
        form.name = format!("bad name!{}", "x".repeat(100));
        let role = form.service_role();
        assert!(
            role.starts_with("codebuild-badnamexx") && role.len() == 64,
            "{role}"
        );
    }

    #[test]
    fn every_problem_is_found_at_once_in_words() {
        let form = ProjectForm {
            name: "x y".into(),
            source_type: "NO_SOURCE".into(),
            buildspec_mode: "file".into(),
            timeout: "abc".into(),
            queued_timeout: "1000".into(),
            concurrent_build_limit: "many".into(),
            env_name: vec!["1X".into(), String::new()],
            env_value: vec!["a".into(), "b".into()],
            artifacts_type: "S3".into(),
            badge: Some("on".into()),
            ..ProjectForm::default()
        };
        let (input, errors) = form.checked_input(&images());
        // The number that is not one is not sent.
        assert_eq!(input.settings.timeout_in_minutes, None);
        for field in [
            "name",
            "buildspec_path",
            "timeout",
            "queued_timeout",
            "concurrent_build_limit",
            "env_vars",
            "artifacts_location",
            "badge",
            "image",
        ] {
            assert!(errors.has(field), "{field}: {:?}", errors.summary());
        }
        assert!(
            errors
                .of("buildspec_path")
                .contains("Insert build commands")
        );
        assert!(errors.of("timeout").contains("whole number of minutes"));
        assert!(errors.of("env_vars").contains("Variable 2: enter a name"));
        for (_, message) in errors.summary() {
            for api in [
                "Member must",
                "constraint",
                "invalid type",
                "expected i64",
                "member.",
            ] {
                assert!(!message.contains(api), "{message}");
            }
        }
    }

    #[test]
    fn a_kept_badge_choice_asks_for_no_badge() {
        let form = ProjectForm {
            source_type: "S3".into(),
            badge_kept: Some("on".into()),
            ..ProjectForm::default()
        };
        assert!(form.badge_wanted());
        let (input, errors) = form.checked_input(&images());
        assert_eq!(input.badge_enabled, Some(false));
        assert!(!errors.has("badge"));
    }

    #[test]
    fn custom_images_keep_their_registry() {
        let mut project = sample_project();
        let environment = |env_type: &str, image: &str| ProjectEnvironment {
            env_type: Some(env_type.into()),
            image: Some(image.into()),
            compute_type: Some("BUILD_GENERAL1_SMALL".into()),
            ..ProjectEnvironment::default()
        };
        project.settings.environment = Some(environment(
            "ARM_CONTAINER",
            "registry.example.com:5000/team/img:1",
        ));
        let form = ProjectForm::from_project(&project, &images());
        assert_eq!(form.image_mode, "custom");
        assert_eq!(form.custom_registry, "other");
        assert_eq!(form.custom_env_type, "ARM_CONTAINER");
        assert_eq!(form.image(), "registry.example.com:5000/team/img:1");
        project.settings.environment = Some(environment("LINUX_CONTAINER", "library/ubuntu:22.04"));
        assert_eq!(
            ProjectForm::from_project(&project, &images()).custom_registry,
            "dockerhub"
        );
    }

    #[test]
    fn a_stored_project_fills_the_form() {
        let form = ProjectForm::from_project(&sample_project(), &images());
        assert_eq!(form.name, "app");
        assert_eq!(form.description, "The app");
        assert_eq!(form.source_type, "GITHUB");
        assert_eq!(form.source_location, "https://git.example.com/app.git");
        assert_eq!(form.badge.as_deref(), Some("on"));
        assert_eq!(form.image_mode, "managed");
        assert_eq!(form.managed_image, "aws/codebuild/standard:7.0");
        assert_eq!(form.service_role_arn, "arn:aws:iam::111111111111:role/app");
        assert_eq!(
            (form.env_name, form.env_value),
            (vec!["A".to_string()], vec!["1".to_string()])
        );
        assert_eq!(form.artifacts_type, "NO_ARTIFACTS");
        // The default timeouts the API answers fill their fields.
        assert_eq!(
            (form.timeout.as_str(), form.queued_timeout.as_str()),
            ("60", "480")
        );
        assert_eq!(form.concurrent_build_limit, "");
    }
}
