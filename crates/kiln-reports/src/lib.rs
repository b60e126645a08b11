//! Parsing of the files a buildspec's `reports:` section names: test reports (JUnit XML,
//! Cucumber JSON, TestNG XML, NUnit 2 and 3 XML, Visual Studio TRX) into test cases, and code
//! coverage reports (Clover XML, Cobertura XML, JaCoCo XML, SimpleCov JSON) into per-file
//! coverage, each with its summary. Pure: the caller passes a reader; nothing else is touched.
//!
//! All input is hostile: XML is read one token at a time and JSON one value at a time (never a
//! whole document), with no DTD processing, and every read and everything kept is bounded by
//! [`Limits`]. Errors carry the 1-based line.
//! docs/reports.md maps each format's elements to the fields.

mod collected;
mod coverage_xml;
mod cucumber;
mod error;
mod json;
mod junit;
mod limits;
mod model;
mod names;
mod nunit;
mod simplecov;
mod testng;
mod trx;
mod xml;

use std::io::Read;
use std::str::FromStr;

pub use collected::{CollectedFile, CollectedReport};
pub use error::ReportError;
pub use limits::Limits;
pub use model::{
    CodeCoverage, CodeCoverageReportSummary, CoverageReport, ReportCodeCoverageSortByType,
    ReportStatusType, ReportType, TestCase, TestCaseStatus, TestReport, TestReportSummary,
};

/// A report file format, by its buildspec `file-format` / API name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ReportFileFormat {
    JunitXml,
    CucumberJson,
    TestNgXml,
    NunitXml,
    Nunit3Xml,
    VisualStudioTrx,
    CloverXml,
    CoberturaXml,
    JacocoXml,
    SimpleCov,
}

impl ReportFileFormat {
    pub const ALL: [Self; 10] = [
        Self::JunitXml,
        Self::CucumberJson,
        Self::TestNgXml,
        Self::NunitXml,
        Self::Nunit3Xml,
        Self::VisualStudioTrx,
        Self::CloverXml,
        Self::CoberturaXml,
        Self::JacocoXml,
        Self::SimpleCov,
    ];

    /// The format a test report group uses when the buildspec names none.
    pub const DEFAULT_TEST: Self = Self::JunitXml;

    pub fn as_str(self) -> &'static str {
        match self {
            Self::JunitXml => "JUNITXML",
            Self::CucumberJson => "CUCUMBERJSON",
            Self::TestNgXml => "TESTNGXML",
            Self::NunitXml => "NUNITXML",
            Self::Nunit3Xml => "NUNIT3XML",
            Self::VisualStudioTrx => "VISUALSTUDIOTRX",
            Self::CloverXml => "CLOVERXML",
            Self::CoberturaXml => "COBERTURAXML",
            Self::JacocoXml => "JACOCOXML",
            Self::SimpleCov => "SIMPLECOV",
        }
    }

    /// Whether files of this format make test or code coverage reports.
    pub fn report_type(self) -> ReportType {
        match self {
            Self::JunitXml
            | Self::CucumberJson
            | Self::TestNgXml
            | Self::NunitXml
            | Self::Nunit3Xml
            | Self::VisualStudioTrx => ReportType::Test,
            Self::CloverXml | Self::CoberturaXml | Self::JacocoXml | Self::SimpleCov => {
                ReportType::CodeCoverage
            }
        }
    }
}

impl std::fmt::Display for ReportFileFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of the ten formats.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown report file format {0:?}")]
pub struct UnknownReportFileFormat(pub String);

impl FromStr for ReportFileFormat {
    type Err = UnknownReportFileFormat;

    /// Exact, upper-case names, as the API's enum values are.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == name)
            .ok_or_else(|| UnknownReportFileFormat(name.to_owned()))
    }
}

/// A parsed report file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ParsedReport {
    Test(TestReport),
    CodeCoverage(CoverageReport),
}

/// Parses one report file of `format` from `input` within `limits`.
pub fn parse_report(
    format: ReportFileFormat,
    input: impl Read,
    limits: &Limits,
) -> Result<ParsedReport, ReportError> {
    use ReportFileFormat as F;
    let test = |r: Result<TestReport, ReportError>| r.map(ParsedReport::Test);
    let coverage = |r: Result<CoverageReport, ReportError>| r.map(ParsedReport::CodeCoverage);
    match format {
        F::JunitXml => test(junit::parse(input, limits)),
        F::CucumberJson => test(cucumber::parse(input, limits)),
        F::TestNgXml => test(testng::parse(input, limits)),
        F::NunitXml => test(nunit::parse(input, limits, nunit::Version::Two)),
        F::Nunit3Xml => test(nunit::parse(input, limits, nunit::Version::Three)),
        F::VisualStudioTrx => test(trx::parse(input, limits)),
        F::CloverXml => coverage(coverage_xml::parse_clover(input, limits)),
        F::CoberturaXml => coverage(coverage_xml::parse_cobertura(input, limits)),
        F::JacocoXml => coverage(coverage_xml::parse_jacoco(input, limits)),
        F::SimpleCov => coverage(simplecov::parse(input, limits)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for f in ReportFileFormat::ALL {
            assert_eq!(f.as_str().parse::<ReportFileFormat>(), Ok(f));
        }
        assert!("junitxml".parse::<ReportFileFormat>().is_err());
        assert_eq!(
            ReportFileFormat::SimpleCov.report_type(),
            ReportType::CodeCoverage
        );
        assert_eq!(
            ReportFileFormat::DEFAULT_TEST.report_type(),
            ReportType::Test
        );
    }
}
