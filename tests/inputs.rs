//! What people upload: containers and codecs that must work, and broken or hostile files that
//! must fail fast with their reason and leave nothing behind.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Clip, gst, make_clip};

/// Longest any bad input may take before the test calls it a hang.
const HANG_LIMIT: Duration = Duration::from_secs(60);

/// Runs `lectern package` and kills it if it outlives [`HANG_LIMIT`].
fn package_bounded(input: &Path, out: &Path) -> (bool, String) {
    let mut child = common::lectern()
        .arg("package")
        .arg(input)
        .arg("--out")
        .arg(out)
        .env("LECTERN_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lectern starts");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                use std::io::Read;
                let _ = pipe.read_to_string(&mut stderr);
            }
            return (status.success(), stderr);
        }
        if started.elapsed() > HANG_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "lectern package {} hung for {HANG_LIMIT:?}",
                input.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_rejected(input: &Path, reason: &str) {
    let out = input.with_extension("out");
    let (ok, stderr) = package_bounded(input, &out);
    assert!(!ok, "{} was accepted", input.display());
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line of reason, got: {stderr}");
    assert!(
        lines[0].to_lowercase().contains(reason),
        "{}: expected {reason:?} in {:?}",
        input.display(),
        lines[0]
    );
    assert!(!out.exists(), "{} left {}", input.display(), out.display());
}

#[test]
fn bad_inputs_fail_with_a_reason_and_leave_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();

    let empty = dir.join("empty.mp4");
    std::fs::write(&empty, b"").expect("write");
    assert_rejected(&empty, "empty");

    let random = dir.join("random.mp4");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..200_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    std::fs::write(&random, &noise).expect("write");
    assert_rejected(&random, "not a video or audio file");

    let text = dir.join("notes.mp4");
    std::fs::write(
        &text,
        "Lecture 3: these are my notes, not a video.\n".repeat(50),
    )
    .expect("write");
    assert_rejected(&text, "not a video or audio file");

    let playlist = dir.join("playlist.mp4");
    std::fs::write(
        &playlist,
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nhttp://127.0.0.1:9/a.ts\n#EXTINF:4,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n",
    )
    .expect("write");
    assert_rejected(&playlist, "playlist");

    let good = make_clip(
        dir,
        "good.mp4",
        &Clip {
            size: (320, 240),
            seconds: 6.0,
            ..Clip::default()
        },
    )
    .expect("clip");
    let bytes = std::fs::read(&good).expect("read");

    // mp4mux writes moov last: cutting the file loses the index.
    let truncated = dir.join("truncated.mp4");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    assert_rejected(&truncated, "damaged");

    // With the index first, the cut loses the second half of the media.
    let faststart = dir.join("faststart.mp4");
    gst(&format!(
        "videotestsrc num-buffers=180 pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! x264enc speed-preset=ultrafast ! h264parse ! mp4mux faststart=true ! filesink location={}",
        faststart.display()
    ))
    .expect("faststart clip");
    let fs_bytes = std::fs::read(&faststart).expect("read");
    let fs_truncated = dir.join("fs_truncated.mp4");
    std::fs::write(&fs_truncated, &fs_bytes[..fs_bytes.len() / 2]).expect("write");
    assert_rejected(&fs_truncated, "truncated or damaged");

    let mut middle = bytes.clone();
    let (from, to) = (middle.len() / 3, 2 * middle.len() / 3);
    middle[from..to].copy_from_slice(&noise[..to - from]);
    let overwritten = dir.join("overwritten.mp4");
    std::fs::write(&overwritten, &middle).expect("write");
    assert_rejected(&overwritten, "damaged");

    let missing = dir.join("missing.mp4");
    assert_rejected(&missing, "cannot open");
}

#[test]
fn too_long_is_rejected_by_the_configured_limit() {
    let tmp = tempfile::tempdir().expect("tmp");
    let clip = make_clip(
        tmp.path(),
        "c.mp4",
        &Clip {
            size: (160, 120),
            seconds: 3.0,
            audio: false,
            ..Clip::default()
        },
    )
    .expect("clip");
    let out = tmp.path().join("out");
    let run = common::lectern()
        .args(["package"])
        .arg(&clip)
        .arg("--out")
        .arg(&out)
        .env("LECTERN_MAX_DURATION_SECONDS", "2")
        .output()
        .expect("runs");
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("the limit is 0:00:02"), "{stderr}");
    assert!(!out.exists());
}

/// Generates a file with `gst-launch-1.0` from a video and an optional audio description.
fn encode(
    dir: &Path,
    name: &str,
    video_enc: &str,
    audio_enc: Option<&str>,
    mux: &str,
) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut d = format!(
        "videotestsrc num-buffers=75 ! video/x-raw,width=320,height=180,framerate=25/1 ! {video_enc} ! queue ! mux. {mux} name=mux ! filesink location={}",
        path.display()
    );
    if let Some(audio) = audio_enc {
        d.push_str(&format!(
            " audiotestsrc num-buffers=141 samplesperbuffer=1024 ! audio/x-raw,rate=48000 ! audioconvert ! {audio} ! queue ! mux."
        ));
    }
    gst(&d).unwrap_or_else(|e| panic!("making {name}: {e}"));
    path
}

