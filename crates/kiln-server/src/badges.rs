//! The public badge endpoint: `GET /badges?uuid=…[&branch=…|&tag=…][&style=…][&label=…][&format=svg|json]`.
//!
//! A badge is right the moment a build's status is committed: every store write that can change
//! a badge runs inside a [`BadgeEpoch`] change, and cached answers are only used while no change
//! is in flight and none finished since they were computed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use kiln_badge::{BadgeStatus, DEFAULT_LABEL, Style};
use kiln_domain::build::BuildStatus;
use kiln_domain::refs::GitRef;
use kiln_domain::token;
use sha2::{Digest, Sha256};

use crate::state::AppState;

/// Longest query string the endpoint reads.
const MAX_QUERY_BYTES: usize = 2048;
/// Longest branch or tag name (git allows more, but no real ref is this long).
const MAX_REF_BYTES: usize = 1024;
/// Cached statuses kept before the cache is cleared.
const MAX_CACHED_STATUSES: usize = 100_000;

/// Counts badge-changing writes: `started` when one begins, `finished` when it has committed.
#[derive(Default)]
pub struct BadgeEpoch {
    started: AtomicU64,
    finished: AtomicU64,
}

/// Marks a badge-changing write in flight; dropping it marks the write finished.
pub struct ChangeGuard<'a>(&'a BadgeEpoch);

impl Drop for ChangeGuard<'_> {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::SeqCst);
    }
}

impl BadgeEpoch {
    /// Call before a write that may change a badge; keep the guard until it has committed.
    pub fn begin_change(&self) -> ChangeGuard<'_> {
        self.started.fetch_add(1, Ordering::SeqCst);
        ChangeGuard(self)
    }

    /// The generation under which cached answers are valid, or `None` while a write is in flight.
    fn stable_generation(&self) -> Option<u64> {
        let finished = self.finished.load(Ordering::SeqCst);
        let started = self.started.load(Ordering::SeqCst);
        (started == finished).then_some(finished)
    }
}

/// What a badge request asks for.
#[derive(Debug, PartialEq, Eq)]
struct BadgeQuery {
    token: Option<String>,
    git_ref: Option<GitRef>,
    style: Style,
    label: String,
    json: bool,
}

#[derive(Debug, PartialEq, Eq)]
struct QueryError(String);

fn parse_query(raw: Option<&str>) -> Result<BadgeQuery, QueryError> {
    let raw = raw.unwrap_or_default();
    if raw.len() > MAX_QUERY_BYTES {
        return Err(QueryError(format!(
            "query string longer than {MAX_QUERY_BYTES} bytes"
        )));
    }
    let mut seen: HashMap<String, String> = HashMap::new();
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        if seen.insert(key.to_string(), value.to_string()).is_some() {
            return Err(QueryError(format!(
                "parameter '{key}' given more than once"
            )));
        }
    }
    let git_ref = match (seen.get("branch"), seen.get("tag")) {
        (Some(_), Some(_)) => {
            return Err(QueryError("give either 'branch' or 'tag', not both".into()));
        }
        (Some(b), None) => Some(GitRef::Branch(check_ref("branch", b)?)),
        (None, Some(t)) => Some(GitRef::Tag(check_ref("tag", t)?)),
        (None, None) => None,
    };
    let style = match seen.get("style") {
        Some(s) => s.parse::<Style>().map_err(|_| {
            QueryError(
                "unknown style; use one of flat, flat-square, plastic, for-the-badge, social"
                    .into(),
            )
        })?,
        None => Style::Flat,
    };
    let label = match seen.get("label") {
        Some(l) => {
            kiln_badge::check_label(l).map_err(|e| QueryError(format!("label: {e}")))?;
            l.clone()
        }
        None => DEFAULT_LABEL.to_string(),
    };
    let json = match seen.get("format").map(String::as_str) {
        None | Some("svg") => false,
        Some("json") => true,
        Some(_) => return Err(QueryError("format must be svg or json".into())),
    };
    Ok(BadgeQuery {
        token: seen.remove("uuid"),
        git_ref,
        style,
        label,
        json,
    })
}

fn check_ref(what: &str, name: &str) -> Result<String, QueryError> {
    if name.is_empty() || name.len() > MAX_REF_BYTES || name.chars().any(char::is_control) {
        return Err(QueryError(format!(
            "{what} must be 1 to {MAX_REF_BYTES} bytes without control characters"
        )));
    }
    Ok(name.to_string())
}

/// A rendered badge and its entity tag.
#[derive(Clone)]
struct Rendered {
    body: Bytes,
    etag: HeaderValue,
}

type StatusKey = (String, Option<GitRef>);

/// Badge answers cached per (token, ref) and rendered bytes per (status, style, label, format).
#[derive(Default)]
pub struct BadgeCache {
    statuses: RwLock<HashMap<StatusKey, (u64, BadgeStatus)>>,
    rendered: RwLock<HashMap<(BadgeStatus, Style, String, bool), Rendered>>,
}

impl BadgeCache {
    fn cached_status(&self, key: &StatusKey, generation: u64) -> Option<BadgeStatus> {
        let map = self.statuses.read().unwrap_or_else(PoisonError::into_inner);
        map.get(key)
            .filter(|(g, _)| *g == generation)
            .map(|(_, s)| *s)
    }

    fn remember_status(&self, key: StatusKey, generation: u64, status: BadgeStatus) {
        let mut map = self
            .statuses
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_CACHED_STATUSES {
            map.clear();
        }
        map.insert(key, (generation, status));
    }

