//! The badge query: `uuid`, `branch` or `tag`, `report` and `group`, `style`, `label`,
//! `format`. Every query reads as some badge, since a README shows anything else as a broken
//! image: what names the badge (the token, ref, report kind and group) is all or nothing, so a
//! query that does not name one badge plainly gets the unknown badge; how it looks (style,
//! label, format) falls back to the default when garbled.

use std::borrow::Cow;

use kiln_badge::{COVERAGE_LABEL, DEFAULT_LABEL, Style, TESTS_LABEL};
use kiln_domain::refs::GitRef;
use kiln_domain::report::ReportType;

/// Longest query string read; a longer one gets the unknown badge.
pub(super) const MAX_QUERY_BYTES: usize = 2048;
/// Longest branch or tag name (git allows more, but no real ref is this long).
const MAX_REF_BYTES: usize = 1024;
/// Longest `group`: a report group ARN (its name is at most 128 characters) fits.
const MAX_GROUP_BYTES: usize = 256;

/// A branch or tag as the query names it, borrowed from the query where possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RefQuery<'a> {
    Branch(Cow<'a, str>),
    Tag(Cow<'a, str>),
}

impl RefQuery<'_> {
    pub(super) fn to_git_ref(&self) -> GitRef {
        match self {
            RefQuery::Branch(name) => GitRef::Branch(name.to_string()),
            RefQuery::Tag(name) => GitRef::Tag(name.to_string()),
        }
    }

    pub(super) fn matches(&self, git_ref: &GitRef) -> bool {
        match (self, git_ref) {
            (RefQuery::Branch(a), GitRef::Branch(b)) | (RefQuery::Tag(a), GitRef::Tag(b)) => a == b,
            _ => false,
        }
    }
}

/// Which report a report badge shows: `report=tests` or `report=coverage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum ReportKind {
    Tests,
    Coverage,
}

impl ReportKind {
    fn parse(name: &str) -> Option<ReportKind> {
        match name {
            "tests" => Some(ReportKind::Tests),
            "coverage" => Some(ReportKind::Coverage),
            _ => None,
        }
    }

    /// The label unless the query picks another.
    pub(super) fn label(self) -> &'static str {
        match self {
            ReportKind::Tests => TESTS_LABEL,
            ReportKind::Coverage => COVERAGE_LABEL,
        }
    }

    pub(super) fn report_type(self) -> ReportType {
        match self {
            ReportKind::Tests => ReportType::Test,
            ReportKind::Coverage => ReportType::CodeCoverage,
        }
    }
}

/// A report badge's kind and, when the query names one, its report group (as the buildspec
/// names it: a name of the project's or a report group ARN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ReportQuery<'a> {
    pub kind: ReportKind,
    pub group: Option<Cow<'a, str>>,
}

/// What a badge request asks for.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct BadgeQuery<'a> {
    /// `None` when the query names no single badge: the unknown badge.
    pub token: Option<Cow<'a, str>>,
    pub git_ref: Option<RefQuery<'a>>,
    /// `Some` for a report badge (whose label is the kind's unless the query picks one).
    pub report: Option<ReportQuery<'a>>,
    pub style: Style,
    /// `None` for the default label.
    pub label: Option<Cow<'a, str>>,
    pub json: bool,
}

impl BadgeQuery<'_> {
    /// The unknown badge as it looks by default.
    pub(super) const UNKNOWN: BadgeQuery<'static> = BadgeQuery {
        token: None,
        git_ref: None,
        report: None,
        style: Style::Flat,
        label: None,
        json: false,
    };
}

/// A parameter as given: not at all, once, or more than once (which names nothing).
#[derive(Default)]
enum Param<'a> {
    #[default]
    Absent,
    Once(Cow<'a, str>),
    Repeated,
}

impl<'a> Param<'a> {
    fn add(&mut self, value: Cow<'a, str>) {
        *self = match self {
            Param::Absent => Param::Once(value),
            _ => Param::Repeated,
        };
    }

    /// The value when given once, `Err` when repeated.
    fn single(self) -> Result<Option<Cow<'a, str>>, ()> {
        match self {
            Param::Absent => Ok(None),
            Param::Once(value) => Ok(Some(value)),
            Param::Repeated => Err(()),
        }
    }

    /// The value when given once; a repeated one counts as not given.
    fn once(self) -> Option<Cow<'a, str>> {
        self.single().ok().flatten()
    }
}

