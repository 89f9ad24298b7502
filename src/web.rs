//! The web app at `/`: the Vite build of `web/` (in `web/dist`, embedded into the binary at
//! compile time), served from memory.
//!
//! - Hashed files under `/assets/` are immutable (cached a year); everything else (`index.html`,
//!   icons) is revalidated every time (`no-cache`, strong ETag, 304).
//! - Any other page path without a file extension answers `index.html`: the app routes itself
//!   (`/watch/{id}?t=` is the link exports carry).
//! - Text files are gzipped once, when first asked for compressed (not at start: a server
//!   start would pay ~85 ms for files nobody may fetch), and sent so to clients that accept it.
//! - Pages carry a Content-Security-Policy that allows scripts, media and requests from this
//!   origin only (plus the configured public base URL, where playback URLs point).

use std::collections::HashMap;
use std::io::Write;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{self, HeaderValue};
use hyper::{HeaderMap, Method, Response, StatusCode};
use lectern_origin::server::AppBody;

/// The build output, embedded in release builds (read from disk in debug builds).
#[derive(rust_embed::Embed)]
#[folder = "web/dist/"]
#[allow_missing = true]
struct Build;

/// One file, ready to send.
struct WebFile {
    body: Bytes,
    /// Whether the file is text worth compressing.
    compressible: bool,
    /// Its gzip variant, made at the first request that accepts gzip (`None` when it would
    /// not be smaller).
    gzip: std::sync::OnceLock<Option<Bytes>>,
    etag: HeaderValue,
    /// The gzip variant's own strong tag (RFC 9110 §8.8.3: another encoding, another tag).
    etag_gzip: HeaderValue,
    content_type: &'static str,
    cache_control: &'static str,
}

/// The web app's files by path (without the leading `/`).
pub struct WebApp {
    files: HashMap<String, WebFile>,
    csp: HeaderValue,
}

/// The page answered when the binary was built without `web/dist`.
const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>Lectern</title>\
<p>The web app was not built into this binary. Run <code>./setup.sh</code> \
(or <code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>, then \
<code>cargo build --release</code>). The API is at <a href=\"/api/v1/openapi.json\">/api/v1</a>.</p>";

impl WebApp {
    /// Prepares every embedded file; `public_base_url` (where playback URLs point, if not
    /// here) is allowed for media in the Content-Security-Policy.
    pub fn new(public_base_url: Option<&str>) -> Self {
        let files = Build::iter()
            .filter_map(|path| {
                let file = Build::get(&path)?;
                let body = Bytes::from(file.data.into_owned());
                let hash = file.metadata.sha256_hash();
                let etag = hash[..12]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>();
                let content_type = content_type(&path);
                let cache_control = if path.starts_with("assets/") {
                    "public, max-age=31536000, immutable"
                } else {
                    "no-cache"
                };
                let file = WebFile {
                    body,
                    compressible: compressible(content_type),
                    gzip: std::sync::OnceLock::new(),
                    etag: HeaderValue::from_str(&format!("\"{etag}\"")).ok()?,
                    etag_gzip: HeaderValue::from_str(&format!("\"{etag}-gzip\"")).ok()?,
                    content_type,
                    cache_control,
                };
                Some((path.into_owned(), file))
            })
            .collect();
        let extra = public_base_url
            .and_then(|u| url::Url::parse(u).ok())
            .map(|u| format!(" {}", u.origin().ascii_serialization()))
            .unwrap_or_default();
        let csp = format!(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data: blob:{extra}; media-src 'self' blob:{extra}; \
             connect-src 'self'{extra}; worker-src 'self' blob:; frame-ancestors 'none'; \
             base-uri 'self'; form-action 'self'; object-src 'none'"
        );
        Self {
            files,
            csp: HeaderValue::from_str(&csp)
                .unwrap_or(HeaderValue::from_static("default-src 'self'")),
        }
    }

    /// Whether the build was embedded (false when `web/dist` was missing at compile time).
    pub fn is_built(&self) -> bool {
        self.files.contains_key("index.html")
    }

    /// The answer for a GET or HEAD of `path`, or `None` when the path names no file and is
    /// not a page (it has an extension): the caller answers 404.
    pub fn respond(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Option<Response<AppBody>> {
        let name = path.trim_start_matches('/');
        let file = match self.files.get(name) {
            Some(file) if !name.is_empty() => file,
            _ => {
                let last = name.rsplit('/').next().unwrap_or("");
                if last.contains('.') {
                    return None;
                }
                match self.files.get("index.html") {
                    Some(index) => index,
                    None => return Some(not_built()),
                }
            }
        };
        let accepts_gzip = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
        let packed = if accepts_gzip && file.compressible {
            file.gzip
                .get_or_init(|| gzip(&file.body).filter(|g| g.len() + 64 < file.body.len()))
                .as_ref()
        } else {
            None
        };
        let etag = if packed.is_some() {
            &file.etag_gzip
        } else {
            &file.etag
        };
        let mut builder = Response::builder()
            .header(header::ETAG, etag.clone())
            .header(header::CACHE_CONTROL, file.cache_control)
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        if file.content_type.starts_with("text/html") {
            builder = builder
                .header(header::CONTENT_SECURITY_POLICY, self.csp.clone())
                .header(header::REFERRER_POLICY, "same-origin");
        }
        if file.compressible {
            builder = builder.header(header::VARY, "Accept-Encoding");
        }
        let not_modified = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
        if not_modified {
            return builder.status(StatusCode::NOT_MODIFIED).body(empty()).ok();
        }
        let body = match packed {
            Some(gzip) => {
                builder = builder.header(header::CONTENT_ENCODING, "gzip");
                gzip.clone()
            }
            None => file.body.clone(),
        };
        builder = builder
            .header(header::CONTENT_TYPE, file.content_type)
            .header(header::CONTENT_LENGTH, body.len());
        let body = if method == Method::HEAD {
            Bytes::new()
        } else {
            body
        };
        builder.body(full(body)).ok()
    }
}

fn not_built() -> Response<AppBody> {
    let mut response = Response::new(full(Bytes::from_static(NOT_BUILT.as_bytes())));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn full(bytes: Bytes) -> AppBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn empty() -> AppBody {
    full(Bytes::new())
}

/// The Content-Type of a build file, by extension (Vite emits few kinds).
fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || content_type.starts_with("application/json")
        || content_type.starts_with("application/manifest")
        || content_type == "image/svg+xml"
}

fn gzip(data: &[u8]) -> Option<Bytes> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).ok()?;
    encoder.finish().ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_compression_follow_the_extension() {
        assert_eq!(
            content_type("assets/index-3f2a.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("favicon.svg"), "image/svg+xml");
        assert_eq!(content_type("blob"), "application/octet-stream");
        assert!(compressible("text/css; charset=utf-8"));
        assert!(!compressible("image/png"));
        let text = "lectern ".repeat(1000);
        let packed = gzip(text.as_bytes()).expect("gzip");
        assert!(packed.len() < text.len() / 10);
    }
}
