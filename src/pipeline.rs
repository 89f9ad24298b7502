//! Upload to ladder: probe with the transcoder, encode, and feed the packager as samples arrive.
//!
//! The transcoder runs on GStreamer's threads and hands outputs over a bounded channel, so a
//! slow store holds the encoders back instead of filling memory. If packaging fails the channel
//! closes, which stops the encoders; if encoding fails the packager deletes what it wrote. Either
//! way the destination holds a complete presentation or nothing from this run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lectern_config::{MediaConfig, Rung};
use lectern_packager::{
    Codec, PackageSummary, Packager, PackagerError, Sample, TrackSpec, ticks_from_nanos,
    video_timescale,
};
use lectern_transcoder::{
    EncodedSample, MediaInfo, Output, ProbeLimits, TrackConfig, TrackKind, Transcode,
    TranscodeError,
};
use object_store::ObjectStore;
use object_store::path::Path as StorePath;

/// Outputs in flight between the encoders and the packager.
const CHANNEL_DEPTH: usize = 64;

/// Why a file could not be packaged.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The input, or encoding it.
    #[error(transparent)]
    Transcode(#[from] TranscodeError),
    /// Writing the output.
    #[error(transparent)]
    Package(#[from] PackagerError),
    /// A background task died.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What to package and where.
#[derive(Debug, Clone)]
pub struct PackageJob {
    /// The uploaded file.
    pub input: PathBuf,
    /// Media settings (segment length, encoder, limits).
    pub media: MediaConfig,
    /// The rungs to choose from.
    pub ladder: Vec<Rung>,
}

/// Progress of a running job.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Media time encoded so far.
    pub done: Duration,
    /// Duration of the input, when known.
    pub total: Option<Duration>,
}

/// Probes the input with the limits in `media` (off the async threads).
pub async fn probe(input: &Path, media: &MediaConfig) -> Result<MediaInfo, PipelineError> {
    let input = input.to_path_buf();
    let limits = ProbeLimits {
        max_duration: Duration::from_secs(media.max_duration_seconds),
    };
    tokio::task::spawn_blocking(move || lectern_transcoder::probe(&input, &limits))
        .await
        .map_err(|e| PipelineError::Internal(e.to_string()))?
        .map_err(PipelineError::from)
}

fn track_spec(config: &TrackConfig) -> TrackSpec {
    match config.kind {
        TrackKind::Video {
            width,
            height,
            frame_rate,
        } => TrackSpec {
            name: config.name.clone(),
            timescale: video_timescale(frame_rate),
            codec: Codec::H264 {
                avcc: config.codec_data.clone(),
                width,
                height,
                frame_rate,
            },
        },
        TrackKind::Audio { rate, channels } => TrackSpec {
            name: config.name.clone(),
            timescale: rate.max(1),
            codec: Codec::Aac {
                asc: config.codec_data.clone(),
                sample_rate: rate,
                channels: u16::try_from(channels).unwrap_or(2),
            },
        },
    }
}

fn sample_in(timescale: u32, s: EncodedSample) -> Sample {
    Sample {
        pts: ticks_from_nanos(s.pts, timescale),
        dts: ticks_from_nanos(s.dts, timescale),
        duration: u32::try_from(ticks_from_nanos(s.duration as i64, timescale)).unwrap_or(0),
        keyframe: s.keyframe,
        data: s.data.into(),
    }
}

/// Transcodes and packages an already probed input under `prefix` in `store`.
pub async fn package(
    job: &PackageJob,
    info: &MediaInfo,
    store: Arc<dyn ObjectStore>,
    prefix: StorePath,
    on_progress: impl Fn(Progress),
) -> Result<PackageSummary, PipelineError> {
    let plan = lectern_transcoder::plan(info, &job.media, &job.ladder);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Output>(CHANNEL_DEPTH);
    let sink: lectern_transcoder::OutputSink =
        Arc::new(move |output| tx.blocking_send(output).is_ok());
    let transcode = {
        let input = job.input.clone();
        let info = info.clone();
        let plan = plan.clone();
        tokio::task::spawn_blocking(move || Transcode::start(&input, &info, &plan, sink))
            .await
            .map_err(|e| PipelineError::Internal(e.to_string()))??
    };
    let mut waiting = tokio::task::spawn_blocking(move || transcode.wait());

    let mut packager = Packager::new(store, prefix, job.media.segment_seconds);
    // Transcoder track index → (packager track index, timescale).
    let mut tracks: Vec<Option<(usize, u32)>> = vec![None; plan.track_count()];
    let reference = 0usize;
    let mut feed = async |output: Output, packager: &mut Packager| -> Result<(), PipelineError> {
        match output {
            Output::Track { track, config } => {
                let spec = track_spec(&config);
                let timescale = spec.timescale;
                let index = packager.add_track(spec).await?;
                if let Some(slot) = tracks.get_mut(track) {
                    *slot = Some((index, timescale));
                }
            }
            Output::Sample { track, sample } => {
                let Some(Some((index, timescale))) = tracks.get(track).copied() else {
                    return Err(PipelineError::Internal(format!(
                        "sample for unknown track {track}"
                    )));
                };
                if track == reference {
                    on_progress(Progress {
                        done: Duration::from_nanos((sample.pts.max(0) as u64) + sample.duration),
                        total: info.duration,
                    });
                }
                packager.push(index, sample_in(timescale, sample)).await?;
            }
        }
        Ok(())
    };

    // The first packaging error, if any.
    let mut outcome: Option<PipelineError> = None;
    let mut encoded: Option<Result<Duration, TranscodeError>> = None;
    loop {
        tokio::select! {
            biased;
            message = rx.recv() => match message {
                Some(output) => {
                    if let Err(e) = feed(output, &mut packager).await {
                        outcome = Some(e);
                        break;
                    }
                }
                None => break,
            },
            result = &mut waiting => {
                encoded = Some(result.map_err(|e| TranscodeError::Pipeline(e.to_string())).and_then(|r| r));
                break;
            }
        }
    }
    if outcome.is_none() && matches!(encoded, Some(Ok(_))) {
        // Everything sent before end-of-stream is already in the channel.
        while let Ok(output) = rx.try_recv() {
            if let Err(e) = feed(output, &mut packager).await {
                outcome = Some(e);
                break;
            }
        }
    }
    // Closing the channel stops encoders still running (after a packaging error).
    drop(rx);
    let encoded = match encoded {
        Some(result) => result,
        None => waiting
            .await
            .map_err(|e| TranscodeError::Pipeline(e.to_string()))
            .and_then(|r| r),
    };
    // A packaging error explains an encoder stopped by the closed channel, so it comes first.
    let failure = match (outcome, encoded) {
        (Some(e), _) => Some(e),
        (None, Err(e)) => Some(PipelineError::from(e)),
        (None, Ok(_)) => None,
    };
    if let Some(error) = failure {
        packager.abort().await;
        return Err(error);
    }
    on_progress(Progress {
        done: info.duration.unwrap_or_default(),
        total: info.duration,
    });
    Ok(packager.finish().await?)
}

/// The video renditions of a finished presentation as the API lists them, highest first:
/// `[{"height", "width", "bitrate", "peak_bitrate"}]`.
pub fn renditions_json(summary: &PackageSummary) -> String {
    let mut rungs: Vec<serde_json::Value> = summary
        .renditions
        .iter()
        .filter_map(|r| match r.spec.codec {
            lectern_packager::track::Codec::H264 { width, height, .. } => Some(serde_json::json!({
                "height": height, "width": width,
                "bitrate": r.average_bitrate(), "peak_bitrate": r.peak_bitrate(),
            })),
            _ => None,
        })
        .collect();
    rungs.sort_by_key(|r| std::cmp::Reverse(r["height"].as_u64()));
    serde_json::Value::Array(rungs).to_string()
}

/// Poster width in pixels.
const POSTER_WIDTH: u32 = 640;

/// Makes `poster.jpg` under `prefix` from the frame a tenth of the way into `input`; returns
/// its file name, or `None` (logged) when no poster could be made: a video without one still
/// plays.
pub async fn write_poster(
    store: &dyn ObjectStore,
    prefix: &str,
    input: &Path,
    duration_seconds: f64,
) -> Option<String> {
    use object_store::ObjectStoreExt;
    let input = input.to_path_buf();
    let at = Duration::from_secs_f64((duration_seconds / 10.0).clamp(0.0, 60.0));
    let jpeg = match tokio::task::spawn_blocking(move || {
        lectern_transcoder::poster(&input, at, POSTER_WIDTH)
    })
    .await
    {
        Ok(Ok(jpeg)) => jpeg,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "no poster");
            return None;
        }
        Err(e) => {
            tracing::warn!(error = %e, "poster task failed");
            return None;
        }
    };
    let path = StorePath::from(format!("{prefix}/poster.jpg"));
    match store.put(&path, jpeg.into()).await {
        Ok(_) => Some("poster.jpg".to_string()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot store the poster");
            None
        }
    }
}
