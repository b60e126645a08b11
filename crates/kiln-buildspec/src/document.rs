//! The buildspec as written (serde shapes) and its validation into [`crate::Buildspec`].

use kiln_reports::ReportFileFormat;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

use crate::error::{BuildspecError, Position};
use crate::model::{
    ArtifactsSpec, Buildspec, CacheAction, CacheSpec, ProxySpec, ReportSpec, Shell, Version,
};
use crate::section::{SectionNotes, section};
use crate::values::{KeywordOf, OptionalText, OrderedMap, Text, TextList, YesNo};
use crate::warning::Warning;
use phases::RawPhases;

mod phases;

/// Variable names CodeBuild reserves for itself.
const RESERVED_VARIABLE_PREFIX: &str = "CODEBUILD_";
/// Most warnings listed; a hostile buildspec could otherwise fill the log with them.
const MAX_WARNINGS: usize = 100;
/// Names that cannot be exported to CodePipeline.
const RESERVED_EXPORT_PREFIX: &str = "AWS_";

type Variables = OrderedMap<Spanned<String>, OptionalText>;

section! {
    struct RawBuildspec {
        "version" => version: KeywordOf<Version>,
        "run-as" => run_as: Text,
        "env" => env: RawEnv,
        /// Version 0.1 spelling of `env`.
        "environment_variables" => legacy_env: RawLegacyEnv,
        "proxy" => proxy: RawProxy,
        "batch" => batch: IgnoredAny,
        "phases" => phases: RawPhases,
        "reports" => reports: OrderedMap<Text, RawReport>,
        "artifacts" => artifacts: Spanned<RawArtifacts>,
        "cache" => cache: RawCache,
    }
    required ["version"]
}

section! {
    struct RawEnv {
        "shell" => shell: KeywordOf<Shell>,
        "variables" => variables: Variables,
        "parameter-store" => parameter_store: OrderedMap<Text, Text>,
        "exported-variables" => exported_variables: Vec<Spanned<String>>,
        "secrets-manager" => secrets_manager: OrderedMap<Text, Text>,
        "git-credential-helper" => git_credential_helper: YesNo,
    }
    required []
}

section! {
    struct RawLegacyEnv {
        "plaintext" => plaintext: Variables,
    }
    required []
}

section! {
    struct RawProxy {
        "upload-artifacts" => upload_artifacts: YesNo,
        "logs" => logs: YesNo,
    }
    required []
}

section! {
    struct RawReport {
        "files" => files: TextList,
        "base-directory" => base_directory: Text,
        "discard-paths" => discard_paths: YesNo,
        "file-format" => file_format: KeywordOf<ReportFileFormat>,
    }
    required ["files"]
}

section! {
    struct RawArtifacts {
        "files" => files: TextList,
        "name" => name: Text,
        "discard-paths" => discard_paths: YesNo,
        "base-directory" => base_directory: Text,
        "exclude-paths" => exclude_paths: TextList,
        "enable-symlinks" => enable_symlinks: YesNo,
        "s3-prefix" => s3_prefix: Text,
        "secondary-artifacts" => secondary_artifacts: OrderedMap<Text, Spanned<RawArtifacts>>,
        /// Deprecated since 0.2 and without effect; accepted so old buildspecs still parse.
        "type" => legacy_type: IgnoredAny,
    }
    required []
}

