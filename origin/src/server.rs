//! The HTTP side: routes, the letter of HTTP for media objects, and the accept loop.
//!
//! A request's life: accept (connection limit) → parse path (percent-decoded once, every segment
//! checked) → route → token check (`/play`) or public check (`/media`) → catalog (cached) →
//! memory cache → object store → conditional / range → response with CORS and cache headers.
//! A `/play` or `/media` path the worker answered moments ago skips the middle: its object is
//! on the worker's shelf ([`crate::hot`]), found after the token check and answered at once.
//!
//! Routes:
//! - `GET|HEAD /play/{token}/{video_id}/{path}`: signed playback; `{path}` is relative to the
//!   video's current presentation (`master.m3u8`, `720p/3.m4s`, …).
//! - `GET|HEAD /media/{video_id}/{rev}/{path}`: public videos, unsigned, immutable.
//! - `GET /healthz` (alive), `GET /readyz` (catalog and store answer), `GET /metrics`.
//!
//! Every response carries `X-Request-Id` (the client's, if it sent a sane one). Error lines
//! name it as `request_id`; with debug logging on, every line of a request is inside a span
//! with that id (the span is only made when debug is on: it costs on every request).
//! - `OPTIONS` anything: CORS preflight, 204.
//! - Any other path (and its preflight) goes to the [`App`] plugged in with
//!   [`Origin::with_app`] (the binary's learning API), or is a 404.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::cache::{CacheStatus, CachedObject, FetchError, MemoryCache};
use crate::catalog::{Catalog, VideoEntry};
use crate::conditional::{Validators, if_range_matches, not_modified};
use crate::hot::HotShelves;
use crate::metrics::{Metrics, TokenLabels};
pub use crate::object::{content_type, is_manifest};
use crate::range::{self, RangeOutcome};
use crate::token::{Signer, TokenError};

/// `Cache-Control` of immutable media (segments, init segments, public manifests).
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of errors: short, so a fixed problem heals quickly.
pub const ERROR_CACHE: &str = "no-store";
/// Longest a signed manifest may be cached by a browser, token life permitting.
pub const MANIFEST_MAX_AGE: u64 = 300;
/// How long a catalog answer is used before it is refreshed (in the background: requests keep
/// using the old answer until the new one arrives, so no request waits on SQL for a known video).
pub const CATALOG_TTL: Duration = Duration::from_secs(2);
/// A catalog answer not asked for this long is dropped.
const CATALOG_IDLE: Duration = Duration::from_secs(600);

/// One catalog answer and when it was fetched.
struct CatalogAnswer {
    entry: Option<Arc<VideoEntry>>,
    fetched: std::time::Instant,
    /// Set while a background refresh is running, so one request starts it.
    refreshing: std::sync::atomic::AtomicBool,
}

impl CatalogAnswer {
    fn new(entry: Option<VideoEntry>) -> Arc<Self> {
        Arc::new(Self {
            entry: entry.map(Arc::new),
            fetched: std::time::Instant::now(),
            refreshing: std::sync::atomic::AtomicBool::new(false),
        })
    }
}

/// Settings of the HTTP side.
#[derive(Debug, Clone)]
pub struct OriginConfig {
    /// `Access-Control-Allow-Origin` value.
    pub cors_origin: String,
    /// Concurrent connections accepted; further ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// Time a client has to send its request headers.
    pub header_read_timeout: Duration,
    /// Bytes of memory cache.
    pub memory_cache_bytes: u64,
    /// The Redis tier, if configured.
    pub redis: Option<crate::redis_tier::RedisConfig>,
    /// Where the object store keeps its files, when it is the local disk: large objects are
    /// then sent with sendfile from their files.
    pub local_store_root: Option<std::path::PathBuf>,
}

impl Default for OriginConfig {
    fn default() -> Self {
        Self {
            cors_origin: "*".to_string(),
            max_connections: 10_000,
            header_read_timeout: Duration::from_secs(10),
            memory_cache_bytes: 512 * 1024 * 1024,
            redis: None,
            local_store_root: None,
        }
    }
}

