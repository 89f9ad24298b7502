//! Opening an input safely: `filesrc ! decodebin`, and nothing that can reach the network.
//!
//! decodebin would happily plug `hlsdemux` for a playlist and fetch its URIs, so three guards
//! stand in the way: caps of playlists and URI lists stop auto-plugging and fail the pipeline,
//! any source element other than ours fails it, and every decoder is told to give up at its first
//! error (`max-errors = 0`) so damage is reported instead of concealed.

use std::path::Path;
use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::prelude::*;

use crate::TranscodeError;

/// Media types that mean "this file points at other files": never followed.
const REFERENCE_CAPS: &[(&str, &str)] = &[
    ("application/x-hls", "an HLS playlist"),
    ("application/dash+xml", "a DASH manifest"),
    ("application/vnd.ms-sstr+xml", "a Smooth Streaming manifest"),
    ("text/uri-list", "a list of URIs"),
    ("audio/x-mpegurl", "an M3U playlist"),
    ("application/xspf+xml", "an XSPF playlist"),
    ("audio/x-scpls", "a PLS playlist"),
    ("application/sdp", "an SDP description"),
    ("application/x-rtsp", "an RTSP reference"),
];

/// Typefind's certainty below which a match is chance, not a format (GST_TYPE_FIND_LIKELY).
/// Random bytes can look like a headerless H.263 or MP3 stream to the weaker detectors.
const MIN_TYPE_PROBABILITY: u32 = 80;

/// Why the guards stopped a pipeline, read back when its error arrives.
#[derive(Debug, Clone, Default)]
pub(crate) struct Refusal(Arc<Mutex<Option<String>>>);

impl Refusal {
    fn set(&self, reason: String) {
        if let Ok(mut slot) = self.0.lock()
            && slot.is_none()
        {
            *slot = Some(reason);
        }
    }

    /// The reason, if a guard fired.
    pub(crate) fn reason(&self) -> Option<String> {
        self.0.lock().ok().and_then(|slot| slot.clone())
    }
}

/// The front of every pipeline: a guarded `filesrc ! decodebin` inside `pipeline`.
pub(crate) struct Source {
    /// The decodebin whose pads carry the decoded streams.
    pub decodebin: gst::Element,
    /// Set when a guard refused the input.
    pub refusal: Refusal,
}

/// The media type of the first structure of `caps` (`video/x-raw`), or "".
pub(crate) fn media_type(caps: Option<&gst::CapsRef>) -> String {
    caps.and_then(|c| c.structure(0))
        .map(|s| s.name().to_string())
        .unwrap_or_default()
}

/// The media type of the caps on a decoded pad.
pub(crate) fn pad_media_type(pad: &gst::Pad) -> String {
    let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
    media_type(Some(&caps))
}

/// Links a pad nobody needs to a fakesink so that it neither blocks preroll nor errors.
pub(crate) fn discard_pad(pipeline: &gst::Pipeline, pad: &gst::Pad) {
    if let Ok(sink) = crate::make("fakesink") {
        let _ = pipeline.add(&sink);
        let _ = sink.sync_state_with_parent();
        if let Some(sinkpad) = sink.static_pad("sink") {
            let _ = pad.link(&sinkpad);
        }
    }
}

fn fail(element: &gst::Element, refusal: &Refusal, reason: String) {
    refusal.set(reason.clone());
    let message = gst::message::Error::builder(gst::CoreError::Failed, &reason)
        .src(element)
        .build();
    let _ = element.post_message(message);
}

/// Adds `filesrc location=path ! decodebin` to `pipeline` with the guards attached.
pub(crate) fn add_source(pipeline: &gst::Pipeline, path: &Path) -> Result<Source, TranscodeError> {
    let location = path
        .to_str()
        .ok_or_else(|| TranscodeError::Unreadable("the file name is not valid UTF-8".into()))?;
    let filesrc = crate::make("filesrc")?;
    filesrc.set_property("location", location);
    let decodebin = crate::make("decodebin")?;
    pipeline
        .add_many([&filesrc, &decodebin])
        .map_err(|e| TranscodeError::Pipeline(e.to_string()))?;
    filesrc
        .link(&decodebin)
        .map_err(|e| TranscodeError::Pipeline(e.to_string()))?;

    let refusal = Refusal::default();
    if let Some(typefind) = decodebin
        .downcast_ref::<gst::Bin>()
        .and_then(|bin| bin.by_name("typefind"))
    {
        let refusal = refusal.clone();
        typefind.connect("have-type", false, move |values| {
            let element = values.first().and_then(|v| v.get::<gst::Element>().ok())?;
            let probability = values.get(1).and_then(|v| v.get::<u32>().ok()).unwrap_or(0);
            let caps = values.get(2).and_then(|v| v.get::<gst::Caps>().ok());
            let name = media_type(caps.as_deref());
            tracing::debug!(probability, %name, "type found");
            if probability < MIN_TYPE_PROBABILITY {
                fail(
                    &element,
                    &refusal,
                    "not a video or audio file in a known format".to_string(),
                );
            }
            None
        });
    }
    {
        let refusal = refusal.clone();
        decodebin.connect("autoplug-continue", false, move |values| {
            let caps = values.get(2).and_then(|v| v.get::<gst::Caps>().ok());
            let name = media_type(caps.as_deref());
            if let Some((_, what)) = REFERENCE_CAPS.iter().find(|(caps, _)| *caps == name) {
                if let Some(element) = values.first().and_then(|v| v.get::<gst::Element>().ok()) {
                    fail(
                        &element,
                        &refusal,
                        format!("the file is {what}, not a video: playlists and references to other files are not accepted"),
                    );
                }
                return Some(false.to_value());
            }
            Some(true.to_value())
        });
    }
    {
        let refusal = refusal.clone();
        let ours = filesrc.clone();
        pipeline.connect("deep-element-added", false, move |values| {
            let element = values.get(2).and_then(|v| v.get::<gst::Element>().ok())?;
            if element == ours {
                return None;
            }
            let klass = element
                .factory()
                .map(|f| f.metadata("klass").unwrap_or_default().to_string())
                .unwrap_or_default();
            if klass.contains("Source") {
                fail(
                    &element,
                    &refusal,
                    "the file refers to other resources; only self-contained media files are accepted".into(),
                );
            } else if klass.contains("Decoder") && element.find_property("max-errors").is_some() {
                // Report the first decoding error instead of concealing damage.
                element.set_property("max-errors", 0i32);
            }
            None
        });
    }
    Ok(Source { decodebin, refusal })
}
