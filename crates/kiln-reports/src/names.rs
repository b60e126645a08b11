//! The enums' API names read back (from the API's input and from storage).

use crate::{ReportCodeCoverageSortByType, ReportStatusType, ReportType, TestCaseStatus};

impl ReportType {
    pub const ALL: [Self; 2] = [Self::Test, Self::CodeCoverage];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Test => "TEST",
            Self::CodeCoverage => "CODE_COVERAGE",
        }
    }

    /// The type by its exact API name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl ReportStatusType {
    pub const ALL: [Self; 5] = [
        Self::Generating,
        Self::Succeeded,
        Self::Failed,
        Self::Incomplete,
        Self::Deleting,
    ];

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl TestCaseStatus {
    pub const ALL: [Self; 5] = [
        Self::Succeeded,
        Self::Failed,
        Self::Error,
        Self::Skipped,
        Self::Unknown,
    ];

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl ReportCodeCoverageSortByType {
    pub const ALL: [Self; 2] = [Self::LineCoveragePercentage, Self::FilePath];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LineCoveragePercentage => "LINE_COVERAGE_PERCENTAGE",
            Self::FilePath => "FILE_PATH",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in ReportType::ALL {
            assert_eq!(ReportType::from_name(t.as_str()), Some(t));
        }
        for s in ReportStatusType::ALL {
            assert_eq!(ReportStatusType::from_name(s.as_str()), Some(s));
        }
        for s in TestCaseStatus::ALL {
            assert_eq!(TestCaseStatus::from_name(s.as_str()), Some(s));
        }
        for s in ReportCodeCoverageSortByType::ALL {
            assert_eq!(ReportCodeCoverageSortByType::from_name(s.as_str()), Some(s));
        }
        assert_eq!(ReportType::from_name("test"), None);
    }
}