/// Everything a request needs.
pub struct Origin {
    config: OriginConfig,
    signer: Signer,
    catalog: Arc<dyn Catalog>,
    cache: MemoryCache,
    /// Recent catalog answers (the hot path never waits on SQL for every segment).
    videos: moka::future::Cache<String, Arc<CatalogAnswer>>,
    /// Counters and latencies.
    metrics: Metrics,
    /// This process's id in hex: the first part of every request id it makes.
    request_id_prefix: String,
    /// `Access-Control-Allow-Origin`, parsed once.
    cors_origin: HeaderValue,
    /// The application behind the media routes, if any.
    app: Option<Arc<dyn App>>,
    /// Each worker thread's recent path → object answers (the hot path).
    hot: HotShelves,
}

impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Origin")
            .field("cache", &self.cache)
            .finish()
    }
}

/// A media response body: always complete in memory (objects come from the memory tier).
pub type Body = crate::body::MediaBody;
pub use crate::body::{AppBody, ResponseBody};

/// The application served next to the media routes: every path that is not `/play`, `/media`,
/// `/healthz`, `/readyz` or `/metrics` goes to it (the binary plugs in the API and web app).
pub trait App: Send + Sync {
    /// Answers one request from the client at `peer`.
    fn call(
        &self,
        request: Request<Incoming>,
        peer: std::net::SocketAddr,
    ) -> std::pin::Pin<Box<dyn Future<Output = Response<AppBody>> + Send>>;
}

fn json_error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": { "code": code, "message": message } }).to_string();
    let mut response = Response::new(Body::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(ERROR_CACHE));
    response
}

/// Splits a request path into segments, percent-decoding each exactly once and refusing
/// anything that could leave the media tree or is not a name Lectern writes.
pub fn split_path(raw: &str) -> Result<Vec<Cow<'_, str>>, &'static str> {
    let raw = raw.strip_prefix('/').ok_or("path must start with /")?;
    raw.split('/')
        .map(|segment| {
            let decoded = percent_decode(segment).ok_or("bad percent-encoding")?;
            segment_allowed(&decoded)
                .then_some(decoded)
                .ok_or("path segment not allowed")
        })
        .collect()
}

/// Whether a decoded path segment is a name Lectern could have written: not empty, no leading
/// dot (so never `.` or `..`), only ASCII letters, digits and `-_.~`.
fn segment_allowed(decoded: &str) -> bool {
    !decoded.is_empty()
        && !decoded.starts_with('.')
        && decoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
}