pub(super) fn parse_query(raw: Option<&str>) -> BadgeQuery<'_> {
    let raw = raw.unwrap_or_default();
    if raw.len() > MAX_QUERY_BYTES {
        return BadgeQuery::UNKNOWN;
    }
    let (mut token, mut branch, mut tag, mut style, mut label, mut format) = Default::default();
    let (mut report, mut group) = (Param::Absent, Param::Absent);
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        let param: &mut Param<'_> = match key.as_ref() {
            "uuid" => &mut token,
            "branch" => &mut branch,
            "tag" => &mut tag,
            "style" => &mut style,
            "label" => &mut label,
            "format" => &mut format,
            "report" => &mut report,
            "group" => &mut group,
            // Others (cache busters such as `v=2`) are ignored, as shields.io does.
            _ => continue,
        };
        param.add(value);
    }
    let git_ref = match (branch.single(), tag.single()) {
        (Ok(None), Ok(None)) => Ok(None),
        (Ok(Some(b)), Ok(None)) => plain_name(b, MAX_REF_BYTES).map(|b| Some(RefQuery::Branch(b))),
        (Ok(None), Ok(Some(t))) => plain_name(t, MAX_REF_BYTES).map(|t| Some(RefQuery::Tag(t))),
        _ => Err(()),
    };
    // An unknown or repeated `report` names no kind: the unknown build badge. A report badge
    // with a repeated or garbled `group` is the unknown badge of its kind. `group` without
    // `report` is ignored, like any parameter a build badge does not read.
    let kind = match report.single() {
        Ok(None) => Ok(None),
        Ok(Some(name)) => ReportKind::parse(&name).map(Some).ok_or(()),
        Err(()) => Err(()),
    };
    let (report, report_named) = match kind {
        Ok(None) => (None, Ok(())),
        Ok(Some(kind)) => {
            let group = group
                .single()
                .and_then(|g| g.map(|g| plain_name(g, MAX_GROUP_BYTES)).transpose());
            match group {
                Ok(group) => (Some(ReportQuery { kind, group }), Ok(())),
                Err(()) => (Some(ReportQuery { kind, group: None }), Err(())),
            }
        }
        Err(()) => (None, Err(())),
    };
    let (token, git_ref) = match (token.single(), git_ref, report_named) {
        (Ok(Some(token)), Ok(git_ref), Ok(())) => (Some(token), git_ref),
        _ => (None, None),
    };
    let default_label = report.as_ref().map_or(DEFAULT_LABEL, |r| r.kind.label());
    BadgeQuery {
        token,
        git_ref,
        report,
        style: style
            .once()
            .and_then(|s| s.parse().ok())
            .unwrap_or(Style::Flat),
        label: label
            .once()
            .filter(|l| kiln_badge::check_label(l).is_ok() && l != default_label),
        json: format.once().as_deref() == Some("json"),
    }
}

