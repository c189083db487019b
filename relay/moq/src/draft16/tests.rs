//! Round trips of every message of drafts 14 and 16, truncation and framing.

use bytes::{BufMut, Bytes, BytesMut};

use super::{ControlMessage, NamespaceTarget, RequestKind, decode, encode, setup_parameter};
use crate::coding::{KeyValuePairs, KvpValue, encode_quic_varint};
use crate::data::Properties;
use crate::message::codes::{PublishDoneCode, RequestErrorCode};
use crate::message::*;
use crate::{DecodeError, Limits, Location, ReasonPhrase, TrackNamespace, Version};

pub(super) fn ns(path: &str) -> TrackNamespace {
    TrackNamespace::from_path(path)
}

pub(super) fn token(alias: u64) -> AuthToken {
    AuthToken::Register {
        alias,
        token_type: 0x40,
        token_value: Bytes::from_static(b"jwt"),
    }
}

pub(super) fn props(pairs: &[(u64, KvpValue)]) -> Properties {
    let mut k = KeyValuePairs::new();
    for (kind, v) in pairs {
        k.push(*kind, v.clone());
    }
    Properties::from_pairs(k).expect("properties")
}

fn params(list: &[(u64, ParameterValue)]) -> Parameters {
    let mut p = Parameters::new();
    for (kind, v) in list {
        p.push(*kind, v.clone());
    }
    p
}

pub(super) fn setup(version: Version) -> Setup {
    let mut s = Setup::default();
    s.set_path(Bytes::from_static(b"/moq?x=1"));
    s.set_authority(Bytes::from_static(b"relay.example:443"));
    s.options
        .set(setup_parameter::MAX_REQUEST_ID, KvpValue::Varint(2048));
    s.push_authorization_token(&token(1));
    s.push_authorization_token(&AuthToken::UseAlias { alias: 7 });
    s.set_max_auth_token_cache_size(4096);
    if version == Version::Draft16 {
        s.set_moqt_implementation(Bytes::from_static(b"tern"));
    }
    // Unknown (GREASE) parameters are kept, repeats included.
    s.options
        .push(0x9D, KvpValue::Bytes(Bytes::from_static(b"?")));
    s.options.push(0x9D, KvpValue::Bytes(Bytes::new()));
    s.options.push(0x11C, KvpValue::Varint(1 << 40));
    s
}

fn reply(
    request_id: u64,
    kind: Option<RequestKind>,
    message: impl Into<Message>,
) -> ControlMessage {
    ControlMessage::Reply {
        request_id,
        kind,
        message: message.into(),
    }
}

fn reason(s: &str) -> ReasonPhrase {
    ReasonPhrase::from(s)
}

fn error(code: RequestErrorCode, retry_interval: u64) -> RequestError {
    RequestError {
        error_code: code,
        retry_interval,
        error_reason: reason("no"),
        redirect: None,
    }
}

fn uint8(kind: u64, v: u8) -> (u64, ParameterValue) {
    (kind, ParameterValue::Uint8(v))
}

fn varint(kind: u64, v: u64) -> (u64, ParameterValue) {
    (kind, ParameterValue::Varint(v))
}

fn filter(f: SubscriptionFilter) -> (u64, ParameterValue) {
    (
        parameter_type::SUBSCRIPTION_FILTER,
        ParameterValue::Filter(f),
    )
}

fn auth(alias: u64) -> (u64, ParameterValue) {
    (
        parameter_type::AUTHORIZATION_TOKEN,
        ParameterValue::Bytes(token(alias).to_bytes()),
    )
}

fn largest(g: u64, o: u64) -> (u64, ParameterValue) {
    (
        parameter_type::LARGEST_OBJECT,
        ParameterValue::Location(Location::new(g, o)),
    )
}

fn fetches(rid: u64, parameters: &Parameters) -> Vec<ControlMessage> {
    let types = [
        FetchType::Standalone {
            track_namespace: ns("live/a"),
            track_name: Bytes::from_static(b"video"),
            start_location: Location::new(3, 0),
            end_location: Location::new(9, 0),
        },
        FetchType::RelativeJoining {
            joining_request_id: 4,
            joining_start: 2,
        },
        FetchType::AbsoluteJoining {
            joining_request_id: 4,
            joining_start: 1 << 40,
        },
    ];
    types
        .into_iter()
        .map(|fetch_type| {
            ControlMessage::Request(
                Fetch {
                    request_id: rid,
                    fetch_type,
                    parameters: parameters.clone(),
                }
                .into(),
            )
        })
        .collect()
}

