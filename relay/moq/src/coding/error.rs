//! Decode and encode errors, with the session termination code each maps to.

use crate::message::codes::SessionError;

/// Why a decode failed.
///
/// [`DecodeError::Short`] is not a protocol error: a streaming reader waits for
/// more bytes. Every other variant is a violation by the peer that closes the
/// session with [`DecodeError::wire_code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// More bytes are needed (not an error for a streaming reader).
    #[error("need more bytes")]
    Short,
    /// A control message type that draft-18 does not define.
    #[error("unknown control message type {0:#x}")]
    UnknownMessageType(u64),
    /// A unidirectional stream type that draft-18 does not define.
    #[error("unknown stream type {0:#x}")]
    UnknownStreamType(u64),
    /// A datagram type outside the valid OBJECT_DATAGRAM set.
    #[error("invalid datagram type {0:#x}")]
    InvalidDatagramType(u64),
    /// A control message longer than the configured limit.
    #[error("control message of {len} bytes exceeds the limit of {max}")]
    MessageTooLong {
        /// Declared length.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
    /// The Message Length did not match the bytes the payload needed.
    #[error("control message length {declared} does not match its payload")]
    LengthMismatch {
        /// Declared length.
        declared: usize,
    },
    /// A Key-Value-Pair or parameter type delta overflowed 2^64-1.
    #[error("key-value type delta overflows u64")]
    TypeDeltaOverflow,
    /// A Key-Value-Pair byte value longer than 2^16-1.
    #[error("key-value length {0} exceeds 65535")]
    ValueTooLong(u64),
    /// A known Key-Value-Pair or parameter whose value does not match its
    /// defined serialization (KEY_VALUE_FORMATTING_ERROR).
    #[error("malformed value for key {key:#x}: {what}")]
    KeyValueFormatting {
        /// The parameter, option or property type.
        key: u64,
        /// What was wrong.
        what: &'static str,
    },
    /// More than 32 Track Namespace Fields.
    #[error("track namespace has {0} fields (max 32)")]
    TooManyNamespaceFields(u64),
    /// A Track Namespace Field of length 0.
    #[error("empty track namespace field")]
    EmptyNamespaceField,
    /// Track Namespace or Full Track Name longer than 4096 bytes.
    #[error("full track name of {0} bytes exceeds 4096")]
    TrackNameTooLong(u64),
    /// Reason Phrase longer than 1024 bytes.
    #[error("reason phrase of {0} bytes exceeds 1024")]
    ReasonPhraseTooLong(u64),
    /// A URI longer than 8192 bytes.
    #[error("uri of {0} bytes exceeds 8192")]
    UriTooLong(u64),
    /// A field holding a value outside its defined range.
    #[error("invalid {field}: {value:#x}")]
    InvalidValue {
        /// Spec name of the field.
        field: &'static str,
        /// The received value.
        value: u64,
    },
    /// A computed Group or Object ID went below 0 or above 2^64-1.
    #[error("{0} overflows")]
    IdOverflow(&'static str),
    /// A declared object payload larger than the configured limit.
    #[error("object payload of {len} bytes exceeds the limit of {max}")]
    ObjectTooLarge {
        /// Declared payload length.
        len: u64,
        /// Configured maximum.
        max: u64,
    },
    /// A Properties block longer than the configured limit.
    #[error("properties of {len} bytes exceed the limit of {max}")]
    PropertiesTooLong {
        /// Declared length.
        len: u64,
        /// Configured maximum.
        max: usize,
    },
    /// Properties on an object whose status is not Normal.
    #[error("properties on a non-normal object")]
    PropertiesOnStatus,
    /// A datagram with the PROPERTIES bit and a Properties Length of 0.
    #[error("empty properties with the PROPERTIES bit set")]
    EmptyProperties,
    /// A FETCH object that refers to a prior object that does not exist.
    #[error("fetch object refers to a missing prior {0}")]
    NoPriorObject(&'static str),
    /// Non-zero byte on a padding stream or datagram.
    #[error("non-zero padding")]
    NonZeroPadding,
    /// A stream ended (FIN) in the middle of a header or object.
    #[error("stream ended inside a header or object")]
    TruncatedStream,
    /// Buffered bytes exceed the configured bound.
    #[error("{buffered} buffered bytes exceed the limit of {max}")]
    BufferFull {
        /// Bytes that would be buffered.
        buffered: usize,
        /// Configured maximum.
        max: usize,
    },
}

impl DecodeError {
    /// True for everything except [`DecodeError::Short`].
    pub fn is_protocol_violation(&self) -> bool {
        !matches!(self, DecodeError::Short)
    }

    /// The session termination code for this error (draft-18 §3.4 / IANA).
    pub fn wire_code(&self) -> SessionError {
        match self {
            DecodeError::KeyValueFormatting { .. } => SessionError::KEY_VALUE_FORMATTING_ERROR,
            _ => SessionError::PROTOCOL_VIOLATION,
        }
    }
}

/// Why an encode failed: the value cannot be represented on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// Payload longer than the u16 Message Length allows.
    #[error("control message payload of {0} bytes exceeds 65535")]
    MessageTooLong(usize),
    /// A field violates a draft-18 limit or is inconsistent with another.
    #[error("cannot encode {0}")]
    Invalid(&'static str),
    /// A value above 2^62 - 1 in a field drafts 14 to 16 encode as an RFC 9000 varint.
    #[error("{0} does not fit an RFC 9000 varint")]
    VarintTooLarge(u64),
}
