//! JUnit XML (`JUNITXML`): Surefire/JUnit 5, pytest, jest-junit, cargo-nextest and others.
//!
//! `<testsuites>`? › `<testsuite name>`+ (nested suites allowed) › `<testcase classname name
//! time>` › `<failure message>` | `<error message>` | `<skipped message>`; anything else inside a
//! case (`system-out`, `properties`, Surefire's `flakyFailure`/`rerunFailure`) is skipped.

use std::io::Read;

use crate::model::{CaseSink, join_message};
use crate::xml::{Attrs, Node, XmlStream, seconds_to_nanos};
use crate::{Limits, ReportError, TestCase, TestCaseStatus, TestReport};

pub(crate) fn parse(input: impl Read, limits: &Limits) -> Result<TestReport, ReportError> {
    let mut xml = XmlStream::new(input, limits);
    let mut sink = CaseSink::new(limits);
    // (depth, name) of the open <testsuite> elements.
    let mut suites: Vec<(usize, String)> = Vec::new();
    let mut at_root = true;
    loop {
        match xml.next()? {
            Node::Open { name, attrs } => {
                if at_root {
                    xml.expect_root(&name, &["testsuites", "testsuite"])?;
                    at_root = false;
                }
                match name.as_str() {
                    "testsuite" => suites.push((xml.depth(), attrs.str("name").to_owned())),
                    "testcase" => {
                        let line = xml.line();
                        let suite = suites.last().map(|(_, n)| n.as_str());
                        let case = read_case(&mut xml, &attrs, suite)?;
                        sink.push(case, line)?;
                    }
                    _ => {}
                }
            }
            Node::Close => {
                while suites.last().is_some_and(|(d, _)| *d > xml.depth()) {
                    suites.pop();
                }
            }
            Node::Text(_) => {}
            Node::Eof => return Ok(sink.finish()),
        }
    }
}

/// Reads the case whose `<testcase>` was just opened, through its end.
fn read_case<R: Read>(
    xml: &mut XmlStream<'_, R>,
    attrs: &Attrs,
    suite: Option<&str>,
) -> Result<TestCase, ReportError> {
    let suite = suite.filter(|s| !s.is_empty()).map(str::to_owned);
    let prefix = attrs
        .get("classname")
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .or_else(|| suite.clone())
        .unwrap_or_default();
    let mut status = TestCaseStatus::Succeeded;
    let mut message = None;
    let case_depth = xml.depth();
    loop {
        match xml.next()? {
            Node::Open { name, attrs } => {
                let outcome = match name.as_str() {
                    "failure" => Some(TestCaseStatus::Failed),
                    "error" => Some(TestCaseStatus::Error),
                    "skipped" => Some(TestCaseStatus::Skipped),
                    _ => None,
                };
                let Some(outcome) = outcome else {
                    xml.skip_element()?;
                    continue;
                };
                let body = xml.text_of_element(xml.limits().max_message_bytes)?;
                // The worst outcome wins: a case with an error and a failure is an ERROR.
                if severity(outcome) > severity(status) {
                    status = outcome;
                    message = join_message(attrs.get("message"), &body);
                }
            }
            Node::Close if xml.depth() < case_depth => break,
            _ => {}
        }
    }
    Ok(TestCase {
        prefix,
        name: attrs.str("name").to_owned(),
        status,
        duration_in_nano_seconds: seconds_to_nanos(attrs.str("time")),
        message,
        test_suite_name: suite,
        test_raw_data_path: None,
    })
}

fn severity(status: TestCaseStatus) -> u8 {
    match status {
        TestCaseStatus::Succeeded | TestCaseStatus::Unknown => 0,
        TestCaseStatus::Skipped => 1,
        TestCaseStatus::Failed => 2,
        TestCaseStatus::Error => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<?xml version="1.0"?>
<testsuites>
  <testsuite name="outer">
    <testsuite name="inner">
      <testcase classname="a.B" name="ok" time="0.5"/>
      <testcase name="bad" time="1"><failure message="boom">trace
line</failure><system-out>noise</system-out></testcase>
    </testsuite>
    <testcase classname="c" name="skip"><skipped/></testcase>
    <testcase classname="c" name="err"><failure message="f"/><error message="e">x</error></testcase>
  </testsuite>
</testsuites>"#;

    #[test]
    fn parses_cases_and_suites() {
        let r = parse(SAMPLE.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(r.summary.total, 4);
        let c = &r.cases;
        assert_eq!(
            (c[0].prefix.as_str(), c[0].status),
            ("a.B", TestCaseStatus::Succeeded)
        );
        assert_eq!(c[0].duration_in_nano_seconds, 500_000_000);
        assert_eq!(c[1].prefix, "inner");
        assert_eq!(c[1].message.as_deref(), Some("boom\ntrace\nline"));
        assert_eq!(c[2].test_suite_name.as_deref(), Some("outer"));
        assert_eq!(c[2].status, TestCaseStatus::Skipped);
        assert_eq!(c[3].status, TestCaseStatus::Error);
        assert_eq!(c[3].message.as_deref(), Some("e\nx"));
    }

    #[test]
    fn wrong_root_is_invalid() {
        let err = parse(&b"\n<testng-results/>"[..], &Limits::default()).unwrap_err();
        assert!(
            matches!(err, ReportError::Invalid { line: 2, .. }),
            "{err:?}"
        );
    }
}
