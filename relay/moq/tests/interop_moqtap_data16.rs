//! Interop: tern-moq's data plane of drafts 14 and 16 (subgroup headers of every type, subgroup
//! objects, FETCH_HEADER and fetch objects, OBJECT_DATAGRAM of every type) against
//! `moqtap-codec` 0.9, an independent MoQT codec, with randomised values from a seeded RNG
//! (`CASES` per type and draft).
//!
//! Both ways, for each item:
//! 1. tern encodes; moqtap decodes exactly the fields this file generated (Extension Headers
//!    compared as bytes against a block built here from the draft's Key-Value-Pair rules, and
//!    parsed by moqtap's own property reader) and re-encodes byte-identical bytes;
//! 2. moqtap encodes values built here; tern decodes the model value they were built from and
//!    re-encodes byte-identical bytes.
//!
//! Where the model and the drafts differ, asserted as such rather than skipped:
//! - draft-18's FIRST_OBJECT is not sent on 14/16 (a header with it comes back without it);
//! - draft-14's Object Does Not Exist (0x1) has no model form: tern omits such objects and
//!   datagrams ([`Decoded::Omitted`], [`Datagram::ObjectDoesNotExist`]), and omits every
//!   draft-14 fetch object with a status; Extension Headers on a draft-14 End of Group / End of
//!   Track object are dropped; draft-16 refuses them (moqtap writes and reads them);
//! - draft-14 Extension Headers with absolute types out of order are re-sent in ascending order;
//! - a draft-14 payload datagram naming Object ID 0 (type 0x00) is re-sent as type 0x04;
//! - a fetch object forwarded as a datagram (no Subgroup ID) is sent on draft-14 with Subgroup
//!   ID = Object ID, as that draft says, and read back with that Subgroup ID;
//! - an End of Range on a draft-16 fetch stream: moqtap reads and writes an Object Payload
//!   Length (0) after its Location, since the object field list names that field and Section
//!   10.4.4.2 lists only Subgroup ID, Priority and Extensions as absent; tern (as on draft-18),
//!   like quiche and moq-dev, ends it at the Location. The test adds and strips that zero;
//! - draft-16 fetch objects: tern writes the smallest flags, naming the Object ID whenever the
//!   group changes and the Subgroup ID after an End of Range (moqtap resolves a prior Subgroup
//!   ID after an End of Range as 0, draft-18 as the last object's: neither is relied on). Streams
//!   moqtap writes in that canonical shape re-encode identically; other valid shapes decode to
//!   the same values and tern's re-encoding resolves, in moqtap, to those values.

use bytes::Bytes;
use moqtap_codec::draft14::data_stream as m14;
use moqtap_codec::draft14::types::ObjectStatus as S14;
use moqtap_codec::draft16::data_stream as m16;
use moqtap_codec::draft16::types::ObjectStatus as S16;
use moqtap_codec::object_properties::{PropertyValue, parse_object_properties};
use moqtap_codec::varint::VarInt;
use moqtap_codec::version::DraftVersion;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tern_moq::coding::{KeyValuePairs, KvpValue};
use tern_moq::data::{
    Datagram, DatagramPayload, Decoded, FetchHeader, FetchObject, FetchObjectHeader,
    FetchObjectState, ObjectDatagram, ObjectStatus, Properties, SubgroupHeader, SubgroupId,
    SubgroupObject, decode_datagram_as, encode_datagram_header_as, encode_subgroup_header_as,
    encode_subgroup_object_header_as,
};
use tern_moq::{Limits, Location, Version};

/// Items of each type per draft.
const CASES: usize = 1000;
const MAX: u64 = (1 << 62) - 1;
const V14: Version = Version::Draft14;
const V16: Version = Version::Draft16;

fn vi(v: u64) -> VarInt {
    VarInt::from_u64(v).expect("fits")
}

fn varint(rng: &mut StdRng) -> u64 {
    match rng.random_range(0..5) {
        0 => rng.random_range(0..64),
        1 => rng.random_range(0..20_000),
        2 => rng.random::<u64>() >> rng.random_range(2..64),
        3 => MAX - rng.random_range(0..3),
        _ => rng.random_range(0..=MAX),
    }
}

fn bytes(rng: &mut StdRng, max: usize) -> Vec<u8> {
    let n = rng.random_range(0..=max);
    (0..n).map(|_| rng.random()).collect()
}

// ---------- Extension Headers, built here from the drafts' Key-Value-Pair rules ----------

#[derive(Debug, Clone)]
enum Val {
    Num(u64),
    Raw(Vec<u8>),
    /// Immutable Extensions (0x0B): Key-Value-Pairs of the same draft.
    Nested(Vec<(u64, Val)>),
}

fn pairs(rng: &mut StdRng, max: usize, nested: bool) -> Vec<(u64, Val)> {
    let mut out: Vec<(u64, Val)> = (0..rng.random_range(0..=max))
        .map(|_| {
            let kind = match rng.random_range(0..8) {
                0 if nested => 0x0B,
                1 => 0x3C,
                2 => 0x3E,
                3 => varint(rng) & !1 | 1,
                4 => varint(rng),
                _ => rng.random_range(0..0x100),
            };
            let kind = if kind == 0x0B && !nested { 0x0D } else { kind };
            let value = match kind {
                0x0B => Val::Nested(pairs(rng, 3, false)),
                k if k % 2 == 0 => Val::Num(varint(rng)),
                _ => Val::Raw(bytes(rng, 24)),
            };
            (kind, value)
        })
        .collect();
    out.sort_by_key(|(k, _)| *k);
    out
}

