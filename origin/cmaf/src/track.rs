//! Tracks and samples.

use bytes::Bytes;

use crate::codec::describe;
pub use crate::kind::TrackKind;
use crate::{Error, MediaTime};

/// One media track of an init segment.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackInfo {
    /// Track ID (`tkhd`; fragments name it in `tfhd`).
    pub id: u32,
    /// Audio or video.
    pub kind: TrackKind,
    /// RFC 6381 codec string, e.g. `avc1.64001F`, `mp4a.40.2`, `opus`.
    pub codec: String,
    /// Media timescale (`mdhd`), ticks per second.
    pub timescale: u32,
    /// Coded width (video).
    pub width: u16,
    /// Coded height (video).
    pub height: u16,
    /// Sample rate in Hz (audio).
    pub sample_rate: u32,
    /// Channels (audio).
    pub channels: u16,
    /// Average bitrate when the sample entry declares one.
    pub bitrate: Option<u32>,
    /// The track box as it came, used to write init segments.
    pub trak: mp4_atom::Trak,
    /// The track's fragment defaults (`trex`).
    pub trex: mp4_atom::Trex,
}

impl TrackInfo {
    /// Read a `trak` (and its `trex`, when present). Tracks that are neither audio nor video
    /// (subtitles, timed metadata) are `Ok(None)`.
    pub fn from_trak(
        trak: &mp4_atom::Trak,
        trex: Option<&mp4_atom::Trex>,
    ) -> Result<Option<Self>, Error> {
        let id = trak.tkhd.track_id;
        let handler = trak.mdia.hdlr.handler;
        if handler != b"vide".into() && handler != b"soun".into() {
            return Ok(None);
        }
        let entry = trak
            .mdia
            .minf
            .stbl
            .stsd
            .codecs
            .first()
            .ok_or_else(|| Error::Malformed {
                kind: "stsd".into(),
                reason: format!("track {id} has no sample entry"),
            })?;
        let d = describe(entry).map_err(|codec| Error::UnsupportedCodec { track: id, codec })?;
        Ok(Some(Self {
            id,
            kind: d.kind,
            codec: d.codec,
            timescale: trak.mdia.mdhd.timescale.max(1),
            width: d.width,
            height: d.height,
            sample_rate: d.sample_rate,
            channels: d.channels,
            bitrate: d.bitrate,
            trak: trak.clone(),
            trex: trex.cloned().unwrap_or(mp4_atom::Trex {
                track_id: id,
                default_sample_description_index: 1,
                ..Default::default()
            }),
        }))
    }
}

/// One coded frame of one track, with its timing in the track's timescale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Track ID.
    pub track: u32,
    /// Decode time in `timescale` ticks.
    pub dts: u64,
    /// Duration in ticks.
    pub duration: u32,
    /// Presentation minus decode time, in ticks.
    pub cts_offset: i32,
    /// A sync sample (keyframe): a decoder can start here.
    pub keyframe: bool,
    /// The track's timescale.
    pub timescale: u32,
    /// The coded frame (length-prefixed NAL units for H.264/H.265, a raw frame for audio).
    pub data: Bytes,
}

impl Sample {
    /// Decode time with its timescale.
    pub fn decode_time(&self) -> MediaTime {
        MediaTime::new(self.dts, self.timescale)
    }

    /// `trun` sample flags for this sample: sync samples depend on nothing; others are
    /// non-sync and depend on others.
    pub fn flags(&self) -> u32 {
        if self.keyframe {
            0x0200_0000
        } else {
            0x0101_0000
        }
    }
}
