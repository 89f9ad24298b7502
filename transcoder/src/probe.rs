//! Probing an input before any work: what it holds, and whether it can become a video.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;

use crate::TranscodeError;
use crate::source::{add_source, discard_pad, media_type};

/// The largest picture accepted: 8K UHD (7680 × 4320), either orientation.
pub const MAX_LONG_SIDE: u32 = 7680;
/// See [`MAX_LONG_SIDE`].
pub const MAX_SHORT_SIDE: u32 = 4320;
/// Longest a probe may take before the input is called unreadable.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// The video stream of an input, as decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoInfo {
    /// Decoded width in pixels, before rotation.
    pub width: u32,
    /// Decoded height in pixels, before rotation.
    pub height: u32,
    /// Pixel aspect ratio (1/1 for square pixels).
    pub pixel_aspect: (u32, u32),
    /// Frame rate; (0, 1) when variable or unknown.
    pub frame_rate: (u32, u32),
    /// Clockwise rotation to apply for display: 0, 90, 180 or 270.
    pub rotation: u32,
    /// Codec as the demuxer names it.
    pub codec: String,
    /// Whether the decoded frames are interlaced (or may be).
    pub interlaced: bool,
}

impl VideoInfo {
    /// Width and height as shown: square pixels, rotation applied.
    pub fn display_size(&self) -> (u32, u32) {
        let (n, d) = (self.pixel_aspect.0.max(1), self.pixel_aspect.1.max(1));
        let width = (u64::from(self.width) * u64::from(n) / u64::from(d)) as u32;
        if self.rotation % 180 == 90 {
            (self.height, width)
        } else {
            (width, self.height)
        }
    }
}

/// The audio stream of an input, as decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioInfo {
    /// Channel count.
    pub channels: u32,
    /// Samples per second.
    pub rate: u32,
    /// Codec as the demuxer names it.
    pub codec: String,
}

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaInfo {
    /// Container format (`Quicktime`, `Matroska`, …) or the demuxer that read it.
    pub container: String,
    /// Duration, when the container says.
    pub duration: Option<Duration>,
    /// The first video stream.
    pub video: Option<VideoInfo>,
    /// The first audio stream.
    pub audio: Option<AudioInfo>,
}

/// Limits an input must fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeLimits {
    /// Longest duration accepted.
    pub max_duration: Duration,
}