fn put(v: u64, out: &mut Vec<u8>) {
    vi(v).encode(out);
}

/// The Extension Headers block (no length) of `v`: draft-14 absolute types, draft-16 deltas.
fn block(pairs: &[(u64, Val)], v: Version) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev = 0;
    for (kind, value) in pairs {
        put(if v == V14 { *kind } else { kind - prev }, &mut out);
        prev = *kind;
        match value {
            Val::Num(x) => put(*x, &mut out),
            Val::Raw(b) => {
                put(b.len() as u64, &mut out);
                out.extend_from_slice(b);
            }
            Val::Nested(inner) => {
                let b = block(inner, v);
                put(b.len() as u64, &mut out);
                out.extend_from_slice(&b);
            }
        }
    }
    out
}

/// The model's Properties for `pairs` (nested pairs in draft-18's form, as the model holds them).
fn model(pairs: &[(u64, Val)]) -> Properties {
    Properties::from_pairs(kvps(pairs)).expect("valid")
}

fn kvps(pairs: &[(u64, Val)]) -> KeyValuePairs {
    let mut k = KeyValuePairs::new();
    for (kind, value) in pairs {
        let value = match value {
            Val::Num(x) => KvpValue::Varint(*x),
            Val::Raw(b) => KvpValue::Bytes(b.clone().into()),
            Val::Nested(inner) => {
                let mut raw = Vec::new();
                kvps(inner).encode_all(&mut raw).expect("encodes");
                KvpValue::Bytes(raw.into())
            }
        };
        k.push(*kind, value);
    }
    k
}

/// moqtap's property reader sees `pairs` in `block`.
fn moqtap_reads(block_bytes: &[u8], pairs: &[(u64, Val)], v: Version) {
    let draft = if v == V14 {
        DraftVersion::Draft14
    } else {
        DraftVersion::Draft16
    };
    let read = parse_object_properties(draft, block_bytes).expect("moqtap parses the block");
    assert_eq!(read.len(), pairs.len());
    for (p, (kind, value)) in read.iter().zip(pairs) {
        assert_eq!(p.property_type, *kind);
        match (&p.value, value) {
            (PropertyValue::Varint(a), Val::Num(b)) => assert_eq!(a, b),
            (PropertyValue::Bytes(a), Val::Raw(b)) => assert_eq!(*a, &b[..]),
            (PropertyValue::Immutable { bytes, properties }, Val::Nested(inner)) => {
                assert_eq!(*bytes, &block(inner, v)[..]);
                assert_eq!(properties.len(), inner.len());
            }
            (a, b) => panic!("{a:?} is not {b:?}"),
        }
    }
}

/// Random Extension Headers: (model, block of `v`, pairs).
fn ext(rng: &mut StdRng, v: Version, non_empty: bool) -> (Properties, Vec<u8>) {
    let mut p = pairs(rng, 4, true);
    while non_empty && p.is_empty() {
        p = pairs(rng, 4, true);
    }
    let b = block(&p, v);
    moqtap_reads(&b, &p, v);
    (model(&p), b)
}

// ---------- subgroup streams ----------

fn header_types(v: Version) -> Vec<u64> {
    let mut t: Vec<u64> = (0x10..=0x15).chain(0x18..=0x1D).collect();
    if v == V16 {
        t.extend((0x30..=0x35).chain(0x38..=0x3D));
    }
    t
}

fn header(rng: &mut StdRng, t: u64) -> SubgroupHeader {
    SubgroupHeader {
        track_alias: varint(rng),
        group_id: varint(rng),
        subgroup_id: match (t & 0x06) >> 1 {
            0 => SubgroupId::Zero,
            1 => SubgroupId::FirstObject,
            _ => SubgroupId::Explicit(varint(rng)),
        },
        publisher_priority: (t & 0x20 == 0).then(|| rng.random()),
        has_properties: t & 1 != 0,
        end_of_group: t & 8 != 0,
        first_object: rng.random(),
    }
}

fn explicit(h: &SubgroupHeader) -> Option<u64> {
    match h.subgroup_id {
        SubgroupId::Explicit(x) => Some(x),
        _ => None,
    }
}

#[test]
fn subgroup_headers_every_type() {
    let mut rng = StdRng::seed_from_u64(0x5716);
    for v in [V14, V16] {
        for t in header_types(v) {
            for _ in 0..CASES {
                let h = header(&mut rng, t);
                let ours = encode_subgroup_header_as(&h, v)
                    .expect("ours encodes")
                    .to_vec();
                let read = SubgroupHeader {
                    first_object: false,
                    ..h
                };
                let theirs = if v == V14 {
                    let th = m14::SubgroupHeader::decode(&mut &ours[..]).expect("moqtap decodes");
                    assert_eq!(u64::from(th.stream_type.as_u8()), t);
                    assert_eq!(th.track_alias.into_inner(), h.track_alias);
                    assert_eq!(th.group_id.into_inner(), h.group_id);
                    assert_eq!(th.subgroup_id.map(VarInt::into_inner), explicit(&h));
                    assert_eq!(Some(th.publisher_priority), h.publisher_priority);
                    assert_eq!(th.stream_type.extensions_present(), h.has_properties);
                    assert_eq!(th.stream_type.contains_end_of_group(), h.end_of_group);
                    assert_eq!(
                        th.stream_type.subgroup_id_is_first_object(),
                        h.subgroup_id == SubgroupId::FirstObject
                    );
                    let mut w = Vec::new();
                    th.encode_checked(&mut w).expect("moqtap encodes");
                    w
                } else {
                    let th = m16::SubgroupHeader::decode(&mut &ours[..]).expect("moqtap decodes");
                    assert_eq!(u64::from(th.header_type), t);
                    assert_eq!(th.track_alias.into_inner(), h.track_alias);
                    assert_eq!(th.group_id.into_inner(), h.group_id);
                    assert_eq!(th.subgroup_id.into_inner(), explicit(&h).unwrap_or(0));
                    assert_eq!(th.publisher_priority, h.publisher_priority);
                    assert_eq!(th.has_extensions(), h.has_properties);
                    assert_eq!(th.has_end_of_group(), h.end_of_group);
                    assert_eq!(
                        th.subgroup_id_from_first_object(),
                        h.subgroup_id == SubgroupId::FirstObject
                    );
                    let mut w = Vec::new();
                    th.encode_checked(&mut w).expect("moqtap encodes");
                    w
                };
                assert_eq!(theirs, ours, "{v} type {t:#x}");
                assert_eq!(SubgroupHeader::decode_as(&mut &theirs[..], v), Ok(read));
            }
        }
    }
}

