//! A poster image for a video: one frame from a tenth of the way in (where title cards have
//! usually gone), upright, scaled to a given width, as JPEG.

use std::path::Path;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use crate::TranscodeError;
use crate::source::{add_source, discard_pad, media_type};

/// Longest a poster may take.
const POSTER_TIMEOUT: Duration = Duration::from_secs(30);

/// A JPEG of the frame near `at` in `path`, `width` pixels wide (height keeps the picture's
/// shape). Blocking: call it off the async threads.
pub fn poster(path: &Path, at: Duration, width: u32) -> Result<Vec<u8>, TranscodeError> {
    crate::init()?;
    let pipeline = gst::Pipeline::new();
    let source = add_source(&pipeline, path)?;
    let chain = [
        crate::make("videoconvert")?,
        crate::make("videoflip")?,
        crate::make("videoscale")?,
        crate::make("capsfilter")?,
        crate::make("jpegenc")?,
    ];
    chain[1].set_property_from_str("video-direction", "auto");
    chain[3].set_property(
        "caps",
        gst::Caps::builder("video/x-raw")
            .field("width", i32::try_from(width.max(16)).unwrap_or(640))
            .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
            .build(),
    );
    let appsink = gst_app::AppSink::builder()
        .caps(&gst::Caps::builder("image/jpeg").build())
        .max_buffers(1)
        .sync(false)
        .build();
    pipeline
        .add_many(chain.iter().chain([appsink.upcast_ref::<gst::Element>()]))
        .map_err(|e| TranscodeError::Pipeline(e.to_string()))?;
    gst::Element::link_many(chain.iter().chain([appsink.upcast_ref::<gst::Element>()]))
        .map_err(|e| TranscodeError::Pipeline(e.to_string()))?;
    let head = chain[0].clone();
    let pipeline_weak = pipeline.downgrade();
    source.decodebin.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pipeline_weak.upgrade() else {
            return;
        };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let sink = head.static_pad("sink");
        match sink {
            Some(sink)
                if media_type(Some(&caps)).starts_with("video/x-raw") && !sink.is_linked() =>
            {
                let _ = pad.link(&sink);
            }
            _ => discard_pad(&pipeline, pad),
        }
    });
    let result = (|| {
        let _ = pipeline.set_state(gst::State::Paused);
        wait_async_done(&pipeline, &source.refusal)?;
        pipeline
            .seek_simple(
                gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT,
                gst::ClockTime::from_nseconds(at.as_nanos().try_into().unwrap_or(0)),
            )
            .map_err(|e| TranscodeError::Pipeline(format!("seek: {e}")))?;
        wait_async_done(&pipeline, &source.refusal)?;
        let sample = appsink
            .pull_preroll()
            .map_err(|_| TranscodeError::Unreadable("no picture to make a poster from".into()))?;
        let buffer = sample
            .buffer()
            .ok_or_else(|| TranscodeError::Pipeline("poster without a buffer".into()))?;
        let map = buffer
            .map_readable()
            .map_err(|e| TranscodeError::Pipeline(e.to_string()))?;
        Ok(map.as_slice().to_vec())
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result
}

fn wait_async_done(
    pipeline: &gst::Pipeline,
    refusal: &crate::source::Refusal,
) -> Result<(), TranscodeError> {
    let bus = pipeline
        .bus()
        .ok_or_else(|| TranscodeError::Pipeline("pipeline without a bus".into()))?;
    let started = Instant::now();
    loop {
        if started.elapsed() > POSTER_TIMEOUT {
            return Err(TranscodeError::Unreadable("no picture within 30 s".into()));
        }
        let Some(message) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
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
            gst::MessageView::AsyncDone(_) => return Ok(()),
            gst::MessageView::Eos(_) => {
                return Err(TranscodeError::Unreadable(
                    "the video ended before a picture".into(),
                ));
            }
            _ => {}
        }
    }
}
