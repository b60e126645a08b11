//! The buildspec as written (serde shapes) and its validation into [`crate::Buildspec`].

use kiln_reports::ReportFileFormat;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

use crate::error::{BuildspecError, Position};
use crate::model::{
    ArtifactsSpec, Buildspec, CacheAction, CacheSpec, OnFailure, Phase, PhaseName, Phases,
    ProxySpec, ReportSpec, Shell, Version,
};
use crate::values::{KeywordOf, OptionalText, OrderedMap, Text, TextList, YesNo};

/// Variable names CodeBuild reserves for itself.
const RESERVED_VARIABLE_PREFIX: &str = "CODEBUILD_";
/// Names that cannot be exported to CodePipeline.
const RESERVED_EXPORT_PREFIX: &str = "AWS_";

type Variables = OrderedMap<Spanned<String>, OptionalText>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawBuildspec {
    version: KeywordOf<Version>,
    run_as: Option<Text>,
    env: Option<RawEnv>,
    /// Version 0.1 spelling of `env`.
    #[serde(rename = "environment_variables")]
    legacy_env: Option<RawLegacyEnv>,
    proxy: Option<RawProxy>,
    batch: Option<IgnoredAny>,
    phases: RawPhases,
    reports: Option<OrderedMap<Text, RawReport>>,
    artifacts: Option<Spanned<RawArtifacts>>,
    cache: Option<RawCache>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawEnv {
    shell: Option<KeywordOf<Shell>>,
    variables: Option<Variables>,
    parameter_store: Option<OrderedMap<Text, Text>>,
    exported_variables: Option<Vec<Spanned<String>>>,
    secrets_manager: Option<OrderedMap<Text, Text>>,
    git_credential_helper: Option<YesNo>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLegacyEnv {
    plaintext: Option<Variables>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawProxy {
    upload_artifacts: Option<YesNo>,
    logs: Option<YesNo>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPhases {
    install: Option<Spanned<RawPhase>>,
    pre_build: Option<Spanned<RawPhase>>,
    build: Option<Spanned<RawPhase>>,
    post_build: Option<Spanned<RawPhase>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPhase {
    run_as: Option<Text>,
    on_failure: Option<KeywordOf<OnFailure>>,
    runtime_versions: Option<OrderedMap<Text, Text>>,
    commands: Option<Vec<Text>>,
    finally: Option<Vec<Text>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawReport {
    files: TextList,
    base_directory: Option<Text>,
    discard_paths: Option<YesNo>,
    file_format: Option<KeywordOf<ReportFileFormat>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawArtifacts {
    files: Option<TextList>,
    name: Option<Text>,
    discard_paths: Option<YesNo>,
    base_directory: Option<Text>,
    exclude_paths: Option<TextList>,
    enable_symlinks: Option<YesNo>,
    s3_prefix: Option<Text>,
    secondary_artifacts: Option<OrderedMap<Text, Spanned<RawArtifacts>>>,
    /// Deprecated since 0.2 and without effect; accepted so old buildspecs still parse.
    #[serde(rename = "type")]
    _legacy_type: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawCache {
    key: Option<Text>,
    fallback_keys: Option<Vec<Text>>,
    action: Option<KeywordOf<CacheAction>>,
    paths: TextList,
}

fn position<T>(spanned: &Spanned<T>) -> Option<Position> {
    Position::from_location(spanned.referenced)
}

fn text(value: Option<Text>) -> Option<String> {
    value.map(|t| t.0)
}

fn texts(values: Option<Vec<Text>>) -> Vec<String> {
    values.into_iter().flatten().map(|t| t.0).collect()
}

fn yes(value: Option<YesNo>) -> bool {
    value.is_some_and(|v| v.0)
}

fn pairs(map: Option<OrderedMap<Text, Text>>) -> Vec<(String, String)> {
    map.map(|m| m.0.into_iter().map(|(k, v)| (k.0, v.0)).collect())
        .unwrap_or_default()
}

impl RawBuildspec {
    pub(crate) fn validate(self) -> Result<Buildspec, BuildspecError> {
        let env = self.env;
        let mut variables = Vec::new();
        let legacy = self.legacy_env.and_then(|e| e.plaintext);
        let current = env.as_ref().and_then(|e| e.variables.as_ref());
        for (name, value) in legacy.iter().chain(current).flat_map(|m| &m.0) {
            variables.push(variable(name, &value.0)?);
        }
        let (shell, parameter_store, secrets_manager, git_credential_helper, exported) = match env {
            Some(env) => (
                env.shell.map(|s| s.0),
                pairs(env.parameter_store),
                pairs(env.secrets_manager),
                yes(env.git_credential_helper),
                env.exported_variables.unwrap_or_default(),
            ),
            None => (None, Vec::new(), Vec::new(), false, Vec::new()),
        };
        let exported_variables = exported
            .into_iter()
            .map(|name| exported_variable(&name))
            .collect::<Result<_, _>>()?;
        Ok(Buildspec {
            version: self.version.0,
            run_as: text(self.run_as),
            shell,
            variables,
            parameter_store,
            secrets_manager,
            exported_variables,
            git_credential_helper,
            proxy: self.proxy.map(|p| ProxySpec {
                upload_artifacts: yes(p.upload_artifacts),
                logs: yes(p.logs),
            }),
            has_batch: self.batch.is_some(),
            phases: self.phases.validate()?,
            reports: self
                .reports
                .map(|r| r.0.into_iter().map(|(k, v)| (k.0, v.validate())).collect())
                .unwrap_or_default(),
            artifacts: self
                .artifacts
                .map(|a| validate_artifacts(a, "artifacts", true))
                .transpose()?,
            cache: self.cache.map(RawCache::validate),
        })
    }
}

fn variable(name: &Spanned<String>, value: &str) -> Result<(String, String), BuildspecError> {
    let fail = |why: &str| {
        Err(BuildspecError::new(
            format!("invalid `env.variables` name {:?}: {why}", name.value),
            position(name),
        ))
    };
    if name.value.starts_with(RESERVED_VARIABLE_PREFIX) {
        return fail("names starting with CODEBUILD_ are reserved");
    }
    if name.value.is_empty() || name.value.contains(['=', '\0']) {
        return fail("not a valid environment variable name");
    }
    if value.contains('\0') {
        return Err(BuildspecError::new(
            format!(
                "value of `env.variables` {:?} contains a NUL byte",
                name.value
            ),
            position(name),
        ));
    }
    Ok((name.value.clone(), value.to_owned()))
}

fn exported_variable(name: &Spanned<String>) -> Result<String, BuildspecError> {
    if name.value.starts_with(RESERVED_EXPORT_PREFIX) {
        return Err(BuildspecError::new(
            format!(
                "invalid `env.exported-variables` name {:?}: names starting with AWS_ cannot be exported",
                name.value
            ),
            position(name),
        ));
    }
    Ok(name.value.clone())
}

impl RawPhases {
    fn validate(self) -> Result<Phases, BuildspecError> {
        let phase = |name: PhaseName, raw: Option<Spanned<RawPhase>>| {
            raw.map(|raw| validate_phase(name, raw)).transpose()
        };
        Ok(Phases {
            install: phase(PhaseName::Install, self.install)?,
            pre_build: phase(PhaseName::PreBuild, self.pre_build)?,
            build: phase(PhaseName::Build, self.build)?,
            post_build: phase(PhaseName::PostBuild, self.post_build)?,
        })
    }
}

fn validate_phase(name: PhaseName, raw: Spanned<RawPhase>) -> Result<Phase, BuildspecError> {
    let at = position(&raw);
    let raw = raw.value;
    if raw.commands.is_none() && name != PhaseName::Install {
        return Err(BuildspecError::new(
            format!("`phases.{}.commands` is required", name.yaml_key()),
            at,
        ));
    }
    Ok(Phase {
        commands: texts(raw.commands),
        finally: texts(raw.finally),
        on_failure: raw.on_failure.map(|o| o.0),
        run_as: text(raw.run_as),
        runtime_versions: pairs(raw.runtime_versions),
    })
}

impl RawReport {
    fn validate(self) -> ReportSpec {
        ReportSpec {
            files: self.files.0,
            base_directory: text(self.base_directory),
            discard_paths: yes(self.discard_paths),
            file_format: self
                .file_format
                .map_or(ReportFileFormat::DEFAULT_TEST, |f| f.0),
        }
    }
}

impl RawCache {
    fn validate(self) -> CacheSpec {
        CacheSpec {
            key: text(self.key),
            fallback_keys: texts(self.fallback_keys),
            action: self.action.map(|a| a.0),
            paths: self.paths.0,
        }
    }
}

/// `path` names the section in messages; only the top level may have secondary artifacts.
fn validate_artifacts(
    raw: Spanned<RawArtifacts>,
    path: &str,
    top_level: bool,
) -> Result<ArtifactsSpec, BuildspecError> {
    let at = position(&raw);
    let raw = raw.value;
    let Some(files) = raw.files else {
        return Err(BuildspecError::new(
            format!("`{path}.files` is required"),
            at,
        ));
    };
    let secondary = match raw.secondary_artifacts {
        Some(_) if !top_level => {
            return Err(BuildspecError::new(
                format!("`{path}` cannot have `secondary-artifacts`"),
                at,
            ));
        }
        Some(map) => map
            .0
            .into_iter()
            .map(|(id, spec)| {
                let nested = format!("artifacts.secondary-artifacts.{}", id.0);
                validate_artifacts(spec, &nested, false).map(|spec| (id.0, spec))
            })
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    Ok(ArtifactsSpec {
        files: files.0,
        name: text(raw.name),
        discard_paths: yes(raw.discard_paths),
        base_directory: text(raw.base_directory),
        exclude_paths: raw.exclude_paths.map(|p| p.0).unwrap_or_default(),
        enable_symlinks: yes(raw.enable_symlinks),
        s3_prefix: text(raw.s3_prefix),
        secondary,
    })
}
