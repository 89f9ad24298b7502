//! The origin against a real socket on 127.0.0.1: ranges, conditional requests, CORS, content
//! types and cache headers, every token failure, path traversal, and miss coalescing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use lectern_origin::catalog::Lookup;
use lectern_origin::{Catalog, Origin, OriginConfig, Signer, SigningKey, VideoEntry};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Videos by id.
struct StaticCatalog(HashMap<String, VideoEntry>);

impl Catalog for StaticCatalog {
    fn lookup<'a>(&'a self, video_id: &'a str) -> Lookup<'a> {
        Box::pin(async move { Ok(self.0.get(video_id).cloned()) })
    }
}

struct Server {
    addr: std::net::SocketAddr,
    origin: Arc<Origin>,
    signer: Signer,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.task.await;
    }
}

fn key(id: &str, fill: u8) -> SigningKey {
    SigningKey {
        id: id.into(),
        secret: vec![fill; 32],
    }
}

/// A master playlist of the size Lectern writes (a few variants): worth compressing.
fn master_playlist() -> Vec<u8> {
    let mut text = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n".to_string();
    for (height, kbps) in [(1080, 5000), (720, 2800), (480, 1400), (360, 800)] {
        text.push_str(&format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={},CODECS=\"avc1.64001f,mp4a.40.2\",\
             RESOLUTION={}x{height},AUDIO=\"audio\"\n{height}p/index.m3u8\n",
            kbps * 1000,
            height * 16 / 9
        ));
    }
    text.into_bytes()
}

fn segment_bytes() -> Vec<u8> {
    (0..1000u32).map(|i| (i % 251) as u8).collect()
}

async fn start() -> Server {
    start_with(OriginConfig::default(), false).await
}