/// Percent-decodes once; `None` for a malformed escape or bytes that are not UTF-8.
fn percent_decode(segment: &str) -> Option<Cow<'_, str>> {
    let bytes = segment.as_bytes();
    if !bytes.contains(&b'%') {
        return Some(Cow::Borrowed(segment));
    }
    // percent-encoding passes a bad escape (`%zz`) through unchanged; refuse it instead.
    let malformed = bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    if malformed {
        return None;
    }
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Origin {
    /// An origin over `catalog`, reading media through a memory cache (and Redis, when
    /// configured) of `store`. Fails only on a malformed Redis URL.
    pub fn new(
        config: OriginConfig,
        signer: Signer,
        catalog: Arc<dyn Catalog>,
        store: Arc<dyn object_store::ObjectStore>,
    ) -> Result<Self, redis::RedisError> {
        let redis = match &config.redis {
            Some(redis) => Some(Arc::new(crate::redis_tier::RedisTier::new(redis.clone())?)),
            None => None,
        };
        let metrics = Metrics::default();
        let cache = MemoryCache::new(
            store,
            config.local_store_root.clone(),
            redis,
            config.memory_cache_bytes,
            metrics.store_reads.clone(),
            metrics.coalesced_waits.clone(),
        );
        // The configuration checks the value; an unusable one falls back to `*`. `*` is a
        // static value: cloning it into every response touches no shared reference count.
        let cors_origin = match config.cors_origin.as_str() {
            "*" => HeaderValue::from_static("*"),
            other => HeaderValue::from_str(other).unwrap_or(HeaderValue::from_static("*")),
        };
        let hot = HotShelves::new(hot_shelf_budget(config.memory_cache_bytes));
        Ok(Self {
            config,
            signer,
            catalog,
            cache,
            videos: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(CATALOG_IDLE)
                .build(),
            metrics,
            request_id_prefix: format!("{:x}", std::process::id()),
            cors_origin,
            app: None,
            hot,
        })
    }

    /// Serves `app` on every path that is not a media, health or metrics route.
    #[must_use]
    pub fn with_app(mut self, app: Arc<dyn App>) -> Self {
        self.app = Some(app);
        self
    }

    /// The metrics (for tests).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The memory tier (for tests and metrics).
    pub fn cache(&self) -> &MemoryCache {
        &self.cache
    }

    /// The signer (the binary issues playback URLs with it).
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Forgets a video's catalog answer and cached objects (after it changed or was deleted).
    pub async fn forget(&self, video_id: &str, prefix: Option<&str>) {
        self.videos.invalidate(video_id).await;
        if let Some(prefix) = prefix {
            self.cache.invalidate_prefix(prefix);
        }
        self.hot.forget_all();
    }

    async fn video(
        &self,
        id: &str,
        request_id: &str,
    ) -> Result<Arc<CatalogAnswer>, Response<Body>> {
        use std::sync::atomic::Ordering;
        if let Some(known) = self.videos.get(id).await {
            if known.fetched.elapsed() >= CATALOG_TTL
                && !known.refreshing.swap(true, Ordering::AcqRel)
            {
                let (catalog, videos, key) =
                    (self.catalog.clone(), self.videos.clone(), id.to_string());
                let stale = known.clone();
                tokio::spawn(async move {
                    match catalog.lookup(&key).await {
                        Ok(found) => videos.insert(key, CatalogAnswer::new(found)).await,
                        Err(e) => {
                            tracing::warn!(error = %e, "catalog refresh failed; keeping the last answer");
                            stale.refreshing.store(false, Ordering::Release);
                        }
                    }
                });
            }
            return Ok(known);
        }
        let catalog = self.catalog.clone();
        let key = id.to_string();
        self.videos
            .try_get_with(key.clone(), async move {
                catalog.lookup(&key).await.map(CatalogAnswer::new)
            })
            .await
            .map_err(|e| {
                tracing::error!(request_id, error = %e, "catalog lookup failed");
                json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the catalog is unavailable",
                )
            })
    }

    /// Answers one request from `peer`: at once when this thread's shelf has the answer (see
    /// [`Origin::handle_now`]), else the whole way.
    pub async fn handle(
        &self,
        request: Request<Incoming>,
        peer: std::net::SocketAddr,
    ) -> Response<ResponseBody> {
        match self.handle_now(&request) {
            Some(response) => response,
            None => self.handle_fully(request, peer).await,
        }
    }

    /// Answers a `GET` or `HEAD` of a `/play` or `/media` path from this thread's shelf, with
    /// no `.await`: the accept loop then needs no future for it (the full path's future is
    /// 5.5 KB, and moving it into every connection's task cost more than the answer itself
    /// at 1000 connections). `None` when the shelf cannot answer it, and when debug logging
    /// wants a span per request.
    pub fn handle_now(&self, request: &Request<Incoming>) -> Option<Response<ResponseBody>> {
        let started = std::time::Instant::now();
        let method = request.method();
        if (method != Method::GET && method != Method::HEAD)
            || tracing::enabled!(tracing::Level::DEBUG)
        {
            return None;
        }
        let raw = request.uri().path();
        let response = self.answer_from_shelf(request, raw, started)?;
        let route = route_name(raw, method);
        let request_id = self.request_id(request);
        Some(self.finish(
            route,
            started,
            request_id,
            response.map(ResponseBody::Media),
        ))
    }

    /// Answers `request` the whole way: routes, the application, catalog, cache tiers.
    async fn handle_fully(
        &self,
        request: Request<Incoming>,
        peer: std::net::SocketAddr,
    ) -> Response<ResponseBody> {
        use tracing::Instrument;
        let started = std::time::Instant::now();
        let request_id = self.request_id(&request);
        let mut route = route_name(request.uri().path(), request.method());
        let app = match &self.app {
            Some(app)
                if route == "app"
                    || (route == "preflight" && is_app_path(request.uri().path())) =>
            {
                route = "app";
                Some(app.clone())
            }
            _ => None,
        };
        let span = tracing::debug_span!("request", id = %request_id, method = %request.method(), path = %request.uri().path());
        let answer = async {
            match app {
                Some(app) => app.call(request, peer).await.map(ResponseBody::App),
                None => self
                    .route(&request, &request_id)
                    .await
                    .map(ResponseBody::Media),
            }
        };
        let response = if span.is_disabled() {
            answer.await
        } else {
            let response = answer.instrument(span.clone()).await;
            span.in_scope(|| tracing::debug!(status = response.status().as_u16(), "responded"));
            response
        };
        self.finish(route, started, request_id, response)
    }

    /// The request's id: the client's `X-Request-Id` if it is sane, else a new one.
    fn request_id(&self, request: &Request<Incoming>) -> String {
        request
            .headers()
            .get(X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}-{:x}", self.request_id_prefix, next_request_number()))
    }

    /// Counts the finished request and adds the headers every response carries.
    fn finish(
        &self,
        route: &'static str,
        started: std::time::Instant,
        request_id: String,
        mut response: Response<ResponseBody>,
    ) -> Response<ResponseBody> {
        let body_len = hyper::body::Body::size_hint(response.body())
            .exact()
            .unwrap_or(0);
        self.metrics.record_request(
            route,
            response.status().as_u16(),
            body_len,
            started.elapsed(),
        );
        let headers = response.headers_mut();
        if let Ok(id) = HeaderValue::from_maybe_shared(Bytes::from(request_id)) {
            headers.insert(X_REQUEST_ID, id);
        }
        if route != "app" {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                self.cors_origin.clone(),
            );
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("Content-Length, Content-Range, ETag, X-Cache"),
            );
        }
        response
    }

    async fn route(&self, request: &Request<Incoming>, request_id: &str) -> Response<Body> {
        let method = request.method();
        if method == Method::OPTIONS {
            let mut r = Response::new(Body::new(Bytes::new()));
            *r.status_mut() = StatusCode::NO_CONTENT;
            let h = r.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, HEAD, OPTIONS"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("Range, If-None-Match, If-Modified-Since, If-Range"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("86400"),
            );
            return r;
        }
        if method != Method::GET && method != Method::HEAD {
            let mut r = json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "only GET, HEAD and OPTIONS",
            );
            r.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, OPTIONS"),
            );
            return r;
        }
        let raw = request.uri().path();
        // Read before the lookups, so an answer made across a `forget` is not shelved.
        let generation = self.hot.generation();
        let segments = match split_path(raw) {
            Ok(segments) => segments,
            Err(why) => return json_error(StatusCode::BAD_REQUEST, "bad_path", why),
        };
        let segments: Vec<&str> = segments.iter().map(|s| s.as_ref()).collect();
        match segments.as_slice() {
            ["healthz"] => text(StatusCode::OK, "ok"),
            ["metrics"] => {
                let mut r = Response::new(Body::new(Bytes::from(self.metrics.render())));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                r.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                r
            }
            ["readyz"] => match (self.catalog.ready().await, self.cache.store_ready().await) {
                (true, true) => text(StatusCode::OK, "ready"),
                (false, _) => text(StatusCode::SERVICE_UNAVAILABLE, "catalog unavailable"),
                (_, false) => text(StatusCode::SERVICE_UNAVAILABLE, "object store unavailable"),
            },
            ["play", token, video_id, rest @ ..] if !rest.is_empty() => {
                let now = now_unix();
                let claims = match self.signer.check(token, video_id, now) {
                    Ok(claims) => claims,
                    Err(e) => {
                        self.metrics
                            .token_failures
                            .get_or_create(&TokenLabels { reason: e.reason() })
                            .inc();
                        return token_refused(e);
                    }
                };
                let answer = match self.video(video_id, request_id).await {
                    Ok(answer) => answer,
                    Err(r) => return r,
                };
                let Some(entry) = &answer.entry else {
                    return json_error(StatusCode::NOT_FOUND, "not_found", "no such video");
                };
                let path = store_path(&[&entry.prefix], rest);
                let shelf = ShelfSlot::for_path(raw, &answer, generation);
                let access = Access::Signed {
                    seconds_left: claims.expires.saturating_sub(now),
                };
                self.object(request, request_id, &path, access, shelf).await
            }
            ["play", ..] => {
                self.metrics
                    .token_failures
                    .get_or_create(&TokenLabels { reason: "missing" })
                    .inc();
                json_error(
                    StatusCode::FORBIDDEN,
                    "missing",
                    "playback URLs are /play/{token}/{video_id}/{file}: the token is missing",
                )
            }
            ["media", video_id, rev, rest @ ..] if !rest.is_empty() => {
                let answer = match self.video(video_id, request_id).await {
                    Ok(answer) => answer,
                    Err(r) => return r,
                };
                let wanted = store_path(&["media", video_id, rev], &[]);
                match &answer.entry {
                    Some(entry) if entry.public && entry.prefix == wanted => {
                        let path = store_path(&[&wanted], rest);
                        let shelf = ShelfSlot::for_path(raw, &answer, generation);
                        self.object(request, request_id, &path, Access::Public, shelf)
                            .await
                    }
                    _ => json_error(StatusCode::NOT_FOUND, "not_found", "no such public video"),
                }
            }
            _ => json_error(StatusCode::NOT_FOUND, "not_found", "no such route"),
        }
    }

    /// The hot path: a `/play` or `/media` path this thread answered moments ago is answered
    /// from its shelf (see [`crate::hot`]) after the token check, without the shared caches.
    /// `None` sends the request the whole way (also for a refused token, so the refusal is
    /// counted and explained in one place).
    fn answer_from_shelf(
        &self,
        request: &Request<Incoming>,
        raw: &str,
        now: std::time::Instant,
    ) -> Option<Response<Body>> {
        let (key, token) = shelf_key(raw)?;
        let response = self.hot.answer(key, now, |object| {
            let access = match token {
                Some(token) => {
                    let video_id = key.split('/').next()?;
                    if !segment_allowed(token) {
                        return None;
                    }
                    let now = now_unix();
                    let claims = self.signer.check(token, video_id, now).ok()?;
                    Access::Signed {
                        seconds_left: claims.expires.saturating_sub(now),
                    }
                }
                None => Access::Public,
            };
            Some(self.respond(request, object, CacheStatus::HitMemory, access))
        })?;
        self.metrics.memory_hit();
        Some(response)
    }

    /// Answers `request` with the object at store path `path`, from the cache tiers, and
    /// shelves it for this thread's next request for the same path.
    async fn object(
        &self,
        request: &Request<Incoming>,
        request_id: &str,
        path: &str,
        access: Access,
        shelf: Option<ShelfSlot<'_>>,
    ) -> Response<Body> {
        let (object, status) = match self.cache.get(path).await {
            Ok(found) => {
                if found.1 == CacheStatus::HitMemory {
                    self.metrics.memory_hit();
                } else {
                    self.metrics.memory_misses.inc();
                }
                if found.1 == CacheStatus::HitRedis {
                    self.metrics.redis_hits.inc();
                }
                found
            }
            Err(e) => {
                return match *e {
                    FetchError::NotFound => {
                        json_error(StatusCode::NOT_FOUND, "not_found", "no such object")
                    }
                    FetchError::Store(ref why) => {
                        tracing::error!(request_id, path, error = %why, "store read failed");
                        json_error(
                            StatusCode::BAD_GATEWAY,
                            "store_unavailable",
                            "the media store failed",
                        )
                    }
                };
            }
        };
        if let Some(slot) = shelf {
            self.hot.put(slot.key, &object, slot.until, slot.generation);
        }
        self.respond(request, &object, status, access)
    }

    /// The response to `request` from `object`: validators, conditional requests, ranges,
    /// gzip, and the cache headers `access` calls for.
    fn respond(
        &self,
        request: &Request<Incoming>,
        object: &CachedObject,
        status: CacheStatus,
        access: Access,
    ) -> Response<Body> {
        let cache_control = match access {
            Access::Signed { seconds_left } if object.manifest => {
                signed_manifest_cache(seconds_left)
            }
            _ => HeaderValue::from_static(IMMUTABLE),
        };
        let headers = request.headers();
        let get = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        // Manifests are text: gzip them for clients that accept it (whole responses only; the
        // compressed variant has its own ETag, as RFC 9110 §8.8.3 requires of strong tags).
        let gzip = object
            .gzip
            .as_ref()
            .filter(|_| get(header::RANGE).is_none() && accepts_gzip(get(header::ACCEPT_ENCODING)));
        let (body, etag, etag_header) = match gzip {
            Some(gzip) => (&gzip.body, &gzip.etag, &gzip.etag_header),
            None => (&object.body, &object.etag, &object.etag_header),
        };
        let validators = Validators {
            etag,
            last_modified: object.last_modified,
        };
        let len = body.len() as u64;
        let mut response = Response::new(Body::new(Bytes::new()));
        let out = response.headers_mut();
        out.reserve(12);
        out.insert(header::CONTENT_TYPE, object.content_type.clone());
        out.insert(header::CACHE_CONTROL, cache_control);
        out.insert(header::ETAG, etag_header.clone());
        out.insert(header::LAST_MODIFIED, object.last_modified_header.clone());
        out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        out.insert(X_CACHE, status.header());
        if object.manifest {
            out.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        if gzip.is_some() {
            out.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        if not_modified(
            get(header::IF_NONE_MATCH),
            get(header::IF_MODIFIED_SINCE),
            &validators,
        ) {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            return response;
        }
        let range_header = match get(header::IF_RANGE) {
            Some(if_range) if !if_range_matches(if_range, &validators) => None,
            _ => get(header::RANGE),
        };
        let outcome = range::parse(range_header, len);
        if let Some(content_range) = outcome.content_range(len)
            && let Ok(value) = HeaderValue::from_str(&content_range)
        {
            response.headers_mut().insert(header::CONTENT_RANGE, value);
        }
        let body = match outcome {
            RangeOutcome::Full => body.clone(),
            RangeOutcome::Partial { start, end } => {
                *response.status_mut() = StatusCode::PARTIAL_CONTENT;
                body.slice(start as usize..=end as usize)
            }
            RangeOutcome::Unsatisfiable => {
                *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static(ERROR_CACHE));
                return response;
            }
        };
        if request.method() == Method::HEAD {
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        } else {
            *response.body_mut() = match (&object.file, gzip) {
                (Some(file), None) => {
                    let offset = match outcome {
                        RangeOutcome::Partial { start, .. } => start,
                        _ => 0,
                    };
                    Body::from_file(body, file.clone(), offset)
                }
                _ => Body::new(body),
            };
        }
        response
    }
}

