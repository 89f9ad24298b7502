//! Helpers shared by the end-to-end tests: media generated with GStreamer's test sources, the
//! `lectern` binary, and readers for what it writes.
#![allow(dead_code)]

pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, bail};
use mp4_atom::{Decode, Moof, Styp};

/// Runs `gst-launch-1.0 -q -e DESCRIPTION` and fails with its output if it fails.
pub fn gst(description: &str) -> anyhow::Result<()> {
    let args: Vec<String> = shell_words(description);
    let out = Command::new("gst-launch-1.0")
        .arg("-q")
        .arg("-e")
        .args(&args)
        .output()
        .context("gst-launch-1.0 not found: run ./setup.sh")?;
    if !out.status.success() {
        bail!(
            "gst-launch-1.0 {description} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn shell_words(s: &str) -> Vec<String> {
    // Descriptions here never need quoting beyond whitespace-separated words.
    s.split_whitespace().map(str::to_string).collect()
}

/// A clip description for [`make_clip`].
#[derive(Debug, Clone)]
pub struct Clip {
    /// Width × height of the coded picture.
    pub size: (u32, u32),
    /// Frame rate as a GStreamer fraction (`30/1`, `30000/1001`).
    pub rate: &'static str,
    /// Seconds of video.
    pub seconds: f64,
    /// Whether to add a sine tone.
    pub audio: bool,
    /// Display rotation in degrees written into the MP4 (by remuxing with ffmpeg), if any.
    pub rotate: Option<u32>,
    /// videotestsrc pattern: `ball` (compresses to little), `snow` (noise: full-size segments).
    pub pattern: &'static str,
}

impl Default for Clip {
    fn default() -> Self {
        Self {
            size: (640, 360),
            rate: "30/1",
            seconds: 5.0,
            audio: true,
            rotate: None,
            pattern: "ball",
        }
    }
}

fn frames(rate: &str, seconds: f64) -> u64 {
    let (n, d) = rate.split_once('/').unwrap_or((rate, "1"));
    let fps: f64 = n.parse::<f64>().unwrap_or(30.0) / d.parse::<f64>().unwrap_or(1.0);
    (fps * seconds).round() as u64
}

/// Generates an MP4 (H.264 + AAC) clip in `dir` and returns its path.
pub fn make_clip(dir: &Path, name: &str, clip: &Clip) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    let (w, h) = clip.size;
    let mut d = format!(
        "videotestsrc num-buffers={} pattern={} ! video/x-raw,width={w},height={h},framerate={} ! \
         x264enc speed-preset=ultrafast key-int-max=30 ! h264parse ! queue ! mp4mux name=mux ! filesink location={}",
        frames(clip.rate, clip.seconds),
        clip.pattern,
        clip.rate,
        path.display()
    );
    if clip.audio {
        let buffers = (clip.seconds * 48_000.0 / 1024.0).round() as u64;
        d.push_str(&format!(
            " audiotestsrc num-buffers={buffers} samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! queue ! mux."
        ));
    }
    gst(&d)?;
    if let Some(degrees) = clip.rotate {
        // GStreamer's muxer does not write orientation tags; ffmpeg's stream copy does.
        let rotated = dir.join(format!("rotated-{name}"));
        let out = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y", "-i"])
            .arg(&path)
            .args(["-c", "copy", "-metadata:s:v:0"])
            .arg(format!("rotate={degrees}"))
            .arg(&rotated)
            .output()
            .context("ffmpeg not found: run ./setup.sh")?;
        if !out.status.success() {
            bail!(
                "ffmpeg rotate failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::fs::rename(&rotated, &path)?;
    }
    Ok(path)
}

/// The built `lectern` binary.
pub fn lectern() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lectern"))
}

/// Runs `lectern package INPUT --out OUT EXTRA...`.
pub fn package(input: &Path, out: &Path, extra: &[&str]) -> Output {
    lectern()
        .arg("package")
        .arg(input)
        .arg("--out")
        .arg(out)
        .args(extra)
        .env("LECTERN_LOG", "error")
        .output()
        .expect("lectern runs")
}

/// Fails with the command's output unless it succeeded.
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "lectern failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One media segment as read back from its boxes.
#[derive(Debug, Clone)]
pub struct ParsedSegment {
    /// `tfdt`.
    pub decode_time: u64,
    /// Sum of `trun` durations.
    pub duration: u64,
    /// Presentation times of sync samples.
    pub keyframes: Vec<i64>,
    /// Sample count.
    pub samples: usize,
}

/// Reads a segment file back with mp4-atom.
pub fn parse_segment(path: &Path) -> anyhow::Result<ParsedSegment> {
    let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
    let mut buf = bytes.as_slice();
    Styp::decode(&mut buf).context("styp")?;
    let moof = Moof::decode(&mut buf).context("moof")?;
    let traf = moof.traf.first().context("traf")?;
    let decode_time = traf.tfdt.as_ref().context("tfdt")?.base_media_decode_time;
    let mut t = decode_time as i64;
    let mut keyframes = Vec::new();
    let mut duration = 0u64;
    let mut samples = 0;
    for trun in &traf.trun {
        for e in trun.samples.iter() {
            let d = u64::from(e.duration.context("sample duration")?);
            if e.flags.context("sample flags")? & 0x0001_0000 == 0 {
                keyframes.push(t + e.cts.unwrap_or(0));
            }
            t += d as i64;
            duration += d;
            samples += 1;
        }
    }
    Ok(ParsedSegment {
        decode_time,
        duration,
        keyframes,
        samples,
    })
}

/// Every segment of a rendition, in playlist order.
pub fn rendition_segments(dir: &Path) -> anyhow::Result<Vec<ParsedSegment>> {
    let text = std::fs::read(dir.join("index.m3u8"))?;
    let playlist = m3u8_rs::parse_media_playlist_res(&text)
        .map_err(|e| anyhow::anyhow!("media playlist: {e:?}"))?;
    playlist
        .segments
        .iter()
        .map(|s| parse_segment(&dir.join(&s.uri)))
        .collect()
}

/// The track timescale from a rendition's init segment.
pub fn timescale(dir: &Path) -> anyhow::Result<u32> {
    let bytes = std::fs::read(dir.join("init.mp4"))?;
    let mut buf = bytes.as_slice();
    mp4_atom::Ftyp::decode(&mut buf)?;
    let moov = mp4_atom::Moov::decode(&mut buf)?;
    Ok(moov.trak[0].mdia.mdhd.timescale)
}

/// Decodes an HLS or DASH entry point (or any file) with ffmpeg; returns its error output.
pub fn ffmpeg_decode_errors(input: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(input)
        .args(["-map", "0", "-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        text.push_str(&format!("\nffmpeg exited with {}", out.status));
    }
    text
}

/// Runs the Chromium harness (`tests/browser/play.mjs`) with `args` (a packaged directory, or
/// an HLS and a DASH URL) and checks that hls.js and dash.js each showed every height in
/// `heights` (top first) and kept playing, with no player error.
pub fn assert_plays_every_rendition(args: &[&std::ffi::OsStr], heights: &[i64]) {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists(),
        "tests/browser/node_modules is missing: run ./setup.sh"
    );
    let run = Command::new("node")
        .arg(browser_dir.join("play.mjs"))
        .args(args)
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
        for retried in results.iter().filter(|r| r["retried"] == true) {
            eprintln!("warning: {player} needed a second selection of {retried}");
        }
        let shown: Vec<i64> = results
            .iter()
            .filter_map(|r| r["videoHeight"].as_i64())
            .collect();
        assert_eq!(
            shown, heights,
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
