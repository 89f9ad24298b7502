//! One media object as the origin holds it in memory, with everything a response needs from it
//! made once when it enters the cache, not on every request: header values (entity tag, date,
//! content type) and, for manifests, the gzip variant.

use std::time::SystemTime;

use bytes::Bytes;
use hyper::header::HeaderValue;

/// Where a response came from; feeds `X-Cache` and the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Served from memory.
    HitMemory,
    /// Served from Redis (and now in memory).
    HitRedis,
    /// Read from the store (by this request or one it waited on).
    Miss,
}

impl CacheStatus {
    /// The `X-Cache` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HitMemory => "hit-memory",
            Self::HitRedis => "hit-redis",
            Self::Miss => "miss",
        }
    }

    /// The `X-Cache` header value.
    pub fn header(self) -> HeaderValue {
        HeaderValue::from_static(self.as_str())
    }
}

/// A compressed copy of a text object, with its own strong entity tag (RFC 9110 §8.8.3: a
/// different representation needs a different strong tag).
#[derive(Debug)]
pub struct GzipVariant {
    /// The gzip bytes.
    pub body: Bytes,
    /// The tag, quoted: the plain tag with `-gz` inside the quotes.
    pub etag: String,
    /// `etag` as a header value.
    pub etag_header: HeaderValue,
}

/// One object and its prepared response headers.
#[derive(Debug)]
pub struct CachedObject {
    /// The whole body.
    pub body: Bytes,
    /// Strong entity tag, quoted.
    pub etag: String,
    /// When it was stored.
    pub last_modified: SystemTime,
    /// Which tier produced it (`Miss` for the store).
    pub source: CacheStatus,
    /// `etag` as a header value.
    pub etag_header: HeaderValue,
    /// `last_modified` as an HTTP date header value.
    pub last_modified_header: HeaderValue,
    /// The content type by file name.
    pub content_type: HeaderValue,
    /// Whether it is an HLS or DASH manifest (text, gzip-able, `private` on signed URLs).
    pub manifest: bool,
    /// The gzip variant, for manifests that shrink when compressed.
    pub gzip: Option<GzipVariant>,
    /// The local file `body` was read from, kept open for sendfile (large objects only).
    pub file: Option<std::sync::Arc<std::fs::File>>,
}

impl CachedObject {
    /// Prepares the object stored at `path` (a store path: its name decides the content type).
    pub fn new(
        path: &str,
        body: Bytes,
        etag: String,
        last_modified: SystemTime,
        source: CacheStatus,
    ) -> Self {
        let manifest = is_manifest(path);
        let gzip = if manifest {
            gzip_variant(&body, &etag)
        } else {
            None
        };
        Self {
            etag_header: HeaderValue::from_str(&etag)
                .unwrap_or_else(|_| HeaderValue::from_static("\"invalid\"")),
            last_modified_header: HeaderValue::from_str(&httpdate::fmt_http_date(last_modified))
                .unwrap_or_else(|_| HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT")),
            content_type: HeaderValue::from_static(content_type(path)),
            manifest,
            gzip,
            body,
            etag,
            last_modified,
            source,
            file: None,
        }
    }
}

/// Bodies up to this size are copied into a worker's own [`CachedObject::private_copy`];
/// bigger ones (sent with sendfile, or costly to copy) stay shared.
pub const PRIVATE_COPY_MAX: usize = 64 * 1024;

impl CachedObject {
    /// A copy whose reference-counted parts (body, header values) no other thread touches, for
    /// one worker thread's shelf: cloning a shared `Bytes` into every response is an atomic
    /// increment and decrement on a cache line all workers fight over. Bodies above
    /// [`PRIVATE_COPY_MAX`] stay shared.
    pub fn private_copy(&self) -> Self {
        let body = if self.body.len() <= PRIVATE_COPY_MAX {
            Bytes::copy_from_slice(&self.body)
        } else {
            self.body.clone()
        };
        Self {
            body,
            etag: self.etag.clone(),
            last_modified: self.last_modified,
            source: self.source,
            etag_header: private_header(&self.etag_header),
            last_modified_header: private_header(&self.last_modified_header),
            content_type: self.content_type.clone(),
            manifest: self.manifest,
            gzip: self.gzip.as_ref().map(|gzip| GzipVariant {
                body: Bytes::copy_from_slice(&gzip.body),
                etag: gzip.etag.clone(),
                etag_header: private_header(&gzip.etag_header),
            }),
            file: self.file.clone(),
        }
    }
}

/// A header value with bytes of its own.
fn private_header(value: &HeaderValue) -> HeaderValue {
    HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone())
}

/// Content type by file name.
pub fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    let in_audio = path.split('/').any(|p| p == "audio");
    match ext {
        "m3u8" => "application/vnd.apple.mpegurl",
        "mpd" => "application/dash+xml",
        "mp4" | "m4s" if in_audio => "audio/mp4",
        "mp4" | "m4s" => "video/mp4",
        "jpg" | "jpeg" => "image/jpeg",
        _ => "application/octet-stream",
    }
}

/// Whether `path` names an HLS playlist or a DASH MPD.
pub fn is_manifest(path: &str) -> bool {
    path.ends_with(".m3u8") || path.ends_with(".mpd")
}

fn gzip_variant(body: &[u8], etag: &str) -> Option<GzipVariant> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body).ok()?;
    let compressed = encoder.finish().ok()?;
    if compressed.len() >= body.len() {
        return None;
    }
    let etag = format!("{}-gz\"", etag.trim_end_matches('"'));
    Some(GzipVariant {
        body: Bytes::from(compressed),
        etag_header: HeaderValue::from_str(&etag).ok()?,
        etag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_get_a_smaller_gzip_variant_with_its_own_tag() {
        let text = "#EXTM3U\n".to_string() + &"#EXTINF:4.000,\n1.m4s\n".repeat(50);
        let object = CachedObject::new(
            "media/a/1/720p/index.m3u8",
            Bytes::from(text.clone()),
            "\"5-6\"".into(),
            SystemTime::UNIX_EPOCH,
            CacheStatus::Miss,
        );
        assert!(object.manifest);
        let gzip = object.gzip.as_ref().expect("a playlist compresses");
        assert!(gzip.body.len() < text.len());
        assert_eq!(gzip.etag, "\"5-6-gz\"");
        assert_eq!(object.content_type, "application/vnd.apple.mpegurl");
        assert_eq!(object.last_modified_header, "Thu, 01 Jan 1970 00:00:00 GMT");

        let segment = CachedObject::new(
            "media/a/1/audio/3.m4s",
            Bytes::from_static(b"x"),
            "\"1-2\"".into(),
            SystemTime::UNIX_EPOCH,
            CacheStatus::Miss,
        );
        assert!(!segment.manifest && segment.gzip.is_none());
        assert_eq!(segment.content_type, "audio/mp4");
    }
}