/// `X-Cache`: which tier answered.
const X_CACHE: header::HeaderName = header::HeaderName::from_static("x-cache");
/// `X-Request-Id`: the request's id, the client's if it sent a sane one.
const X_REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// A number no other request of this process has: each thread takes a block of numbers from
/// a shared counter once per [`REQUEST_ID_BLOCK`] requests and counts through it alone, so
/// workers do not write one shared counter on every request.
fn next_request_number() -> u64 {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU64, Ordering};
    static BLOCKS: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        /// The next number and the end of this thread's block.
        static NEXT: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }
    NEXT.with(|next| {
        let (mut n, mut end) = next.get();
        if n == end {
            n = BLOCKS.fetch_add(1, Ordering::Relaxed) * REQUEST_ID_BLOCK + 1;
            end = n + REQUEST_ID_BLOCK;
        }
        next.set((n + 1, end));
        n
    })
}

/// Request numbers a thread takes at once.
const REQUEST_ID_BLOCK: u64 = 1 << 16;

/// Who may see a response, which decides its `Cache-Control`.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// A signed playback URL whose token has this many seconds to live: manifests are
    /// `private` and cached no longer than the token lives; segments are immutable as ever.
    Signed { seconds_left: u64 },
    /// A public video's immutable URL.
    Public,
}

