//! The encoding pipeline: one decode, one scale and x264 encode per rung, one AAC encode, each
//! ending in an appsink whose samples are handed out as plain values.
//!
//! ```text
//! filesrc ! decodebin ─video─ videoconvert ! [deinterlace] ! videoflip(auto) ! videorate ! tee
//!                                          tee ─ queue ! videoscale ! videoconvert ! x264enc ! appsink  (per rung)
//!                     ─audio─ audioconvert ! audioresample ! audiorate ! avenc_aac ! appsink
//! ```
//!
//! Keyframes line up because every rung sees the same frames after `videorate` and x264 puts an
//! IDR every `keyframe_interval` frames and nowhere else (`scenecut=0`).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use crate::ladder::{LadderPlan, RungPlan};
use crate::probe::MediaInfo;
use crate::source::{Refusal, add_source, discard_pad, pad_media_type};
use crate::{TranscodeError, make};

/// How long the pipeline may go without producing a sample before it is called stuck.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Decoded media shorter than the probed duration by more than this (or 3 %) is damage.
pub const SHORTFALL_TOLERANCE: Duration = Duration::from_millis(1500);

/// What one output track carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackKind {
    /// H.264 video.
    Video {
        /// Picture width.
        width: u32,
        /// Picture height.
        height: u32,
        /// Frame rate.
        frame_rate: (u32, u32),
    },
    /// AAC-LC audio.
    Audio {
        /// Samples per second.
        rate: u32,
        /// Channels.
        channels: u32,
    },
}

/// A track's description, sent once before its first sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackConfig {
    /// Rendition name (`720p`, `audio`).
    pub name: String,
    /// Target bitrate in kb/s.
    pub kbps: u32,
    /// What it carries.
    pub kind: TrackKind,
    /// Decoder configuration from the caps: avcC for H.264, AudioSpecificConfig for AAC.
    pub codec_data: Vec<u8>,
}

/// One encoded access unit, timestamps as running time in nanoseconds (may be negative).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedSample {
    /// Presentation time.
    pub pts: i64,
    /// Decode time.
    pub dts: i64,
    /// Duration.
    pub duration: u64,
    /// IDR picture (always true for audio).
    pub keyframe: bool,
    /// The encoded bytes.
    pub data: Vec<u8>,
}

/// What the encoder hands out, in order per track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Track `track` starts; sent once before its first sample.
    Track {
        /// Index: rungs in plan order, then audio.
        track: usize,
        /// Its description.
        config: TrackConfig,
    },
    /// One sample of track `track`.
    Sample {
        /// Index as in [`Output::Track`].
        track: usize,
        /// The sample.
        sample: EncodedSample,
    },
}

/// Receives outputs on GStreamer's streaming threads; returns false to stop the encode.
/// It may block: that holds back the encoder branch that called it (back-pressure).
pub type OutputSink = Arc<dyn Fn(Output) -> bool + Send + Sync>;

/// A running encode.
pub struct Transcode {
    pipeline: gst::Pipeline,
    refusal: Refusal,
    /// Furthest end time (ns) reached by any encoded track, for progress.
    reached: Arc<AtomicI64>,
    /// Furthest end time (ns) of decoded media entering the encoders, for the damage check:
    /// measured before `audiorate`, which would paper over missing audio with silence.
    decoded: Arc<AtomicI64>,
    /// When the last sample arrived (ns since `started`).
    last_sample: Arc<AtomicI64>,
    /// Set when the sink asked to stop.
    stopped: Arc<AtomicBool>,
    started: Instant,
    expected: Option<Duration>,
}

impl std::fmt::Debug for Transcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcode")
            .field("reached", &self.reached())
            .finish()
    }
}

fn caps_from(text: &str) -> Result<gst::Caps, TranscodeError> {
    text.parse::<gst::Caps>()
        .map_err(|e| TranscodeError::Pipeline(format!("caps {text}: {e}")))
}

