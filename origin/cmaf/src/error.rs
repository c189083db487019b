//! What can be wrong with media input. Every variant names the problem in terms a publisher can
//! act on.

/// A media input error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ended in the middle of a box.
    #[error("truncated input: the stream ended inside a '{0}' box")]
    Truncated(String),
    /// The input is an MP4 file but not a fragmented one.
    #[error(
        "not a fragmented MP4: {0} (remux with ffmpeg `-movflags cmaf+frag_every_frame+empty_moov+default_base_moof`)"
    )]
    NotFragmented(&'static str),
    /// The input does not look like MP4 at all.
    #[error("not an MP4 stream: it starts with {0:?}, expected an 'ftyp' box")]
    NotMp4(String),
    /// A box could not be decoded.
    #[error("malformed '{kind}' box: {reason}")]
    Malformed {
        /// The box type.
        kind: String,
        /// What was wrong.
        reason: String,
    },
    /// A box is larger than this reader accepts.
    #[error("'{kind}' box of {size} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// The box type.
        kind: String,
        /// Its declared size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// A track uses a codec tern does not package.
    #[error(
        "track {track}: unsupported codec '{codec}' (supported: avc1/avc3, hvc1/hev1, av01, vp08, vp09, mp4a, Opus)"
    )]
    UnsupportedCodec {
        /// Track ID.
        track: u32,
        /// Its sample entry type.
        codec: String,
    },
    /// A video track produced no keyframe within the limit.
    #[error(
        "track {track}: no keyframe in the first {samples} video samples; a broadcast must start groups at keyframes (set ffmpeg `-g`)"
    )]
    NoKeyframe {
        /// Track ID.
        track: u32,
        /// Samples seen.
        samples: u64,
    },
    /// A fragment names a track the init segment did not declare.
    #[error("fragment for track {0}, which the init segment does not declare")]
    UnknownTrack(u32),
    /// Decode times went backwards within a track.
    #[error("track {track}: decode time went back from {from} to {to}")]
    TimeWentBack {
        /// Track ID.
        track: u32,
        /// Previous decode time.
        from: u64,
        /// New decode time.
        to: u64,
    },
    /// The init segment declares no audio or video track.
    #[error("the init segment has no audio or video track")]
    NoTracks,
}
