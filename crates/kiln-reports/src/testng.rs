//! TestNG XML (`TESTNGXML`, `testng-results.xml`).
//!
//! `<testng-results>` › `<suite name>` › `<test name>` › `<class name>` › `<test-method name
//! status duration-ms is-config>` › `<exception class>` › `<message>`, `<full-stacktrace>`.
//! Configuration methods (`is-config="true"`: @BeforeMethod and the like) are not test cases.

use std::io::Read;

use crate::model::{CaseSink, join_message};
use crate::xml::{Attrs, Node, XmlStream};
use crate::{Limits, ReportError, TestCase, TestCaseStatus, TestReport};

pub(crate) fn parse(input: impl Read, limits: &Limits) -> Result<TestReport, ReportError> {
    let mut xml = XmlStream::new(input, limits);
    let mut sink = CaseSink::new(limits);
    let mut test_name = String::new();
    let mut class_name = String::new();
    let mut at_root = true;
    loop {
        match xml.next()? {
            Node::Open { name, attrs } => {
                if at_root {
                    xml.expect_root(&name, &["testng-results"])?;
                    at_root = false;
                }
                match name.as_str() {
                    "test" => attrs.str("name").clone_into(&mut test_name),
                    "class" => attrs.str("name").clone_into(&mut class_name),
                    "test-method" if attrs.get("is-config") == Some("true") => {
                        xml.skip_element()?
                    }
                    "test-method" => {
                        let line = xml.line();
                        let message = read_exception(&mut xml)?;
                        let case = TestCase {
                            prefix: class_name.clone(),
                            name: attrs.str("name").to_owned(),
                            status: status(&attrs),
                            duration_in_nano_seconds: millis_to_nanos(attrs.str("duration-ms")),
                            message,
                            test_suite_name: Some(test_name.clone()).filter(|n| !n.is_empty()),
                            test_raw_data_path: None,
                        };
                        sink.push(case, line)?;
                    }
                    _ => {}
                }
            }
            Node::Eof => return Ok(sink.finish()),
            Node::Close | Node::Text(_) => {}
        }
    }
}

fn status(attrs: &Attrs) -> TestCaseStatus {
    match attrs.str("status") {
        "PASS" => TestCaseStatus::Succeeded,
        "FAIL" => TestCaseStatus::Failed,
        "SKIP" => TestCaseStatus::Skipped,
        _ => TestCaseStatus::Unknown,
    }
}

/// Reads the `<test-method>` just opened through its end; its exception as the message: the
/// exception class and message, or the stack trace when there is no message.
fn read_exception<R: Read>(xml: &mut XmlStream<'_, R>) -> Result<Option<String>, ReportError> {
    let max = xml.limits().max_message_bytes;
    let method_depth = xml.depth();
    let (mut class, mut message, mut trace) = (None, String::new(), String::new());
    loop {
        match xml.next()? {
            Node::Open { name, attrs } => match name.as_str() {
                "exception" => class = attrs.get("class").map(str::to_owned),
                "message" => message = xml.text_of_element(max)?,
                "full-stacktrace" => trace = xml.text_of_element(max)?,
                _ => {}
            },
            Node::Close if xml.depth() < method_depth => break,
            _ => {}
        }
    }
    let body = if message.trim().is_empty() {
        trace
    } else {
        message
    };
    Ok(join_message(class.as_deref(), &body))
}

fn millis_to_nanos(text: &str) -> u64 {
    text.trim()
        .parse::<u64>()
        .map_or(0, |ms| ms.saturating_mul(1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_config_methods() {
        let xml = r#"<testng-results><suite name="s"><test name="t"><class name="a.B">
<test-method status="PASS" is-config="true" name="setUp" duration-ms="1"/>
<test-method status="FAIL" name="m" duration-ms="3"><exception class="java.lang.AssertionError">
<message><![CDATA[expected [1] but found [2]]]></message></exception></test-method>
</class></test></suite></testng-results>"#;
        let r = parse(xml.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(r.cases.len(), 1);
        let c = &r.cases[0];
        assert_eq!((c.prefix.as_str(), c.name.as_str()), ("a.B", "m"));
        assert_eq!(c.duration_in_nano_seconds, 3_000_000);
        assert_eq!(
            c.message.as_deref(),
            Some("java.lang.AssertionError\nexpected [1] but found [2]")
        );
    }
}