/// A ref or group name: not empty, not longer than `max_bytes`, no control characters.
fn plain_name(name: Cow<'_, str>, max_bytes: usize) -> Result<Cow<'_, str>, ()> {
    if name.is_empty() || name.len() > max_bytes || name.chars().any(char::is_control) {
        return Err(());
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_hostile_input::{config, timed};
    use proptest::prelude::*;
    use std::time::Duration;

    #[test]
    fn parses_a_full_query() {
        let q = parse_query(Some(
            "uuid=abc&branch=feature%2Fx&style=flat-square&label=ci&format=json&v=2",
        ));
        assert_eq!(q.token.as_deref(), Some("abc"));
        assert_eq!(q.git_ref, Some(RefQuery::Branch("feature/x".into())));
        assert_eq!(q.style, Style::FlatSquare);
        assert_eq!(q.label.as_deref(), Some("ci"));
        assert!(q.json);
        let tag = parse_query(Some("uuid=abc&tag=v1&label=build"));
        assert_eq!(tag.git_ref, Some(RefQuery::Tag("v1".into())));
        assert_eq!(tag.label, None, "the default label spelled out");
        assert_eq!(parse_query(None), BadgeQuery::UNKNOWN);
    }

    #[test]
    fn a_query_that_names_no_single_badge_is_the_unknown_badge() {
        let long = format!("uuid=a&v={}", "a".repeat(MAX_QUERY_BYTES));
        let long_ref = format!("uuid=a&branch={}", "b".repeat(MAX_REF_BYTES + 1));
        for raw in [
            "uuid=a&uuid=b",
            "uuid=a&uuid=a",
            "uuid=a&branch=x&tag=y",
            "uuid=a&branch=x&branch=x",
            "uuid=a&tag=x&tag=y",
            "uuid=a&branch=",
            "uuid=a&tag=",
            "uuid=a&branch=%0a",
            "uuid=a&branch=%00",
            "uuid=a&tag=a%0Db",
            "branch=main",
            &long,
            &long_ref,
        ] {
            let q = parse_query(Some(raw));
            assert_eq!((q.token, q.git_ref), (None, None), "{raw}");
        }
        assert_eq!(
            parse_query(Some("uuid=a&style=social&uuid=b")).style,
            Style::Social,
            "the unknown badge keeps a good style"
        );
    }

    #[test]
    fn a_garbled_look_falls_back_to_the_default() {
        let long_label = format!("uuid=a&label={}", "a".repeat(65));
        for raw in [
            "uuid=a&style=fancy",
            "uuid=a&style=FLAT-SQUARE",
            "uuid=a&style=social&style=social",
            "uuid=a&format=png",
            "uuid=a&format=json&format=json",
            "uuid=a&label=x&label=y",
            "uuid=a&label=a%00b",
            "uuid=a&label=%0a",
            &long_label,
        ] {
            let q = parse_query(Some(raw));
            assert_eq!(q.token.as_deref(), Some("a"), "{raw}");
            assert_eq!(
                (q.style, q.label, q.json),
                (Style::Flat, None, false),
                "{raw}"
            );
        }
    }

    #[test]
    fn parses_report_badges() {
        let q = parse_query(Some(
            "uuid=abc&branch=main&report=tests&group=unit&label=ci",
        ));
        assert_eq!(q.token.as_deref(), Some("abc"));
        assert_eq!(
            q.report,
            Some(ReportQuery {
                kind: ReportKind::Tests,
                group: Some("unit".into()),
            })
        );
        assert_eq!(q.label.as_deref(), Some("ci"));
        let q = parse_query(Some("uuid=abc&report=coverage&label=coverage&format=json"));
        assert_eq!(
            q.report,
            Some(ReportQuery {
                kind: ReportKind::Coverage,
                group: None,
            })
        );
        assert_eq!(q.label, None, "the kind's own label spelled out");
        assert!(q.json);
        let q = parse_query(Some("uuid=abc&report=tests&label=build"));
        assert_eq!(
            q.label.as_deref(),
            Some("build"),
            "a report badge labelled build"
        );
        let q = parse_query(Some("uuid=abc&group=unit"));
        assert_eq!(
            (q.token.as_deref(), q.report),
            (Some("abc"), None),
            "a build badge ignores group"
        );
    }

    #[test]
    fn a_report_query_that_names_no_single_badge_is_an_unknown_badge() {
        // No kind: the unknown build badge.
        for raw in [
            "uuid=a&report=junit",
            "uuid=a&report=",
            "uuid=a&report=Tests",
            "uuid=a&report=tests&report=tests",
            "uuid=a&report=tests&report=coverage",
        ] {
            let q = parse_query(Some(raw));
            assert_eq!((q.token, q.report), (None, None), "{raw}");
        }
        // A kind but no single group: the unknown badge of that kind.
        let long_group = format!(
            "uuid=a&report=tests&group={}",
            "g".repeat(MAX_GROUP_BYTES + 1)
        );
        for raw in [
            "uuid=a&report=tests&group=x&group=y",
            "uuid=a&report=tests&group=x&group=x",
            "uuid=a&report=tests&group=",
            "uuid=a&report=tests&group=a%0Ab",
            &long_group,
        ] {
            let q = parse_query(Some(raw));
            assert_eq!(q.token, None, "{raw}");
            assert_eq!(q.report.map(|r| r.kind), Some(ReportKind::Tests), "{raw}");
        }
    }

    /// Query text: mostly the badge's own keys, with values from anything at all (raw,
    /// percent-escaped bytes, separators), or no structure whatsoever.
    fn any_query() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            Just("uuid".to_string()),
            Just("branch".to_string()),
            Just("tag".to_string()),
            Just("style".to_string()),
            Just("label".to_string()),
            Just("format".to_string()),
            Just("report".to_string()),
            Just("group".to_string()),
            "\\PC{0,8}",
        ];
        let value = prop_oneof![
            "\\PC{0,40}",
            "[a-z/._-]{0,20}",
            prop::collection::vec(any::<u8>(), 0..24)
                .prop_map(|bytes| bytes.iter().map(|b| format!("%{b:02X}")).collect()),
            (0usize..3000).prop_map(|n| "x".repeat(n)),
            Just("flat-square".to_string()),
            Just("json".to_string()),
            Just("tests".to_string()),
            Just("coverage".to_string()),
        ];
        let pairs = prop::collection::vec((key, value), 0..10).prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        });
        prop_oneof![
            pairs,
            "\\PC{0,300}",
            any::<Vec<u8>>().prop_map(|b| String::from_utf8_lossy(&b).into_owned())
        ]
    }

    proptest! {
        #![proptest_config(config(2000))]

        /// Any query reads as a badge that renders, quickly, and garbage never names one.
        #[test]
        fn any_query_is_a_badge(raw in any_query()) {
            let q = timed(Duration::from_secs(1), || {
                let q = parse_query(Some(&raw));
                let default_label = q.report.as_ref().map_or(DEFAULT_LABEL, |r| r.kind.label());
                let label = q.label.as_deref().unwrap_or(default_label);
                prop_assert!(kiln_badge::check_label(label).is_ok());
                let svg = kiln_badge::render_status(kiln_badge::BadgeStatus::Unknown, q.style, label);
                prop_assert!(svg.starts_with("<svg "));
                prop_assert!(kiln_badge::endpoint_json(kiln_badge::BadgeStatus::Unknown, label).is_ok());
                Ok(q)
            })??;
            if raw.len() > MAX_QUERY_BYTES {
                prop_assert!(q.token.is_none());
            }
            if let Some(RefQuery::Branch(name) | RefQuery::Tag(name)) = &q.git_ref {
                prop_assert!(q.token.is_some());
                prop_assert!(!name.is_empty() && name.len() <= MAX_REF_BYTES);
                prop_assert!(!name.chars().any(char::is_control));
            }
            if let Some(group) = q.report.as_ref().and_then(|r| r.group.as_ref()) {
                prop_assert!(!group.is_empty() && group.len() <= MAX_GROUP_BYTES);
                prop_assert!(!group.chars().any(char::is_control));
            }
        }
    }
}
