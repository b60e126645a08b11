//! What every page shares: the header, rendering with the console's security headers,
//! redirects, error pages and the formatting of times and statuses.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use kiln_domain::ApiError;

use super::session::Session;

/// The page header: who is signed in, and the token of the sign-out form.
pub struct Chrome {
    pub signed_in: bool,
    pub account_id: String,
    pub access_key_id: String,
    pub csrf: String,
}

impl Chrome {
    pub fn of(session: Option<&Session>) -> Self {
        match session {
            Some(s) => Chrome {
                signed_in: true,
                account_id: s.caller.account_id.clone(),
                access_key_id: s.caller.access_key_id.clone(),
                csrf: s.csrf.clone(),
            },
            None => Chrome {
                signed_in: false,
                account_id: String::new(),
                access_key_id: String::new(),
                csrf: String::new(),
            },
        }
    }
}

/// Scripts and styles come only from the console itself; badge images may come from the
/// public URL when it names another host.
fn content_security_policy(img_origin: &str) -> String {
    format!(
        "default-src 'self'; img-src 'self' data: {img_origin}; style-src 'self'; script-src 'self'; \
         connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
    )
}

/// The scheme and host of `url`, for the CSP; empty when it has none.
fn origin_of(url: &str) -> &str {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "";
    };
    let host_len = rest.find('/').unwrap_or(rest.len());
    let origin = &url[..scheme.len() + 3 + host_len];
    // A CSP source must not carry characters that would end or split the directive.
    if origin
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b":/.-[]".contains(&b))
    {
        origin
    } else {
        ""
    }
}

/// Renders a page with the console's headers.
pub fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    render_with_origin(status, page, "")
}

pub fn render_with_origin<T: Template>(status: StatusCode, page: &T, public_url: &str) -> Response {
    match page.render() {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            let h = response.headers_mut();
            if let Ok(csp) = HeaderValue::from_str(&content_security_policy(origin_of(public_url)))
            {
                h.insert(header::CONTENT_SECURITY_POLICY, csp);
            }
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(err) => {
            tracing::error!(error = %err, "console template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// `303 See Other` to a console path, the answer to a successful form.
pub fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    status: u16,
    heading: &'a str,
    message: &'a str,
}

pub fn error_page(
    session: Option<&Session>,
    status: StatusCode,
    heading: &str,
    message: &str,
) -> Response {
    render(
        status,
        &ErrorPage {
            chrome: Chrome::of(session),
            status: status.as_u16(),
            heading,
            message,
        },
    )
}

pub fn not_found_page(session: Option<&Session>, heading: &str, message: &str) -> Response {
    error_page(session, StatusCode::NOT_FOUND, heading, message)
}

/// A failed operation that has no form to show it next to.
pub fn api_error_page(session: &Session, err: &ApiError) -> Response {
    let status = if err.kind == kiln_domain::ErrorKind::ResourceNotFound {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::from_u16(err.kind.http_status()).unwrap_or(StatusCode::BAD_REQUEST)
    };
    error_page(Some(session), status, err.kind.type_name(), &err.message)
}

/// `2026-11-24 15:18:47 UTC` from epoch seconds.
pub fn format_time(epoch: f64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from_unix_timestamp(epoch.floor() as i64)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// `1 min 5 s`, `12 s`.
pub fn format_duration(seconds: f64) -> String {
    let total = seconds.max(0.0).round() as u64;
    match (total / 3600, total % 3600 / 60, total % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

/// The CSS class of a status pill.
pub fn status_class(status: &str) -> &'static str {
    match status {
        "SUCCEEDED" => "ok",
        "FAILED" | "FAULT" | "TIMED_OUT" => "bad",
        "IN_PROGRESS" => "busy",
        _ => "idle",
    }
}

/// How a status reads on a page.
pub fn status_label(status: &str) -> String {
    let words = status.replace('_', " ").to_lowercase();
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "No builds".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations() {
        assert_eq!(format_time(0.0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_duration(5.4), "5 s");
        assert_eq!(format_duration(65.0), "1 min 5 s");
        assert_eq!(format_duration(3700.0), "1 h 1 min");
    }

    #[test]
    fn status_words() {
        assert_eq!(status_label("IN_PROGRESS"), "In progress");
        assert_eq!(status_label("SUCCEEDED"), "Succeeded");
        assert_eq!(status_label(""), "No builds");
        assert_eq!(status_class("TIMED_OUT"), "bad");
    }

    #[test]
    fn csp_origin_is_clean() {
        assert_eq!(
            origin_of("https://ci.example.com/x"),
            "https://ci.example.com"
        );
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(origin_of("http://a;b"), "");
        assert_eq!(origin_of("nope"), "");
    }
}
