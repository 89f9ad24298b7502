//! Uploads against a real `lectern serve`: a tus-js-client upload (under node) interrupted,
//! resumed across a server restart, transcoded with progress events and played in Chromium;
//! the tus protocol's errors; one-request multipart uploads; and a server killed mid-transcode
//! that finishes the job when it starts again.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::server::{Api, Served, create_user};
use common::{Clip, assert_plays_every_rendition, make_clip};
use serde_json::{Value, json};

fn node_tus(args: &[&str]) -> Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let out = Command::new("node")
        .arg(dir.join("tus_upload.mjs"))
        .args(args)
        .current_dir(&dir)
        .output()
        .expect("node (run ./setup.sh)");
    assert!(
        out.status.success(),
        "tus-js-client: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON line")
}

/// Polls the video until it leaves `processing`; returns it.
fn wait_ready(api: &Api, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let r = api.call("GET", &format!("/api/v1/videos/{id}"), Some(token), None);
        assert_eq!(r.status, 200, "{}", r.text);
        let p = r.body["progress"].as_f64().expect("progress");
        assert!((0.0..=1.0).contains(&p), "{p}");
        if r.body["status"] != "processing" {
            return r.body;
        }
        assert!(Instant::now() < deadline, "still processing: {}", r.text);
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A tus request with the protocol header.
fn tus(
    api: &Api,
    method: &str,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, String) {
    let mut request = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", api.base))
        .header("Authorization", format!("Bearer {token}"));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .run(request.body(body.to_vec()).expect("request"))
        .expect("answer");
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (response.status().as_u16(), headers, text)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[test]
fn a_tus_upload_resumes_across_a_restart_then_plays() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("data");
    create_user(&data, "cara", "creator");
    let clip = make_clip(
        tmp.path(),
        "lecture.mp4",
        &Clip {
            size: (640, 360),
            seconds: 6.0,
            ..Clip::default()
        },
    )
    .expect("clip");
    let size = std::fs::metadata(&clip).expect("clip").len();
    let env = [("LECTERN_LADDER", "360,240")];

    let server = Served::start(&data, &env);
    let api = server.api();
    let (token, _, _) = api.sign_in("cara", "cara-password");
    let started = node_tus(&[
        "start",
        &api.base,
        &token,
        clip.to_str().expect("utf-8"),
        "0.4",
    ]);
    let url = started["url"].as_str().expect("upload URL").to_string();
    let path = url
        .strip_prefix(&api.base)
        .expect("same server")
        .to_string();
    let (status, headers, _) = tus(
        &api,
        "HEAD",
        &path,
        &token,
        &[("Tus-Resumable", "1.0.0")],
        b"",
    );
    assert_eq!(status, 200);
    let offset: u64 = header(&headers, "upload-offset")
        .expect("offset")
        .parse()
        .expect("number");
    assert!(
        offset > 0 && offset < size,
        "interrupted part-way: {offset} of {size}"
    );
    assert_eq!(
        header(&headers, "upload-length"),
        Some(size.to_string().as_str())
    );
    assert!(header(&headers, "upload-expires").is_some());
    assert!(server.stop().success(), "graceful stop");

    // A new server on the same data: the upload resumes from the stored offset.
    let server = Served::start(&data, &env);
    let api = server.api();
    let (token, _, _) = api.sign_in("cara", "cara-password");
    let (status, headers, _) = tus(
        &api,
        "HEAD",
        &path,
        &token,
        &[("Tus-Resumable", "1.0.0")],
        b"",
    );
    assert_eq!(
        (status, header(&headers, "upload-offset")),
        (200, Some(offset.to_string().as_str())),
        "the offset survived"
    );
    let resumed = node_tus(&[
        "resume",
        &api.base,
        &token,
        clip.to_str().expect("utf-8"),
        &format!("{}{path}", api.base),
    ]);
    assert_eq!(resumed["done"], true);
    let (_, headers, _) = tus(
        &api,
        "HEAD",
        &path,
        &token,
        &[("Tus-Resumable", "1.0.0")],
        b"",
    );
    let video_id = header(&headers, "lectern-video-id")
        .expect("the video made from it")
        .to_string();

    // Progress as server-sent events, from now until ready (the stream then ends).
    let events_url = format!("{}/api/v1/videos/{video_id}/events", api.base);
    let auth = format!("Authorization: Bearer {token}");
    let events = std::thread::spawn(move || {
        let out = Command::new("curl")
            .args(["-sN", "--max-time", "180", "-H", &auth])
            .arg(&events_url)
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).to_string()
    });
    let anonymous = api.call(
        "GET",
        &format!("/api/v1/videos/{video_id}/events"),
        None,
        None,
    );
    assert_eq!(
        (anonymous.status, anonymous.code()),
        (404, "not_found"),
        "a private video's events"
    );
    let listed = api.call("GET", "/api/v1/videos", Some(&token), None);
    assert_eq!(
        listed.body["items"][0]["id"],
        video_id.as_str(),
        "the owner sees it while it processes"
    );
    let video = wait_ready(&api, &token, &video_id);
    assert_eq!(video["status"], "ready", "{video}");
    assert_eq!(video["title"], "Uploaded lecture");
    assert_eq!(video["tags"], json!(["physics", "week-1"]));
    assert_eq!(video["progress"], 1.0);
    let poster = video["poster_url"]
        .as_str()
        .expect("uploads get a poster too");
    let r = api.raw("GET", &format!("{}{poster}", api.base), None, None, None);
    assert_eq!((r.status, &r.bytes[..2]), (200, &[0xFF, 0xD8][..]));
    let events = events.join().expect("events");
    let states: Vec<Value> = events
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).expect("JSON event"))
        .collect();
    assert!(events.starts_with("event: state\n"), "{events}");
    assert_eq!(
        states.last().expect("events")["status"],
        "ready",
        "{events}"
    );
    assert!(
        states
            .windows(2)
            .all(|w| w[0]["progress"].as_f64() <= w[1]["progress"].as_f64()),
        "progress only grows: {events}"
    );
    let uploads_left: Vec<_> = std::fs::read_dir(data.join("uploads"))
        .expect("uploads")
        .collect();
    assert!(
        uploads_left.is_empty(),
        "the upload's bytes are gone once transcoded"
    );

    let heights: Vec<i64> = video["renditions"]
        .as_array()
        .expect("renditions")
        .iter()
        .map(|r| r["height"].as_i64().expect("h"))
        .collect();
    assert_eq!(heights, vec![360, 240]);
    let hls = format!(
        "{}{}",
        api.base,
        video["playback"]["hls"].as_str().expect("hls")
    );
    let dash = format!(
        "{}{}",
        api.base,
        video["playback"]["dash"].as_str().expect("dash")
    );
    assert_plays_every_rendition(&[hls.as_ref(), dash.as_ref()], &heights);
}

