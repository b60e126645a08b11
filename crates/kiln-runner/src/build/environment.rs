//! The build's environment variables: CodeBuild's own (docs/builds.md §3) and the user's, with
//! CodeBuild's precedence (StartBuild override > project > buildspec).

use std::collections::BTreeMap;
use std::path::Path;

use kiln_buildspec::Buildspec;
use kiln_domain::build::{BuildRecord, BuildSettings};

/// What the variables CodeBuild sets itself are made from.
pub(super) struct BuildFacts<'a> {
    pub record: &'a BuildRecord,
    pub region: &'a str,
    pub src_dir: &'a Path,
    /// Where secondary sources are checked out.
    pub work_dir: &'a Path,
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

/// The project's variables then the StartBuild overrides (later entries win). Fails, naming
/// the variable (never its value), for a type Kiln cannot resolve.
pub(super) fn user_variables(settings: &BuildSettings) -> Result<Vec<(String, String)>, String> {
    let project = settings.environment.environment_variables.iter().flatten();
    let mut vars = Vec::new();
    for variable in project.chain(&settings.environment_variables_override) {
        let Some(name) = variable.name.as_deref() else {
            continue;
        };
        match variable.var_type.as_deref() {
            None | Some("PLAINTEXT") => {}
            Some(other) => {
                return Err(format!(
                    "Environment variable {name} is of type {other}, which Kiln cannot resolve; \
                     use a PLAINTEXT variable"
                ));
            }
        }
        vars.push((name.to_owned(), variable.value.clone().unwrap_or_default()));
    }
    Ok(vars)
}

/// The environment the first command starts with, and warnings for the log.
#[derive(Debug)]
pub(super) struct Environment {
    pub variables: Vec<(String, String)>,
    pub warnings: Vec<String>,
}

/// Layers the buildspec's `env.variables` and then the user's variables over CodeBuild's own
/// variables. CodeBuild's `CODEBUILD_*` variables cannot be replaced. Fails for a buildspec
/// parameter-store or secrets-manager variable that no higher-precedence variable replaces.
pub(super) fn merge(
    codebuild: Vec<(String, String)>,
    buildspec: &Buildspec,
    user: &[(String, String)],
) -> Result<Environment, String> {
    let user_names: Vec<&str> = user.iter().map(|(name, _)| name.as_str()).collect();
    let unresolvable = buildspec
        .parameter_store
        .iter()
        .map(|(name, _)| (name, "env.parameter-store"))
        .chain(
            buildspec
                .secrets_manager
                .iter()
                .map(|(name, _)| (name, "env.secrets-manager")),
        )
        .find(|(name, _)| !user_names.contains(&name.as_str()));
    if let Some((name, key)) = unresolvable {
        return Err(format!(
            "Environment variable {name} comes from buildspec {key}, which Kiln cannot resolve"
        ));
    }

    let mut warnings = Vec::new();
    let mut variables: BTreeMap<String, String> = BTreeMap::new();
    let reserved: Vec<String> = codebuild
        .iter()
        .map(|(name, _)| name.clone())
        .filter(|name| name.starts_with("CODEBUILD_"))
        .collect();
    variables.extend(codebuild);
    for (name, value) in buildspec.variables.iter().chain(user) {
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
    Ok(Environment {
        variables: variables.into_iter().collect(),
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_domain::project::EnvironmentVariable;

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
        let env = merge(codebuild, &buildspec, &user).unwrap();
        assert_eq!(value(&env, "CODEBUILD_BUILD_ID"), Some("p:1"));
        assert_eq!(value(&env, "HOME"), Some("/x"));
        assert_eq!(env.warnings.len(), 1);
        assert!(env.warnings[0].contains("CODEBUILD_BUILD_ID"));
    }

    #[test]
    fn secret_typed_project_variables_are_refused_by_name() {
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
            environment_variables_override: Vec::new(),
            debug_session_enabled: None,
            unapplied: Default::default(),
            logs_config: None,
        };
        settings.environment.environment_variables = Some(vec![var(
            "DB_PASSWORD",
            "/prod/db/password",
            Some("PARAMETER_STORE"),
        )]);
        let err = user_variables(&settings).unwrap_err();
        assert!(err.contains("DB_PASSWORD"));
        assert!(err.contains("PARAMETER_STORE"));
        assert!(!err.contains("/prod/db/password"));

        settings.environment.environment_variables = Some(vec![var("A", "project", None)]);
        settings.environment_variables_override = vec![var("A", "override", Some("PLAINTEXT"))];
        let user = user_variables(&settings).unwrap();
        let env = merge(Vec::new(), &spec("version: 0.2\nphases: {}\n"), &user).unwrap();
        assert_eq!(value(&env, "A"), Some("override"));
    }

    #[test]
    fn buildspec_parameter_store_fails_unless_replaced() {
        let buildspec =
            spec("version: 0.2\nenv:\n  parameter-store:\n    TOKEN: /ssm/token\nphases: {}\n");
        let err = merge(Vec::new(), &buildspec, &[]).unwrap_err();
        assert!(err.contains("TOKEN") && err.contains("parameter-store"));
        let user = vec![("TOKEN".to_owned(), "plain".to_owned())];
        let env = merge(Vec::new(), &buildspec, &user).unwrap();
        assert_eq!(value(&env, "TOKEN"), Some("plain"));
    }
}
