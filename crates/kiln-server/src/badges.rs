//! The public badge endpoint: `GET /badges?uuid=…[&branch=…|&tag=…][&style=…][&label=…][&format=svg|json]`,
//! and with `&report=tests|coverage[&group=…]` a report badge (`report`). It always answers
//! with an image (`query`): the unknown badge for a query that names no badge, the default
//! look for a garbled style, label or format.
//!
//! A badge is right the moment a build's status is committed: every store write that can change
//! a badge runs inside a `BadgeEpoch` change of its project, and a cached status is only used
//! while no change of that project is in flight and none finished since it was read. Otherwise
//! the store is asked: on the request's own thread when the store can read that way (a point
//! read costs less than a hand-off to another thread), else with concurrent requests for the
//! same badge sharing one read that began after they arrived. Changes are counted per project
//! (hashed into shards), so builds of other projects never send a badge to the store.
//!
//! The hot path (a cached status) takes no lock but one uncontended read lock, and allocates
//! nothing but the response: the query is parsed in place, and rendered images are kept per
//! (label, status, style, format) with their `ETag`s.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use kiln_badge::{BadgeStatus, DEFAULT_LABEL, Style};
use kiln_domain::badge_epoch::Shard;
use kiln_domain::build::BuildStatus;
use kiln_domain::refs::GitRef;
use kiln_domain::token;
use kiln_store::StoreError;

use crate::metrics::BadgeLookup;
use crate::state::AppState;

mod epoch;
mod project;
mod query;
mod report;
mod response;
mod slots;

pub use epoch::follow_store;
use project::{FactsCell, project_facts};
use query::{BadgeQuery, RefQuery, parse_query};
use response::{Rendered, STYLE_VARIANTS, insert_badge_headers, respond, style_index};
use slots::{SharedRead, Slots, Ticks, settle};

/// Custom labels whose images are cached before that cache is cleared.
const MAX_CACHED_LABELS: usize = 1024;

/// Images per label: one for each status, style and format.
const VARIANTS: usize = BadgeStatus::ALL.len() * STYLE_VARIANTS;

/// Every image for one label, rendered on first use: by status, style and format.
struct Variants {
    images: [OnceLock<Rendered>; VARIANTS],
}

impl Default for Variants {
    fn default() -> Self {
        Variants {
            images: std::array::from_fn(|_| OnceLock::new()),
        }
    }
}

impl Variants {
    fn get(&self, label: &str, status: BadgeStatus, style: Style, json: bool) -> &Rendered {
        let status_index = BadgeStatus::ALL
            .iter()
            .position(|s| *s == status)
            .unwrap_or_default();
        let index = status_index * STYLE_VARIANTS + style_index(style, json);
        // `index` is in range by construction; the fallback keeps this total.
        let slot = self.images.get(index).unwrap_or(&self.images[0]);
        slot.get_or_init(|| Rendered::new(status, style, label, json))
    }
}

/// No cached status: a generation no [`BadgeEpoch`] reaches.
const NO_STATUS: u64 = u64::MAX;

/// One badge's (token and ref) cached status and the lock that lets requests share a read.
struct BadgeSlot {
    git_ref: Option<GitRef>,
    /// The shard of the token's project, once a read found it: a token never changes project.
    shard: OnceLock<Shard>,
    /// What the last read found of the token's project: a build's change needs only the build
    /// query.
    facts: FactsCell,
    /// `generation << 2 | status index`, or [`NO_STATUS`].
    cached: AtomicU64,
    last_read: SharedRead<BadgeStatus>,
}

impl BadgeSlot {
    fn new(git_ref: Option<GitRef>) -> BadgeSlot {
        BadgeSlot {
            git_ref,
            shard: OnceLock::new(),
            facts: FactsCell::default(),
            cached: AtomicU64::new(NO_STATUS),
            last_read: SharedRead::default(),
        }
    }

    fn is_for(&self, git_ref: Option<&RefQuery<'_>>) -> bool {
        match (&self.git_ref, git_ref) {
            (None, None) => true,
            (Some(cached), Some(asked)) => asked.matches(cached),
            _ => false,
        }
    }

    fn cached(&self, generation: u64) -> Option<BadgeStatus> {
        let packed = self.cached.load(Ordering::SeqCst);
        (packed != NO_STATUS && packed >> 2 == generation)
            .then(|| BadgeStatus::ALL.get((packed & 3) as usize).copied())
            .flatten()
    }