section! {
    struct RawCache {
        "key" => key: Text,
        "fallback-keys" => fallback_keys: Vec<Text>,
        "action" => action: KeywordOf<CacheAction>,
        "paths" => paths: TextList,
    }
    required ["paths"]
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

/// Where each known key of a section is written, as dotted paths (`env.shell`).
fn record_keys(notes: &SectionNotes, prefix: &str, into: &mut Vec<(String, Option<Position>)>) {
    into.extend(notes.keys().map(|(key, at)| (format!("{prefix}{key}"), at)));
}

/// Validates the whole document; `raw`'s position is where its mapping starts.
pub(crate) fn validate(raw: Spanned<RawBuildspec>) -> Result<Buildspec, BuildspecError> {
    let at = position(&raw);
    let mut raw = raw.value;
    let mut warnings = Vec::new();
    let mut key_positions = Vec::new();
    record_keys(&raw.notes, "", &mut key_positions);
    let Some(version) = raw.version else {
        return Err(BuildspecError::new(
            "`version` has no value, expected 0.1 or 0.2",
            raw.notes.at("version"),
        ));
    };
    let phases = match raw.phases {
        Some(phases) => phases,
        None if raw.notes.has("batch") => {
            return Err(BuildspecError::new(
                "batch builds are not supported by Kiln yet: this buildspec has `batch` and no `phases`",
                raw.notes.at("batch"),
            ));
        }
        None if raw.notes.has("phases") => RawPhases::default(),
        None => return Err(BuildspecError::new("missing field `phases`", at)),
    };
    let mut variables = Vec::new();
    let legacy = match raw.legacy_env {
        Some(mut legacy) => {
            legacy.notes.finish(&mut warnings)?;
            legacy.plaintext
        }
        None => None,
    };
    let env = match raw.env {
        Some(mut env) => {
            record_keys(&env.notes, "env.", &mut key_positions);
            env.notes.finish(&mut warnings)?;
            Some(env)
        }
        None => None,
    };
    let current = env.as_ref().and_then(|e| e.variables.as_ref());
    for (name, value) in legacy.iter().chain(current).flat_map(|m| &m.0) {
        variables.push(variable(name, &value.0, &mut warnings)?);
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
    let proxy = match raw.proxy {
        Some(mut proxy) => {
            proxy.notes.finish(&mut warnings)?;
            Some(ProxySpec {
                upload_artifacts: yes(proxy.upload_artifacts),
                logs: yes(proxy.logs),
            })
        }
        None => None,
    };
    let phases = phases.validate(&mut warnings, &mut key_positions)?;
    let mut reports = Vec::new();
    for (name, report) in raw.reports.map(|r| r.0).unwrap_or_default() {
        reports.push((name.0, report.validate(&mut warnings)?));
    }
    let artifacts = raw
        .artifacts
        .map(|a| validate_artifacts(a, "artifacts", true, &mut warnings))
        .transpose()?;
    let cache = match raw.cache {
        Some(cache) => Some(cache.validate(raw.notes.at("cache"), &mut warnings)?),
        None => None,
    };
    let has_batch = raw.notes.has("batch");
    raw.notes.finish(&mut warnings)?;
    let mut spec = Buildspec {
        version: version.0,
        run_as: text(raw.run_as),
        shell,
        variables,
        parameter_store,
        secrets_manager,
        exported_variables,
        git_credential_helper,
        proxy,
        has_batch,
        phases,
        reports,
        artifacts,
        cache,
        warnings: Vec::new(),
    };
    warnings.extend(spec.unsupported_keys().into_iter().map(|key| {
        let at = key_positions
            .iter()
            .find(|(path, _)| key.path == *path)
            .and_then(|(_, at)| *at);
        Warning::new(
            format!(
                "key `{}` is not supported by Kiln and is ignored",
                key.label
            ),
            at,
        )
    }));
    // Document order: a reader goes through them with the buildspec beside the log.
    warnings.sort_by_key(|w| match w.position() {
        Some(p) => (false, p.line, p.column),
        None => (true, 0, 0),
    });
    if warnings.len() > MAX_WARNINGS {
        let more = warnings.len() - MAX_WARNINGS;
        warnings.truncate(MAX_WARNINGS);
        warnings.push(Warning::new(
            format!("{more} more warnings not shown"),
            None,
        ));
    }
    spec.warnings = warnings;
    Ok(spec)
}

fn variable(
    name: &Spanned<String>,
    value: &str,
    warnings: &mut Vec<Warning>,
) -> Result<(String, String), BuildspecError> {
    let at = position(name);
    if name.value.is_empty() || name.value.contains(['=', '\0']) {
        return Err(BuildspecError::new(
            format!(
                "invalid `env.variables` name {:?}: not a valid environment variable name",
                name.value
            ),
            at,
        ));
    }
    if value.contains('\0') {
        return Err(BuildspecError::new(
            format!(
                "value of `env.variables` {:?} contains a NUL byte",
                name.value
            ),
            at,
        ));
    }
    if name.value.starts_with(RESERVED_VARIABLE_PREFIX) {
        warnings.push(Warning::new(
            format!(
                "variable `{}` uses the prefix {RESERVED_VARIABLE_PREFIX}, which CodeBuild reserves: \
                 a variable CodeBuild sets keeps CodeBuild's value",
                name.value
            ),
            at,
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

impl RawReport {
    fn validate(mut self, warnings: &mut Vec<Warning>) -> Result<ReportSpec, BuildspecError> {
        self.notes.finish(warnings)?;
        Ok(ReportSpec {
            files: self.files.map(|f| f.items).unwrap_or_default(),
            base_directory: text(self.base_directory),
            discard_paths: yes(self.discard_paths),
            file_format: self
                .file_format
                .map_or(ReportFileFormat::DEFAULT_TEST, |f| f.0),
        })
    }
}

impl RawCache {
    /// `at`: where the `cache` key is.
    fn validate(
        mut self,
        at: Option<Position>,
        warnings: &mut Vec<Warning>,
    ) -> Result<CacheSpec, BuildspecError> {
        if self.notes.is_null("paths") {
            warnings.push(Warning::new(
                "`cache.paths` has no items (all commented out?): no path is cached",
                self.notes.at("paths").or(at),
            ));
        }
        self.notes.finish(warnings)?;
        Ok(CacheSpec {
            key: text(self.key),
            fallback_keys: texts(self.fallback_keys),
            action: self.action.map(|a| a.0),
            paths: self.paths.map(|p| p.items).unwrap_or_default(),
        })
    }
}

/// `path` names the section in messages; only the top level may have secondary artifacts.
fn validate_artifacts(
    raw: Spanned<RawArtifacts>,
    path: &str,
    top_level: bool,
    warnings: &mut Vec<Warning>,
) -> Result<ArtifactsSpec, BuildspecError> {
    let at = position(&raw);
    let mut raw = raw.value;
    let Some(files) = raw.files else {
        return Err(BuildspecError::new(
            format!("`{path}.files` is required"),
            at,
        ));
    };
    raw.notes.finish(warnings)?;
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
                validate_artifacts(spec, &nested, false, warnings).map(|spec| (id.0, spec))
            })
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    Ok(ArtifactsSpec {
        files: files.items,
        name: text(raw.name),
        discard_paths: yes(raw.discard_paths),
        base_directory: text(raw.base_directory),
        exclude_paths: raw.exclude_paths.map(|p| p.items).unwrap_or_default(),
        enable_symlinks: yes(raw.enable_symlinks),
        s3_prefix: text(raw.s3_prefix),
        secondary,
    })
}
