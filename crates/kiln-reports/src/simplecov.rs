//! SimpleCov (`SIMPLECOV`, `coverage/.resultset.json`).
//!
//! `{"<command name>": {"coverage": {"<path>": FILE}, "timestamp": N}}`, one entry per test
//! command (merged here). FILE is Ruby's Coverage result: `{"lines": [hits|null…],
//! "branches": {"[:if, …]": {"[:then, …]": hits, …}}}` (SimpleCov ≥ 0.18), or the bare
//! `[hits|null…]` array of older versions. A line is relevant when not `null`, covered when
//! its hits > 0 in any command; a branch is covered when its hits > 0 in any command.

use std::collections::BTreeMap;
use std::io::Read;

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::limits::read_json;
use crate::model::{Counts, FileSink};
use crate::{CoverageReport, Limits, ReportError};

#[derive(Deserialize)]
struct Command {
    #[serde(default)]
    coverage: BTreeMap<String, FileCoverage>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FileCoverage {
    Lines(Vec<LineHits>),
    Detailed {
        #[serde(default)]
        lines: Vec<LineHits>,
        #[serde(default)]
        branches: BTreeMap<String, BTreeMap<String, u64>>,
    },
}

/// A line's hits; `null` (not code) and anything unexpected ("ignored") are not relevant.
#[derive(Deserialize)]
#[serde(untagged)]
enum LineHits {
    Hits(u64),
    NotRelevant(IgnoredAny),
}

/// One file merged over the commands.
#[derive(Default)]
struct Merged {
    /// Per line: `None` not relevant, `Some(covered)`.
    lines: Vec<Option<bool>>,
    /// (condition, branch) to covered.
    branches: BTreeMap<(String, String), bool>,
}

pub(crate) fn parse(input: impl Read, limits: &Limits) -> Result<CoverageReport, ReportError> {
    let commands: BTreeMap<String, Command> = read_json(input, limits)?;
    let mut files: BTreeMap<String, Merged> = BTreeMap::new();
    for command in commands.into_values() {
        for (path, coverage) in command.coverage {
            let merged = files.entry(path).or_default();
            let (lines, branches) = match coverage {
                FileCoverage::Lines(lines) => (lines, BTreeMap::new()),
                FileCoverage::Detailed { lines, branches } => (lines, branches),
            };
            if merged.lines.len() < lines.len() {
                merged.lines.resize(lines.len(), None);
            }
            for (slot, hits) in merged.lines.iter_mut().zip(lines) {
                if let LineHits::Hits(hits) = hits {
                    *slot = Some(slot.unwrap_or(false) || hits > 0);
                }
            }
            for (condition, outcomes) in branches {
                for (branch, hits) in outcomes {
                    *merged
                        .branches
                        .entry((condition.clone(), branch))
                        .or_default() |= hits > 0;
                }
            }
        }
    }
    let mut sink = FileSink::new(limits);
    for (path, merged) in files {
        let count = |covered: bool, of: &mut dyn Iterator<Item = bool>| {
            of.filter(|c| *c == covered).count() as u64
        };
        let counts = Counts {
            lines_covered: count(true, &mut merged.lines.iter().flatten().copied()),
            lines_missed: count(false, &mut merged.lines.iter().flatten().copied()),
            branches_covered: count(true, &mut merged.branches.values().copied()),
            branches_missed: count(false, &mut merged.branches.values().copied()),
        };
        // JSON has no line to point at once parsed; 1 stands for "the document".
        sink.add(path, &counts, 1)?;
    }
    Ok(sink.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_commands_and_both_shapes() {
        let json = r#"{
 "RSpec": {"coverage": {"/a.rb": {"lines": [1, null, 0, 0],
   "branches": {"[:if, 0, 1, 0, 1, 5]": {"[:then, 1, 1, 0, 1, 5]": 2, "[:else, 2, 1, 0, 1, 5]": 0}}}},
   "timestamp": 1},
 "Minitest": {"coverage": {"/a.rb": {"lines": [0, null, 1, 0, "ignored"]}, "/b.rb": [null, 3]}, "timestamp": 2}
}"#;
        let r = parse(json.as_bytes(), &Limits::default()).unwrap();
        let a = &r.files[0];
        assert_eq!((a.lines_covered, a.lines_missed), (2, 1));
        assert_eq!((a.branches_covered, a.branches_missed), (1, 1));
        assert_eq!((r.files[1].lines_covered, r.files[1].lines_missed), (1, 0));
        assert_eq!(r.summary.line_coverage_percentage, 75.0);
    }
}
