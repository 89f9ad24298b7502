//! The packager: encoded samples in, CMAF fMP4 segments plus HLS and DASH manifests out.
//!
//! Pure Rust: it knows nothing of GStreamer (samples arrive as plain values) or HTTP (it writes
//! through an [`object_store::ObjectStore`]). One presentation is laid out as
//!
//! ```text
//! {prefix}/master.m3u8            HLS entry point (written last)
//! {prefix}/manifest.mpd           DASH entry point
//! {prefix}/{rendition}/init.mp4   CMAF header: ftyp + moov, one track
//! {prefix}/{rendition}/{n}.m4s    CMAF segments: styp + moof + mdat, n from 1
//! {prefix}/{rendition}/index.m3u8 HLS media playlist
//! ```
//!
//! # Layout
//! - [`track`]: track descriptions ([`TrackSpec`], [`Codec`]) and [`Sample`]s.
//! - [`segmenter`]: where segments are cut, and decode-time normalisation.
//! - [`fmp4`]: the boxes of init and media segments.
//! - [`rendition`]: what was written per rendition, for the manifests.
//! - [`hls`], [`dash`]: the manifests.
//! - [`package`]: [`Packager`], the run that ties these together and writes them.

pub mod dash;
pub mod fmp4;
pub mod hls;
pub mod package;
pub mod rendition;
pub mod segmenter;
pub mod track;

pub use package::{DASH_MANIFEST, MASTER_PLAYLIST, PackageSummary, Packager};
pub use rendition::{Rendition, SegmentRecord};
pub use track::{Codec, Sample, TrackSpec, ticks_from_nanos, video_timescale};

/// Why packaging failed.
#[derive(Debug, thiserror::Error)]
pub enum PackagerError {
    /// A track's description or samples cannot be packaged.
    #[error("track {track}: {message}")]
    BadTrack {
        /// The rendition name.
        track: String,
        /// What is wrong.
        message: String,
    },
    /// A sample named a track that was never added.
    #[error("no track {0}")]
    UnknownTrack(usize),
    /// Encoding a box failed.
    #[error("encoding mp4 boxes: {0}")]
    Mp4(#[from] mp4_atom::Error),
    /// A segment is too large for 32-bit offsets.
    #[error("a segment is larger than 2 GiB")]
    TooLarge,
    /// Writing to the object store failed.
    #[error("writing {path}: {source}")]
    Store {
        /// The object's path.
        path: String,
        /// The store's error.
        source: object_store::Error,
    },
    /// Not a single sample arrived.
    #[error("the input produced no media samples")]
    Empty,
}
