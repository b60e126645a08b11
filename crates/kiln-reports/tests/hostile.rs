//! Hostile input: every parser returns an error with a line, never panics, and reads a bounded
//! amount.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::io::Read;
use std::time::Duration;

use kiln_hostile_input::{config, timed};
use kiln_reports::{Limits, ParsedReport, ReportError, ReportFileFormat, parse_report};
use proptest::prelude::*;

fn parse(format: ReportFileFormat, bytes: &[u8]) -> Result<ParsedReport, ReportError> {
    parse_report(format, bytes, &Limits::default())
}

fn xml_formats() -> impl Iterator<Item = ReportFileFormat> {
    ReportFileFormat::ALL.into_iter().filter(|f| {
        !matches!(
            f,
            ReportFileFormat::CucumberJson | ReportFileFormat::SimpleCov
        )
    })
}

/// `head`, then `len` bytes of `fill`, then `tail`, produced on demand; counts what was read.
struct Lazy {
    head: &'static [u8],
    fill: u8,
    len: u64,
    tail: &'static [u8],
    pos: u64,
}

impl Read for Lazy {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let head = self.head.len() as u64;
        let total = head + self.len + self.tail.len() as u64;
        let mut n = 0;
        while n < out.len() && self.pos < total {
            out[n] = if self.pos < head {
                self.head[self.pos as usize]
            } else if self.pos < head + self.len {
                self.fill
            } else {
                self.tail[(self.pos - head - self.len) as usize]
            };
            n += 1;
            self.pos += 1;
        }
        Ok(n)
    }
}

