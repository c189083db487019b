//! Control messages (draft-18 §10): `Type (vi64), Length (16), Payload`; draft-20 and
//! draft-22 shapes through [`Message::decode_as`] and [`Message::encode_as`].

pub mod codes;
mod fetch;
mod filter;
mod namespace;
mod params;
mod publish;
mod request;
mod setup;
mod subscribe;

pub use fetch::{Fetch, FetchOk, FetchType};
pub use namespace::{
    Namespace, NamespaceDone, PublishNamespace, SubscribeNamespace, SubscribeTracks,
};
pub use params::{
    AuthToken, GroupOrder, Parameter, ParameterValue, Parameters, SubscriptionFilter,
    is_known_parameter, is_known_parameter_in, parameter_type,
};
pub use publish::{Publish, PublishBlocked, PublishDone, PublishOk, PublishStateNotify};
pub use request::{GoAway, MAX_URI_LEN, Redirect, RequestError, RequestOk};
pub use setup::{Setup, setup_option};
pub use subscribe::{RequestUpdate, Subscribe, SubscribeOk, TrackStatus};

use std::io::IoSlice;

use bytes::{Buf, BufMut, BytesMut};

use crate::coding::{DecodeError, EncodeError, MAX_VARINT_LEN, decode_varint, encode_varint};
use crate::{Limits, Version};

