//! The validated buildspec the runner consumes.

use kiln_reports::ReportFileFormat;

use crate::warning::Warning;

/// Buildspec `version`. In 0.1 every command runs in its own shell; in 0.2 all commands of a
/// build share one shell session (so `cd` and `export` persist).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V01,
    V02,
}

/// `env.shell` on Linux.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Sh,
}

/// A parsed, validated buildspec. Maps keep their document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buildspec {
    pub version: Version,
    /// Top-level `run-as`: the user every command runs as (root when absent).
    pub run_as: Option<String>,
    pub shell: Option<Shell>,
    /// `env.variables` (or 0.1 `environment_variables.plaintext`), literal values, in order.
    pub variables: Vec<(String, String)>,
    /// `env.parameter-store`: local name → SSM parameter name.
    pub parameter_store: Vec<(String, String)>,
    /// `env.secrets-manager`: local name → `secret-id:json-key:stage:version`.
    pub secrets_manager: Vec<(String, String)>,
    pub exported_variables: Vec<String>,
    /// `env.git-credential-helper` (not honoured yet).
    pub git_credential_helper: bool,
    /// `proxy` (not honoured yet).
    pub proxy: Option<ProxySpec>,
    /// Whether a `batch` section is present; its content is accepted unchecked (not honoured yet).
    pub has_batch: bool,
    pub phases: Phases,
    /// `reports`: report group name or ARN → which files make its report, in order.
    pub reports: Vec<(String, ReportSpec)>,
    pub artifacts: Option<ArtifactsSpec>,
    /// `cache`: the paths of the project's custom cache (docs/cache.md).
    pub cache: Option<CacheSpec>,
    /// What Kiln interpreted or ignored, in document order (see [`Buildspec::warnings`]).
    pub(crate) warnings: Vec<Warning>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProxySpec {
    pub upload_artifacts: bool,
    pub logs: bool,
}

/// The four buildspec phases, each present or not.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Phases {
    pub install: Option<Phase>,
    pub pre_build: Option<Phase>,
    pub build: Option<Phase>,
    pub post_build: Option<Phase>,
}

/// Names of the buildspec phases, in execution order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhaseName {
    Install,
    PreBuild,
    Build,
    PostBuild,
}

impl PhaseName {
    pub const ALL: [Self; 4] = [Self::Install, Self::PreBuild, Self::Build, Self::PostBuild];

    /// The API's `BuildPhaseType` value, e.g. `PRE_BUILD`.
    pub fn build_phase_type(self) -> &'static str {
        match self {
            Self::Install => "INSTALL",
            Self::PreBuild => "PRE_BUILD",
            Self::Build => "BUILD",
            Self::PostBuild => "POST_BUILD",
        }
    }

    /// The key under `phases:` in the buildspec, e.g. `pre_build`.
    pub fn yaml_key(self) -> &'static str {
        match self {
            Self::Install => "install",
            Self::PreBuild => "pre_build",
            Self::Build => "build",
            Self::PostBuild => "post_build",
        }
    }
}

impl Phases {
    pub fn get(&self, name: PhaseName) -> Option<&Phase> {
        match name {
            PhaseName::Install => self.install.as_ref(),
            PhaseName::PreBuild => self.pre_build.as_ref(),
            PhaseName::Build => self.build.as_ref(),
            PhaseName::PostBuild => self.post_build.as_ref(),
        }
    }