/// One object of a random subgroup stream: the model value and its payload.
fn object(
    rng: &mut StdRng,
    v: Version,
    h: &SubgroupHeader,
    id: u64,
) -> (SubgroupObject, Vec<u8>, Vec<u8>) {
    let status = match rng.random_range(0..6) {
        0 => ObjectStatus::EndOfGroup,
        1 => ObjectStatus::EndOfTrack,
        _ => ObjectStatus::Normal,
    };
    let payload = if status == ObjectStatus::Normal && rng.random_range(0..4) != 0 {
        let mut p = bytes(rng, 40);
        if p.is_empty() {
            p.push(rng.random());
        }
        p
    } else {
        Vec::new()
    };
    let (properties, block) = if h.has_properties && status == ObjectStatus::Normal && rng.random()
    {
        ext(rng, v, false)
    } else {
        (Properties::new(), Vec::new())
    };
    let o = SubgroupObject {
        object_id: id,
        properties,
        payload_length: payload.len() as u64,
        object_status: status,
    };
    (o, block, payload)
}

fn s14(s: ObjectStatus) -> S14 {
    match s {
        ObjectStatus::Normal => S14::Normal,
        ObjectStatus::EndOfGroup => S14::EndOfGroup,
        ObjectStatus::EndOfTrack => S14::EndOfTrack,
    }
}

fn s16(s: ObjectStatus) -> S16 {
    match s {
        ObjectStatus::Normal => S16::Normal,
        ObjectStatus::EndOfGroup => S16::EndOfGroup,
        ObjectStatus::EndOfTrack => S16::EndOfTrack,
    }
}

/// Read the objects of a subgroup stream after its header with tern, skipping payloads.
fn tern_objects(mut wire: &[u8], h: &SubgroupHeader, v: Version) -> Vec<Decoded<SubgroupObject>> {
    let limits = Limits::default();
    let mut prev = None;
    let mut out = Vec::new();
    while !wire.is_empty() {
        let d = SubgroupObject::decode_as(&mut wire, h, prev, &limits, v).expect("tern decodes");
        match &d {
            Decoded::Model(o) => {
                prev = Some(o.object_id);
                wire = &wire[o.payload_length as usize..];
            }
            Decoded::Omitted { location, .. } => prev = Some(location.object),
        }
        out.push(d);
    }
    out
}

#[test]
fn subgroup_objects_both_ways() {
    let mut rng = StdRng::seed_from_u64(0x0b16);
    for v in [V14, V16] {
        let types = header_types(v);
        for _ in 0..CASES {
            let t = types[rng.random_range(0..types.len())];
            let mut h = header(&mut rng, t);
            h.first_object = false;
            let head = encode_subgroup_header_as(&h, v).expect("header");
            let mut ours = Vec::new();
            let mut expected = Vec::new();
            let mut id = rng.random_range(0..1000);
            let mut prev = None;
            for _ in 0..rng.random_range(1..6) {
                let (o, block, payload) = object(&mut rng, v, &h, id);
                ours.extend_from_slice(
                    &encode_subgroup_object_header_as(&h, prev, &o, v).expect("ours encodes"),
                );
                ours.extend_from_slice(&payload);
                expected.push((o, block, payload));
                prev = Some(id);
                id += 1 + rng.random_range(0..3) * rng.random_range(0..1000);
            }
            // moqtap reads ours and writes the same bytes.
            let mut theirs = Vec::new();
            let mut cursor = &ours[..];
            if v == V14 {
                let th = m14::SubgroupHeader::decode(&mut &head[..]).expect("header");
                let (mut r, mut w) = (
                    m14::SubgroupObjectReader::new(&th),
                    m14::SubgroupObjectReader::new(&th),
                );
                for (o, block, payload) in &expected {
                    let got = r.read_object(&mut cursor).expect("moqtap reads");
                    assert_eq!(got.object_id.into_inner(), o.object_id);
                    assert_eq!(&got.extension_headers, block);
                    assert_eq!(&got.payload, payload);
                    assert_eq!(got.status, payload.is_empty().then(|| s14(o.object_status)));
                    w.write_object(&got, &mut theirs).expect("moqtap writes");
                }
            } else {
                let th = m16::SubgroupHeader::decode(&mut &head[..]).expect("header");
                let (mut r, mut w) = (
                    m16::SubgroupObjectReader::new(&th),
                    m16::SubgroupObjectReader::new(&th),
                );
                for (o, block, payload) in &expected {
                    let got = r.read_object(&mut cursor).expect("moqtap reads");
                    assert_eq!(got.object_id.into_inner(), o.object_id);
                    assert_eq!(&got.extension_headers, block);
                    assert_eq!(&got.payload, payload);
                    assert_eq!(
                        got.object_status,
                        payload.is_empty().then(|| s16(o.object_status))
                    );
                    w.write_object(&got, &mut theirs).expect("moqtap writes");
                }
            }
            assert!(cursor.is_empty());
            assert_eq!(theirs, ours, "{v}");
            // tern reads what moqtap wrote.
            let back = tern_objects(&theirs, &h, v);
            let want: Vec<_> = expected
                .into_iter()
                .map(|(o, ..)| Decoded::Model(o))
                .collect();
            assert_eq!(back, want);
        }
    }
}

