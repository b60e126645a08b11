//! What every request handler shares.

use std::sync::Arc;

use kiln_store::Store;

use crate::auth::KeyRing;
use kiln_domain::badge_epoch::BadgeEpoch;
use kiln_scheduler::BuildManager;

use crate::badges::BadgeCache;
use crate::console::ConsoleConfig;
use crate::metrics::Metrics;

pub struct AppState {
    pub store: Arc<dyn Store>,
    pub region: String,
    /// Base of badge, console and log links, without a trailing slash.
    pub public_url: String,
    pub keys: KeyRing,
    pub builds: Arc<BuildManager>,
    pub badge_epoch: Arc<BadgeEpoch>,
    pub badge_cache: BadgeCache,
    pub metrics: Metrics,
    pub console: ConsoleConfig,
}

impl AppState {
    pub fn now_epoch(&self) -> f64 {
        kiln_domain::clock::now_epoch()
    }
}
