//! HLS playlists (version 7, fMP4 segments with EXT-X-MAP), built from m3u8-rs types.
//!
//! Media playlists sit in each rendition's directory, so their URIs are relative to it
//! (`init.mp4`, `1.m4s`); the master playlist names them as `{rendition}/index.m3u8`. Every URI is
//! relative so that a token in the path of the master reaches every request a player makes.

use m3u8_rs::{
    AlternativeMedia, AlternativeMediaType, Map, MasterPlaylist, MediaPlaylist, MediaPlaylistType,
    MediaSegment, Resolution, VariantStream,
};

use crate::rendition::Rendition;

/// The HLS version written: fMP4 segments need 6 or later, EXT-X-MAP in VOD without
/// I-frame playlists needs 6; 7 is what CMAF guidance asks for.
pub const HLS_VERSION: usize = 7;

/// The GROUP-ID of the audio rendition.
pub const AUDIO_GROUP: &str = "audio";

/// `EXT-X-TARGETDURATION`: the longest segment rounded to the nearest second (RFC 8216 4.3.3.1),
/// at least one.
pub fn target_duration(rendition: &Rendition) -> u64 {
    (rendition.longest_segment_seconds().round() as u64).max(1)
}

/// The media playlist of one rendition.
pub fn media_playlist(rendition: &Rendition) -> String {
    let segments = rendition
        .segments
        .iter()
        .enumerate()
        .map(|(i, s)| MediaSegment {
            uri: format!("{}.m4s", s.number),
            // Milliseconds are what players can use; fewer digits keep the file small.
            duration: ((rendition.seconds(s.duration) * 1000.0).round() / 1000.0) as f32,
            map: (i == 0).then(|| Map {
                uri: "init.mp4".to_string(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    let playlist = MediaPlaylist {
        version: Some(HLS_VERSION),
        target_duration: target_duration(rendition),
        media_sequence: 0,
        segments,
        end_list: true,
        playlist_type: Some(MediaPlaylistType::Vod),
        independent_segments: true,
        ..Default::default()
    };
    write(|out| playlist.write_to(out))
}

/// The master playlist: one variant per video rendition, audio as an EXT-X-MEDIA group.
///
/// BANDWIDTH is the measured peak segment bitrate of the video plus that of the audio;
/// AVERAGE-BANDWIDTH the same for whole-file averages. Without video the audio is the variant.
pub fn master_playlist(videos: &[&Rendition], audio: Option<&Rendition>) -> String {
    let audio_peak = audio.map_or(0, Rendition::peak_bitrate);
    let audio_average = audio.map_or(0, Rendition::average_bitrate);
    let mut variants: Vec<VariantStream> = videos
        .iter()
        .map(|v| {
            let codecs = match audio {
                Some(a) => format!("{},{}", v.codecs, a.codecs),
                None => v.codecs.clone(),
            };
            VariantStream {
                uri: v.playlist_path(),
                bandwidth: v.peak_bitrate() + audio_peak,
                average_bandwidth: Some(v.average_bitrate() + audio_average),
                codecs: Some(codecs),
                resolution: v.resolution().map(|(w, h)| Resolution {
                    width: u64::from(w),
                    height: u64::from(h),
                }),
                frame_rate: v
                    .frame_rate()
                    .map(|(n, d)| (f64::from(n) / f64::from(d) * 1000.0).round() / 1000.0),
                audio: audio.map(|_| AUDIO_GROUP.to_string()),
                ..Default::default()
            }
        })
        .collect();
    // Highest bandwidth first, as readers of the file expect; players choose by estimate.
    variants.sort_by_key(|v| std::cmp::Reverse(v.bandwidth));
    let mut alternatives = Vec::new();
    if let Some(a) = audio {
        if videos.is_empty() {
            variants.push(VariantStream {
                uri: a.playlist_path(),
                bandwidth: a.peak_bitrate(),
                average_bandwidth: Some(a.average_bitrate()),
                codecs: Some(a.codecs.clone()),
                ..Default::default()
            });
        } else {
            alternatives.push(AlternativeMedia {
                media_type: AlternativeMediaType::Audio,
                uri: Some(a.playlist_path()),
                group_id: AUDIO_GROUP.to_string(),
                language: Some("und".to_string()),
                name: "Audio".to_string(),
                default: true,
                autoselect: true,
                channels: match a.spec.codec {
                    crate::track::Codec::Aac { channels, .. } => Some(channels.to_string()),
                    crate::track::Codec::H264 { .. } => None,
                },
                ..Default::default()
            });
        }
    }
    let playlist = MasterPlaylist {
        version: Some(HLS_VERSION),
        independent_segments: true,
        alternatives,
        variants,
        ..Default::default()
    };
    write(|out| playlist.write_to(out))
}

fn write(f: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = f(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}