macro_rules! messages {
    ($($(#[$doc:meta])* $name:ident = $id:expr,)*) => {
        /// Message type code points (draft-18 §10, Table of Message Types).
        #[allow(non_upper_case_globals)]
        pub mod message_type {
            $(#[allow(missing_docs)] pub const $name: u64 = $id;)*
        }

        /// Every control message draft-18 defines.
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[allow(clippy::large_enum_variant)]
        pub enum Message {
            $($(#[$doc])* $name($name),)*
        }

        impl Message {
            /// The Message Type code.
            pub fn message_type(&self) -> u64 {
                match self {
                    $(Message::$name(_) => $id,)*
                }
            }

            /// The Rust name of the message.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Message::$name(_) => stringify!($name),)*
                }
            }

            /// True for a type draft-18 defines.
            pub fn is_known_type(kind: u64) -> bool {
                Self::is_known_type_in(kind, Version::Draft18)
            }

            /// True for a type `version` defines.
            pub fn is_known_type_in(kind: u64, version: Version) -> bool {
                matches!(kind, $($id)|*)
                    && (kind != message_type::PublishStateNotify || version.has_location_fields())
            }

            fn decode_payload(kind: u64, buf: &mut impl Buf, v: Version) -> Result<Message, DecodeError> {
                match kind {
                    $($id => Ok(Message::$name($name::decode_payload(buf, v)?)),)*
                    other => Err(DecodeError::UnknownMessageType(other)),
                }
            }

            fn encode_payload(&self, buf: &mut impl BufMut, v: Version) -> Result<(), EncodeError> {
                match self {
                    $(Message::$name(m) => m.encode_payload(buf, v),)*
                }
            }
        }

        $(impl From<$name> for Message {
            fn from(m: $name) -> Message {
                Message::$name(m)
            }
        })*
    };
}

messages! {
    /// SETUP (0x2F00), first message on the control stream.
    Setup = 0x2F00,
    /// GOAWAY (0x10).
    GoAway = 0x10,
    /// SUBSCRIBE (0x3).
    Subscribe = 0x3,
    /// SUBSCRIBE_OK (0x4).
    SubscribeOk = 0x4,
    /// PUBLISH (0x1D).
    Publish = 0x1D,
    /// PUBLISH_OK (0x1E).
    PublishOk = 0x1E,
    /// PUBLISH_DONE (0xB).
    PublishDone = 0xB,
    /// FETCH (0x16).
    Fetch = 0x16,
    /// FETCH_OK (0x18).
    FetchOk = 0x18,
    /// TRACK_STATUS (0xD).
    TrackStatus = 0xD,
    /// PUBLISH_NAMESPACE (0x6).
    PublishNamespace = 0x6,
    /// SUBSCRIBE_NAMESPACE (0x50).
    SubscribeNamespace = 0x50,
    /// SUBSCRIBE_TRACKS (0x51).
    SubscribeTracks = 0x51,
    /// NAMESPACE (0x8).
    Namespace = 0x8,
    /// NAMESPACE_DONE (0xE).
    NamespaceDone = 0xE,
    /// PUBLISH_BLOCKED (0xF).
    PublishBlocked = 0xF,
    /// REQUEST_UPDATE (0x2).
    RequestUpdate = 0x2,
    /// REQUEST_OK (0x7).
    RequestOk = 0x7,
    /// REQUEST_ERROR (0x5).
    RequestError = 0x5,
    /// PUBLISH_STATE_NOTIFY (0x22, draft-20 on).
    PublishStateNotify = 0x22,
}

/// Copy up to `out.len()` leading bytes of `buf` without consuming them.
fn peek_prefix(buf: &impl Buf, out: &mut [u8]) -> usize {
    let mut slices = [IoSlice::new(&[]); 8];
    let n = buf.chunks_vectored(&mut slices);
    let mut filled = 0;
    for s in &slices[..n] {
        let take = s.len().min(out.len() - filled);
        out[filled..filled + take].copy_from_slice(&s[..take]);
        filled += take;
        if filled == out.len() {
            break;
        }
    }
    filled
}

/// Parse the `Type, Length` header at the front of `buf` without consuming.
/// Returns (type, payload length, header length).
pub fn peek_header(buf: &impl Buf) -> Result<(u64, usize, usize), DecodeError> {
    peek_type_length(buf, |h| decode_varint(h))
}

/// [`peek_header`] with the Type read by `varint` (RFC 9000 varints on drafts 14 and 16).
pub(crate) fn peek_type_length(
    buf: &impl Buf,
    varint: fn(&mut &[u8]) -> Result<u64, DecodeError>,
) -> Result<(u64, usize, usize), DecodeError> {
    let mut head = [0u8; MAX_VARINT_LEN + 2];
    let n = peek_prefix(buf, &mut head);
    let mut h = &head[..n];
    let kind = varint(&mut h)?;
    if h.len() < 2 {
        return Err(DecodeError::Short);
    }
    let len = usize::from(u16::from_be_bytes([h[0], h[1]]));
    Ok((kind, len, n - h.len() + 2))
}

impl Message {
    /// Decode one framed message from the front of `buf`.
    ///
    /// Returns [`DecodeError::Short`] (consuming nothing) until the whole
    /// message is buffered; an unknown type or a length above
    /// `limits.max_control_message` is refused as soon as the header is seen.
    /// `buf` must expose its bytes through `chunk`/`chunks_vectored`, as
    /// `Bytes`, `BytesMut`, `&[u8]` and `Chain` do.
    pub fn decode(buf: &mut impl Buf, limits: &Limits) -> Result<Message, DecodeError> {
        Self::decode_as(buf, Version::Draft18, limits)
    }

    /// [`Message::decode`] in the shape `version` gives the message on the wire.
    pub fn decode_as(
        buf: &mut impl Buf,
        version: Version,
        limits: &Limits,
    ) -> Result<Message, DecodeError> {
        let (kind, len, header_len) = peek_header(buf)?;
        if !Message::is_known_type_in(kind, version) {
            return Err(DecodeError::UnknownMessageType(kind));
        }
        if len > limits.max_control_message {
            return Err(DecodeError::MessageTooLong {
                len,
                max: limits.max_control_message,
            });
        }
        if buf.remaining() < header_len + len {
            return Err(DecodeError::Short);
        }
        buf.advance(header_len);
        let mut payload = buf.copy_to_bytes(len);
        let mismatch = DecodeError::LengthMismatch { declared: len };
        let msg = Message::decode_payload(kind, &mut payload, version).map_err(|e| match e {
            DecodeError::Short => mismatch.clone(),
            other => other,
        })?;
        if payload.has_remaining() {
            return Err(mismatch);
        }
        Ok(msg)
    }

    /// Append the framed draft-18 message (type, u16 length, payload) to `buf`.
    /// On error `buf` is left as it was.
    pub fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        self.encode_as(Version::Draft18, buf)
    }

    /// [`Message::encode`] in the shape `version` gives the message on the wire.
    pub fn encode_as(&self, version: Version, buf: &mut BytesMut) -> Result<(), EncodeError> {
        if !Message::is_known_type_in(self.message_type(), version) {
            return Err(EncodeError::Invalid(
                "the session's draft has no such message",
            ));
        }
        let start = buf.len();
        encode_varint(self.message_type(), buf);
        let len_at = buf.len();
        buf.put_u16(0);
        if let Err(e) = self.encode_payload(buf, version) {
            buf.truncate(start);
            return Err(e);
        }
        let len = buf.len() - len_at - 2;
        let Ok(len16) = u16::try_from(len) else {
            buf.truncate(start);
            return Err(EncodeError::MessageTooLong(len));
        };
        buf[len_at..len_at + 2].copy_from_slice(&len16.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coding::TrackNamespace;
    use bytes::Bytes;

    fn subscribe() -> Message {
        Message::Subscribe(Subscribe {
            request_id: 2,
            track_namespace: TrackNamespace::from_path("live/demo"),
            track_name: Bytes::from_static(b"video"),
            parameters: Parameters::new(),
        })
    }

    #[test]
    fn short_until_complete_then_decodes() {
        let mut wire = BytesMut::new();
        subscribe().encode(&mut wire).expect("encodes");
        let limits = Limits::default();
        for cut in 0..wire.len() {
            let mut part = &wire[..cut];
            assert_eq!(Message::decode(&mut part, &limits), Err(DecodeError::Short));
            assert_eq!(part.len(), cut, "nothing consumed on Short");
        }
        let mut all = &wire[..];
        assert_eq!(Message::decode(&mut all, &limits), Ok(subscribe()));
        assert!(all.is_empty());
    }

    #[test]
    fn length_mismatch_refused() {
        let mut wire = BytesMut::new();
        subscribe().encode(&mut wire).expect("encodes");
        // Declared length one byte longer, with a stray trailing byte.
        let len = u16::from_be_bytes([wire[1], wire[2]]) + 1;
        wire[1..3].copy_from_slice(&len.to_be_bytes());
        wire.put_u8(0);
        assert!(matches!(
            Message::decode(&mut &wire[..], &Limits::default()),
            Err(DecodeError::LengthMismatch { .. })
        ));
        // Declared length one byte shorter.
        let mut wire = BytesMut::new();
        subscribe().encode(&mut wire).expect("encodes");
        let len = u16::from_be_bytes([wire[1], wire[2]]) - 1;
        wire[1..3].copy_from_slice(&len.to_be_bytes());
        assert!(matches!(
            Message::decode(&mut &wire[..], &Limits::default()),
            Err(DecodeError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn oversize_refused_from_header_alone() {
        let limits = Limits {
            max_control_message: 100,
            ..Limits::default()
        };
        let mut wire = Vec::new();
        encode_varint(message_type::Subscribe, &mut wire);
        wire.extend_from_slice(&1000u16.to_be_bytes());
        assert_eq!(
            Message::decode(&mut &wire[..], &limits),
            Err(DecodeError::MessageTooLong {
                len: 1000,
                max: 100
            })
        );
    }

    #[test]
    fn unknown_type_refused() {
        let mut wire = Vec::new();
        encode_varint(0xa, &mut wire); // UNSUBSCRIBE, removed in draft-17
        wire.extend_from_slice(&0u16.to_be_bytes());
        assert_eq!(
            Message::decode(&mut &wire[..], &Limits::default()),
            Err(DecodeError::UnknownMessageType(0xa))
        );
    }

    #[test]
    fn too_long_payload_is_an_encode_error() {
        let mut p = Parameters::new();
        for i in 0..40u64 {
            p.push(
                0x1001 + 2 * i,
                ParameterValue::Bytes(Bytes::from(vec![0u8; 2000])),
            );
        }
        let msg = Message::RequestUpdate(RequestUpdate {
            request_id: 0,
            parameters: p,
        });
        let mut buf = BytesMut::new();
        assert!(matches!(
            msg.encode(&mut buf),
            Err(EncodeError::MessageTooLong(_))
        ));
        assert!(buf.is_empty());
    }
}
