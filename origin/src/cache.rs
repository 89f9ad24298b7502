//! The memory tier: a byte-weighted moka cache in front of the Redis tier (when configured)
//! and the object store.
//!
//! Concurrent misses for one key make exactly one store read: moka's `or_try_insert_with`
//! runs the loader once and hands its result to every waiter. Keys are store paths, never
//! tokens, so one cached segment serves every viewer.

use std::sync::Arc;
use std::time::SystemTime;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

pub use crate::object::{CacheStatus, CachedObject};
use crate::redis_tier::RedisTier;

/// Why an object could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No such object.
    #[error("not found")]
    NotFound,
    /// The store failed.
    #[error("object store: {0}")]
    Store(String),
}

/// The memory cache over a store.
pub struct MemoryCache {
    store: Arc<dyn ObjectStore>,
    /// The directory a local-disk store keeps its objects in (for sendfile), if it is one.
    local_root: Option<std::path::PathBuf>,
    redis: Option<Arc<RedisTier>>,
    cache: moka::future::Cache<String, Arc<CachedObject>>,
    /// Store reads made: the `lectern_store_reads_total` metric itself.
    store_reads: prometheus_client::metrics::counter::Counter,
    /// Requests that waited on another's read: `lectern_cache_coalesced_waits_total`.
    coalesced_waits: prometheus_client::metrics::counter::Counter,
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache")
            .field("entries", &self.cache.entry_count())
            .field("bytes", &self.cache.weighted_size())
            .finish()
    }
}

impl MemoryCache {
    /// A cache of at most `capacity_bytes` of object bodies over `store`.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        local_root: Option<std::path::PathBuf>,
        redis: Option<Arc<RedisTier>>,
        capacity_bytes: u64,
        store_reads: prometheus_client::metrics::counter::Counter,
        coalesced_waits: prometheus_client::metrics::counter::Counter,
    ) -> Self {
        let cache = moka::future::Cache::builder()
            .max_capacity(capacity_bytes)
            .support_invalidation_closures()
            .weigher(|key: &String, value: &Arc<CachedObject>| {
                let gzip = value.gzip.as_ref().map_or(0, |g| g.body.len());
                u32::try_from(value.body.len() + gzip + key.len()).unwrap_or(u32::MAX)
            })
            .build();
        Self {
            store,
            local_root,
            redis,
            cache,
            store_reads,
            coalesced_waits,
        }
    }

    /// Whether the object store answers a listing of its root within two seconds.
    pub async fn store_ready(&self) -> bool {
        let listing = self.store.list_with_delimiter(None);
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(2), listing).await,
            Ok(Ok(_))
        )
    }

    /// Store reads so far.
    pub fn store_reads(&self) -> u64 {
        self.store_reads.get()
    }

    /// Drops every cached object under `prefix` (after a delete).
    pub fn invalidate_prefix(&self, prefix: &str) {
        let prefix = format!("{prefix}/");
        // Cannot fail: the cache is built with support for invalidation closures.
        if let Err(e) = self
            .cache
            .invalidate_entries_if(move |key, _| key.starts_with(&prefix))
        {
            tracing::error!(error = %e, "memory cache invalidation failed");
        }
    }

    /// The object at `path`, from memory or (once, however many ask at once) from the store.
    pub async fn get(
        &self,
        path: &str,
    ) -> Result<(Arc<CachedObject>, CacheStatus), Arc<FetchError>> {
        // A plain lookup first: cheaper than the entry API on the hot path.
        if let Some(object) = self.cache.get(path).await {
            return Ok((object, CacheStatus::HitMemory));
        }
        let entry = self
            .cache
            .entry(path.to_string())
            .or_try_insert_with(self.fetch(path))
            .await?;
        let fresh = entry.is_fresh();
        let object = entry.into_value();
        let status = if fresh {
            object.source
        } else {
            // Another request's load (in flight when this one asked) answered.
            self.coalesced_waits.inc();
            CacheStatus::HitMemory
        };
        Ok((object, status))
    }

    async fn fetch(&self, path: &str) -> Result<Arc<CachedObject>, FetchError> {
        if let Some(redis) = &self.redis
            && let (Some(object), _) = redis.get(path).await
        {
            return Ok(Arc::new(object));
        }
        let object = Arc::new(self.fetch_store(path).await?);
        if let Some(redis) = &self.redis {
            redis.put(path, &object);
        }
        Ok(object)
    }

    async fn fetch_store(&self, path: &str) -> Result<CachedObject, FetchError> {
        self.store_reads.inc();
        let result = self
            .store
            .get(&Path::from(path))
            .await
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => FetchError::NotFound,
                other => FetchError::Store(other.to_string()),
            })?;
        let meta = result.meta.clone();
        let body = result
            .bytes()
            .await
            .map_err(|e| FetchError::Store(e.to_string()))?;
        let modified: SystemTime = meta.last_modified.into();
        let etag = match meta.e_tag {
            Some(tag) => format!("\"{}\"", tag.trim_matches('"')),
            None => {
                let secs = modified
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                format!("\"{:x}-{secs:x}\"", body.len())
            }
        };
        let mut object = CachedObject::new(path, body, etag, modified, CacheStatus::Miss);
        if object.body.len() >= crate::sendfile::SENDFILE_MIN_BYTES
            && let Some(root) = &self.local_root
        {
            // Off the worker thread: opening a file is blocking I/O.
            let (file, len) = (root.join(path), object.body.len());
            object.file = tokio::task::spawn_blocking(move || same_file(&file, len, modified))
                .await
                .ok()
                .flatten()
                .map(Arc::new);
        }
        Ok(object)
    }
}

/// `path` opened, if it is still the file just read: the same length and modification time
/// (the local store replaces files by renaming new ones in, never rewriting them).
fn same_file(path: &std::path::Path, len: usize, modified: SystemTime) -> Option<std::fs::File> {
    let file = std::fs::File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    (meta.is_file() && meta.len() == len as u64 && meta.modified().ok()? == modified)
        .then_some(file)
}