fn signed_nanos(value: Option<gst::Signed<gst::ClockTime>>) -> Option<i64> {
    match value? {
        gst::Signed::Positive(t) => Some(t.nseconds() as i64),
        gst::Signed::Negative(t) => Some(-(t.nseconds() as i64)),
    }
}

/// State shared by every appsink callback of one encode.
#[derive(Clone)]
struct SinkShared {
    out: OutputSink,
    reached: Arc<AtomicI64>,
    decoded: Arc<AtomicI64>,
    last_sample: Arc<AtomicI64>,
    stopped: Arc<AtomicBool>,
    started: Instant,
}

fn attach_appsink(
    appsink: &gst_app::AppSink,
    track: usize,
    name: String,
    kbps: u32,
    shared: SinkShared,
) {
    let mut announced = false;
    appsink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let (Some(buffer), Some(caps)) = (sample.buffer(), sample.caps()) else {
                    return Err(gst::FlowError::Error);
                };
                let structure = caps.structure(0).ok_or(gst::FlowError::NotNegotiated)?;
                if !announced {
                    let codec_data = structure
                        .get::<gst::Buffer>("codec_data")
                        .ok()
                        .and_then(|b| b.map_readable().ok().map(|m| m.as_slice().to_vec()))
                        .ok_or(gst::FlowError::NotNegotiated)?;
                    let kind = if structure.name().starts_with("video/") {
                        let fr = structure
                            .get::<gst::Fraction>("framerate")
                            .map_err(|_| gst::FlowError::NotNegotiated)?;
                        TrackKind::Video {
                            width: structure.get::<i32>("width").unwrap_or(0).max(0) as u32,
                            height: structure.get::<i32>("height").unwrap_or(0).max(0) as u32,
                            frame_rate: (fr.numer().max(1) as u32, fr.denom().max(1) as u32),
                        }
                    } else {
                        TrackKind::Audio {
                            rate: structure.get::<i32>("rate").unwrap_or(0).max(0) as u32,
                            channels: structure.get::<i32>("channels").unwrap_or(0).max(0) as u32,
                        }
                    };
                    let config = TrackConfig {
                        name: name.clone(),
                        kbps,
                        kind,
                        codec_data,
                    };
                    if !(shared.out)(Output::Track { track, config }) {
                        shared.stopped.store(true, Ordering::SeqCst);
                        return Err(gst::FlowError::Flushing);
                    }
                    announced = true;
                }
                let segment = sample
                    .segment()
                    .and_then(|s| s.downcast_ref::<gst::ClockTime>())
                    .ok_or(gst::FlowError::Error)?;
                let pts = buffer.pts().ok_or(gst::FlowError::Error)?;
                let pts_ns =
                    signed_nanos(segment.to_running_time_full(pts)).ok_or(gst::FlowError::Error)?;
                let dts_ns = match buffer.dts() {
                    Some(dts) => signed_nanos(segment.to_running_time_full(dts)).unwrap_or(pts_ns),
                    None => pts_ns,
                };
                let duration = buffer.duration().map_or(0, |d| d.nseconds());
                let data = buffer
                    .map_readable()
                    .map_err(|_| gst::FlowError::Error)?
                    .as_slice()
                    .to_vec();
                let sample = EncodedSample {
                    pts: pts_ns,
                    dts: dts_ns,
                    duration,
                    keyframe: !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
                    data,
                };
                shared
                    .reached
                    .fetch_max(pts_ns + duration as i64, Ordering::SeqCst);
                shared
                    .last_sample
                    .store(shared.started.elapsed().as_nanos() as i64, Ordering::SeqCst);
                if !(shared.out)(Output::Sample { track, sample }) {
                    shared.stopped.store(true, Ordering::SeqCst);
                    return Err(gst::FlowError::Flushing);
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
}

/// Records the running time reached by decoded buffers entering `element`.
fn watch_decoded(element: &gst::Element, decoded: Arc<AtomicI64>) -> Result<(), TranscodeError> {
    let pad = element
        .static_pad("sink")
        .ok_or_else(|| TranscodeError::Pipeline("element without a sink pad".into()))?;
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        if let Some(buffer) = info.buffer()
            && let Some(pts) = buffer.pts()
            && let Some(event) = pad.sticky_event::<gst::event::Segment>(0)
            && let Some(segment) = event.segment().downcast_ref::<gst::ClockTime>()
            && let Some(end) = signed_nanos(segment.to_running_time_full(pts))
        {
            let duration = buffer.duration().map_or(0, |d| d.nseconds() as i64);
            decoded.fetch_max(end + duration, Ordering::SeqCst);
        }
        gst::PadProbeReturn::Ok
    });
    Ok(())
}

