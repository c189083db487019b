//! `TrackInfo`s built from codec configuration, as the fMP4 demuxer reads them from a `moov`.

use mp4_atom::{
    Audio, Av01, Av1c, Avc1, Dinf, Dops, Dref, Esds, Hdlr, Hvc1, Mdhd, Mdia, Minf, Mp4a, Opus,
    Smhd, Stbl, Stco, Stsd, Tkhd, Trak, Trex, Url, Visual, Vmhd, Vp08, VpcC, esds,
};
use tern_cmaf::{TrackInfo, TrackKind};

use crate::codec::aac::AdtsHeader;
use crate::codec::h264::Sps;
use crate::codec::h265;

/// The timescale of video tracks: MPEG-TS's 90 kHz clock.
pub const VIDEO_TIMESCALE: u32 = 90_000;

fn trak(id: u32, timescale: u32, handler: &[u8; 4], name: &str, minf: Minf, tkhd: Tkhd) -> Trak {
    Trak {
        tkhd: Tkhd {
            track_id: id,
            enabled: true,
            in_movie: true,
            ..tkhd
        },
        mdia: Mdia {
            mdhd: Mdhd {
                timescale,
                language: "und".into(),
                ..Default::default()
            },
            hdlr: Hdlr {
                handler: handler.into(),
                name: name.into(),
            },
            minf,
        },
        ..Default::default()
    }
}

