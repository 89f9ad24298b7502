//! The packaging session: tracks in, samples in, segments and manifests out to an object store.
//!
//! Order of writes: each init segment when its track is added, each media segment as soon as
//! it is cut, then the media playlists, and last `manifest.mpd` and `master.m3u8`. A reader
//! that finds a manifest finds everything it names. [`Packager::abort`] deletes what was written.

use std::sync::Arc;
use std::time::Instant;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::rendition::{Rendition, SegmentRecord};
use crate::segmenter::{CutSegment, Segmenter};
use crate::track::{Sample, TrackSpec};
use crate::{PackagerError, dash, fmp4, hls};

/// Name of the HLS entry point under the output prefix.
pub const MASTER_PLAYLIST: &str = "master.m3u8";
/// Name of the DASH entry point under the output prefix.
pub const DASH_MANIFEST: &str = "manifest.mpd";

/// What a finished package holds.
#[derive(Debug, Clone)]
pub struct PackageSummary {
    /// Every rendition, video first (tallest first), then audio.
    pub renditions: Vec<Rendition>,
    /// Bytes written in all.
    pub bytes: u64,
    /// Objects written in all.
    pub objects: usize,
    /// Presentation duration in seconds (longest rendition).
    pub duration_seconds: f64,
}

impl PackageSummary {
    /// Media segments over every rendition.
    pub fn segments(&self) -> usize {
        self.renditions.iter().map(|r| r.segments.len()).sum()
    }
}

/// One packaging run writing under one prefix.
pub struct Packager {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    segment_seconds: u32,
    segmenter: Segmenter,
    renditions: Vec<Rendition>,
    written: Vec<Path>,
    bytes: u64,
    started: Instant,
}

impl std::fmt::Debug for Packager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packager")
            .field("prefix", &self.prefix)
            .field("renditions", &self.renditions.len())
            .field("written", &self.written.len())
            .finish()
    }
}

impl Packager {
    /// A packager writing under `prefix` in `store`, cutting at `segment_seconds` when there is
    /// no video to follow.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: Path, segment_seconds: u32) -> Self {
        Self {
            store,
            prefix,
            segment_seconds,
            segmenter: Segmenter::new(segment_seconds),
            renditions: Vec::new(),
            written: Vec::new(),
            bytes: 0,
            started: Instant::now(),
        }
    }

    /// Adds a track and writes its init segment; returns the index to push its samples with.
    pub async fn add_track(&mut self, spec: TrackSpec) -> Result<usize, PackagerError> {
        if self.renditions.iter().any(|r| r.spec.name == spec.name) {
            return Err(spec.bad("two tracks with the same name"));
        }
        let codecs = spec.codec_string()?;
        let init = fmp4::init_segment(&spec, 0, 0)?;
        let rendition = Rendition {
            codecs,
            init_bytes: init.len() as u64,
            segments: Vec::new(),
            spec: spec.clone(),
        };
        self.put(&rendition.init_path(), init).await?;
        self.renditions.push(rendition);
        Ok(self.segmenter.add_track(spec))
    }

    /// Feeds one sample of `track`; writes the segments it completes.
    pub async fn push(&mut self, track: usize, sample: Sample) -> Result<(), PackagerError> {
        let done = self.segmenter.push(track, sample)?;
        self.write_segments(done).await
    }

    async fn write_segments(
        &mut self,
        done: Vec<(usize, CutSegment)>,
    ) -> Result<(), PackagerError> {
        for (track, segment) in done {
            let bytes =
                fmp4::media_segment(segment.number, segment.base_decode_time, &segment.samples)?;
            let record = SegmentRecord {
                number: segment.number,
                start: segment.base_decode_time,
                duration: segment.duration(),
                bytes: bytes.len() as u64,
            };
            let path = format!(
                "{}/{}.m4s",
                self.renditions[track].spec.name, segment.number
            );
            self.put(&path, bytes).await?;
            self.renditions[track].segments.push(record);
        }
        Ok(())
    }

    /// Flushes the last segments and writes the playlists and manifests. On failure everything
    /// this run wrote is deleted again.
    pub async fn finish(mut self) -> Result<PackageSummary, PackagerError> {
        match self.write_tail().await {
            Ok(summary) => Ok(summary),
            Err(e) => {
                self.abort().await;
                Err(e)
            }
        }
    }

    async fn write_tail(&mut self) -> Result<PackageSummary, PackagerError> {
        let done = self.segmenter.finish();
        self.write_segments(done).await?;
        if self.renditions.iter().all(|r| r.segments.is_empty()) {
            return Err(PackagerError::Empty);
        }
        // A track that produced nothing (say, a stream that never started) is left out, and
        // its init segment removed again.
        let (kept, empty): (Vec<Rendition>, Vec<Rendition>) = std::mem::take(&mut self.renditions)
            .into_iter()
            .partition(|r| !r.segments.is_empty());
        self.renditions = kept;
        for rendition in empty {
            let path = self.path(&rendition.init_path());
            self.store
                .delete(&path)
                .await
                .map_err(|source| PackagerError::Store {
                    path: path.to_string(),
                    source,
                })?;
            self.written.retain(|p| *p != path);
        }
        self.renditions.sort_by_key(|r| {
            (
                !r.spec.is_video(),
                std::cmp::Reverse(r.resolution().map_or(0, |(w, h)| w.min(h))),
            )
        });
        for index in 0..self.renditions.len() {
            let text = hls::media_playlist(&self.renditions[index]);
            let path = self.renditions[index].playlist_path();
            self.put(&path, text.into_bytes()).await?;
        }
        let videos: Vec<&Rendition> = self
            .renditions
            .iter()
            .filter(|r| r.spec.is_video())
            .collect();
        let audio = self.renditions.iter().find(|r| !r.spec.is_video());
        let mpd = dash::manifest(&videos, audio, self.segment_seconds * 2);
        let master = hls::master_playlist(&videos, audio);
        self.put(DASH_MANIFEST, mpd.into_bytes()).await?;
        self.put(MASTER_PLAYLIST, master.into_bytes()).await?;
        tracing::info!(
            prefix = %self.prefix,
            objects = self.written.len(),
            bytes = self.bytes,
            seconds = self.started.elapsed().as_secs_f64(),
            "package written"
        );
        let duration_seconds = self
            .renditions
            .iter()
            .map(Rendition::duration_seconds)
            .fold(0.0, f64::max);
        Ok(PackageSummary {
            renditions: self.renditions.clone(),
            bytes: self.bytes,
            objects: self.written.len(),
            duration_seconds,
        })
    }

    /// Deletes everything this run wrote (on a failed or cancelled run).
    pub async fn abort(self) {
        for path in self.written.iter().rev() {
            if let Err(e) = self.store.delete(path).await {
                tracing::warn!(%path, error = %e, "could not delete a partial output object");
            }
        }
    }

    fn path(&self, relative: &str) -> Path {
        relative
            .split('/')
            .fold(self.prefix.clone(), |path, part| path.join(part))
    }

    async fn put(&mut self, relative: &str, bytes: Vec<u8>) -> Result<(), PackagerError> {
        let path = self.path(relative);
        let len = bytes.len() as u64;
        // Recorded before the write so that an abort also removes a half-written object.
        self.written.push(path.clone());
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|source| PackagerError::Store {
                path: path.to_string(),
                source,
            })?;
        self.bytes += len;
        Ok(())
    }
}