fn add_chain(pipeline: &gst::Pipeline, elements: &[gst::Element]) -> Result<(), TranscodeError> {
    pipeline
        .add_many(elements)
        .map_err(|e| TranscodeError::Pipeline(e.to_string()))?;
    gst::Element::link_many(elements).map_err(|e| TranscodeError::Pipeline(e.to_string()))?;
    for element in elements {
        element
            .sync_state_with_parent()
            .map_err(|e| TranscodeError::Pipeline(e.to_string()))?;
    }
    Ok(())
}

/// Raw frames held between threads: enough to decouple decoder and encoders, and no more, as
/// each 1080p frame is 3 MB (decodebin's own multiqueue absorbs the demuxer's interleaving).
const VIDEO_QUEUE_FRAMES: u32 = 2;
/// Raw audio held before the audio encoder.
const AUDIO_QUEUE_NANOS: u64 = 2_000_000_000;

/// A queue holding at most `frames` buffers, or `nanos` of media when `frames` is 0.
fn queue(frames: u32, nanos: u64) -> Result<gst::Element, TranscodeError> {
    let q = make("queue")?;
    q.set_property("max-size-buffers", frames);
    q.set_property("max-size-bytes", 0u32);
    q.set_property("max-size-time", nanos);
    Ok(q)
}

/// Builds the video part after decodebin's video pad is known.
fn build_video(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    plan: &LadderPlan,
    shared: &SinkShared,
) -> Result<(), TranscodeError> {
    let (fr_n, fr_d) = plan.frame_rate;
    let head = [
        queue(VIDEO_QUEUE_FRAMES, 0)?,
        make("videoconvert")?,
        make("deinterlace")?,
        make("videoflip")?,
        make("videorate")?,
        make("capsfilter")?,
        make("tee")?,
    ];
    head[3].set_property_from_str("video-direction", "auto");
    head[5].set_property(
        "caps",
        caps_from(&format!("video/x-raw,framerate={fr_n}/{fr_d}"))?,
    );
    add_chain(pipeline, &head)?;
    watch_decoded(&head[0], shared.decoded.clone())?;
    let tee = &head[6];
    for (track, rung) in plan.rungs.iter().enumerate() {
        let appsink = gst_app::AppSink::builder()
            .sync(false)
            .caps(&caps_from("video/x-h264,stream-format=avc,alignment=au")?)
            .build();
        let branch = [
            queue(VIDEO_QUEUE_FRAMES, 0)?,
            make("videoscale")?,
            make("videoconvert")?,
            make("capsfilter")?,
            x264(rung, plan)?,
            make("capsfilter")?,
            appsink.clone().upcast(),
        ];
        branch[3].set_property(
            "caps",
            caps_from(&format!(
                "video/x-raw,format=I420,width={},height={},pixel-aspect-ratio=1/1,colorimetry=bt709",
                rung.width, rung.height
            ))?,
        );
        branch[5].set_property(
            "caps",
            caps_from("video/x-h264,profile=high,stream-format=avc,alignment=au")?,
        );
        add_chain(pipeline, &branch)?;
        tee.link(&branch[0])
            .map_err(|e| TranscodeError::Pipeline(e.to_string()))?;
        attach_appsink(
            &appsink,
            track,
            rung.name.clone(),
            rung.kbps,
            shared.clone(),
        );
    }
    let sinkpad = head[0]
        .static_pad("sink")
        .ok_or_else(|| TranscodeError::Pipeline("queue without a sink pad".into()))?;
    pad.link(&sinkpad)
        .map_err(|e| TranscodeError::Pipeline(format!("linking video: {e:?}")))?;
    Ok(())
}

