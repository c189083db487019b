//! ControlReader and DataStreamReader: chunking, zero-copy payloads, limits.

use bytes::{Bytes, BytesMut};
use tern_moq::coding::encode_varint;
use tern_moq::data::{
    FetchHeader, FetchObject, FetchObjectHeader, FetchObjectState, ObjectStatus, Properties,
    SubgroupHeader, SubgroupId, SubgroupObject, encode_subgroup_header,
    encode_subgroup_object_header,
};
use tern_moq::message::{GroupOrder, Message, Setup, Subscribe};
use tern_moq::{
    ControlReader, DataStreamEvent, DataStreamReader, DecodeError, Limits, TrackNamespace,
};

fn header() -> SubgroupHeader {
    SubgroupHeader {
        track_alias: 1,
        group_id: 7,
        subgroup_id: SubgroupId::Explicit(2),
        publisher_priority: Some(3),
        has_properties: false,
        end_of_group: true,
        first_object: true,
    }
}

fn object(id: u64, len: u64) -> SubgroupObject {
    SubgroupObject {
        object_id: id,
        properties: Properties::new(),
        payload_length: len,
        object_status: ObjectStatus::Normal,
    }
}

#[test]
fn control_reader_byte_by_byte() {
    let mut wire = BytesMut::new();
    let mut setup = Setup::default();
    setup.set_path("/live");
    Message::Setup(setup.clone())
        .encode(&mut wire)
        .expect("encodes");
    let sub = Message::Subscribe(Subscribe {
        request_id: 0,
        track_namespace: TrackNamespace::from_path("a/b"),
        track_name: Bytes::from_static(b"v"),
        parameters: Default::default(),
    });
    sub.encode(&mut wire).expect("encodes");
    let mut r = ControlReader::new(Limits::default());
    let mut got = Vec::new();
    for b in wire.iter() {
        r.push(&[*b]).expect("fits");
        while let Some(m) = r.pop().expect("valid") {
            got.push(m);
        }
    }
    assert_eq!(got, vec![Message::Setup(setup), sub]);
    assert!(r.finish().is_ok());
}

#[test]
fn payload_in_one_chunk_is_zero_copy() {
    let h = header();
    let payload = Bytes::from(vec![9u8; 1000]);
    let mut chunk = BytesMut::new();
    chunk.extend_from_slice(&encode_subgroup_header(&h));
    chunk.extend_from_slice(
        &encode_subgroup_object_header(&h, None, &object(5, 1000)).expect("obj"),
    );
    chunk.extend_from_slice(&payload);
    let chunk = chunk.freeze();
    let mut r = DataStreamReader::new(Limits::default());
    r.push(chunk.clone()).expect("fits");
    assert_eq!(
        r.poll().expect("ok"),
        Some(DataStreamEvent::SubgroupHeader(h))
    );
    let Some(DataStreamEvent::SubgroupObject {
        object: o,
        payload: p,
    }) = r.poll().expect("ok")
    else {
        panic!("expected an object");
    };
    assert_eq!(o.object_id, 5);
    assert_eq!(p, payload);
    // Zero-copy: the payload points into the received chunk.
    let range = chunk.as_ptr() as usize..chunk.as_ptr() as usize + chunk.len();
    assert!(range.contains(&(p.as_ptr() as usize)));
    assert_eq!(r.poll().expect("ok"), None);
    assert!(r.finish().is_ok());
}

#[test]
fn split_stream_reassembles() {
    let h = header();
    let mut wire = BytesMut::new();
    wire.extend_from_slice(&encode_subgroup_header(&h));
    let mut prev = None;
    for id in [0u64, 1, 4] {
        let len = id * 10 + 3;
        wire.extend_from_slice(
            &encode_subgroup_object_header(&h, prev, &object(id, len)).expect("obj"),
        );
        wire.extend_from_slice(&vec![id as u8; len as usize]);
        prev = Some(id);
    }
    let end = SubgroupObject {
        object_status: ObjectStatus::EndOfGroup,
        ..object(5, 0)
    };
    wire.extend_from_slice(&encode_subgroup_object_header(&h, prev, &end).expect("obj"));
    let wire = wire.freeze();
    for step in [1usize, 2, 3, 7, 64] {
        let mut r = DataStreamReader::new(Limits::default());
        let mut events = Vec::new();
        for c in wire.chunks(step) {
            r.push(Bytes::copy_from_slice(c)).expect("fits");
            while let Some(e) = r.poll().expect("valid") {
                events.push(e);
            }
        }
        assert_eq!(events.len(), 5, "step {step}");
        let DataStreamEvent::SubgroupObject { object: o, payload } = &events[3] else {
            panic!()
        };
        assert_eq!(o.object_id, 4);
        assert_eq!(payload.len(), 43);
        let DataStreamEvent::SubgroupObject { object: o, .. } = &events[4] else {
            panic!()
        };
        assert_eq!(o.object_status, ObjectStatus::EndOfGroup);
        assert!(r.finish().is_ok());
    }
}

