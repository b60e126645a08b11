//! Kiln's build statuses as badges, and the shields.io endpoint JSON twin.

use serde::Serialize;

use crate::color::named_color;
use crate::{Badge, Flavor, Style, render_svg};

/// Label of a status badge unless the caller picks another.
pub const DEFAULT_LABEL: &str = "build";

/// What a status badge can say (CodeBuild's PASSING, FAILING, IN_PROGRESS, UNKNOWN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BadgeStatus {
    Passing,
    Failing,
    InProgress,
    /// No build, unknown branch, badges disabled, or no such project (so existence does not leak).
    Unknown,
}

impl BadgeStatus {
    pub const ALL: [BadgeStatus; 4] = [
        BadgeStatus::Passing,
        BadgeStatus::Failing,
        BadgeStatus::InProgress,
        BadgeStatus::Unknown,
    ];

    /// The badge message.
    pub fn message(self) -> &'static str {
        match self {
            BadgeStatus::Passing => "passing",
            BadgeStatus::Failing => "failing",
            BadgeStatus::InProgress => "in progress",
            BadgeStatus::Unknown => "unknown",
        }
    }

    /// The shields colour name; shields.io resolves it with its current palette.
    pub fn color_name(self) -> &'static str {
        match self {
            BadgeStatus::Passing => "brightgreen",
            BadgeStatus::Failing => "red",
            BadgeStatus::InProgress => "yellow",
            BadgeStatus::Unknown => "lightgrey",
        }
    }

    /// The hex fill in `flavor`'s palette: classic `#4c1`, `#e05d44`, `#dfb317`, `#9f9f9f`.
    pub fn color(self, flavor: Flavor) -> &'static str {
        // Every `color_name` is in the palette; the fallback only keeps this total.
        named_color(self.color_name(), flavor).unwrap_or("#9f9f9f")
    }
}

/// The status badge SVG in the classic palette. `label` is used as given (check untrusted
/// labels with [`crate::check_label`]); pass [`DEFAULT_LABEL`] for the usual `build`.
pub fn render_status(status: BadgeStatus, style: Style, label: &str) -> String {
    render_svg(&Badge {
        style,
        ..Badge::new(label, status.message(), status.color(Flavor::Classic))
    })
}

/// The shields.io endpoint-badge schema (<https://shields.io/badges/endpoint-badge>), for
/// `https://img.shields.io/endpoint?url=…`. `color` is the shields *name* (`brightgreen`…), so
/// shields.io draws the status in its own current palette.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointBadge<'a> {
    pub schema_version: u8,
    pub label: &'a str,
    pub message: &'a str,
    pub color: &'a str,
}

impl<'a> EndpointBadge<'a> {
    pub fn new(status: BadgeStatus, label: &'a str) -> Self {
        Self::with_message(label, status.message(), status.color_name())
    }

    /// Any message in a shields colour name (a report badge's counts or percentage).
    pub fn with_message(label: &'a str, message: &'a str, color: &'a str) -> Self {
        Self {
            schema_version: 1,
            label,
            message,
            color,
        }
    }
}

/// `{"schemaVersion":1,"label":"build","message":"passing","color":"brightgreen"}`.
pub fn endpoint_json(status: BadgeStatus, label: &str) -> Result<String, serde_json::Error> {
    serde_json::to_string(&EndpointBadge::new(status, label))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_have_kiln_messages_and_classic_colours() {
        let expected = [
            (BadgeStatus::Passing, "passing", "#4c1"),
            (BadgeStatus::Failing, "failing", "#e05d44"),
            (BadgeStatus::InProgress, "in progress", "#dfb317"),
            (BadgeStatus::Unknown, "unknown", "#9f9f9f"),
        ];
        for (status, message, color) in expected {
            assert_eq!(status.message(), message);
            assert_eq!(status.color(Flavor::Classic), color);
        }
        assert_eq!(BadgeStatus::Passing.color(Flavor::Modern), "#4b0");
    }

    #[test]
    fn status_badges_have_the_reference_widths() {
        // docs/badges/rendering.md §2: flat widths 88, 80, 108, 98 for build|<status>.
        for (status, width) in BadgeStatus::ALL.into_iter().zip([88, 80, 108, 98]) {
            let svg = render_status(status, Style::Flat, DEFAULT_LABEL);
            let expected = format!(
                r#"width="{width}" height="20" role="img" aria-label="build: {}""#,
                status.message()
            );
            assert!(svg.contains(&expected), "{svg}");
            assert!(svg.contains(status.color(Flavor::Classic)), "{svg}");
        }
    }

    #[test]
    fn endpoint_json_follows_the_shields_schema() {
        assert_eq!(
            endpoint_json(BadgeStatus::Passing, DEFAULT_LABEL).unwrap(),
            r#"{"schemaVersion":1,"label":"build","message":"passing","color":"brightgreen"}"#
        );
        assert_eq!(
            endpoint_json(BadgeStatus::InProgress, r#"a"b"#).unwrap(),
            r#"{"schemaVersion":1,"label":"a\"b","message":"in progress","color":"yellow"}"#
        );
    }
}
