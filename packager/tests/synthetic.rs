//! The packager on synthetic samples: segments parsed back box by box, exact manifests.

use std::sync::Arc;

use bytes::Bytes;
use lectern_packager::{Codec, Packager, Sample, TrackSpec};
use mp4_atom::{Any, Decode, Ftyp, Moof, Moov, Styp};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

const FPS: i64 = 30;
const FRAME: i64 = 3000; // ticks of 90 kHz
const GOP: i64 = 60; // frames: keyframe every 2 s

/// A minimal avcC for High profile 4.0 (the SPS and PPS bytes are not parsed by the packager).
fn avcc() -> Vec<u8> {
    let sps = [0x67, 0x64, 0x00, 0x28, 0xac, 0xd9];
    let pps = [0x68, 0xeb, 0xe3, 0xcb];
    let mut v = vec![1, 0x64, 0x00, 0x28, 0xff, 0xe1, 0, sps.len() as u8];
    v.extend_from_slice(&sps);
    v.extend_from_slice(&[1, 0, pps.len() as u8]);
    v.extend_from_slice(&pps);
    v.extend_from_slice(&[0xfd, 0xf8, 0xf8, 0x00]);
    v
}

fn video_spec(name: &str, width: u32, height: u32) -> TrackSpec {
    TrackSpec {
        name: name.to_string(),
        timescale: 90_000,
        codec: Codec::H264 {
            avcc: avcc(),
            width,
            height,
            frame_rate: (FPS as u32, 1),
        },
    }
}

fn audio_spec() -> TrackSpec {
    TrackSpec {
        name: "audio".to_string(),
        timescale: 48_000,
        codec: Codec::Aac {
            asc: vec![0x11, 0x90],
            sample_rate: 48_000,
            channels: 2,
        },
    }
}

/// Frames of `frames` in decode order with two B-frames between references, closed GOPs of
/// [`GOP`], DTS starting two frames below PTS as x264 delivers them. Returns (pts, dts, key).
fn video_frames(frames: i64) -> Vec<(i64, i64, bool)> {
    let mut order = Vec::new();
    let mut gop_start = 0;
    while gop_start < frames {
        let end = (gop_start + GOP).min(frames);
        order.push(gop_start);
        let mut next = gop_start + 1;
        while next < end {
            let reference = (next + 2).min(end - 1);
            order.push(reference);
            for b in next..reference {
                order.push(b);
            }
            next = reference + 1;
        }
        gop_start = end;
    }
    order
        .iter()
        .enumerate()
        .map(|(d, &f)| (f * FRAME, d as i64 * FRAME - 2 * FRAME, f % GOP == 0))
        .collect()
}

fn payload(tag: u8, index: usize, len: usize) -> Bytes {
    let mut v = vec![tag; len];
    v[0] = (index % 251) as u8;
    Bytes::from(v)
}

/// Pushes `frames` frames of [`video_frames`] with 50-byte payloads into track `v`.
async fn push_video(p: &mut Packager, v: usize, frames: i64) {
    for (i, &(pts, dts, keyframe)) in video_frames(frames).iter().enumerate() {
        let sample = Sample {
            pts,
            dts,
            duration: FRAME as u32,
            keyframe,
            data: payload(1, i, 50),
        };
        p.push(v, sample).await.expect("push");
    }
}

async fn objects(store: &InMemory) -> Vec<(String, Bytes)> {
    use futures_util::TryStreamExt;
    let mut list: Vec<_> = store.list(None).try_collect().await.expect("list");
    list.sort_by(|a, b| a.location.cmp(&b.location));
    let mut out = Vec::new();
    for meta in list {
        let bytes = store
            .get(&meta.location)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes");
        out.push((meta.location.to_string(), bytes));
    }
    out
}

async fn read(store: &InMemory, path: &str) -> Bytes {
    store
        .get(&Path::from(path))
        .await
        .expect("object exists")
        .bytes()
        .await
        .expect("bytes")
}

