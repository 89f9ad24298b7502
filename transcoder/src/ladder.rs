//! Which rungs to encode for a given source, at which sizes and frame rate.

use lectern_config::{MediaConfig, Rung, kbps_for_height};

use crate::probe::MediaInfo;

/// Frame rate used when the source's is variable or unknown.
pub const FALLBACK_FRAME_RATE: (u32, u32) = (30, 1);
/// Highest frame rate encoded; faster sources are brought down to it.
pub const MAX_FRAME_RATE: (u32, u32) = (60, 1);

/// One video rung to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RungPlan {
    /// Rendition name, `{short side}p`.
    pub name: String,
    /// Output width (even).
    pub width: u32,
    /// Output height (even).
    pub height: u32,
    /// Target bitrate in kb/s.
    pub kbps: u32,
}

/// The audio rendition to encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioPlan {
    /// Target bitrate in kb/s.
    pub kbps: u32,
}

/// Everything the encoder needs to know about its outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LadderPlan {
    /// Video rungs, tallest first; empty for audio-only input.
    pub rungs: Vec<RungPlan>,
    /// Audio output, if the input has audio.
    pub audio: Option<AudioPlan>,
    /// Output frame rate of every rung.
    pub frame_rate: (u32, u32),
    /// Frames between keyframes: the segment duration in frames.
    pub keyframe_interval: u32,
    /// x264 speed preset.
    pub preset: String,
    /// B-frames.
    pub bframes: u32,
}

impl LadderPlan {
    /// Number of tracks the encoder will produce: rungs, then audio.
    pub fn track_count(&self) -> usize {
        self.rungs.len() + usize::from(self.audio.is_some())
    }

    /// Track index of the audio output.
    pub fn audio_track(&self) -> Option<usize> {
        self.audio.map(|_| self.rungs.len())
    }
}

/// The nearest even number, ties going down (never a pixel more than the source has).
fn even(value: f64) -> u32 {
    ((((value - 1.0) / 2.0).ceil().max(1.0)) as u32) * 2
}

/// The rungs for a picture of `width` × `height` (as displayed): every rung whose short side
/// fits, never upscaling; a picture smaller than every rung gets one rung at its own size.
pub fn plan_rungs(width: u32, height: u32, ladder: &[Rung]) -> Vec<RungPlan> {
    let short = width.min(height);
    let long = width.max(height);
    let portrait = height > width;
    let mut rungs: Vec<Rung> = ladder
        .iter()
        .copied()
        .filter(|r| r.height <= short)
        .collect();
    rungs.sort_by_key(|r| std::cmp::Reverse(r.height));
    rungs.dedup_by_key(|r| r.height);
    if rungs.is_empty() {
        let lowest_kbps = ladder.iter().map(|r| r.kbps).min().unwrap_or(400);
        rungs.push(Rung {
            height: short,
            kbps: kbps_for_height(short).min(lowest_kbps),
        });
    }
    rungs
        .into_iter()
        .map(|r| {
            let short_out = even(f64::from(r.height));
            let long_out = even(f64::from(long) * f64::from(short_out) / f64::from(short));
            let (w, h) = if portrait {
                (short_out, long_out)
            } else {
                (long_out, short_out)
            };
            RungPlan {
                name: format!("{short_out}p"),
                width: w,
                height: h,
                kbps: r.kbps,
            }
        })
        .collect()
}

/// The output frame rate for a source rate: the same, unless unknown (30) or above 60 (60).
pub fn output_frame_rate(source: (u32, u32)) -> (u32, u32) {
    let (n, d) = source;
    if n == 0 || d == 0 {
        return FALLBACK_FRAME_RATE;
    }
    if u64::from(n) * u64::from(MAX_FRAME_RATE.1) > u64::from(MAX_FRAME_RATE.0) * u64::from(d) {
        return MAX_FRAME_RATE;
    }
    (n, d)
}

/// The plan for `info` under `media` settings, with `ladder` as the rungs to choose from.
pub fn plan(info: &MediaInfo, media: &MediaConfig, ladder: &[Rung]) -> LadderPlan {
    let frame_rate = info
        .video
        .as_ref()
        .map_or(FALLBACK_FRAME_RATE, |v| output_frame_rate(v.frame_rate));
    let rungs = info.video.as_ref().map_or_else(Vec::new, |v| {
        let (w, h) = v.display_size();
        plan_rungs(w, h, ladder)
    });
    let keyframe_interval = ((f64::from(frame_rate.0) / f64::from(frame_rate.1)
        * f64::from(media.segment_seconds))
    .round() as u32)
        .max(1);
    LadderPlan {
        rungs,
        audio: info.audio.as_ref().map(|_| AudioPlan {
            kbps: media.audio_kbps,
        }),
        frame_rate,
        keyframe_interval,
        preset: media.x264_preset.clone(),
        bframes: media.bframes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lectern_config::default_ladder;

    fn sizes(w: u32, h: u32) -> Vec<(String, u32, u32)> {
        plan_rungs(w, h, &default_ladder())
            .into_iter()
            .map(|r| (r.name, r.width, r.height))
            .collect()
    }

    #[test]
    fn never_upscales_and_keeps_aspect() {
        assert_eq!(
            sizes(1920, 1080),
            vec![
                ("1080p".into(), 1920, 1080),
                ("720p".into(), 1280, 720),
                ("480p".into(), 854, 480),
                ("360p".into(), 640, 360),
                ("240p".into(), 426, 240),
            ]
        );
        assert_eq!(sizes(1280, 720).len(), 4);
        assert_eq!(sizes(1000, 700)[0], ("480p".into(), 686, 480));
    }

    #[test]
    fn portrait_uses_the_short_side() {
        assert_eq!(
            sizes(720, 1280),
            vec![
                ("720p".into(), 720, 1280),
                ("480p".into(), 480, 854),
                ("360p".into(), 360, 640),
                ("240p".into(), 240, 426),
            ]
        );
    }

    #[test]
    fn tiny_and_odd_sources_get_one_even_rung() {
        assert_eq!(sizes(321, 181), vec![("180p".into(), 320, 180)]);
        assert_eq!(sizes(854, 480)[2], ("240p".into(), 426, 240));
        let rung = &plan_rungs(160, 120, &default_ladder())[0];
        assert_eq!((rung.width, rung.height), (160, 120));
        assert!(rung.kbps <= 400);
    }

    #[test]
    fn frame_rates() {
        assert_eq!(output_frame_rate((30000, 1001)), (30000, 1001));
        assert_eq!(output_frame_rate((0, 1)), (30, 1));
        assert_eq!(output_frame_rate((120, 1)), (60, 1));
        assert_eq!(output_frame_rate((60, 1)), (60, 1));
    }
}
