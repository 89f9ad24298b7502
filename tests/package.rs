//! `lectern package` end to end on media generated with GStreamer: the ladder, aligned
//! keyframes, segment durations, manifests that parse back, and output every rung of which
//! ffmpeg decodes without an error.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{
    Clip, assert_success, ffmpeg_decode_errors, make_clip, package, rendition_segments, timescale,
};

/// What a run should have produced.
struct Expect<'a> {
    rungs: &'a [(&'a str, u64, u64)],
    audio: bool,
    frame_rate: (u32, u32),
    segment_seconds: f64,
}

fn check_output(out: &Path, expect: &Expect) {
    // The master playlist.
    let master = std::fs::read(out.join("master.m3u8")).expect("master.m3u8 written");
    let master = m3u8_rs::parse_master_playlist_res(&master).expect("master parses");
    assert_eq!(master.version, Some(7));
    assert!(master.independent_segments);
    let sizes: Vec<(String, u64, u64)> = master
        .variants
        .iter()
        .map(|v| {
            let r = v.resolution.expect("RESOLUTION");
            (
                v.uri.trim_end_matches("/index.m3u8").to_string(),
                r.width,
                r.height,
            )
        })
        .collect();
    let want: Vec<(String, u64, u64)> = expect
        .rungs
        .iter()
        .map(|(n, w, h)| (n.to_string(), *w, *h))
        .collect();
    assert_eq!(sizes, want, "rungs in the master playlist");
    for v in &master.variants {
        let codecs = v.codecs.as_deref().expect("CODECS");
        assert!(codecs.starts_with("avc1.64"), "High profile: {codecs}");
        assert_eq!(codecs.contains("mp4a.40.2"), expect.audio, "{codecs}");
        assert_eq!(v.audio.is_some(), expect.audio);
        assert!(v.bandwidth >= v.average_bandwidth.expect("AVERAGE-BANDWIDTH"));
        let fps = f64::from(expect.frame_rate.0) / f64::from(expect.frame_rate.1);
        assert!((v.frame_rate.expect("FRAME-RATE") - fps).abs() < 0.001);
    }
    assert_eq!(master.alternatives.len(), usize::from(expect.audio));

    // The MPD.
    let mpd = std::fs::read_to_string(out.join("manifest.mpd")).expect("manifest.mpd written");
    let mpd = dash_mpd::parse(&mpd).expect("MPD parses");
    assert_eq!(mpd.mpdtype.as_deref(), Some("static"));
    let sets = &mpd.periods[0].adaptations;
    assert_eq!(sets.len(), 1 + usize::from(expect.audio));
    assert_eq!(sets[0].representations.len(), expect.rungs.len());
    for (rep, (name, w, h)) in sets[0].representations.iter().zip(expect.rungs) {
        assert_eq!(rep.id.as_deref(), Some(*name));
        assert_eq!((rep.width, rep.height), (Some(*w), Some(*h)));
    }

    // Every rung: decodes cleanly, starts segments at keyframes, keyframes line up.
    let video_scale = timescale(&out.join(expect.rungs[0].0)).expect("timescale");
    let frame =
        f64::from(video_scale) * f64::from(expect.frame_rate.1) / f64::from(expect.frame_rate.0);
    let target = expect.segment_seconds * f64::from(video_scale);
    let mut reference: Option<Vec<i64>> = None;
    for (name, _, _) in expect.rungs {
        let dir = out.join(name);
        let errors = ffmpeg_decode_errors(&dir.join("index.m3u8"));
        assert!(
            errors.trim().is_empty(),
            "{name} decodes without errors: {errors}"
        );
        let segments = rendition_segments(&dir).expect("segments parse");
        assert!(!segments.is_empty());
        let mut keyframes = Vec::new();
        for (i, s) in segments.iter().enumerate() {
            assert_eq!(
                s.keyframes.first().copied(),
                Some(s.decode_time as i64),
                "{name} segment {i} starts at a keyframe"
            );
            if i + 1 < segments.len() {
                let off = (s.duration as f64 - target).abs();
                assert!(
                    off <= frame + 0.5,
                    "{name} segment {i} lasts {} ticks, target {target}",
                    s.duration
                );
                assert_eq!(
                    s.decode_time + s.duration,
                    segments[i + 1].decode_time,
                    "contiguous"
                );
            } else {
                assert!(s.duration as f64 <= target + frame + 0.5);
            }
            keyframes.extend(&s.keyframes);
        }
        match &reference {
            None => reference = Some(keyframes),
            Some(r) => assert_eq!(r, &keyframes, "{name} has keyframes at the same times"),
        }
    }
    let keyframes = reference.expect("a rung");
    // No keyframe other than the aligned ones (no scene cuts).
    assert_eq!(
        keyframes.len(),
        rendition_segments(&out.join(expect.rungs[0].0))
            .expect("segments")
            .len()
    );

    if expect.audio {
        let dir = out.join("audio");
        let errors = ffmpeg_decode_errors(&dir.join("index.m3u8"));
        assert!(errors.trim().is_empty(), "audio decodes: {errors}");
        let audio_scale = f64::from(timescale(&dir).expect("audio timescale"));
        let segments = rendition_segments(&dir).expect("audio segments");
        for (i, s) in segments.iter().enumerate().skip(1) {
            // Each audio segment starts within one AAC frame after the video cut.
            let cut = keyframes[i] as f64 / f64::from(video_scale);
            let start = s.decode_time as f64 / audio_scale;
            assert!(
                start >= cut - 1e-6 && start < cut + 1024.0 / audio_scale,
                "audio segment {i} starts at {start}, cut at {cut}"
            );
        }
    }
    for entry in ["master.m3u8", "manifest.mpd"] {
        let errors = ffmpeg_decode_errors(&out.join(entry));
        assert!(
            errors.trim().is_empty(),
            "{entry} plays in ffmpeg: {errors}"
        );
    }
}