/// Five seconds: two video rungs, audio with 1024 samples of priming.
async fn package_five_seconds(store: Arc<InMemory>) -> lectern_packager::PackageSummary {
    let mut p = Packager::new(store, Path::from("out"), 2);
    let hi = p
        .add_track(video_spec("720p", 1280, 720))
        .await
        .expect("track");
    let lo = p
        .add_track(video_spec("360p", 640, 360))
        .await
        .expect("track");
    let au = p.add_track(audio_spec()).await.expect("track");
    let frames = video_frames(5 * FPS);
    let audio_frames = (5 * 48_000 / 1024) + 2;
    let mut a = 0;
    for (i, &(pts, dts, key)) in frames.iter().enumerate() {
        for (track, size) in [(hi, 400), (lo, 100)] {
            let sample = Sample {
                pts,
                dts,
                duration: FRAME as u32,
                keyframe: key,
                data: payload(
                    if key { 0xaa } else { 0xbb },
                    i,
                    size + if key { 1000 } else { 0 },
                ),
            };
            p.push(track, sample).await.expect("push video");
        }
        // Interleave audio roughly in time, a little behind the video.
        while a < audio_frames && (a - 1) * 1024 * 90_000 / 48_000 < dts {
            let pts = (a - 1) * 1024;
            let sample = Sample {
                pts,
                dts: pts,
                duration: 1024,
                keyframe: true,
                data: payload(0xcc, a as usize, 20),
            };
            p.push(au, sample).await.expect("push audio");
            a += 1;
        }
    }
    while a < audio_frames {
        let pts = (a - 1) * 1024;
        let s = Sample {
            pts,
            dts: pts,
            duration: 1024,
            keyframe: true,
            data: payload(0xcc, a as usize, 20),
        };
        p.push(au, s).await.expect("push audio");
        a += 1;
    }
    p.finish().await.expect("finish")
}

