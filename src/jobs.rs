//! The API's transcoder: an uploaded file through the same pipeline `lectern package` and
//! `lectern import` use, into `media/{video_id}/{rev}/` of the data directory's store.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use lectern_api::jobs::{Finished, ProgressFn, Transcoder};
use lectern_config::Config;
use object_store::ObjectStore;
use object_store::path::Path as StorePath;

use crate::data::new_id;
use crate::pipeline::{self, PackageJob};

/// Transcodes uploads with the configured ladder.
pub struct PipelineTranscoder {
    /// Where presentations go.
    pub store: Arc<dyn ObjectStore>,
    /// Media settings and ladder.
    pub config: Config,
}

impl Transcoder for PipelineTranscoder {
    fn run<'a>(
        &'a self,
        input: &'a Path,
        video_id: &'a str,
        progress: ProgressFn,
    ) -> Pin<Box<dyn Future<Output = Result<Finished, String>> + Send + 'a>> {
        Box::pin(async move {
            // A file the probe refuses is the uploader's problem: "input:" says do not retry.
            let info = pipeline::probe(input, &self.config.media)
                .await
                .map_err(|e| format!("input: {e}"))?;
            // An earlier attempt (killed mid-way) may have left part of a presentation: this
            // video is not ready, so nothing under its media prefix is referenced.
            crate::app::delete_prefix(self.store.as_ref(), &format!("media/{video_id}")).await?;
            let rev = new_id().map_err(|e| e.to_string())?;
            let prefix = format!("media/{video_id}/{rev}");
            let job = PackageJob {
                input: input.to_path_buf(),
                media: self.config.media.clone(),
                ladder: self.config.media.ladder.clone(),
            };
            let summary = pipeline::package(
                &job,
                &info,
                self.store.clone(),
                StorePath::from(prefix.as_str()),
                move |p| {
                    if let Some(total) = p.total.filter(|t| !t.is_zero()) {
                        progress(p.done.as_secs_f64() / total.as_secs_f64());
                    }
                },
            )
            .await
            .map_err(|e| match e {
                pipeline::PipelineError::Transcode(e) => format!("input: {e}"),
                other => other.to_string(),
            })?;
            let poster = pipeline::write_poster(
                self.store.as_ref(),
                &prefix,
                input,
                summary.duration_seconds,
            )
            .await;
            Ok(Finished {
                poster,
                prefix,
                duration_ms: (summary.duration_seconds.max(0.0) * 1000.0) as u64,
                renditions: pipeline::renditions_json(&summary),
            })
        })
    }
}