/// A clip packaged into a temporary directory (kept alive as long as this is).
struct Packaged {
    _tmp: tempfile::TempDir,
    out: PathBuf,
    run: Output,
}

/// Generates `clip`, runs `lectern package` on it with `flags`, and requires success.
fn packaged(clip: Clip, flags: &[&str]) -> Packaged {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = make_clip(tmp.path(), "in.mp4", &clip).expect("clip");
    let out = tmp.path().join("out");
    let run = package(&input, &out, flags);
    assert_success(&run);
    Packaged {
        _tmp: tmp,
        out,
        run,
    }
}

fn rungs_30fps(
    rungs: &'static [(&'static str, u64, u64)],
    audio: bool,
    segment_seconds: f64,
) -> Expect<'static> {
    Expect {
        rungs,
        audio,
        frame_rate: (30, 1),
        segment_seconds,
    }
}

#[test]
fn landscape_with_audio_makes_every_rung_that_fits() {
    let p = packaged(
        Clip {
            size: (854, 480),
            seconds: 9.0,
            ..Clip::default()
        },
        &[],
    );
    let stdout = String::from_utf8_lossy(&p.run.stdout);
    assert!(stdout.contains("4 renditions"), "{stdout}");
    assert!(
        stdout.contains("master.m3u8") && stdout.contains("manifest.mpd"),
        "{stdout}"
    );
    check_output(
        &p.out,
        &rungs_30fps(
            &[("480p", 854, 480), ("360p", 640, 360), ("240p", 426, 240)],
            true,
            4.0,
        ),
    );
}

#[test]
fn video_without_audio() {
    let p = packaged(
        Clip {
            size: (320, 240),
            audio: false,
            ..Clip::default()
        },
        &[],
    );
    check_output(&p.out, &rungs_30fps(&[("240p", 320, 240)], false, 4.0));
    assert!(!p.out.join("audio").exists());
}

#[test]
fn portrait_from_rotation_metadata() {
    let p = packaged(
        Clip {
            size: (640, 360),
            rotate: Some(90),
            ..Clip::default()
        },
        &[],
    );
    check_output(
        &p.out,
        &rungs_30fps(&[("360p", 360, 640), ("240p", 240, 426)], true, 4.0),
    );
}

#[test]
fn portrait_pixels() {
    let p = packaged(
        Clip {
            size: (360, 640),
            audio: false,
            ..Clip::default()
        },
        &["--ladder", "360,240"],
    );
    check_output(
        &p.out,
        &rungs_30fps(&[("360p", 360, 640), ("240p", 240, 426)], false, 4.0),
    );
}

#[test]
fn ntsc_frame_rate_keeps_whole_frames() {
    let p = packaged(
        Clip {
            size: (426, 240),
            rate: "30000/1001",
            seconds: 9.0,
            ..Clip::default()
        },
        &[],
    );
    check_output(
        &p.out,
        &Expect {
            rungs: &[("240p", 426, 240)],
            audio: true,
            frame_rate: (30000, 1001),
            segment_seconds: 4.0,
        },
    );
    // 120 frames of 3003 ticks: 4.004 s.
    let playlist = std::fs::read_to_string(p.out.join("240p/index.m3u8")).expect("playlist");
    assert!(playlist.contains("#EXTINF:4.004,"), "{playlist}");
}

#[test]
fn odd_size_gets_even_output() {
    let p = packaged(
        Clip {
            size: (321, 181),
            seconds: 3.0,
            ..Clip::default()
        },
        &["--segment-seconds", "2"],
    );
    check_output(&p.out, &rungs_30fps(&[("180p", 320, 180)], true, 2.0));
}

#[test]
fn ladder_and_segment_flags() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = make_clip(
        tmp.path(),
        "in.mp4",
        &Clip {
            size: (854, 480),
            seconds: 5.0,
            ..Clip::default()
        },
    )
    .expect("clip");
    let out = tmp.path().join("out");
    assert_success(&package(
        &input,
        &out,
        &["--ladder", "1080,360", "--segment-seconds", "2"],
    ));
    // 1080 is above the source and dropped; 360 stays.
    check_output(
        &out,
        &Expect {
            rungs: &[("360p", 640, 360)],
            audio: true,
            frame_rate: (30, 1),
            segment_seconds: 2.0,
        },
    );
    let bad = package(&input, &tmp.path().join("o2"), &["--ladder", "big"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--ladder"));
    assert!(!tmp.path().join("o2").exists());
}

#[test]
fn refuses_a_destination_that_is_not_empty() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = make_clip(
        tmp.path(),
        "in.mp4",
        &Clip {
            size: (320, 240),
            seconds: 2.0,
            audio: false,
            ..Clip::default()
        },
    )
    .expect("clip");
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    std::fs::write(out.join("keep.txt"), "mine").expect("write");
    let run = package(&input, &out, &[]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("not empty"));
    assert_eq!(
        std::fs::read_to_string(out.join("keep.txt")).expect("kept"),
        "mine"
    );
}