/// A server with `config`; on this runtime, or (`workers`) on two worker threads of its own
/// sharing one port, as `lectern serve` runs it.
async fn start_with(config: OriginConfig, workers: bool) -> Server {
    let store = Arc::new(InMemory::new());
    for (path, body) in [
        ("media/v1/r1/master.m3u8", master_playlist()),
        ("media/v1/r1/manifest.mpd", b"<MPD/>".to_vec()),
        ("media/v1/r1/720p/index.m3u8", b"#EXTM3U\n1.m4s\n".to_vec()),
        ("media/v1/r1/720p/init.mp4", b"init".to_vec()),
        ("media/v1/r1/720p/1.m4s", segment_bytes()),
        ("media/v1/r1/audio/1.m4s", b"audio".to_vec()),
        ("media/pub/r7/master.m3u8", b"#EXTM3U\n".to_vec()),
        ("media/secret.txt", b"never served".to_vec()),
    ] {
        store
            .put(&Path::from(path), PutPayload::from(body))
            .await
            .expect("put");
    }
    let mut videos = HashMap::new();
    videos.insert(
        "v1".to_string(),
        VideoEntry {
            prefix: "media/v1/r1".into(),
            public: false,
        },
    );
    videos.insert(
        "pub".to_string(),
        VideoEntry {
            prefix: "media/pub/r7".into(),
            public: true,
        },
    );
    let signer = Signer::new(vec![key("k2", 2), key("k1", 1)]).expect("signer");
    let origin = Arc::new(
        Origin::new(
            config,
            signer.clone(),
            Arc::new(StaticCatalog(videos)),
            store,
        )
        .expect("origin"),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let shutdown = async {
        let _ = stopped.await;
    };
    let (addr, task) = if workers {
        let listeners =
            lectern_origin::server::bind_workers("127.0.0.1:0".parse().expect("addr"), 2)
                .expect("bind");
        let addr = listeners[0].local_addr().expect("addr");
        assert_eq!(listeners[1].local_addr().expect("addr"), addr, "one port");
        let origin = origin.clone();
        let task = tokio::spawn(async move {
            lectern_origin::server::serve_workers(listeners, origin, shutdown)
                .await
                .expect("workers");
        });
        (addr, task)
    } else {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        (
            addr,
            tokio::spawn(lectern_origin::serve(listener, origin.clone(), shutdown)),
        )
    };
    Server {
        addr,
        origin,
        signer,
        stop: Some(stop),
        task,
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
    fn json_code(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body).expect("JSON error body");
        v["error"]["code"].as_str().expect("code").to_string()
    }
}

/// Sends one raw HTTP/1.1 request (the path exactly as given) and reads the whole reply.
async fn raw(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.expect("read");
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let body = buf[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines.next().expect("status")[9..12].parse().expect("code");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body,
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[tokio::test]
async fn range_matrix_over_the_wire() {
    let s = start().await;
    let t = s.signer.sign("v1", now() + 3600, None);
    let url = format!("/play/{t}/v1/720p/1.m4s");
    let all = segment_bytes();
    let cases: &[(&str, u16, Option<&str>, std::ops::Range<usize>)] = &[
        ("bytes=0-8", 206, Some("bytes 0-8/1000"), 0..9),
        ("bytes=-10", 206, Some("bytes 990-999/1000"), 990..1000),
        ("bytes=990-5000", 206, Some("bytes 990-999/1000"), 990..1000),
        ("bytes=100000-", 416, Some("bytes */1000"), 0..0),
        ("alpha", 416, Some("bytes */1000"), 0..0),
        ("bytes=5-2", 416, Some("bytes */1000"), 0..0),
        ("bytes=-0", 416, Some("bytes */1000"), 0..0),
        ("bytes=0-1,5-6", 200, None, 0..1000),
    ];
    for (range, status, content_range, bytes) in cases {
        let r = raw(s.addr, "GET", &url, &[("Range", range)]).await;
        assert_eq!(r.status, *status, "{range}");
        assert_eq!(r.header("content-range"), *content_range, "{range}");
        assert_eq!(r.body, all[bytes.clone()].to_vec(), "{range}");
        assert_eq!(r.header("accept-ranges"), Some("bytes"));
    }
    let whole = raw(s.addr, "GET", &url, &[]).await;
    assert_eq!((whole.status, whole.body.len()), (200, 1000));
    assert_eq!(whole.header("content-length"), Some("1000"));
    let etag = whole.header("etag").expect("etag").to_string();
    assert!(etag.starts_with('"'), "strong etag {etag}");
    let r = raw(
        s.addr,
        "GET",
        &url,
        &[("Range", "bytes=0-8"), ("If-Range", &etag)],
    )
    .await;
    assert_eq!(r.status, 206);
    let r = raw(
        s.addr,
        "GET",
        &url,
        &[("Range", "bytes=0-8"), ("If-Range", "\"stale\"")],
    )
    .await;
    assert_eq!((r.status, r.body.len()), (200, 1000));
    let head = raw(s.addr, "HEAD", &url, &[]).await;
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(head.header("content-length"), Some("1000"));
    s.stop().await;
}

#[tokio::test]
async fn conditional_requests() {
    let s = start().await;
    let t = s.signer.sign("v1", now() + 3600, None);
    let url = format!("/play/{t}/v1/720p/1.m4s");
    let first = raw(s.addr, "GET", &url, &[]).await;
    let etag = first.header("etag").expect("etag").to_string();
    let modified = first
        .header("last-modified")
        .expect("last-modified")
        .to_string();
    let r = raw(s.addr, "GET", &url, &[("If-None-Match", &etag)]).await;
    assert_eq!((r.status, r.body.len()), (304, 0));
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let r = raw(s.addr, "GET", &url, &[("If-None-Match", "\"other\"")]).await;
    assert_eq!(r.status, 200);
    let r = raw(s.addr, "GET", &url, &[("If-Modified-Since", &modified)]).await;
    assert_eq!(r.status, 304);
    let r = raw(
        s.addr,
        "GET",
        &url,
        &[("If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT")],
    )
    .await;
    assert_eq!(r.status, 200);
    s.stop().await;
}

#[tokio::test]
async fn types_cache_headers_and_cors() {
    let s = start().await;
    let expires = now() + 3600;
    let t = s.signer.sign("v1", expires, None);
    let cases = [
        ("master.m3u8", "application/vnd.apple.mpegurl", "private"),
        ("manifest.mpd", "application/dash+xml", "private"),
        (
            "720p/index.m3u8",
            "application/vnd.apple.mpegurl",
            "private",
        ),
        (
            "720p/init.mp4",
            "video/mp4",
            "public, max-age=31536000, immutable",
        ),
        (
            "720p/1.m4s",
            "video/mp4",
            "public, max-age=31536000, immutable",
        ),
        (
            "audio/1.m4s",
            "audio/mp4",
            "public, max-age=31536000, immutable",
        ),
    ];
    for (path, ctype, cache) in cases {
        let r = raw(s.addr, "GET", &format!("/play/{t}/v1/{path}"), &[]).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some(ctype), "{path}");
        let cc = r.header("cache-control").expect("cache-control");
        assert!(cc.starts_with(cache), "{path}: {cc}");
        if cache == "private" {
            let age: u64 = cc
                .rsplit('=')
                .next()
                .expect("max-age")
                .parse()
                .expect("number");
            assert!(age > 0 && age <= 300, "{cc}");
        }
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        let exposed = r.header("access-control-expose-headers").expect("expose");
        for h in ["Content-Length", "Content-Range", "ETag"] {
            assert!(exposed.contains(h), "{exposed}");
        }
        assert!(matches!(r.header("x-cache"), Some("miss" | "hit-memory")));
    }
    let again = raw(s.addr, "GET", &format!("/play/{t}/v1/720p/1.m4s"), &[]).await;
    assert_eq!(again.header("x-cache"), Some("hit-memory"));
    let pre = raw(
        s.addr,
        "OPTIONS",
        &format!("/play/{t}/v1/720p/1.m4s"),
        &[
            ("Origin", "http://example.test"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "range"),
        ],
    )
    .await;
    assert_eq!(pre.status, 204);
    assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
    assert!(
        pre.header("access-control-allow-headers")
            .expect("allow-headers")
            .contains("Range")
    );
    let post = raw(s.addr, "POST", &format!("/play/{t}/v1/720p/1.m4s"), &[]).await;
    assert_eq!(post.status, 405);
    s.stop().await;
}

#[tokio::test]
async fn every_token_failure_is_403_with_its_reason() {
    let s = start().await;
    let good = s.signer.sign("v1", now() + 3600, None);
    let expired = s.signer.sign("v1", now() - 1, None);
    let other_video = s.signer.sign("pub", now() + 3600, None);
    let foreign = Signer::new(vec![key("k9", 9)])
        .expect("signer")
        .sign("v1", now() + 3600, None);
    let mut tampered = good.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("utf8");
    let cases = [
        ("not-a-token", "malformed"),
        (expired.as_str(), "expired"),
        (other_video.as_str(), "bad_signature"),
        (foreign.as_str(), "unknown_key"),
        (tampered.as_str(), "bad_signature"),
    ];
    for (token, reason) in cases {
        let r = raw(s.addr, "GET", &format!("/play/{token}/v1/master.m3u8"), &[]).await;
        assert_eq!(r.status, 403, "{reason}");
        assert_eq!(r.json_code(), reason);
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    let text = String::from_utf8_lossy(&raw(s.addr, "GET", "/metrics", &[]).await.body).to_string();
    for reason in ["malformed", "expired", "unknown_key"] {
        assert!(
            text.contains(&format!(
                "lectern_token_failures_total{{reason=\"{reason}\"}} 1"
            )),
            "{text}"
        );
    }
    assert!(
        text.contains("lectern_token_failures_total{reason=\"bad_signature\"} 2"),
        "{text}"
    );
    let missing = raw(s.addr, "GET", "/play/v1/master.m3u8", &[]).await;
    assert!(
        missing.status == 403 || missing.status == 404,
        "{}",
        missing.status
    );
    let ok = raw(s.addr, "GET", &format!("/play/{good}/v1/master.m3u8"), &[]).await;
    assert_eq!(ok.status, 200);
    let unknown = raw(
        s.addr,
        "GET",
        &format!(
            "/play/{}/nope/master.m3u8",
            s.signer.sign("nope", now() + 60, None)
        ),
        &[],
    )
    .await;
    assert_eq!(unknown.status, 404);
    s.stop().await;
}

/// The second request for a path is answered from the worker's shelf (`crate::hot`): it must
/// still check the token of every request, and `forget` must empty it.
#[tokio::test]
async fn a_shelved_path_still_checks_every_token_and_is_forgotten() {
    let s = start().await;
    let good = s.signer.sign("v1", now() + 3600, None);
    let url = |token: &str| format!("/play/{token}/v1/master.m3u8");
    let reads = s.origin.cache().store_reads();
    for want in ["miss", "hit-memory", "hit-memory"] {
        let r = raw(s.addr, "GET", &url(&good), &[]).await;
        assert_eq!((r.status, r.header("x-cache")), (200, Some(want)));
        assert_eq!(r.body, master_playlist());
    }
    assert_eq!(s.origin.cache().store_reads() - reads, 1);
    let expired = s.signer.sign("v1", now() - 1, None);
    let other_video = s.signer.sign("pub", now() + 3600, None);
    let short = s.signer.sign("v1", now() + 30, None);
    for (token, reason) in [
        ("not-a-token", "malformed"),
        (expired.as_str(), "expired"),
        (other_video.as_str(), "bad_signature"),
        ("", "bad_path"),
        ("..", "bad_path"),
    ] {
        let r = raw(s.addr, "GET", &url(token), &[]).await;
        assert_eq!(
            r.status,
            if reason == "bad_path" { 400 } else { 403 },
            "{reason}"
        );
        assert_eq!(r.json_code(), reason);
    }
    // The manifest's max-age follows each request's own token, not the shelved one's.
    let r = raw(s.addr, "GET", &url(&short), &[]).await;
    let max_age: u64 = r
        .header("cache-control")
        .and_then(|v| v.strip_prefix("private, max-age="))
        .and_then(|v| v.parse().ok())
        .expect("private max-age");
    assert!((28..=30).contains(&max_age), "{max_age}");
    let r = raw(s.addr, "GET", &url(&good), &[("Range", "bytes=0-6")]).await;
    assert_eq!((r.status, r.body.as_slice()), (206, &b"#EXTM3U"[..]));
    s.origin.forget("v1", Some("media/v1/r1")).await;
    let r = raw(s.addr, "GET", &url(&good), &[]).await;
    assert_eq!(
        (r.status, r.header("x-cache")),
        (200, Some("miss")),
        "forgotten"
    );
    assert_eq!(s.origin.cache().store_reads() - reads, 2);
    s.stop().await;
}

#[tokio::test]
async fn public_media_and_path_traversal() {
    let s = start().await;
    let r = raw(s.addr, "GET", "/media/pub/r7/master.m3u8", &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("cache-control").expect("cc").contains("immutable"));
    for path in [
        "/media/v1/r1/master.m3u8",
        "/media/pub/r6/master.m3u8",
        "/media/pub/r7/nothing.m4s",
    ] {
        assert_eq!(raw(s.addr, "GET", path, &[]).await.status, 404, "{path}");
    }
    let t = s.signer.sign("v1", now() + 3600, None);
    for path in [
        format!("/play/{t}/v1/../secret.txt"),
        format!("/play/{t}/v1/%2e%2e/secret.txt"),
        format!("/play/{t}/v1/..%2fsecret.txt"),
        format!("/play/{t}/v1/720p%2f1.m4s"),
        format!("/play/{t}/v1/..%5csecret.txt"),
        format!("/play/{t}/v1/a\\..\\secret.txt"),
        format!("/play/{t}/v1/master.m3u8%00"),
        format!("/play/{t}/v1//master.m3u8"),
        format!("/play/{t}/v1/%zz"),
        "/media/pub/r7/../../secret.txt".to_string(),
    ] {
        let r = raw(s.addr, "GET", &path, &[]).await;
        assert!(r.status == 400 || r.status == 404, "{path}: {}", r.status);
        assert!(
            !String::from_utf8_lossy(&r.body).contains("never served"),
            "{path}"
        );
    }
    assert_eq!(raw(s.addr, "GET", "/healthz", &[]).await.status, 200);
    assert_eq!(raw(s.addr, "GET", "/readyz", &[]).await.status, 200);
    s.stop().await;
}

#[tokio::test]
async fn manifests_are_gzipped_for_clients_that_accept_it() {
    use std::io::Read;
    let s = start().await;
    let t = s.signer.sign("v1", now() + 3600, None);
    let url = format!("/play/{t}/v1/master.m3u8");
    let plain = raw(s.addr, "GET", &url, &[]).await;
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));
    let zipped = raw(s.addr, "GET", &url, &[("Accept-Encoding", "br, gzip")]).await;
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(zipped.body.as_slice())
        .read_to_string(&mut text)
        .expect("gunzip");
    assert_eq!(text.as_bytes(), plain.body.as_slice());
    let (plain_tag, zipped_tag) = (
        plain.header("etag").expect("etag"),
        zipped.header("etag").expect("etag"),
    );
    assert_ne!(
        plain_tag, zipped_tag,
        "each representation has its own strong ETag"
    );
    let again = raw(
        s.addr,
        "GET",
        &url,
        &[("Accept-Encoding", "gzip"), ("If-None-Match", zipped_tag)],
    )
    .await;
    assert_eq!(again.status, 304);
    let refused = raw(s.addr, "GET", &url, &[("Accept-Encoding", "gzip;q=0")]).await;
    assert_eq!(refused.header("content-encoding"), None);
    // A manifest too small to shrink is sent as it is (gzip would only add its header).
    let tiny = raw(
        s.addr,
        "GET",
        "/media/pub/r7/master.m3u8",
        &[("Accept-Encoding", "gzip")],
    )
    .await;
    assert_eq!(
        (tiny.header("content-encoding"), tiny.body.as_slice()),
        (None, b"#EXTM3U\n".as_slice())
    );
    let segment = raw(
        s.addr,
        "GET",
        &format!("/play/{t}/v1/720p/1.m4s"),
        &[("Accept-Encoding", "gzip")],
    )
    .await;
    assert_eq!(
        segment.header("content-encoding"),
        None,
        "media is never compressed"
    );
    s.stop().await;
}

#[tokio::test]
async fn http2_cleartext_and_keep_alive() {
    let s = start().await;
    let t = s.signer.sign("v1", now() + 3600, None);
    let url = format!("http://{}/play/{t}/v1/720p/1.m4s", s.addr);
    // curl speaks h2c with prior knowledge. (curl 7.88 fails its own second request when it
    // reuses a prior-knowledge connection, so one request is checked here.)
    let out = tokio::process::Command::new("curl")
        .args([
            "-s",
            "--http2-prior-knowledge",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{response_code} %{size_download}",
        ])
        .arg(&url)
        .output()
        .await
        .expect("curl (run ./setup.sh)");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2 200 1000", "h2c");
    let out = tokio::process::Command::new("curl")
        .args([
            "-s",
            "--http1.1",
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{num_connects}\n",
        ])
        .arg(&url)
        .arg(&url)
        .output()
        .await
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        vec!["1.1 1", "1.1 0"],
        "HTTP/1.1 keep-alive: {text}"
    );
    s.stop().await;
}