/// Where the full route may shelve its answer (see [`crate::hot`]).
struct ShelfSlot<'a> {
    /// The raw path (after the token, for `/play`).
    key: &'a str,
    /// When the catalog answer behind it is due for a refresh.
    until: std::time::Instant,
    /// The shelves' generation read before the lookups.
    generation: u64,
}

impl<'a> ShelfSlot<'a> {
    /// The slot for raw path `raw` answered from catalog answer `answer`, if it has a key.
    fn for_path(raw: &'a str, answer: &CatalogAnswer, generation: u64) -> Option<Self> {
        shelf_key(raw).map(|(key, _)| Self {
            key,
            until: answer.fetched + CATALOG_TTL,
            generation,
        })
    }
}

/// The shelf key of a raw request path, and its token for `/play`: the part after the token
/// for `/play/{token}/…`, the whole path for `/media/…`; `None` for other routes and for
/// paths with percent-escapes (those are decoded and checked the whole way every time).
fn shelf_key(raw: &str) -> Option<(&str, Option<&str>)> {
    if raw.contains('%') {
        return None;
    }
    if let Some(signed) = raw.strip_prefix("/play/") {
        let (token, key) = signed.split_once('/')?;
        return Some((key, Some(token)));
    }
    raw.starts_with("/media/").then_some((raw, None))
}