    fn rendered(&self, status: BadgeStatus, q: &BadgeQuery) -> Rendered {
        let key = (status, q.style, q.label.clone(), q.json);
        if let Some(r) = self
            .rendered
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return r.clone();
        }
        let body = if q.json {
            kiln_badge::endpoint_json(status, &q.label).unwrap_or_default()
        } else {
            kiln_badge::render_status(status, q.style, &q.label)
        };
        let digest = Sha256::digest(body.as_bytes());
        let etag = HeaderValue::from_str(&format!("\"{}\"", hex::encode(&digest[..16])))
            .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
        let rendered = Rendered {
            body: Bytes::from(body),
            etag,
        };
        let mut map = self
            .rendered
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Labels are caller-chosen; cap the number of distinct rendered variants.
        if map.len() >= MAX_CACHED_STATUSES {
            map.clear();
        }
        map.insert(key, rendered.clone());
        rendered
    }
}

fn badge_status(status: Option<BuildStatus>) -> BadgeStatus {
    match status {
        Some(BuildStatus::Succeeded) => BadgeStatus::Passing,
        Some(BuildStatus::InProgress) => BadgeStatus::InProgress,
        Some(
            BuildStatus::Failed | BuildStatus::Fault | BuildStatus::TimedOut | BuildStatus::Stopped,
        ) => BadgeStatus::Failing,
        None => BadgeStatus::Unknown,
    }
}

/// The status for a well-formed token, straight from the store.
async fn lookup_status(state: &AppState, token: &str, git_ref: Option<&GitRef>) -> BadgeStatus {
    let project = match state.store.project_by_badge_token(token).await {
        Ok(Some(p)) if p.badge_enabled => p,
        Ok(_) => return BadgeStatus::Unknown,
        Err(e) => {
            tracing::error!(error = %e, "badge lookup failed");
            return BadgeStatus::Unknown;
        }
    };
    let git_ref = match git_ref {
        Some(r) => r.clone(),
        None => match project.default_branch() {
            Some(b) => GitRef::Branch(b),
            None => match state
                .store
                .default_branch_built(&project.account_id, &project.name, project.source_epoch)
                .await
            {
                Ok(Some(b)) => GitRef::Branch(b),
                Ok(None) => return BadgeStatus::Unknown,
                Err(e) => {
                    tracing::error!(error = %e, "badge lookup failed");
                    return BadgeStatus::Unknown;
                }
            },
        },
    };
    match state
        .store
        .latest_status_for_ref(
            &project.account_id,
            &project.name,
            &git_ref,
            project.source_epoch,
        )
        .await
    {
        Ok(status) => badge_status(status),
        Err(e) => {
            tracing::error!(error = %e, "badge lookup failed");
            BadgeStatus::Unknown
        }
    }
}

async fn current_status(state: &AppState, q: &BadgeQuery) -> BadgeStatus {
    let Some(token) = q.token.as_deref().filter(|t| token::is_well_formed(t)) else {
        return BadgeStatus::Unknown;
    };
    let key: StatusKey = (token.to_string(), q.git_ref.clone());
    let generation = state.badge_epoch.stable_generation();
    if let Some(g) = generation
        && let Some(status) = state.badge_cache.cached_status(&key, g)
    {
        return status;
    }
    let status = lookup_status(state, token, q.git_ref.as_ref()).await;
    if let Some(g) = generation {
        state.badge_cache.remember_status(key, g, status);
    }
    status
}

pub async fn badge_handler(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = match parse_query(raw.as_deref()) {
        Ok(q) => q,
        Err(QueryError(message)) => {
            return (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("bad badge request: {message}\n"),
            )
                .into_response();
        }
    };
    let status = current_status(&state, &query).await;
    let rendered = state.badge_cache.rendered(status, &query);
    let content_type = if query.json {
        "application/json"
    } else {
        "image/svg+xml;charset=utf-8"
    };
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == rendered.etag.to_str().unwrap_or("") || t.trim() == "*")
        });
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        rendered.body.clone().into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, max-age=0"),
    );
    h.insert(header::ETAG, rendered.etag);
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_query() {
        let q = parse_query(Some(
            "uuid=abc&branch=feature%2Fx&style=flat-square&label=ci&format=json",
        ))
        .unwrap();
        assert_eq!(q.token.as_deref(), Some("abc"));
        assert_eq!(q.git_ref, Some(GitRef::Branch("feature/x".into())));
        assert_eq!(q.style, Style::FlatSquare);
        assert_eq!(q.label, "ci");
        assert!(q.json);
    }

    #[test]
    fn refuses_odd_queries() {
        for raw in [
            "uuid=a&uuid=b",
            "uuid=a&branch=x&tag=y",
            "uuid=a&style=fancy",
            "uuid=a&format=png",
            "uuid=a&branch=",
            "uuid=a&branch=%0a",
        ] {
            assert!(parse_query(Some(raw)).is_err(), "{raw}");
        }
        let long = format!("uuid={}", "a".repeat(MAX_QUERY_BYTES));
        assert!(parse_query(Some(&long)).is_err());
        let long_label = format!("uuid=a&label={}", "a".repeat(65));
        assert!(parse_query(Some(&long_label)).is_err());
    }

    #[test]
    fn missing_token_is_not_an_error() {
        assert_eq!(parse_query(None).unwrap().token, None);
    }

    #[test]
    fn epoch_is_unstable_while_a_change_is_in_flight() {
        let epoch = BadgeEpoch::default();
        assert_eq!(epoch.stable_generation(), Some(0));
        let guard = epoch.begin_change();
        assert_eq!(epoch.stable_generation(), None);
        drop(guard);
        assert_eq!(epoch.stable_generation(), Some(1));
    }
}
