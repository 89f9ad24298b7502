//! The transcoder: probe an upload, then decode it once and encode an H.264 + AAC ladder with
//! keyframes at the same instants in every rung, using GStreamer on its own threads.
//!
//! It knows nothing of storage, manifests or HTTP: encoded samples leave as plain Rust values
//! ([`EncodedSample`]) through a callback, with each track's codec configuration first.
//!
//! # Layout
//! - [`probe`]: what an input holds and whether it can become a video ([`probe::probe`]).
//! - [`ladder`]: which rungs, sizes and frame rate to encode ([`ladder::plan`]).
//! - `source`: the guarded `filesrc ! decodebin` every pipeline starts with (no network).
//! - [`encode`]: the encoding pipeline ([`Transcode`]).
//! - [`poster`]: one frame as a JPEG poster.

pub mod encode;
pub mod ladder;
pub mod poster;
pub mod probe;
mod source;

use std::path::PathBuf;

use gstreamer as gst;

pub use encode::{EncodedSample, Output, OutputSink, TrackConfig, TrackKind, Transcode};
pub use ladder::{LadderPlan, RungPlan, plan};
pub use poster::poster;
pub use probe::{MediaInfo, ProbeLimits, probe};

/// Why an input could not be transcoded. Every message is one line meant for the uploader.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    /// The input could not be opened.
    #[error("cannot open {path}: {source}")]
    Io {
        /// The input path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The data is not a media file that can be read.
    #[error("unreadable input: {0}")]
    Unreadable(String),
    /// A media file, but not one Lectern accepts (no streams, too long, too large, a playlist).
    #[error("rejected input: {0}")]
    Rejected(String),
    /// No decoder is installed for a stream.
    #[error("unsupported input: {0}")]
    NoDecoder(String),
    /// Decoding failed part-way: truncated or corrupted.
    #[error("damaged input: {0}")]
    Damaged(String),
    /// The pipeline could not be built or run (an installation problem, not the input's fault).
    #[error("transcoder failure: {0}")]
    Pipeline(String),
    /// The consumer asked to stop.
    #[error("transcode cancelled")]
    Cancelled,
}

/// Initialises GStreamer once.
pub fn init() -> Result<(), TranscodeError> {
    gst::init().map_err(|e| TranscodeError::Pipeline(format!("GStreamer did not initialise: {e}")))
}

pub(crate) fn make(factory: &str) -> Result<gst::Element, TranscodeError> {
    gst::ElementFactory::make(factory).build().map_err(|_| {
        TranscodeError::Pipeline(format!(
            "GStreamer element {factory} is missing: run the setup step to install the plugins"
        ))
    })
}

/// Turns a GStreamer error into one of ours, preferring the guards' reason when they fired.
pub(crate) fn classify_error(
    refusal: &source::Refusal,
    error: &gst::glib::Error,
    details: Option<&str>,
) -> TranscodeError {
    if let Some(reason) = refusal.reason() {
        return TranscodeError::Rejected(reason);
    }
    tracing::debug!(%error, details = details.unwrap_or(""), "pipeline error");
    let text = error.message().to_string();
    if let Some(e) = error.kind::<gst::StreamError>() {
        return match e {
            gst::StreamError::TypeNotFound | gst::StreamError::WrongType => {
                TranscodeError::Unreadable("not a video or audio file in a known format".into())
            }
            gst::StreamError::CodecNotFound => TranscodeError::NoDecoder(format!(
                "no decoder is installed for a stream in this file ({text})"
            )),
            gst::StreamError::Demux | gst::StreamError::Decode | gst::StreamError::Format => {
                TranscodeError::Damaged(text)
            }
            _ => TranscodeError::Damaged(text),
        };
    }
    if let Some(gst::CoreError::MissingPlugin) = error.kind::<gst::CoreError>() {
        return TranscodeError::NoDecoder(format!(
            "no decoder is installed for a stream in this file ({text})"
        ));
    }
    if error.kind::<gst::ResourceError>().is_some() {
        return TranscodeError::Unreadable(text);
    }
    TranscodeError::Damaged(text)
}