/// moqtap writes what the model has no form for; tern omits or drops it as the drafts allow,
/// or refuses what draft-16 forbids.
#[test]
fn subgroup_statuses_the_model_lacks() {
    let mut rng = StdRng::seed_from_u64(0xd0e5);
    for _ in 0..CASES {
        let mut h = header(&mut rng, 0x11);
        h.first_object = false;
        let th = m14::SubgroupHeader::decode(
            &mut &encode_subgroup_header_as(&h, V14).expect("header")[..],
        )
        .expect("moqtap header");
        let mut w = m14::SubgroupObjectReader::new(&th);
        let mut wire = Vec::new();
        let first = rng.random_range(0..1000u64);
        let (_, block) = ext(&mut rng, V14, true);
        let objects = [
            (first, vec![], Some(S14::ObjectDoesNotExist), vec![]),
            (first + 1, block.clone(), Some(S14::EndOfGroup), vec![]),
            (first + 3, vec![], None, vec![1, 2, 3]),
        ];
        for (id, ext, status, payload) in objects {
            let o = m14::SubgroupObject {
                object_id: vi(id),
                extension_headers: ext,
                status,
                payload,
            };
            w.write_object(&o, &mut wire).expect("moqtap writes");
        }
        assert_eq!(
            tern_objects(&wire, &h, V14),
            vec![
                Decoded::Omitted {
                    location: Location::new(h.group_id, first),
                    status: 1
                },
                Decoded::Model(SubgroupObject {
                    object_id: first + 1,
                    object_status: ObjectStatus::EndOfGroup,
                    ..SubgroupObject::default()
                }),
                Decoded::Model(SubgroupObject {
                    object_id: first + 3,
                    payload_length: 3,
                    ..SubgroupObject::default()
                }),
            ]
        );
    }
    // Draft-16: extensions on an End of Group object, which moqtap writes.
    let th = m16::SubgroupHeader::decode(&mut &[0x11u8, 1, 2, 3][..]).expect("header");
    let mut wire = Vec::new();
    let o = m16::SubgroupObject {
        object_id: vi(0),
        extension_headers: vec![0x3C, 1],
        payload_length: vi(0),
        object_status: Some(S16::EndOfGroup),
        payload: vec![],
    };
    m16::SubgroupObjectReader::new(&th)
        .write_object(&o, &mut wire)
        .expect("moqtap writes");
    let h = SubgroupHeader::decode_as(&mut &[0x11u8, 1, 2, 3][..], V16).expect("header");
    assert_eq!(
        SubgroupObject::decode_as(&mut &wire[..], &h, None, &Limits::default(), V16),
        Err(tern_moq::DecodeError::PropertiesOnStatus)
    );
}

/// Draft-14 Extension Headers written out of type order come back sorted.
#[test]
fn draft14_unsorted_extension_headers_are_sorted() {
    let h = SubgroupHeader::decode_as(&mut &[0x11u8, 1, 2, 3][..], V14).expect("header");
    let mut unsorted = Vec::new();
    for (k, x) in [(0x3Eu64, 5u64), (0x04, 6), (0x3E, 7)] {
        put(k, &mut unsorted);
        put(x, &mut unsorted);
    }
    let th = m14::SubgroupHeader::decode(&mut &[0x11u8, 1, 2, 3][..]).expect("header");
    let mut wire = Vec::new();
    m14::SubgroupObjectReader::new(&th)
        .write_object(
            &m14::SubgroupObject {
                object_id: vi(0),
                extension_headers: unsorted,
                status: None,
                payload: vec![9],
            },
            &mut wire,
        )
        .expect("moqtap writes");
    let [Decoded::Model(o)] = &tern_objects(&wire, &h, V14)[..] else {
        panic!("one object")
    };
    let kinds: Vec<(u64, KvpValue)> = o
        .properties
        .pairs()
        .iter()
        .map(|p| (p.kind, p.value.clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            (0x04, KvpValue::Varint(6)),
            (0x3E, KvpValue::Varint(5)),
            (0x3E, KvpValue::Varint(7))
        ]
    );
    let again = encode_subgroup_object_header_as(&h, None, o, V14).expect("encodes");
    assert_eq!(&again[..], &[0, 6, 0x04, 6, 0x3E, 5, 0x3E, 7, 1]);
}

// ---------- fetch streams ----------

