//! The HTTP origin: serves segments and signed manifests to players and CDNs.
//!
//! Only this crate and the binary know hyper. It does not know the database: it asks a
//! [`catalog::Catalog`] which presentation is current for a video.
//!
//! # Layout
//! - [`server`]: routes, HTTP semantics for media objects, the accept loop ([`server::serve`]).
//! - [`body`]: the response body: media from memory, or the application's.
//! - [`cache`]: the memory tier over Redis and the object store, with coalesced misses.
//! - [`object`]: one cached object with its response headers made once.
//! - [`hot`]: each worker thread's shelf of recent path → object answers (the hot path).
//! - [`redis_tier`]: the shared Redis tier: timeouts, circuit breaker, reconnects.
//! - [`metrics`]: Prometheus counters and latencies, text at `/metrics`.
//! - [`catalog`]: the question the origin asks about videos, answered by the binary.
//! - [`token`]: signed playback tokens (HMAC-SHA256, key rotation, constant-time check).
//! - [`range`]: the `Range` header, to the letter of RFC 9110 §14.
//! - [`timer`]: the coarse timer behind the header-read timeout (cheap to arm per request).
//! - [`conditional`]: `If-None-Match`, `If-Modified-Since`, `If-Range`.

pub mod body;
pub mod cache;
pub mod catalog;
pub mod conditional;
pub mod hot;
pub mod metrics;
pub mod object;
pub mod range;
pub mod redis_tier;
pub mod sendfile;
pub mod server;
pub mod timer;
pub mod token;

pub use catalog::{Catalog, CatalogError, VideoEntry};
pub use server::{App, Origin, OriginConfig, serve};
pub use token::{Signer, SigningKey, TokenError};
