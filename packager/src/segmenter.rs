//! Cutting samples into segments at the same instants on every track.
//!
//! Video tracks cut at every keyframe: the transcoder forces keyframes at the same timestamps in
//! every rung and nowhere else, so this alone aligns the rungs. The first video track is the
//! reference: the presentation times of its cuts are the cuts of every audio track, whose
//! segments start at the first audio frame at or after each cut. Without video, audio cuts at
//! every multiple of the target segment duration.
//!
//! Decode times are moved so that every track starts at decode time zero or later: a video track
//! is shifted by its first sample's `pts - dts` (B-frame delay), which keeps presentation times
//! where they are and makes composition offsets signed; audio becomes contiguous from its first
//! presentation time (clamped at zero, dropping encoder priming from the timeline).

use std::collections::VecDeque;

use crate::PackagerError;
use crate::fmp4::FragmentSample;
use crate::track::{Sample, TrackSpec};

/// A finished segment of one track, not yet encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutSegment {
    /// 1-based segment number, also the `mfhd` sequence number.
    pub number: u32,
    /// Decode time of the first sample.
    pub base_decode_time: u64,
    /// The samples, durations final.
    pub samples: Vec<FragmentSample>,
}

impl CutSegment {
    /// Sum of sample durations in ticks.
    pub fn duration(&self) -> u64 {
        self.samples.iter().map(|s| u64::from(s.duration)).sum()
    }
}

/// A sample whose decode time is final but whose duration may wait for the next sample.
#[derive(Debug)]
struct Placed {
    decode_time: u64,
    cts: i32,
    duration: u32,
    keyframe: bool,
    data: bytes::Bytes,
}

impl Placed {
    fn presentation_time(&self) -> i64 {
        self.decode_time as i64 + i64::from(self.cts)
    }
    fn into_fragment(self) -> FragmentSample {
        FragmentSample {
            duration: self.duration,
            cts: self.cts,
            keyframe: self.keyframe,
            data: self.data,
        }
    }
}

#[derive(Debug)]
struct TrackCutter {
    spec: TrackSpec,
    /// Added to every decode time (set by the first sample).
    dts_shift: Option<i64>,
    /// Last placed sample, kept until the next one gives its duration (video).
    pending: Option<Placed>,
    /// Samples of the segment being filled.
    current: Vec<Placed>,
    /// Decode time of the next audio sample (audio is contiguous).
    next_audio_time: Option<u64>,
    /// Cut instants (nanoseconds of presentation) not yet applied (audio only).
    cuts: VecDeque<u64>,
    /// Segments emitted so far.
    emitted: u32,
}

impl TrackCutter {
    fn cut(&mut self) -> Option<CutSegment> {
        if self.current.is_empty() {
            return None;
        }
        let samples = std::mem::take(&mut self.current);
        self.emitted += 1;
        Some(CutSegment {
            number: self.emitted,
            base_decode_time: samples[0].decode_time,
            samples: samples.into_iter().map(Placed::into_fragment).collect(),
        })
    }

    fn nanos(&self, ticks: i64) -> u64 {
        (i128::from(ticks.max(0)) * 1_000_000_000 / i128::from(self.spec.timescale)) as u64
    }

    fn ticks(&self, nanos: u64) -> i64 {
        crate::track::ticks_from_nanos(nanos as i64, self.spec.timescale)
    }
}

/// Cuts every track of one presentation.
#[derive(Debug)]
pub struct Segmenter {
    tracks: Vec<TrackCutter>,
    /// Target duration in nanoseconds, used to cut audio when there is no video.
    target_nanos: u64,
}

impl Segmenter {
    /// A segmenter with no tracks; `target_seconds` only matters for audio without video.
    pub fn new(target_seconds: u32) -> Self {
        Self {
            tracks: Vec::new(),
            target_nanos: u64::from(target_seconds) * 1_000_000_000,
        }
    }

    /// Adds a track; its index is the one to push samples with.
    pub fn add_track(&mut self, spec: TrackSpec) -> usize {
        self.tracks.push(TrackCutter {
            spec,
            dts_shift: None,
            pending: None,
            current: Vec::new(),
            next_audio_time: None,
            cuts: VecDeque::new(),
            emitted: 0,
        });
        self.tracks.len() - 1
    }

    /// The spec of track `index`.
    pub fn spec(&self, index: usize) -> &TrackSpec {
        &self.tracks[index].spec
    }

    fn reference_video(&self) -> Option<usize> {
        self.tracks.iter().position(|t| t.spec.is_video())
    }

    /// Feeds one sample; returns the segments it completed, as (track, segment).
    pub fn push(
        &mut self,
        track: usize,
        sample: Sample,
    ) -> Result<Vec<(usize, CutSegment)>, PackagerError> {
        let t = self
            .tracks
            .get_mut(track)
            .ok_or(PackagerError::UnknownTrack(track))?;
        if t.spec.is_video() {
            self.push_video(track, sample)
        } else {
            self.push_audio(track, sample)
        }
    }

