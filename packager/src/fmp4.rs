//! CMAF boxes: the init segment (`ftyp` + `moov`) and media segments (`styp` + `moof` + `mdat`),
//! one track per file, encoded with `mp4-atom`.

use mp4_atom::{
    Atom, Audio, Avc1, Avcc, Btrt, Codec as Mp4Codec, Dinf, Dref, DrefEntry, Encode, Esds,
    FixedPoint, FourCC, Ftyp, Hdlr, Mdat, Mdhd, Mdia, Mfhd, Minf, Moof, Moov, Mp4a, Mvex, Mvhd,
    Smhd, Stbl, Stsd, Styp, Tfdt, Tfhd, Tkhd, Traf, Trak, Trex, Trun, TrunEntry, Url, Visual, Vmhd,
};

use mp4_atom::esds::{DecoderConfig, DecoderSpecific, EsDescriptor};

use crate::PackagerError;
use crate::track::{Codec, TrackSpec};

/// Sample flags of a sync sample: depends on no other picture.
pub const FLAGS_SYNC: u32 = 0x0200_0000;
/// Sample flags of a non-sync sample: depends on others, `sample_is_non_sync_sample` set.
pub const FLAGS_NON_SYNC: u32 = 0x0101_0000;

/// The track id inside every file (CMAF: one track per file).
pub const TRACK_ID: u32 = 1;

/// One sample as it goes into a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentSample {
    /// Duration in ticks.
    pub duration: u32,
    /// Composition offset: presentation time minus decode time (signed, `trun` version 1).
    pub cts: i32,
    /// Sync sample.
    pub keyframe: bool,
    /// Payload.
    pub data: bytes::Bytes,
}

fn brands(list: &[&[u8; 4]]) -> Vec<FourCC> {
    list.iter().map(|b| FourCC::new(b)).collect()
}