#[test]
fn fetch_headers() {
    let mut rng = StdRng::seed_from_u64(0xfe7c);
    for v in [V14, V16] {
        for _ in 0..CASES {
            let h = FetchHeader {
                request_id: varint(&mut rng),
            };
            let mut ours = Vec::new();
            h.encode_as(&mut ours, v).expect("ours encodes");
            let mut theirs = Vec::new();
            if v == V14 {
                let th = m14::FetchHeader::decode(&mut &ours[..]).expect("moqtap decodes");
                assert_eq!(th.request_id.into_inner(), h.request_id);
                th.encode(&mut theirs);
            } else {
                let th = m16::FetchHeader::decode(&mut &ours[..]).expect("moqtap decodes");
                assert_eq!(th.request_id.into_inner(), h.request_id);
                th.encode(&mut theirs);
            }
            assert_eq!(theirs, ours);
            assert_eq!(FetchHeader::decode_as(&mut &theirs[..], v), Ok(h));
        }
    }
}

/// What the prior entries of a draft-16 fetch stream leave for the next one.
#[derive(Default, Clone, Copy)]
struct Prior {
    location: Option<Location>,
    subgroup: Option<u64>,
    priority: Option<u8>,
    after_range: bool,
}

impl Prior {
    fn commit(&mut self, e: &FetchObject) {
        match e {
            FetchObject::Object(o) => {
                self.location = Some(o.location());
                self.subgroup = o.subgroup_id;
                self.priority = Some(o.publisher_priority);
                self.after_range = false;
            }
            FetchObject::EndOfNonExistentRange(l) | FetchObject::EndOfUnknownRange(l) => {
                self.location = Some(*l);
                self.after_range = true;
            }
        }
    }
}

/// A random draft-16 fetch entry after `prior`, with its Extension Headers block and payload.
fn fetch_entry(rng: &mut StdRng, prior: &Prior, v: Version) -> (FetchObject, Vec<u8>, Vec<u8>) {
    let group = match prior.location {
        Some(l) if rng.random() => l.group,
        _ => varint(rng),
    };
    if prior.location.is_some() && rng.random_range(0..6) == 0 {
        let l = Location::new(group, varint(rng));
        let e = if rng.random() {
            FetchObject::EndOfNonExistentRange(l)
        } else {
            FetchObject::EndOfUnknownRange(l)
        };
        return (e, Vec::new(), Vec::new());
    }
    let object = match prior.location.and_then(|l| l.object.checked_add(1)) {
        Some(next) if next <= MAX && rng.random() => next,
        _ => varint(rng),
    };
    let subgroup = match rng.random_range(0..6) {
        0 if v == V16 => None,
        1 => Some(0),
        2 => prior.subgroup.or(Some(1)),
        3 => prior.subgroup.map(|s| (s + 1).min(MAX)),
        _ => Some(varint(rng)),
    };
    let publisher_priority = match prior.priority {
        Some(p) if rng.random() => p,
        _ => rng.random(),
    };
    let (properties, block) = if rng.random_range(0..3) == 0 {
        ext(rng, v, true)
    } else {
        (Properties::new(), Vec::new())
    };
    let payload = bytes(rng, 20);
    let e = FetchObject::Object(FetchObjectHeader {
        group_id: group,
        subgroup_id: subgroup,
        object_id: object,
        publisher_priority,
        properties,
        payload_length: payload.len() as u64,
    });
    (e, block, payload)
}

fn fetch_entries(rng: &mut StdRng, v: Version) -> Vec<(FetchObject, Vec<u8>, Vec<u8>)> {
    let mut prior = Prior::default();
    (0..rng.random_range(1..8))
        .map(|_| {
            let e = fetch_entry(rng, &prior, v);
            prior.commit(&e.0);
            e
        })
        .collect()
}

/// Read a fetch stream's entries (after its header) with tern, skipping payloads.
fn tern_fetch(mut wire: &[u8], v: Version) -> Vec<Decoded<FetchObject>> {
    let limits = Limits::default();
    let mut st = FetchObjectState::default();
    let mut out = Vec::new();
    while !wire.is_empty() {
        let d = st.decode_as(&mut wire, &limits, v).expect("tern decodes");
        if let Decoded::Model(FetchObject::Object(o)) = &d {
            wire = &wire[o.payload_length as usize..];
        }
        out.push(d);
    }
    out
}

fn tern_encode_fetch(entries: &[(FetchObject, Vec<u8>, Vec<u8>)], v: Version) -> Vec<u8> {
    let mut st = FetchObjectState::default();
    let mut out = Vec::new();
    for (e, _, payload) in entries {
        out.extend_from_slice(&st.encode_as(e, v).expect("ours encodes"));
        out.extend_from_slice(payload);
    }
    out
}

