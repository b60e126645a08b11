//! The XML coverage formats. Each ends in per-file line and branch counts:
//!
//! - Cobertura (`COBERTURAXML`; coverage.py, Istanbul, gcovr): `<class filename>` › `<lines>` ›
//!   `<line hits branch condition-coverage="50% (1/2)">`. A line with `hits` > 0 is covered;
//!   branches come from the `(covered/total)` of `condition-coverage`. Lines repeated under
//!   `<methods>` are not counted twice.
//! - JaCoCo (`JACOCOXML`): `<package name>` › `<sourcefile name>` › `<counter type="LINE" |
//!   "BRANCH" missed covered>`, the counters directly inside the source file; path
//!   `package/file`.
//! - Clover (`CLOVERXML`; OpenClover, Istanbul): `<file name path>` › `<metrics statements
//!   coveredstatements conditionals coveredconditionals>`: statements stand for lines.

use std::io::Read;

use crate::model::{Counts, FileSink};
use crate::xml::{Attrs, Node, XmlStream};
use crate::{CoverageReport, Limits, ReportError};

pub(crate) fn parse_cobertura(
    input: impl Read,
    limits: &Limits,
) -> Result<CoverageReport, ReportError> {
    parse_files(input, limits, "coverage", |xml, name, attrs| {
        if name != "class" {
            return Ok(None);
        }
        let class_depth = xml.depth();
        let mut counts = Counts::default();
        loop {
            match xml.next()? {
                Node::Open { name, .. } if name == "methods" => xml.skip_element()?,
                Node::Open { name, attrs } if name == "line" => {
                    add_cobertura_line(&mut counts, &attrs)
                }
                Node::Close if xml.depth() < class_depth => break,
                _ => {}
            }
        }
        Ok(Some((attrs.str("filename").to_owned(), counts)))
    })
}

fn add_cobertura_line(counts: &mut Counts, attrs: &Attrs) {
    if number(attrs.str("hits")) > 0 {
        counts.lines_covered += 1;
    } else {
        counts.lines_missed += 1;
    }
    // "50% (1/2)"
    let ratio = attrs
        .str("condition-coverage")
        .split_once('(')
        .and_then(|(_, r)| r.strip_suffix(')'))
        .and_then(|r| r.split_once('/'));
    if let Some((covered, total)) = ratio {
        let (covered, total) = (number(covered), number(total));
        counts.branches_covered = counts.branches_covered.saturating_add(covered.min(total));
        counts.branches_missed = counts
            .branches_missed
            .saturating_add(total.saturating_sub(covered));
    }
}

pub(crate) fn parse_jacoco(
    input: impl Read,
    limits: &Limits,
) -> Result<CoverageReport, ReportError> {
    let mut package = String::new();
    parse_files(input, limits, "report", |xml, name, attrs| {
        match name {
            "package" => attrs.str("name").clone_into(&mut package),
            "sourcefile" => {}
            _ => return Ok(None),
        }
        if name == "package" {
            return Ok(None);
        }
        let file_depth = xml.depth();
        let mut counts = Counts::default();
        loop {
            match xml.next()? {
                Node::Open { name, attrs }
                    if name == "counter" && xml.depth() == file_depth + 1 =>
                {
                    let (missed, covered) =
                        (number(attrs.str("missed")), number(attrs.str("covered")));
                    match attrs.str("type") {
                        "LINE" => (counts.lines_missed, counts.lines_covered) = (missed, covered),
                        "BRANCH" => {
                            (counts.branches_missed, counts.branches_covered) = (missed, covered)
                        }
                        _ => {}
                    }
                }
                Node::Close if xml.depth() < file_depth => break,
                _ => {}
            }
        }
        let path = match package.as_str() {
            "" => attrs.str("name").to_owned(),
            p => format!("{p}/{}", attrs.str("name")),
        };
        Ok(Some((path, counts)))
    })
}

