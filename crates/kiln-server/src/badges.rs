//! The public badge endpoint: `GET /badges?uuid=…[&branch=…|&tag=…][&style=…][&label=…][&format=svg|json]`.
//! It always answers with an image (`query`): the unknown badge for a query that names no
//! badge, the default look for a garbled style, label or format.
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

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use kiln_badge::{BadgeStatus, DEFAULT_LABEL, Style};
use kiln_domain::badge_epoch::Shard;
use kiln_domain::build::BuildStatus;
use kiln_domain::refs::GitRef;
use kiln_domain::token;
use kiln_store::StoreError;
use sha2::{Digest, Sha256};

use crate::state::AppState;

mod epoch;
mod query;

pub use epoch::follow_store;
use query::{BadgeQuery, RefQuery, parse_query};

/// Badges (token and ref) whose status is cached before the cache is cleared.
const MAX_CACHED_BADGES: usize = 100_000;
/// Refs cached per token before that token's entries are cleared.
const MAX_REFS_PER_TOKEN: usize = 64;
/// Custom labels whose images are cached before that cache is cleared.
const MAX_CACHED_LABELS: usize = 1024;

const SVG_CONTENT_TYPE: HeaderValue = HeaderValue::from_static("image/svg+xml;charset=utf-8");
const JSON_CONTENT_TYPE: HeaderValue = HeaderValue::from_static("application/json");
const CACHE_CONTROL: HeaderValue = HeaderValue::from_static("no-cache, max-age=0");
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const CSP: HeaderValue =
    HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox");
const ANY_ORIGIN: HeaderValue = HeaderValue::from_static("*");

/// A rendered badge and its entity tag.
struct Rendered {
    body: Bytes,
    etag: HeaderValue,
}

impl Rendered {
    fn new(status: BadgeStatus, style: Style, label: &str, json: bool) -> Rendered {
        let body = if json {
            kiln_badge::endpoint_json(status, label).unwrap_or_default()
        } else {
            kiln_badge::render_status(status, style, label)
        };
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

/// Images per label: one for each status, style and format.
const VARIANTS: usize = BadgeStatus::ALL.len() * Style::ALL.len() * 2;

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
        let style_index = Style::ALL
            .iter()
            .position(|s| *s == style)
            .unwrap_or_default();
        let index = (status_index * Style::ALL.len() + style_index) * 2 + usize::from(json);
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
    /// What the last read found of the token's project, and the project generation it is valid
    /// under: a build's change needs only the build query.
    facts: std::sync::Mutex<Option<(u64, Arc<ProjectFacts>)>>,
    /// `generation << 2 | status index`, or [`NO_STATUS`].
    cached: AtomicU64,
    /// The last read from the store: the tick it began at, and what it found.
    last_read: tokio::sync::Mutex<Option<(u64, BadgeStatus)>>,
}

impl BadgeSlot {
    fn new(git_ref: Option<GitRef>) -> BadgeSlot {
        BadgeSlot {
            git_ref,
            shard: OnceLock::new(),
            facts: std::sync::Mutex::new(None),
            cached: AtomicU64::new(NO_STATUS),
            last_read: tokio::sync::Mutex::new(None),
        }
    }

    fn facts(&self, generation: u64) -> Option<Arc<ProjectFacts>> {
        match &*self.facts.lock().unwrap_or_else(PoisonError::into_inner) {
            Some((g, facts)) if *g == generation => Some(Arc::clone(facts)),
            _ => None,
        }
    }

