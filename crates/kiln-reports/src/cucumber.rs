//! Cucumber JSON (`CUCUMBERJSON`, `--format json` of cucumber-jvm, cucumber-js, cucumber-ruby).
//!
//! An array of features `{uri, name, elements: [{type, name, steps, before, after}]}`; each
//! scenario is a test case (prefix: the feature's name), and a `background` element's steps
//! belong to the scenario after it. Every step and hook has `result: {status, duration,
//! error_message}` with the duration in nanoseconds. The case's status is the worst of its
//! steps': `failed` → FAILED; `undefined`, `ambiguous` → ERROR; `skipped`, `pending` → SKIPPED;
//! all `passed` → SUCCEEDED; anything else, or no steps → UNKNOWN.

use std::io::Read;

use serde::Deserialize;

use crate::limits::read_json;
use crate::model::CaseSink;
use crate::{Limits, ReportError, TestCase, TestCaseStatus, TestReport};

#[derive(Deserialize)]
struct Feature {
    #[serde(default)]
    uri: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    elements: Vec<Element>,
}

#[derive(Deserialize)]
struct Element {
    #[serde(default)]
    name: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    before: Vec<Step>,
    #[serde(default)]
    steps: Vec<Step>,
    #[serde(default)]
    after: Vec<Step>,
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

pub(crate) fn parse(input: impl Read, limits: &Limits) -> Result<TestReport, ReportError> {
    let features: Vec<Feature> = read_json(input, limits)?;
    let mut sink = CaseSink::new(limits);
    for feature in features {
        let prefix = if feature.name.is_empty() {
            feature.uri
        } else {
            feature.name
        };
        let mut background: Vec<Step> = Vec::new();
        for element in feature.elements {
            if element.kind == "background" {
                background = element.steps;
                continue;
            }
            let steps = element
                .before
                .iter()
                .chain(&background)
                .chain(&element.steps)
                .chain(&element.after);
            let mut case = case_of(steps);
            case.prefix.clone_from(&prefix);
            case.name = element.name;
            background.clear();
            // JSON has no line to point at once parsed; 1 stands for "the document".
            sink.push(case, 1)?;
        }
    }
    Ok(sink.finish())
}

fn case_of<'s>(steps: impl Iterator<Item = &'s Step>) -> TestCase {
    let mut status: Option<TestCaseStatus> = None;
    let mut duration: u64 = 0;
    let mut message = None;
    for result in steps.filter_map(|s| s.result.as_ref()) {
        let step_status = match result.status.as_str() {
            "passed" => TestCaseStatus::Succeeded,
            "failed" => TestCaseStatus::Failed,
            "undefined" | "ambiguous" => TestCaseStatus::Error,
            "skipped" | "pending" => TestCaseStatus::Skipped,
            _ => TestCaseStatus::Unknown,
        };
        if status.is_none_or(|s| rank(step_status) > rank(s)) {
            status = Some(step_status);
            if let Some(text) = &result.error_message {
                message = Some(text.clone());
            }
        }
        let nanos = result
            .duration
            .filter(|d| d.is_finite() && *d > 0.0)
            .unwrap_or(0.0);
        // `as` saturates.
        duration = duration.saturating_add(nanos as u64);
    }
    TestCase {
        prefix: String::new(),
        name: String::new(),
        status: status.unwrap_or(TestCaseStatus::Unknown),
        duration_in_nano_seconds: duration,
        message,
        test_suite_name: None,
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
