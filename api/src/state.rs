//! What every handler shares: the database, the token service, the login limiter, the cache of
//! user states, and the binary's playback hooks.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;

use crate::Database;
use crate::auth::{LoginLimiter, TokenService};
use crate::users::UserCache;

/// Settings of the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// Absolute base of links in exports (`https://videos.example.edu`); relative when empty.
    pub public_base_url: String,
    /// Where uploads are written while they arrive and until their job is done.
    pub uploads_dir: std::path::PathBuf,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 1024 * 1024 * 1024,
            public_base_url: String::new(),
            uploads_dir: std::path::PathBuf::from("data/uploads"),
        }
    }
}

/// Signed playback URLs for one viewer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Playback {
    /// HLS master playlist.
    pub hls: String,
    /// DASH MPD.
    pub dash: String,
    /// When the token in both stops working (Unix seconds).
    pub expires_at: u64,
}

/// What the API needs from the media side, implemented by the binary (which knows the origin,
/// the signer and the object store).
pub trait Media: Send + Sync {
    /// Signed playback URLs of `video_id` for `user` (anonymous when `None`).
    fn playback(&self, video_id: &str, user: Option<&str>) -> Playback;

    /// A video's visibility or presentation changed: forget cached answers about it.
    fn changed<'a>(&'a self, video_id: &'a str) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

    /// Deletes a video's stored media under `prefix` and every cached copy.
    fn remove<'a>(
        &'a self,
        video_id: &'a str,
        prefix: Option<&'a str>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// Shared state of the API's handlers.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database.
    pub db: Database,
    /// Access tokens.
    pub tokens: Arc<TokenService>,
    /// Failed-login counts.
    pub limiter: Arc<LoginLimiter>,
    /// Users' role and disabled flag, cached briefly; every change here invalidates it.
    pub users: UserCache,
    /// Settings.
    pub config: ApiConfig,
    /// Playback URLs and media removal.
    pub media: Arc<dyn Media>,
    /// Recently read videos and anonymous listing pages.
    pub videos: crate::videos::VideoCaches,
    /// The job queue's wake-up and progress channels.
    pub jobs: crate::jobs::JobHandles,
    /// One writer per upload.
    pub uploads_locks: crate::uploads::UploadLocks,
    /// Views counted and not yet written.
    pub views: Arc<crate::views::ViewCounter>,
}

impl std::fmt::Debug for dyn Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Media")
    }
}

impl AppState {
    /// State over `db`, signing access tokens with `jwt_secret`.
    pub fn new(db: Database, jwt_secret: &[u8], config: ApiConfig, media: Arc<dyn Media>) -> Self {
        Self {
            db,
            tokens: Arc::new(TokenService::new(jwt_secret)),
            limiter: Arc::new(LoginLimiter::default()),
            users: UserCache::default(),
            config,
            media,
            videos: crate::videos::VideoCaches::default(),
            jobs: crate::jobs::JobHandles::default(),
            uploads_locks: crate::uploads::UploadLocks::default(),
            views: Arc::default(),
        }
    }
}
