//! CodeBuild settings that have no meaning on Kiln: stored and echoed by the API, never
//! applied. Which of them a project or build has set, and the note each gets at the top of a
//! build's log and in the console (README "CodeBuild settings Kiln does not apply").

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::build::BuildSettings;
use crate::project::ProjectSettings;

/// The project settings a build carries only to echo them and to say they are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnappliedProjectSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_system_locations: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_batch_config: Option<Value>,
}

impl UnappliedProjectSettings {
    pub fn of(project: &ProjectSettings) -> Self {
        Self {
            vpc_config: project.vpc_config.clone(),
            file_system_locations: project.file_system_locations.clone(),
            build_batch_config: project.build_batch_config.clone(),
        }
    }

    /// The settings that are set, in a fixed order.
    pub fn set(&self) -> Vec<Unapplied> {
        [
            (
                Unapplied::VpcConfig,
                self.vpc_config.as_ref().is_some_and(is_set),
            ),
            (
                Unapplied::FileSystemLocations,
                self.file_system_locations
                    .as_ref()
                    .is_some_and(|l| l.iter().any(is_set)),
            ),
            (
                Unapplied::BuildBatchConfig,
                self.build_batch_config.as_ref().is_some_and(is_set),
            ),
        ]
        .into_iter()
        .filter_map(|(setting, set)| set.then_some(setting))
        .collect()
    }
}

/// A setting Kiln stores and echoes but does not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unapplied {
    VpcConfig,
    FileSystemLocations,
    BuildBatchConfig,
    /// StartBuild's `debugSessionEnabled`.
    DebugSession,
}

impl Unapplied {
    /// The API member that carries it.
    pub fn member(self) -> &'static str {
        match self {
            Self::VpcConfig => "vpcConfig",
            Self::FileSystemLocations => "fileSystemLocations",
            Self::BuildBatchConfig => "buildBatchConfig",
            Self::DebugSession => "debugSessionEnabled",
        }
    }

    /// What Kiln does about it, in one sentence (no trailing period), e.g. for `Warning: …` at
    /// the top of a build's log.
    pub fn note(self) -> String {
        let (whose, why) = match self {
            Self::VpcConfig => (
                "project",
                "Kiln runs builds on its own hosts and ignores it",
            ),
            Self::FileSystemLocations => (
                "project",
                "Kiln mounts no Amazon EFS file systems and ignores it",
            ),
            Self::BuildBatchConfig => (
                "project",
                "Kiln does not run batch builds yet and ignores it",
            ),
            Self::DebugSession => (
                "build",
                "Kiln has no Session Manager debug sessions and ignores it",
            ),
        };
        format!("{} is set on this {whose}; {why}", self.member())
    }
}

/// The unapplied settings a build has set: its project's, then StartBuild's.
pub fn in_build(build: &BuildSettings) -> Vec<Unapplied> {
    let mut set = build.unapplied.set();
    if build.debug_session_enabled == Some(true) {
        set.push(Unapplied::DebugSession);
    }
    set
}

/// Set means given with some content: `null`, `{}` and `[]` are not.
fn is_set(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Object(members) => members.values().any(is_set),
        Value::Array(items) => items.iter().any(is_set),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn project(settings: Value) -> ProjectSettings {
        serde_json::from_value(settings).unwrap_or_default()
    }

    #[test]
    fn set_settings_in_order_with_their_notes() {
        let settings = project(json!({
            "buildBatchConfig": {"timeoutInMins": 30},
            "vpcConfig": {"vpcId": "vpc-1", "subnets": ["subnet-1"]},
            "fileSystemLocations": [{"type": "EFS", "identifier": "data"}],
        }));
        let set = UnappliedProjectSettings::of(&settings).set();
        assert_eq!(
            set,
            [
                Unapplied::VpcConfig,
                Unapplied::FileSystemLocations,
                Unapplied::BuildBatchConfig
            ]
        );
        assert_eq!(
            set[0].note(),
            "vpcConfig is set on this project; Kiln runs builds on its own hosts and ignores it"
        );
    }

    #[test]
    fn empty_values_are_not_set() {
        let settings = project(json!({
            "vpcConfig": {"vpcId": null, "subnets": []},
            "fileSystemLocations": [],
            "buildBatchConfig": {},
        }));
        assert!(UnappliedProjectSettings::of(&settings).set().is_empty());
    }

    #[test]
    fn a_build_adds_its_debug_session() {
        let settings: BuildSettings = serde_json::from_value(json!({
            "source": {}, "sourceVersion": null, "secondarySources": [],
            "artifacts": {}, "secondaryArtifacts": [], "environment": {},
            "serviceRole": null, "timeoutInMinutes": 60, "queuedTimeoutInMinutes": 480,
            "buildspecOverride": null, "environmentVariablesOverride": [],
            "debugSessionEnabled": true,
            "unapplied": {"vpcConfig": {"vpcId": "vpc-1"}},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            in_build(&settings),
            [Unapplied::VpcConfig, Unapplied::DebugSession]
        );
        assert_eq!(
            Unapplied::DebugSession.note(),
            "debugSessionEnabled is set on this build; Kiln has no Session Manager debug sessions and ignores it"
        );
    }
}
