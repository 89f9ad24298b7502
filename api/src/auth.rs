//! Credentials: argon2id password hashes, JWT access tokens (HS256 only, `exp`/`iss`/`aud`
//! required and checked, 15 minutes), rotating refresh tokens (a reused one revokes its whole
//! family), and the login limiter (5 failures per account or 20 per address in 15 minutes).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Life of an access token.
pub const ACCESS_TOKEN_LIFE: Duration = Duration::from_secs(15 * 60);
/// Life of a refresh token.
pub const REFRESH_TOKEN_LIFE: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// `iss` of every access token.
pub const ISSUER: &str = "lectern";
/// `aud` of every access token.
pub const AUDIENCE: &str = "lectern-api";
/// Longest password accepted (bounds the hashing work an attacker can ask for).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Hashes `password` with argon2id and a random salt (PHC string). CPU-heavy: call it from
/// `spawn_blocking`.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| ApiError::Internal(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| ApiError::Internal(format!("argon2: {e}")))
}

/// Whether `password` matches the PHC string `hash`. CPU-heavy, like [`hash_password`].
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a random password, made once: verified against when the login names nobody, so
/// an unknown name takes as long as a wrong password.
pub fn dummy_hash() -> Result<String, ApiError> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash.clone());
    }
    let mut secret = [0u8; 16];
    getrandom::fill(&mut secret).map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
    let hash = hash_password(&URL_SAFE_NO_PAD.encode(secret))?;
    Ok(DUMMY.get_or_init(|| hash).clone())
}

/// Runs a CPU-heavy closure off the async threads.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(format!("worker failed: {e}")))
}

/// Claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
struct AccessClaims {
    sub: String,
    exp: u64,
    iat: u64,
    iss: String,
    aud: String,
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Issues and checks access tokens.
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenService")
    }
}

impl TokenService {
    /// A service signing with `secret` (at least 32 bytes).
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// An access token for `user_id` and its expiry (Unix seconds).
    pub fn issue_access(&self, user_id: &str) -> Result<(String, u64), ApiError> {
        let now = now_unix();
        let claims = AccessClaims {
            sub: user_id.to_string(),
            exp: now + ACCESS_TOKEN_LIFE.as_secs(),
            iat: now,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map(|token| (token, claims.exp))
            .map_err(|e| ApiError::Internal(format!("jwt: {e}")))
    }

    /// The user id an access token was issued to; 401 for anything else (another algorithm,
    /// `none`, a bad signature, a wrong issuer or audience, expired).
    pub fn verify_access(&self, token: &str) -> Result<String, ApiError> {
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims.sub)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    ApiError::Unauthorized("the access token has expired; refresh it")
                }
                _ => ApiError::Unauthorized("the access token is not valid"),
            })
    }
}

/// A new refresh token: the secret the client keeps, and the hash the database keeps.
pub fn new_refresh_token() -> Result<(String, String), ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = refresh_hash(&token);
    Ok((token, hash))
}

/// How a refresh token is stored: hex SHA-256 (the token itself is 256 random bits).
pub fn refresh_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Window of the login limiter.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failed logins allowed per account in the window.
pub const LOGIN_FAILURES_PER_ACCOUNT: usize = 5;
/// Failed logins allowed per client address in the window.
pub const LOGIN_FAILURES_PER_ADDRESS: usize = 20;

/// Counts failed logins in memory (one process serves the API; a restart forgets them).
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    fn keys(account: &str, address: &str) -> [(String, usize); 2] {
        [
            (
                format!("account:{}", account.to_lowercase()),
                LOGIN_FAILURES_PER_ACCOUNT,
            ),
            (format!("address:{address}"), LOGIN_FAILURES_PER_ADDRESS),
        ]
    }

    /// 429 if `account` or `address` has used up its failures; else Ok.
    pub fn check(&self, account: &str, address: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for (key, limit) in Self::keys(account, address) {
            if let Some(times) = failures.get_mut(&key) {
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= LOGIN_WINDOW)
                {
                    times.pop_front();
                }
                if times.len() >= limit
                    && let Some(oldest) = times.front()
                {
                    let wait = LOGIN_WINDOW.saturating_sub(now.duration_since(*oldest));
                    return Err(ApiError::TooMany {
                        retry_after: wait.as_secs().max(1),
                    });
                }
            }
        }
        Ok(())
    }

    /// Records a failed attempt.
    pub fn failed(&self, account: &str, address: &str) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() > 100_000 {
            // Bounded memory under a spray of names: drop entries whose window has passed.
            failures.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < LOGIN_WINDOW)
            });
        }
        for (key, _) in Self::keys(account, address) {
            failures.entry(key).or_default().push_back(now);
        }
    }

    /// Forgets an account's failures after it signs in.
    pub fn succeeded(&self, account: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(&format!("account:{}", account.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn access_tokens_round_trip_and_refuse_forgeries() {
        let service = TokenService::new(&[7u8; 32]);
        let (token, exp) = service.issue_access("u1").expect("issue");
        assert!(exp > now_unix());
        assert_eq!(service.verify_access(&token).expect("valid"), "u1");
        let other = TokenService::new(&[8u8; 32]);
        assert!(other.verify_access(&token).is_err(), "another key");
        let mut parts: Vec<&str> = token.split('.').collect();
        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        parts[0] = &none_header;
        assert!(
            service
                .verify_access(&format!("{}.{}.", parts[0], parts[1]))
                .is_err()
        );
    }

    #[test]
    fn the_limiter_counts_per_account_and_per_address() {
        let limiter = LoginLimiter::default();
        for _ in 0..LOGIN_FAILURES_PER_ACCOUNT {
            limiter.check("Alice", "1.2.3.4").expect("allowed");
            limiter.failed("Alice", "1.2.3.4");
        }
        let Err(ApiError::TooMany { retry_after }) = limiter.check("alice", "5.6.7.8") else {
            panic!("the account is locked from any address");
        };
        assert!(retry_after > 0 && retry_after <= LOGIN_WINDOW.as_secs());
        limiter
            .check("bob", "1.2.3.4")
            .expect("another account from that address");
        for i in 0..LOGIN_FAILURES_PER_ADDRESS {
            limiter.failed(&format!("user{i}"), "9.9.9.9");
        }
        assert!(
            limiter.check("carol", "9.9.9.9").is_err(),
            "the address is locked"
        );
    }
}
