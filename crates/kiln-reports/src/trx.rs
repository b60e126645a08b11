//! Visual Studio TRX (`VISUALSTUDIOTRX`, `dotnet test --logger trx`).
//!
//! `<TestRun>` › `<Results>` › `<UnitTestResult testId testName outcome duration>` › `<Output>` ›
//! `<ErrorInfo>` › `<Message>`, `<StackTrace>`; and `<TestDefinitions>` › `<UnitTest id>` ›
//! `<TestMethod className>`, which gives the class. Results come before definitions in the file,
//! so the classes are filled in at the end. Data-driven results nest `<InnerResults>`; only the
//! outer (overall) result counts.

use std::collections::HashMap;
use std::io::Read;

use crate::limits::truncate;
use crate::model::{CaseSink, join_message};
use crate::xml::{Node, XmlStream};
use crate::{Limits, ReportError, TestCase, TestCaseStatus, TestReport};

pub(crate) fn parse(input: impl Read, limits: &Limits) -> Result<TestReport, ReportError> {
    let mut xml = XmlStream::new(input, limits);
    let mut sink = CaseSink::new(limits);
    // The testId of each case, in order, and the class of each test definition.
    let mut test_ids: Vec<String> = Vec::new();
    let mut classes: HashMap<String, String> = HashMap::new();
    let mut definition_id: Option<String> = None;
    let mut at_root = true;
    loop {
        match xml.next()? {
            Node::Open { name, attrs } => {
                if at_root {
                    xml.expect_root(&name, &["TestRun"])?;
                    at_root = false;
                }
                match name.as_str() {
                    "UnitTestResult" => {
                        let line = xml.line();
                        let message = read_error_info(&mut xml)?;
                        let case = TestCase {
                            prefix: String::new(),
                            name: attrs.str("testName").to_owned(),
                            status: status(attrs.str("outcome")),
                            duration_in_nano_seconds: duration_to_nanos(attrs.str("duration")),
                            message,
                            test_suite_name: None,
                            test_raw_data_path: None,
                        };
                        sink.push(case, line)?;
                        let test_id = attrs.str("testId");
                        sink.keep(test_id.len(), line)?;
                        test_ids.push(test_id.to_owned());
                    }
                    "UnitTest" => definition_id = attrs.get("id").map(str::to_owned),
                    "TestMethod" => {
                        if let (Some(id), Some(class)) =
                            (definition_id.take(), attrs.get("className"))
                        {
                            if classes.len() >= limits.max_items {
                                return Err(xml.limit(format!(
                                    "more than the limit of {} test definitions",
                                    limits.max_items
                                )));
                            }
                            let class = truncate(class.to_owned(), limits.max_field_bytes);
                            sink.keep(id.len() + class.len(), xml.line())?;
                            classes.insert(id, class);
                        }
                    }
                    _ => {}
                }
            }
            Node::Eof => break,
            Node::Close | Node::Text(_) => {}
        }
    }
    // Each case's prefix is a copy of its class: counted (at the end of the file) before made.
    let case_classes: Vec<Option<&String>> = test_ids.iter().map(|id| classes.get(id)).collect();
    let copied = case_classes.iter().flatten().map(|c| c.len()).sum();
    sink.keep(copied, xml.line())?;
    for (case, class) in sink.cases_mut().iter_mut().zip(case_classes) {
        if let Some(class) = class {
            // xUnit names results `Class.Method`; the prefix already says the class.
            if let Some(short) = case
                .name
                .strip_prefix(class.as_str())
                .and_then(|n| n.strip_prefix('.'))
            {
                case.name = short.to_owned();
            }
            case.prefix.clone_from(class);
        }
    }
    Ok(sink.finish())
}

fn status(outcome: &str) -> TestCaseStatus {
    use TestCaseStatus as S;
    match outcome {
        "Passed" | "PassedButRunAborted" | "Completed" | "Warning" => S::Succeeded,
        "Failed" | "Timeout" => S::Failed,
        "Error" | "Aborted" | "NotRunnable" | "Disconnected" => S::Error,
        "NotExecuted" => S::Skipped,
        _ => S::Unknown,
    }
}

/// Reads the `<UnitTestResult>` just opened through its end; its error message and stack trace.
fn read_error_info<R: Read>(xml: &mut XmlStream<'_, R>) -> Result<Option<String>, ReportError> {
    let max = xml.limits().max_message_bytes;
    let result_depth = xml.depth();
    let (mut message, mut trace) = (String::new(), String::new());
    loop {
        match xml.next()? {
            Node::Open { name, .. } => match name.as_str() {
                "Message" => message = xml.text_of_element(max)?,
                "StackTrace" => trace = xml.text_of_element(max)?,
                "Output" | "ErrorInfo" => {}
                _ => xml.skip_element()?,
            },
            Node::Close if xml.depth() < result_depth => break,
            _ => {}
        }
    }
    Ok(join_message(Some(&message), &trace))
}

/// `hh:mm:ss.fffffff` (TimeSpan) to nanoseconds; unreadable is 0.
fn duration_to_nanos(text: &str) -> u64 {
    let mut parts = text.trim().rsplitn(3, ':');
    let (Some(seconds), Some(minutes), Some(hours)) = (parts.next(), parts.next(), parts.next())
    else {
        return 0;
    };
    let (Ok(hours), Ok(minutes), Ok(seconds)) = (
        hours.parse::<f64>(),
        minutes.parse::<f64>(),
        seconds.parse::<f64>(),
    ) else {
        return 0;
    };
    let total = hours * 3600.0 + minutes * 60.0 + seconds;
    if total.is_finite() && total > 0.0 {
        // `as` saturates.
        (total * 1e9) as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_to_nanos("00:00:01.5000000"), 1_500_000_000);
        assert_eq!(duration_to_nanos("01:02:03"), 3_723_000_000_000);
        assert_eq!(duration_to_nanos("garbage"), 0);
    }

    #[test]
    fn classes_from_definitions() {
        let xml = r#"<TestRun xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010"><Results>
<UnitTestResult testId="1" testName="Ns.C.M" outcome="Failed" duration="00:00:00.01">
<Output><ErrorInfo><Message>Assert failed</Message><StackTrace>at Ns.C.M()</StackTrace></ErrorInfo></Output>
</UnitTestResult><UnitTestResult testId="2" testName="N" outcome="NotExecuted"/></Results>
<TestDefinitions><UnitTest id="1" name="Ns.C.M"><TestMethod className="Ns.C" name="M"/></UnitTest></TestDefinitions></TestRun>"#;
        let r = parse(xml.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(
            (r.cases[0].prefix.as_str(), r.cases[0].name.as_str()),
            ("Ns.C", "M")
        );
        assert_eq!(
            r.cases[0].message.as_deref(),
            Some("Assert failed\nat Ns.C.M()")
        );
        assert_eq!(r.cases[1].status, TestCaseStatus::Skipped);
    }
}
