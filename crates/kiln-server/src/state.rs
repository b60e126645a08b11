//! What every request handler shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kiln_store::Store;

use crate::auth::KeyRing;

pub struct AppState {
    pub store: Arc<dyn Store>,
    pub region: String,
    /// Base of badge, console and log links, without a trailing slash.
    pub public_url: String,
    pub keys: KeyRing,
    /// Bumped by every change that can alter a badge; cached badges older than it are stale.
    badge_generation: AtomicU64,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, region: String, public_url: String, keys: KeyRing) -> Self {
        AppState {
            store,
            region,
            public_url: public_url.trim_end_matches('/').to_string(),
            keys,
            badge_generation: AtomicU64::new(0),
        }
    }

    pub fn now_epoch(&self) -> f64 {
        let now = time::OffsetDateTime::now_utc();
        // Millisecond precision, as CodeBuild reports times.
        (now.unix_timestamp_nanos() / 1_000_000) as f64 / 1000.0
    }

    /// Records that what a badge shows may have changed.
    pub fn badges_changed(&self, _token: &str) {
        self.badge_generation.fetch_add(1, Ordering::SeqCst);
    }

    pub fn badge_generation(&self) -> u64 {
        self.badge_generation.load(Ordering::SeqCst)
    }
}
