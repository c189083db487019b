//! What can be wrong with a gateway's input. Every variant names the problem in terms a
//! publisher can act on.

/// A media input error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not MPEG-TS packets (no 0x47 sync byte where one belongs).
    #[error("not MPEG-TS: expected the sync byte 0x47 at byte {offset}, found {found:#04x}")]
    LostSync {
        /// Offset of the packet in the input.
        offset: u64,
        /// The byte found there.
        found: u8,
    },
    /// No Program Association Table arrived within the first packets.
    #[error("no PAT (program association table) in the first {packets} packets")]
    NoPat {
        /// Packets read.
        packets: u64,
    },
    /// No Program Map Table arrived for the program the PAT names.
    #[error("no PMT (program map table) on PID {pid} in the first {packets} packets")]
    NoPmt {
        /// The PMT's PID.
        pid: u16,
        /// Packets read.
        packets: u64,
    },
    /// A PSI section (PAT or PMT) is malformed.
    #[error("malformed {table}: {reason}")]
    BadSection {
        /// `PAT` or `PMT`.
        table: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A PES packet is malformed.
    #[error("malformed PES packet on PID {pid}: {reason}")]
    BadPes {
        /// The stream's PID.
        pid: u16,
        /// What was wrong.
        reason: String,
    },
    /// A buffer would grow past its bound.
    #[error("{what} on PID {pid} exceeds the {max}-byte limit")]
    TooLarge {
        /// What was being buffered.
        what: &'static str,
        /// The stream's PID.
        pid: u16,
        /// The bound.
        max: usize,
    },
    /// A stream of the program carries a codec tern does not ingest.
    #[error(
        "unsupported stream type {stream_type:#04x} ({name}) on PID {pid}: tern ingests H.264 (0x1b), H.265 (0x24) and AAC in ADTS (0x0f)"
    )]
    UnsupportedStreamType {
        /// The PMT's stream_type.
        stream_type: u8,
        /// What that type is.
        name: &'static str,
        /// The stream's PID.
        pid: u16,
    },
    /// The program has no stream tern can ingest.
    #[error("the program has no H.264 or AAC stream")]
    NoStreams,
    /// An H.264 keyframe came before any sequence or picture parameter set.
    #[error("H.264 on PID {pid}: {missing} missing before the first keyframe")]
    MissingParameterSets {
        /// The stream's PID.
        pid: u16,
        /// `SPS`, `PPS` or `SPS and PPS`.
        missing: &'static str,
    },
    /// A stream's media never became decodable (no keyframe, no audio frame) while others
    /// waited for it.
    #[error("{what} on PID {pid} after {waited} samples of the other streams")]
    NoConfig {
        /// What never came.
        what: &'static str,
        /// The stream's PID.
        pid: u16,
        /// Samples held meanwhile.
        waited: usize,
    },
    /// A sequence parameter set (H.264 or H.265) could not be read.
    #[error("malformed {codec} SPS: {reason}")]
    BadSps {
        /// `H.264` or `H.265`.
        codec: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// An FLV audio or video tag (an RTMP publisher's media) that tern cannot read.
    #[error("FLV {0}")]
    Flv(String),
    /// An ADTS frame is malformed or unsupported.
    #[error("AAC (ADTS) on PID {pid}: {reason}")]
    BadAdts {
        /// The stream's PID.
        pid: u16,
        /// What was wrong.
        reason: String,
    },
    /// A PES packet without the timestamp tern needs.
    #[error("PES packet on PID {pid} has no PTS")]
    NoTimestamp {
        /// The stream's PID.
        pid: u16,
    },
    /// The input ended before it said what its streams are.
    #[error("the input ended before {0}")]
    Truncated(&'static str),
}