/// Reads `path` far enough to know its streams and duration, and checks them against `limits`.
pub fn probe(path: &Path, limits: &ProbeLimits) -> Result<MediaInfo, TranscodeError> {
    crate::init()?;
    let meta = std::fs::metadata(path).map_err(|e| TranscodeError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    if !meta.is_file() {
        return Err(TranscodeError::Unreadable("not a regular file".into()));
    }
    if meta.len() == 0 {
        return Err(TranscodeError::Unreadable("the file is empty".into()));
    }
    let info = probe_streams(path)?;
    check(&info, limits)?;
    Ok(info)
}

/// Streams seen on decodebin's pads.
#[derive(Default)]
struct Seen {
    video: Option<gst::Caps>,
    audio: Option<gst::Caps>,
    demuxer: Option<String>,
}

fn probe_streams(path: &Path) -> Result<MediaInfo, TranscodeError> {
    let pipeline = gst::Pipeline::new();
    let source = add_source(&pipeline, path)?;
    let seen = Arc::new(Mutex::new(Seen::default()));
    {
        let seen = seen.clone();
        pipeline.connect("deep-element-added", false, move |values| {
            let element = values.get(2).and_then(|v| v.get::<gst::Element>().ok())?;
            let factory = element.factory()?;
            if factory
                .metadata("klass")
                .unwrap_or_default()
                .contains("Demuxer")
                && let Ok(mut seen) = seen.lock()
            {
                seen.demuxer
                    .get_or_insert_with(|| factory.name().to_string());
            }
            None
        });
    }
    {
        let seen = seen.clone();
        let pipeline_weak = pipeline.downgrade();
        source.decodebin.connect_pad_added(move |_, pad| {
            let Some(pipeline) = pipeline_weak.upgrade() else {
                return;
            };
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let name = media_type(Some(&caps));
            if let Ok(mut seen) = seen.lock() {
                if name.starts_with("video/x-raw") && seen.video.is_none() {
                    seen.video = Some(caps.clone());
                } else if name.starts_with("audio/x-raw") && seen.audio.is_none() {
                    seen.audio = Some(caps.clone());
                }
            }
            // Every pad goes to a fakesink so the pipeline can preroll.
            discard_pad(&pipeline, pad);
        });
    }

    let result = run_to_preroll(&pipeline, &source.refusal);
    let seen = seen
        .lock()
        .map_err(|_| TranscodeError::Pipeline("poisoned lock".into()))?;
    let _ = pipeline.set_state(gst::State::Null);
    let (tags, duration) = result?;

    let tag_str = |name: &str| -> Option<String> {
        tags.iter()
            .find_map(|t| t.generic(name).and_then(|v| v.get::<String>().ok()))
    };
    let rotation = tag_str("image-orientation")
        .map(|o| o.chars().filter(char::is_ascii_digit).collect::<String>())
        .and_then(|d| d.parse::<u32>().ok())
        .unwrap_or(0)
        % 360;
    let video = seen.video.as_ref().and_then(|caps| {
        let s = caps.structure(0)?;
        let frac = |field: &str| {
            s.get::<gst::Fraction>(field)
                .ok()
                .map(|f| (f.numer().max(0) as u32, f.denom().max(1) as u32))
        };
        Some(VideoInfo {
            width: s.get::<i32>("width").ok()?.max(0) as u32,
            height: s.get::<i32>("height").ok()?.max(0) as u32,
            pixel_aspect: frac("pixel-aspect-ratio").unwrap_or((1, 1)),
            frame_rate: frac("framerate").unwrap_or((0, 1)),
            rotation,
            codec: tag_str("video-codec").unwrap_or_else(|| "unknown".into()),
            interlaced: s
                .get::<&str>("interlace-mode")
                .is_ok_and(|mode| mode != "progressive"),
        })
    });
    let audio = seen.audio.as_ref().and_then(|caps| {
        let s = caps.structure(0)?;
        Some(AudioInfo {
            channels: s.get::<i32>("channels").ok()?.max(0) as u32,
            rate: s.get::<i32>("rate").ok()?.max(0) as u32,
            codec: tag_str("audio-codec").unwrap_or_else(|| "unknown".into()),
        })
    });
    Ok(MediaInfo {
        container: tag_str("container-format")
            .or_else(|| seen.demuxer.clone())
            .unwrap_or_else(|| "elementary stream".into()),
        duration,
        video,
        audio,
    })
}

/// Brings `pipeline` to PAUSED and collects tags; returns them with the duration.
fn run_to_preroll(
    pipeline: &gst::Pipeline,
    refusal: &crate::source::Refusal,
) -> Result<(Vec<gst::TagList>, Option<Duration>), TranscodeError> {
    let bus = pipeline
        .bus()
        .ok_or_else(|| TranscodeError::Pipeline("pipeline without a bus".into()))?;
    if pipeline.set_state(gst::State::Paused).is_err() {
        // The error itself arrives on the bus below.
        tracing::debug!("state change to PAUSED failed at once");
    }
    let started = Instant::now();
    let mut tags = Vec::new();
    let mut stuck_polls = 0;
    loop {
        if started.elapsed() > PROBE_TIMEOUT {
            return Err(TranscodeError::Unreadable(format!(
                "could not read the file's streams within {} s",
                PROBE_TIMEOUT.as_secs()
            )));
        }
        let Some(message) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
            if demuxer_gave_up(pipeline) {
                stuck_polls += 1;
                if stuck_polls >= STUCK_POLLS {
                    return Err(TranscodeError::Damaged(
                        "the file contains no playable streams: it is truncated or damaged".into(),
                    ));
                }
            } else {
                stuck_polls = 0;
            }
            continue;
        };
        match message.view() {
            gst::MessageView::Error(err) => {
                return Err(crate::classify_error(
                    refusal,
                    &err.error(),
                    err.debug().as_deref(),
                ));
            }
            gst::MessageView::Tag(tag) => tags.push(tag.tags()),
            gst::MessageView::AsyncDone(_) => break,
            gst::MessageView::Eos(_) => break,
            _ => {}
        }
    }
    // Tags posted by the sinks on preroll may still be queued.
    while let Some(message) = bus.pop() {
        if let gst::MessageView::Tag(tag) = message.view() {
            tags.push(tag.tags());
        }
    }
    let duration = pipeline
        .query_duration::<gst::ClockTime>()
        .map(|d| Duration::from_nanos(d.nseconds()));
    Ok((tags, duration))
}

