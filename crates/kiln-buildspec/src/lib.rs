//! CodeBuild buildspec parsing: untrusted YAML in, a validated [`Buildspec`] out.
//!
//! ```
//! let spec = kiln_buildspec::parse("version: 0.2\nphases:\n  build:\n    commands:\n      - make\n")?;
//! for (phase, commands) in spec.phases.iter() {
//!     println!("{} {:?}", phase.build_phase_type(), commands.map(|p| &p.commands));
//! }
//! # Ok::<(), kiln_buildspec::BuildspecError>(())
//! ```

mod document;
mod error;
mod model;
mod section;
mod values;
mod warning;

pub use error::{BuildspecError, Located, Position, YAML_FILE_ERROR};
pub use model::{
    ArtifactsSpec, Buildspec, CacheAction, CacheSpec, OnFailure, Phase, PhaseName, Phases,
    ProxySpec, ReportSpec, Shell, Version,
};
pub use warning::Warning;

/// Largest buildspec accepted; real ones are a few KiB.
pub const MAX_BUILDSPEC_BYTES: usize = 1024 * 1024;

/// Parses and validates a buildspec (one YAML document). What Kiln interpreted or ignores is
/// in [`Buildspec::warnings`].
pub fn parse(yaml: &str) -> Result<Buildspec, BuildspecError> {
    if yaml.len() > MAX_BUILDSPEC_BYTES {
        return Err(BuildspecError::new(
            format!(
                "buildspec is {} bytes, more than the limit of {MAX_BUILDSPEC_BYTES}",
                yaml.len()
            ),
            None,
        ));
    }
    let raw: serde_saphyr::Spanned<document::RawBuildspec> =
        serde_saphyr::from_str_with_options(yaml, parser_options())?;
    document::validate(raw)
}

/// Limits sized for buildspecs, far below the parser's general-purpose defaults, so hostile
/// input (alias bombs, deep nesting, huge node counts) fails fast.
fn parser_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: 1,
            max_depth: 32,
            flow_nesting_limit: 32,
            max_nodes: 100_000,
            max_events: 250_000,
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_merge_keys: 1_000,
            max_recorded_anchor_events: 20_000,
            max_recorded_anchor_bytes: MAX_BUILDSPEC_BYTES,
            max_total_scalar_bytes: 2 * MAX_BUILDSPEC_BYTES,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 20_000,
            max_replay_stack_depth: 16,
        },
        // Sections and mappings refuse a repeated key themselves, with its position; `batch`,
        // which Kiln does not run, may repeat keys.
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        with_snippet: false,
    }
}

#[cfg(test)]
mod tests;