pub(crate) fn parse_clover(
    input: impl Read,
    limits: &Limits,
) -> Result<CoverageReport, ReportError> {
    parse_files(input, limits, "coverage", |xml, name, attrs| {
        if name != "file" {
            return Ok(None);
        }
        let file_depth = xml.depth();
        let mut counts = Counts::default();
        loop {
            match xml.next()? {
                Node::Open { name, attrs }
                    if name == "metrics" && xml.depth() == file_depth + 1 =>
                {
                    let statements = number(attrs.str("statements"));
                    let covered = number(attrs.str("coveredstatements")).min(statements);
                    let conditionals = number(attrs.str("conditionals"));
                    let covered_conditionals =
                        number(attrs.str("coveredconditionals")).min(conditionals);
                    counts = Counts {
                        lines_covered: covered,
                        lines_missed: statements - covered,
                        branches_covered: covered_conditionals,
                        branches_missed: conditionals - covered_conditionals,
                    };
                }
                Node::Close if xml.depth() < file_depth => break,
                _ => {}
            }
        }
        let path = attrs
            .get("path")
            .filter(|p| !p.is_empty())
            .unwrap_or(attrs.str("name"));
        Ok(Some((path.to_owned(), counts)))
    })
}

/// The loop the three formats share: checks the root, hands every opened element to
/// `on_open`, which reads a whole file element and returns its path and counts, or `None`.
fn parse_files<R: Read>(
    input: R,
    limits: &Limits,
    root: &str,
    mut on_open: impl FnMut(
        &mut XmlStream<'_, R>,
        &str,
        &Attrs,
    ) -> Result<Option<(String, Counts)>, ReportError>,
) -> Result<CoverageReport, ReportError> {
    let mut xml = XmlStream::new(input, limits);
    let mut sink = FileSink::new(limits);
    let mut at_root = true;
    loop {
        match xml.next()? {
            Node::Open { name, attrs } => {
                if at_root {
                    xml.expect_root(&name, &[root])?;
                    at_root = false;
                }
                let line = xml.line();
                if let Some((path, counts)) = on_open(&mut xml, &name, &attrs)? {
                    sink.add(path, &counts, line)?;
                }
            }
            Node::Eof => return Ok(sink.finish()),
            Node::Close | Node::Text(_) => {}
        }
    }
}

/// A count attribute; unreadable or negative is 0 (counts are only ever shown, never trusted).
fn number(text: &str) -> u64 {
    text.trim().parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacoco_counts_source_files_only() {
        let xml = r#"<?xml version="1.0"?><!DOCTYPE report PUBLIC "-//JACOCO//DTD Report 1.1//EN" "report.dtd">
<report name="r"><package name="a/b"><class name="a/b/C" sourcefilename="C.java">
<counter type="LINE" missed="100" covered="100"/></class>
<sourcefile name="C.java"><line nr="1" mi="0" ci="3" mb="0" cb="0"/>
<counter type="LINE" missed="1" covered="3"/><counter type="BRANCH" missed="2" covered="2"/></sourcefile>
<counter type="LINE" missed="1" covered="3"/></package></report>"#;
        let r = parse_jacoco(xml.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(r.files.len(), 1);
        assert_eq!(r.files[0].file_path, "a/b/C.java");
        assert_eq!((r.files[0].lines_covered, r.files[0].lines_missed), (3, 1));
        assert_eq!(r.summary.branch_coverage_percentage, 50.0);
    }

    #[test]
    fn cobertura_skips_method_lines() {
        let xml = r#"<coverage><packages><package><classes><class filename="f.py">
<methods><method><lines><line number="1" hits="1"/></lines></method></methods>
<lines><line number="1" hits="1" branch="true" condition-coverage="50% (1/2)"/><line number="2" hits="0"/></lines>
</class></classes></package></packages></coverage>"#;
        let r = parse_cobertura(xml.as_bytes(), &Limits::default()).unwrap();
        let f = &r.files[0];
        assert_eq!(
            (
                f.lines_covered,
                f.lines_missed,
                f.branches_covered,
                f.branches_missed
            ),
            (1, 1, 1, 1)
        );
    }

    #[test]
    fn clover_uses_file_metrics() {
        let xml = r#"<coverage><project><metrics statements="99"/><package><file name="a.js" path="/s/a.js">
<metrics statements="4" coveredstatements="3" conditionals="2" coveredconditionals="9"/>
<line num="1" count="1" type="stmt"/></file></package></project></coverage>"#;
        let r = parse_clover(xml.as_bytes(), &Limits::default()).unwrap();
        let f = &r.files[0];
        assert_eq!(f.file_path, "/s/a.js");
        assert_eq!(
            (
                f.lines_covered,
                f.lines_missed,
                f.branches_covered,
                f.branches_missed
            ),
            (3, 1, 2, 0)
        );
    }
}
