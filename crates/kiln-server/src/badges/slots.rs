//! What build and report badges share about caching: slots by token (bounded), the order of
//! arrivals and reads, and one store read shared by the requests that wait for it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use kiln_domain::badge_epoch::Shard;

/// Badges whose value is cached before the cache is cleared.
const MAX_CACHED_BADGES: usize = 100_000;
/// Badges cached per token (refs, report kinds, groups) before that token's entries are cleared.
const MAX_SLOTS_PER_TOKEN: usize = 64;

/// Orders request arrivals and store reads, so a request only reuses a read begun after it.
#[derive(Default)]
pub(super) struct Ticks(AtomicU64);

impl Ticks {
    pub(super) fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst)
    }
}

/// Badge slots by token.
pub(super) struct Slots<S> {
    map: RwLock<SlotMap<S>>,
}

struct SlotMap<S> {
    by_token: HashMap<Box<str>, Vec<Arc<S>>>,
    count: usize,
}

impl<S> Default for Slots<S> {
    fn default() -> Self {
        Slots {
            map: RwLock::new(SlotMap {
                by_token: HashMap::new(),
                count: 0,
            }),
        }
    }
}

impl<S> Slots<S> {
    /// The slot of `token` that `is_it` picks, made by `make` when there is none yet.
    pub(super) fn get(
        &self,
        token: &str,
        is_it: impl Fn(&S) -> bool,
        make: impl FnOnce() -> S,
    ) -> Arc<S> {
        if let Some(slot) = self
            .map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_token
            .get(token)
            .and_then(|slots| slots.iter().find(|s| is_it(s)))
        {
            return Arc::clone(slot);
        }
        let mut guard = self.map.write().unwrap_or_else(PoisonError::into_inner);
        let map = &mut *guard;
        // Tokens and refs come from anyone: the cache is bounded, and simply starts over.
        if map.count >= MAX_CACHED_BADGES {
            map.by_token.clear();
            map.count = 0;
        }
        let slots = map.by_token.entry(token.into()).or_default();
        if let Some(slot) = slots.iter().find(|s| is_it(s)) {
            return Arc::clone(slot);
        }
        if slots.len() >= MAX_SLOTS_PER_TOKEN {
            map.count -= slots.len();
            slots.clear();
        }
        let slot = Arc::new(make());
        slots.push(Arc::clone(&slot));
        map.count += 1;
        slot
    }
}

/// The last store read of one badge: the tick it began at, and what it found.
pub(super) struct SharedRead<V>(tokio::sync::Mutex<Option<(u64, V)>>);

impl<V> Default for SharedRead<V> {
    fn default() -> Self {
        SharedRead(tokio::sync::Mutex::new(None))
    }
}

impl<V: Clone> SharedRead<V> {
    /// What a read that began after `arrival` found: one store read at a time per badge, and
    /// those waiting reuse a read that began after they arrived, so it saw every change
    /// committed before they did. `read` runs (is first polled) only after its tick is taken.
    pub(super) async fn after(
        &self,
        ticks: &Ticks,
        arrival: u64,
        read: impl Future<Output = V>,
    ) -> V {
        let mut last = self.0.lock().await;
        if let Some((began, value)) = &*last
            && *began > arrival
        {
            return value.clone();
        }
        let began = ticks.next();
        let value = read.await;
        *last = Some((began, value.clone()));
        value
    }
}

/// Keeps what a read found under the generation it was read under: the generation of the
/// shard the slot knew (`asked`), or of all changes while the project was unknown. The first
/// read that finds the project only records its shard, from which on its own changes count.
pub(super) fn settle(
    shard: &OnceLock<Shard>,
    asked: Option<Shard>,
    found: Option<Shard>,
    generation: Option<u64>,
    remember: impl FnOnce(u64),
) {
    match (asked, found) {
        (Some(_), _) | (None, None) => {
            if let Some(g) = generation {
                remember(g);
            }
        }
        (None, Some(found)) => {
            let _ = shard.set(found);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_found_by_token_and_key_and_bounded_per_token() {
        let slots: Slots<u32> = Slots::default();
        let a = slots.get("tok", |s| *s == 1, || 1);
        assert!(Arc::ptr_eq(&a, &slots.get("tok", |s| *s == 1, || 1)));
        assert!(!Arc::ptr_eq(&a, &slots.get("other", |s| *s == 1, || 1)));
        for n in 2..=MAX_SLOTS_PER_TOKEN as u32 + 1 {
            slots.get("tok", |s| *s == n, || n);
        }
        // The token's slots were cleared to make room: a new slot for key 1.
        assert!(!Arc::ptr_eq(&a, &slots.get("tok", |s| *s == 1, || 1)));
    }

    #[tokio::test]
    async fn a_read_is_reused_only_by_requests_that_arrived_before_it_began() {
        let ticks = Ticks::default();
        let shared = SharedRead::default();
        let arrival = ticks.next();
        assert_eq!(shared.after(&ticks, arrival, async { 1 }).await, 1);
        // Arrived before that read began: reuses it.
        assert_eq!(shared.after(&ticks, arrival, async { 2 }).await, 1);
        // Arrived after: reads again.
        let later = ticks.next();
        assert_eq!(shared.after(&ticks, later, async { 3 }).await, 3);
    }
}
