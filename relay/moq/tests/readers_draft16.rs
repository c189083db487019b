//! DataStreamReader on drafts 14 and 16: whole streams in any chunking, truncation, stream
//! types, and the fuzz entry point over seeded mutations of valid streams and datagrams.

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tern_moq::coding::{KeyValuePairs, KvpValue, encode_quic_varint, encode_varint};
use tern_moq::data::{
    DatagramPayload, FetchHeader, FetchObject, FetchObjectHeader, FetchObjectState, ObjectDatagram,
    ObjectStatus, Properties, SubgroupHeader, SubgroupId, SubgroupObject,
    encode_datagram_header_as, encode_subgroup_header_as, encode_subgroup_object_header_as,
};
use tern_moq::reader::peek_stream_type_as;
use tern_moq::{DataStreamEvent, DataStreamReader, DecodeError, Limits, Location, Version};

const BOTH: [Version; 2] = [Version::Draft14, Version::Draft16];

fn header(v: Version) -> SubgroupHeader {
    SubgroupHeader {
        track_alias: 1,
        group_id: 7,
        subgroup_id: SubgroupId::Explicit(2),
        publisher_priority: (v == Version::Draft14).then_some(3),
        has_properties: true,
        end_of_group: true,
        first_object: false,
    }
}

fn properties() -> Properties {
    let mut k = KeyValuePairs::new();
    k.push(0x3C, KvpValue::Varint(2));
    k.push(0x4D, KvpValue::Bytes(Bytes::from_static(b"trace")));
    Properties::from_pairs(k).expect("valid")
}

/// A subgroup stream of `v`: header, three objects with payloads, an End of Group.
fn subgroup_stream(v: Version) -> (Vec<u8>, Vec<DataStreamEvent>) {
    let h = header(v);
    let mut wire = encode_subgroup_header_as(&h, v).expect("header").to_vec();
    let mut events = vec![DataStreamEvent::SubgroupHeader(h)];
    let mut prev = None;
    for (id, len) in [(0u64, 5usize), (1, 0), (4, 300)] {
        let object = SubgroupObject {
            object_id: id,
            properties: if id == 1 {
                Properties::new()
            } else {
                properties()
            },
            payload_length: len as u64,
            object_status: ObjectStatus::Normal,
        };
        wire.extend_from_slice(
            &encode_subgroup_object_header_as(&h, prev, &object, v).expect("object"),
        );
        let payload: Bytes = (0..len).map(|i| i as u8).collect::<Vec<_>>().into();
        wire.extend_from_slice(&payload);
        events.push(DataStreamEvent::SubgroupObject { object, payload });
        prev = Some(id);
    }
    let end = SubgroupObject {
        object_id: 5,
        object_status: ObjectStatus::EndOfGroup,
        ..SubgroupObject::default()
    };
    wire.extend_from_slice(&encode_subgroup_object_header_as(&h, prev, &end, v).expect("end"));
    events.push(DataStreamEvent::SubgroupObject {
        object: end,
        payload: Bytes::new(),
    });
    (wire, events)
}

fn read_all(wire: &[u8], v: Version, step: usize) -> Vec<DataStreamEvent> {
    let mut r = DataStreamReader::with_version(Limits::default(), v);
    let mut got = Vec::new();
    for chunk in wire.chunks(step) {
        r.push(Bytes::copy_from_slice(chunk)).expect("fits");
        while let Some(e) = r.poll().expect("valid") {
            got.push(e);
        }
    }
    assert_eq!(r.finish(), Ok(()));
    got
}

#[test]
fn subgroup_streams_in_any_chunking() {
    for v in BOTH {
        let (wire, events) = subgroup_stream(v);
        for step in [1, 2, 3, 7, 64, wire.len()] {
            assert_eq!(read_all(&wire, v, step), events, "{v} step {step}");
        }
    }
}

#[test]
fn truncation_is_short_and_consumes_nothing() {
    for v in BOTH {
        let (wire, _) = subgroup_stream(v);
        let header_len = encode_subgroup_header_as(&header(v), v)
            .expect("header")
            .len();
        for cut in 1..header_len {
            let mut r = DataStreamReader::with_version(Limits::default(), v);
            r.push(Bytes::copy_from_slice(&wire[..cut])).expect("fits");
            assert_eq!(r.poll(), Ok(None), "{v} cut {cut}");
            assert_eq!(r.buffered(), cut, "nothing consumed");
            assert_eq!(r.finish(), Err(DecodeError::TruncatedStream));
        }
        // Inside the first object's header: the stream header is read, the rest waits.
        let mut r = DataStreamReader::with_version(Limits::default(), v);
        r.push(Bytes::copy_from_slice(&wire[..header_len + 3]))
            .expect("fits");
        assert!(matches!(
            r.poll(),
            Ok(Some(DataStreamEvent::SubgroupHeader(_)))
        ));
        assert_eq!(r.poll(), Ok(None));
        assert_eq!(r.buffered(), 3);
        assert_eq!(r.finish(), Err(DecodeError::TruncatedStream));
    }
}

