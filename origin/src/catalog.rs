//! The origin's one question about videos: which output prefix is current, and is it public?
//!
//! The origin does not know the database: the binary implements [`Catalog`] with the API's
//! tables. Answers are cached briefly in [`crate::server`], so the hot path does not wait on SQL
//! for every segment.

use std::future::Future;
use std::pin::Pin;

/// What the origin needs to know about one video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoEntry {
    /// Object-store prefix of the finished presentation, e.g. `media/{id}/{rev}`.
    pub prefix: String,
    /// Whether anyone may fetch it unsigned under `/media/{id}/{rev}/`.
    pub public: bool,
}

/// Why a lookup failed (the database is down, not "no such video").
#[derive(Debug, Clone, thiserror::Error)]
#[error("catalog lookup failed: {0}")]
pub struct CatalogError(pub String);

/// A boxed future, as trait objects need.
pub type Lookup<'a> =
    Pin<Box<dyn Future<Output = Result<Option<VideoEntry>, CatalogError>> + Send + 'a>>;

/// Answers "which presentation is current for this video, and may it be served unsigned?".
pub trait Catalog: Send + Sync + 'static {
    /// The ready presentation of `video_id`, or `None` when there is none (unknown, processing,
    /// failed, deleted).
    fn lookup<'a>(&'a self, video_id: &'a str) -> Lookup<'a>;

    /// Whether the catalog's backing store answers (for `/readyz`).
    fn ready(&self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(async { true })
    }
}
