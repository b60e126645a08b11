//! SimpleCov (`SIMPLECOV`, `coverage/.resultset.json`).
//!
//! `{"<command name>": {"coverage": {"<path>": FILE}, "timestamp": N}}`, one entry per test
//! command (merged here). FILE is Ruby's Coverage result: `{"lines": [hits|null…],
//! "branches": {"[:if, …]": {"[:then, …]": hits, …}}}` (SimpleCov ≥ 0.18), or the bare
//! `[hits|null…]` array of older versions. A line is relevant when not `null`, covered when
//! its hits > 0 in any command; a branch is covered when its hits > 0 in any command. With
//! branch coverage only, `lines` is `null`.
//!
//! Read as a stream (serde visitors): each file's lines and branches are merged as they are
//! read, so memory holds the merged state (one byte a line, the keys of each branch), counted
//! against `max_kept_bytes`, not the document.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::json::{Held, read_json};
use crate::limits::{KeptBytes, truncate};
use crate::model::{Counts, FileSink};
use crate::{CoverageReport, Limits, ReportError};

/// What a merged branch is counted as beyond its two keys: a map entry with its two heap
/// strings takes about this much (measured: 2 million branches, 256 MB peak).
const BRANCH_ENTRY_BYTES: usize = 128;

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

struct State<'l> {
    files: BTreeMap<String, Merged>,
    kept: KeptBytes,
    held: Held,
    limits: &'l Limits,
}

pub(crate) fn parse(input: impl Read, limits: &Limits) -> Result<CoverageReport, ReportError> {
    let mut state = State {
        files: BTreeMap::new(),
        kept: KeptBytes::new(limits),
        held: Held::default(),
        limits,
    };
    read_json(input, limits, Commands(&mut state)).map_err(|err| state.held.restore(err))?;
    let mut sink = FileSink::new(limits);
    for (path, merged) in state.files {
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

/// The top-level object: command name to `{coverage, timestamp}`.
struct Commands<'s, 'l>(&'s mut State<'l>);

impl<'de> DeserializeSeed<'de> for Commands<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Commands<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of test commands")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(Command(&mut *self.0))?;
        }
        Ok(())
    }
}

/// One command's `{coverage: {path: FILE}, timestamp}`.
struct Command<'s, 'l>(&'s mut State<'l>);

impl<'de> DeserializeSeed<'de> for Command<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Command<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a command object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "coverage" {
                map.next_value_seed(Coverage(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// A command's `coverage`: path to FILE.
struct Coverage<'s, 'l>(&'s mut State<'l>);

impl<'de> DeserializeSeed<'de> for Coverage<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Coverage<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of files")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let State {
            files,
            kept,
            held,
            limits,
        } = &mut *self.0;
        while let Some(path) = map.next_key::<String>()? {
            let path = truncate(path, limits.max_field_bytes);
            if !files.contains_key(&path) {
                if files.len() >= limits.max_items {
                    return Err(held.hold(ReportError::Limit {
                        line: 1,
                        message: format!("more than the limit of {} files", limits.max_items),
                    }));
                }
                kept.take(path.len(), 1).map_err(|err| held.hold(err))?;
            }
            let merged = files.entry(path).or_default();
            map.next_value_seed(File {
                merged,
                kept: &mut *kept,
                held: &mut *held,
            })?;
        }
        Ok(())
    }
}

/// One file's coverage, merged into what the earlier commands said of it.
struct File<'s> {
    merged: &'s mut Merged,
    kept: &'s mut KeptBytes,
    held: &'s mut Held,
}