#[test]
fn billion_laughs_is_not_expanded() {
    let bomb = br#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<testsuite name="&lol9;"><testcase name="x"><failure>&lol9;</failure></testcase></testsuite>"#;
    let err = parse(ReportFileFormat::JunitXml, bomb).unwrap_err();
    // The line where the reader stopped, past the DOCTYPE.
    assert!(
        matches!(err, ReportError::Invalid { line: 7, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("declares entities"), "{err}");
    // Without the declarations, an unknown entity stays literal text: nothing is expanded.
    let undeclared = br#"<testsuite name="&lol9;"><testcase name="x"><failure>&lol9;</failure></testcase></testsuite>"#;
    let Ok(ParsedReport::Test(r)) = parse(ReportFileFormat::JunitXml, undeclared) else {
        panic!("an undeclared entity is read as literal text");
    };
    assert_eq!(r.cases[0].test_suite_name.as_deref(), Some("&lol9;"));
    assert_eq!(r.cases[0].message.as_deref(), Some("&lol9;"));
}

#[test]
fn two_gigabyte_attribute_is_refused_after_the_token_limit() {
    let mut input = Lazy {
        head: b"<?xml version=\"1.0\"?>\n<testsuite name=\"",
        fill: b'a',
        len: 2 << 30,
        tail: b"\"/>",
        pos: 0,
    };
    let limits = Limits::default();
    let err = parse_report(ReportFileFormat::JunitXml, &mut input, &limits).unwrap_err();
    assert!(matches!(err, ReportError::Limit { line: 2, .. }), "{err:?}");
    assert!(
        input.pos <= limits.max_token_bytes + 1024 * 1024,
        "read {} bytes",
        input.pos
    );
}

#[test]
fn total_size_limit() {
    let mut input = Lazy {
        head: b"<testsuite>",
        fill: b' ',
        len: 1 << 20,
        tail: b"</testsuite>",
        pos: 0,
    };
    let limits = Limits {
        max_bytes: 1000,
        ..Limits::default()
    };
    let err = parse_report(ReportFileFormat::JunitXml, &mut input, &limits).unwrap_err();
    assert!(
        err.message()
            .contains("larger than the limit of 1000 bytes"),
        "{err:?}"
    );
}

#[test]
fn deep_nesting_is_refused() {
    let depth = 100_000;
    let mut xml = "<testsuites>\n".to_owned();
    xml.push_str(&"<testsuite>".repeat(depth));
    xml.push_str(&"</testsuite>".repeat(depth));
    xml.push_str("</testsuites>");
    for format in xml_formats() {
        let err = parse(format, xml.as_bytes()).unwrap_err();
        // Only JUnit accepts the root; the others refuse it before nesting.
        if format == ReportFileFormat::JunitXml {
            assert!(err.message().contains("nested deeper"), "{err:?}");
            assert_eq!(err.line(), 2);
        }
    }
    let json = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    for format in [ReportFileFormat::CucumberJson, ReportFileFormat::SimpleCov] {
        assert!(parse(format, json.as_bytes()).is_err());
    }
}

#[test]
fn truncated_xml() {
    let xml = b"<testsuite name=\"s\">\n<testcase name=\"a\">\n<failure message=\"m\">boom";
    let err = parse(ReportFileFormat::JunitXml, xml).unwrap_err();
    assert!(
        matches!(err, ReportError::Syntax { line: 3, .. }),
        "{err:?}"
    );
}

#[test]
fn invalid_utf8() {
    let xml = b"<testsuite>\n<testcase name=\"\xff\xfe\"/></testsuite>";
    let err = parse(ReportFileFormat::JunitXml, xml).unwrap_err();
    assert!(
        matches!(err, ReportError::Syntax { line: 2, .. }),
        "{err:?}"
    );
    let json = b"[{\"name\": \"\xff\"}]";
    assert!(parse(ReportFileFormat::CucumberJson, json).is_err());
}

#[test]
fn garbage_and_empty() {
    for format in ReportFileFormat::ALL {
        for bytes in [
            &b""[..],
            b"\x00\x01\x02garbage\xff",
            b"not a report",
            b"{}",
            b"[]",
        ] {
            if let Err(err) = parse(format, bytes) {
                assert!(err.line() >= 1);
            }
        }
        assert!(
            parse(format, b"\x00\x01\x02garbage\xff").is_err(),
            "{format}"
        );
    }
}

#[test]
fn case_limit_names_itself() {
    let xml = format!(
        "<testsuite>{}</testsuite>",
        "<testcase name=\"x\"/>\n".repeat(11)
    );
    let limits = Limits {
        max_items: 10,
        ..Limits::default()
    };
    let err = parse_report(ReportFileFormat::JunitXml, xml.as_bytes(), &limits).unwrap_err();
    assert!(
        matches!(err, ReportError::Limit { line: 11, .. }),
        "{err:?}"
    );
    assert!(err.message().contains("limit of 10 test cases"));
}

#[test]
fn kept_bytes_limit_stops_at_the_case_that_crosses_it() {
    // Each case keeps prefix "c" (1) + name "tNNN" (4) + a 996-byte message + suite "s" (1):
    // 1,002 bytes, so with a 10,000-byte budget the tenth case (line 11) crosses it.
    let message = "m".repeat(996);
    let cases: String = (100..300)
        .map(|i| {
            format!(
                "<testcase classname=\"c\" name=\"t{i}\"><failure>{message}</failure></testcase>\n"
            )
        })
        .collect();
    let xml = format!("<testsuite name=\"s\">\n{cases}</testsuite>");
    let limits = Limits {
        max_kept_bytes: 10_000,
        ..Limits::default()
    };
    let err = parse_report(ReportFileFormat::JunitXml, xml.as_bytes(), &limits).unwrap_err();
    assert!(
        matches!(err, ReportError::Limit { line: 11, .. }),
        "{err:?}"
    );
    assert!(err.message().contains("limit of 10000 bytes"), "{err:?}");
    // Coverage files count their paths.
    let paths: String = (0..100)
        .map(|i| format!("<sourcefile name=\"{i:0>100}\"/>\n"))
        .collect();
    let jacoco = format!("<report>\n<package name=\"p\">\n{paths}</package></report>");
    let limits = Limits {
        max_kept_bytes: 1_000,
        ..Limits::default()
    };
    let err = parse_report(ReportFileFormat::JacocoXml, jacoco.as_bytes(), &limits).unwrap_err();
    // 102 bytes a path ("p/" + 100 digits): the tenth file, on line 12, crosses 1,000.
    assert!(
        matches!(err, ReportError::Limit { line: 12, .. }),
        "{err:?}"
    );
}

#[test]
fn json_formats_have_the_lower_byte_limit() {
    assert!(Limits::default().max_json_bytes < Limits::default().max_bytes);
    // Small enough to read quickly: serde_json pulls one byte per read call.
    let limits = Limits {
        max_json_bytes: 1 << 20,
        ..Limits::default()
    };
    for format in [ReportFileFormat::CucumberJson, ReportFileFormat::SimpleCov] {
        let (head, tail): (&[u8], &[u8]) = match format {
            ReportFileFormat::SimpleCov => (b"{", b"}"),
            _ => (b"[", b"]"),
        };
        let mut input = Lazy {
            head,
            fill: b' ',
            len: limits.max_json_bytes + 1,
            tail,
            pos: 0,
        };
        let err = parse_report(format, &mut input, &limits).unwrap_err();
        assert!(
            err.message().contains(&format!(
                "larger than the limit of {} bytes",
                limits.max_json_bytes
            )),
            "{err:?}"
        );
        assert!(
            input.pos <= limits.max_json_bytes + 64 * 1024,
            "read {}",
            input.pos
        );
    }
    // `max_bytes` still applies when it is the smaller.
    let small = Limits {
        max_bytes: 10,
        ..Limits::default()
    };
    let err =
        parse_report(ReportFileFormat::CucumberJson, &b"[          ]"[..], &small).unwrap_err();
    assert!(err.message().contains("limit of 10 bytes"), "{err:?}");
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for format in ReportFileFormat::ALL {
            timed(Duration::from_secs(2), || parse(format, &bytes))?.ok();
        }
    }

    #[test]
    fn xml_shaped_bytes_never_panic(
        parts in prop::collection::vec(
            prop::sample::select(vec![
                "<testsuite name=\"s\">", "</testsuite>", "<testcase name=\"c\" time=\"1\">",
                "</testcase>", "<failure message=\"&amp;\">", "</failure>", "<skipped/>",
                "<class filename=\"f\">", "<line hits=\"1\" condition-coverage=\"50% (1/2)\"/>",
                "<sourcefile name=\"a\">", "<counter type=\"LINE\" missed=\"1\" covered=\"2\"/>",
                "<test-case result=\"Failed\">", "<UnitTestResult outcome=\"Passed\"/>",
                "<test-method status=\"FAIL\">", "<![CDATA[x]]>", "&#x10FFFF;", "&#0;", "<", ">",
                "\"", "\n", "<!DOCTYPE a [<!ENTITY e \"x\">]>", "&e;",
            ]),
            0..40,
        ),
    ) {
        let bytes = parts.concat();
        for format in ReportFileFormat::ALL {
            timed(Duration::from_secs(2), || parse(format, bytes.as_bytes()))?.ok();
        }
    }
}