/// Polls (of 100 ms) a demuxer may sit stopped without streams before the probe gives up.
const STUCK_POLLS: u32 = 10;

/// True when a demuxer has stopped its reading task without exposing a single stream.
///
/// qtdemux normally posts "no playable streams" for an MP4 whose index was cut off, but now and
/// then (seen about once in 30 runs under load on GStreamer 1.22) it pauses its task silently and
/// decodebin waits for pads forever. This turns that stall into the error it should have been.
fn demuxer_gave_up(pipeline: &gst::Pipeline) -> bool {
    pipeline
        .iterate_recurse()
        .into_iter()
        .flatten()
        .any(|element| {
            let is_demuxer = element
                .factory()
                .is_some_and(|f| f.metadata("klass").unwrap_or_default().contains("Demuxer"));
            is_demuxer
                && element.src_pads().is_empty()
                && element
                    .sink_pads()
                    .iter()
                    .any(|pad| pad.task_state() == gst::TaskState::Paused)
        })
}

/// Checks what a probe found against what Lectern can turn into a video.
pub fn check(info: &MediaInfo, limits: &ProbeLimits) -> Result<(), TranscodeError> {
    let reject = |why: String| Err(TranscodeError::Rejected(why));
    if info.video.is_none() && info.audio.is_none() {
        return reject("the file has no video and no audio stream".into());
    }
    if let Some(duration) = info.duration {
        if duration < Duration::from_millis(40) {
            return reject(format!(
                "the duration is {duration:?}: too short to be a video"
            ));
        }
        if duration > Duration::from_secs(7 * 24 * 3600) {
            return reject(format!(
                "the file claims a duration of {:.0} hours, which is not plausible",
                duration.as_secs_f64() / 3600.0
            ));
        }
        if duration > limits.max_duration {
            return reject(format!(
                "the video is {} long; the limit is {}",
                hms(duration),
                hms(limits.max_duration)
            ));
        }
    }
    if let Some(v) = &info.video {
        let (w, h) = v.display_size();
        if w < 2 || h < 2 {
            return reject(format!("the picture is {w}×{h}: too small"));
        }
        if w.max(h) > MAX_LONG_SIDE || w.min(h) > MAX_SHORT_SIDE {
            return reject(format!(
                "the picture is {w}×{h}; the largest accepted is 8K ({MAX_LONG_SIDE}×{MAX_SHORT_SIDE})"
            ));
        }
    }
    Ok(())
}

/// `h:mm:ss` for messages.
pub fn hms(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(w: u32, h: u32, secs: u64) -> MediaInfo {
        MediaInfo {
            container: "test".into(),
            duration: Some(Duration::from_secs(secs)),
            video: Some(VideoInfo {
                width: w,
                height: h,
                pixel_aspect: (1, 1),
                frame_rate: (30, 1),
                rotation: 0,
                codec: "H.264".into(),
                interlaced: false,
            }),
            audio: None,
        }
    }

    const LIMITS: ProbeLimits = ProbeLimits {
        max_duration: Duration::from_secs(3600),
    };

    #[test]
    fn limits() {
        assert!(check(&info(1920, 1080, 60), &LIMITS).is_ok());
        assert!(check(&info(7680, 4320, 60), &LIMITS).is_ok());
        assert!(check(&info(4320, 7680, 60), &LIMITS).is_ok());
        let err = check(&info(8192, 4320, 60), &LIMITS).expect_err("too large");
        assert!(err.to_string().contains("8K"), "{err}");
        let err = check(&info(640, 360, 3601), &LIMITS).expect_err("too long");
        assert!(err.to_string().contains("1:00:01"), "{err}");
        assert!(check(&info(640, 360, 0), &LIMITS).is_err());
        assert!(check(&info(640, 360, 30 * 24 * 3600), &LIMITS).is_err());
        let mut none = info(640, 360, 10);
        none.video = None;
        assert!(check(&none, &LIMITS).is_err());
    }

    #[test]
    fn display_size_applies_rotation_and_pixel_aspect() {
        let mut v = info(1920, 1080, 1).video.expect("video");
        v.rotation = 90;
        assert_eq!(v.display_size(), (1080, 1920));
        v.rotation = 0;
        v.width = 720;
        v.height = 576;
        v.pixel_aspect = (16, 15);
        assert_eq!(v.display_size(), (768, 576));
    }
}
