//! What was written for each rendition: the facts the manifests are made from.

use crate::track::{Codec, TrackSpec};

/// One written media segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentRecord {
    /// 1-based number; the file is `{number}.m4s`.
    pub number: u32,
    /// Decode time of its first sample, in the rendition's timescale.
    pub start: u64,
    /// Duration in ticks.
    pub duration: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
}

/// One rendition: its track and every segment written for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    /// The track it was made from.
    pub spec: TrackSpec,
    /// RFC 6381 codec string.
    pub codecs: String,
    /// Size of `init.mp4`.
    pub init_bytes: u64,
    /// Segments in order.
    pub segments: Vec<SegmentRecord>,
}

impl Rendition {
    /// Seconds of one record.
    pub fn seconds(&self, ticks: u64) -> f64 {
        ticks as f64 / f64::from(self.spec.timescale)
    }

    /// Total duration in seconds.
    pub fn duration_seconds(&self) -> f64 {
        self.seconds(self.segments.iter().map(|s| s.duration).sum())
    }

    /// Highest bitrate of any segment in bits per second (HLS `BANDWIDTH`).
    pub fn peak_bitrate(&self) -> u64 {
        self.segments
            .iter()
            .filter(|s| s.duration > 0)
            .map(|s| (s.bytes as f64 * 8.0 / self.seconds(s.duration)).ceil() as u64)
            .max()
            .unwrap_or(0)
    }

    /// Bitrate over the whole rendition in bits per second (HLS `AVERAGE-BANDWIDTH`).
    pub fn average_bitrate(&self) -> u64 {
        let seconds = self.duration_seconds();
        if seconds <= 0.0 {
            return 0;
        }
        let bytes: u64 = self.segments.iter().map(|s| s.bytes).sum();
        (bytes as f64 * 8.0 / seconds).ceil() as u64
    }

    /// Width and height for video renditions.
    pub fn resolution(&self) -> Option<(u32, u32)> {
        match self.spec.codec {
            Codec::H264 { width, height, .. } => Some((width, height)),
            Codec::Aac { .. } => None,
        }
    }

    /// Frame rate for video renditions.
    pub fn frame_rate(&self) -> Option<(u32, u32)> {
        match self.spec.codec {
            Codec::H264 { frame_rate, .. } => Some(frame_rate),
            Codec::Aac { .. } => None,
        }
    }

    /// Longest segment in seconds.
    pub fn longest_segment_seconds(&self) -> f64 {
        self.segments
            .iter()
            .map(|s| self.seconds(s.duration))
            .fold(0.0, f64::max)
    }

    /// Path of the init segment, relative to the presentation root.
    pub fn init_path(&self) -> String {
        format!("{}/init.mp4", self.spec.name)
    }

    /// Path of the media playlist, relative to the presentation root.
    pub fn playlist_path(&self) -> String {
        format!("{}/index.m3u8", self.spec.name)
    }
}
