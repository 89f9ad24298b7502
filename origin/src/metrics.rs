//! Prometheus metrics of the origin, served as text at `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

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
    /// Requests by route and status.
    pub requests: Family<RouteLabels, Counter>,
    /// Body bytes sent by route.
    pub bytes_sent: Family<Route, Counter>,
    /// Cache lookups by tier and result.
    pub cache: Family<CacheLabels, Counter>,
    /// Store reads (fewer than memory misses when misses coalesce or Redis answers).
    pub store_reads: Counter,
    /// Token refusals by reason.
    pub token_failures: Family<TokenLabels, Counter>,
    /// Time to build a response, by route.
    pub latency: Family<Route, Histogram>,
    /// Requests that waited for another request's store read of the same object.
    pub coalesced_waits: Counter,
    /// Body bytes sent with sendfile from the local store's files.
    pub sendfile_bytes: Counter,
    /// The label sets of every request resolved once, so the hot path only increments.
    routes: Vec<RouteHandles>,
    /// Memory-tier hits, resolved once.
    pub memory_hits: Counter,
    /// Memory-tier misses, resolved once.
    pub memory_misses: Counter,
    /// Redis-tier hits, resolved once.
    pub redis_hits: Counter,
}

/// Every route's metrics, fetched from their families once.
struct RouteHandles {
    route: &'static str,
    bytes: Counter,
    latency: Histogram,
    /// The statuses media requests usually end with.
    statuses: Vec<(u16, Counter)>,
}

/// Route labels, as [`RouteLabels::route`] takes them.
pub const ROUTES: [&str; 6] = ["play", "media", "health", "metrics", "preflight", "app"];
/// Statuses resolved ahead of time (others go through the family's map).
const COMMON_STATUSES: [u16; 6] = [200, 204, 206, 304, 403, 404];

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("lectern");
        let requests = Family::<RouteLabels, Counter>::default();
        let bytes_sent = Family::<Route, Counter>::default();
        let cache = Family::<CacheLabels, Counter>::default();
        let store_reads = Counter::default();
        let token_failures = Family::<TokenLabels, Counter>::default();
        let latency = Family::<Route, Histogram>::new_with_constructor(|| {
            // 50 µs to about 3 s.
            Histogram::new(exponential_buckets(0.000_05, 3.0, 11))
        });
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_response_body_bytes",
            "Body bytes sent by route",
            bytes_sent.clone(),
        );
        registry.register(
            "cache_lookups",
            "Cache lookups by tier and result",
            cache.clone(),
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
            latency.clone(),
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
        let routes = ROUTES
            .iter()
            .map(|&route| RouteHandles {
                route,
                bytes: bytes_sent.get_or_create(&Route { route }).clone(),
                latency: latency.get_or_create(&Route { route }).clone(),
                statuses: COMMON_STATUSES
                    .iter()
                    .map(|&status| {
                        let counter = requests.get_or_create(&RouteLabels { route, status });
                        (status, counter.clone())
                    })
                    .collect(),
            })
            .collect();
        let lookup = |tier, result| cache.get_or_create(&CacheLabels { tier, result }).clone();
        let memory_hits = lookup("memory", "hit");
        let memory_misses = lookup("memory", "miss");
        let redis_hits = lookup("redis", "hit");
        Self {
            registry,
            requests,
            bytes_sent,
            cache,
            store_reads,
            token_failures,
            latency,
            coalesced_waits,
            sendfile_bytes,
            routes,
            memory_hits,
            memory_misses,
            redis_hits,
        }
    }
}

impl Metrics {
    /// Counts one finished request: its status, body bytes and time to respond.
    pub fn record_request(&self, route: &'static str, status: u16, bytes: u64, seconds: f64) {
        let Some(handles) = self.routes.iter().find(|h| h.route == route) else {
            self.requests
                .get_or_create(&RouteLabels { route, status })
                .inc();
            self.bytes_sent
                .get_or_create(&Route { route })
                .inc_by(bytes);
            self.latency
                .get_or_create(&Route { route })
                .observe(seconds);
            return;
        };
        match handles.statuses.iter().find(|(s, _)| *s == status) {
            Some((_, counter)) => {
                counter.inc();
            }
            None => {
                self.requests
                    .get_or_create(&RouteLabels { route, status })
                    .inc();
            }
        }
        handles.bytes.inc_by(bytes);
        handles.latency.observe(seconds);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