    fn remember(&self, generation: u64, status: BadgeStatus) {
        let index = BadgeStatus::ALL
            .iter()
            .position(|s| *s == status)
            .unwrap_or_default() as u64;
        if generation < NO_STATUS >> 2 {
            self.cached.store(generation << 2 | index, Ordering::SeqCst);
        }
    }
}

/// Badge statuses by token and ref, report badges by token, ref, kind and group, and rendered
/// images by label.
#[derive(Default)]
pub struct BadgeCache {
    ticks: Ticks,
    slots: Slots<BadgeSlot>,
    reports: report::ReportCache,
    default_label: Variants,
    labelled: RwLock<HashMap<Box<str>, Arc<Variants>>>,
}

impl BadgeCache {
    fn slot(&self, token: &str, git_ref: Option<&RefQuery<'_>>) -> Arc<BadgeSlot> {
        self.slots.get(
            token,
            |slot| slot.is_for(git_ref),
            || BadgeSlot::new(git_ref.map(RefQuery::to_git_ref)),
        )
    }

    /// The images for a custom label.
    fn labelled(&self, label: &str) -> Arc<Variants> {
        if let Some(v) = self
            .labelled
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(label)
        {
            return Arc::clone(v);
        }
        let mut map = self
            .labelled
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Labels are caller-chosen; cap the number kept.
        if map.len() >= MAX_CACHED_LABELS {
            map.clear();
        }
        Arc::clone(map.entry(label.into()).or_default())
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

/// The status for a well-formed token, straight from the store (but for the project's facts),
/// and the shard of its project when there is one.
async fn lookup_status(
    state: &AppState,
    slot: &BadgeSlot,
    token: &str,
) -> Result<(Option<Shard>, BadgeStatus), StoreError> {
    let facts = project_facts(state, &slot.facts, token).await?;
    let Some(project) = &facts.project else {
        return Ok((None, BadgeStatus::Unknown));
    };
    let shard = Some(project.shard());
    if !project.badge_enabled {
        return Ok((shard, BadgeStatus::Unknown));
    }
    let Some(git_ref) = project.badge_ref(state, slot.git_ref.as_ref()).await? else {
        return Ok((shard, BadgeStatus::Unknown));
    };
    let status = state
        .store
        .latest_status_for_ref(
            &project.account_id,
            &project.name,
            &git_ref,
            project.source_epoch,
        )
        .await?;
    Ok((shard, badge_status(status)))
}

/// The badge's status read on this thread, when its project's facts are cached and the store can
/// read that way: the read begins after the request arrived, and costs less than waiting for a
/// read shared with other requests. `None` leaves it to the shared read.
fn direct_status(state: &AppState, slot: &BadgeSlot, shard: Option<Shard>) -> Option<BadgeStatus> {
    let shard = shard?;
    let facts = slot
        .facts
        .get(state.badge_epoch.projects_stable_generation()?)?;
    let project = facts.project.as_ref()?;
    if !project.badge_enabled {
        return Some(BadgeStatus::Unknown);
    }
    let git_ref = project.ref_for(slot.git_ref.as_ref())?;
    let generation = state.badge_epoch.stable_generation(Some(shard));
    let read = state.store.latest_status_for_ref_now(
        &project.account_id,
        &project.name,
        &git_ref,
        project.source_epoch,
    )?;
    let status = match read {
        Ok(status) => badge_status(status),
        Err(e) => {
            tracing::debug!(error = %e, "direct badge read failed; reading through the pool");
            return None;
        }
    };
    if let Some(g) = generation {
        slot.remember(g, status);
    }
    Some(status)
}

/// The badge's status as of this request's arrival, or later.
async fn current_status(state: &AppState, q: &BadgeQuery<'_>) -> BadgeStatus {
    let Some(token) = q.token.as_deref().filter(|t| token::is_well_formed(t)) else {
        state.metrics.badge(BadgeLookup::Unknown);
        return BadgeStatus::Unknown;
    };
    let cache = &state.badge_cache;
    let slot = cache.slot(token, q.git_ref.as_ref());
    let shard = slot.shard.get().copied();
    if let Some(g) = state.badge_epoch.stable_generation(shard)
        && let Some(status) = slot.cached(g)
    {
        state.metrics.badge(BadgeLookup::Cached);
        return status;
    }
    state.metrics.badge(BadgeLookup::Read);
    if let Some(status) = direct_status(state, &slot, shard) {
        return status;
    }
    // Taken after the request started, so any read begun later began after the request did.
    let arrival = cache.ticks.next();
    let read = async {
        let generation = state.badge_epoch.stable_generation(shard);
        match lookup_status(state, &slot, token).await {
            Ok((found, status)) => {
                settle(&slot.shard, shard, found, generation, |g| {
                    slot.remember(g, status)
                });
                status
            }
            Err(e) => {
                // Shown (as UNKNOWN, like any badge Kiln cannot vouch for) but never cached.
                tracing::error!(error = %e, "badge lookup failed");
                BadgeStatus::Unknown
            }
        }
    };
    slot.last_read.after(&cache.ticks, arrival, read).await
}

/// The answer to a query that names no badge (status, headers and image), as the endpoint
/// gives it: also what the HTTP layer sends for a badge URL too long for it to parse.
pub fn unknown_badge() -> http::Response<Bytes> {
    let query = BadgeQuery::UNKNOWN;
    let label = query.label.as_deref().unwrap_or(DEFAULT_LABEL);
    let rendered = Rendered::new(BadgeStatus::Unknown, query.style, label, query.json);
    let mut response = http::Response::new(rendered.body.clone());
    insert_badge_headers(response.headers_mut(), &rendered, query.json);
    response
}

pub async fn badge_handler(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let query = parse_query(request.uri().query());
    if let Some(report) = &query.report {
        return report::respond_report(&state, &query, report, request.headers()).await;
    }
    let status = current_status(&state, &query).await;
    match query.label.as_deref() {
        None => {
            let rendered =
                state
                    .badge_cache
                    .default_label
                    .get(DEFAULT_LABEL, status, query.style, query.json);
            respond(rendered, query.json, request.headers())
        }
        Some(label) => {
            let variants = state.badge_cache.labelled(label);
            let rendered = variants.get(label, status, query.style, query.json);
            respond(rendered, query.json, request.headers())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    #[test]
    fn slots_cache_a_status_per_generation_and_ref() {
        let cache = BadgeCache::default();
        let main = RefQuery::Branch("main".into());
        let slot = cache.slot("tok", Some(&main));
        assert_eq!(slot.cached(0), None);
        slot.remember(3, BadgeStatus::InProgress);
        assert_eq!(slot.cached(3), Some(BadgeStatus::InProgress));
        assert_eq!(slot.cached(4), None);
        assert!(Arc::ptr_eq(&slot, &cache.slot("tok", Some(&main))));
        let tag = RefQuery::Tag("main".into());
        assert!(!Arc::ptr_eq(&slot, &cache.slot("tok", Some(&tag))));
        assert!(!Arc::ptr_eq(&slot, &cache.slot("tok", None)));
        assert!(!Arc::ptr_eq(&slot, &cache.slot("other", Some(&main))));
    }

    #[test]
    fn the_unknown_badge_is_what_a_query_naming_no_badge_gets() {
        let query = parse_query(Some("uuid=a&uuid=b"));
        let variants = Variants::default();
        let rendered = variants.get(DEFAULT_LABEL, BadgeStatus::Unknown, query.style, query.json);
        let served = respond(rendered, query.json, &HeaderMap::new());
        let unknown = unknown_badge();
        assert_eq!(unknown.status(), served.status());
        assert_eq!(unknown.headers(), served.headers());
        assert_eq!(*unknown.body(), rendered.body);
    }

    #[test]
    fn variants_render_each_image_once_with_its_own_etag() {
        let variants = Variants::default();
        let a = variants.get("build", BadgeStatus::Passing, Style::Flat, false);
        let b = variants.get("build", BadgeStatus::Passing, Style::Flat, false);
        assert!(std::ptr::eq(a, b));
        let json = variants.get("build", BadgeStatus::Passing, Style::Flat, true);
        assert!(json.body.starts_with(b"{\"schemaVersion\":1"));
        assert_ne!(a.etag, json.etag);
        let failing = variants.get("build", BadgeStatus::Failing, Style::Social, false);
        assert_ne!(a.etag, failing.etag);
    }
}
