//! Cucumber JSON (`CUCUMBERJSON`, `--format json` of cucumber-jvm, cucumber-js, cucumber-ruby).
//!
//! An array of features `{uri, name, elements: [{type, name, steps, before, after}]}`; each
//! scenario is a test case (prefix: the feature's name), and a `background` element's steps
//! belong to the scenario after it. Every step and hook has `result: {status, duration,
//! error_message}` with the duration in nanoseconds. The case's status is the worst of its
//! steps': `failed` → FAILED; `undefined`, `ambiguous` → ERROR; `skipped`, `pending` → SKIPPED;
//! all `passed` → SUCCEEDED; anything else, or no steps → UNKNOWN.
//!
//! Read as a stream (serde visitors): each scenario's steps are folded into an [`Outcome`] as
//! they are read and the scenario becomes a case at once, so memory holds the kept cases, not
//! the document. A feature's `name` may follow its `elements`, so its cases get their prefix
//! when the feature ends.

use std::fmt;
use std::io::Read;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::json::{Held, read_json};
use crate::limits::truncate;
use crate::model::CaseSink;
use crate::{Limits, ReportError, TestCase, TestCaseStatus, TestReport};

pub(crate) fn parse(input: impl Read, limits: &Limits) -> Result<TestReport, ReportError> {
    let mut state = State {
        sink: CaseSink::new(limits),
        held: Held::default(),
        max_message: limits.max_message_bytes,
    };
    read_json(input, limits, Features(&mut state)).map_err(|err| state.held.restore(err))?;
    Ok(state.sink.finish())
}

struct State<'l> {
    sink: CaseSink<'l>,
    /// A limit error met inside a visitor, given back by `parse`.
    held: Held,
    max_message: usize,
}

impl State<'_> {
    /// The line is unknown inside a visitor; `Held::restore` puts serde_json's in.
    fn push<E: de::Error>(&mut self, case: TestCase) -> Result<(), E> {
        match self.sink.push(case, 1) {
            Ok(()) => Ok(()),
            Err(err) => Err(self.held.hold(err)),
        }
    }
}

/// The worst status of some steps and hooks so far, its step's `error_message`, and the sum of
/// their durations.
#[derive(Default)]
struct Outcome {
    status: Option<TestCaseStatus>,
    duration: u64,
    message: Option<String>,
}

impl Outcome {
    /// Adds what comes after: a strictly worse status replaces this one (the first of equals
    /// stays), with its message.
    fn then(mut self, next: Outcome) -> Outcome {
        if let Some(status) = next.status
            && self.status.is_none_or(|s| rank(status) > rank(s))
        {
            self.status = Some(status);
            self.message = next.message;
        }
        self.duration = self.duration.saturating_add(next.duration);
        self
    }

    fn add(&mut self, result: StepResult, max_message: usize) {
        let status = match result.status.as_str() {
            "passed" => TestCaseStatus::Succeeded,
            "failed" => TestCaseStatus::Failed,
            "undefined" | "ambiguous" => TestCaseStatus::Error,
            "skipped" | "pending" => TestCaseStatus::Skipped,
            _ => TestCaseStatus::Unknown,
        };
        let nanos = result
            .duration
            .filter(|d| d.is_finite() && *d > 0.0)
            .unwrap_or(0.0);
        let step = Outcome {
            status: Some(status),
            // `as` saturates.
            duration: nanos as u64,
            message: result.error_message.map(|m| truncate(m, max_message)),
        };
        *self = std::mem::take(self).then(step);
    }
}

fn rank(status: TestCaseStatus) -> u8 {
    match status {
        TestCaseStatus::Succeeded => 0,
        TestCaseStatus::Skipped => 1,
        TestCaseStatus::Unknown => 2,
        TestCaseStatus::Error => 3,
        TestCaseStatus::Failed => 4,
    }
}

#[derive(Deserialize)]
struct Step {
    #[serde(default)]
    result: Option<StepResult>,
}

#[derive(Deserialize)]
struct StepResult {
    #[serde(default)]
    status: String,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    error_message: Option<String>,
}

/// The top-level array of features.
struct Features<'s, 'l>(&'s mut State<'l>);

impl<'de> DeserializeSeed<'de> for Features<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Features<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of features")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Feature(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

/// One feature `{uri, name, elements}`.
struct Feature<'s, 'l>(&'s mut State<'l>);

impl<'de> DeserializeSeed<'de> for Feature<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Feature<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a feature object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let state = self.0;
        let first_case = state.sink.len();
        let (mut uri, mut name) = (String::new(), String::new());
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "uri" => uri = map.next_value()?,
                "name" => name = map.next_value()?,
                "elements" => map.next_value_seed(Elements(&mut *state))?,
                _ => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        let prefix = if name.is_empty() { uri } else { name };
        state
            .sink
            .set_prefixes(first_case, prefix, 1)
            .map_err(|err| state.held.hold(err))
    }
}

