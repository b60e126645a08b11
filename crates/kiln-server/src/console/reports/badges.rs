//! The report badges a project's page offers beside its build badge.

/// A badge of the latest test or coverage report (`&report=tests`, `&report=coverage`).
pub struct ReportBadge {
    /// The `report` parameter, also naming the fields.
    pub kind: &'static str,
    pub title: &'static str,
    pub url: String,
    pub markdown: String,
}

/// The report badges beside the build badge at `base` (its branch or tag and style): its
/// address with the `report` parameter.
pub fn report_badges(base: &str) -> Vec<ReportBadge> {
    [("tests", "Test results"), ("coverage", "Coverage")]
        .into_iter()
        .map(|(kind, title)| {
            let url = format!("{base}&report={kind}");
            ReportBadge {
                kind,
                title,
                markdown: format!("![{title}]({url})"),
                url,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_badges_add_the_report_to_the_branch_badge() {
        let badges = report_badges("http://k:1/badges?uuid=tok&branch=feature%2Fx");
        assert_eq!(
            badges[0].url,
            "http://k:1/badges?uuid=tok&branch=feature%2Fx&report=tests"
        );
        assert_eq!(
            badges[1].markdown,
            "![Coverage](http://k:1/badges?uuid=tok&branch=feature%2Fx&report=coverage)"
        );
        let default = report_badges("http://k:1/badges?uuid=tok");
        assert_eq!(default[0].url, "http://k:1/badges?uuid=tok&report=tests");
    }
}