/// Immutable Extensions holding DEFAULT_PUBLISHER_PRIORITY 200 and an unknown odd type, in the
/// model's (draft-18's) encoding.
pub(super) fn immutable() -> Bytes {
    let mut inner = KeyValuePairs::new();
    inner.push(0x0E, KvpValue::Varint(200));
    inner.push(0x3F, KvpValue::Bytes(Bytes::from_static(b"e2e")));
    let mut b = Vec::new();
    inner.encode_all(&mut b).expect("encodes");
    b.into()
}

/// One message of every type draft-16 defines, as its decoder gives it.
pub(super) fn samples16() -> Vec<ControlMessage> {
    use ControlMessage as C;
    use SubscriptionFilter as F;
    use parameter_type as pt;
    let sub = params(&[
        varint(pt::OBJECT_DELIVERY_TIMEOUT, 500),
        auth(1),
        auth(2),
        uint8(pt::FORWARD, 0),
        uint8(pt::SUBSCRIBER_PRIORITY, 255),
        filter(F::AbsoluteRange {
            start: Location::new(5, 1),
            end_group_delta: 3,
        }),
        uint8(pt::GROUP_ORDER, 2),
        varint(pt::NEW_GROUP_REQUEST, 0),
    ]);
    let extensions = props(&[
        (0x02, KvpValue::Varint(250)),
        (0x04, KvpValue::Varint(60_000)),
        (0x0B, KvpValue::Bytes(immutable())),
        (0x22, KvpValue::Varint(1)),
        (0x30, KvpValue::Varint(1)),
        (0x3B, KvpValue::Bytes(Bytes::from_static(b"unknown"))),
    ]);
    let mut out = vec![
        C::ClientSetup {
            versions: vec![],
            setup: setup(Version::Draft16),
        },
        C::ServerSetup {
            version: None,
            setup: Setup::default(),
        },
        C::GoAway(GoAway {
            new_session_uri: Bytes::from_static(b"moqt://other.example/moq"),
            ..GoAway::default()
        }),
        C::MaxRequestId(1 << 61),
        C::RequestsBlocked(64),
        C::Request(
            Subscribe {
                request_id: 2,
                track_namespace: ns("live/a"),
                track_name: Bytes::from_static(b"video"),
                parameters: sub.clone(),
            }
            .into(),
        ),
        reply(
            2,
            Some(RequestKind::Subscribe),
            SubscribeOk {
                track_alias: 9,
                parameters: params(&[varint(pt::EXPIRES, 30_000), largest(7, 4)]),
                track_properties: extensions.clone(),
            },
        ),
        reply(
            2,
            None,
            RequestUpdate {
                request_id: 6,
                parameters: params(&[filter(F::NextGroupStart), uint8(pt::FORWARD, 1)]),
            },
        ),
        reply(6, None, RequestOk::default()),
        reply(
            8,
            None,
            RequestOk {
                parameters: params(&[largest(1, 1), varint(pt::EXPIRES, 0)]),
                track_properties: Properties::new(),
            },
        ),
        reply(10, None, error(RequestErrorCode::DOES_NOT_EXIST, 1001)),
        C::Unsubscribe { request_id: 2 },
        C::Request(
            Publish {
                request_id: 1,
                track_namespace: ns("live/b"),
                track_name: Bytes::new(),
                track_alias: 3,
                parameters: params(&[auth(3), largest(0, 0), uint8(pt::FORWARD, 1)]),
                track_properties: extensions.clone(),
            }
            .into(),
        ),
        reply(
            1,
            Some(RequestKind::Publish),
            PublishOk {
                parameters: params(&[uint8(pt::SUBSCRIBER_PRIORITY, 1), filter(F::LargestObject)]),
                track_properties: Properties::new(),
            },
        ),
        reply(
            1,
            None,
            PublishDone {
                status_code: PublishDoneCode::EXPIRED,
                stream_count: (1 << 62) - 1,
                error_reason: reason("bye"),
            },
        ),
        reply(
            12,
            Some(RequestKind::Fetch),
            FetchOk {
                end_of_track: true,
                end_location: Location::new(9, 0),
                parameters: Parameters::new(),
                track_properties: extensions,
            },
        ),
        C::FetchCancel { request_id: 12 },
        C::Request(
            TrackStatus {
                request_id: 14,
                track_namespace: ns("live/a"),
                track_name: Bytes::from_static(b"audio"),
                parameters: params(&[auth(5)]),
            }
            .into(),
        ),
        C::Request(
            PublishNamespace {
                request_id: 16,
                track_namespace: ns("live"),
                parameters: params(&[auth(6)]),
            }
            .into(),
        ),
        reply(
            0,
            Some(RequestKind::SubscribeNamespace),
            Namespace {
                track_namespace_suffix: ns("room/7"),
            },
        ),
        reply(
            0,
            Some(RequestKind::SubscribeNamespace),
            NamespaceDone {
                track_namespace_suffix: TrackNamespace::default(),
            },
        ),
        C::PublishNamespaceDone(NamespaceTarget::RequestId(16)),
        C::PublishNamespaceCancel {
            target: NamespaceTarget::RequestId(16),
            error_code: RequestErrorCode::UNINTERESTED,
            error_reason: reason("later"),
        },
        C::Request(
            SubscribeNamespace {
                request_id: 18,
                track_namespace_prefix: TrackNamespace::default(),
                parameters: params(&[auth(8)]),
            }
            .into(),
        ),
        C::Request(
            SubscribeTracks {
                request_id: 20,
                track_namespace_prefix: ns("live"),
                parameters: params(&[uint8(pt::FORWARD, 0)]),
            }
            .into(),
        ),
    ];
    out.extend(fetches(
        12,
        &params(&[uint8(pt::SUBSCRIBER_PRIORITY, 3), uint8(pt::GROUP_ORDER, 1)]),
    ));
    out
}

