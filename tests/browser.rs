//! The output of `lectern package` plays in headless Chromium with hls.js and with dash.js,
//! served cross-origin from 127.0.0.1 with CORS, and keeps playing as each rendition is forced.
//! The browser side is `tests/browser/play.mjs` (playwright-core driving Debian's chromium).

mod common;

use common::{Clip, assert_plays_every_rendition, assert_success, make_clip, package};

#[test]
fn plays_in_chromium_with_hls_js_and_dash_js_switching_every_rendition() {
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

    assert_plays_every_rendition(&[out.as_os_str()], &[480, 360, 240]);
}
