//! Entry points shared by the cargo-fuzz targets and `tests/fuzz_corpus.rs`.
//! Each must never panic on any input; decoded items are re-encoded and must
//! decode to the same value.

use bytes::{Bytes, BytesMut};

use crate::coding::encode_varint;
use crate::data::{Datagram, DatagramPayload, decode_datagram, encode_datagram_header};
use crate::message::{AuthToken, message_type};
use crate::{ControlReader, DataStreamReader, DecodeError, Limits, Message, Version, draft16};

/// Feed `data` to a [`ControlReader`] of every draft in chunks, and to the control stream codec
/// of drafts 14 and 16 ([`draft16`]); round-trip every message in that draft's shape.
pub fn control_message(data: &[u8]) {
    for version in Version::ALL.into_iter().filter(|v| v.has_request_streams()) {
        control_message_as(data, version);
    }
    for version in [Version::Draft14, Version::Draft16] {
        control_message_16(data, version);
    }
}

/// Decode `data`, arriving in chunks, with [`draft16::decode`]: nothing is consumed until a
/// message is whole; every message decoded re-encodes, and decodes again to the same value.
fn control_message_16(data: &[u8], version: Version) {
    let limits = Limits::default();
    let step = data.first().map_or(1, |b| usize::from(*b % 16) + 1);
    let mut buf = BytesMut::new();
    for chunk in data.chunks(step) {
        buf.extend_from_slice(chunk);
        loop {
            let before = buf.len();
            match draft16::decode(&mut buf, version, &limits) {
                Ok(msg) => {
                    let mut wire = BytesMut::new();
                    draft16::encode(&msg, version, &mut wire).unwrap_or_else(|e| {
                        panic!("decoded {version} message does not encode: {e}")
                    });
                    let again = draft16::decode(&mut wire, version, &limits);
                    assert_eq!(
                        again.as_ref(),
                        Ok(&msg),
                        "re-encoded {version} message differs"
                    );
                    assert!(
                        wire.is_empty(),
                        "re-encoded {version} message has trailing bytes"
                    );
                }
                Err(DecodeError::Short) => {
                    assert_eq!(buf.len(), before, "{version}: Short consumed bytes");
                    break;
                }
                Err(_) => return,
            }
        }
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

/// Drafts 14 and 16: feed `data` to a [`DataStreamReader`] of each in chunks and decode it as
/// one datagram of each; every header, object, fetch entry and datagram decoded is re-encoded
/// in that draft and must decode to the same value.
pub fn data_draft16(data: &[u8]) {
    for version in [Version::Draft14, Version::Draft16] {
        draft16_data::stream(data, version);
        draft16_data::datagram(data, version);
    }
}

mod draft16_data {
    use bytes::Bytes;

    use crate::data::FetchHeader;
    use crate::data::{
        Datagram, DatagramPayload, Decoded, FetchObjectState, SubgroupHeader, SubgroupObject,
        decode_datagram_as, encode_datagram_header_as, encode_subgroup_header_as,
        encode_subgroup_object_header_as,
    };
    use crate::{DataStreamEvent, DataStreamReader, Limits, Version};

    pub(super) fn stream(data: &[u8], version: Version) {
        let limits = Limits {
            max_object_size: 1 << 20,
            max_stream_buffer: 2 << 20,
            ..Limits::default()
        };
        let step = data.first().map_or(1, |b| usize::from(*b % 32) + 1);
        let mut reader = DataStreamReader::with_version(limits, version);
        let mut subgroup: Option<(SubgroupHeader, Option<u64>)> = None;
        let (mut enc, mut dec) = (FetchObjectState::default(), FetchObjectState::default());
        for chunk in data.chunks(step) {
            if reader.push(Bytes::copy_from_slice(chunk)).is_err() {
                return;
            }
            loop {
                let event = match reader.poll() {
                    Ok(Some(event)) => event,
                    Ok(None) => break,
                    Err(_) => return,
                };
                match event {
                    DataStreamEvent::SubgroupHeader(h) => {
                        if let Ok(wire) = encode_subgroup_header_as(&h, version) {
                            let again = SubgroupHeader::decode_as(&mut &wire[..], version);
                            assert_eq!(
                                again,
                                Ok(h),
                                "re-encoded {version} SUBGROUP_HEADER differs"
                            );
                        }
                        subgroup = Some((h, None));
                    }
                    DataStreamEvent::FetchHeader(h) => {
                        let mut wire = Vec::new();
                        if h.encode_as(&mut wire, version).is_ok() {
                            let again = FetchHeader::decode_as(&mut &wire[..], version);
                            assert_eq!(again, Ok(h), "re-encoded {version} FETCH_HEADER differs");
                        }
                    }
                    DataStreamEvent::SubgroupObject { object, .. } => {
                        let Some((h, prev)) = &mut subgroup else {
                            unreachable!("objects follow a header")
                        };
                        if let Ok(wire) =
                            encode_subgroup_object_header_as(h, *prev, &object, version)
                        {
                            let again = SubgroupObject::decode_as(
                                &mut &wire[..],
                                h,
                                *prev,
                                &limits,
                                version,
                            );
                            assert_eq!(
                                again,
                                Ok(Decoded::Model(object.clone())),
                                "re-encoded {version} subgroup object differs"
                            );
                        }
                        *prev = Some(object.object_id);
                    }
                    DataStreamEvent::FetchObject { object, .. } => {
                        if let Ok(wire) = enc.encode_as(&object, version) {
                            let again = dec.decode_as(&mut &wire[..], &limits, version);
                            assert_eq!(
                                again,
                                Ok(Decoded::Model(object)),
                                "re-encoded {version} fetch entry differs"
                            );
                        }
                    }
                    DataStreamEvent::Control | DataStreamEvent::Padding => {
                        unreachable!("no control or padding stream on {version}")
                    }
                }
            }
        }
        let _ = reader.finish();
    }

    pub(super) fn datagram(data: &[u8], version: Version) {
        let limits = Limits::default();
        let decoded = decode_datagram_as(Bytes::copy_from_slice(data), version, &limits);
        if let Ok(Datagram::Object(d)) = decoded
            && let Ok(header) = encode_datagram_header_as(&d, version)
        {
            let mut wire = header.to_vec();
            if let DatagramPayload::Payload(p) = &d.payload {
                wire.extend_from_slice(p);
            }
            let again = decode_datagram_as(wire.into(), version, &limits);
            assert_eq!(
                again,
                Ok(Datagram::Object(d)),
                "re-encoded {version} datagram differs"
            );
        }
    }
}
