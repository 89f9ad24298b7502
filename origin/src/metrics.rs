//! Prometheus metrics of the origin, served as text at `/metrics`.
//!
//! What every request adds to (requests by route and common status, body bytes and latency by
//! route, memory-cache hits) is kept per thread: each HTTP worker adds to counters only it
//! writes, and `/metrics` sums the threads' shards. Counters shared by the workers would be
//! written by both cores on every request, and each write pulls the counter's cache line away
//! from the other core. Everything rarer uses prometheus-client's own types.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use thread_local::ThreadLocal;

/// Labels of request metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// `play`, `media`, `health`, `metrics`, `preflight`, `app` (the API and anything else).
    pub route: &'static str,
    /// HTTP status code.
    pub status: u16,
}

/// Labels of byte counters and latencies.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Route {
    /// As in [`RouteLabels`].
    pub route: &'static str,
}

/// Labels of cache lookups.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// `memory`.
    pub tier: &'static str,
    /// `hit` or `miss`.
    pub result: &'static str,
}

/// Labels of token refusals.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    /// `malformed`, `unknown_key`, `bad_signature`, `expired`.
    pub reason: &'static str,
}

/// Every metric the origin keeps.
pub struct Metrics {
    registry: Registry,
    /// What every request adds to, one shard per thread (see the module's top).
    shards: Arc<ThreadLocal<Shard>>,
    /// Requests whose status is not one of [`COMMON_STATUSES`], or whose route is unknown.
    other_requests: Family<RouteLabels, Counter>,
    /// Store reads (fewer than memory misses when misses coalesce or Redis answers).
    pub store_reads: Counter,
    /// Token refusals by reason.
    pub token_failures: Family<TokenLabels, Counter>,
    /// Requests that waited for another request's store read of the same object.
    pub coalesced_waits: Counter,
    /// Body bytes sent with sendfile from the local store's files.
    pub sendfile_bytes: Counter,
    /// Memory-tier misses, resolved once.
    pub memory_misses: Counter,
    /// Redis-tier hits, resolved once.
    pub redis_hits: Counter,
}

/// Route labels, as [`RouteLabels::route`] takes them.
pub const ROUTES: [&str; 6] = ["play", "media", "health", "metrics", "preflight", "app"];
/// Statuses counted in the per-thread shards (others go through a shared family).
const COMMON_STATUSES: [u16; 6] = [200, 204, 206, 304, 403, 404];
/// Upper bounds of the latency histogram's buckets, in nanoseconds: 50 µs × 3ⁱ, to about 3 s.
const LATENCY_BOUNDS_NANOS: [u64; 11] = {
    let mut bounds = [50_000; 11];
    let mut i = 1;
    while i < bounds.len() {
        bounds[i] = bounds[i - 1] * 3;
        i += 1;
    }
    bounds
};

/// One thread's counters: only that thread writes them (plain loads and stores, no locked
/// instructions), `/metrics` reads them all.
#[derive(Default)]
struct Shard {
    routes: [RouteShard; ROUTES.len()],
    memory_hits: AtomicU64,
}

/// One route's counters in one [`Shard`].
#[derive(Default)]
struct RouteShard {
    /// Requests by status, in [`COMMON_STATUSES`]' order.
    statuses: [AtomicU64; COMMON_STATUSES.len()],
    bytes: AtomicU64,
    /// Latencies per bucket (not cumulative); the last one is `+Inf`.
    buckets: [AtomicU64; LATENCY_BOUNDS_NANOS.len() + 1],
    latency_nanos: AtomicU64,
}

