//! Signed playback tokens.
//!
//! A token sits in the path (`/play/{token}/{video_id}/master.m3u8`), so every relative URI in
//! the manifests inherits it and a player switches renditions without asking for a new one.
//! It never enters a cache key: the origin strips it once verified.
//!
//! Format: `{key_id}.{expires}.{user}.{mac}`, where `expires` is Unix seconds, `user` is the
//! base64url user id (empty for anonymous) and `mac` is base64url HMAC-SHA256 over
//! `lectern-play-v1`, the video id, `expires`, `user` and `key_id`, newline-separated. Several
//! keys are accepted at once so one can be rotated out while tokens signed with it still play;
//! the first key signs.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Domain separation for the MAC input.
const CONTEXT: &str = "lectern-play-v1";
/// Longest token accepted, in bytes (anything longer is malformed without further work).
pub const MAX_TOKEN_LEN: usize = 512;

/// One signing key.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    /// Short public name of the key (letters, digits, `-`, `_`), carried in the token.
    pub id: String,
    /// The secret (at least 32 bytes).
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Why a token was refused. Every variant answers 403; `reason()` feeds the JSON body and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not of the token's shape.
    #[error("malformed token")]
    Malformed,
    /// Signed with a key this origin does not hold (rotated out, or forged).
    #[error("token signed with an unknown key")]
    UnknownKey,
    /// The MAC does not match: tampered, or signed for another video or user.
    #[error("token signature does not match")]
    BadSignature,
    /// Past its expiry.
    #[error("token expired")]
    Expired,
}

impl TokenError {
    /// A stable machine-readable reason (`malformed`, `unknown_key`, `bad_signature`, `expired`).
    pub fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnknownKey => "unknown_key",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
        }
    }
}

/// Why a signer could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No keys at all.
    #[error("at least one signing key is needed")]
    NoKeys,
    /// A key id with characters other than letters, digits, `-` and `_`, or empty.
    #[error("signing key id {0:?} must be 1-32 letters, digits, '-' or '_'")]
    BadId(String),
    /// A secret shorter than 32 bytes.
    #[error("signing key {0:?} is shorter than 32 bytes")]
    ShortSecret(String),
    /// Two keys with one id.
    #[error("signing key id {0:?} appears twice")]
    DuplicateId(String),
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// Expiry, Unix seconds.
    pub expires: u64,
    /// The viewer, if the token was issued to a signed-in user.
    pub user: Option<String>,
    /// The key that signed it.
    pub key_id: String,
}

/// Signs and verifies playback tokens.
#[derive(Clone)]
pub struct Signer {
    keys: Vec<SigningKey>,
    /// Each key's HMAC state after absorbing the key (same order as `keys`): cloning it saves
    /// hashing the key pads on every request.
    keyed: Vec<Hmac<Sha256>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("keys", &self.keys).finish()
    }
}

