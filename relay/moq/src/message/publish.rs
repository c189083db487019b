//! PUBLISH, PUBLISH_OK, PUBLISH_DONE and PUBLISH_BLOCKED.

use crate::Version;
use bytes::{Buf, BufMut, Bytes};

use super::Parameters;
use super::codes::PublishDoneCode;
use crate::coding::{
    DecodeError, EncodeError, ReasonPhrase, TrackNamespace, decode_track_name, decode_varint,
    encode_track_name, encode_varint,
};
use crate::data::Properties;

/// PUBLISH (0x1D).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Publish {
    /// Request ID.
    pub request_id: u64,
    /// Track Namespace.
    pub track_namespace: TrackNamespace,
    /// Track Name.
    pub track_name: Bytes,
    /// Track Alias.
    pub track_alias: u64,
    /// Parameters.
    pub parameters: Parameters,
    /// Track Properties (rest of the message).
    pub track_properties: Properties,
}

impl Publish {
    pub(crate) fn decode_payload(buf: &mut impl Buf, v: Version) -> Result<Self, DecodeError> {
        let request_id = decode_varint(buf)?;
        let track_namespace = TrackNamespace::decode(buf)?;
        let track_name = decode_track_name(buf, &track_namespace)?;
        let track_alias = decode_varint(buf)?;
        let parameters = Parameters::decode_in(buf, v)?;
        let track_properties = Properties::decode_rest(buf)?;
        Ok(Self {
            request_id,
            track_namespace,
            track_name,
            track_alias,
            parameters,
            track_properties,
        })
    }

    pub(crate) fn encode_payload(
        &self,
        buf: &mut impl BufMut,
        v: Version,
    ) -> Result<(), EncodeError> {
        encode_varint(self.request_id, buf);
        self.track_namespace.encode(buf)?;
        encode_track_name(&self.track_name, &self.track_namespace, buf)?;
        encode_varint(self.track_alias, buf);
        self.parameters.encode_in(buf, v)?;
        buf.put_slice(self.track_properties.raw());
        Ok(())
    }
}

/// PUBLISH_OK (0x1E): listed in draft-18's message table with the REQUEST_OK
/// format (draft-18 otherwise calls a REQUEST_OK answering PUBLISH "PUBLISH_OK").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishOk {
    /// Parameters.
    pub parameters: Parameters,
    /// Track Properties (empty for PUBLISH_OK).
    pub track_properties: Properties,
}

impl PublishOk {
    pub(crate) fn decode_payload(buf: &mut impl Buf, v: Version) -> Result<Self, DecodeError> {
        let parameters = Parameters::decode_in(buf, v)?;
        let track_properties = Properties::decode_rest(buf)?;
        Ok(Self {
            parameters,
            track_properties,
        })
    }

    pub(crate) fn encode_payload(
        &self,
        buf: &mut impl BufMut,
        v: Version,
    ) -> Result<(), EncodeError> {
        self.parameters.encode_in(buf, v)?;
        buf.put_slice(self.track_properties.raw());
        Ok(())
    }
}

/// PUBLISH_DONE (0xB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishDone {
    /// Status Code.
    pub status_code: PublishDoneCode,
    /// Stream Count (2^62-1 when unknown).
    pub stream_count: u64,
    /// Error Reason.
    pub error_reason: ReasonPhrase,
}

impl PublishDone {
    pub(crate) fn decode_payload(buf: &mut impl Buf, _: Version) -> Result<Self, DecodeError> {
        Ok(Self {
            status_code: PublishDoneCode(decode_varint(buf)?),
            stream_count: decode_varint(buf)?,
            error_reason: ReasonPhrase::decode(buf)?,
        })
    }

    pub(crate) fn encode_payload(
        &self,
        buf: &mut impl BufMut,
        _: Version,
    ) -> Result<(), EncodeError> {
        encode_varint(self.status_code.0, buf);
        encode_varint(self.stream_count, buf);
        self.error_reason.encode(buf)
    }
}

/// PUBLISH_BLOCKED (0xF).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishBlocked {
    /// Track Namespace Suffix (after the SUBSCRIBE_TRACKS prefix).
    pub track_namespace_suffix: TrackNamespace,
    /// Track Name.
    pub track_name: Bytes,
}

impl PublishBlocked {
    pub(crate) fn decode_payload(buf: &mut impl Buf, _: Version) -> Result<Self, DecodeError> {
        let track_namespace_suffix = TrackNamespace::decode(buf)?;
        let track_name = decode_track_name(buf, &track_namespace_suffix)?;
        Ok(Self {
            track_namespace_suffix,
            track_name,
        })
    }

    pub(crate) fn encode_payload(
        &self,
        buf: &mut impl BufMut,
        _: Version,
    ) -> Result<(), EncodeError> {
        self.track_namespace_suffix.encode(buf)?;
        encode_track_name(&self.track_name, &self.track_namespace_suffix, buf)
    }
}

/// PUBLISH_STATE_NOTIFY (0x22, draft-20 on): the publisher's unilateral report, on a
/// subscription's stream, that the subscription's state changed (the parameters that did).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishStateNotify {
    /// The parameters whose values changed.
    pub parameters: Parameters,
}

impl PublishStateNotify {
    pub(crate) fn decode_payload(buf: &mut impl Buf, v: Version) -> Result<Self, DecodeError> {
        Ok(Self {
            parameters: Parameters::decode_in(buf, v)?,
        })
    }

    pub(crate) fn encode_payload(
        &self,
        buf: &mut impl BufMut,
        v: Version,
    ) -> Result<(), EncodeError> {
        self.parameters.encode_in(buf, v)
    }
}