#[test]
fn tus_protocol_errors_and_multipart_uploads() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("data");
    create_user(&data, "cara", "creator");
    create_user(&data, "vern", "viewer");
    let server = Served::start(
        &data,
        &[("LECTERN_MAX_UPLOAD_MIB", "5"), ("LECTERN_LADDER", "240")],
    );
    let api = server.api();
    let (cara, _, _) = api.sign_in("cara", "cara-password");
    let (vern, _, _) = api.sign_in("vern", "vern-password");
    let v = ("Tus-Resumable", "1.0.0");
    let octets = ("Content-Type", "application/offset+octet-stream");

    let (status, headers, _) = tus(&api, "OPTIONS", "/api/v1/uploads", &cara, &[], b"");
    assert_eq!(status, 204);
    assert_eq!(header(&headers, "tus-version"), Some("1.0.0"));
    assert!(
        header(&headers, "tus-extension")
            .expect("extensions")
            .contains("checksum")
    );
    assert_eq!(header(&headers, "tus-max-size"), Some("5242880"));

    let create = |token: &str, extra: &[(&str, &str)], body: &[u8]| {
        let mut headers = vec![v, ("Upload-Length", "100")];
        headers.extend_from_slice(extra);
        tus(&api, "POST", "/api/v1/uploads", token, &headers, body)
    };
    assert_eq!(create(&vern, &[], b"").0, 403, "viewers do not upload");
    assert_eq!(
        tus(
            &api,
            "POST",
            "/api/v1/uploads",
            "not-a-token",
            &[v, ("Upload-Length", "100")],
            b""
        )
        .0,
        401
    );
    assert_eq!(
        tus(
            &api,
            "POST",
            "/api/v1/uploads",
            &cara,
            &[("Upload-Length", "100")],
            b""
        )
        .0,
        412,
        "no Tus-Resumable"
    );
    assert_eq!(
        tus(
            &api,
            "POST",
            "/api/v1/uploads",
            &cara,
            &[v, ("Upload-Length", "6000000")],
            b""
        )
        .0,
        413
    );
    assert_eq!(
        tus(&api, "POST", "/api/v1/uploads", &cara, &[v], b"").0,
        400,
        "no length"
    );

    // creation-with-upload: the first bytes come with the POST.
    let (status, headers, text) = create(&cara, &[octets], &[7u8; 10]);
    assert_eq!(status, 201, "{text}");
    assert_eq!(header(&headers, "upload-offset"), Some("10"));
    let location = header(&headers, "location").expect("Location").to_string();
    assert_eq!(
        tus(&api, "HEAD", &location, &vern, &[v], b"").0,
        404,
        "another user's upload"
    );
    let patch = |offset: &str, extra: &[(&str, &str)], body: &[u8]| {
        let mut headers = vec![v, octets, ("Upload-Offset", offset)];
        headers.extend_from_slice(extra);
        tus(&api, "PATCH", &location, &cara, &headers, body)
    };
    assert_eq!(patch("0", &[], b"abc").0, 409, "wrong offset");
    assert_eq!(
        tus(
            &api,
            "PATCH",
            &location,
            &cara,
            &[v, ("Upload-Offset", "10")],
            b"abc"
        )
        .0,
        415
    );
    // checksum: a good chunk is kept, a bad one discarded with 460.
    let good = base64_sha256(b"0123456789");
    let (status, headers, _) = patch(
        "10",
        &[("Upload-Checksum", &format!("sha256 {good}"))],
        b"0123456789",
    );
    assert_eq!(
        (status, header(&headers, "upload-offset")),
        (204, Some("20"))
    );
    let (status, _, text) = patch(
        "20",
        &[("Upload-Checksum", &format!("sha256 {good}"))],
        b"9876543210",
    );
    assert_eq!(status, 460, "{text}");
    assert_eq!(patch("20", &[("Upload-Checksum", "md5 AAAA")], b"x").0, 400);
    let (_, headers, _) = tus(&api, "HEAD", &location, &cara, &[v], b"");
    assert_eq!(
        header(&headers, "upload-offset"),
        Some("20"),
        "the bad chunk left nothing"
    );
    assert_eq!(
        patch("20", &[], &[0u8; 81]).0,
        413,
        "more than Upload-Length"
    );

    // Two writers: while one PATCH is still sending its body, a second is refused (423).
    let addr = api.base.strip_prefix("http://").expect("http").to_string();
    let mut slow = std::net::TcpStream::connect(&addr).expect("connect");
    write!(slow, "PATCH {location} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {cara}\r\nTus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: 20\r\nContent-Length: 20\r\n\r\n0123456789").expect("write");
    slow.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(300));
    let (status, _, text) = patch("20", &[], b"x");
    assert!(
        status == 423 || status == 409,
        "second writer refused: {status} {text}"
    );
    slow.write_all(b"0123456789").expect("finish");
    let mut reply = [0u8; 12];
    slow.read_exact(&mut reply).expect("reply");
    assert_eq!(&reply, b"HTTP/1.1 204");
    let (_, headers, _) = tus(&api, "HEAD", &location, &cara, &[v], b"");
    assert_eq!(header(&headers, "upload-offset"), Some("40"));

    // Termination.
    assert_eq!(tus(&api, "DELETE", &location, &cara, &[v], b"").0, 204);
    assert_eq!(tus(&api, "HEAD", &location, &cara, &[v], b"").0, 404);

    // Multipart in one request; a file that is not a video fails with the reason.
    let clip = make_clip(
        tmp.path(),
        "small.mp4",
        &Clip {
            size: (320, 240),
            seconds: 2.0,
            ..Clip::default()
        },
    )
    .expect("clip");
    let form = |token: &str, file: &Path, title: &str| {
        let out = Command::new("curl")
            .args(["-s", "-H", &format!("Authorization: Bearer {token}"), "-F"])
            .arg(format!("file=@{}", file.display()))
            .args(["-F", &format!("title={title}"), "-F", "visibility=public"])
            .arg(format!("{}/api/v1/videos", api.base))
            .output()
            .expect("curl");
        serde_json::from_slice::<Value>(&out.stdout).expect("JSON")
    };
    let made = form(&cara, &clip, "Small");
    assert_eq!(made["status"], "processing", "{made}");
    assert_eq!(form(&vern, &clip, "Nope")["error"]["code"], "forbidden");
    let junk = tmp.path().join("notes.txt");
    std::fs::write(&junk, "this is not a video").expect("write");
    let bad = form(&cara, &junk, "Junk");
    let ready = wait_ready(&api, &cara, made["id"].as_str().expect("id"));
    assert_eq!(
        (ready["status"].as_str(), ready["visibility"].as_str()),
        (Some("ready"), Some("public"))
    );
    let failed = wait_ready(&api, &cara, bad["id"].as_str().expect("id"));
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["error"].as_str().is_some_and(|e| !e.is_empty()),
        "the reason: {failed}"
    );
}