    /// All four phases in execution order, absent ones as `None` (CodeBuild still reports them).
    pub fn iter(&self) -> impl Iterator<Item = (PhaseName, Option<&Phase>)> {
        PhaseName::ALL
            .into_iter()
            .map(|name| (name, self.get(name)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Phase {
    /// Run one at a time, in order; the first failure skips the rest.
    pub commands: Vec<String>,
    /// Run after `commands`, even when one of them failed.
    pub finally: Vec<String>,
    pub on_failure: Option<OnFailure>,
    /// Phase `run-as`: the user this phase's commands run as, over the top-level one.
    pub run_as: Option<String>,
    /// `runtime-versions`: runtime → version, in order (INSTALL selects them first).
    pub runtime_versions: Vec<(String, String)>,
}

/// `on-failure` of a phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnFailure {
    Abort,
    Continue,
    /// Retry the build: `count` defaults to 3, `pattern` (a regex on the error message) to `.*`.
    Retry {
        count: Option<u32>,
        pattern: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ArtifactsSpec {
    /// Globs relative to the build directory or `base_directory`.
    pub files: Vec<String>,
    pub name: Option<String>,
    pub discard_paths: bool,
    pub base_directory: Option<String>,
    pub exclude_paths: Vec<String>,
    /// `enable-symlinks`: a ZIP keeps symbolic links as links instead of following them.
    pub enable_symlinks: bool,
    pub s3_prefix: Option<String>,
    /// `secondary-artifacts`: artifact identifier → artifacts (never nested further).
    pub secondary: Vec<(String, ArtifactsSpec)>,
}

/// One report group of `reports`: its files are selected as artifact files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSpec {
    pub files: Vec<String>,
    pub base_directory: Option<String>,
    /// Record each file by its name alone (the file is still read where it is).
    pub discard_paths: bool,
    /// `file-format`; `JUNITXML` when absent, as on CodeBuild.
    pub file_format: ReportFileFormat,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CacheSpec {
    pub key: Option<String>,
    pub fallback_keys: Vec<String>,
    pub action: Option<CacheAction>,
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheAction {
    Restore,
    Save,
}

/// How to tell whether an unsupported setting is used.
enum Used {
    InBuildspec(fn(&Buildspec) -> bool),
    /// Checked in each phase; reported as `phases.<phase>.<key>`.
    InPhase(fn(&Phase) -> bool),
}

/// Every buildspec setting Kiln accepts but does not act on yet: one row per warning the
/// build log may show.
const UNSUPPORTED: &[(&str, Used)] = &[
    (
        "env.git-credential-helper",
        Used::InBuildspec(|b| b.git_credential_helper),
    ),
    ("proxy", Used::InBuildspec(|b| b.proxy.is_some())),
    ("batch", Used::InBuildspec(|b| b.has_batch)),
    (
        "on-failure: RETRY",
        Used::InPhase(|p| matches!(p.on_failure, Some(OnFailure::Retry { .. }))),
    ),
];

/// A setting of [`UNSUPPORTED`] that a buildspec uses.
pub(crate) struct UnsupportedKey {
    /// Where it is written, e.g. `phases.build.on-failure`.
    pub path: String,
    /// How the warning names it, e.g. `phases.build.on-failure: RETRY`.
    pub label: String,
}

impl Buildspec {
    /// The user the commands of phase `name` run as: the phase's `run-as`, else the top-level
    /// one; `None` means the environment's default user (root in CodeBuild's images).
    pub fn run_as_for(&self, name: PhaseName) -> Option<&str> {
        self.phases
            .get(name)
            .and_then(|phase| phase.run_as.as_deref())
            .or(self.run_as.as_deref())
    }

    /// Everything Kiln interpreted in a way the author may not expect, or ignores (settings it
    /// does not act on yet included), in document order: for the top of the build log.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Keys present that Kiln cannot honour yet. Yes/no settings count only when set to yes.
    pub(crate) fn unsupported_keys(&self) -> Vec<UnsupportedKey> {
        let mut keys = Vec::new();
        for (key, used) in UNSUPPORTED {
            // A row may name a value too (`on-failure: RETRY`); the key is before the colon.
            let written = key.split_once(':').map_or(*key, |(k, _)| k);
            match used {
                Used::InBuildspec(is_used) => {
                    if is_used(self) {
                        keys.push(UnsupportedKey {
                            path: written.to_owned(),
                            label: (*key).to_owned(),
                        });
                    }
                }
                Used::InPhase(is_used) => {
                    for (name, phase) in self.phases.iter() {
                        if phase.is_some_and(is_used) {
                            let phase = format!("phases.{}.", name.yaml_key());
                            keys.push(UnsupportedKey {
                                path: format!("{phase}{written}"),
                                label: format!("{phase}{key}"),
                            });
                        }
                    }
                }
            }
        }
        keys
    }
}
