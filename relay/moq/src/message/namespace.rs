//! PUBLISH_NAMESPACE, NAMESPACE, NAMESPACE_DONE, SUBSCRIBE_NAMESPACE and SUBSCRIBE_TRACKS.

use crate::Version;
use bytes::{Buf, BufMut};

use super::Parameters;
use crate::coding::{DecodeError, EncodeError, TrackNamespace, decode_varint, encode_varint};

/// PUBLISH_NAMESPACE (0x6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishNamespace {
    /// Request ID.
    pub request_id: u64,
    /// Track Namespace.
    pub track_namespace: TrackNamespace,
    /// Parameters.
    pub parameters: Parameters,
}

/// SUBSCRIBE_NAMESPACE (0x50).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscribeNamespace {
    /// Request ID.
    pub request_id: u64,
    /// Track Namespace Prefix (0 to 32 fields).
    pub track_namespace_prefix: TrackNamespace,
    /// Parameters.
    pub parameters: Parameters,
}

/// SUBSCRIBE_TRACKS (0x51).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscribeTracks {
    /// Request ID.
    pub request_id: u64,
    /// Track Namespace Prefix (0 to 32 fields).
    pub track_namespace_prefix: TrackNamespace,
    /// Parameters.
    pub parameters: Parameters,
}

macro_rules! id_namespace_params {
    ($t:ident, $ns:ident) => {
        impl $t {
            pub(crate) fn decode_payload(
                buf: &mut impl Buf,
                v: Version,
            ) -> Result<Self, DecodeError> {
                Ok(Self {
                    request_id: decode_varint(buf)?,
                    $ns: TrackNamespace::decode(buf)?,
                    parameters: Parameters::decode_in(buf, v)?,
                })
            }

            pub(crate) fn encode_payload(
                &self,
                buf: &mut impl BufMut,
                v: Version,
            ) -> Result<(), EncodeError> {
                encode_varint(self.request_id, buf);
                self.$ns.encode(buf)?;
                self.parameters.encode_in(buf, v)
            }
        }
    };
}
id_namespace_params!(PublishNamespace, track_namespace);
id_namespace_params!(SubscribeNamespace, track_namespace_prefix);
id_namespace_params!(SubscribeTracks, track_namespace_prefix);

/// NAMESPACE (0x8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespace {
    /// Track Namespace Suffix (after the SUBSCRIBE_NAMESPACE prefix).
    pub track_namespace_suffix: TrackNamespace,
}

/// NAMESPACE_DONE (0xE).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceDone {
    /// Track Namespace Suffix (after the SUBSCRIBE_NAMESPACE prefix).
    pub track_namespace_suffix: TrackNamespace,
}

macro_rules! suffix_only {
    ($t:ident) => {
        impl $t {
            pub(crate) fn decode_payload(
                buf: &mut impl Buf,
                _: Version,
            ) -> Result<Self, DecodeError> {
                Ok(Self {
                    track_namespace_suffix: TrackNamespace::decode(buf)?,
                })
            }

            pub(crate) fn encode_payload(
                &self,
                buf: &mut impl BufMut,
                _: Version,
            ) -> Result<(), EncodeError> {
                self.track_namespace_suffix.encode(buf)
            }
        }
    };
}
suffix_only!(Namespace);
suffix_only!(NamespaceDone);
