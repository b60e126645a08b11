//! The build's environment variables: CodeBuild's own (docs/builds.md §3) and the user's, with
//! CodeBuild's precedence (StartBuild override > project > buildspec).

use std::collections::BTreeMap;
use std::path::Path;

use kiln_buildspec::Buildspec;
use kiln_domain::build::{BuildRecord, BuildSettings};
use kiln_domain::project::EnvironmentVariable;
use kiln_domain::secrets::SecretReference;

use super::secrets::PendingVariable;

/// What the variables CodeBuild sets itself are made from.
pub(super) struct BuildFacts<'a> {
    pub record: &'a BuildRecord,
    pub region: &'a str,
    pub src_dir: &'a Path,
    /// Where secondary sources are checked out.
    pub work_dir: &'a Path,
    /// `CODEBUILD_PUBLIC_BUILD_URL`, set only while the project is public.
    pub public_build_url: Option<&'a str>,
    /// `HOME`, unless the executor's environment decides it.
    pub home: Option<&'a Path>,
    /// The executor's variables (the host's `PATH`, or a container image's environment), which
    /// CodeBuild's own variables override.
    pub base: Vec<(String, String)>,
}

/// The executor's base variables, then CodeBuild's variables for this build (later entries win).
/// `CODEBUILD_BUILD_SUCCEEDING` starts at 1.
pub(super) fn codebuild_variables(facts: &BuildFacts<'_>) -> Vec<(String, String)> {
    let record = facts.record;
    let settings = &record.settings;
    let project_arn = format!(
        "arn:aws:codebuild:{}:{}:project/{}",
        facts.region, record.account_id, record.project_name
    );
    // `start_time` is seconds with a fraction; the variable is whole milliseconds.
    let start_ms = (record.start_time * 1000.0).round() as i64;
    let source_version = settings
        .source_version
        .clone()
        .or_else(|| record.resolved_source_version.clone())
        .unwrap_or_default();
    let mut vars = vec![
        ("AWS_REGION", facts.region.to_owned()),
        ("AWS_DEFAULT_REGION", facts.region.to_owned()),
        ("CODEBUILD_BUILD_ARN", record.arn(facts.region)),
        ("CODEBUILD_BUILD_ID", record.id()),
        (
            "CODEBUILD_BUILD_IMAGE",
            settings.environment.image.clone().unwrap_or_default(),
        ),
        ("CODEBUILD_BUILD_NUMBER", record.build_number.to_string()),
        ("CODEBUILD_BUILD_SUCCEEDING", "1".to_owned()),
        ("CODEBUILD_INITIATOR", record.initiator.clone()),
        ("CODEBUILD_LOG_PATH", record.uuid.clone()),
        ("CODEBUILD_PROJECT_ARN", project_arn),
        (
            "CODEBUILD_SOURCE_REPO_URL",
            settings.source.location.clone().unwrap_or_default(),
        ),
        ("CODEBUILD_SOURCE_VERSION", source_version),
        (
            "CODEBUILD_SRC_DIR",
            facts.src_dir.to_string_lossy().into_owned(),
        ),
        ("CODEBUILD_START_TIME", start_ms.to_string()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect::<Vec<_>>();
    for source in &settings.secondary_sources {
        let Some(id) = source.source_identifier.as_deref() else {
            continue;
        };
        let dir = super::source_phase::secondary_source_dir(facts.work_dir, id);
        vars.push((
            format!("CODEBUILD_SRC_DIR_{id}"),
            dir.to_string_lossy().into_owned(),
        ));
        vars.push((
            format!("CODEBUILD_SOURCE_REPO_URL_{id}"),
            source.location.clone().unwrap_or_default(),
        ));
        if let Some(version) = settings
            .secondary_source_versions
            .iter()
            .find(|v| v.source_identifier.as_deref() == Some(id))
            .and_then(|v| v.source_version.clone())
        {
            vars.push((format!("CODEBUILD_SOURCE_VERSION_{id}"), version));
        }
    }
    if let Some(url) = facts.public_build_url {
        vars.push(("CODEBUILD_PUBLIC_BUILD_URL".to_owned(), url.to_owned()));
    }
    if let Some(home) = facts.home {
        vars.push(("HOME".to_owned(), home.to_string_lossy().into_owned()));
    }
    if let Some(resolved) = &record.resolved_source_version {
        vars.push((
            "CODEBUILD_RESOLVED_SOURCE_VERSION".to_owned(),
            resolved.clone(),
        ));
    }
    vars.extend(record.trigger_variables.iter().cloned());
    let mut all = facts.base.clone();
    all.extend(vars);
    all
}

/// The project's and StartBuild's variables: values, and those still to be resolved.
#[derive(Debug)]
pub(super) struct UserVariables {
    pub plain: Vec<(String, String)>,
    pub pending: Vec<PendingVariable>,
}

/// The project's variables then the StartBuild overrides (a later one of a name wins): the
/// PLAINTEXT values, and the variables still to be resolved. Fails, naming the variable (never
/// its value), for a type Kiln does not know or a reference that is not one.
pub(super) fn user_variables(settings: &BuildSettings) -> Result<UserVariables, String> {
    let project = settings.environment.environment_variables.iter().flatten();
    let mut latest: BTreeMap<&str, &EnvironmentVariable> = BTreeMap::new();
    for variable in project.chain(&settings.environment_variables_override) {
        if let Some(name) = variable.name.as_deref() {
            latest.insert(name, variable);
        }
    }
    let mut plain = Vec::new();
    let mut pending = Vec::new();
    for (name, variable) in latest {
        let value = variable.value.as_deref().unwrap_or_default();
        match variable.var_type.as_deref() {
            None | Some("PLAINTEXT") => plain.push((name.to_owned(), value.to_owned())),
            Some(other) => {
                let reference = SecretReference::of_variable(other, value)
                    .ok_or_else(|| {
                        format!("Environment variable {name} is of type {other}, which Kiln does not know")
                    })?
                    .map_err(|why| format!("Environment variable {name} of type {other}: {why}"))?;
                pending.push(PendingVariable {
                    name: name.to_owned(),
                    origin: "project environment",
                    reference,
                });
            }
        }
    }
    Ok(UserVariables { plain, pending })
}

/// The buildspec's `env.parameter-store` and `env.secrets-manager` variables that no user
/// variable replaces, or why one is not a reference.
pub(super) fn buildspec_secrets(
    buildspec: &Buildspec,
    user_names: &[&str],
) -> Result<Vec<PendingVariable>, String> {
    let parameters = buildspec
        .parameter_store
        .iter()
        .map(|(name, value)| (name, "env.parameter-store", "PARAMETER_STORE", value));
    let secrets = buildspec
        .secrets_manager
        .iter()
        .map(|(name, value)| (name, "env.secrets-manager", "SECRETS_MANAGER", value));
    parameters
        .chain(secrets)
        .filter(|(name, ..)| !user_names.contains(&name.as_str()))
        .map(|(name, origin, var_type, value)| {
            let reference = SecretReference::of_variable(var_type, value)
                .unwrap_or_else(|| Err(format!("unknown type {var_type}")))
                .map_err(|why| {
                    format!("Environment variable {name} of buildspec {origin}: {why}")
                })?;
            Ok(PendingVariable {
                name: name.clone(),
                origin,
                reference,
            })
        })
        .collect()
}

/// The environment the first command starts with, and warnings for the log.
#[derive(Debug)]
pub(super) struct Environment {
    pub variables: Vec<(String, String)>,
    pub warnings: Vec<String>,
}

/// Layers the buildspec's `env.variables`, its resolved secret variables and then the user's
/// variables over CodeBuild's own variables. CodeBuild's `CODEBUILD_*` variables cannot be
/// replaced.
pub(super) fn merge(
    codebuild: Vec<(String, String)>,
    buildspec: &Buildspec,
    buildspec_secrets: &[(String, String)],
    user: &[(String, String)],
) -> Environment {
    let mut warnings = Vec::new();
    let mut variables: BTreeMap<String, String> = BTreeMap::new();
    let reserved: Vec<String> = codebuild
        .iter()
        .map(|(name, _)| name.clone())
        .filter(|name| name.starts_with("CODEBUILD_"))
        .collect();
    variables.extend(codebuild);
    let layers = buildspec
        .variables
        .iter()
        .chain(buildspec_secrets)
        .chain(user);
    for (name, value) in layers {
        if reserved.contains(name) {
            let warning = format!(
                "Warning: environment variable {name} is set by CodeBuild and cannot be replaced"
            );
            if !warnings.contains(&warning) {
                warnings.push(warning);
            }
            continue;
        }
        variables.insert(name.clone(), value.clone());
    }
    Environment {
        variables: variables.into_iter().collect(),
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> Buildspec {
        kiln_buildspec::parse(yaml).unwrap()
    }

    fn var(name: &str, value: &str, var_type: Option<&str>) -> EnvironmentVariable {
        EnvironmentVariable {
            name: Some(name.to_owned()),
            value: Some(value.to_owned()),
            var_type: var_type.map(str::to_owned),
        }
    }

    fn value<'a>(env: &'a Environment, name: &str) -> Option<&'a str> {
        env.variables
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn reserved_names_keep_codebuild_values() {
        let codebuild = vec![
            ("CODEBUILD_BUILD_ID".to_owned(), "p:1".to_owned()),
            ("HOME".to_owned(), "/home".to_owned()),
        ];
        // Buildspec and project variables may have CODEBUILD_ names (the parser warns about them).
        let buildspec = spec("version: 0.2\nenv:\n  variables:\n    HOME: /x\nphases: {}\n");
        let user = vec![("CODEBUILD_BUILD_ID".to_owned(), "mine".to_owned())];
        let env = merge(codebuild, &buildspec, &[], &user);
        assert_eq!(value(&env, "CODEBUILD_BUILD_ID"), Some("p:1"));
        assert_eq!(value(&env, "HOME"), Some("/x"));
        assert_eq!(env.warnings.len(), 1);
        assert!(env.warnings[0].contains("CODEBUILD_BUILD_ID"));
    }

    fn settings_with(
        project: Vec<EnvironmentVariable>,
        overrides: Vec<EnvironmentVariable>,
    ) -> BuildSettings {
        let mut settings = BuildSettings {
            source: Default::default(),
            source_version: None,
            secondary_sources: Vec::new(),
            secondary_source_versions: Vec::new(),
            artifacts: Default::default(),
            secondary_artifacts: Vec::new(),
            environment: Default::default(),
            service_role: None,
            timeout_in_minutes: 60,
            queued_timeout_in_minutes: 480,
            buildspec_override: None,
            environment_variables_override: overrides,
            debug_session_enabled: None,
            unapplied: Default::default(),
            logs_config: None,
            cache: None,
        };
        settings.environment.environment_variables = Some(project);
        settings
    }

    #[test]
    fn secret_typed_variables_wait_for_resolution_and_overrides_win() {
        let settings = settings_with(
            vec![
                var("DB_PASSWORD", "/prod/db/password", Some("PARAMETER_STORE")),
                var("TOKEN", "ci/token:value::", Some("SECRETS_MANAGER")),
                var("A", "project", None),
            ],
            vec![
                var("A", "override", Some("PLAINTEXT")),
                var("TOKEN", "plain", None),
            ],
        );
        let UserVariables { plain, pending } = user_variables(&settings).unwrap();
        assert_eq!(
            plain,
            vec![
                ("A".into(), "override".into()),
                ("TOKEN".into(), "plain".into())
            ]
        );
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].name, "DB_PASSWORD");
        assert_eq!(
            pending[0].reference,
            SecretReference::Parameter {
                name: "/prod/db/password".into()
            }
        );

        let bad = settings_with(vec![var("X", "/p", Some("VAULT"))], Vec::new());
        let err = user_variables(&bad).unwrap_err();
        assert!(err.contains('X') && err.contains("VAULT") && !err.contains("/p"));
    }

    #[test]
    fn buildspec_secrets_are_resolved_unless_replaced() {
        let buildspec = spec(
            "version: 0.2\nenv:\n  parameter-store:\n    TOKEN: /ssm/token\n  secrets-manager:\n    KEY: db:key\nphases: {}\n",
        );
        let pending = buildspec_secrets(&buildspec, &[]).unwrap();
        let names: Vec<_> = pending
            .iter()
            .map(|p| (p.name.as_str(), p.origin))
            .collect();
        assert_eq!(
            names,
            [
                ("TOKEN", "env.parameter-store"),
                ("KEY", "env.secrets-manager")
            ]
        );
        assert_eq!(
            buildspec_secrets(&buildspec, &["TOKEN", "KEY"]).unwrap(),
            vec![]
        );
        let resolved = vec![("TOKEN".to_owned(), "from-ssm".to_owned())];
        let user = vec![("KEY".to_owned(), "plain".to_owned())];
        let env = merge(Vec::new(), &buildspec, &resolved, &user);
        assert_eq!(value(&env, "TOKEN"), Some("from-ssm"));
        assert_eq!(value(&env, "KEY"), Some("plain"));
    }
}
