//! Entry points shared by the cargo-fuzz targets and `tests/fuzz_corpus.rs`.
//! Each must never panic on any input; decoded items are re-encoded and must
//! decode to the same value.

use bytes::{Bytes, BytesMut};

use crate::coding::encode_varint;
use crate::data::{Datagram, DatagramPayload, decode_datagram, encode_datagram_header};
use crate::message::{AuthToken, message_type};
use crate::{ControlReader, DataStreamReader, Limits, Message, Version};

/// Feed `data` to a [`ControlReader`] of every draft in chunks; round-trip every message in
/// that draft's shape.
pub fn control_message(data: &[u8]) {
    for version in Version::ALL {
        control_message_as(data, version);
    }
}

fn control_message_as(data: &[u8], version: Version) {
    let limits = Limits::default();
    let step = data.first().map_or(1, |b| usize::from(*b % 16) + 1);
    let mut reader = ControlReader::with_version(limits, version);
    for chunk in data.chunks(step) {
        if reader.push(chunk).is_err() {
            return;
        }
        loop {
            match reader.pop() {
                Ok(Some(msg)) => {
                    let mut wire = BytesMut::new();
                    if msg.encode_as(version, &mut wire).is_ok() {
                        let again = Message::decode_as(&mut wire, version, &limits);
                        assert_eq!(
                            again.as_ref(),
                            Ok(&msg),
                            "re-encoded {version} message differs"
                        );
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    let _ = reader.finish();
}

/// Feed `data` to a [`DataStreamReader`] in chunks and poll everything.
pub fn data_stream(data: &[u8]) {
    let limits = Limits {
        max_object_size: 1 << 20,
        max_stream_buffer: 2 << 20,
        ..Limits::default()
    };
    let step = data.first().map_or(1, |b| usize::from(*b % 32) + 1);
    let mut reader = DataStreamReader::new(limits);
    for chunk in data.chunks(step) {
        if reader.push(Bytes::copy_from_slice(chunk)).is_err() {
            return;
        }
        loop {
            match reader.poll() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    let _ = reader.finish();
}

/// Decode one datagram; round-trip it when valid.
pub fn datagram(data: &[u8]) {
    let limits = Limits::default();
    if let Ok(Datagram::Object(d)) = decode_datagram(Bytes::copy_from_slice(data), &limits)
        && let Ok(header) = encode_datagram_header(&d)
    {
        let mut wire = header.to_vec();
        if let DatagramPayload::Payload(p) = &d.payload {
            wire.extend_from_slice(p);
        }
        let again = decode_datagram(wire.into(), &limits);
        assert_eq!(
            again,
            Ok(Datagram::Object(d)),
            "re-encoded datagram differs"
        );
    }
}

/// Frame `data` as the payload of a SETUP message (its Setup Options, as a peer sends them
/// first on its control stream), decode it, read every option through its accessor, format it
/// for the log and round-trip it.
pub fn setup(data: &[u8]) {
    let Ok(len) = u16::try_from(data.len()) else {
        return;
    };
    let limits = Limits::default();
    let mut wire = BytesMut::new();
    encode_varint(message_type::Setup, &mut wire);
    wire.extend_from_slice(&len.to_be_bytes());
    wire.extend_from_slice(data);
    let Ok(Message::Setup(setup)) = Message::decode(&mut wire, &limits) else {
        return;
    };
    let _ = (setup.path(), setup.authority(), setup.moqt_implementation());
    let _ = setup.max_auth_token_cache_size();
    for token in setup.authorization_tokens() {
        let token = token.expect("SETUP decoding validated every token");
        assert_eq!(AuthToken::decode(token.to_bytes()).as_ref(), Ok(&token));
    }
    let _ = format!("{setup:?}");
    let msg = Message::Setup(setup);
    let mut again = BytesMut::new();
    if msg.encode(&mut again).is_ok() {
        assert_eq!(
            Message::decode(&mut again, &limits).as_ref(),
            Ok(&msg),
            "re-encoded SETUP differs"
        );
    }
}
