//! What a build collected for each report group of its buildspec: the runner fills these in
//! after POST_BUILD and hands them to the store, which makes one report per group.

use std::mem::size_of;

use crate::{CodeCoverage, ParsedReport, ReportFileFormat, TestCase};

/// One report group of the buildspec's `reports:` and the files found for it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CollectedReport {
    /// The group as the buildspec names it: a name (the group is `<project>-<name>`) or the
    /// ARN of an existing group.
    pub group: String,
    pub format: ReportFileFormat,
    /// The files found, in path order, each parsed or with why not.
    pub files: Vec<CollectedFile>,
    /// Whether the files could not all be found: a pattern or base directory matched nothing,
    /// a pattern was invalid, or files were left out (links leading out of the source
    /// directory, limits). The report is then incomplete.
    pub missing_files: bool,
}

/// One report file of a group.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CollectedFile {
    /// The path recorded for the file: relative to the group's base directory, or its name
    /// alone with `discard-paths: yes`; `/`-separated.
    pub path: String,
    /// The parsed file, or why it was not parsed (with the line, for a parse error).
    pub outcome: Result<ParsedReport, String>,
}

impl ParsedReport {
    /// Roughly the bytes this result holds in memory (items and their text), so a caller
    /// keeping many results can bound their sum.
    pub fn retained_bytes(&self) -> usize {
        let text = |s: &str| s.len();
        let optional = |s: &Option<String>| s.as_deref().map_or(0, str::len);
        match self {
            Self::Test(report) => report
                .cases
                .iter()
                .map(|c: &TestCase| {
                    size_of::<TestCase>()
                        + text(&c.prefix)
                        + text(&c.name)
                        + optional(&c.message)
                        + optional(&c.test_suite_name)
                })
                .sum(),
            Self::CodeCoverage(report) => report
                .files
                .iter()
                .map(|f: &CodeCoverage| size_of::<CodeCoverage>() + text(&f.file_path))
                .sum(),
        }
    }

    /// The number of test cases, or of files in a coverage report.
    pub fn items(&self) -> usize {
        match self {
            Self::Test(report) => report.cases.len(),
            Self::CodeCoverage(report) => report.files.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, parse_report};

    #[test]
    fn retained_bytes_count_items_and_text() {
        let xml = r#"<testsuite name="s"><testcase classname="c" name="n"/></testsuite>"#;
        let parsed = parse_report(
            ReportFileFormat::JunitXml,
            xml.as_bytes(),
            &Limits::default(),
        )
        .expect("parses");
        assert_eq!(parsed.items(), 1);
        assert_eq!(parsed.retained_bytes(), size_of::<TestCase>() + 3);
    }
}
