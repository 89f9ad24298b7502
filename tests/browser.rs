//! The output of `lectern package` plays in headless Chromium with hls.js and with dash.js,
//! served cross-origin from 127.0.0.1 with CORS, and keeps playing as each rendition is forced.
//! The browser side is `tests/browser/play.mjs` (playwright-core driving Debian's chromium).

mod common;

use std::path::Path;
use std::process::Command;

use common::{Clip, assert_success, make_clip, package};

#[test]
fn plays_in_chromium_with_hls_js_and_dash_js_switching_every_rendition() {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists(),
        "tests/browser/node_modules is missing: run ./setup.sh"
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let input = make_clip(
        tmp.path(),
        "lecture.mp4",
        &Clip {
            size: (854, 480),
            seconds: 15.0,
            ..Clip::default()
        },
    )
    .expect("clip");
    let out = tmp.path().join("out");
    assert_success(&package(&input, &out, &["--segment-seconds", "2"]));

    let run = Command::new("node")
        .arg(browser_dir.join("play.mjs"))
        .arg(&out)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let report: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("report is not JSON ({e}): {stdout}\n{stderr}"));
    assert!(
        run.status.success(),
        "playback failed: {report:#}\n{stderr}"
    );
    for player in ["hls", "dash"] {
        let results = report[player]["results"].as_array().expect("results");
        let heights: Vec<i64> = results
            .iter()
            .filter_map(|r| r["videoHeight"].as_i64())
            .collect();
        assert_eq!(
            heights,
            vec![480, 360, 240],
            "{player} showed every rendition: {report:#}"
        );
        assert!(
            results.iter().all(|r| r["advanced"] == true),
            "{player} kept playing: {report:#}"
        );
        assert_eq!(
            report[player]["errors"].as_array().map(Vec::len),
            Some(0),
            "{player}: {report:#}"
        );
    }
}
