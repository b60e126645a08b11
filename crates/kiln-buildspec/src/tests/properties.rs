//! Property tests of [`parse`] on hostile YAML: mutated real buildspecs, arbitrary text,
//! structured documents over the buildspec's own keys, and inputs built to be expensive (alias
//! fan-out, deep nesting, long sequences) up to [`MAX_BUILDSPEC_BYTES`]. Each runs a fixed
//! number of cases (failures are kept in `proptest-regressions/` and replayed first); no case
//! may panic or take longer than [`CASE_TIME_LIMIT`].

use std::time::Duration;

use kiln_hostile_input::{config, edits, mutated_text, timed_as};
use proptest::prelude::*;
use serde_json::{Map, Value};

use super::*;

/// Far above what a case needs (a 1 MiB document parses in well under this in a debug build);
/// a case this slow means super-linear work on hostile input.
const CASE_TIME_LIMIT: Duration = Duration::from_secs(3);

/// Parses `yaml`, failing the case when it took longer than [`CASE_TIME_LIMIT`].
fn timed_parse(yaml: &str) -> Result<Result<Buildspec, BuildspecError>, TestCaseError> {
    timed_as(
        format_args!("{} bytes", yaml.len()),
        CASE_TIME_LIMIT,
        || parse(yaml),
    )
}

/// The bytes mutations of a valid buildspec insert and replace with: those that matter to YAML.
const ALPHABET: &[u8] = b" \t\n:-[]{}&*!|>'\"#%@`,?0aZ\\";

/// The keys a buildspec has, at any level, so generated documents reach deep into validation.
const KEYS: &[&str] = &[
    "version",
    "run-as",
    "env",
    "shell",
    "variables",
    "parameter-store",
    "exported-variables",
    "secrets-manager",
    "git-credential-helper",
    "proxy",
    "batch",
    "phases",
    "install",
    "pre_build",
    "build",
    "post_build",
    "commands",
    "finally",
    "on-failure",
    "runtime-versions",
    "reports",
    "files",
    "base-directory",
    "discard-paths",
    "file-format",
    "artifacts",
    "name",
    "secondary-artifacts",
    "enable-symlinks",
    "s3-prefix",
    "exclude-paths",
    "cache",
    "paths",
    "key",
    "action",
    // Other cases and unknown keys, read leniently.
    "Commands",
    "PHASES",
    "timeout",
];

/// Scalars a buildspec holds, and ones it must refuse.
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::from(0.2)),
        Just(Value::from("0.2")),
        Just(Value::from(0.1)),
        Just(Value::from("RETRY-3-^err.*$")),
        Just(Value::from("ABORT")),
        Just(Value::from("bash")),
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,40}".prop_map(Value::from),
    ]
}

/// Nested maps and lists over [`KEYS`], at most `depth` deep.
fn document(depth: u32) -> impl Strategy<Value = Value> {
    scalar().prop_recursive(depth, 256, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..8).prop_map(|pairs| {
                Value::Object(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

/// A document made to be expensive: `fan_out` aliases per level over `levels` levels, nesting
/// `depth` deep, and a sequence of `items` commands of `width` bytes, capped at the size limit.
fn expensive(levels: usize, fan_out: usize, depth: usize, items: usize, width: usize) -> String {
    let mut yaml = String::from("version: 0.2\nbatch:\n  a0: &a0 [lol]\n");
    for level in 1..levels {
        let refs = vec![format!("*a{}", level - 1); fan_out].join(", ");
        yaml.push_str(&format!("  a{level}: &a{level} [{refs}]\n"));
    }
    yaml.push_str(&format!(
        "  deep: {}{}\nphases:\n  build:\n    commands:\n",
        "[".repeat(depth),
        "]".repeat(depth)
    ));
    let command = format!("      - echo {}\n", "x".repeat(width));
    let room = MAX_BUILDSPEC_BYTES.saturating_sub(yaml.len()) / command.len();
    for _ in 0..items.min(room) {
        yaml.push_str(&command);
    }
    yaml
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn mutated_buildspecs_never_panic(
        edits in edits(1..16),
    ) {
        timed_parse(&mutated_text(FULL_SYNTAX, ALPHABET, &edits))?.ok();
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,2000}") {
        timed_parse(&text)?.ok();
    }

    #[test]
    fn structured_documents_never_panic(doc in document(6)) {
        // JSON is YAML: flow style exercises the same deserializer as block style.
        let yaml = doc.to_string();
        timed_parse(&yaml)?.ok();
        if let Value::Object(map) = &doc {
            // The same document under a valid header, so it reaches phase validation.
            let mut with_header = map.clone();
            with_header.insert("version".into(), Value::from(0.2));
            timed_parse(&Value::Object(with_header).to_string())?.ok();
        }
    }

    #[test]
    fn expensive_documents_end_fast(
        levels in 1usize..12,
        fan_out in 1usize..12,
        depth in 0usize..200,
        items in 0usize..200_000,
        width in 0usize..64,
    ) {
        let yaml = expensive(levels, fan_out, depth, items, width);
        prop_assert!(yaml.len() <= MAX_BUILDSPEC_BYTES);
        timed_parse(&yaml)?.ok();
    }
}
