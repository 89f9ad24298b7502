//! The Redis tier: a shared cache between the memory tier and the object store, so a fleet of
//! origins (or one restarted) does not go back to the store for every hot object.
//!
//! Redis trouble never fails a request: every operation has a short timeout, a circuit breaker
//! stops asking after consecutive failures and tries again after a pause, and the connection
//! manager reconnects by itself. A failure is simply a miss.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::cache::{CacheStatus, CachedObject};

/// Consecutive failures that open the breaker.
const BREAKER_THRESHOLD: u32 = 3;
/// How long an open breaker keeps Redis out of the request path.
const BREAKER_PAUSE: Duration = Duration::from_secs(1);
/// Key prefix of cached objects.
const KEY_PREFIX: &str = "lectern:obj:";

/// Settings of the Redis tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://host:port/db`.
    pub url: String,
    /// Largest object stored in Redis.
    pub max_object_bytes: usize,
    /// Time to live of cached objects.
    pub ttl: Duration,
    /// Longest any Redis operation may take before it counts as a failure.
    pub timeout: Duration,
}

/// What the tier saw, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisOutcome {
    /// Found.
    Hit,
    /// Not there.
    Miss,
    /// Redis failed or timed out.
    Error,
    /// The breaker is open: Redis was not asked.
    Skipped,
}

/// The tier.
pub struct RedisTier {
    manager: ConnectionManager,
    config: RedisConfig,
    failures: AtomicU32,
    /// Milliseconds since `epoch` until which the breaker is open.
    open_until: AtomicU64,
    epoch: Instant,
}

impl std::fmt::Debug for RedisTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTier")
            .field("url", &self.config.url)
            .finish()
    }
}

fn encode(object: &CachedObject) -> Vec<u8> {
    let etag = object.etag.as_bytes();
    let modified = object
        .last_modified
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut out = Vec::with_capacity(2 + etag.len() + 8 + object.body.len());
    out.extend_from_slice(&(etag.len() as u16).to_be_bytes());
    out.extend_from_slice(etag);
    out.extend_from_slice(&modified.to_be_bytes());
    out.extend_from_slice(&object.body);
    out
}

fn decode(path: &str, bytes: Vec<u8>) -> Option<CachedObject> {
    let len = usize::from(u16::from_be_bytes(bytes.get(..2)?.try_into().ok()?));
    let etag = String::from_utf8(bytes.get(2..2 + len)?.to_vec()).ok()?;
    let modified = u64::from_be_bytes(bytes.get(2 + len..10 + len)?.try_into().ok()?);
    let body = Bytes::from(bytes).slice(10 + len..);
    Some(CachedObject::new(
        path,
        body,
        etag,
        SystemTime::UNIX_EPOCH + Duration::from_millis(modified),
        CacheStatus::HitRedis,
    ))
}

impl RedisTier {
    /// A tier for `config`; connects lazily, so Redis may be down at start.
    pub fn new(config: RedisConfig) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(config.url.as_str())?;
        let manager = ConnectionManager::new_lazy_with_config(
            client,
            ConnectionManagerConfig::new()
                .set_response_timeout(Some(config.timeout))
                .set_connection_timeout(Some(config.timeout))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_secs(1)),
        )?;
        Ok(Self {
            manager,
            config,
            failures: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn closed(&self) -> bool {
        self.now_ms() >= self.open_until.load(Ordering::Relaxed)
    }

    fn record(&self, ok: bool) {
        if ok {
            self.failures.store(0, Ordering::Relaxed);
        } else if self.failures.fetch_add(1, Ordering::Relaxed) + 1 >= BREAKER_THRESHOLD {
            self.failures.store(0, Ordering::Relaxed);
            self.open_until.store(
                self.now_ms() + BREAKER_PAUSE.as_millis() as u64,
                Ordering::Relaxed,
            );
            tracing::warn!(url = %self.config.url, "redis failing: skipped for {BREAKER_PAUSE:?}");
        }
    }

    /// Looks `path` up; any trouble is a miss.
    pub async fn get(&self, path: &str) -> (Option<CachedObject>, RedisOutcome) {
        if !self.closed() {
            return (None, RedisOutcome::Skipped);
        }
        let mut connection = self.manager.clone();
        let key = format!("{KEY_PREFIX}{path}");
        let result = tokio::time::timeout(
            self.config.timeout,
            connection.get::<_, Option<Vec<u8>>>(key),
        )
        .await;
        match result {
            Ok(Ok(Some(bytes))) => {
                self.record(true);
                match decode(path, bytes) {
                    Some(object) => (Some(object), RedisOutcome::Hit),
                    None => (None, RedisOutcome::Miss),
                }
            }
            Ok(Ok(None)) => {
                self.record(true);
                (None, RedisOutcome::Miss)
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "redis get failed");
                self.record(false);
                (None, RedisOutcome::Error)
            }
            Err(_) => {
                self.record(false);
                (None, RedisOutcome::Error)
            }
        }
    }

    /// Stores `object` under `path` in the background, if it is small enough and Redis is up.
    pub fn put(self: &std::sync::Arc<Self>, path: &str, object: &CachedObject) {
        if object.body.len() > self.config.max_object_bytes || !self.closed() {
            return;
        }
        let tier = self.clone();
        let key = format!("{KEY_PREFIX}{path}");
        let value = encode(object);
        tokio::spawn(async move {
            let mut connection = tier.manager.clone();
            let ttl = tier.config.ttl.as_secs().max(1);
            let result = tokio::time::timeout(
                tier.config.timeout,
                connection.set_ex::<_, _, ()>(key, value, ttl),
            )
            .await;
            tier.record(matches!(result, Ok(Ok(()))));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let object = CachedObject::new(
            "media/v/1/720p/1.m4s",
            Bytes::from_static(b"segment bytes"),
            "\"abc-1\"".into(),
            SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            CacheStatus::Miss,
        );
        let back = decode("media/v/1/720p/1.m4s", encode(&object)).expect("decodes");
        assert_eq!(back.body, object.body);
        assert_eq!(back.etag, object.etag);
        assert_eq!(back.last_modified, object.last_modified);
        assert_eq!(back.source, CacheStatus::HitRedis);
        assert!(decode("x", vec![0, 9, 1]).is_none());
    }
}