fn x264(rung: &RungPlan, plan: &LadderPlan) -> Result<gst::Element, TranscodeError> {
    let enc = make("x264enc")?;
    enc.set_property("bitrate", rung.kbps);
    enc.set_property_from_str("speed-preset", &plan.preset);
    enc.set_property("key-int-max", plan.keyframe_interval);
    enc.set_property("bframes", plan.bframes);
    enc.set_property("threads", rung.threads);
    // Constant bitrate with a one-second VBV buffer: peaks stay close to the target, so the
    // BANDWIDTH a player reads is what it will need.
    enc.set_property_from_str("pass", "cbr");
    enc.set_property("vbv-buf-capacity", 1000u32);
    enc.set_property(
        "option-string",
        format!(
            "scenecut=0:min-keyint={}:open-gop=0",
            plan.keyframe_interval
        ),
    );
    Ok(enc)
}

fn build_audio(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    plan: &LadderPlan,
    shared: &SinkShared,
) -> Result<(), TranscodeError> {
    let (Some(audio), Some(track)) = (plan.audio, plan.audio_track()) else {
        return Ok(());
    };
    let appsink = gst_app::AppSink::builder()
        .sync(false)
        .caps(&caps_from("audio/mpeg,mpegversion=4,stream-format=raw")?)
        .build();
    let encoder = make("avenc_aac")?;
    encoder.set_property(
        "bitrate",
        i32::try_from(audio.kbps * 1000).unwrap_or(128_000),
    );
    let chain = [
        queue(0, AUDIO_QUEUE_NANOS)?,
        make("audioconvert")?,
        make("audioresample")?,
        make("audiorate")?,
        make("capsfilter")?,
        encoder,
        appsink.clone().upcast(),
    ];
    chain[4].set_property("caps", caps_from("audio/x-raw,rate=48000,channels=2")?);
    add_chain(pipeline, &chain)?;
    watch_decoded(&chain[0], shared.decoded.clone())?;
    let sinkpad = chain[0]
        .static_pad("sink")
        .ok_or_else(|| TranscodeError::Pipeline("queue without a sink pad".into()))?;
    pad.link(&sinkpad)
        .map_err(|e| TranscodeError::Pipeline(format!("linking audio: {e:?}")))?;
    attach_appsink(&appsink, track, "audio".into(), audio.kbps, shared.clone());
    Ok(())
}