    fn push_video(
        &mut self,
        track: usize,
        sample: Sample,
    ) -> Result<Vec<(usize, CutSegment)>, PackagerError> {
        let t = &mut self.tracks[track];
        let shift = match t.dts_shift {
            Some(shift) => shift,
            None => {
                if !sample.keyframe {
                    // A stream must start at a keyframe; nothing before it can be decoded.
                    return Ok(Vec::new());
                }
                // Decode time of the first sample becomes its presentation time (never below zero).
                let shift = (sample.pts - sample.dts).max(-sample.dts);
                t.dts_shift = Some(shift);
                shift
            }
        };
        let decode_time = sample.dts + shift;
        if decode_time < 0 {
            return Err(t.spec.bad("decode time before the first sample"));
        }
        let decode_time = decode_time as u64;
        let cts = i32::try_from(sample.pts - decode_time as i64)
            .map_err(|_| t.spec.bad("composition offset out of range"))?;
        let mut placed = Placed {
            decode_time,
            cts,
            duration: sample.duration,
            keyframe: sample.keyframe,
            data: sample.data,
        };
        let mut out = Vec::new();
        if let Some(mut previous) = t.pending.take() {
            if decode_time <= previous.decode_time {
                return Err(t.spec.bad(&format!(
                    "decode times go backwards ({} after {})",
                    decode_time, previous.decode_time
                )));
            }
            previous.duration = u32::try_from(decode_time - previous.decode_time)
                .map_err(|_| t.spec.bad("gap between samples too long"))?;
            t.current.push(previous);
        }
        if placed.keyframe && !t.current.is_empty() {
            let cut_nanos = t.nanos(placed.presentation_time());
            if let Some(segment) = t.cut() {
                out.push((track, segment));
            }
            if self.reference_video() == Some(track) {
                for other in self.tracks.iter_mut().filter(|o| !o.spec.is_video()) {
                    other.cuts.push_back(cut_nanos);
                }
                for index in 0..self.tracks.len() {
                    if !self.tracks[index].spec.is_video() {
                        out.extend(self.apply_audio_cuts(index, false));
                    }
                }
            }
        }
        if placed.duration == 0 {
            placed.duration = 1;
        }
        self.tracks[track].pending = Some(placed);
        Ok(out)
    }

    fn push_audio(
        &mut self,
        track: usize,
        sample: Sample,
    ) -> Result<Vec<(usize, CutSegment)>, PackagerError> {
        let no_video = self.reference_video().is_none();
        let target = self.target_nanos;
        let t = &mut self.tracks[track];
        if sample.duration == 0 {
            return Err(t.spec.bad("audio sample without a duration"));
        }
        let decode_time = match t.next_audio_time {
            Some(time) => time,
            None => sample.pts.max(0) as u64,
        };
        t.next_audio_time = Some(decode_time + u64::from(sample.duration));
        t.current.push(Placed {
            decode_time,
            cts: 0,
            duration: sample.duration,
            keyframe: true,
            data: sample.data,
        });
        if no_video {
            // Cut at every multiple of the target duration.
            let next_cut = u64::from(t.emitted + 1) * target;
            if t.cuts.is_empty() {
                t.cuts.push_back(next_cut);
            }
        }
        Ok(self.apply_audio_cuts(track, false))
    }

    /// Emits the audio segments that the known cuts close. At the end (`finishing`), what is
    /// left after the last cut becomes the final segment.
    fn apply_audio_cuts(&mut self, track: usize, finishing: bool) -> Vec<(usize, CutSegment)> {
        let mut out = Vec::new();
        let t = &mut self.tracks[track];
        while let Some(&cut_nanos) = t.cuts.front() {
            let cut = t.ticks(cut_nanos);
            match t.current.iter().position(|s| s.presentation_time() >= cut) {
                Some(0) => {
                    // Nothing of this track before the cut (a gap in audio): skip the cut.
                    t.cuts.pop_front();
                }
                Some(split) => {
                    let rest = t.current.split_off(split);
                    if let Some(segment) = t.cut() {
                        out.push((track, segment));
                    }
                    t.current = rest;
                    t.cuts.pop_front();
                }
                None => break,
            }
        }
        if finishing && let Some(segment) = t.cut() {
            out.push((track, segment));
        }
        out
    }

    /// Flushes every track's tail; returns the final segments.
    pub fn finish(&mut self) -> Vec<(usize, CutSegment)> {
        let mut out = Vec::new();
        for index in 0..self.tracks.len() {
            let t = &mut self.tracks[index];
            if t.spec.is_video() {
                if let Some(last) = t.pending.take() {
                    t.current.push(last);
                }
                if let Some(segment) = t.cut() {
                    out.push((index, segment));
                }
            }
        }
        for index in 0..self.tracks.len() {
            if !self.tracks[index].spec.is_video() {
                out.extend(self.apply_audio_cuts(index, true));
            }
        }
        out
    }
}
