//! SUBSCRIBE, SUBSCRIBE_OK, TRACK_STATUS and REQUEST_UPDATE.

use crate::Version;
use bytes::{Buf, BufMut, Bytes};

use super::Parameters;
use crate::coding::{
    DecodeError, EncodeError, TrackNamespace, decode_track_name, decode_varint, encode_track_name,
    encode_varint,
};
use crate::data::Properties;

/// SUBSCRIBE (0x3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscribe {
    /// Request ID.
    pub request_id: u64,
    /// Track Namespace.
    pub track_namespace: TrackNamespace,
    /// Track Name.
    pub track_name: Bytes,
    /// Parameters.
    pub parameters: Parameters,
}

impl Subscribe {
    pub(crate) fn decode_payload(buf: &mut impl Buf, v: Version) -> Result<Self, DecodeError> {
        let request_id = decode_varint(buf)?;
        let track_namespace = TrackNamespace::decode(buf)?;
        let track_name = decode_track_name(buf, &track_namespace)?;
        let parameters = Parameters::decode_in(buf, v)?;
        Ok(Self {
            request_id,
            track_namespace,
            track_name,
            parameters,
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
        self.parameters.encode_in(buf, v)
    }
}

/// TRACK_STATUS (0xD): the SUBSCRIBE format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackStatus {
    /// Request ID.
    pub request_id: u64,
    /// Track Namespace.
    pub track_namespace: TrackNamespace,
    /// Track Name.
    pub track_name: Bytes,
    /// Parameters.
    pub parameters: Parameters,
}

impl TrackStatus {
    pub(crate) fn decode_payload(buf: &mut impl Buf, v: Version) -> Result<Self, DecodeError> {
        let s = Subscribe::decode_payload(buf, v)?;
        Ok(Self {
            request_id: s.request_id,
            track_namespace: s.track_namespace,
            track_name: s.track_name,
            parameters: s.parameters,
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
        self.parameters.encode_in(buf, v)
    }
}

/// SUBSCRIBE_OK (0x4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscribeOk {
    /// Track Alias used in data streams and datagrams.
    pub track_alias: u64,
    /// Parameters.
    pub parameters: Parameters,
    /// Track Properties (rest of the message).
    pub track_properties: Properties,
}

impl SubscribeOk {
    pub(crate) fn decode_payload(buf: &mut impl Buf, v: Version) -> Result<Self, DecodeError> {
        let track_alias = decode_varint(buf)?;
        let parameters = Parameters::decode_in(buf, v)?;
        let track_properties = Properties::decode_rest(buf)?;
        Ok(Self {
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
        encode_varint(self.track_alias, buf);
        self.parameters.encode_in(buf, v)?;
        buf.put_slice(self.track_properties.raw());
        Ok(())
    }
}

/// REQUEST_UPDATE (0x2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestUpdate {
    /// Request ID (a new one; the stream identifies the updated request).
    pub request_id: u64,
    /// Parameters.
    pub parameters: Parameters,
}

impl RequestUpdate {
    pub(crate) fn decode_payload(buf: &mut impl Buf, v: Version) -> Result<Self, DecodeError> {
        Ok(Self {
            request_id: decode_varint(buf)?,
            parameters: Parameters::decode_in(buf, v)?,
        })
    }

    pub(crate) fn encode_payload(
        &self,
        buf: &mut impl BufMut,
        v: Version,
    ) -> Result<(), EncodeError> {
        encode_varint(self.request_id, buf);
        self.parameters.encode_in(buf, v)
    }
}