#[tokio::test]
async fn concurrent_cold_requests_make_one_store_read() {
    let s = start().await;
    let t = s.signer.sign("v1", now() + 3600, None);
    let url = format!("/play/{t}/v1/720p/1.m4s");
    let before = s.origin.cache().store_reads();
    let mut tasks = Vec::new();
    for _ in 0..500 {
        let (addr, url) = (s.addr, url.clone());
        tasks.push(tokio::spawn(
            async move { raw(addr, "GET", &url, &[]).await },
        ));
    }
    for task in tasks {
        let r = task.await.expect("task");
        assert_eq!((r.status, r.body.len()), (200, 1000));
    }
    assert_eq!(
        s.origin.cache().store_reads() - before,
        1,
        "500 cold requests, one store read"
    );
    // Every other request was a memory hit: found in memory, or handed the one read's result
    // (a coalesced wait, counted on its own).
    let text = String::from_utf8_lossy(&raw(s.addr, "GET", "/metrics", &[]).await.body).to_string();
    let value = |line: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{line} in\n{text}"))
    };
    assert_eq!(
        value(r#"lectern_cache_lookups_total{tier="memory",result="hit"}"#),
        499
    );
    assert_eq!(
        value(r#"lectern_cache_lookups_total{tier="memory",result="miss"}"#),
        1
    );
    assert!(value("lectern_cache_coalesced_waits_total") <= 499);
    s.stop().await;
}

#[tokio::test]
async fn worker_threads_share_one_port_and_drain_on_shutdown() {
    let s = start_with(OriginConfig::default(), true).await;
    let t = s.signer.sign("v1", now() + 3600, None);
    let url = format!("/play/{t}/v1/720p/1.m4s");
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (addr, url) = (s.addr, url.clone());
        tasks.push(tokio::spawn(
            async move { raw(addr, "GET", &url, &[]).await },
        ));
    }
    for task in tasks {
        let r = task.await.expect("task");
        assert_eq!((r.status, r.body.len()), (200, 1000));
    }
    let addr = s.addr;
    tokio::time::timeout(std::time::Duration::from_secs(10), s.stop())
        .await
        .expect("workers stop when asked");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let config = OriginConfig {
        header_read_timeout: std::time::Duration::from_secs(1),
        ..OriginConfig::default()
    };
    let s = start_with(config, false).await;
    let mut stream = TcpStream::connect(s.addr).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).await.expect("read");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Then say nothing: the server closes the connection about a second later.
    let started = std::time::Instant::now();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("closed within 5 s");
    assert!(
        matches!(closed, Ok(0) | Err(_)),
        "EOF, not data: {closed:?}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(800),
        "closed after {waited:?}"
    );
    // A client that starts a request and never finishes its headers is cut off too.
    let mut slow = TcpStream::connect(s.addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: te")
        .await
        .expect("write");
    let mut rest = Vec::new();
    let cut = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        slow.read_to_end(&mut rest),
    )
    .await
    .expect("cut off within 5 s");
    assert!(cut.is_err() || !String::from_utf8_lossy(&rest).contains("200 OK"));
    s.stop().await;
}