/// Adds `n` to a counter only the calling thread writes.
fn add(counter: &AtomicU64, n: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

/// The sum of one counter over every thread's shard.
fn total(shards: &ThreadLocal<Shard>, counter: impl Fn(&Shard) -> &AtomicU64) -> u64 {
    shards
        .iter()
        .map(|shard| counter(shard).load(Ordering::Relaxed))
        .sum()
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("lectern");
        let shards = Arc::new(ThreadLocal::new());
        let other_requests = Family::<RouteLabels, Counter>::default();
        let cache = Family::<CacheLabels, Counter>::default();
        let store_reads = Counter::default();
        let token_failures = Family::<TokenLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            Requests {
                shards: shards.clone(),
                other: other_requests.clone(),
            },
        );
        registry.register(
            "http_response_body_bytes",
            "Body bytes sent by route",
            BodyBytes(shards.clone()),
        );
        registry.register(
            "cache_lookups",
            "Cache lookups by tier and result",
            CacheLookups {
                shards: shards.clone(),
                other: cache.clone(),
            },
        );
        registry.register("store_reads", "Object-store reads", store_reads.clone());
        registry.register(
            "token_failures",
            "Refused playback tokens by reason",
            token_failures.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to build a response",
            Latency(shards.clone()),
        );
        let coalesced_waits = Counter::default();
        registry.register(
            "cache_coalesced_waits",
            "Requests that waited for another request's read of the same object",
            coalesced_waits.clone(),
        );
        let sendfile_bytes = Counter::default();
        registry.register(
            "sendfile_bytes",
            "Body bytes sent with sendfile from the local store's files",
            sendfile_bytes.clone(),
        );
        let lookup = |tier, result| cache.get_or_create(&CacheLabels { tier, result }).clone();
        let memory_misses = lookup("memory", "miss");
        let redis_hits = lookup("redis", "hit");
        Self {
            registry,
            shards,
            other_requests,
            store_reads,
            token_failures,
            coalesced_waits,
            sendfile_bytes,
            memory_misses,
            redis_hits,
        }
    }
}

impl Metrics {
    /// Counts one finished request: its status, body bytes and time to respond.
    pub fn record_request(&self, route: &'static str, status: u16, bytes: u64, took: Duration) {
        let shard = self.shards.get_or_default();
        let Some(counters) = ROUTES
            .iter()
            .position(|&r| r == route)
            .map(|i| &shard.routes[i])
        else {
            self.other_requests
                .get_or_create(&RouteLabels { route, status })
                .inc();
            return;
        };
        match COMMON_STATUSES.iter().position(|&s| s == status) {
            Some(i) => add(&counters.statuses[i], 1),
            None => {
                self.other_requests
                    .get_or_create(&RouteLabels { route, status })
                    .inc();
            }
        }
        add(&counters.bytes, bytes);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BOUNDS_NANOS.partition_point(|&bound| bound < nanos);
        add(&counters.buckets[bucket], 1);
        add(&counters.latency_nanos, nanos);
    }

