//! What the packager is told about each track (its codec and timescale) and the samples it is fed.

use bytes::Bytes;

use crate::PackagerError;

/// The codec of one track, with the configuration a decoder needs before the first sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Codec {
    /// H.264 in `avc1` sample entries: length-prefixed NAL units, parameter sets out of band.
    H264 {
        /// The AVCDecoderConfigurationRecord (`avcC` body), as GStreamer's `codec_data`.
        avcc: Vec<u8>,
        /// Coded picture width in pixels.
        width: u32,
        /// Coded picture height in pixels.
        height: u32,
        /// Frame rate as numerator and denominator (30000/1001 for 29.97).
        frame_rate: (u32, u32),
    },
    /// AAC in `mp4a` sample entries.
    Aac {
        /// The AudioSpecificConfig, as GStreamer's `codec_data`.
        asc: Vec<u8>,
        /// Samples per second.
        sample_rate: u32,
        /// Channel count.
        channels: u16,
    },
}

/// One track to package: one rendition in the manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackSpec {
    /// Directory name of the rendition (`720p`, `audio`); also its id in the manifests.
    pub name: String,
    /// Ticks per second of this track's timestamps.
    pub timescale: u32,
    /// Codec and decoder configuration.
    pub codec: Codec,
}

impl TrackSpec {
    /// True for video tracks.
    pub fn is_video(&self) -> bool {
        matches!(self.codec, Codec::H264 { .. })
    }

    /// The RFC 6381 codec string for HLS `CODECS` and DASH `codecs`: `avc1.64001f`, `mp4a.40.2`.
    pub fn codec_string(&self) -> Result<String, PackagerError> {
        match &self.codec {
            Codec::H264 { avcc, .. } => {
                if avcc.len() < 4 || avcc[0] != 1 {
                    return Err(self.bad("avcC record is too short or not version 1"));
                }
                Ok(format!(
                    "avc1.{:02x}{:02x}{:02x}",
                    avcc[1], avcc[2], avcc[3]
                ))
            }
            Codec::Aac { asc, .. } => {
                let object_type = asc.first().map(|b| b >> 3).unwrap_or(0);
                if object_type == 0 || object_type == 31 {
                    return Err(self.bad("AudioSpecificConfig has no usable object type"));
                }
                Ok(format!("mp4a.40.{object_type}"))
            }
        }
    }

    pub(crate) fn bad(&self, message: &str) -> PackagerError {
        PackagerError::BadTrack {
            track: self.name.clone(),
            message: message.to_string(),
        }
    }
}

/// One encoded access unit, timestamps in the track's timescale.
///
/// Timestamps may be negative (encoder delay, audio priming); the packager moves them so that
/// decode times start at zero without moving presentation times of video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Presentation time.
    pub pts: i64,
    /// Decode time (equal to `pts` for audio and for video without B-frames).
    pub dts: i64,
    /// Duration in ticks; used for the last sample of a track, others take the gap to the next.
    pub duration: u32,
    /// True when decoding can start here (an IDR picture); always true for audio.
    pub keyframe: bool,
    /// The payload: length-prefixed NAL units for H.264, one raw AAC frame for audio.
    pub data: Bytes,
}

/// Converts nanoseconds to ticks of `timescale`, rounding to the nearest tick.
pub fn ticks_from_nanos(nanos: i64, timescale: u32) -> i64 {
    let scaled = i128::from(nanos) * i128::from(timescale);
    let rounded = if scaled >= 0 {
        (scaled + 500_000_000) / 1_000_000_000
    } else {
        (scaled - 500_000_000) / 1_000_000_000
    };
    rounded as i64
}

/// A timescale in which every frame of `frame_rate` lasts a whole number of ticks.
///
/// 90 kHz when it divides evenly (24, 25, 29.97, 30, 50, 59.94, 60 fps); otherwise the rate's
/// numerator scaled up to at least 10,000 ticks per second.
pub fn video_timescale(frame_rate: (u32, u32)) -> u32 {
    let (num, den) = (
        u64::from(frame_rate.0.max(1)),
        u64::from(frame_rate.1.max(1)),
    );
    if (90_000 * den) % num == 0 {
        return 90_000;
    }
    let mut timescale = num;
    while timescale < 10_000 {
        timescale *= 10;
    }
    u32::try_from(timescale).unwrap_or(90_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timescales_give_whole_frames() {
        for rate in [
            (24, 1),
            (25, 1),
            (30000, 1001),
            (30, 1),
            (60, 1),
            (24000, 1001),
            (7, 1),
        ] {
            let ts = video_timescale(rate);
            assert_eq!(
                (u64::from(ts) * u64::from(rate.1)) % u64::from(rate.0),
                0,
                "{rate:?} in {ts}"
            );
        }
        assert_eq!(video_timescale((30000, 1001)), 90_000);
        assert_eq!(video_timescale((24000, 1001)), 24_000);
    }

    #[test]
    fn nanos_round_to_nearest_tick() {
        assert_eq!(ticks_from_nanos(33_366_666, 90_000), 3003);
        assert_eq!(ticks_from_nanos(-21_333_333, 48_000), -1024);
        assert_eq!(ticks_from_nanos(0, 48_000), 0);
    }

    #[test]
    fn codec_strings() {
        let video = TrackSpec {
            name: "720p".into(),
            timescale: 90_000,
            codec: Codec::H264 {
                avcc: vec![1, 0x64, 0x00, 0x1f, 0xff],
                width: 1280,
                height: 720,
                frame_rate: (30, 1),
            },
        };
        assert_eq!(video.codec_string().expect("codec"), "avc1.64001f");
        let audio = TrackSpec {
            name: "audio".into(),
            timescale: 48_000,
            codec: Codec::Aac {
                asc: vec![0x11, 0x90],
                sample_rate: 48_000,
                channels: 2,
            },
        };
        assert_eq!(audio.codec_string().expect("codec"), "mp4a.40.2");
        let broken = TrackSpec {
            codec: Codec::H264 {
                avcc: vec![],
                width: 1,
                height: 1,
                frame_rate: (1, 1),
            },
            ..video
        };
        assert!(broken.codec_string().is_err());
    }
}
