//! The DASH manifest: a static MPD with SegmentTemplate + SegmentTimeline per representation,
//! naming the same `init.mp4` and `{n}.m4s` files as the HLS playlists. Built from dash-mpd types.

use std::time::Duration;

use dash_mpd::{
    AdaptationSet, AudioChannelConfiguration, MPD, Period, Representation, S, SegmentTemplate,
    SegmentTimeline,
};

use crate::rendition::Rendition;
use crate::track::Codec;

/// DASH profiles announced: ISO live (SegmentTemplate) and CMAF.
pub const PROFILES: &str = "urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019";

/// The SegmentTimeline of a rendition: one `S` per run of equal, contiguous durations.
pub fn timeline(rendition: &Rendition) -> SegmentTimeline {
    let mut segments: Vec<S> = Vec::new();
    let mut expected_start: Option<u64> = None;
    for record in &rendition.segments {
        let contiguous = expected_start == Some(record.start);
        match segments.last_mut() {
            Some(last) if contiguous && last.d == record.duration => {
                last.r = Some(last.r.unwrap_or(0) + 1);
            }
            _ => segments.push(S {
                t: (!contiguous).then_some(record.start),
                d: record.duration,
                ..Default::default()
            }),
        }
        expected_start = Some(record.start + record.duration);
    }
    SegmentTimeline { segments }
}

fn template(rendition: &Rendition) -> SegmentTemplate {
    let dir = &rendition.spec.name;
    SegmentTemplate {
        timescale: Some(u64::from(rendition.spec.timescale)),
        initialization: Some(format!("{dir}/init.mp4")),
        media: Some(format!("{dir}/$Number$.m4s")),
        startNumber: Some(
            rendition
                .segments
                .first()
                .map_or(1, |s| u64::from(s.number)),
        ),
        SegmentTimeline: Some(timeline(rendition)),
        ..Default::default()
    }
}

fn frame_rate_attr((num, den): (u32, u32)) -> String {
    if den == 1 {
        num.to_string()
    } else {
        format!("{num}/{den}")
    }
}

/// Builds the MPD text for the given renditions.
pub fn manifest(
    videos: &[&Rendition],
    audio: Option<&Rendition>,
    min_buffer_seconds: u32,
) -> String {
    let duration = videos
        .iter()
        .chain(audio.iter())
        .map(|r| r.duration_seconds())
        .fold(0.0, f64::max);
    let longest = videos
        .iter()
        .chain(audio.iter())
        .map(|r| r.longest_segment_seconds())
        .fold(0.0, f64::max);
    let mut adaptations = Vec::new();
    if !videos.is_empty() {
        let representations = videos
            .iter()
            .map(|v| {
                let (width, height) = v.resolution().unwrap_or((0, 0));
                Representation {
                    id: Some(v.spec.name.clone()),
                    bandwidth: Some(v.peak_bitrate()),
                    width: Some(u64::from(width)),
                    height: Some(u64::from(height)),
                    frameRate: v.frame_rate().map(frame_rate_attr),
                    codecs: Some(v.codecs.clone()),
                    sar: Some("1:1".to_string()),
                    SegmentTemplate: Some(template(v)),
                    ..Default::default()
                }
            })
            .collect::<Vec<_>>();
        adaptations.push(AdaptationSet {
            id: Some("0".to_string()),
            contentType: Some("video".to_string()),
            mimeType: Some("video/mp4".to_string()),
            segmentAlignment: Some(true),
            startWithSAP: Some(1),
            maxWidth: videos
                .iter()
                .filter_map(|v| v.resolution())
                .map(|r| u64::from(r.0))
                .max(),
            maxHeight: videos
                .iter()
                .filter_map(|v| v.resolution())
                .map(|r| u64::from(r.1))
                .max(),
            maxFrameRate: videos
                .iter()
                .find_map(|v| v.frame_rate())
                .map(frame_rate_attr),
            representations,
            ..Default::default()
        });
    }
    if let Some(a) = audio {
        let (sample_rate, channels) = match a.spec.codec {
            Codec::Aac {
                sample_rate,
                channels,
                ..
            } => (sample_rate, channels),
            Codec::H264 { .. } => (0, 0),
        };
        adaptations.push(AdaptationSet {
            id: Some("1".to_string()),
            contentType: Some("audio".to_string()),
            mimeType: Some("audio/mp4".to_string()),
            lang: Some("und".to_string()),
            segmentAlignment: Some(true),
            startWithSAP: Some(1),
            representations: vec![Representation {
                id: Some(a.spec.name.clone()),
                bandwidth: Some(a.peak_bitrate()),
                codecs: Some(a.codecs.clone()),
                audioSamplingRate: Some(sample_rate.to_string()),
                AudioChannelConfiguration: vec![AudioChannelConfiguration {
                    schemeIdUri: "urn:mpeg:dash:23003:3:audio_channel_configuration:2011"
                        .to_string(),
                    value: Some(channels.to_string()),
                    id: None,
                }],
                SegmentTemplate: Some(template(a)),
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    let round_ms = |s: f64| Duration::from_millis((s * 1000.0).round() as u64);
    let mpd = MPD {
        mpdtype: Some("static".to_string()),
        xmlns: Some("urn:mpeg:dash:schema:mpd:2011".to_string()),
        profiles: Some(PROFILES.to_string()),
        mediaPresentationDuration: Some(round_ms(duration)),
        minBufferTime: Some(Duration::from_secs(u64::from(min_buffer_seconds))),
        maxSegmentDuration: Some(round_ms(longest)),
        periods: vec![Period {
            id: Some("0".to_string()),
            start: Some(Duration::ZERO),
            adaptations,
            ..Default::default()
        }],
        ..Default::default()
    };
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{mpd}\n")
}