/// `Cache-Control` of a signed manifest whose token has `left` seconds to live: `private`, for
/// at most [`MANIFEST_MAX_AGE`] and never past the token's life.
fn signed_manifest_cache(left: u64) -> HeaderValue {
    if left >= MANIFEST_MAX_AGE {
        return HeaderValue::from_static(PRIVATE_MANIFEST);
    }
    HeaderValue::from_str(&format!("private, max-age={left}"))
        .unwrap_or(HeaderValue::from_static(ERROR_CACHE))
}

/// `Cache-Control` of a signed manifest whose token outlives [`MANIFEST_MAX_AGE`].
const PRIVATE_MANIFEST: &str = "private, max-age=300";

/// Bytes of bodies each worker's hot shelf may keep alive: a sixteenth of the memory cache,
/// between 1 and 64 MiB.
fn hot_shelf_budget(memory_cache_bytes: u64) -> usize {
    let budget = (memory_cache_bytes / 16).clamp(1 << 20, 64 << 20);
    usize::try_from(budget).unwrap_or(64 << 20)
}

/// Joins `parts` and then `rest` with `/` into one store path, in one allocation.
fn store_path(parts: &[&str], rest: &[&str]) -> String {
    let len = parts.iter().chain(rest).map(|p| p.len() + 1).sum();
    let mut path = String::with_capacity(len);
    for part in parts.iter().chain(rest) {
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(part);
    }
    path
}