/// moqtap resolves a draft-16 fetch stream to these entries (payloads skipped), and writes
/// back the same bytes. `seen` counts the shapes: Subgroup ID modes 0 to 3, datagram objects,
/// End of Range.
fn moqtap_fetch16(
    wire: &[u8],
    expected: &[(FetchObject, Vec<u8>, Vec<u8>)],
    seen: &mut [usize; 6],
) -> Vec<u8> {
    let mut r = m16::FetchObjectReader::new();
    let mut cursor = wire;
    let mut theirs = Vec::new();
    for (e, block, payload) in expected {
        if let FetchObject::EndOfNonExistentRange(l) | FetchObject::EndOfUnknownRange(l) = e {
            // tern's End of Range ends at its Location; moqtap's carries a Payload Length.
            let flags = match e {
                FetchObject::EndOfNonExistentRange(_) => 0x8C,
                _ => 0x10C,
            };
            let n = [flags, l.group, l.object]
                .map(|x| vi(x).encoded_len())
                .iter()
                .sum::<usize>();
            let mut with_length = cursor[..n].to_vec();
            with_length.push(0);
            cursor = &cursor[n..];
            let th = m16::FetchObjectHeader::decode(&mut &with_length[..]).expect("moqtap decodes");
            let loc = r.resolve(&th).expect("moqtap resolves");
            let kind = match e {
                FetchObject::EndOfNonExistentRange(_) => m16::FetchEndOfRange::NonExistent,
                _ => m16::FetchEndOfRange::Unknown,
            };
            assert_eq!(loc.end_of_range, Some(kind));
            assert_eq!((loc.group_id, loc.object_id), (l.group, l.object));
            let mut w = Vec::new();
            th.encode(&mut w).expect("moqtap encodes");
            assert_eq!(w, with_length);
            theirs.extend_from_slice(&w[..n]);
            seen[5] += 1;
            continue;
        }
        let th = m16::FetchObjectHeader::decode(&mut cursor).expect("moqtap decodes");
        let loc = r.resolve(&th).expect("moqtap resolves");
        let flags = th.serialization_flags.into_inner();
        seen[if th.is_datagram() {
            4
        } else {
            (flags & 3) as usize
        }] += 1;
        match e {
            FetchObject::Object(o) => {
                assert_eq!(loc.end_of_range, None);
                assert_eq!((loc.group_id, loc.object_id), (o.group_id, o.object_id));
                assert_eq!(loc.subgroup_id, o.subgroup_id);
                assert_eq!(loc.publisher_priority, Some(o.publisher_priority));
                assert_eq!(
                    th.extensions.as_ref().filter(|b| !b.is_empty()),
                    (!block.is_empty()).then_some(block)
                );
                assert_eq!(th.payload_length.into_inner(), o.payload_length);
            }
            _ => unreachable!("End of Range handled above"),
        }
        th.encode(&mut theirs).expect("moqtap encodes");
        cursor = &cursor[payload.len()..];
        theirs.extend_from_slice(payload);
    }
    assert!(cursor.is_empty());
    theirs
}

fn models(entries: &[(FetchObject, Vec<u8>, Vec<u8>)]) -> Vec<Decoded<FetchObject>> {
    entries
        .iter()
        .map(|(e, ..)| Decoded::Model(e.clone()))
        .collect()
}

#[test]
fn draft16_fetch_objects_tern_to_moqtap() {
    let mut rng = StdRng::seed_from_u64(0xf016);
    let mut seen = [0; 6];
    for _ in 0..CASES {
        let entries = fetch_entries(&mut rng, V16);
        let ours = tern_encode_fetch(&entries, V16);
        let theirs = moqtap_fetch16(&ours, &entries, &mut seen);
        assert_eq!(theirs, ours);
        assert_eq!(tern_fetch(&theirs, V16), models(&entries));
    }
    assert!(
        seen.iter().all(|n| *n > 50),
        "every shape written: {seen:?}"
    );
}

/// moqtap writes a random valid shape (or tern's canonical one) of each entry.
fn moqtap_header16(
    rng: &mut StdRng,
    e: &FetchObject,
    block: &[u8],
    prior: &Prior,
    canonical: bool,
) -> m16::FetchObjectHeader {
    let o = match e {
        FetchObject::Object(o) => o,
        FetchObject::EndOfNonExistentRange(l) | FetchObject::EndOfUnknownRange(l) => {
            let flags = match e {
                FetchObject::EndOfNonExistentRange(_) => 0x8C,
                _ => 0x10C,
            };
            return m16::FetchObjectHeader {
                serialization_flags: vi(flags),
                group_id: Some(vi(l.group)),
                subgroup_id: None,
                object_id: Some(vi(l.object)),
                publisher_priority: None,
                extensions: None,
                payload_length: vi(0),
            };
        }
    };
    let pick = |rng: &mut StdRng, needed: bool| needed || (!canonical && rng.random());
    let same_group = prior.location.is_some_and(|l| l.group == o.group_id);
    let group = pick(rng, !same_group);
    let next = prior.location.and_then(|l| l.object.checked_add(1));
    let object = pick(rng, group || next != Some(o.object_id));
    let mut flags = 0u64;
    let mut subgroup = None;
    match o.subgroup_id {
        None => flags |= 0x40,
        Some(s) => {
            let prior_sub = prior.subgroup.filter(|_| !prior.after_range);
            let mut modes = vec![3];
            if prior_sub.is_some_and(|p| p + 1 == s) {
                modes.push(2);
            }
            if prior_sub == Some(s) {
                modes.push(1);
            }
            if s == 0 {
                modes.push(0);
            }
            let mode = if canonical {
                *modes.last().expect("mode")
            } else {
                modes[rng.random_range(0..modes.len())]
            };
            flags |= mode;
            if mode == 3 {
                subgroup = Some(vi(s));
            }
        }
    }
    let priority = pick(rng, prior.priority != Some(o.publisher_priority));
    let extensions = !block.is_empty() || pick(rng, false);
    for (on, bit) in [
        (group, 0x08),
        (object, 0x04),
        (priority, 0x10),
        (extensions, 0x20),
    ] {
        if on {
            flags |= bit;
        }
    }
    m16::FetchObjectHeader {
        serialization_flags: vi(flags),
        group_id: group.then(|| vi(o.group_id)),
        subgroup_id: subgroup,
        object_id: object.then(|| vi(o.object_id)),
        publisher_priority: priority.then_some(o.publisher_priority),
        extensions: extensions.then(|| block.to_vec()),
        payload_length: vi(o.payload_length),
    }
}

