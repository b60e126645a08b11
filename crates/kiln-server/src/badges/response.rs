//! A badge answer: the rendered image with its entity tag, and the headers every badge answer
//! carries (build and report badges alike).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use kiln_badge::{BadgeStatus, EndpointBadge, ReportBadge, Style};
use sha2::{Digest, Sha256};

const SVG_CONTENT_TYPE: HeaderValue = HeaderValue::from_static("image/svg+xml;charset=utf-8");
const JSON_CONTENT_TYPE: HeaderValue = HeaderValue::from_static("application/json");
const CACHE_CONTROL: HeaderValue = HeaderValue::from_static("no-cache, max-age=0");
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const CSP: HeaderValue =
    HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox");
const ANY_ORIGIN: HeaderValue = HeaderValue::from_static("*");

/// A rendered badge and its entity tag.
pub(super) struct Rendered {
    pub body: Bytes,
    pub etag: HeaderValue,
}

impl Rendered {
    /// A build badge.
    pub(super) fn new(status: BadgeStatus, style: Style, label: &str, json: bool) -> Rendered {
        let body = if json {
            kiln_badge::endpoint_json(status, label).unwrap_or_default()
        } else {
            kiln_badge::render_status(status, style, label)
        };
        Rendered::of(body)
    }

    /// A report badge.
    pub(super) fn report(badge: &ReportBadge, style: Style, label: &str, json: bool) -> Rendered {
        let body = if json {
            let message = badge.message();
            let endpoint = EndpointBadge::with_message(label, &message, badge.color_name());
            serde_json::to_string(&endpoint).unwrap_or_default()
        } else {
            kiln_badge::render_report(badge, style, label)
        };
        Rendered::of(body)
    }

    fn of(body: String) -> Rendered {
        let digest = Sha256::digest(body.as_bytes());
        let etag = HeaderValue::from_str(&format!("\"{}\"", hex::encode(&digest[..16])))
            .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
        Rendered {
            body: Bytes::from(body),
            etag,
        }
    }

    /// True when `If-None-Match` names this entity (weak comparison, as RFC 9110 asks).
    fn is_named_by(&self, if_none_match: &HeaderValue) -> bool {
        let Ok(tags) = if_none_match.to_str() else {
            return false;
        };
        let etag = self.etag.as_bytes();
        tags.split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == etag)
    }
}

/// Images per label of one badge value: by style and format.
pub(super) const STYLE_VARIANTS: usize = Style::ALL.len() * 2;

/// The place of (style, format) among a value's [`STYLE_VARIANTS`] images.
pub(super) fn style_index(style: Style, json: bool) -> usize {
    let style_index = Style::ALL
        .iter()
        .position(|s| *s == style)
        .unwrap_or_default();
    style_index * 2 + usize::from(json)
}

/// The image, or 304 when `If-None-Match` names it.
pub(super) fn respond(rendered: &Rendered, json: bool, request_headers: &HeaderMap) -> Response {
    let not_modified = request_headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|tags| rendered.is_named_by(tags));
    let mut response = if not_modified {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        Response::new(Body::from(rendered.body.clone()))
    };
    insert_badge_headers(response.headers_mut(), rendered, json);
    response
}

/// The headers every badge answer carries, 304s included.
pub(super) fn insert_badge_headers(h: &mut HeaderMap, rendered: &Rendered, json: bool) {
    h.reserve(6);
    h.insert(
        header::CONTENT_TYPE,
        if json {
            JSON_CONTENT_TYPE
        } else {
            SVG_CONTENT_TYPE
        },
    );
    h.insert(header::CACHE_CONTROL, CACHE_CONTROL);
    h.insert(header::ETAG, rendered.etag.clone());
    h.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    h.insert(header::CONTENT_SECURITY_POLICY, CSP);
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY_ORIGIN);
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_badge::TestCounts;

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists() {
        let rendered = Rendered::new(BadgeStatus::Passing, Style::Flat, "build", false);
        let etag = rendered.etag.to_str().unwrap().to_string();
        for matching in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"x\", {etag}"),
            "*".into(),
        ] {
            assert!(
                rendered.is_named_by(&HeaderValue::from_str(&matching).unwrap()),
                "{matching}"
            );
        }
        for other in ["\"x\"", "", "W/\"x\""] {
            assert!(!rendered.is_named_by(&HeaderValue::from_str(other).unwrap()));
        }
    }

    #[test]
    fn report_badges_render_as_svg_and_as_shields_endpoint_json() {
        let badge = ReportBadge::Tests(TestCounts {
            passed: 120,
            failed: 2,
            skipped: 0,
            total: 122,
        });
        let svg = Rendered::report(&badge, Style::Flat, "tests", false);
        assert!(svg.body.starts_with(b"<svg "));
        let json = Rendered::report(&badge, Style::Flat, "tests", true);
        let value: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"schemaVersion": 1, "label": "tests",
                "message": "120 passed, 2 failed", "color": "red"})
        );
        assert_ne!(svg.etag, json.etag);
    }
}