impl File<'_> {
    /// Merges a `lines` array.
    fn lines<'de, A: SeqAccess<'de>>(&mut self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(hits) = seq.next_element::<LineHits>()? {
            if index == self.merged.lines.len() {
                self.kept.take(1, 1).map_err(|err| self.held.hold(err))?;
                self.merged.lines.push(None);
            }
            if let (LineHits::Hits(hits), Some(slot)) = (hits, self.merged.lines.get_mut(index)) {
                *slot = Some(slot.unwrap_or(false) || hits > 0);
            }
            index += 1;
        }
        Ok(())
    }

    /// Merges one condition's `{branch: hits}`.
    fn branches<'de, A: MapAccess<'de>>(
        &mut self,
        condition: &str,
        mut map: A,
    ) -> Result<(), A::Error> {
        while let Some((branch, hits)) = map.next_entry::<String, u64>()? {
            let key = (condition.to_owned(), branch);
            if !self.merged.branches.contains_key(&key) {
                let bytes = key.0.len() + key.1.len() + BRANCH_ENTRY_BYTES;
                self.kept
                    .take(bytes, 1)
                    .map_err(|err| self.held.hold(err))?;
            }
            *self.merged.branches.entry(key).or_default() |= hits > 0;
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for File<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for File<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of line hits or an object with lines and branches")
    }

    /// SimpleCov before 0.18: the bare lines array.
    fn visit_seq<A: SeqAccess<'de>>(mut self, seq: A) -> Result<(), A::Error> {
        self.lines(seq)
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "lines" => map.next_value_seed(Part::Lines(&mut self))?,
                "branches" => map.next_value_seed(Part::Branches(&mut self))?,
                _ => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        Ok(())
    }
}

/// A file's `lines` array or `branches` object (either may be `null`), or one condition's
/// branches inside `branches`.
enum Part<'f, 's> {
    Lines(&'f mut File<'s>),
    Branches(&'f mut File<'s>),
    Condition(&'f mut File<'s>, String),
}

impl<'de> DeserializeSeed<'de> for Part<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self {
            Self::Condition(..) => d.deserialize_map(self),
            _ => d.deserialize_option(self),
        }
    }
}

impl<'de> Visitor<'de> for Part<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Lines(_) => "an array of line hits or null",
            Self::Branches(_) => "an object of conditions or null",
            Self::Condition(..) => "an object of branch hits",
        })
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self {
            Self::Lines(_) => d.deserialize_seq(self),
            _ => d.deserialize_map(self),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        match self {
            Self::Lines(file) => file.lines(seq),
            _ => Err(de::Error::invalid_type(de::Unexpected::Seq, &self)),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        match self {
            Self::Branches(file) => {
                while let Some(condition) = map.next_key::<String>()? {
                    map.next_value_seed(Part::Condition(&mut *file, condition))?;
                }
                Ok(())
            }
            Self::Condition(file, condition) => file.branches(&condition, map),
            Self::Lines(_) => Err(de::Error::invalid_type(de::Unexpected::Map, &self)),
        }
    }
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

    #[test]
    fn branch_only_coverage_has_null_lines() {
        let json = r#"{"RSpec": {"coverage": {"/a.rb": {"lines": null,
   "branches": {"[:if, 0, 1, 0, 1, 5]": {"[:then, 1, 1, 0, 1, 5]": 2, "[:else, 2, 1, 0, 1, 5]": 0}}}}}}"#;
        let r = parse(json.as_bytes(), &Limits::default()).unwrap();
        let a = &r.files[0];
        assert_eq!((a.lines_covered, a.lines_missed), (0, 0));
        assert_eq!((a.branches_covered, a.branches_missed), (1, 1));
    }

    #[test]
    fn merged_state_counts_against_kept_bytes() {
        let lines = vec!["1"; 200].join(",");
        let json = format!("{{\n\"c\": {{\"coverage\": {{\"/a.rb\": [{lines}]}}}}}}");
        let limits = Limits {
            max_kept_bytes: 100,
            ..Limits::default()
        };
        let err = parse(json.as_bytes(), &limits).unwrap_err();
        assert!(matches!(err, ReportError::Limit { line: 2, .. }), "{err:?}");
        assert!(err.message().contains("limit of 100 bytes"), "{err:?}");
    }
}