/// A feature's elements: scenarios, and the backgrounds whose steps belong to the next one.
struct Elements<'s, 'l>(&'s mut State<'l>);

impl<'de> DeserializeSeed<'de> for Elements<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Elements<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of scenarios")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut background = Outcome::default();
        while let Some(element) = seq.next_element_seed(Element(self.0.max_message))? {
            if element.kind == "background" {
                background = element.steps;
                continue;
            }
            let outcome = element
                .before
                .then(std::mem::take(&mut background))
                .then(element.steps)
                .then(element.after);
            self.0.push(TestCase {
                prefix: String::new(),
                name: element.name,
                status: outcome.status.unwrap_or(TestCaseStatus::Unknown),
                duration_in_nano_seconds: outcome.duration,
                message: outcome.message,
                test_suite_name: None,
                test_raw_data_path: None,
            })?;
        }
        Ok(())
    }
}

/// One element, its step lists folded as they are read.
struct ElementOutcome {
    name: String,
    kind: String,
    before: Outcome,
    steps: Outcome,
    after: Outcome,
}

struct Element(usize);

impl<'de> DeserializeSeed<'de> for Element {
    type Value = ElementOutcome;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<ElementOutcome, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Element {
    type Value = ElementOutcome;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scenario object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ElementOutcome, A::Error> {
        let mut element = ElementOutcome {
            name: String::new(),
            kind: String::new(),
            before: Outcome::default(),
            steps: Outcome::default(),
            after: Outcome::default(),
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "name" => element.name = map.next_value()?,
                "type" => element.kind = map.next_value()?,
                "before" => element.before = map.next_value_seed(Steps(self.0))?,
                "steps" => element.steps = map.next_value_seed(Steps(self.0))?,
                "after" => element.after = map.next_value_seed(Steps(self.0))?,
                _ => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        Ok(element)
    }
}

/// A list of steps or hooks, folded into one [`Outcome`].
struct Steps(usize);

impl<'de> DeserializeSeed<'de> for Steps {
    type Value = Outcome;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Outcome, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Steps {
    type Value = Outcome;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of steps")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Outcome, A::Error> {
        let mut outcome = Outcome::default();
        while let Some(step) = seq.next_element::<Step>()? {
            if let Some(result) = step.result {
                outcome.add(result, self.0);
            }
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_with_backgrounds() {
        let json = r#"[{"uri":"f.feature","name":"Feat","elements":[
 {"type":"background","steps":[{"result":{"status":"passed","duration":5}}]},
 {"type":"scenario","name":"A","steps":[{"result":{"status":"failed","duration":7,"error_message":"boom"}},{"result":{"status":"skipped"}}]},
 {"type":"scenario","name":"B","steps":[{"result":{"status":"undefined"}}]},
 {"type":"scenario","name":"C","steps":[]}]}]"#;
        let r = parse(json.as_bytes(), &Limits::default()).unwrap();
        let c = &r.cases;
        assert_eq!(
            (c[0].prefix.as_str(), c[0].status),
            ("Feat", TestCaseStatus::Failed)
        );
        assert_eq!(c[0].duration_in_nano_seconds, 12);
        assert_eq!(c[0].message.as_deref(), Some("boom"));
        assert_eq!(c[1].status, TestCaseStatus::Error);
        assert_eq!(c[2].status, TestCaseStatus::Unknown);
    }

    #[test]
    fn limits_stop_the_stream_with_their_line() {
        let json = "[{\"elements\": [\n{\"name\": \"a\"},\n{\"name\": \"b\"},\n{\"name\": \"c\"}\n],\n\"name\": \"Feature\"}]";
        let limits = Limits {
            max_items: 2,
            ..Limits::default()
        };
        // The line is where serde_json stopped: past the third scenario, at the `]`.
        let err = parse(json.as_bytes(), &limits).unwrap_err();
        assert!(matches!(err, ReportError::Limit { line: 5, .. }), "{err:?}");
        assert!(err.message().contains("limit of 2 test cases"), "{err:?}");
        // The feature's name comes last: its three copies cross 2 + 3 × 7 bytes.
        let limits = Limits {
            max_kept_bytes: 20,
            ..Limits::default()
        };
        let err = parse(json.as_bytes(), &limits).unwrap_err();
        assert!(matches!(err, ReportError::Limit { line: 6, .. }), "{err:?}");
        let ok = parse(json.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(ok.cases[2].prefix, "Feature");
    }

    #[test]
    fn errors_have_lines() {
        let err = parse(&b"[\n{\"elements\": 3}]"[..], &Limits::default()).unwrap_err();
        assert!(
            matches!(err, ReportError::Invalid { line: 2, .. }),
            "{err:?}"
        );
        let err = parse(&b"[\n\n{"[..], &Limits::default()).unwrap_err();
        assert!(
            matches!(err, ReportError::Syntax { line: 3, .. }),
            "{err:?}"
        );
    }
}