impl Signer {
    /// A signer holding `keys`; the first one signs, all of them verify.
    pub fn new(keys: Vec<SigningKey>) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::NoKeys);
        }
        for (i, key) in keys.iter().enumerate() {
            let id_ok = !key.id.is_empty()
                && key.id.len() <= 32
                && key
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !id_ok {
                return Err(KeyError::BadId(key.id.clone()));
            }
            if key.secret.len() < 32 {
                return Err(KeyError::ShortSecret(key.id.clone()));
            }
            if keys[..i].iter().any(|k| k.id == key.id) {
                return Err(KeyError::DuplicateId(key.id.clone()));
            }
        }
        let keyed = keys
            .iter()
            .map(|key| {
                // HMAC takes keys of any length; new_from_slice cannot fail for it.
                <Hmac<Sha256> as KeyInit>::new_from_slice(&key.secret)
                    .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
            })
            .collect();
        Ok(Self { keys, keyed })
    }

    /// The MAC of one key over a token's fields (`expires` as its decimal digits).
    fn mac(&self, key: usize, video_id: &str, expires: &str, user: &str) -> Hmac<Sha256> {
        let mut mac = self.keyed[key].clone();
        for part in [CONTEXT, video_id, expires, user, &self.keys[key].id] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        mac
    }

    /// A token for `video_id`, valid until `expires` (Unix seconds), for `user` if given.
    pub fn sign(&self, video_id: &str, expires: u64, user: Option<&str>) -> String {
        let key = &self.keys[0];
        let user = URL_SAFE_NO_PAD.encode(user.unwrap_or_default());
        let tag = self
            .mac(0, video_id, &expires.to_string(), &user)
            .finalize()
            .into_bytes();
        format!(
            "{}.{expires}.{user}.{}",
            key.id,
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Checks `token` for `video_id` at time `now` (Unix seconds). The MAC is compared in
    /// constant time, and checked before the expiry so a forged expiry reads as a bad signature.
    pub fn verify(&self, token: &str, video_id: &str, now: u64) -> Result<Claims, TokenError> {
        let checked = self.check(token, video_id, now)?;
        let user = URL_SAFE_NO_PAD
            .decode(checked.user)
            .ok()
            .and_then(|user| String::from_utf8(user).ok())
            .ok_or(TokenError::Malformed)?;
        Ok(Claims {
            expires: checked.expires,
            user: (!user.is_empty()).then_some(user),
            key_id: self.keys[checked.key].id.clone(),
        })
    }

    /// What [`Signer::verify`] checks, without allocating: the hot path needs only the expiry.
    pub fn check<'t>(
        &self,
        token: &'t str,
        video_id: &str,
        now: u64,
    ) -> Result<Checked<'t>, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(key_id), Some(expires), Some(user), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(TokenError::Malformed);
        };
        // Digits only, and no leading zero: the one spelling `sign` writes.
        if expires.is_empty()
            || !expires.bytes().all(|b| b.is_ascii_digit())
            || (expires.len() > 1 && expires.starts_with('0'))
        {
            return Err(TokenError::Malformed);
        }
        let expires_at: u64 = expires.parse().map_err(|_| TokenError::Malformed)?;
        // The user id must be base64url of UTF-8 (a token is at most 512 characters, so its
        // user part decodes into this buffer).
        let mut user_bytes = [0u8; MAX_TOKEN_LEN];
        let user_len = URL_SAFE_NO_PAD
            .decode_slice(user, &mut user_bytes)
            .map_err(|_| TokenError::Malformed)?;
        if std::str::from_utf8(&user_bytes[..user_len]).is_err() {
            return Err(TokenError::Malformed);
        }
        // A SHA-256 tag is 32 bytes (43 base64url characters); anything else is malformed.
        let mut tag_bytes = [0u8; 33];
        let tag_len = URL_SAFE_NO_PAD
            .decode_slice(tag, &mut tag_bytes)
            .map_err(|_| TokenError::Malformed)?;
        let key = self
            .keys
            .iter()
            .position(|k| k.id == key_id)
            .ok_or(TokenError::UnknownKey)?;
        self.mac(key, video_id, expires, user)
            .verify_slice(&tag_bytes[..tag_len])
            .map_err(|_| TokenError::BadSignature)?;
        if now >= expires_at {
            return Err(TokenError::Expired);
        }
        Ok(Checked {
            expires: expires_at,
            key,
            user,
        })
    }
}