fn base64_sha256(bytes: &[u8]) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(bytes))
}

#[test]
fn a_server_killed_mid_transcode_finishes_the_job_after_restart() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("data");
    create_user(&data, "cara", "creator");
    let clip = make_clip(
        tmp.path(),
        "long.mp4",
        &Clip {
            size: (854, 480),
            seconds: 12.0,
            ..Clip::default()
        },
    )
    .expect("clip");
    let env = [
        ("LECTERN_LADDER", "480,360,240"),
        ("LECTERN_X264_PRESET", "medium"),
    ];
    let server = Served::start(&data, &env);
    let api = server.api();
    let (token, _, _) = api.sign_in("cara", "cara-password");
    let out = Command::new("curl")
        .args(["-s", "-H", &format!("Authorization: Bearer {token}"), "-F"])
        .arg(format!("file=@{}", clip.display()))
        .arg(format!("{}/api/v1/videos", api.base))
        .output()
        .expect("curl");
    let made: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let id = made["id"].as_str().expect("id").to_string();
    // Wait until the transcode is under way, then kill the server outright.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = api.call("GET", &format!("/api/v1/videos/{id}"), Some(&token), None);
        let p = r.body["progress"].as_f64().unwrap_or(0.0);
        assert_eq!(
            r.body["status"], "processing",
            "the test needs to catch it mid-way: {}",
            r.text
        );
        if p > 0.05 {
            break;
        }
        assert!(Instant::now() < deadline, "no progress: {}", r.text);
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(server); // SIGKILL
    let server = Served::start(&data, &env);
    let api = server.api();
    let (token, _, _) = api.sign_in("cara", "cara-password");
    let r = api.call("GET", &format!("/api/v1/videos/{id}"), Some(&token), None);
    assert_eq!(
        r.body["status"], "processing",
        "not visible half-done: {}",
        r.text
    );
    assert!(r.body.get("playback").is_none());
    let video = wait_ready(&api, &token, &id);
    assert_eq!(video["status"], "ready", "{video}");
    // Exactly one presentation remains: the killed attempt's partial one was removed.
    let revisions: Vec<_> = std::fs::read_dir(data.join("store/media").join(&id))
        .expect("media")
        .collect();
    assert_eq!(revisions.len(), 1);
    let hls = format!(
        "{}{}",
        api.base,
        video["playback"]["hls"].as_str().expect("hls")
    );
    let (status, _, _) = tus(
        &api,
        "GET",
        hls.strip_prefix(&api.base).expect("path"),
        &token,
        &[],
        b"",
    );
    assert_eq!(status, 200);
}