    /// Counts one memory-tier hit.
    pub fn memory_hit(&self) {
        add(&self.shards.get_or_default().memory_hits, 1);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Writes one counter of a family: `value` under `labels`.
fn encode_counter(
    encoder: &mut MetricEncoder,
    labels: &impl EncodeLabelSet,
    value: u64,
) -> Result<(), std::fmt::Error> {
    encoder
        .encode_family(labels)?
        .encode_counter::<NoLabelSet, _, u64>(&value, None)
}

/// `http_requests`: the shards' common statuses, then the family's others.
#[derive(Debug)]
struct Requests {
    shards: Arc<ThreadLocal<Shard>>,
    other: Family<RouteLabels, Counter>,
}

impl EncodeMetric for Requests {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (r, &route) in ROUTES.iter().enumerate() {
            for (s, &status) in COMMON_STATUSES.iter().enumerate() {
                let count = total(&self.shards, |shard| &shard.routes[r].statuses[s]);
                encode_counter(&mut encoder, &RouteLabels { route, status }, count)?;
            }
        }
        self.other.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

/// `http_response_body_bytes` by route.
#[derive(Debug)]
struct BodyBytes(Arc<ThreadLocal<Shard>>);

impl EncodeMetric for BodyBytes {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (r, &route) in ROUTES.iter().enumerate() {
            let bytes = total(&self.0, |shard| &shard.routes[r].bytes);
            encode_counter(&mut encoder, &Route { route }, bytes)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

/// `http_request_duration_seconds` by route.
#[derive(Debug)]
struct Latency(Arc<ThreadLocal<Shard>>);

impl EncodeMetric for Latency {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (r, &route) in ROUTES.iter().enumerate() {
            let buckets: Vec<(f64, u64)> = LATENCY_BOUNDS_NANOS
                .iter()
                .map(|&bound| bound as f64 / 1e9)
                .chain([f64::INFINITY])
                .enumerate()
                .map(|(b, bound)| (bound, total(&self.0, |shard| &shard.routes[r].buckets[b])))
                .collect();
            let count = buckets.iter().map(|&(_, n)| n).sum();
            let nanos = total(&self.0, |shard| &shard.routes[r].latency_nanos);
            encoder
                .encode_family(&Route { route })?
                .encode_histogram::<NoLabelSet>(nanos as f64 / 1e9, count, &buckets, None)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// `cache_lookups`: memory hits from the shards, then the family's others.
#[derive(Debug)]
struct CacheLookups {
    shards: Arc<ThreadLocal<Shard>>,
    other: Family<CacheLabels, Counter>,
}

impl EncodeMetric for CacheLookups {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let hits = total(&self.shards, |shard| &shard.memory_hits);
        let labels = CacheLabels {
            tier: "memory",
            result: "hit",
        };
        encode_counter(&mut encoder, &labels, hits)?;
        self.other.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shard")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, name: &str) -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in\n{text}"))
    }

    #[test]
    fn every_threads_requests_are_summed() {
        let metrics = Arc::new(Metrics::default());
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let metrics = metrics.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        metrics.record_request("play", 200, 10, Duration::from_micros(60));
                        metrics.memory_hit();
                    }
                    metrics.record_request("play", 500, 0, Duration::from_secs(5));
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        metrics.record_request("media", 206, 7, Duration::from_micros(10));
        let text = metrics.render();
        let play = "{route=\"play\"}";
        assert_eq!(
            line(
                &text,
                r#"lectern_http_requests_total{route="play",status="200"}"#
            ),
            300
        );
        assert_eq!(
            line(
                &text,
                r#"lectern_http_requests_total{route="play",status="500"}"#
            ),
            3
        );
        assert_eq!(
            line(
                &text,
                r#"lectern_http_requests_total{route="media",status="206"}"#
            ),
            1
        );
        assert_eq!(
            line(
                &text,
                r#"lectern_http_requests_total{route="play",status="404"}"#
            ),
            0
        );
        assert_eq!(
            line(
                &text,
                &format!("lectern_http_response_body_bytes_total{play}")
            ),
            3000
        );
        assert_eq!(
            line(
                &text,
                r#"lectern_cache_lookups_total{tier="memory",result="hit"}"#
            ),
            300
        );
        assert_eq!(
            line(
                &text,
                &format!("lectern_http_request_duration_seconds_count{play}")
            ),
            303
        );
        // Buckets are cumulative: 60 µs falls in the second (150 µs), 5 s only in +Inf.
        let bucket = |le: &str| {
            line(
                &text,
                &format!(
                    "lectern_http_request_duration_seconds_bucket{{le=\"{le}\",route=\"play\"}}"
                ),
            )
        };
        assert_eq!(bucket("0.00005"), 0);
        assert_eq!(bucket("0.00015"), 300);
        assert_eq!(bucket("+Inf"), 303);
        let sum: f64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!("lectern_http_request_duration_seconds_sum{play}"))?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap();
        assert!((sum - (300.0 * 60e-6 + 15.0)).abs() < 1e-6, "{sum}");
    }
}
