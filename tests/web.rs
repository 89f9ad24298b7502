//! The web app: how `lectern serve` hands out its files (SPA fallback, caching, gzip, CSP),
//! and the whole app end to end in headless Chromium (`tests/browser/web_e2e.mjs`): sign up,
//! an upload paused on a slow line, the page reloaded and the upload resumed, processing to
//! ready, play, every HLS rendition, DASH, speed, M (then edited, annotated, filtered), a
//! comment, N, Markdown export, resume after reload, an expired session; screenshots of the
//! library and the watch page (desktop and 375 px) in `tests/browser/output/web/`.

mod common;

use std::path::Path;
use std::process::Command;

use common::server::{Served, create_user};
use common::{Clip, make_clip};
use serde_json::Value;

#[test]
fn the_app_is_served_at_the_root_with_page_routes_falling_back_to_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let served = Served::start(&tmp.path().join("data"), &[]);
    let base = &served.base;
    let api = served.api();

    let index = api.get_with(&format!("{base}/"), &[]);
    assert_eq!(
        index.status, 200,
        "the web app is not in this build: run ./setup.sh"
    );
    assert!(index.text.contains("<div id=\"app\">"), "{}", index.text);
    assert!(
        index
            .header("content-type")
            .unwrap_or("")
            .starts_with("text/html")
    );
    assert_eq!(index.header("cache-control"), Some("no-cache"));
    let csp = index.header("content-security-policy").unwrap_or("");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let etag = index.header("etag").unwrap_or("").to_string();
    assert!(etag.starts_with('"'), "{etag}");

    // Page routes of the app (and the links exports carry) answer the same page.
    for page in [
        "/watch/0123456789abcdef?t=42",
        "/upload",
        "/signin?next=/mine",
    ] {
        let r = api.get_with(&format!("{base}{page}"), &[]);
        assert_eq!(r.status, 200, "{page}");
        assert_eq!(r.text, index.text, "{page}");
    }
    let again = api.get_with(&format!("{base}/"), &[("If-None-Match", &etag)]);
    assert_eq!(again.status, 304);

    // A missing file is a 404 (not the page), JSON like every error; the API keeps its 404s.
    let missing = api.get_with(&format!("{base}/assets/nope-123.js"), &[]);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("content-type"), Some("application/json"));
    assert_eq!(missing.code(), "not_found");
    let endpoint = api.get_with(&format!("{base}/api/v1/nothing-here"), &[]);
    assert_eq!(endpoint.status, 404);

    // The page's script: immutable, gzipped for clients that take it.
    let script = index
        .text
        .split("src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a script in the page");
    assert!(script.starts_with("/assets/"), "{script}");
    let plain = api.get_with(&format!("{base}{script}"), &[]);
    assert_eq!(plain.status, 200);
    assert!(
        plain
            .header("content-type")
            .unwrap_or("")
            .starts_with("text/javascript")
    );
    assert_eq!(
        plain.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let packed = api.get_with(
        &format!("{base}{script}"),
        &[("Accept-Encoding", "gzip, br")],
    );
    assert_eq!(packed.status, 200);
    assert_eq!(packed.header("content-encoding"), Some("gzip"));
    assert_eq!(packed.header("vary"), Some("Accept-Encoding"));
    assert_ne!(
        packed.header("etag"),
        plain.header("etag"),
        "one tag per encoding"
    );
    let mut unpacked = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(packed.bytes.as_slice()),
        &mut unpacked,
    )
    .expect("gunzip");
    assert_eq!(unpacked, plain.bytes);
    assert!(packed.bytes.len() < plain.bytes.len() / 2);
    drop(served);
}

#[test]
fn a_learner_uploads_watches_marks_takes_notes_and_exports_in_chromium() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    // Long enough to play through every step without reaching the end.
    let clip = make_clip(
        tmp.path(),
        "lecture.mp4",
        &Clip {
            size: (640, 360),
            seconds: 24.0,
            ..Clip::default()
        },
    )
    .expect("clip");
    create_user(&data, "admin", "admin");
    let served = Served::start(&data, &[]);

    let browser = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let out_dir = browser.join("output/web");
    let _ = std::fs::remove_dir_all(&out_dir);
    let out = Command::new("node")
        .arg(browser.join("web_e2e.mjs"))
        .arg(&served.base)
        .arg(&clip)
        .arg(&out_dir)
        .env("ADMIN_LOGIN", "admin")
        .env("ADMIN_PASSWORD", "admin-password")
        .current_dir(&browser)
        .output()
        .expect("node (run ./setup.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!(
            "no report: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        out.status.success() && report["ok"] == true,
        "the web app failed in Chromium (screenshot in {}): {report:#}",
        out_dir.display()
    );

    let step = |name: &str| -> Value {
        report["steps"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no step {name}: {report:#}"))
    };
    // Two renditions of a 360p clip, each chosen and shown at its height.
    let heights = step("quality switched")["heights"].clone();
    assert_eq!(heights, serde_json::json!([360, 240]), "{report:#}");
    assert_eq!(step("speed changed")["rate"], 1.5);
    let upload = step("uploaded and ready");
    assert!(
        upload["storedOffset"].as_u64().unwrap_or(0) > 0,
        "paused upload: {upload}"
    );
    let dash = step("dash played");
    assert_ne!(dash["from"], dash["to"], "{dash}");
    for name in [
        "marks edited, annotated, filtered",
        "commented",
        "note added with N",
        "expired session: signed in again and returned",
        "keys",
        "edited and deleted",
    ] {
        step(name);
    }
    let resumed = step("resumed after reload");
    let (paused, again) = (
        resumed["pausedAt"].as_f64().expect("pausedAt"),
        resumed["resumedAt"].as_f64().expect("resumedAt"),
    );
    assert!(paused > 3.0 && (paused - again).abs() < 1.5, "{resumed}");
    let file = step("exported Markdown")["file"]
        .as_str()
        .expect("file")
        .to_string();
    let markdown = std::fs::read_to_string(out_dir.join(&file)).expect("the export");
    assert!(markdown.starts_with("# Week 1: Waves"), "{markdown}");
    assert!(markdown.contains("**key point**"), "{markdown}");
    assert!(
        markdown.contains("**question**: Why does the ball slow down?"),
        "{markdown}"
    );
    assert!(
        !markdown.contains("<script>"),
        "HTML escaped in the export: {markdown}"
    );
    for shot in [
        "library-desktop.png",
        "library-375.png",
        "watch-desktop.png",
        "watch-375.png",
    ] {
        let bytes = std::fs::read(out_dir.join(shot)).expect(shot);
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
            "{shot}"
        );
    }
    drop(served);
}
