//! A small stale-while-revalidate cache: an entry older than its freshness is still answered
//! at once while one background task fetches it again, so no request waits on SQL for a hot
//! key (with a plain expiry every caller of a hot key waited for the reload each time it
//! expired: a p99 near a second at 1000 connections). Cold keys load once for all concurrent
//! callers. Invalidation is immediate; a refresh that began before it is dropped.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::ApiError;

/// One cached value. A refresh writes into the entry in place (the cache itself is not
/// written), so thousands of keys refreshing at once do not contend on the cache's maps.
struct Entry<V> {
    /// The value and when it was fetched.
    current: std::sync::RwLock<(V, Instant)>,
    refreshing: AtomicBool,
}

impl<V: Clone> Entry<V> {
    fn read(&self) -> (V, Instant) {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn write(&self, value: V, fetched: Instant) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (value, fetched);
    }
}

/// Values by key, refreshed in the background once older than `fresh_for`.
pub struct SwrCache<V> {
    entries: moka::future::Cache<String, Arc<Entry<V>>>,
    fresh_for: Duration,
    /// Bumped by every invalidation; a refresh started under an older generation is dropped.
    generation: Arc<AtomicU64>,
    /// Background refreshes allowed at once: when thousands of keys go stale together, the
    /// rest wait for a later request instead of flooding the database (which stalled
    /// requests for seconds at 1000 connections).
    refresh_slots: Arc<tokio::sync::Semaphore>,
}

/// Concurrent background refreshes per cache.
const REFRESH_SLOTS: usize = 2;

impl<V> Clone for SwrCache<V> {
    fn clone(&self) -> Self {
        Self {
            entries: self.entries.clone(),
            fresh_for: self.fresh_for,
            generation: self.generation.clone(),
            refresh_slots: self.refresh_slots.clone(),
        }
    }
}

impl<V: Clone + Send + Sync + 'static> SwrCache<V> {
    /// A cache of at most `capacity` entries, fresh for `fresh_for`, dropped after `idle`
    /// without a read.
    pub fn new(capacity: u64, fresh_for: Duration, idle: Duration) -> Self {
        Self {
            entries: moka::future::Cache::builder()
                .max_capacity(capacity)
                .time_to_idle(idle)
                .build(),
            fresh_for,
            generation: Arc::default(),
            refresh_slots: Arc::new(tokio::sync::Semaphore::new(REFRESH_SLOTS)),
        }
    }

    /// The value of `key`, loading it with `load` when absent (once for all callers) and
    /// refreshing it in the background when stale.
    pub async fn get<F, Fut>(&self, key: &str, load: F) -> Result<V, ApiError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, ApiError>> + Send + 'static,
    {
        if let Some(hit) = self.entries.get(key).await {
            let (value, fetched) = hit.read();
            if fetched.elapsed() >= self.fresh_for
                && let Ok(slot) = self.refresh_slots.clone().try_acquire_owned()
                && !hit.refreshing.swap(true, Ordering::AcqRel)
            {
                let generation = self.generation.clone();
                let started = generation.load(Ordering::Acquire);
                tokio::spawn(async move {
                    match load().await {
                        Ok(value) if generation.load(Ordering::Acquire) == started => {
                            hit.write(value, Instant::now());
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "background refresh failed"),
                    }
                    hit.refreshing.store(false, Ordering::Release);
                    drop(slot);
                });
            }
            return Ok(value);
        }
        self.entries
            .try_get_with(key.to_string(), async move {
                load().await.map(|v| Arc::new(fresh(v)))
            })
            .await
            .map(|entry| entry.read().0)
            .map_err(|e| ApiError::from_shared(&e))
    }

    /// Replaces the cached value of `key` (if any) with `change` of it, keeping its age.
    pub async fn update(&self, key: &str, change: impl FnOnce(&V) -> V) {
        if let Some(entry) = self.entries.get(key).await {
            let mut current = entry
                .current
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            current.0 = change(&current.0);
        }
    }

    /// Drops `key`.
    pub async fn invalidate(&self, key: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate(key).await;
    }

    /// Drops everything.
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }
}

fn fresh<V>(value: V) -> Entry<V> {
    Entry {
        current: std::sync::RwLock::new((value, Instant::now())),
        refreshing: AtomicBool::new(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn stale_values_answer_at_once_and_refresh_in_the_background() {
        let cache: SwrCache<usize> =
            SwrCache::new(10, Duration::from_millis(50), Duration::from_secs(60));
        let loads = Arc::new(AtomicUsize::new(0));
        let load = |loads: Arc<AtomicUsize>| {
            move || async move { Ok(loads.fetch_add(1, Ordering::SeqCst) + 1) }
        };
        assert_eq!(cache.get("k", load(loads.clone())).await.expect("v"), 1);
        assert_eq!(
            cache.get("k", load(loads.clone())).await.expect("v"),
            1,
            "fresh"
        );
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(
            cache.get("k", load(loads.clone())).await.expect("v"),
            1,
            "stale, at once"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            cache.get("k", load(loads.clone())).await.expect("v"),
            2,
            "refreshed"
        );
        cache.invalidate("k").await;
        assert_eq!(
            cache.get("k", load(loads.clone())).await.expect("v"),
            3,
            "reloaded"
        );
    }
}
