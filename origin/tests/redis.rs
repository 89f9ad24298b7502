//! The Redis tier against a real `redis-server` started on a free port: objects come back from
//! Redis after memory eviction, no request fails while Redis is killed, and Redis is used again
//! once it returns.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lectern_origin::catalog::Lookup;
use lectern_origin::redis_tier::RedisConfig;
use lectern_origin::{Catalog, Origin, OriginConfig, Signer, SigningKey, VideoEntry};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct OneVideo;

impl Catalog for OneVideo {
    fn lookup<'a>(&'a self, video_id: &'a str) -> Lookup<'a> {
        let found = (video_id == "v").then(|| VideoEntry {
            prefix: "media/v/r".into(),
            public: true,
        });
        Box::pin(async move { Ok(found) })
    }
}

/// A redis-server of our own, killed (by PID) when dropped.
struct RedisServer(Child);

impl RedisServer {
    fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (run ./setup.sh)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self(child)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String, usize) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("write");
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.expect("read");
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers");
    let head = String::from_utf8_lossy(&buf[..split]).to_lowercase();
    let status = head[9..12].parse().expect("status");
    let cache = head
        .lines()
        .find_map(|l| l.strip_prefix("x-cache: "))
        .unwrap_or("")
        .to_string();
    (status, cache, buf.len() - split - 4)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_tier_survives_redis_dying_and_coming_back() {
    let port = free_port();
    let redis = RedisServer::start(port);
    let store = Arc::new(InMemory::new());
    for n in 1..=5 {
        let body = vec![n as u8; 20_000];
        store
            .put(
                &Path::from(format!("media/v/r/720p/{n}.m4s")),
                PutPayload::from(body),
            )
            .await
            .expect("put");
    }
    let config = OriginConfig {
        redis: Some(RedisConfig {
            url: format!("redis://127.0.0.1:{port}"),
            max_object_bytes: 1 << 20,
            ttl: Duration::from_secs(60),
            timeout: Duration::from_millis(50),
        }),
        ..OriginConfig::default()
    };
    let signer = Signer::new(vec![SigningKey {
        id: "k".into(),
        secret: vec![7; 32],
    }])
    .expect("signer");
    let origin = Arc::new(Origin::new(config, signer, Arc::new(OneVideo), store).expect("origin"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(lectern_origin::serve(listener, origin.clone(), async {
        let _ = stopped.await;
    }));
    let url = |n: u32| format!("/media/v/r/720p/{n}.m4s");
    let evict = || async { origin.forget("v", Some("media/v/r")).await };

    // Miss, then memory, then (memory evicted) Redis.
    assert_eq!(get(addr, &url(1)).await, (200, "miss".into(), 20_000));
    assert_eq!(get(addr, &url(1)).await.1, "hit-memory");
    // The write to Redis happens in the background: give it a moment.
    let started = Instant::now();
    loop {
        evict().await;
        let (status, cache, _) = get(addr, &url(1)).await;
        assert_eq!(status, 200);
        if cache == "hit-redis" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "never served from redis"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Kill Redis under load: every request still succeeds, from memory or the store.
    drop(redis);
    let mut failures = 0;
    let mut tasks = Vec::new();
    for round in 0..40u32 {
        if round % 10 == 0 {
            evict().await;
        }
        for n in 1..=5 {
            let path = url(n);
            tasks.push(tokio::spawn(async move { get(addr, &path).await }));
        }
    }
    for task in tasks {
        let (status, _, len) = task.await.expect("task");
        if status != 200 || len != 20_000 {
            failures += 1;
        }
    }
    assert_eq!(failures, 0, "requests failed while redis was down");

    // Redis returns on the same port: it is used again.
    let _redis = RedisServer::start(port);
    let started = Instant::now();
    loop {
        evict().await;
        let _ = get(addr, &url(2)).await; // a miss writes it back to Redis
        tokio::time::sleep(Duration::from_millis(100)).await;
        evict().await;
        let (status, cache, _) = get(addr, &url(2)).await;
        assert_eq!(status, 200);
        if cache == "hit-redis" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "redis not used again after it came back"
        );
    }
    let metrics = origin.metrics().render();
    assert!(
        metrics.contains("lectern_cache_lookups_total{tier=\"redis\",result=\"hit\"}"),
        "{metrics}"
    );
    let _ = stop.send(());
    let _ = server.await;
}