/// Encodes the init segment of one track.
pub fn init_segment(
    spec: &TrackSpec,
    max_bitrate: u32,
    avg_bitrate: u32,
) -> Result<Vec<u8>, PackagerError> {
    let ftyp = Ftyp {
        major_brand: FourCC::new(b"cmf2"),
        minor_version: 0,
        compatible_brands: brands(&[b"cmf2", b"cmfc", b"iso6", b"isom", b"mp41", b"dash"]),
    };
    let btrt = Some(Btrt {
        buffer_size_db: 0,
        max_bitrate,
        avg_bitrate,
    });
    let (handler, minf_header, codec, width, height) = match &spec.codec {
        Codec::H264 {
            avcc,
            width,
            height,
            ..
        } => {
            let avcc = Avcc::decode_body(&mut avcc.as_slice())
                .map_err(|e| spec.bad(&format!("unreadable avcC: {e}")))?;
            let (w, h) = (
                u16::try_from(*width).map_err(|_| spec.bad("width too large"))?,
                u16::try_from(*height).map_err(|_| spec.bad("height too large"))?,
            );
            let entry = Avc1 {
                visual: Visual {
                    data_reference_index: 1,
                    width: w,
                    height: h,
                    ..Default::default()
                },
                avcc,
                btrt,
                ..Default::default()
            };
            (
                b"vide",
                Minf {
                    vmhd: Some(Vmhd::default()),
                    ..Default::default()
                },
                Mp4Codec::Avc1(entry),
                w,
                h,
            )
        }
        Codec::Aac {
            asc,
            sample_rate,
            channels,
        } => {
            if asc.len() < 2 {
                return Err(spec.bad("AudioSpecificConfig is shorter than two bytes"));
            }
            let entry = Mp4a {
                audio: Audio {
                    data_reference_index: 1,
                    channel_count: *channels,
                    sample_size: 16,
                    sample_rate: FixedPoint::new(u16::try_from(*sample_rate).unwrap_or(0), 0),
                },
                esds: Esds {
                    es_desc: EsDescriptor {
                        es_id: 1,
                        dec_config: DecoderConfig {
                            object_type_indication: 0x40, // MPEG-4 audio
                            stream_type: 0x05,            // audio stream
                            up_stream: 0,
                            buffer_size_db: Default::default(),
                            max_bitrate,
                            avg_bitrate,
                            dec_specific: Some(DecoderSpecific {
                                profile: asc[0] >> 3,
                                freq_index: ((asc[0] & 0x07) << 1) | (asc[1] >> 7),
                                chan_conf: (asc[1] >> 3) & 0x0f,
                                raw: asc.clone(),
                            }),
                        },
                        ..Default::default()
                    },
                },
                btrt,
                taic: None,
            };
            (
                b"soun",
                Minf {
                    smhd: Some(Smhd::default()),
                    ..Default::default()
                },
                Mp4Codec::Mp4a(entry),
                0,
                0,
            )
        }
    };
    let is_video = spec.is_video();
    let minf = Minf {
        dinf: Dinf {
            dref: Dref {
                entries: vec![DrefEntry::Url(Url::default())],
            },
        },
        stbl: Stbl {
            stsd: Stsd {
                codecs: vec![codec],
            },
            ..Default::default()
        },
        ..minf_header
    };
    let moov = Moov {
        mvhd: Mvhd {
            timescale: 1000,
            rate: FixedPoint::new(1, 0),
            volume: FixedPoint::new(1, 0),
            next_track_id: TRACK_ID + 1,
            ..Default::default()
        },
        mvex: Some(Mvex {
            mehd: None,
            trex: vec![Trex {
                track_id: TRACK_ID,
                default_sample_description_index: 1,
                ..Default::default()
            }],
        }),
        trak: vec![Trak {
            tkhd: Tkhd {
                track_id: TRACK_ID,
                enabled: true,
                in_movie: true,
                alternate_group: if is_video { 0 } else { 1 },
                volume: if is_video {
                    FixedPoint::default()
                } else {
                    FixedPoint::new(1, 0)
                },
                width: FixedPoint::new(width, 0),
                height: FixedPoint::new(height, 0),
                ..Default::default()
            },
            mdia: Mdia {
                mdhd: Mdhd {
                    timescale: spec.timescale,
                    language: "und".to_string(),
                    ..Default::default()
                },
                hdlr: Hdlr {
                    handler: FourCC::new(handler),
                    name: if is_video {
                        "Lectern video"
                    } else {
                        "Lectern audio"
                    }
                    .to_string(),
                },
                minf,
            },
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut out = Vec::new();
    ftyp.encode(&mut out)?;
    moov.encode(&mut out)?;
    Ok(out)
}

/// Encodes one media segment: `styp`, one `moof` with `tfdt` and a version-1 `trun`, `mdat`.
pub fn media_segment(
    sequence_number: u32,
    base_media_decode_time: u64,
    samples: &[FragmentSample],
) -> Result<Vec<u8>, PackagerError> {
    let styp = Styp {
        major_brand: FourCC::new(b"msdh"),
        minor_version: 0,
        compatible_brands: brands(&[b"msdh", b"msix", b"cmfs", b"cmf2", b"iso6"]),
    };
    let entries: Vec<TrunEntry> = samples
        .iter()
        .map(|s| TrunEntry {
            duration: Some(s.duration),
            size: Some(s.data.len() as u32),
            flags: Some(if s.keyframe {
                FLAGS_SYNC
            } else {
                FLAGS_NON_SYNC
            }),
            cts: Some(i64::from(s.cts)),
        })
        .collect();
    let mut moof = Moof {
        mfhd: Mfhd { sequence_number },
        traf: vec![Traf {
            tfhd: Tfhd {
                track_id: TRACK_ID,
                default_base_is_moof: true,
                ..Default::default()
            },
            tfdt: Some(Tfdt {
                base_media_decode_time,
            }),
            trun: vec![Trun {
                data_offset: Some(0),
                samples: entries.into(),
            }],
            ..Default::default()
        }],
    };
    // The data offset counts from the start of moof to the first payload byte in mdat; the
    // moof's size does not depend on the offset's value, so encode once to learn it.
    let mut sized = Vec::new();
    moof.encode(&mut sized)?;
    let offset = i32::try_from(sized.len() + 8).map_err(|_| PackagerError::TooLarge)?;
    moof.traf[0].trun[0].data_offset = Some(offset);

    let payload_len: usize = samples.iter().map(|s| s.data.len()).sum();
    let mut data = Vec::with_capacity(payload_len);
    for s in samples {
        data.extend_from_slice(&s.data);
    }
    let mut out = Vec::with_capacity(payload_len + sized.len() + 64);
    styp.encode(&mut out)?;
    moof.encode(&mut out)?;
    Mdat { data }.encode(&mut out)?;
    Ok(out)
}