/// A draft-14 SUBSCRIBE or TRACK_STATUS's parameters as read: its fields, then its own.
pub(super) fn subscription14(order: Option<u8>, f: SubscriptionFilter) -> Parameters {
    use parameter_type as pt;
    let mut p = params(&[
        uint8(pt::SUBSCRIBER_PRIORITY, 128),
        uint8(pt::FORWARD, 1),
        filter(f),
        varint(pt::OBJECT_DELIVERY_TIMEOUT, 0),
        auth(1),
    ]);
    if let Some(o) = order {
        p.push(pt::GROUP_ORDER, ParameterValue::Uint8(o));
    }
    p
}

/// One message of every type draft-14 defines, as its decoder gives it.
pub(super) fn samples14() -> Vec<ControlMessage> {
    use ControlMessage as C;
    use RequestKind as K;
    use SubscriptionFilter as F;
    use parameter_type as pt;
    let track_ok = params(&[
        varint(pt::EXPIRES, 0),
        uint8(pt::GROUP_ORDER, 2),
        largest(4, 4),
    ]);
    let track_props = props(&[(0x02, KvpValue::Varint(100)), (0x04, KvpValue::Varint(9))]);
    let mut out = vec![
        C::ClientSetup {
            versions: vec![Version::DRAFT14_SETUP_VERSION, 0xff00_000d],
            setup: setup(Version::Draft14),
        },
        C::ServerSetup {
            version: Some(Version::DRAFT14_SETUP_VERSION),
            setup: Setup::default(),
        },
        C::GoAway(GoAway::default()),
        C::MaxRequestId(100),
        C::RequestsBlocked(100),
        C::Request(
            Subscribe {
                request_id: 0,
                track_namespace: TrackNamespace::new(vec![Bytes::new(), Bytes::from_static(b"a")]),
                track_name: Bytes::from_static(b"video"),
                parameters: subscription14(None, F::LargestObject),
            }
            .into(),
        ),
        reply(
            0,
            Some(K::Subscribe),
            SubscribeOk {
                track_alias: 1,
                parameters: track_ok.clone(),
                track_properties: track_props.clone(),
            },
        ),
        reply(
            0,
            Some(K::Subscribe),
            RequestUpdate {
                request_id: 2,
                parameters: params(&[
                    filter(F::AbsoluteRange {
                        start: Location::new(4, 5),
                        end_group_delta: 0,
                    }),
                    uint8(pt::SUBSCRIBER_PRIORITY, 7),
                    uint8(pt::FORWARD, 0),
                ]),
            },
        ),
        reply(
            0,
            Some(K::Subscribe),
            RequestUpdate {
                request_id: 4,
                parameters: params(&[
                    filter(F::AbsoluteStart(Location::new(4, 5))),
                    uint8(pt::SUBSCRIBER_PRIORITY, 7),
                    uint8(pt::FORWARD, 1),
                    auth(2),
                ]),
            },
        ),
        C::Unsubscribe { request_id: 0 },
        reply(
            0,
            None,
            PublishDone {
                status_code: PublishDoneCode::MALFORMED_TRACK,
                stream_count: 3,
                error_reason: reason("malformed"),
            },
        ),
        C::Request(
            Publish {
                request_id: 1,
                track_namespace: ns("live/b"),
                track_name: Bytes::from_static(b"t"),
                track_alias: 2,
                parameters: params(&[largest(3, 3), uint8(pt::FORWARD, 0), auth(4)]),
                track_properties: props(&[
                    (0x02, KvpValue::Varint(50)),
                    (0x04, KvpValue::Varint(1000)),
                    (0x22, KvpValue::Varint(2)),
                ]),
            }
            .into(),
        ),
        reply(
            1,
            Some(K::Publish),
            PublishOk {
                parameters: params(&[
                    uint8(pt::FORWARD, 1),
                    uint8(pt::SUBSCRIBER_PRIORITY, 0),
                    uint8(pt::GROUP_ORDER, 1),
                    filter(F::NextGroupStart),
                    varint(pt::OBJECT_DELIVERY_TIMEOUT, 10),
                ]),
                track_properties: Properties::new(),
            },
        ),
        reply(
            6,
            Some(K::Fetch),
            FetchOk {
                end_of_track: false,
                end_location: Location::new(9, 4),
                parameters: params(&[uint8(pt::GROUP_ORDER, 1)]),
                track_properties: props(&[(0x04, KvpValue::Varint(5))]),
            },
        ),
        C::FetchCancel { request_id: 6 },
        C::Request(
            TrackStatus {
                request_id: 8,
                track_namespace: ns("live/a"),
                track_name: Bytes::from_static(b"video"),
                parameters: subscription14(Some(1), F::AbsoluteStart(Location::new(0, 0))),
            }
            .into(),
        ),
        reply(
            8,
            Some(K::TrackStatus),
            RequestOk {
                parameters: track_ok,
                track_properties: track_props,
            },
        ),
        C::Request(
            PublishNamespace {
                request_id: 10,
                track_namespace: ns("live"),
                parameters: params(&[auth(9)]),
            }
            .into(),
        ),
        reply(10, Some(K::PublishNamespace), RequestOk::default()),
        C::PublishNamespaceDone(NamespaceTarget::Namespace(ns("live"))),
        C::PublishNamespaceCancel {
            target: NamespaceTarget::Namespace(ns("live")),
            error_code: RequestErrorCode::EXPIRED_AUTH_TOKEN,
            error_reason: reason("expired"),
        },
        C::Request(
            SubscribeNamespace {
                request_id: 12,
                track_namespace_prefix: ns("live"),
                parameters: Parameters::new(),
            }
            .into(),
        ),
        reply(12, Some(K::SubscribeNamespace), RequestOk::default()),
        C::UnsubscribeNamespace { prefix: ns("live") },
    ];
    for kind in [
        K::Subscribe,
        K::Publish,
        K::Fetch,
        K::TrackStatus,
        K::PublishNamespace,
        K::SubscribeNamespace,
    ] {
        out.push(reply(
            3,
            Some(kind),
            error(RequestErrorCode::UNAUTHORIZED, 0),
        ));
    }
    out.extend(fetches(
        6,
        &params(&[uint8(pt::SUBSCRIBER_PRIORITY, 128), auth(3)]),
    ));
    out
}