#[tokio::test]
async fn video_segments_parse_back_box_by_box() {
    let store = Arc::new(InMemory::new());
    let summary = package_five_seconds(store.clone()).await;
    assert_eq!(summary.renditions.len(), 3);

    let init = read(&store, "out/720p/init.mp4").await;
    let mut buf = init.as_ref();
    let ftyp = Ftyp::decode(&mut buf).expect("ftyp");
    assert_eq!(ftyp.major_brand.to_string(), "cmf2");
    let moov = Moov::decode(&mut buf).expect("moov");
    assert!(buf.is_empty(), "nothing after moov");
    assert_eq!(moov.trak.len(), 1);
    let trak = &moov.trak[0];
    assert_eq!(trak.mdia.mdhd.timescale, 90_000);
    assert_eq!(trak.mdia.hdlr.handler.to_string(), "vide");
    assert_eq!(moov.mvex.as_ref().expect("mvex").trex[0].track_id, 1);
    match &trak.mdia.minf.stbl.stsd.codecs[0] {
        mp4_atom::Codec::Avc1(avc1) => {
            assert_eq!((avc1.visual.width, avc1.visual.height), (1280, 720));
            assert_eq!(avc1.avcc.avc_profile_indication, 0x64);
            assert_eq!(avc1.avcc.avc_level_indication, 0x28);
        }
        other => panic!("expected avc1, got {other:?}"),
    }

    // Keyframes every 60 frames: 2 s, 2 s, 1 s.
    let expected = [(1u32, 0u64, 60usize), (2, 180_000, 60), (3, 360_000, 30)];
    for (number, tfdt, count) in expected {
        let bytes = read(&store, &format!("out/720p/{number}.m4s")).await;
        let mut buf = bytes.as_ref();
        let styp = Styp::decode(&mut buf).expect("styp");
        assert_eq!(styp.major_brand.to_string(), "msdh");
        let moof_start = bytes.len() - buf.len();
        let moof = Moof::decode(&mut buf).expect("moof");
        let mdat = match Any::decode(&mut buf).expect("mdat") {
            Any::Mdat(mdat) => mdat,
            other => panic!("expected mdat, got {other:?}"),
        };
        assert!(buf.is_empty());
        assert_eq!(moof.mfhd.sequence_number, number);
        let traf = &moof.traf[0];
        assert!(traf.tfhd.default_base_is_moof);
        assert_eq!(
            traf.tfdt.as_ref().expect("tfdt").base_media_decode_time,
            tfdt
        );
        let trun = &traf.trun[0];
        let entries: Vec<_> = trun.samples.iter().collect();
        assert_eq!(entries.len(), count, "segment {number}");
        // Decode-time span equals the presentation span: every frame lasts 3000 ticks.
        assert!(entries.iter().all(|e| e.duration == Some(FRAME as u32)));
        // The first sample is the keyframe and presents at its decode time.
        assert_eq!(entries[0].flags, Some(0x0200_0000));
        assert_eq!(entries[0].cts, Some(0));
        assert!(entries[1..].iter().all(|e| e.flags == Some(0x0101_0000)));
        // B-frames present before the reference decoded ahead of them: negative offsets.
        assert_eq!(
            entries[1].cts,
            Some(2 * FRAME),
            "P frame shown two frames later"
        );
        assert_eq!(
            entries[2].cts,
            Some(-FRAME),
            "B frame shown a frame earlier"
        );
        // Presentation times cover [tfdt, tfdt + count) frames exactly once.
        let mut shown: Vec<i64> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| tfdt as i64 + i as i64 * FRAME + e.cts.expect("cts"))
            .collect();
        shown.sort_unstable();
        let want: Vec<i64> = (0..count as i64).map(|k| tfdt as i64 + k * FRAME).collect();
        assert_eq!(shown, want);
        // data_offset points at the first payload byte; sizes add up to the mdat.
        let offset = trun.data_offset.expect("data offset") as usize;
        let total: u32 = entries.iter().map(|e| e.size.expect("size")).sum();
        assert_eq!(total as usize, mdat.data.len());
        assert_eq!(
            bytes[moof_start + offset],
            if number == 1 {
                0
            } else {
                (60 * (number as usize - 1) % 251) as u8
            }
        );
    }
    assert!(store.get(&Path::from("out/720p/4.m4s")).await.is_err());

    // The 360p rung is cut at the same instants.
    for number in 1..=3 {
        let a = read(&store, &format!("out/720p/{number}.m4s")).await;
        let b = read(&store, &format!("out/360p/{number}.m4s")).await;
        let tfdt = |bytes: &Bytes| {
            let mut buf = bytes.as_ref();
            Styp::decode(&mut buf).expect("styp");
            Moof::decode(&mut buf).expect("moof").traf[0].tfdt.clone()
        };
        assert_eq!(tfdt(&a), tfdt(&b));
    }
}

#[tokio::test]
async fn audio_is_cut_at_the_video_instants() {
    let store = Arc::new(InMemory::new());
    let summary = package_five_seconds(store.clone()).await;
    let audio = summary
        .renditions
        .iter()
        .find(|r| r.spec.name == "audio")
        .expect("audio rendition");
    // Priming dropped: audio starts at 0 and is contiguous; each segment starts at the first
    // frame at or after the video cut (2 s = 96000 ticks: frame 94 starts at 96256).
    let starts: Vec<u64> = audio.segments.iter().map(|s| s.start).collect();
    assert_eq!(starts, vec![0, 94 * 1024, 188 * 1024]);
    for pair in audio.segments.windows(2) {
        assert_eq!(pair[0].start + pair[0].duration, pair[1].start);
    }
    let total_frames: u64 = audio.segments.iter().map(|s| s.duration / 1024).sum();
    assert_eq!(total_frames as i64, (5 * 48_000 / 1024) + 2);

    let init = read(&store, "out/audio/init.mp4").await;
    let mut buf = init.as_ref();
    Ftyp::decode(&mut buf).expect("ftyp");
    let moov = Moov::decode(&mut buf).expect("moov");
    match &moov.trak[0].mdia.minf.stbl.stsd.codecs[0] {
        mp4_atom::Codec::Mp4a(mp4a) => {
            assert_eq!(mp4a.audio.channel_count, 2);
            let ds = mp4a
                .esds
                .es_desc
                .dec_config
                .dec_specific
                .as_ref()
                .expect("asc");
            assert_eq!(ds.profile, 2);
            assert_eq!(ds.chan_conf, 2);
        }
        other => panic!("expected mp4a, got {other:?}"),
    }
}

