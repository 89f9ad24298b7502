//! `lectern import` and `lectern serve` together, as an operator runs them: import a lecture,
//! serve the data directory, fetch a large segment (sent with sendfile) whole and in ranges,
//! play the signed URLs in Chromium with hls.js and dash.js (every rendition forced), import
//! another while the server runs, and stop it with SIGTERM.

mod common;

use std::time::{Duration, Instant};

use common::server::{Served, import};
use common::{Clip, assert_plays_every_rendition, make_clip};

/// GET over HTTP/1.1 with curl-free std: (status, body).
fn get(url: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest.split_once('/').expect("path");
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).expect("read");
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers");
    let status = String::from_utf8_lossy(&buf[9..12])
        .parse()
        .expect("status");
    (status, buf[split + 4..].to_vec())
}

#[test]
fn import_serve_play_and_stop() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let clip = make_clip(
        tmp.path(),
        "lecture.mp4",
        &Clip {
            size: (854, 480),
            seconds: 12.0,
            pattern: "snow",
            ..Clip::default()
        },
    )
    .expect("clip");
    let first = import(&data, &clip, &["--title", "Week 1"]);
    let served = Served::start(&data, &[]);

    let hls = format!("{}{}", served.base, first["hls"].as_str().expect("hls"));
    let dash = format!("{}{}", served.base, first["dash"].as_str().expect("dash"));
    let (status, body) = get(&hls);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("480p/index.m3u8"));
    // A renditions' playlist and a segment through the same token (relative URIs).
    assert_eq!(get(&hls.replace("master.m3u8", "360p/index.m3u8")).0, 200);
    assert_eq!(get(&hls.replace("master.m3u8", "360p/1.m4s")).0, 200);
    // The token is bound to its video, and private videos have no unsigned path.
    let id = first["id"].as_str().expect("id");
    assert_eq!(get(&hls.replace(id, "0000000000000000")).0, 403);
    assert_eq!(get(&format!("{}/healthz", served.base)).0, 200);

    // Large segments leave through sendfile from their files: the same bytes as on disk, whole
    // (from the store, then from memory) and in ranges.
    let rendition = std::fs::read_dir(data.join("store/media").join(id))
        .expect("media dir")
        .next()
        .expect("a revision")
        .expect("entry")
        .path()
        .join("480p");
    let (file, size) = std::fs::read_dir(&rendition)
        .expect("480p")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "m4s"))
        .map(|p| (std::fs::metadata(&p).expect("meta").len(), p))
        .max()
        .map(|(len, p)| (p, len))
        .expect("a segment");
    assert!(
        size >= 128 * 1024,
        "segment of {size} bytes is too small to test sendfile"
    );
    let on_disk = std::fs::read(&file).expect("segment");
    let name = file.file_name().and_then(|n| n.to_str()).expect("name");
    let url = hls.replace("master.m3u8", &format!("480p/{name}"));
    let api = served.api();
    for _ in 0..2 {
        let whole = api.get_with(&url, &[]);
        assert_eq!(whole.status, 200);
        assert!(whole.bytes == on_disk, "the segment differs from its file");
    }
    let part = api.get_with(&url, &[("Range", "bytes=1000-100999")]);
    assert_eq!(part.status, 206);
    assert!(
        part.bytes == on_disk[1000..101_000],
        "the range differs from the file"
    );
    let tail = api.get_with(&url, &[("Range", "bytes=-5000")]);
    assert!(tail.bytes == on_disk[on_disk.len() - 5000..]);
    let metrics = api.get_with(&format!("{}/metrics", served.base), &[]);
    let sent: u64 = metrics
        .text
        .lines()
        .find_map(|l| l.strip_prefix("lectern_sendfile_bytes_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("sendfile metric");
    assert!(
        sent >= 2 * size,
        "sendfile carried {sent} bytes of {}",
        2 * size
    );
    assert_eq!(get(&format!("{}/readyz", served.base)).0, 200);

    assert_plays_every_rendition(&[hls.as_ref(), dash.as_ref()], &[480, 360, 240]);

    // Import while the server runs: the new public video is served signed and unsigned.
    let small = make_clip(
        tmp.path(),
        "short.mp4",
        &Clip {
            size: (320, 240),
            seconds: 3.0,
            ..Clip::default()
        },
    )
    .expect("clip");
    let second = import(&data, &small, &["--public"]);
    let started = Instant::now();
    loop {
        let (status, _) = get(&format!(
            "{}{}",
            served.base,
            second["hls"].as_str().expect("hls")
        ));
        if status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "new video not served: {status}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let unsigned = format!(
        "{}{}",
        served.base,
        second["media"].as_str().expect("media path")
    );
    assert_eq!(get(&unsigned).0, 200);

    // SIGTERM drains and exits 0.
    let status = served.stop();
    assert!(status.success(), "serve exited with {status}");
}
