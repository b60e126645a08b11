//! NUnit 2 XML (`NUNITXML`, `<test-results>`) and NUnit 3 XML (`NUNIT3XML`, `<test-run>`).
//!
//! Both: `<test-suite name>`* (nested) › `<test-case>` › `<failure>` › `<message>`,
//! `<stack-trace>`, or `<reason>` › `<message>` for skipped cases. NUnit 2's case has the full
//! name in `name`, `result`, `executed` and `time`; NUnit 3's has `name`, `fullname`,
//! `classname`, `result` with `label`, and `duration`.

use std::io::Read;

use crate::model::{CaseSink, join_message};
use crate::xml::{Attrs, Node, XmlStream, seconds_to_nanos};
use crate::{Limits, ReportError, TestCase, TestCaseStatus, TestReport};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    Two,
    Three,
}

pub(crate) fn parse(
    input: impl Read,
    limits: &Limits,
    version: Version,
) -> Result<TestReport, ReportError> {
    let mut xml = XmlStream::new(input, limits);
    let mut sink = CaseSink::new(limits);
    let mut suites: Vec<(usize, String)> = Vec::new();
    let mut at_root = true;
    loop {
        match xml.next()? {
            Node::Open { name, attrs } => {
                if at_root {
                    let root = match version {
                        Version::Two => "test-results",
                        Version::Three => "test-run",
                    };
                    xml.expect_root(&name, &[root])?;
                    at_root = false;
                }
                match name.as_str() {
                    "test-suite" => suites.push((xml.depth(), attrs.str("name").to_owned())),
                    "test-case" => {
                        let line = xml.line();
                        let message = read_message(&mut xml)?;
                        let (prefix, name) = prefix_and_name(&attrs, version);
                        let case = TestCase {
                            prefix,
                            name,
                            status: status(&attrs, version),
                            duration_in_nano_seconds: seconds_to_nanos(match version {
                                Version::Two => attrs.str("time"),
                                Version::Three => attrs.str("duration"),
                            }),
                            message,
                            test_suite_name: suites.last().map(|(_, n)| n.clone()),
                            test_raw_data_path: None,
                        };
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

fn status(attrs: &Attrs, version: Version) -> TestCaseStatus {
    use TestCaseStatus as S;
    match (version, attrs.str("result"), attrs.str("label")) {
        (Version::Two, "Success", _) => S::Succeeded,
        (Version::Two, "Failure", _) => S::Failed,
        (Version::Two, "Error" | "NotRunnable", _) => S::Error,
        (Version::Two, "Ignored" | "Skipped", _) => S::Skipped,
        // NUnit 2.2 writes no `result`, only `executed` and `success`.
        (Version::Two, "", _) if attrs.get("executed") == Some("False") => S::Skipped,
        (Version::Two, "", _) if attrs.get("success") == Some("True") => S::Succeeded,
        (Version::Two, "", _) if attrs.get("success") == Some("False") => S::Failed,
        (Version::Three, "Passed" | "Warning", _) => S::Succeeded,
        (Version::Three, "Failed", "Error" | "Invalid") => S::Error,
        (Version::Three, "Failed", _) => S::Failed,
        (Version::Three, "Skipped", _) => S::Skipped,
        _ => S::Unknown,
    }
}

/// NUnit 3 names the class; otherwise the full name `Ns.Class.Method(args)` is split at the
/// last dot before the arguments.
fn prefix_and_name(attrs: &Attrs, version: Version) -> (String, String) {
    if version == Version::Three
        && let Some(class) = attrs.get("classname")
    {
        return (class.to_owned(), attrs.str("name").to_owned());
    }
    let full = match version {
        Version::Two => attrs.str("name"),
        Version::Three => attrs.get("fullname").unwrap_or(attrs.str("name")),
    };
    let args_at = full.find('(').unwrap_or(full.len());
    match full[..args_at].rfind('.') {
        Some(dot) => (full[..dot].to_owned(), full[dot + 1..].to_owned()),
        None => (String::new(), full.to_owned()),
    }
}

/// Reads the `<test-case>` just opened through its end: the failure's message and stack trace,
/// or the reason a case was skipped.
fn read_message<R: Read>(xml: &mut XmlStream<'_, R>) -> Result<Option<String>, ReportError> {
    let max = xml.limits().max_message_bytes;
    let case_depth = xml.depth();
    let (mut message, mut trace) = (String::new(), String::new());
    loop {
        match xml.next()? {
            Node::Open { name, .. } => match name.as_str() {
                "message" => message = xml.text_of_element(max)?,
                "stack-trace" => trace = xml.text_of_element(max)?,
                "failure" | "reason" => {}
                _ => xml.skip_element()?,
            },
            Node::Close if xml.depth() < case_depth => break,
            _ => {}
        }
    }
    Ok(join_message(Some(&message), &trace))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_full_names() {
        let xml = r#"<test-results><test-suite name="Fixture"><results>
<test-case name="Ns.Fixture.Adds(1.5,&quot;a.b&quot;)" executed="True" result="Failure" time="0.25">
<failure><message><![CDATA[Expected 2]]></message><stack-trace>at Ns.Fixture</stack-trace></failure>
</test-case><test-case name="Plain" executed="False" result="Ignored"><reason><message>later</message></reason></test-case>
</results></test-suite></test-results>"#;
        let r = parse(xml.as_bytes(), &Limits::default(), Version::Two).unwrap();
        let c = &r.cases[0];
        assert_eq!(
            (c.prefix.as_str(), c.name.as_str()),
            ("Ns.Fixture", "Adds(1.5,\"a.b\")")
        );
        assert_eq!(c.message.as_deref(), Some("Expected 2\nat Ns.Fixture"));
        assert_eq!(c.test_suite_name.as_deref(), Some("Fixture"));
        assert_eq!(r.cases[1].status, TestCaseStatus::Skipped);
        assert_eq!(r.cases[1].message.as_deref(), Some("later"));
        assert!(parse(xml.as_bytes(), &Limits::default(), Version::Three).is_err());
    }
}
