//! What every handler shares: the database, the token service, the login limiter, the cache of
//! user states, and the binary's playback hooks.

use std::sync::Arc;

use crate::Database;
use crate::auth::{LoginLimiter, TokenService};
use crate::users::UserCache;

/// Settings of the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest upload accepted, in bytes.
    pub max_upload_bytes: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 1024 * 1024 * 1024,
        }
    }
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
}

impl AppState {
    /// State over `db`, signing access tokens with `jwt_secret`.
    pub fn new(db: Database, jwt_secret: &[u8], config: ApiConfig) -> Self {
        Self {
            db,
            tokens: Arc::new(TokenService::new(jwt_secret)),
            limiter: Arc::new(LoginLimiter::default()),
            users: UserCache::default(),
            config,
        }
    }
}
