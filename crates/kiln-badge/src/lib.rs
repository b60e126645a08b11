//! Shields-style SVG build badges for Kiln's `/badges` endpoint.
//!
//! The output is byte-identical to shields.io's `badge-maker` 4.1.0 ([`Flavor::Classic`], the
//! default) or 6.0.0 ([`Flavor::Modern`]) for text badges without logos, in all five styles.
//! Text is measured with the anafanafo width tables that badge-maker uses (`data/`, MIT).
//!
//! Pure: no IO, no global state beyond static tables.

mod color;
mod render;
mod report;
mod status;
mod text;
mod width;

use std::fmt::{self, Write as _};
use std::str::FromStr;

pub use report::{COVERAGE_LABEL, ReportBadge, TESTS_LABEL, TestCounts, render_report};
pub use status::{BadgeStatus, DEFAULT_LABEL, EndpointBadge, endpoint_json, render_status};

/// Longest label [`check_label`] accepts, in characters (GitLab allows the same for `key_text`).
pub const MAX_LABEL_CHARS: usize = 64;

/// Errors for caller-supplied badge parameters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadgeError {
    #[error("unknown badge style (expected flat, flat-square, plastic, for-the-badge or social)")]
    UnknownStyle,
    #[error("badge label is longer than {MAX_LABEL_CHARS} characters")]
    LabelTooLong,
    #[error("badge label contains a control character")]
    LabelHasControlCharacter,
}

/// Checks a caller-supplied label: at most [`MAX_LABEL_CHARS`] characters after trimming, and no
/// control characters. Empty is fine: it gives a message-only badge.
pub fn check_label(label: &str) -> Result<(), BadgeError> {
    if text::js_trim(label).chars().count() > MAX_LABEL_CHARS {
        return Err(BadgeError::LabelTooLong);
    }
    if label.chars().any(char::is_control) {
        return Err(BadgeError::LabelHasControlCharacter);
    }
    Ok(())
}

/// The five shields badge styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Style {
    #[default]
    Flat,
    FlatSquare,
    Plastic,
    ForTheBadge,
    Social,
}

impl Style {
    pub const ALL: [Style; 5] = [
        Style::Flat,
        Style::FlatSquare,
        Style::Plastic,
        Style::ForTheBadge,
        Style::Social,
    ];

    /// The shields name, as used in `?style=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Style::Flat => "flat",
            Style::FlatSquare => "flat-square",
            Style::Plastic => "plastic",
            Style::ForTheBadge => "for-the-badge",
            Style::Social => "social",
        }
    }
}

impl FromStr for Style {
    type Err = BadgeError;

    /// Exact shields names only (case-sensitive, as shields.io).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Style::ALL
            .into_iter()
            .find(|style| style.as_str() == name)
            .ok_or(BadgeError::UnknownStyle)
    }
}

impl fmt::Display for Style {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which badge-maker release to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Flavor {
    /// badge-maker 4.1.0: the classic palette (`brightgreen` = `#4c1`) that GitLab, Jenkins,
    /// Drone and most CI badges use.
    #[default]
    Classic,
    /// badge-maker 6.0.0: the higher-contrast 2026 palette (`brightgreen` = `#4b0`), blurred
    /// text shadow, `href` instead of `xlink:href`.
    Modern,
}

/// One badge to render. Label and message are trimmed (as badge-maker does), measured, then
/// XML-escaped; render untrusted text only after [`check_label`] or a similar size check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Badge<'a> {
    /// Left text; empty for a message-only badge.
    pub label: &'a str,
    /// Right text.
    pub message: &'a str,
    /// Message background: a shields name (`brightgreen`, `red`, `lightgrey`, aliases such as
    /// `success`) or 3/6-digit hex with or without `#`. Anything else falls back to
    /// `brightgreen` (badge-maker also accepts CSS names like `white`; this crate does not).
    pub color: &'a str,
    pub style: Style,
    pub flavor: Flavor,
    /// Target of the left half (or of the whole badge when there is no right link). Only
    /// effective when the SVG is inlined or embedded with `<object>`, not in `<img>`.
    pub left_link: Option<&'a str>,
    /// Target of the right half.
    pub right_link: Option<&'a str>,
}

impl<'a> Badge<'a> {
    /// A flat, classic, unlinked badge.
    pub fn new(label: &'a str, message: &'a str, color: &'a str) -> Self {
        Self {
            label,
            message,
            color,
            ..Self::default()
        }
    }
}

/// Writes the SVG document, so a badge can also be rendered straight into any buffer.
impl fmt::Display for Badge<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        render::render(self, f)
    }
}

/// The SVG document for `badge`.
pub fn render_svg(badge: &Badge<'_>) -> String {
    // Room for a typical badge (flat is ~1.1 KB, social ~1.5 KB) so the buffer rarely regrows.
    let mut svg = String::with_capacity(1536);
    // Rendering has no failure path of its own and writing into a String cannot fail.
    let _ = write!(svg, "{badge}");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn style_parses_every_shields_name_and_round_trips() {
        for style in Style::ALL {
            assert_eq!(style.as_str().parse::<Style>(), Ok(style));
            assert_eq!(style.to_string(), style.as_str());
        }
        assert_eq!("for-the-badge".parse(), Ok(Style::ForTheBadge));
    }

    #[test]
    fn style_rejects_unknown_names() {
        for name in ["", "Flat", "flat ", "square", "flat_square", "popout"] {
            assert_eq!(
                name.parse::<Style>(),
                Err(BadgeError::UnknownStyle),
                "{name:?}"
            );
        }
    }

    #[test]
    fn label_check_enforces_length_and_printable_text() {
        assert_eq!(check_label(""), Ok(()));
        assert_eq!(check_label("build"), Ok(()));
        assert_eq!(check_label(&"é".repeat(MAX_LABEL_CHARS)), Ok(()));
        assert_eq!(
            check_label(&"x".repeat(MAX_LABEL_CHARS + 1)),
            Err(BadgeError::LabelTooLong)
        );
        assert_eq!(
            check_label("a\u{0}b"),
            Err(BadgeError::LabelHasControlCharacter)
        );
        assert_eq!(
            check_label("a\nb"),
            Err(BadgeError::LabelHasControlCharacter)
        );
    }

    #[test]
    fn flat_build_passing_matches_the_worked_example() {
        let svg = render_svg(&Badge::new("build", "passing", "brightgreen"));
        assert!(svg.starts_with(r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="88" height="20" role="img" aria-label="build: passing"><title>build: passing</title>"#));
        assert!(svg.contains(
            r##"x="195" y="140" transform="scale(.1)" fill="#fff" textLength="270">build</text>"##
        ));
        assert!(svg.contains(
            r##"x="615" y="140" transform="scale(.1)" fill="#fff" textLength="410">passing</text>"##
        ));
    }

    #[test]
    fn hostile_text_is_escaped_everywhere() {
        let label = r#""><script>alert('x')</script>"#;
        for style in Style::ALL {
            let svg = render_svg(&Badge {
                style,
                left_link: Some(r#"https://x/"onload="y"#),
                ..Badge::new(label, "a&b", "red")
            });
            assert!(!svg.to_lowercase().contains("<script"), "{style}: {svg}");
            assert!(!svg.contains(r#""onload"#), "{style}: {svg}");
            assert!(!svg.contains("a&b"), "{style}: {svg}");
        }
    }
}
