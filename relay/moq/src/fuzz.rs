//! Entry points shared by the cargo-fuzz targets and `tests/fuzz_corpus.rs`.
//! Each must never panic on any input; decoded items are re-encoded and must
//! decode to the same value.

use bytes::{Bytes, BytesMut};

use crate::data::{Datagram, DatagramPayload, decode_datagram, encode_datagram_header};
use crate::{ControlReader, DataStreamReader, Limits, Message};

/// Feed `data` to a [`ControlReader`] in chunks; round-trip every message.
pub fn control_message(data: &[u8]) {
    let limits = Limits::default();
    let step = data.first().map_or(1, |b| usize::from(*b % 16) + 1);
    let mut reader = ControlReader::new(limits);
    for chunk in data.chunks(step) {
        if reader.push(chunk).is_err() {
            return;
        }
        loop {
            match reader.pop() {
                Ok(Some(msg)) => {
                    let mut wire = BytesMut::new();
                    if msg.encode(&mut wire).is_ok() {
                        let again = Message::decode(&mut wire, &limits);
                        assert_eq!(again.as_ref(), Ok(&msg), "re-encoded message differs");
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