#[test]
fn draft14_object_does_not_exist_is_left_out() {
    let v = Version::Draft14;
    let h = header(v);
    let mut wire = encode_subgroup_header_as(&h, v).expect("header").to_vec();
    // Object 0 does not exist (delta 0, no extensions, length 0, status 0x1) ...
    wire.extend_from_slice(&[0, 0, 0, 1]);
    // ... object 1 (delta 0 from 0) does.
    let one = SubgroupObject {
        object_id: 1,
        payload_length: 2,
        ..SubgroupObject::default()
    };
    wire.extend_from_slice(&encode_subgroup_object_header_as(&h, Some(0), &one, v).expect("obj"));
    wire.extend_from_slice(b"hi");
    assert_eq!(
        read_all(&wire, v, 1),
        vec![
            DataStreamEvent::SubgroupHeader(h),
            DataStreamEvent::SubgroupObject {
                object: one,
                payload: Bytes::from_static(b"hi")
            }
        ]
    );
    // Many of them in one chunk (the reader loops; it does not recurse per object).
    let mut many = encode_subgroup_header_as(&h, v).expect("header").to_vec();
    for _ in 0..100_000 {
        many.extend_from_slice(&[0, 0, 0, 1]);
    }
    assert_eq!(read_all(&many, v, many.len()).len(), 1);
}

/// Draft-14, Subgroup ID = first Object ID, and the first object does not exist: the header
/// names the Subgroup ID, since the first object read is another.
#[test]
fn draft14_first_object_subgroup_id_survives_an_omitted_first_object() {
    let v = Version::Draft14;
    let mut h = header(v);
    h.subgroup_id = SubgroupId::FirstObject;
    h.has_properties = false;
    let mut wire = encode_subgroup_header_as(&h, v).expect("header").to_vec();
    let header_len = wire.len();
    wire.extend_from_slice(&[5, 0, 1]); // Object 5 does not exist.
    let six = SubgroupObject {
        object_id: 6,
        payload_length: 1,
        ..SubgroupObject::default()
    };
    wire.extend_from_slice(&encode_subgroup_object_header_as(&h, Some(5), &six, v).expect("obj"));
    wire.push(0xAA);
    let named = SubgroupHeader {
        subgroup_id: SubgroupId::Explicit(5),
        ..h
    };
    for step in [1, 2, wire.len()] {
        assert_eq!(
            read_all(&wire, v, step),
            vec![
                DataStreamEvent::SubgroupHeader(named),
                DataStreamEvent::SubgroupObject {
                    object: six.clone(),
                    payload: Bytes::from_static(&[0xAA])
                }
            ]
        );
    }
    // A first object that exists leaves the header as sent.
    let mut plain = wire[..header_len].to_vec();
    plain.extend_from_slice(&[5, 1, 0xAA]);
    assert_eq!(
        read_all(&plain, v, 1)[0],
        DataStreamEvent::SubgroupHeader(h)
    );
    // The header alone, then FIN: not truncated.
    let mut r = DataStreamReader::with_version(Limits::default(), v);
    r.push(Bytes::copy_from_slice(&wire[..header_len]))
        .expect("fits");
    assert_eq!(r.poll(), Ok(None));
    assert_eq!(r.finish(), Ok(()));
}

#[test]
fn fetch_streams() {
    let entries = |v: Version| {
        let o = |g, s, id, len| {
            FetchObject::Object(FetchObjectHeader {
                group_id: g,
                subgroup_id: s,
                object_id: id,
                publisher_priority: 9,
                properties: if id == 0 {
                    properties()
                } else {
                    Properties::new()
                },
                payload_length: len,
            })
        };
        let mut e = vec![
            o(3, Some(0), 0, 4),
            o(3, Some(0), 1, 0),
            o(4, Some(2), 0, 2),
        ];
        if v == Version::Draft16 {
            e.push(FetchObject::EndOfNonExistentRange(Location::new(6, 0)));
            e.push(o(6, None, 1, 1));
        }
        e
    };
    for v in BOTH {
        let mut wire = Vec::new();
        FetchHeader { request_id: 8 }
            .encode_as(&mut wire, v)
            .expect("header");
        let mut st = FetchObjectState::default();
        let mut events = vec![DataStreamEvent::FetchHeader(FetchHeader { request_id: 8 })];
        for e in entries(v) {
            wire.extend_from_slice(&st.encode_as(&e, v).expect("entry"));
            let len = match &e {
                FetchObject::Object(o) => o.payload_length as usize,
                _ => 0,
            };
            let payload: Bytes = vec![0xAB; len].into();
            wire.extend_from_slice(&payload);
            events.push(DataStreamEvent::FetchObject { object: e, payload });
        }
        for step in [1, 5, wire.len()] {
            assert_eq!(read_all(&wire, v, step), events, "{v} step {step}");
        }
    }
    // Draft-14 status objects on a fetch stream are left out.
    let v = Version::Draft14;
    let mut wire = Vec::new();
    FetchHeader { request_id: 8 }
        .encode_as(&mut wire, v)
        .expect("header");
    wire.extend_from_slice(&[3, 0, 5, 9, 0, 0, 3]);
    assert_eq!(read_all(&wire, v, 1).len(), 1);
}