pub(super) fn wire(m: &ControlMessage, v: Version) -> BytesMut {
    let mut b = BytesMut::new();
    encode(m, v, &mut b).unwrap_or_else(|e| panic!("{v} encodes {m:?}: {e}"));
    b
}

fn samples(v: Version) -> Vec<ControlMessage> {
    match v {
        Version::Draft14 => samples14(),
        _ => samples16(),
    }
}

const DRAFTS: [Version; 2] = [Version::Draft14, Version::Draft16];

#[test]
fn every_message_round_trips() {
    for v in DRAFTS {
        let mut types = std::collections::BTreeSet::new();
        for m in samples(v) {
            let bytes = wire(&m, v);
            let mut r = &bytes[..];
            let back = decode(&mut r, v, &Limits::default())
                .unwrap_or_else(|e| panic!("{v} decodes {m:?}: {e}"));
            assert!(r.is_empty(), "{v}: all of {m:?} consumed");
            assert_eq!(back, m, "{v}");
            assert_eq!(wire(&back, v), bytes, "{v}: the same bytes again");
            types.insert(bytes[0]);
        }
        // Every message type of the draft's table (each fits one byte).
        let count = match v {
            Version::Draft14 => 30,
            _ => 24,
        };
        assert_eq!(types.len(), count, "{v}: {types:x?}");
    }
}