#[test]
fn draft16_fetch_objects_moqtap_to_tern() {
    let mut rng = StdRng::seed_from_u64(0x16f0);
    for case in 0..CASES {
        let canonical = case % 2 == 0;
        let entries = fetch_entries(&mut rng, V16);
        let mut prior = Prior::default();
        let mut theirs = Vec::new();
        for (e, block, payload) in &entries {
            let mut w = Vec::new();
            moqtap_header16(&mut rng, e, block, &prior, canonical)
                .encode(&mut w)
                .expect("moqtap encodes");
            if !matches!(e, FetchObject::Object(_)) {
                // tern's End of Range ends at its Location; moqtap's carries a Payload Length.
                assert_eq!(w.pop(), Some(0));
            }
            theirs.extend_from_slice(&w);
            theirs.extend_from_slice(payload);
            prior.commit(e);
        }
        assert_eq!(tern_fetch(&theirs, V16), models(&entries));
        let ours = tern_encode_fetch(&entries, V16);
        if canonical {
            assert_eq!(ours, theirs);
        } else {
            moqtap_fetch16(&ours, &entries, &mut [0; 6]);
        }
    }
}

fn fetch14(o: &FetchObjectHeader, block: &[u8], payload: &[u8]) -> m14::FetchObject {
    m14::FetchObject {
        group_id: vi(o.group_id),
        subgroup_id: vi(o.subgroup_id.unwrap_or(o.object_id)),
        object_id: vi(o.object_id),
        publisher_priority: o.publisher_priority,
        extension_headers: block.to_vec(),
        status: payload.is_empty().then_some(S14::Normal),
        payload: payload.to_vec(),
    }
}

#[test]
fn draft14_fetch_objects_both_ways() {
    let mut rng = StdRng::seed_from_u64(0xf014);
    for _ in 0..CASES {
        let mut entries: Vec<_> = fetch_entries(&mut rng, V14)
            .into_iter()
            .filter(|(e, ..)| matches!(e, FetchObject::Object(_)))
            .collect();
        // A datagram object: sent with Subgroup ID = Object ID, read back as that.
        let datagram = rng.random_range(0..4) == 0;
        if let (true, Some((FetchObject::Object(o), ..))) = (datagram, entries.first_mut()) {
            o.subgroup_id = None;
        }
        let ours = tern_encode_fetch(&entries, V14);
        let mut cursor = &ours[..];
        let mut theirs = Vec::new();
        for (e, block, payload) in &entries {
            let FetchObject::Object(o) = e else {
                unreachable!()
            };
            let th = m14::FetchObject::decode(&mut cursor).expect("moqtap decodes");
            assert_eq!(th, fetch14(o, block, payload));
            th.encode_checked(&mut theirs).expect("moqtap encodes");
        }
        assert!(cursor.is_empty());
        assert_eq!(theirs, ours);
        let read: Vec<_> = entries
            .iter()
            .map(|(e, ..)| {
                let mut e = e.clone();
                if let FetchObject::Object(o) = &mut e {
                    o.subgroup_id = Some(o.subgroup_id.unwrap_or(o.object_id));
                }
                Decoded::Model(e)
            })
            .collect();
        assert_eq!(tern_fetch(&theirs, V14), read);
    }
}

/// Draft-14 status objects on a fetch stream (moqtap writes them) are omitted; End of Range has
/// no draft-14 form.
#[test]
fn draft14_fetch_statuses_and_ranges() {
    let mut rng = StdRng::seed_from_u64(0x14d0);
    for _ in 0..CASES {
        let (g, s, o) = (varint(&mut rng), varint(&mut rng), varint(&mut rng));
        let status =
            [S14::ObjectDoesNotExist, S14::EndOfGroup, S14::EndOfTrack][rng.random_range(0..3)];
        let block = if status == S14::ObjectDoesNotExist {
            Vec::new()
        } else {
            ext(&mut rng, V14, false).1
        };
        let mut wire = Vec::new();
        m14::FetchObject {
            group_id: vi(g),
            subgroup_id: vi(s),
            object_id: vi(o),
            publisher_priority: rng.random(),
            extension_headers: block,
            status: Some(status),
            payload: vec![],
        }
        .encode_checked(&mut wire)
        .expect("moqtap encodes");
        assert_eq!(
            tern_fetch(&wire, V14),
            vec![Decoded::Omitted {
                location: Location::new(g, o),
                status: status as u64
            }]
        );
    }
    let mut st = FetchObjectState::default();
    let l = Location::new(1, 2);
    assert!(
        st.encode_as(&FetchObject::EndOfNonExistentRange(l), V14)
            .expect("nothing")
            .is_empty()
    );
    assert!(
        st.encode_as(&FetchObject::EndOfUnknownRange(l), V14)
            .is_err()
    );
}

// ---------- datagrams ----------

fn datagram_types(v: Version) -> Vec<u64> {
    if v == V14 {
        (0..=7).chain([0x20, 0x21]).collect()
    } else {
        (0..=0x0F)
            .chain([0x20, 0x21, 0x24, 0x25, 0x28, 0x29, 0x2C, 0x2D])
            .collect()
    }
}

fn datagram(rng: &mut StdRng, t: u64, v: Version) -> (ObjectDatagram, Vec<u8>) {
    let status = t & 0x20 != 0;
    let (properties, block) = if t & 1 != 0 {
        ext(rng, v, true)
    } else {
        (Properties::new(), Vec::new())
    };
    let object_id = if t & 4 != 0 {
        0
    } else if status && v == V14 {
        varint(rng)
    } else {
        varint(rng).max(1)
    };
    let st = match rng.random_range(0..3) {
        _ if t & 1 != 0 => ObjectStatus::Normal,
        0 => ObjectStatus::Normal,
        1 => ObjectStatus::EndOfGroup,
        _ => ObjectStatus::EndOfTrack,
    };
    let d = ObjectDatagram {
        track_alias: varint(rng),
        group_id: varint(rng),
        object_id,
        publisher_priority: (t & 8 == 0).then(|| rng.random()),
        properties,
        end_of_group: t & 2 != 0,
        payload: if status {
            DatagramPayload::Status(st)
        } else {
            DatagramPayload::Payload(bytes(rng, 60).into())
        },
    };
    (d, block)
}