#[test]
fn stream_types_per_draft() {
    let mut setup = Vec::new();
    encode_varint(0x2F00, &mut setup);
    let mut padding = Vec::new();
    encode_varint(0x132B_3E28, &mut padding);
    for v in BOTH {
        for first in [&setup[..], &padding[..], &[0x04][..], &[0x16][..]] {
            let mut q = Vec::new();
            let t = tern_moq::coding::decode_varint(&mut &first[..]).expect("varint");
            encode_quic_varint(t, &mut q).expect("fits");
            let mut r = DataStreamReader::with_version(Limits::default(), v);
            r.push(Bytes::from(q.clone())).expect("fits");
            assert_eq!(
                r.poll(),
                Err(DecodeError::UnknownStreamType(t)),
                "{v} {t:#x}"
            );
            assert!(peek_stream_type_as(&q, v).is_err());
        }
    }
    // Draft-18 (and `new`) still reads SETUP and padding streams.
    let mut r = DataStreamReader::new(Limits::default());
    r.push(Bytes::from(setup)).expect("fits");
    assert_eq!(r.poll(), Ok(Some(DataStreamEvent::Control)));
    let mut r = DataStreamReader::with_version(Limits::default(), Version::Draft20);
    r.push(Bytes::from(padding)).expect("fits");
    assert_eq!(r.poll(), Ok(Some(DataStreamEvent::Padding)));
}

/// Valid seeds for [`tern_moq::fuzz::data_draft16`]: streams and datagrams of both drafts.
fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for v in BOTH {
        out.push(subgroup_stream(v).0);
        let mut f = Vec::new();
        FetchHeader { request_id: 2 }
            .encode_as(&mut f, v)
            .expect("header");
        let mut st = FetchObjectState::default();
        for (g, id) in [(1, 0), (1, 1), (2, 5)] {
            let e = FetchObject::Object(FetchObjectHeader {
                group_id: g,
                subgroup_id: Some(g),
                object_id: id,
                publisher_priority: 1,
                properties: properties(),
                payload_length: 1,
            });
            f.extend_from_slice(&st.encode_as(&e, v).expect("entry"));
            f.push(0xEE);
        }
        out.push(f);
        let d = ObjectDatagram {
            track_alias: 3,
            group_id: 4,
            object_id: 5,
            publisher_priority: Some(6),
            properties: properties(),
            end_of_group: true,
            payload: DatagramPayload::Payload(Bytes::from_static(b"xyz")),
        };
        let mut w = encode_datagram_header_as(&d, v).expect("datagram").to_vec();
        w.extend_from_slice(b"xyz");
        out.push(w);
    }
    out
}

#[test]
fn fuzz_entry_point_on_mutated_seeds() {
    let mut rng = StdRng::seed_from_u64(0xd416);
    for seed in seeds() {
        tern_moq::fuzz::data_draft16(&seed);
        for cut in 0..seed.len() {
            tern_moq::fuzz::data_draft16(&seed[..cut]);
        }
        for _ in 0..3000 {
            let mut data = seed.clone();
            for _ in 0..rng.random_range(1..4) {
                let i = rng.random_range(0..data.len().max(1));
                match rng.random_range(0..3) {
                    0 if !data.is_empty() => data[i] = rng.random(),
                    1 => data.insert(i.min(data.len()), rng.random()),
                    _ if !data.is_empty() => {
                        data.remove(i);
                    }
                    _ => {}
                }
            }
            tern_moq::fuzz::data_draft16(&data);
        }
    }
    for _ in 0..3000 {
        let n = rng.random_range(0..64);
        let data: Vec<u8> = (0..n).map(|_| rng.random()).collect();
        tern_moq::fuzz::data_draft16(&data);
    }
}
