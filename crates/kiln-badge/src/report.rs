//! Badges for what a build's reports say: "tests | 120 passed, 2 failed" and "coverage | 87%".
//! Messages and colours follow shields.io's own test-results and coverage badges
//! (docs/reports.md has the rules), so they read like the badges people already know.

use crate::color::named_color;
use crate::{Badge, Flavor, Style, render_svg};

/// Label of a tests badge unless the caller picks another.
pub const TESTS_LABEL: &str = "tests";
/// Label of a coverage badge unless the caller picks another.
pub const COVERAGE_LABEL: &str = "coverage";

/// Test case counts of the reports a badge sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TestCounts {
    pub passed: u64,
    /// Failed and errored cases.
    pub failed: u64,
    pub skipped: u64,
    /// Every case, those of unknown status included.
    pub total: u64,
}

/// What a report badge shows: counts, a percentage, or that nothing is known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReportBadge {
    Tests(TestCounts),
    /// Line coverage in percent (0–100).
    Coverage(f64),
    Unknown,
}

impl ReportBadge {
    /// "120 passed, 2 failed, 3 skipped" (zero failed or skipped left out; "no tests" when
    /// empty), "87%" (whole percent, rounded down: never more than was measured), "unknown".
    pub fn message(&self) -> String {
        match self {
            ReportBadge::Tests(counts) if counts.total == 0 => "no tests".to_owned(),
            ReportBadge::Tests(counts) => {
                let mut message = format!("{} passed", counts.passed);
                if counts.failed > 0 {
                    message.push_str(&format!(", {} failed", counts.failed));
                }
                if counts.skipped > 0 {
                    message.push_str(&format!(", {} skipped", counts.skipped));
                }
                message
            }
            ReportBadge::Coverage(percent) if percent.is_nan() => "0%".to_owned(),
            ReportBadge::Coverage(percent) => format!("{}%", percent.clamp(0.0, 100.0).floor()),
            ReportBadge::Unknown => "unknown".to_owned(),
        }
    }

    /// The shields colour name: tests red when any failed, yellow when none ran, green when
    /// some were skipped, else bright green; coverage by shields' thresholds 80, 90 and 100.
    pub fn color_name(&self) -> &'static str {
        match self {
            ReportBadge::Tests(counts) => match counts {
                c if c.total == 0 => "yellow",
                c if c.failed > 0 => "red",
                c if c.skipped > 0 && c.passed > 0 => "green",
                c if c.skipped > 0 => "yellow",
                _ => "brightgreen",
            },
            ReportBadge::Coverage(percent) => match *percent {
                p if p <= 0.0 || p.is_nan() => "red",
                p if p < 80.0 => "yellow",
                p if p < 90.0 => "yellowgreen",
                p if p < 100.0 => "green",
                _ => "brightgreen",
            },
            ReportBadge::Unknown => "lightgrey",
        }
    }

    /// The hex fill in `flavor`'s palette.
    pub fn color(&self, flavor: Flavor) -> &'static str {
        // Every `color_name` is in the palette; the fallback only keeps this total.
        named_color(self.color_name(), flavor).unwrap_or("#9f9f9f")
    }
}

/// The report badge SVG in the classic palette; `label` is used as given (check untrusted
/// labels with [`crate::check_label`]).
pub fn render_report(badge: &ReportBadge, style: Style, label: &str) -> String {
    let message = badge.message();
    render_svg(&Badge {
        style,
        ..Badge::new(label, &message, badge.color(Flavor::Classic))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tests(passed: u64, failed: u64, skipped: u64) -> ReportBadge {
        ReportBadge::Tests(TestCounts {
            passed,
            failed,
            skipped,
            total: passed + failed + skipped,
        })
    }

    #[test]
    fn tests_badges_say_what_shields_says() {
        let cases = [
            (tests(120, 2, 0), "120 passed, 2 failed", "red"),
            (tests(120, 0, 0), "120 passed", "brightgreen"),
            (tests(5, 0, 3), "5 passed, 3 skipped", "green"),
            (tests(0, 0, 3), "0 passed, 3 skipped", "yellow"),
            (tests(1, 1, 1), "1 passed, 1 failed, 1 skipped", "red"),
            (tests(0, 0, 0), "no tests", "yellow"),
        ];
        for (badge, message, color) in cases {
            assert_eq!(badge.message(), message);
            assert_eq!(badge.color_name(), color, "{message}");
        }
    }

    #[test]
    fn coverage_badges_round_down_and_take_shields_thresholds() {
        let cases = [
            (0.0, "0%", "red"),
            (42.5, "42%", "yellow"),
            (87.9, "87%", "yellowgreen"),
            (90.0, "90%", "green"),
            (99.99, "99%", "green"),
            (100.0, "100%", "brightgreen"),
            (f64::NAN, "0%", "red"),
        ];
        for (percent, message, color) in cases {
            let badge = ReportBadge::Coverage(percent);
            assert_eq!(badge.message(), message, "{percent}");
            assert_eq!(badge.color_name(), color, "{percent}");
        }
    }

    #[test]
    fn a_report_badge_renders_its_message() {
        let svg = render_report(&tests(120, 2, 0), Style::Flat, TESTS_LABEL);
        assert!(
            svg.contains("aria-label=\"tests: 120 passed, 2 failed\""),
            "{svg}"
        );
        assert!(svg.contains("#e05d44"), "{svg}");
        let svg = render_report(&ReportBadge::Unknown, Style::Flat, COVERAGE_LABEL);
        assert!(svg.contains("coverage: unknown"), "{svg}");
    }
}