#[test]
fn common_containers_and_codecs_are_accepted() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let cases: Vec<(&str, &str, Option<&str>, &str)> = vec![
        (
            "vp8-vorbis.webm",
            "vp8enc deadline=1",
            Some("vorbisenc"),
            "webmmux",
        ),
        (
            "vp9-opus.webm",
            "vp9enc deadline=1 cpu-used=8",
            Some("opusenc"),
            "webmmux",
        ),
        (
            "h264-mp3.mkv",
            "x264enc speed-preset=ultrafast ! h264parse",
            Some("lamemp3enc ! mpegaudioparse"),
            "matroskamux",
        ),
        (
            "hevc-opus.mkv",
            "x265enc speed-preset=ultrafast ! h265parse",
            Some("opusenc"),
            "matroskamux",
        ),
        (
            "mpeg4-ac3.avi",
            "avenc_mpeg4 ! mpeg4videoparse",
            Some("avenc_ac3"),
            "avimux",
        ),
        (
            "h264-aac.ts",
            "x264enc speed-preset=ultrafast ! h264parse",
            Some("avenc_aac ! aacparse"),
            "mpegtsmux",
        ),
        (
            "h264-pcm.mov",
            "x264enc speed-preset=ultrafast ! h264parse",
            Some("audio/x-raw,format=S16LE"),
            "qtmux",
        ),
        (
            "av1.mp4",
            "av1enc cpu-used=8 usage-profile=realtime ! av1parse",
            None,
            "mp4mux",
        ),
    ];
    for (name, video, audio, mux) in cases {
        let input = encode(dir, name, video, audio, mux);
        let out = dir.join(format!("{name}.out"));
        let run = common::package(&input, &out, &[]);
        assert!(
            run.status.success(),
            "{name} failed: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(out.join("master.m3u8").exists(), "{name}");
        assert!(out.join("180p/1.m4s").exists(), "{name}: video rung");
        assert_eq!(
            out.join("audio/1.m4s").exists(),
            audio.is_some(),
            "{name}: audio"
        );
        let errors = common::ffmpeg_decode_errors(&out.join("master.m3u8"));
        assert!(errors.trim().is_empty(), "{name}: {errors}");
    }
}

#[test]
fn mpeg2_transport_stream_is_accepted() {
    // gst-libav's MPEG-2 encoder does not negotiate against FFmpeg 5.1, so ffmpeg makes this one.
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("mpeg2.ts");
    let made = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=352x288:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "3",
            "-c:v",
            "mpeg2video",
            "-c:a",
            "mp2",
        ])
        .arg(&input)
        .status()
        .expect("ffmpeg runs");
    assert!(made.success());
    let out = tmp.path().join("out");
    let run = common::package(&input, &out, &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // 288 lines: only the 240p rung fits under it.
    assert!(out.join("240p/1.m4s").exists());
    assert!(!out.join("288p").exists());
    assert!(out.join("audio/1.m4s").exists());
}

#[test]
fn audio_only_file_becomes_an_audio_presentation() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("talk.ogg");
    gst(&format!(
        "audiotestsrc num-buffers=300 samplesperbuffer=1024 ! audioconvert ! vorbisenc ! oggmux ! filesink location={}",
        input.display()
    ))
    .expect("ogg");
    let out = tmp.path().join("out");
    let run = common::package(&input, &out, &["--segment-seconds", "2"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let master = std::fs::read(out.join("master.m3u8")).expect("master");
    let master = m3u8_rs::parse_master_playlist_res(&master).expect("parses");
    assert_eq!(master.variants.len(), 1);
    assert_eq!(master.variants[0].codecs.as_deref(), Some("mp4a.40.2"));
    let segments = common::rendition_segments(&out.join("audio")).expect("segments");
    // 6.4 s cut every 2 s: four segments.
    assert_eq!(segments.len(), 4);
}

#[test]
fn variable_frame_rate_is_encoded_at_a_constant_rate() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("vfr.mkv");
    // A stream that declares no frame rate (0/1), as screen and browser recorders write.
    gst(&format!(
        "videotestsrc num-buffers=90 ! video/x-raw,width=320,height=180,framerate=30/1 ! x264enc speed-preset=ultrafast ! h264parse ! capssetter caps=video/x-h264,framerate=(fraction)0/1 ! matroskamux ! filesink location={}",
        input.display()
    ))
    .expect("vfr clip");
    let out = tmp.path().join("out");
    let run = common::package(&input, &out, &["--segment-seconds", "1"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let master = std::fs::read(out.join("master.m3u8")).expect("master");
    let master = m3u8_rs::parse_master_playlist_res(&master).expect("parses");
    assert_eq!(master.variants[0].frame_rate, Some(30.0));
    let segments = common::rendition_segments(&out.join("180p")).expect("segments");
    assert_eq!(segments.len(), 3);
    assert!(
        segments.iter().all(|s| s.samples == 30),
        "30 frames a second"
    );
}