#[test]
fn huge_declared_object_refused_before_allocation() {
    let h = header();
    let mut wire = Vec::new();
    wire.extend_from_slice(&encode_subgroup_header(&h));
    encode_varint(0, &mut wire); // object id delta
    encode_varint(1 << 40, &mut wire); // payload length 2^40
    wire.extend_from_slice(&[0u8; 100]);
    let mut r = DataStreamReader::new(Limits::default());
    r.push(Bytes::from(wire)).expect("small chunk fits");
    assert!(matches!(
        r.poll(),
        Ok(Some(DataStreamEvent::SubgroupHeader(_)))
    ));
    assert!(matches!(r.poll(), Err(DecodeError::ObjectTooLarge { len, .. }) if len == 1 << 40));
    assert!(
        r.buffered() < 1 << 20,
        "nothing beyond the received bytes is held"
    );
}

#[test]
fn buffer_is_bounded() {
    let limits = Limits {
        max_stream_buffer: 1024,
        ..Limits::default()
    };
    let mut r = DataStreamReader::new(limits);
    r.push(Bytes::from(vec![0x14u8; 1000])).expect("fits");
    assert!(matches!(
        r.push(Bytes::from(vec![0u8; 100])),
        Err(DecodeError::BufferFull { .. })
    ));
    let mut c = ControlReader::new(Limits {
        max_control_buffer: 10,
        ..Limits::default()
    });
    assert!(c.push(&[0u8; 11]).is_err());
}

#[test]
fn truncated_object_at_fin_is_a_violation() {
    let h = header();
    let mut wire = Vec::new();
    wire.extend_from_slice(&encode_subgroup_header(&h));
    wire.extend_from_slice(&encode_subgroup_object_header(&h, None, &object(0, 10)).expect("obj"));
    wire.extend_from_slice(&[1, 2, 3]);
    let mut r = DataStreamReader::new(Limits::default());
    r.push(Bytes::from(wire)).expect("fits");
    while r.poll().expect("valid").is_some() {}
    assert_eq!(r.finish(), Err(DecodeError::TruncatedStream));
}

#[test]
fn fetch_stream_descending() {
    let mut enc = FetchObjectState::new(GroupOrder::Descending);
    let mut wire = Vec::new();
    FetchHeader { request_id: 4 }.encode(&mut wire);
    let entries = [
        FetchObject::Object(FetchObjectHeader {
            group_id: 9,
            subgroup_id: Some(0),
            object_id: 0,
            publisher_priority: 1,
            properties: Properties::new(),
            payload_length: 2,
        }),
        FetchObject::Object(FetchObjectHeader {
            group_id: 3,
            subgroup_id: Some(0),
            object_id: 1,
            publisher_priority: 1,
            properties: Properties::new(),
            payload_length: 2,
        }),
    ];
    for e in &entries {
        wire.extend_from_slice(&enc.encode(e).expect("encodes"));
        wire.extend_from_slice(b"ok");
    }
    let mut r = DataStreamReader::new(Limits::default());
    r.push(Bytes::from(wire)).expect("fits");
    assert_eq!(
        r.poll().expect("ok"),
        Some(DataStreamEvent::FetchHeader(FetchHeader { request_id: 4 }))
    );
    r.set_fetch_group_order(GroupOrder::Descending);
    for e in &entries {
        let Some(DataStreamEvent::FetchObject { object, payload }) = r.poll().expect("ok") else {
            panic!()
        };
        assert_eq!(&object, e);
        assert_eq!(&payload[..], b"ok");
    }
}

#[test]
fn control_stream_detected() {
    let mut wire = BytesMut::new();
    Message::Setup(Setup::default())
        .encode(&mut wire)
        .expect("encodes");
    let mut r = DataStreamReader::new(Limits::default());
    r.push(wire.freeze()).expect("fits");
    assert_eq!(r.poll().expect("ok"), Some(DataStreamEvent::Control));
    let mut c = r
        .into_control_reader(tern_moq::Version::Draft18)
        .expect("fits");
    assert_eq!(c.pop().expect("ok"), Some(Message::Setup(Setup::default())));
}