/// Videos by id, changed by the test while the server runs.
struct ChangingCatalog(std::sync::Mutex<HashMap<String, VideoEntry>>);

impl Catalog for ChangingCatalog {
    fn lookup<'a>(&'a self, video_id: &'a str) -> Lookup<'a> {
        let found = self.0.lock().expect("lock").get(video_id).cloned();
        Box::pin(async move { Ok(found) })
    }
}

#[tokio::test]
async fn catalog_changes_reach_the_origin_within_a_few_seconds() {
    let store = Arc::new(InMemory::new());
    store
        .put(
            &Path::from("media/late/r1/master.m3u8"),
            PutPayload::from(b"#EXTM3U\n".to_vec()),
        )
        .await
        .expect("put");
    let catalog = Arc::new(ChangingCatalog(Default::default()));
    let signer = Signer::new(vec![key("k1", 1)]).expect("signer");
    let origin = Arc::new(
        Origin::new(
            OriginConfig::default(),
            signer.clone(),
            catalog.clone(),
            store,
        )
        .expect("origin"),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(lectern_origin::serve(listener, origin, async {
        let _ = stopped.await;
    }));
    let url = format!(
        "/play/{}/late/master.m3u8",
        signer.sign("late", now() + 3600, None)
    );
    assert_eq!(
        raw(addr, "GET", &url, &[]).await.status,
        404,
        "not yet published"
    );
    // Published (as `lectern import` does from another process), then deleted: each change is
    // seen within the catalog refresh time plus one request.
    for (publish, want) in [(true, 200), (false, 404)] {
        {
            let mut videos = catalog.0.lock().expect("lock");
            if publish {
                videos.insert(
                    "late".into(),
                    VideoEntry {
                        prefix: "media/late/r1".into(),
                        public: false,
                    },
                );
            } else {
                videos.clear();
            }
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(6);
        loop {
            let status = raw(addr, "GET", &url, &[]).await.status;
            if status == want {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still {status}, want {want}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    let _ = stop.send(());
    let _ = task.await;
}