fn minf(codec: mp4_atom::Codec, video: bool) -> Minf {
    Minf {
        vmhd: video.then(Vmhd::default),
        smhd: (!video).then(Smhd::default),
        dinf: Dinf {
            dref: Dref {
                entries: vec![
                    Url {
                        location: String::new(),
                    }
                    .into(),
                ],
            },
        },
        stbl: Stbl {
            stsd: Stsd {
                codecs: vec![codec],
            },
            stco: Some(Stco::default()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn info(trak: Trak) -> TrackInfo {
    let trex = Trex {
        track_id: trak.tkhd.track_id,
        default_sample_description_index: 1,
        ..Default::default()
    };
    TrackInfo::from_trak(&trak, Some(&trex))
        .ok()
        .flatten()
        .expect("a track built here is always described")
}

fn visual(width: u16, height: u16) -> Visual {
    Visual {
        data_reference_index: 1,
        width,
        height,
        horizresolution: 72.into(),
        vertresolution: 72.into(),
        frame_count: 1,
        compressor: "".into(),
        depth: 24,
    }
}

fn video(id: u32, width: u16, height: u16, entry: mp4_atom::Codec) -> TrackInfo {
    let tkhd = Tkhd {
        width: width.into(),
        height: height.into(),
        ..Default::default()
    };
    info(trak(
        id,
        VIDEO_TIMESCALE,
        b"vide",
        "VideoHandler",
        minf(entry, true),
        tkhd,
    ))
}

/// An H.264 track (`avc1`) at 90 kHz from its SPS and PPS.
pub fn h264(id: u32, sps: &Sps, sps_nal: &[u8], pps_nal: &[u8]) -> TrackInfo {
    let (width, height) = (sps.width as u16, sps.height as u16);
    let entry = Avc1 {
        visual: visual(width, height),
        avcc: sps.avcc(sps_nal, pps_nal),
        ..Default::default()
    };
    video(id, width, height, entry.into())
}

/// An H.265 track (`hvc1`: parameter sets in the sample entry only) at 90 kHz from its VPS,
/// SPS and PPS.
pub fn h265(id: u32, sps: &h265::Sps, nals: [&[u8]; 3]) -> TrackInfo {
    let (width, height) = (sps.width as u16, sps.height as u16);
    let [vps_nal, sps_nal, pps_nal] = nals;
    let entry = Hvc1 {
        visual: visual(width, height),
        hvcc: sps.hvcc(vps_nal, sps_nal, pps_nal),
        ..Default::default()
    };
    video(id, width, height, entry.into())
}

/// An AV1 track (`av01` with the publisher's `av1C`) at 90 kHz, `width` x `height` from its
/// sequence header.
pub fn av1(id: u32, width: u16, height: u16, av1c: Av1c) -> TrackInfo {
    let entry = Av01 {
        visual: visual(width, height),
        av1c,
        ..Default::default()
    };
    video(id, width, height, entry.into())
}

/// A VP8 track (`vp08`, with the `vpcC` the VP codec ISO-BMFF binding asks for: profile 0,
/// 8 bits, 4:2:0) at 90 kHz, the RTP clock of video.
pub fn vp8(id: u32, width: u16, height: u16) -> TrackInfo {
    let entry = Vp08 {
        visual: visual(width, height),
        vpcc: VpcC {
            profile: 0,
            level: 10,
            bit_depth: 8,
            chroma_subsampling: 1,
            video_full_range_flag: false,
            color_primaries: 1,
            transfer_characteristics: 1,
            matrix_coefficients: 1,
            codec_initialization_data: Vec::new(),
        },
        btrt: None,
        colr: None,
        pasp: None,
        spatial: None,
    };
    video(id, width, height, entry.into())
}

/// The timescale of Opus tracks: Opus always runs at 48 kHz (RFC 7845).
pub const OPUS_TIMESCALE: u32 = 48_000;

/// An Opus track (`Opus` with its `dOps`, "Encapsulation of Opus in ISO-BMFF") at 48 kHz.
/// `pre_skip` is in 48 kHz samples (312 for libopus at 48 kHz); channel mapping family 0
/// (mono or stereo).
pub fn opus(id: u32, channels: u8, pre_skip: u16) -> TrackInfo {
    let entry = Opus {
        audio: Audio {
            data_reference_index: 1,
            channel_count: u16::from(channels),
            sample_size: 16,
            sample_rate: 48_000u16.into(),
        },
        dops: Dops {
            output_channel_count: channels,
            pre_skip,
            input_sample_rate: OPUS_TIMESCALE,
            output_gain: 0,
            channel_mapping: None,
        },
        btrt: None,
    };
    let mut t = audio(id, OPUS_TIMESCALE, entry.into());
    t.sample_rate = OPUS_TIMESCALE;
    t
}

fn audio(id: u32, rate: u32, entry: mp4_atom::Codec) -> TrackInfo {
    let tkhd = Tkhd {
        alternate_group: 1,
        volume: 1.into(),
        ..Default::default()
    };
    let t = info(trak(
        id,
        rate,
        b"soun",
        "SoundHandler",
        minf(entry, false),
        tkhd,
    ));
    debug_assert_eq!(t.kind, TrackKind::Audio);
    t
}

/// An AAC track (`mp4a`) at its sample rate from an ADTS header.
pub fn aac(id: u32, h: &AdtsHeader) -> TrackInfo {
    let rate = h.sample_rate();
    let entry = Mp4a {
        audio: Audio {
            data_reference_index: 1,
            channel_count: u16::from(h.channels),
            sample_size: 16,
            // 16.16 fixed point: rates above 65535 Hz do not fit (TrackInfo keeps the real one).
            sample_rate: u16::try_from(rate).unwrap_or(0).into(),
        },
        esds: Esds {
            es_desc: esds::EsDescriptor {
                es_id: id as u16,
                depends_on_es_id: None,
                url: None,
                ocr_es_id: None,
                stream_priority: 0,
                dec_config: esds::DecoderConfig {
                    object_type_indication: 0x40,
                    stream_type: 5,
                    dec_specific: Some(h.decoder_specific()),
                    ..Default::default()
                },
                sl_config: esds::SLConfig {},
            },
        },
        btrt: None,
        taic: None,
    };
    let mut t = audio(id, rate, entry.into());
    t.sample_rate = rate;
    t
}
