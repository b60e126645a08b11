//! `phases` as written, and its validation into [`Phases`].

use serde_saphyr::Spanned;

use super::{pairs, position, record_keys};
use crate::error::{BuildspecError, Position};
use crate::model::{OnFailure, Phase, PhaseName, Phases};
use crate::section::section;
use crate::values::{Commands, KeywordOf, OrderedMap, Text};
use crate::warning::Warning;

section! {
    #[derive(Default)]
    struct RawPhases {
        "install" => install: Spanned<RawPhase>,
        "pre_build" => pre_build: Spanned<RawPhase>,
        "build" => build: Spanned<RawPhase>,
        "post_build" => post_build: Spanned<RawPhase>,
    }
    required []
}

section! {
    struct RawPhase {
        "run-as" => run_as: Text,
        "on-failure" => on_failure: KeywordOf<OnFailure>,
        "runtime-versions" => runtime_versions: OrderedMap<Text, Text>,
        "commands" => commands: Commands,
        "finally" => finally: Commands,
    }
    required []
}

impl RawPhases {
    pub(super) fn validate(
        mut self,
        warnings: &mut Vec<Warning>,
        key_positions: &mut Vec<(String, Option<Position>)>,
    ) -> Result<Phases, BuildspecError> {
        self.notes.finish(warnings)?;
        let mut phase = |name: PhaseName, raw: Option<Spanned<RawPhase>>| {
            raw.map(|raw| validate_phase(name, raw, warnings, key_positions))
                .transpose()
        };
        Ok(Phases {
            install: phase(PhaseName::Install, self.install)?,
            pre_build: phase(PhaseName::PreBuild, self.pre_build)?,
            build: phase(PhaseName::Build, self.build)?,
            post_build: phase(PhaseName::PostBuild, self.post_build)?,
        })
    }
}

fn validate_phase(
    name: PhaseName,
    raw: Spanned<RawPhase>,
    warnings: &mut Vec<Warning>,
    key_positions: &mut Vec<(String, Option<Position>)>,
) -> Result<Phase, BuildspecError> {
    let at = position(&raw);
    let mut raw = raw.value;
    let path = format!("phases.{}", name.yaml_key());
    record_keys(&raw.notes, &format!("{path}."), key_positions);
    let notes = &raw.notes;
    if notes.is_null("commands") {
        warnings.push(Warning::new(
            format!("`{path}.commands` has no value: the phase runs no commands"),
            notes.at("commands"),
        ));
    } else if !notes.has("commands") && name != PhaseName::Install {
        if !notes.has("finally") {
            return Err(BuildspecError::new(
                format!("`{path}.commands` is required"),
                at,
            ));
        }
        warnings.push(Warning::new(
            format!("`{path}` has only `finally`: those are the phase's only commands"),
            at,
        ));
    }
    for (key, commands) in [("commands", &raw.commands), ("finally", &raw.finally)] {
        if commands.as_ref().is_some_and(|c| c.one_string) {
            warnings.push(Warning::new(
                format!(
                    "`{path}.{key}` is one string, not a list: it runs as one command, as on CodeBuild"
                ),
                notes.at(key),
            ));
        }
    }
    if name != PhaseName::Install && raw.runtime_versions.take().is_some() {
        warnings.push(Warning::new(
            format!(
                "`{path}.runtime-versions` is ignored: runtimes are selected in `install` only"
            ),
            notes.at("runtime-versions"),
        ));
    }
    raw.notes.finish(warnings)?;
    Ok(Phase {
        commands: raw.commands.map(|c| c.list).unwrap_or_default(),
        finally: raw.finally.map(|c| c.list).unwrap_or_default(),
        on_failure: raw.on_failure.map(|o| o.0),
        run_as: raw.run_as.map(|t| t.0),
        runtime_versions: pairs(raw.runtime_versions),
    })
}