/// True when `Accept-Encoding` lists gzip with a non-zero weight.
fn accepts_gzip(accept: Option<&str>) -> bool {
    accept.is_some_and(|list| {
        list.split(',').any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let zero = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !zero
        })
    })
}

/// The metrics label of a request path.
fn route_name(path: &str, method: &Method) -> &'static str {
    if method == Method::OPTIONS {
        return "preflight";
    }
    match path.trim_start_matches('/').split('/').next() {
        Some("play") => "play",
        Some("media") => "media",
        Some("healthz" | "readyz") => "health",
        Some("metrics") => "metrics",
        _ => "app",
    }
}

/// Whether a path belongs to the application rather than the media routes.
fn is_app_path(path: &str) -> bool {
    !matches!(
        path.trim_start_matches('/').split('/').next(),
        Some("play" | "media" | "healthz" | "readyz" | "metrics")
    )
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn token_refused(e: TokenError) -> Response<Body> {
    let message = match e {
        TokenError::Expired => "the playback token has expired; ask for a new link",
        TokenError::Malformed => "the playback token is malformed",
        TokenError::UnknownKey => "the playback token was signed with an unknown key",
        TokenError::BadSignature => "the playback token is not valid for this video",
    };
    json_error(StatusCode::FORBIDDEN, e.reason(), message)
}

/// Serves `origin` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
/// Runs on the caller's runtime; [`serve_workers`] runs one such loop per core.
pub async fn serve(listener: TcpListener, origin: Arc<Origin>, shutdown: impl Future<Output = ()>) {
    let limit = Arc::new(Semaphore::new(origin.config.max_connections));
    accept_loop(listener, origin, limit, shutdown).await;
}

/// Listening sockets for `workers` accept loops on `addr`, all bound to one port with
/// `SO_REUSEPORT` so the kernel spreads new connections across them (nginx's `reuseport`).
/// Port 0 picks one free port for all of them.
pub fn bind_workers(
    addr: std::net::SocketAddr,
    workers: usize,
) -> std::io::Result<Vec<std::net::TcpListener>> {
    use socket2::{Domain, Protocol, Socket, Type};
    let mut listeners: Vec<std::net::TcpListener> = Vec::with_capacity(workers.max(1));
    let mut addr = addr;
    for _ in 0..workers.max(1) {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(4096)?;
        let listener = std::net::TcpListener::from(socket);
        addr = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Serves `origin` with one single-threaded runtime per listener, each on a thread of its own
/// (thread per core, as nginx runs a worker per core: a connection's tasks never move between
/// cores and the hot path makes no cross-thread wake-ups). The memory cache and catalog are
/// shared; the hot path writes only per-worker state (shelf, metric shards). Returns when
/// `shutdown` has resolved and every worker has drained its in-flight requests.
pub async fn serve_workers(
    listeners: Vec<std::net::TcpListener>,
    origin: Arc<Origin>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let limit = Arc::new(Semaphore::new(origin.config.max_connections));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut finished = Vec::new();
    for (n, listener) in listeners.into_iter().enumerate() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (origin, limit, mut stopped) = (origin.clone(), limit.clone(), stopped.clone());
        let (done, finished_one) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(format!("lectern-http-{n}"))
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(listener) => {
                            let shutdown = async move {
                                let _ = stopped.wait_for(|stop| *stop).await;
                            };
                            accept_loop(listener, origin, limit, shutdown).await;
                        }
                        Err(e) => tracing::error!(error = %e, "worker {n} cannot listen"),
                    }
                });
                let _ = done.send(());
            })?;
        finished.push(finished_one);
    }
    shutdown.await;
    let _ = stop.send(true);
    for worker in finished {
        let _ = worker.await;
    }
    Ok(())
}