/// A token [`Signer::check`] accepted.
#[derive(Debug, Clone, Copy)]
pub struct Checked<'t> {
    /// Expiry, Unix seconds.
    pub expires: u64,
    /// Which of the signer's keys signed it.
    key: usize,
    /// The user part, still base64url.
    user: &'t str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(id: &str, fill: u8) -> SigningKey {
        SigningKey {
            id: id.to_string(),
            secret: vec![fill; 32],
        }
    }

    fn signer() -> Signer {
        Signer::new(vec![key("k2", 2), key("k1", 1)]).expect("signer")
    }

    #[test]
    fn round_trip_with_and_without_user() {
        let s = signer();
        let t = s.sign("vid1", 2_000, Some("alice"));
        let claims = s.verify(&t, "vid1", 1_000).expect("valid");
        assert_eq!(claims.user.as_deref(), Some("alice"));
        assert_eq!(claims.key_id, "k2");
        assert_eq!(claims.expires, 2_000);
        let t = s.sign("vid1", 2_000, None);
        assert_eq!(s.verify(&t, "vid1", 1_999).expect("valid").user, None);
    }

    #[test]
    fn every_failure_has_its_reason() {
        let s = signer();
        let t = s.sign("vid1", 2_000, Some("alice"));
        assert_eq!(s.verify(&t, "vid1", 2_000), Err(TokenError::Expired));
        assert_eq!(s.verify(&t, "vid2", 1_000), Err(TokenError::BadSignature));
        let forged_expiry = t.replacen(".2000.", ".9999.", 1);
        assert_eq!(
            s.verify(&forged_expiry, "vid1", 1_000),
            Err(TokenError::BadSignature)
        );
        let other_user = t.replacen(
            &format!(".{}.", URL_SAFE_NO_PAD.encode("alice")),
            &format!(".{}.", URL_SAFE_NO_PAD.encode("mallory")),
            1,
        );
        assert_eq!(
            s.verify(&other_user, "vid1", 1_000),
            Err(TokenError::BadSignature)
        );
        let unknown = t.replacen("k2.", "k9.", 1);
        assert_eq!(
            s.verify(&unknown, "vid1", 1_000),
            Err(TokenError::UnknownKey)
        );
        for bad in [
            "",
            "a.b.c",
            "k2.x.YQ.AAAA",
            "k2.1.!!.AAAA",
            "k2.1..AAAA.extra",
            "k2.-1..AAAA",
        ] {
            assert_eq!(
                s.verify(bad, "vid1", 0),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }
        // Another spelling of the same expiry, and a tag too long to be a SHA-256 MAC.
        let padded = t.replacen(".2000.", ".02000.", 1);
        let long_tag = format!("{t}{}", "A".repeat(8));
        for bad in [padded.as_str(), long_tag.as_str()] {
            assert_eq!(
                s.verify(bad, "vid1", 0),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(TokenError::Expired.reason(), "expired");
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_until_the_key_is_dropped() {
        let old = Signer::new(vec![key("k1", 1)]).expect("signer");
        let t = old.sign("v", 100, None);
        let rotated = signer();
        assert!(rotated.verify(&t, "v", 0).is_ok());
        let dropped = Signer::new(vec![key("k2", 2)]).expect("signer");
        assert_eq!(dropped.verify(&t, "v", 0), Err(TokenError::UnknownKey));
        assert_eq!(rotated.sign("v", 100, None).split('.').next(), Some("k2"));
    }

    #[test]
    fn keys_are_checked() {
        assert_eq!(Signer::new(vec![]).err(), Some(KeyError::NoKeys));
        assert!(matches!(
            Signer::new(vec![key("a.b", 1)]),
            Err(KeyError::BadId(_))
        ));
        let short = SigningKey {
            id: "k".into(),
            secret: vec![1; 8],
        };
        assert!(matches!(
            Signer::new(vec![short]),
            Err(KeyError::ShortSecret(_))
        ));
        assert!(matches!(
            Signer::new(vec![key("k", 1), key("k", 2)]),
            Err(KeyError::DuplicateId(_))
        ));
        assert!(!format!("{:?}", key("k", 7)).contains('7'));
    }

    proptest! {
        #[test]
        fn arbitrary_tokens_never_panic_and_never_pass(token in ".{0,600}", video in "[a-z0-9]{1,12}") {
            let s = signer();
            prop_assert!(s.verify(&token, &video, 0).is_err());
        }

        #[test]
        fn any_single_byte_change_is_refused(pos in 0usize..60, byte in any::<u8>()) {
            let s = signer();
            let t = s.sign("video", 10_000, Some("u"));
            let mut bytes = t.clone().into_bytes();
            let pos = pos % bytes.len();
            prop_assume!(bytes[pos] != byte);
            bytes[pos] = byte;
            if let Ok(changed) = String::from_utf8(bytes) {
                prop_assert!(s.verify(&changed, "video", 0).is_err(), "{} accepted", changed);
            }
        }
    }
}