    fn remember_facts(&self, generation: u64, facts: Arc<ProjectFacts>) {
        *self.facts.lock().unwrap_or_else(PoisonError::into_inner) = Some((generation, facts));
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

/// Badge slots by token, each token's by ref.
#[derive(Default)]
struct Slots {
    by_token: HashMap<Box<str>, Vec<Arc<BadgeSlot>>>,
    count: usize,
}

/// Badge statuses by token and ref, and rendered images by label.
#[derive(Default)]
pub struct BadgeCache {
    /// Orders request arrivals and store reads, so a request only reuses a read begun after it.
    ticks: AtomicU64,
    slots: RwLock<Slots>,
    default_label: Variants,
    labelled: RwLock<HashMap<Box<str>, Arc<Variants>>>,
}

impl BadgeCache {
    fn tick(&self) -> u64 {
        self.ticks.fetch_add(1, Ordering::SeqCst)
    }

    fn find_slot(&self, token: &str, git_ref: Option<&RefQuery<'_>>) -> Option<Arc<BadgeSlot>> {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        slots
            .by_token
            .get(token)?
            .iter()
            .find(|slot| match (&slot.git_ref, git_ref) {
                (None, None) => true,
                (Some(cached), Some(asked)) => asked.matches(cached),
                _ => false,
            })
            .cloned()
    }

    fn slot(&self, token: &str, git_ref: Option<&RefQuery<'_>>) -> Arc<BadgeSlot> {
        if let Some(slot) = self.find_slot(token, git_ref) {
            return slot;
        }
        let mut guard = self.slots.write().unwrap_or_else(PoisonError::into_inner);
        let slots = &mut *guard;
        // Tokens and refs come from anyone: the cache is bounded, and simply starts over.
        if slots.count >= MAX_CACHED_BADGES {
            slots.by_token.clear();
            slots.count = 0;
        }
        let refs = slots.by_token.entry(token.into()).or_default();
        let wanted = git_ref.map(RefQuery::to_git_ref);
        if let Some(slot) = refs.iter().find(|slot| slot.git_ref == wanted) {
            return Arc::clone(slot);
        }
        if refs.len() >= MAX_REFS_PER_TOKEN {
            slots.count -= refs.len();
            refs.clear();
        }
        let slot = Arc::new(BadgeSlot::new(wanted));
        refs.push(Arc::clone(&slot));
        slots.count += 1;
        slot
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

/// What a badge needs of its project; `None` for a token no project has.
#[derive(Debug)]
struct ProjectFacts {
    project: Option<BadgeProject>,
}

#[derive(Debug)]
struct BadgeProject {
    account_id: String,
    name: String,
    badge_enabled: bool,
    source_epoch: i64,
    /// The branch the project's `sourceVersion` names.
    default_branch: Option<String>,
}

impl BadgeProject {
    /// The ref a badge asks for, or else the branch `sourceVersion` names; `None` when only
    /// the builds can tell the default branch.
    fn ref_for<'a>(&self, asked: Option<&'a GitRef>) -> Option<Cow<'a, GitRef>> {
        asked.map(Cow::Borrowed).or_else(|| {
            self.default_branch
                .clone()
                .map(|b| Cow::Owned(GitRef::Branch(b)))
        })
    }
}

/// The project of a well-formed token, from the slot while no project changed since it was
/// read, else from the store.
async fn project_facts(
    state: &AppState,
    slot: &BadgeSlot,
    token: &str,
) -> Result<Arc<ProjectFacts>, StoreError> {
    let generation = state.badge_epoch.projects_stable_generation();
    if let Some(facts) = generation.and_then(|g| slot.facts(g)) {
        return Ok(facts);
    }
    let project = state
        .store
        .project_by_badge_token(token)
        .await?
        .map(|p| BadgeProject {
            default_branch: p.default_branch(),
            account_id: p.account_id,
            name: p.name,
            badge_enabled: p.badge_enabled,
            source_epoch: p.source_epoch,
        });
    let facts = Arc::new(ProjectFacts { project });
    if let Some(g) = generation {
        slot.remember_facts(g, Arc::clone(&facts));
    }
    Ok(facts)
}

/// The status for a well-formed token, straight from the store (but for the project's facts),
/// and the shard of its project when there is one.
async fn lookup_status(
    state: &AppState,
    slot: &BadgeSlot,
    token: &str,
) -> Result<(Option<Shard>, BadgeStatus), StoreError> {
    let facts = project_facts(state, slot, token).await?;
    let Some(project) = &facts.project else {
        return Ok((None, BadgeStatus::Unknown));
    };
    let shard = Some(Shard::of(&project.account_id, &project.name));
    if !project.badge_enabled {
        return Ok((shard, BadgeStatus::Unknown));
    }
    let status = project_status(state, project, slot.git_ref.as_ref()).await?;
    Ok((shard, status))
}

/// The status of a badge-enabled project's badge for `git_ref` (its default branch if `None`).
async fn project_status(
    state: &AppState,
    project: &BadgeProject,
    git_ref: Option<&GitRef>,
) -> Result<BadgeStatus, StoreError> {
    let git_ref = match project.ref_for(git_ref) {
        Some(r) => r.into_owned(),
        None => match state
            .store
            .default_branch_built(&project.account_id, &project.name, project.source_epoch)
            .await?
        {
            Some(b) => GitRef::Branch(b),
            None => return Ok(BadgeStatus::Unknown),
        },
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
    Ok(badge_status(status))
}

/// The badge's status read on this thread, when its project's facts are cached and the store can
/// read that way: the read begins after the request arrived, and costs less than waiting for a
/// read shared with other requests. `None` leaves it to the shared read.
fn direct_status(state: &AppState, slot: &BadgeSlot, shard: Option<Shard>) -> Option<BadgeStatus> {
    let shard = shard?;
    let facts = slot.facts(state.badge_epoch.projects_stable_generation()?)?;
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
        return BadgeStatus::Unknown;
    };
    let cache = &state.badge_cache;
    let slot = cache.slot(token, q.git_ref.as_ref());
    let shard = slot.shard.get().copied();
    if let Some(g) = state.badge_epoch.stable_generation(shard)
        && let Some(status) = slot.cached(g)
    {
        return status;
    }
    if let Some(status) = direct_status(state, &slot, shard) {
        return status;
    }
    // Taken after the request started, so any read begun later began after the request did.
    let arrival = cache.tick();
    // One store read at a time per badge; those waiting reuse a read that began after they
    // arrived, so it saw every change committed before they did.
    let mut last_read = slot.last_read.lock().await;
    if let Some((began, status)) = *last_read
        && began > arrival
    {
        return status;
    }
    let began = cache.tick();
    let generation = state.badge_epoch.stable_generation(shard);
    let (found_shard, status) = match lookup_status(state, &slot, token).await {
        Ok(found) => found,
        Err(e) => {
            // Shown (as UNKNOWN, like any badge Kiln cannot vouch for) but never cached.
            tracing::error!(error = %e, "badge lookup failed");
            *last_read = Some((began, BadgeStatus::Unknown));
            return BadgeStatus::Unknown;
        }
    };
    *last_read = Some((began, status));
    match (shard, found_shard) {
        // Cached under the generation of the counter it was read under.
        (Some(_), _) | (None, None) => {
            if let Some(g) = generation {
                slot.remember(g, status);
            }
        }
        // First sight of the project: from now on its own shard's generations count.
        (None, Some(found)) => {
            let _ = slot.shard.set(found);
        }
    }
    status
}

fn respond(rendered: &Rendered, json: bool, request_headers: &HeaderMap) -> Response {
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
fn insert_badge_headers(h: &mut HeaderMap, rendered: &Rendered, json: bool) {
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
