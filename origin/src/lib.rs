//! The HTTP origin: serves segments and signed manifests to players and CDNs.
//!
//! Built so far: the pieces that decide what a request gets, independent of the HTTP server
//! (which comes next, in this crate, on hyper).
//!
//! # Layout
//! - [`token`]: signed playback tokens (HMAC-SHA256, key rotation, constant-time check).
//! - [`range`]: the `Range` header, to the letter of RFC 9110 §14.
//! - [`conditional`]: `If-None-Match`, `If-Modified-Since`, `If-Range` against an object's
//!   validators.

pub mod conditional;
pub mod range;
pub mod token;