/// A response now, or the future of one (boxed: the full path's future is large, and the
/// connection task holds its service's future inline).
enum Answer {
    Ready(Option<Response<ResponseBody>>),
    Pending(std::pin::Pin<Box<dyn Future<Output = Response<ResponseBody>> + Send>>),
}

/// An [`Answer`] that runs a closure on the response before handing it to hyper.
struct AnswerThen<F>(Answer, F);

impl<F: Fn(&Response<ResponseBody>) + Unpin> Future for AnswerThen<F> {
    type Output = Result<Response<ResponseBody>, std::convert::Infallible>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let response = match &mut self.0 {
            Answer::Ready(response) => response.take().expect("an answer is polled once done"),
            Answer::Pending(future) => std::task::ready!(future.as_mut().poll(cx)),
        };
        (self.1)(&response);
        std::task::Poll::Ready(Ok(response))
    }
}

async fn accept_loop(
    listener: TcpListener,
    origin: Arc<Origin>,
    limit: Arc<Semaphore>,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(crate::timer::CoarseTimer::start())
        .header_read_timeout(origin.config.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(30));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // This worker's own handle on the origin: each request clones it, and a reference count
    // only this thread touches costs nothing, where one shared by every worker would bounce
    // between their cores on every request.
    let worker_origin = Arc::new(origin);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = limit.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        crate::sendfile::tune_socket(&stream);
        let origin = Arc::clone(&worker_origin);
        let spans = crate::sendfile::Spans::default();
        let io = crate::sendfile::SendfileIo::new(
            stream,
            spans.clone(),
            origin.metrics.sendfile_bytes.clone(),
        );
        let service = hyper::service::service_fn(move |request| {
            let answer = match origin.handle_now(&request) {
                Some(response) => Answer::Ready(Some(response)),
                None => {
                    let origin = origin.clone();
                    Answer::Pending(Box::pin(
                        async move { origin.handle_fully(request, peer).await },
                    ))
                }
            };
            let spans = spans.clone();
            AnswerThen(answer, move |response: &Response<ResponseBody>| {
                // A body read from a local file goes out with sendfile (see `sendfile`).
                if let ResponseBody::Media(body) = response.body()
                    && let Some(span) = body.file_span()
                {
                    spans.register(span);
                }
            })
        });
        let connection = builder.serve_connection(io, service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    graceful.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_manifests_are_private_for_at_most_the_tokens_life() {
        assert_eq!(
            PRIVATE_MANIFEST,
            format!("private, max-age={MANIFEST_MAX_AGE}")
        );
        assert_eq!(signed_manifest_cache(7200), PRIVATE_MANIFEST);
        assert_eq!(signed_manifest_cache(42), "private, max-age=42");
        assert_eq!(signed_manifest_cache(0), "private, max-age=0");
    }

    #[test]
    fn shelf_keys_leave_out_the_token_and_escaped_paths() {
        assert_eq!(
            shelf_key("/play/k1.9..sig/v1/720p/1.m4s"),
            Some(("v1/720p/1.m4s", Some("k1.9..sig")))
        );
        assert_eq!(
            shelf_key("/media/v1/r1/master.m3u8"),
            Some(("/media/v1/r1/master.m3u8", None))
        );
        assert_eq!(shelf_key("/play/k1.9..sig/v1/%2e%2e/x"), None);
        assert_eq!(shelf_key("/play/no-rest"), None);
        assert_eq!(shelf_key("/healthz"), None);
    }
}
