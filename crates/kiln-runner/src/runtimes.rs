//! `runtime-versions` of INSTALL: which commands select each runtime version named, as
//! CodeBuild's standard images do (docs/buildspec.md "runtime-versions"). The table comes from
//! `[runtimes]` in kiln.toml over the defaults below.

use std::collections::BTreeMap;

use serde::Deserialize;

/// What the `{version}` placeholder of a selector's commands is replaced with.
const PLACEHOLDER: &str = "{version}";

/// How one runtime's versions are selected (a `[runtimes.<name>]` table).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSelector {
    /// Run in order in the build's shell; `{version}` is the version's value.
    pub commands: Vec<String>,
    /// The versions a buildspec may name → the value `{version}` stands for (`"18.x" = "18"`).
    #[serde(default)]
    pub versions: BTreeMap<String, String>,
    /// Accept a version not in `versions` too, passed as written.
    #[serde(default)]
    pub any_version: bool,
}

/// Every runtime Kiln can select, by the name a buildspec uses (`nodejs`, `python`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeTable {
    runtimes: BTreeMap<String, RuntimeSelector>,
}

impl RuntimeTable {
    /// The defaults with the given runtimes replaced or added (whole tables, not merged).
    pub fn with(overrides: BTreeMap<String, RuntimeSelector>) -> Self {
        let mut table = Self::default();
        table.runtimes.extend(overrides);
        table
    }

    /// The commands that select each `(runtime, version)`, in order; or why one cannot be,
    /// in CodeBuild's words.
    pub fn commands_for(&self, selections: &[(String, String)]) -> Result<Vec<String>, String> {
        let mut commands = Vec::new();
        for (runtime, version) in selections {
            let Some(selector) = self.runtimes.get(runtime) else {
                return Err(format!("Unknown runtime name: {runtime}"));
            };
            let value = match selector.versions.get(version) {
                Some(value) => value,
                None if selector.any_version => version,
                None => {
                    let known: Vec<&str> = selector.versions.keys().map(String::as_str).collect();
                    return Err(format!(
                        "Unknown runtime version named '{version}' of {runtime}. This build image \
                         has the following versions: {}",
                        known.join(", ")
                    ));
                }
            };
            commands.extend(
                selector
                    .commands
                    .iter()
                    .map(|command| command.replace(PLACEHOLDER, value)),
            );
        }
        Ok(commands)
    }
}

/// The major versions `n` selects, with the `N.x` spelling CodeBuild also accepts.
const NODEJS: &[&str] = &["16", "18", "20", "22"];
const PYTHON: &[&str] = &["3.9", "3.10", "3.11", "3.12", "3.13"];
const GOLANG: &[&str] = &["1.20", "1.21", "1.22", "1.23"];
const RUBY: &[&str] = &["3.1", "3.2", "3.3"];
const PHP: &[&str] = &["8.1", "8.2", "8.3"];
const CORRETTO: &[&str] = &["8", "11", "17", "21"];
const DOTNET: &[&str] = &["6.0", "8.0", "9.0"];

/// `versions` naming themselves, plus `N.x` for each, and `latest` for the last.
fn versions(names: &[&str], with_x: bool) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for name in names {
        map.insert((*name).to_owned(), (*name).to_owned());
        if with_x {
            map.insert(format!("{name}.x"), (*name).to_owned());
        }
    }
    if let Some(last) = names.last() {
        map.insert("latest".to_owned(), (*last).to_owned());
    }
    map
}

fn selector(commands: &[&str], versions: BTreeMap<String, String>) -> RuntimeSelector {
    RuntimeSelector {
        commands: commands.iter().map(|c| (*c).to_owned()).collect(),
        versions,
        any_version: false,
    }
}