#[tokio::test]
async fn exact_playlists_and_mpd() {
    let store = Arc::new(InMemory::new());
    package_five_seconds(store.clone()).await;
    let media = read(&store, "out/720p/index.m3u8").await;
    let media = std::str::from_utf8(&media).expect("utf8");
    let master = read(&store, "out/master.m3u8").await;
    let master = std::str::from_utf8(&master).expect("utf8");
    let mpd = read(&store, "out/manifest.mpd").await;
    let mpd = std::str::from_utf8(&mpd).expect("utf8");
    assert_eq!(media, EXPECTED_720P);
    assert_eq!(master, EXPECTED_MASTER);
    assert_eq!(mpd, EXPECTED_MPD);

    // Both parse back.
    let parsed = m3u8_rs::parse_master_playlist_res(master.as_bytes()).expect("master parses");
    assert_eq!(parsed.variants.len(), 2);
    let parsed = dash_mpd::parse(mpd).expect("mpd parses");
    assert_eq!(parsed.periods[0].adaptations.len(), 2);
}

#[tokio::test]
async fn written_in_order_and_abort_removes_everything() {
    let store = Arc::new(InMemory::new());
    let mut p = Packager::new(store.clone(), Path::from("gone"), 2);
    let v = p
        .add_track(video_spec("360p", 640, 360))
        .await
        .expect("track");
    push_video(&mut p, v, 90).await;
    let names: Vec<String> = objects(&store).await.into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        vec!["gone/360p/1.m4s", "gone/360p/init.mp4"],
        "no manifest before finish"
    );
    p.abort().await;
    assert!(objects(&store).await.is_empty());
}

#[tokio::test]
async fn a_track_without_samples_is_left_out_entirely() {
    let store = Arc::new(InMemory::new());
    let mut p = Packager::new(store.clone(), Path::from("p"), 2);
    let v = p
        .add_track(video_spec("360p", 640, 360))
        .await
        .expect("track");
    p.add_track(audio_spec()).await.expect("track");
    push_video(&mut p, v, 30).await;
    let summary = p.finish().await.expect("finish");
    assert_eq!(summary.renditions.len(), 1);
    let names: Vec<String> = objects(&store).await.into_iter().map(|(n, _)| n).collect();
    assert!(!names.iter().any(|n| n.starts_with("p/audio")), "{names:?}");
    let master = read(&store, "p/master.m3u8").await;
    assert!(!String::from_utf8_lossy(&master).contains("audio"));
}

#[tokio::test]
async fn bad_input_is_an_error_not_a_panic() {
    let store = Arc::new(InMemory::new());
    let mut p = Packager::new(store.clone(), Path::from("x"), 2);
    let mut spec = video_spec("v", 2, 2);
    spec.codec = Codec::H264 {
        avcc: vec![1, 2],
        width: 2,
        height: 2,
        frame_rate: (1, 1),
    };
    assert!(p.add_track(spec).await.is_err());
    let v = p.add_track(video_spec("v", 2, 2)).await.expect("track");
    let key = |pts: i64, dts: i64| Sample {
        pts,
        dts,
        duration: 1,
        keyframe: true,
        data: Bytes::from_static(b"x"),
    };
    p.push(v, key(0, 0)).await.expect("first");
    p.push(v, key(3000, 3000)).await.expect("second");
    let err = p.push(v, key(1000, 1000)).await.expect_err("backwards");
    assert!(err.to_string().contains("backwards"), "{err}");
    assert!(p.push(7, key(0, 0)).await.is_err());
    let empty = Packager::new(store, Path::from("y"), 2);
    assert!(matches!(
        empty.finish().await,
        Err(lectern_packager::PackagerError::Empty)
    ));
}

