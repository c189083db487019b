//! REQUEST_OK, REQUEST_ERROR (with Redirect) and GOAWAY.

use crate::Version;
use bytes::{Buf, BufMut, Bytes};

use super::Parameters;
use super::codes::RequestErrorCode;
use crate::coding::{
    DecodeError, EncodeError, ReasonPhrase, TrackNamespace, decode_track_name, decode_varint,
    encode_track_name, encode_varint, read_bytes,
};
use crate::data::Properties;

/// Maximum length of a New Session URI / Connect URI.
pub const MAX_URI_LEN: usize = 8192;

fn decode_uri(buf: &mut impl Buf) -> Result<Bytes, DecodeError> {
    let len = decode_varint(buf)?;
    if len > MAX_URI_LEN as u64 {
        return Err(DecodeError::UriTooLong(len));
    }
    read_bytes(buf, len)
}

fn encode_uri(uri: &[u8], buf: &mut impl BufMut) -> Result<(), EncodeError> {
    if uri.len() > MAX_URI_LEN {
        return Err(EncodeError::Invalid("uri longer than 8192 bytes"));
    }
    encode_varint(uri.len() as u64, buf);
    buf.put_slice(uri);
    Ok(())
}

/// REQUEST_OK (0x7); also called PUBLISH_OK, REQUEST_UPDATE_OK,
/// TRACK_STATUS_OK, SUBSCRIBE_NAMESPACE_OK and PUBLISH_NAMESPACE_OK.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestOk {
    /// Parameters.
    pub parameters: Parameters,
    /// Track Properties (only non-empty in TRACK_STATUS_OK).
    pub track_properties: Properties,
}

impl RequestOk {
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

/// A Redirect (present in REQUEST_ERROR when the code is REDIRECT).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redirect {
    /// Connect URI (empty: the current session's URI).
    pub connect_uri: Bytes,
    /// Track Namespace for the redirected request.
    pub track_namespace: TrackNamespace,
    /// Track Name for the redirected request.
    pub track_name: Bytes,
}

/// REQUEST_ERROR (0x5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    /// Error Code.
    pub error_code: RequestErrorCode,
    /// Retry Interval: minimum ms before retrying, plus one (0: do not retry).
    pub retry_interval: u64,
    /// Error Reason.
    pub error_reason: ReasonPhrase,
    /// Redirect; present exactly when `error_code` is REDIRECT.
    pub redirect: Option<Redirect>,
}

impl RequestError {
    pub(crate) fn decode_payload(buf: &mut impl Buf, _: Version) -> Result<Self, DecodeError> {
        let error_code = RequestErrorCode(decode_varint(buf)?);
        let retry_interval = decode_varint(buf)?;
        let error_reason = ReasonPhrase::decode(buf)?;
        let redirect = if error_code == RequestErrorCode::REDIRECT {
            let connect_uri = decode_uri(buf)?;
            let track_namespace = TrackNamespace::decode(buf)?;
            let track_name = decode_track_name(buf, &track_namespace)?;
            Some(Redirect {
                connect_uri,
                track_namespace,
                track_name,
            })
        } else {
            None
        };
        Ok(Self {
            error_code,
            retry_interval,
            error_reason,
            redirect,
        })
    }

    pub(crate) fn encode_payload(
        &self,
        buf: &mut impl BufMut,
        _: Version,
    ) -> Result<(), EncodeError> {
        encode_varint(self.error_code.0, buf);
        encode_varint(self.retry_interval, buf);
        self.error_reason.encode(buf)?;
        match (
            &self.redirect,
            self.error_code == RequestErrorCode::REDIRECT,
        ) {
            (Some(r), true) => {
                encode_uri(&r.connect_uri, buf)?;
                r.track_namespace.encode(buf)?;
                encode_track_name(&r.track_name, &r.track_namespace, buf)
            }
            (None, false) => Ok(()),
            _ => Err(EncodeError::Invalid(
                "Redirect present iff code is REDIRECT",
            )),
        }
    }
}

/// GOAWAY (0x10).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoAway {
    /// New Session URI (empty: reuse the current URI).
    pub new_session_uri: Bytes,
    /// Timeout in ms before the sender closes.
    pub timeout: u64,
    /// Request ID; present only on the control stream, and only up to draft-18.
    pub request_id: Option<u64>,
}

impl GoAway {
    pub(crate) fn decode_payload(buf: &mut impl Buf, v: Version) -> Result<Self, DecodeError> {
        let new_session_uri = decode_uri(buf)?;
        let timeout = decode_varint(buf)?;
        let request_id = if buf.has_remaining() && !v.goaway_without_request_id() {
            Some(decode_varint(buf)?)
        } else {
            None
        };
        Ok(Self {
            new_session_uri,
            timeout,
            request_id,
        })
    }

    pub(crate) fn encode_payload(
        &self,
        buf: &mut impl BufMut,
        v: Version,
    ) -> Result<(), EncodeError> {
        encode_uri(&self.new_session_uri, buf)?;
        encode_varint(self.timeout, buf);
        if let Some(id) = self.request_id
            && !v.goaway_without_request_id()
        {
            encode_varint(id, buf);
        }
        Ok(())
    }
}