impl Default for RuntimeTable {
    /// The version managers of CodeBuild's standard images: `n`, `pyenv`, `goenv`, `rbenv`,
    /// `phpenv`, `JAVA_<n>_HOME` with update-alternatives, and a `global.json` for .NET.
    fn default() -> Self {
        let corretto = CORRETTO
            .iter()
            .map(|n| (format!("corretto{n}"), (*n).to_owned()))
            .chain([(
                "latest".to_owned(),
                CORRETTO.last().copied().unwrap_or_default().to_owned(),
            )])
            .collect();
        let dotnet = DOTNET
            .iter()
            .map(|v| ((*v).to_owned(), format!("{v}.100")))
            .chain([(
                "latest".to_owned(),
                format!("{}.100", DOTNET.last().copied().unwrap_or_default()),
            )])
            .collect();
        let runtimes = [
            ("nodejs", selector(&["n {version}"], versions(NODEJS, true))),
            (
                "python",
                selector(
                    &["pyenv global \"$(pyenv latest {version})\""],
                    versions(PYTHON, false),
                ),
            ),
            (
                "golang",
                selector(&["goenv global {version}"], versions(GOLANG, false)),
            ),
            (
                "ruby",
                selector(&["rbenv global {version}"], versions(RUBY, false)),
            ),
            (
                "php",
                selector(&["phpenv global {version}"], versions(PHP, false)),
            ),
            (
                "java",
                selector(
                    &[
                        "test -n \"$JAVA_{version}_HOME\"",
                        "export JAVA_HOME=\"$JAVA_{version}_HOME\" JRE_HOME=\"$JRE_{version}_HOME\" JDK_HOME=\"$JDK_{version}_HOME\"",
                        "for tool_path in \"$JAVA_HOME\"/bin/*; do tool=$(basename \"$tool_path\"); \
                         update-alternatives --list \"$tool\" 2>/dev/null | grep -q \"$tool_path\" \
                         && update-alternatives --set \"$tool\" \"$tool_path\"; done; true",
                    ],
                    corretto,
                ),
            ),
            (
                "dotnet",
                selector(
                    &["test -f global.json || dotnet new globaljson --force --sdk-version {version} --roll-forward feature"],
                    dotnet,
                ),
            ),
        ]
        .into_iter()
        .map(|(name, selector)| (name.to_owned(), selector))
        .collect();
        Self { runtimes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(table: &RuntimeTable, pairs: &[(&str, &str)]) -> Result<Vec<String>, String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(r, v)| ((*r).to_owned(), (*v).to_owned()))
            .collect();
        table.commands_for(&pairs)
    }

    #[test]
    fn defaults_follow_codebuild_images() {
        let table = RuntimeTable::default();
        assert_eq!(
            pick(&table, &[("nodejs", "18"), ("python", "3.11")]).unwrap(),
            ["n 18", "pyenv global \"$(pyenv latest 3.11)\""]
        );
        assert_eq!(pick(&table, &[("nodejs", "20.x")]).unwrap(), ["n 20"]);
        assert_eq!(pick(&table, &[("nodejs", "latest")]).unwrap(), ["n 22"]);
        let java = pick(&table, &[("java", "corretto17")]).unwrap();
        assert!(java[0].contains("$JAVA_17_HOME"), "{java:?}");
        let dotnet = pick(&table, &[("dotnet", "8.0")]).unwrap();
        assert!(dotnet[0].contains("--sdk-version 8.0.100"), "{dotnet:?}");
    }

    #[test]
    fn unknown_runtimes_and_versions_are_refused_in_codebuild_words() {
        let table = RuntimeTable::default();
        assert_eq!(
            pick(&table, &[("nodejs", "18"), ("cobol", "85")]).unwrap_err(),
            "Unknown runtime name: cobol"
        );
        assert_eq!(
            pick(&table, &[("php", "5.6")]).unwrap_err(),
            "Unknown runtime version named '5.6' of php. This build image has the following \
             versions: 8.1, 8.2, 8.3, latest"
        );
    }

    #[test]
    fn configured_runtimes_replace_defaults() {
        let configured: BTreeMap<String, RuntimeSelector> = [
            (
                "nodejs".to_owned(),
                RuntimeSelector {
                    commands: vec!["nvm use {version}".to_owned(), "node -v".to_owned()],
                    versions: [("18".to_owned(), "18.20.4".to_owned())].into(),
                    any_version: false,
                },
            ),
            (
                "deno".to_owned(),
                RuntimeSelector {
                    commands: vec!["dvm use {version}".to_owned()],
                    versions: BTreeMap::new(),
                    any_version: true,
                },
            ),
        ]
        .into();
        let table = RuntimeTable::with(configured);
        assert_eq!(
            pick(&table, &[("nodejs", "18"), ("deno", "2.1")]).unwrap(),
            ["nvm use 18.20.4", "node -v", "dvm use 2.1"]
        );
        assert!(pick(&table, &[("nodejs", "20")]).is_err());
        assert_eq!(
            pick(&table, &[("ruby", "3.3")]).unwrap(),
            ["rbenv global 3.3"]
        );
    }
}