#[test]
fn short_until_complete_and_nothing_consumed() {
    let limits = Limits::default();
    for v in DRAFTS {
        for m in samples(v) {
            let bytes = wire(&m, v);
            for cut in 0..bytes.len() {
                let mut part = &bytes[..cut];
                assert_eq!(
                    decode(&mut part, v, &limits),
                    Err(DecodeError::Short),
                    "{v} {m:?} cut at {cut}"
                );
                assert_eq!(part.len(), cut, "nothing consumed on Short");
            }
            // From a non-contiguous buffer too.
            let (a, b) = bytes.split_at(bytes.len() / 2);
            let mut chain = bytes::Buf::chain(a, b);
            assert_eq!(decode(&mut chain, v, &limits).as_ref(), Ok(&m));
        }
    }
}

/// The message (of a one-byte type) with its Message Length changed by `delta` (one stray byte
/// appended when longer).
fn relength(bytes: &[u8], delta: i32) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let at = 1;
    let len = u16::from_be_bytes([b[at], b[at + 1]]);
    let len = (i32::from(len) + delta) as u16;
    b[at..at + 2].copy_from_slice(&len.to_be_bytes());
    if delta > 0 {
        b.push(0);
    }
    b
}

#[test]
fn length_mismatch_refused() {
    for v in DRAFTS {
        for m in samples(v) {
            let bytes = wire(&m, v);
            let longer = relength(&bytes, 1);
            // Track Extensions fill the rest of the message: a stray byte is a truncated one.
            let extensions = v == Version::Draft16 && matches!(bytes[0], 0x04 | 0x18 | 0x1D);
            let err = decode(&mut &longer[..], v, &Limits::default());
            assert!(
                matches!(err, Err(DecodeError::LengthMismatch { .. }))
                    || extensions && matches!(err, Err(DecodeError::KeyValueFormatting { .. })),
                "{v}: one byte too many in {m:?}: {err:?}"
            );
            if bytes.len() > 3 {
                let shorter = relength(&bytes, -1);
                let mut r = &shorter[..shorter.len() - 1];
                assert!(
                    decode(&mut r, v, &Limits::default()).is_err(),
                    "{v}: one byte too few in {m:?}"
                );
            }
        }
    }
}

#[test]
fn oversize_and_unknown_types_refused_from_the_header() {
    let limits = Limits {
        max_control_message: 10,
        ..Limits::default()
    };
    let mut head = Vec::new();
    encode_quic_varint(0x3, &mut head).expect("fits");
    head.put_u16(11);
    for v in DRAFTS {
        assert_eq!(
            decode(&mut &head[..], v, &limits),
            Err(DecodeError::MessageTooLong { len: 11, max: 10 })
        );
    }
    // PUBLISH_ERROR is draft-14's alone, NAMESPACE (0x8) draft-14's PUBLISH_NAMESPACE_ERROR,
    // SETUP draft-18's.
    for (v, kind) in [
        (Version::Draft16, 0x1F),
        (Version::Draft16, 0x12),
        (Version::Draft14, 0x2F00),
        (Version::Draft14, 0x50),
        (Version::Draft16, 0x2F00),
    ] {
        let mut b = Vec::new();
        encode_quic_varint(kind, &mut b).expect("fits");
        b.put_u16(0);
        assert_eq!(
            decode(&mut &b[..], v, &Limits::default()),
            Err(DecodeError::UnknownMessageType(kind)),
            "{v} {kind:#x}"
        );
    }
}

#[test]
fn other_drafts_are_refused() {
    let m = ControlMessage::MaxRequestId(1);
    for v in [Version::Draft18, Version::Draft20, Version::Draft22] {
        assert!(encode(&m, v, &mut BytesMut::new()).is_err());
        let bytes = wire(&m, Version::Draft16);
        assert!(decode(&mut &bytes[..], v, &Limits::default()).is_err());
    }
}

#[test]
fn fuzz_entry_point_on_every_message_and_mutations() {
    let mut state = 0x5eed_1416_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for v in DRAFTS {
        let all: Vec<Vec<u8>> = samples(v).iter().map(|m| wire(m, v).to_vec()).collect();
        crate::fuzz::control_message(&all.concat());
        for one in &all {
            for _ in 0..100 {
                let mut data = one.clone();
                for _ in 0..1 + next() % 3 {
                    let i = (next() % data.len() as u64) as usize;
                    match next() % 3 {
                        0 => data[i] = next() as u8,
                        1 => data.insert(i, next() as u8),
                        _ => {
                            data.remove(i);
                            if data.is_empty() {
                                data.push(0);
                            }
                        }
                    }
                }
                crate::fuzz::control_message(&data);
            }
        }
    }
}