impl Transcode {
    /// Starts encoding `input` (already probed as `info`) by `plan`, handing outputs to `out`.
    pub fn start(
        input: &Path,
        info: &MediaInfo,
        plan: &LadderPlan,
        out: OutputSink,
    ) -> Result<Self, TranscodeError> {
        crate::init()?;
        let pipeline = gst::Pipeline::new();
        let source = add_source(&pipeline, input)?;
        let started = Instant::now();
        let shared = SinkShared {
            out,
            reached: Arc::new(AtomicI64::new(0)),
            decoded: Arc::new(AtomicI64::new(0)),
            last_sample: Arc::new(AtomicI64::new(0)),
            stopped: Arc::new(AtomicBool::new(false)),
            started,
        };
        let transcode = Self {
            pipeline: pipeline.clone(),
            refusal: source.refusal.clone(),
            reached: shared.reached.clone(),
            decoded: shared.decoded.clone(),
            last_sample: shared.last_sample.clone(),
            stopped: shared.stopped.clone(),
            started,
            expected: info.duration,
        };
        let plan = plan.clone();
        let pipeline_weak = pipeline.downgrade();
        let linked = Arc::new(std::sync::Mutex::new((false, false)));
        source.decodebin.connect_pad_added(move |element, pad| {
            let Some(pipeline) = pipeline_weak.upgrade() else {
                return;
            };
            let name = pad_media_type(pad);
            let Ok(mut linked) = linked.lock() else {
                return;
            };
            let result = if name.starts_with("video/x-raw") && !linked.0 && !plan.rungs.is_empty() {
                linked.0 = true;
                build_video(&pipeline, pad, &plan, &shared)
            } else if name.starts_with("audio/x-raw") && !linked.1 && plan.audio.is_some() {
                linked.1 = true;
                build_audio(&pipeline, pad, &plan, &shared)
            } else {
                discard_pad(&pipeline, pad);
                Ok(())
            };
            if let Err(e) = result {
                let message =
                    gst::message::Error::builder(gst::CoreError::Negotiation, &e.to_string())
                        .src(element)
                        .build();
                let _ = element.post_message(message);
            }
        });
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| TranscodeError::Pipeline("the pipeline would not start".into()))?;
        Ok(transcode)
    }

    /// Media time done so far.
    pub fn reached(&self) -> Duration {
        Duration::from_nanos(self.reached.load(Ordering::SeqCst).max(0) as u64)
    }

    /// Blocks until the encode ends; checks that the whole input was decoded.
    pub fn wait(self) -> Result<Duration, TranscodeError> {
        let result = self.wait_inner();
        let _ = self.pipeline.set_state(gst::State::Null);
        result
    }

    fn wait_inner(&self) -> Result<Duration, TranscodeError> {
        let bus = self
            .pipeline
            .bus()
            .ok_or_else(|| TranscodeError::Pipeline("pipeline without a bus".into()))?;
        loop {
            if let Some(message) = bus.timed_pop(gst::ClockTime::from_mseconds(250)) {
                match message.view() {
                    gst::MessageView::Eos(_) => break,
                    gst::MessageView::Error(err) => {
                        if self.stopped.load(Ordering::SeqCst) {
                            return Err(TranscodeError::Cancelled);
                        }
                        return Err(crate::classify_error(
                            &self.refusal,
                            &err.error(),
                            err.debug().as_deref(),
                        ));
                    }
                    _ => {}
                }
            }
            if self.stopped.load(Ordering::SeqCst) {
                return Err(TranscodeError::Cancelled);
            }
            let idle =
                self.started.elapsed().as_nanos() as i64 - self.last_sample.load(Ordering::SeqCst);
            if idle > STALL_TIMEOUT.as_nanos() as i64 {
                return Err(TranscodeError::Damaged(format!(
                    "decoding stalled for {} s at {:.1} s",
                    STALL_TIMEOUT.as_secs(),
                    self.reached().as_secs_f64()
                )));
            }
        }
        let reached = self.reached();
        let decoded = Duration::from_nanos(self.decoded.load(Ordering::SeqCst).max(0) as u64);
        if let Some(expected) = self.expected {
            let tolerance = SHORTFALL_TOLERANCE.max(expected.mul_f64(0.03));
            if decoded + tolerance < expected {
                return Err(TranscodeError::Damaged(format!(
                    "only {:.1} s of {:.1} s could be decoded: the file is truncated or damaged",
                    decoded.as_secs_f64(),
                    expected.as_secs_f64()
                )));
            }
        }
        if reached.is_zero() {
            return Err(TranscodeError::Damaged("nothing could be decoded".into()));
        }
        Ok(reached)
    }

    /// Stops the encode now (the pipeline is torn down; no more outputs).
    pub fn cancel(self) {
        self.stopped.store(true, Ordering::SeqCst);
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