const EXPECTED_720P: &str = r#"#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-TARGETDURATION:2
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="init.mp4"
#EXTINF:2,
1.m4s
#EXTINF:2,
2.m4s
#EXTINF:1,
3.m4s
#EXT-X-ENDLIST
"#;
const EXPECTED_MASTER: &str = r#"#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,URI="audio/index.m3u8",GROUP-ID="audio",LANGUAGE="und",NAME="Audio",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2"
#EXT-X-STREAM-INF:BANDWIDTH=123428,AVERAGE-BANDWIDTH=119404,CODECS="avc1.640028,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=30,AUDIO="audio"
720p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=51428,AVERAGE-BANDWIDTH=47404,CODECS="avc1.640028,mp4a.40.2",RESOLUTION=640x360,FRAME-RATE=30,AUDIO="audio"
360p/index.m3u8
"#;
const EXPECTED_MPD: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019" type="static" mediaPresentationDuration="PT5.035S" minBufferTime="PT4S" maxSegmentDuration="PT2.005S" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cenc="urn:mpeg:cenc:2013" xmlns:mspr="urn:microsoft:playready" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:dvb="urn:dvb:dash-extensions:2014-1">"#,
    r#"<Period id="0" start="PT0S">"#,
    r#"<AdaptationSet id="0" contentType="video" segmentAlignment="true" mimeType="video/mp4" maxWidth="1280" maxHeight="720" maxFrameRate="30" startWithSAP="1">"#,
    r#"<Representation id="720p" bandwidth="108896" width="1280" height="720" sar="1:1" frameRate="30" codecs="avc1.640028">"#,
    r#"<SegmentTemplate media="720p/$Number$.m4s" initialization="720p/init.mp4" startNumber="1" timescale="90000">"#,
    r#"<SegmentTimeline>"#,
    r#"<S t="0" d="180000" r="1"/>"#,
    r#"<S d="90000"/>"#,
    r#"</SegmentTimeline>"#,
    r#"</SegmentTemplate>"#,
    r#"</Representation>"#,
    r#"<Representation id="360p" bandwidth="36896" width="640" height="360" sar="1:1" frameRate="30" codecs="avc1.640028">"#,
    r#"<SegmentTemplate media="360p/$Number$.m4s" initialization="360p/init.mp4" startNumber="1" timescale="90000">"#,
    r#"<SegmentTimeline>"#,
    r#"<S t="0" d="180000" r="1"/>"#,
    r#"<S d="90000"/>"#,
    r#"</SegmentTimeline>"#,
    r#"</SegmentTemplate>"#,
    r#"</Representation>"#,
    r#"</AdaptationSet>"#,
    r#"<AdaptationSet id="1" contentType="audio" lang="und" segmentAlignment="true" mimeType="audio/mp4" startWithSAP="1">"#,
    r#"<Representation id="audio" bandwidth="14532" audioSamplingRate="48000" codecs="mp4a.40.2">"#,
    r#"<AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="2"/>"#,
    r#"<SegmentTemplate media="audio/$Number$.m4s" initialization="audio/init.mp4" startNumber="1" timescale="48000">"#,
    r#"<SegmentTimeline>"#,
    r#"<S t="0" d="96256" r="1"/>"#,
    r#"<S d="49152"/>"#,
    r#"</SegmentTimeline>"#,
    r#"</SegmentTemplate>"#,
    r#"</Representation>"#,
    r#"</AdaptationSet>"#,
    r#"</Period>"#,
    r#"</MPD>
"#,
);