#[test]
fn datagrams_every_type_both_ways() {
    let mut rng = StdRng::seed_from_u64(0xda16);
    let limits = Limits::default();
    for v in [V14, V16] {
        for t in datagram_types(v) {
            for _ in 0..CASES {
                let (d, block) = datagram(&mut rng, t, v);
                let mut ours = encode_datagram_header_as(&d, v)
                    .expect("ours encodes")
                    .to_vec();
                let payload = match &d.payload {
                    DatagramPayload::Payload(p) => p.to_vec(),
                    DatagramPayload::Status(_) => Vec::new(),
                };
                ours.extend_from_slice(&payload);
                let mut theirs = Vec::new();
                if v == V14 {
                    let th = m14::DatagramObject::decode(&mut &ours[..]).expect("moqtap decodes");
                    assert_eq!(u64::from(th.datagram_type.as_u8()), t);
                    assert_eq!(th.track_alias.into_inner(), d.track_alias);
                    assert_eq!(th.group_id.into_inner(), d.group_id);
                    assert_eq!(th.object_id.into_inner(), d.object_id);
                    assert_eq!(Some(th.publisher_priority), d.publisher_priority);
                    assert_eq!(th.extension_headers, block);
                    assert_eq!(th.payload, payload);
                    if let DatagramPayload::Status(s) = d.payload {
                        assert_eq!(th.status, Some(s14(s)));
                    }
                    th.encode_checked(&mut theirs).expect("moqtap encodes");
                } else {
                    let mut cursor = &ours[..];
                    let th = m16::DatagramHeader::decode(&mut cursor).expect("moqtap decodes");
                    assert_eq!(u64::from(th.datagram_type), t);
                    assert_eq!(th.track_alias.into_inner(), d.track_alias);
                    assert_eq!(th.group_id.into_inner(), d.group_id);
                    assert_eq!(th.object_id.into_inner(), d.object_id);
                    assert_eq!(th.publisher_priority, d.publisher_priority);
                    assert_eq!(th.extension_headers, block);
                    assert_eq!(cursor, &payload[..]);
                    if let DatagramPayload::Status(s) = d.payload {
                        assert_eq!(th.object_status, Some(s16(s)));
                    }
                    th.encode_checked(&mut theirs).expect("moqtap encodes");
                    theirs.extend_from_slice(cursor);
                }
                assert_eq!(theirs, ours, "{v} type {t:#x}");
                assert_eq!(
                    decode_datagram_as(theirs.into(), v, &limits),
                    Ok(Datagram::Object(d))
                );
            }
        }
    }
}

/// Draft-14 datagrams moqtap writes that the model reads differently.
#[test]
fn draft14_datagrams_the_model_lacks() {
    let mut rng = StdRng::seed_from_u64(0x14da);
    let limits = Limits::default();
    for _ in 0..CASES {
        let (alias, group, object) = (varint(&mut rng), varint(&mut rng), varint(&mut rng));
        let mut base = m14::DatagramObject {
            datagram_type: m14::DatagramType::from_u8(0x20).expect("type"),
            track_alias: vi(alias),
            group_id: vi(group),
            object_id: vi(object),
            publisher_priority: rng.random(),
            extension_headers: vec![],
            status: Some(S14::ObjectDoesNotExist),
            payload: vec![],
        };
        let mut wire = Vec::new();
        base.encode_checked(&mut wire).expect("moqtap encodes");
        assert_eq!(
            decode_datagram_as(wire.into(), V14, &limits),
            Ok(Datagram::ObjectDoesNotExist {
                track_alias: alias,
                location: Location::new(group, object)
            })
        );
        // End of Group with extensions: read without them.
        base.datagram_type = m14::DatagramType::from_u8(0x21).expect("type");
        base.extension_headers = ext(&mut rng, V14, true).1;
        base.status = Some(S14::EndOfGroup);
        let mut wire = Vec::new();
        base.encode_checked(&mut wire).expect("moqtap encodes");
        let Ok(Datagram::Object(d)) = decode_datagram_as(wire.into(), V14, &limits) else {
            panic!("tern decodes")
        };
        assert!(d.properties.is_empty());
        assert_eq!(d.payload, DatagramPayload::Status(ObjectStatus::EndOfGroup));
        // Object ID 0 written explicitly (type 0x00): read as 0, re-sent as type 0x04.
        base.datagram_type = m14::DatagramType::from_u8(0x00).expect("type");
        base.object_id = vi(0);
        base.extension_headers = vec![];
        base.status = None;
        base.payload = vec![7];
        let mut wire = Vec::new();
        base.encode_checked(&mut wire).expect("moqtap encodes");
        let Ok(Datagram::Object(d)) = decode_datagram_as(wire.into(), V14, &limits) else {
            panic!("tern decodes")
        };
        assert_eq!(
            (d.object_id, &d.payload),
            (0, &DatagramPayload::Payload(Bytes::from_static(&[7])))
        );
        let again = encode_datagram_header_as(&d, V14).expect("encodes");
        assert_eq!(again[0], 0x04);
    }
}
