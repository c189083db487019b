//! Interop: every draft-18 wire item is encoded by tern-moq and decoded by
//! Cloudflare's `moq-transport` 0.17.0, and the other way round, with
//! randomised values from a seeded RNG (≥ 200 cases per type).
//!
//! Known differences (asserted or excluded below, see also the crate report):
//! - `moq-transport`'s `Message::encode/decode` carry a Request ID in response
//!   messages (SUBSCRIBE_OK, REQUEST_OK, REQUEST_ERROR, PUBLISH_OK,
//!   PUBLISH_DONE, FETCH_OK). Draft-18 responses carry none; their session strips
//!   it on request streams (`encode_bidi_response_frame`). We compare against
//!   that request-stream wire form by stripping/injecting the ID here.
//! - GOAWAY: theirs has only the New Session URI; draft-18 adds Timeout and an
//!   optional Request ID. Not comparable; `goaway_differs` pins the difference.
//! - REQUEST_ERROR with REDIRECT (0x34): theirs has no Redirect structure, so
//!   REDIRECT is excluded from the random codes; `redirect_differs` pins it.
//! - REQUEST_OK / PUBLISH_OK Track Properties: theirs decode no properties,
//!   so these are generated empty.
//! - TRACK_NAMESPACE_PREFIX (0x34, a Track Namespace value): theirs does not
//!   know it and reads an even type as a varint; excluded.
//! - Zero-field Track Namespaces (allowed since draft-17) are refused by their
//!   `TrackNamespace`; full namespaces are generated with ≥ 1 field, prefixes
//!   and suffixes with 0..=32.
//! - Their parameter scope checks: RENDEZVOUS_TIMEOUT only in SUBSCRIBE, and
//!   only AUTHORIZATION_TOKEN/FORWARD in SUBSCRIBE_TRACKS; generated accordingly.
//! - Fetch objects: their draft-18 fetch object codec (`FetchRecordDecoder`) is
//!   `pub(crate)`; only FETCH_HEADER is compared. Our fetch object codec is
//!   covered by unit tests.
//! - Messages they define that draft-18 does not (UNSUBSCRIBE 0xa,
//!   PUBLISH_NAMESPACE_DONE 0x9, PUBLISH_NAMESPACE_CANCEL 0xc, FETCH_CANCEL 0x17)
//!   are refused by tern as unknown types; `removed_messages_refused` pins it.

use bytes::{Bytes, BytesMut};
use moq_transport as cf;
use moq_transport::coding::{Decode as _, Encode as _};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tern_moq::coding::{KeyValuePairs, KvpValue, decode_varint, encode_varint};
use tern_moq::data::{
    Datagram, DatagramPayload, FetchHeader, ObjectDatagram, ObjectStatus, Properties,
    SubgroupHeader, SubgroupId, SubgroupObject, decode_datagram, encode_datagram_header,
    encode_subgroup_object_header,
};
use tern_moq::message::*;
use tern_moq::{Limits, Location, ReasonPhrase, TrackNamespace};

const CASES: usize = 200;

// ---------- random values ----------

fn varint(rng: &mut StdRng) -> u64 {
    match rng.random_range(0..5) {
        0 => rng.random_range(0..64),
        1 => rng.random_range(0..20_000),
        2 => rng.random::<u64>() >> rng.random_range(0..64),
        3 => u64::MAX - rng.random_range(0..3),
        _ => rng.random(),
    }
}

fn bytes(rng: &mut StdRng, min: usize, max: usize) -> Bytes {
    let n = rng.random_range(min..=max);
    (0..n)
        .map(|_| rng.random::<u8>())
        .collect::<Vec<_>>()
        .into()
}

fn utf8(rng: &mut StdRng, max: usize) -> Bytes {
    let n = rng.random_range(0..=max);
    (0..n)
        .map(|_| rng.random_range(b' '..=b'~'))
        .collect::<Vec<_>>()
        .into()
}

fn namespace(rng: &mut StdRng, min_fields: usize) -> TrackNamespace {
    let n = if rng.random_bool(0.1) {
        32
    } else {
        rng.random_range(min_fields..=6)
    };
    let n = n.max(min_fields);
    let per = (3000 / 4usize).checked_div(n).unwrap_or(0);
    TrackNamespace::new((0..n).map(|_| bytes(rng, 1, per.max(1))).collect())
}

fn track_name(rng: &mut StdRng, ns: &TrackNamespace) -> Bytes {
    let room = 4096 - ns.byte_len();
    if rng.random_bool(0.1) {
        bytes(rng, room, room)
    } else {
        bytes(rng, 0, room.min(40))
    }
}

fn kvps(rng: &mut StdRng, max: usize) -> KeyValuePairs {
    let mut k = KeyValuePairs::new();
    for _ in 0..rng.random_range(0..=max) {
        let kind = if rng.random_bool(0.8) {
            rng.random_range(0..0x100)
        } else {
            varint(rng)
        };
        let value = match kind {
            // As Track Properties, draft-18 §12.5 and §12.6 bound these (tern refuses others).
            0x22 => KvpValue::Varint(rng.random_range(1..=2)),
            0x30 => KvpValue::Varint(rng.random_range(0..=1)),
            k if k.is_multiple_of(2) => KvpValue::Varint(varint(rng)),
            _ => KvpValue::Bytes(bytes(rng, 0, 30)),
        };
        k.push(kind, value);
    }
    k
}

fn properties(rng: &mut StdRng, max: usize) -> Properties {
    Properties::from_pairs(kvps(rng, max)).expect("valid properties")
}

fn token(rng: &mut StdRng) -> AuthToken {
    match rng.random_range(0..4) {
        0 => AuthToken::Delete { alias: varint(rng) },
        1 => AuthToken::Register {
            alias: varint(rng),
            token_type: varint(rng),
            token_value: bytes(rng, 0, 40),
        },
        2 => AuthToken::UseAlias { alias: varint(rng) },
        _ => AuthToken::UseValue {
            token_type: varint(rng),
            token_value: bytes(rng, 0, 40),
        },
    }
}

fn filter(rng: &mut StdRng) -> SubscriptionFilter {
    match rng.random_range(0..4) {
        0 => SubscriptionFilter::NextGroupStart,
        1 => SubscriptionFilter::LargestObject,
        2 => SubscriptionFilter::AbsoluteStart(Location::new(varint(rng), varint(rng))),
        _ => {
            let g = varint(rng);
            SubscriptionFilter::AbsoluteRange {
                start: Location::new(g, varint(rng)),
                end_group_delta: rng.random_range(0..=u64::MAX - g),
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Scope {
    Subscribe,
    SubscribeTracks,
    Other,
}

fn parameters(rng: &mut StdRng, scope: Scope) -> Parameters {
    use parameter_type as pt;
    let mut p = Parameters::new();
    if let Scope::SubscribeTracks = scope {
        if rng.random_bool(0.5) {
            p.set_forward(rng.random());
        }
        for _ in 0..rng.random_range(0..3) {
            p.push_authorization_token(&token(rng));
        }
        return p;
    }
    for _ in 0..rng.random_range(0..8) {
        match rng.random_range(0..14) {
            0 => p.set_object_delivery_timeout(varint(rng)),
            1 => p.push_authorization_token(&token(rng)),
            2 if matches!(scope, Scope::Subscribe) => p.set_rendezvous_timeout(varint(rng)),
            3 => p.set_subgroup_delivery_timeout(varint(rng)),
            4 => p.set_expires(varint(rng)),
            5 => p.set_largest_object(Location::new(varint(rng), varint(rng))),
            6 => p.set_fill_timeout(varint(rng)),
            7 => p.set_forward(rng.random()),
            8 => p.set_subscriber_priority(rng.random()),
            9 => p.set_subscription_filter(&filter(rng)),
            10 => p.set_group_order(if rng.random() {
                GroupOrder::Ascending
            } else {
                GroupOrder::Descending
            }),
            11 => p.set_new_group_request(varint(rng)),
            12 => {
                // Unknown even type (varint), large type numbers included.
                let k = (rng.random_range(0x40..u64::MAX / 2) & !1).max(0x36);
                p.set(k, ParameterValue::Varint(varint(rng)));
            }
            _ => {
                let k = rng.random_range(0x40..u64::MAX / 2) | 1;
                if k != pt::TRACK_NAMESPACE_PREFIX {
                    p.set(k, ParameterValue::Bytes(bytes(rng, 0, 50)));
                }
            }
        }
    }
    p
}

// ---------- conversions to their types ----------

fn cf_kvp(kind: u64, v: &KvpValue) -> cf::coding::KeyValuePair {
    match v {
        KvpValue::Varint(x) => cf::coding::KeyValuePair::new_int(kind, *x),
        KvpValue::Bytes(b) => cf::coding::KeyValuePair::new_bytes(kind, b.to_vec()),
    }
}

fn cf_kvps(k: &KeyValuePairs) -> cf::coding::KeyValuePairs {
    cf::coding::KeyValuePairs(k.iter().map(|p| cf_kvp(p.kind, &p.value)).collect())
}

fn cf_params(p: &Parameters) -> cf::coding::KeyValuePairs {
    cf::coding::KeyValuePairs(
        p.iter()
            .map(|p| match &p.value {
                ParameterValue::Varint(v) => cf::coding::KeyValuePair::new_int(p.kind, *v),
                ParameterValue::Uint8(v) => {
                    cf::coding::KeyValuePair::new_int(p.kind, u64::from(*v))
                }
                ParameterValue::Location(l) => {
                    let mut b = Vec::new();
                    encode_varint(l.group, &mut b);
                    encode_varint(l.object, &mut b);
                    cf::coding::KeyValuePair::new_bytes(p.kind, b)
                }
                ParameterValue::Bytes(b) => cf::coding::KeyValuePair::new_bytes(p.kind, b.to_vec()),
                ParameterValue::Filter(f) => {
                    let mut b = Vec::new();
                    f.encode(&mut b).expect("a draft-18 filter");
                    cf::coding::KeyValuePair::new_bytes(p.kind, b)
                }
                ParameterValue::Namespace(_) => {
                    unreachable!("excluded: not known to moq-transport")
                }
            })
            .collect(),
    )
}

fn cf_ext(p: &Properties) -> cf::message::TrackExtensions {
    cf::message::TrackExtensions(p.pairs().iter().map(|k| cf_kvp(k.kind, &k.value)).collect())
}

fn cf_headers(p: &Properties) -> cf::data::ExtensionHeaders {
    cf::data::ExtensionHeaders(p.pairs().iter().map(|k| cf_kvp(k.kind, &k.value)).collect())
}

fn fields(ns: &TrackNamespace) -> Vec<cf::coding::TupleField> {
    ns.fields()
        .iter()
        .map(|f| cf::coding::TupleField { value: f.to_vec() })
        .collect()
}

fn cf_ns(ns: &TrackNamespace) -> cf::coding::TrackNamespace {
    cf::coding::TrackNamespace { fields: fields(ns) }
}

fn cf_prefix(ns: &TrackNamespace) -> cf::coding::TrackNamespacePrefix {
    cf::coding::TrackNamespacePrefix { fields: fields(ns) }
}

fn cf_name(b: &Bytes) -> cf::coding::TrackName {
    cf::coding::TrackName::new(b.to_vec())
}

fn cf_loc(l: Location) -> cf::coding::Location {
    cf::coding::Location::new(l.group, l.object)
}

fn cf_reason(r: &ReasonPhrase) -> cf::coding::ReasonPhrase {
    cf::coding::ReasonPhrase(String::from_utf8(r.as_bytes().to_vec()).expect("utf8 generated"))
}

// ---------- framing helpers ----------

fn ours(m: &Message) -> Vec<u8> {
    let mut b = BytesMut::new();
    m.encode(&mut b).expect("ours encodes");
    b.to_vec()
}

fn theirs(m: &cf::message::Message) -> Vec<u8> {
    let mut b = BytesMut::new();
    m.encode(&mut b).expect("theirs encodes");
    b.to_vec()
}

/// Remove the Request ID their `Message` puts first in a response payload.
fn strip_id(frame: &[u8]) -> Vec<u8> {
    let mut s = frame;
    let kind = decode_varint(&mut s).expect("type");
    let payload = &s[2..];
    let mut p = payload;
    decode_varint(&mut p).expect("id");
    let mut out = Vec::new();
    encode_varint(kind, &mut out);
    out.extend_from_slice(&(p.len() as u16).to_be_bytes());
    out.extend_from_slice(p);
    out
}

/// Insert a Request ID before the payload (their `Message` form).
fn inject_id(frame: &[u8], id: u64) -> Vec<u8> {
    let mut s = frame;
    let kind = decode_varint(&mut s).expect("type");
    let mut payload = Vec::new();
    encode_varint(id, &mut payload);
    payload.extend_from_slice(&s[2..]);
    let mut out = Vec::new();
    encode_varint(kind, &mut out);
    out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    out.extend_from_slice(&payload);
    out
}

fn decode_ours(wire: &[u8]) -> Message {
    let mut b = wire;
    let m = Message::decode(&mut b, &Limits::default()).expect("ours decodes theirs");
    assert!(b.is_empty());
    m
}

fn decode_theirs(wire: &[u8]) -> cf::message::Message {
    let mut b = Bytes::copy_from_slice(wire);
    cf::message::Message::decode(&mut b).expect("theirs decodes ours")
}

/// Both directions for one pair; `response` selects the request-stream form.
fn check(ours_msg: Message, theirs_msg: cf::message::Message, response: Option<u64>) {
    let our_wire = ours(&ours_msg);
    let their_wire = theirs(&theirs_msg);
    let their_stream_form = if response.is_some() {
        strip_id(&their_wire)
    } else {
        their_wire.clone()
    };
    assert_eq!(
        our_wire,
        their_stream_form,
        "identical bytes for {}",
        ours_msg.name()
    );
    assert_eq!(decode_ours(&their_stream_form), ours_msg);
    let for_them = match response {
        Some(id) => inject_id(&our_wire, id),
        None => our_wire,
    };
    let back = decode_theirs(&for_them);
    assert_eq!(format!("{back:?}"), format!("{theirs_msg:?}"));
}

// ---------- control messages ----------

#[test]
fn requests_round_trip() {
    let mut rng = StdRng::seed_from_u64(18);
    for _ in 0..CASES {
        let id = varint(&mut rng);
        let ns = namespace(&mut rng, 1);
        let name = track_name(&mut rng, &ns);
        let p = parameters(&mut rng, Scope::Subscribe);
        check(
            Message::Subscribe(Subscribe {
                request_id: id,
                track_namespace: ns.clone(),
                track_name: name.clone(),
                parameters: p.clone(),
            }),
            cf::message::Message::Subscribe(cf::message::Subscribe {
                id,
                track_namespace: cf_ns(&ns),
                track_name: cf_name(&name),
                params: cf_params(&p),
            }),
            None,
        );
        let p = parameters(&mut rng, Scope::Other);
        check(
            Message::TrackStatus(TrackStatus {
                request_id: id,
                track_namespace: ns.clone(),
                track_name: name.clone(),
                parameters: p.clone(),
            }),
            cf::message::Message::TrackStatus(cf::message::TrackStatus {
                id,
                track_namespace: cf_ns(&ns),
                track_name: cf_name(&name),
                params: cf_params(&p),
            }),
            None,
        );
        let alias = varint(&mut rng);
        let props = properties(&mut rng, 4);
        check(
            Message::Publish(Publish {
                request_id: id,
                track_namespace: ns.clone(),
                track_name: name.clone(),
                track_alias: alias,
                parameters: p.clone(),
                track_properties: props.clone(),
            }),
            cf::message::Message::Publish(cf::message::Publish {
                id,
                track_namespace: cf_ns(&ns),
                track_name: cf_name(&name),
                track_alias: alias,
                params: cf_params(&p),
                track_extensions: cf_ext(&props),
            }),
            None,
        );
        check(
            Message::PublishNamespace(PublishNamespace {
                request_id: id,
                track_namespace: ns.clone(),
                parameters: p.clone(),
            }),
            cf::message::Message::PublishNamespace(cf::message::PublishNamespace {
                id,
                track_namespace: cf_ns(&ns),
                params: cf_params(&p),
            }),
            None,
        );
        let prefix = namespace(&mut rng, 0);
        check(
            Message::SubscribeNamespace(SubscribeNamespace {
                request_id: id,
                track_namespace_prefix: prefix.clone(),
                parameters: p.clone(),
            }),
            cf::message::Message::SubscribeNamespace(cf::message::SubscribeNamespace {
                id,
                track_namespace_prefix: cf_prefix(&prefix),
                params: cf_params(&p),
            }),
            None,
        );
        let pt = parameters(&mut rng, Scope::SubscribeTracks);
        check(
            Message::SubscribeTracks(SubscribeTracks {
                request_id: id,
                track_namespace_prefix: prefix.clone(),
                parameters: pt.clone(),
            }),
            cf::message::Message::SubscribeTracks(cf::message::SubscribeTracks {
                id,
                track_namespace_prefix: cf_prefix(&prefix),
                params: cf_params(&pt),
            }),
            None,
        );
        check(
            Message::RequestUpdate(RequestUpdate {
                request_id: id,
                parameters: p.clone(),
            }),
            cf::message::Message::RequestUpdate(cf::message::RequestUpdate {
                id,
                existing_request_id: id,
                params: cf_params(&p),
            }),
            None,
        );
        let (fetch_type, cf_type, sa, jf) = match rng.random_range(0..3) {
            0 => {
                let (s, e) = (
                    Location::new(varint(&mut rng), varint(&mut rng)),
                    Location::new(varint(&mut rng), varint(&mut rng)),
                );
                (
                    FetchType::Standalone {
                        track_namespace: ns.clone(),
                        track_name: name.clone(),
                        start_location: s,
                        end_location: e,
                    },
                    cf::message::FetchType::Standalone,
                    Some(cf::message::StandaloneFetch {
                        track_namespace: cf_ns(&ns),
                        track_name: cf_name(&name),
                        start_location: cf_loc(s),
                        end_location: cf_loc(e),
                    }),
                    None,
                )
            }
            k => {
                let (jr, js) = (varint(&mut rng), varint(&mut rng));
                let j = Some(cf::message::JoiningFetch {
                    joining_request_id: jr,
                    joining_start: js,
                });
                if k == 1 {
                    (
                        FetchType::RelativeJoining {
                            joining_request_id: jr,
                            joining_start: js,
                        },
                        cf::message::FetchType::RelativeJoining,
                        None,
                        j,
                    )
                } else {
                    (
                        FetchType::AbsoluteJoining {
                            joining_request_id: jr,
                            joining_start: js,
                        },
                        cf::message::FetchType::AbsoluteJoining,
                        None,
                        j,
                    )
                }
            }
        };
        check(
            Message::Fetch(Fetch {
                request_id: id,
                fetch_type,
                parameters: p.clone(),
            }),
            cf::message::Message::Fetch(cf::message::Fetch {
                id,
                fetch_type: cf_type,
                standalone_fetch: sa,
                joining_fetch: jf,
                params: cf_params(&p),
            }),
            None,
        );
    }
}

#[test]
fn responses_round_trip() {
    let mut rng = StdRng::seed_from_u64(0x2F00);
    for _ in 0..CASES {
        let id = varint(&mut rng);
        let p = parameters(&mut rng, Scope::Other);
        let props = properties(&mut rng, 4);
        let alias = varint(&mut rng);
        check(
            Message::SubscribeOk(SubscribeOk {
                track_alias: alias,
                parameters: p.clone(),
                track_properties: props.clone(),
            }),
            cf::message::Message::SubscribeOk(cf::message::SubscribeOk {
                id,
                track_alias: alias,
                params: cf_params(&p),
                track_extensions: cf_ext(&props),
            }),
            Some(id),
        );
        check(
            Message::RequestOk(RequestOk {
                parameters: p.clone(),
                track_properties: Properties::new(),
            }),
            cf::message::Message::RequestOk(cf::message::RequestOk {
                id,
                params: cf_params(&p),
            }),
            Some(id),
        );
        check(
            Message::PublishOk(PublishOk {
                parameters: p.clone(),
                track_properties: Properties::new(),
            }),
            cf::message::Message::PublishOk(cf::message::PublishOk {
                id,
                params: cf_params(&p),
            }),
            Some(id),
        );
        let end = Location::new(varint(&mut rng), varint(&mut rng));
        let eot = rng.random();
        check(
            Message::FetchOk(FetchOk {
                end_of_track: eot,
                end_location: end,
                parameters: p.clone(),
                track_properties: props.clone(),
            }),
            cf::message::Message::FetchOk(cf::message::FetchOk {
                id,
                end_of_track: eot,
                end_location: cf_loc(end),
                params: cf_params(&p),
                track_extensions: cf_ext(&props),
            }),
            Some(id),
        );
        let mut code = varint(&mut rng);
        if code == RequestErrorCode::REDIRECT.0 {
            code = 0;
        }
        let max = if rng.random_bool(0.1) { 1024 } else { 40 };
        let reason = ReasonPhrase::new(utf8(&mut rng, max));
        let retry = varint(&mut rng);
        check(
            Message::RequestError(RequestError {
                error_code: codes::RequestErrorCode(code),
                retry_interval: retry,
                error_reason: reason.clone(),
                redirect: None,
            }),
            cf::message::Message::RequestError(cf::message::RequestError {
                id,
                error_code: code,
                retry_interval: retry,
                reason: cf_reason(&reason),
            }),
            Some(id),
        );
        let (status, count) = (varint(&mut rng), varint(&mut rng));
        check(
            Message::PublishDone(PublishDone {
                status_code: codes::PublishDoneCode(status),
                stream_count: count,
                error_reason: reason.clone(),
            }),
            cf::message::Message::PublishDone(cf::message::PublishDone {
                id,
                status_code: status,
                stream_count: count,
                reason: cf_reason(&reason),
            }),
            Some(id),
        );
        let suffix = namespace(&mut rng, 0);
        check(
            Message::Namespace(Namespace {
                track_namespace_suffix: suffix.clone(),
            }),
            cf::message::Message::Namespace(cf::message::Namespace {
                track_namespace_suffix: cf_prefix(&suffix),
            }),
            None,
        );
        check(
            Message::NamespaceDone(NamespaceDone {
                track_namespace_suffix: suffix.clone(),
            }),
            cf::message::Message::NamespaceDone(cf::message::NamespaceDone {
                track_namespace_suffix: cf_prefix(&suffix),
            }),
            None,
        );
        let name = track_name(&mut rng, &suffix);
        check(
            Message::PublishBlocked(PublishBlocked {
                track_namespace_suffix: suffix.clone(),
                track_name: name.clone(),
            }),
            cf::message::Message::PublishBlocked(cf::message::PublishBlocked {
                track_namespace_suffix: cf_prefix(&suffix),
                track_name: cf_name(&name),
            }),
            None,
        );
    }
}

use tern_moq::message::codes::RequestErrorCode;

#[test]
fn setup_round_trip() {
    let mut rng = StdRng::seed_from_u64(0x5e7);
    for _ in 0..CASES {
        let mut s = Setup::default();
        if rng.random() {
            s.set_path(utf8(&mut rng, 100));
        }
        if rng.random() {
            s.set_authority(utf8(&mut rng, 100));
        }
        if rng.random() {
            s.set_moqt_implementation(utf8(&mut rng, 30));
        }
        if rng.random() {
            s.set_max_auth_token_cache_size(varint(&mut rng));
        }
        for _ in 0..rng.random_range(0..3) {
            s.push_authorization_token(&token(&mut rng));
        }
        // Unknown and GREASE options.
        for _ in 0..rng.random_range(0..3) {
            let k = 0x9D + 0x7f * rng.random_range(0..1000u64);
            let v = if k.is_multiple_of(2) {
                KvpValue::Varint(varint(&mut rng))
            } else {
                KvpValue::Bytes(bytes(&mut rng, 0, 20))
            };
            s.options.push(k, v);
        }
        let ours_wire = ours(&Message::Setup(s.clone()));
        let theirs_setup = cf::setup::Setup {
            params: cf_kvps(&s.options),
        };
        let mut tw = BytesMut::new();
        theirs_setup.encode(&mut tw).expect("theirs encodes");
        assert_eq!(ours_wire, tw.to_vec());
        assert_eq!(decode_ours(&tw), Message::Setup(s.clone()));
        let back = cf::setup::Setup::decode(&mut Bytes::from(ours_wire)).expect("theirs decodes");
        assert_eq!(back.params, theirs_setup.params);
    }
}

#[test]
fn goaway_differs() {
    // Theirs: New Session URI only. Ours (draft-18): URI, Timeout, [Request ID].
    let m = cf::message::Message::GoAway(cf::message::GoAway {
        uri: cf::coding::SessionUri("moqt://x".into()),
    });
    let mut b = &theirs(&m)[..];
    assert!(Message::decode(&mut b, &Limits::default()).is_err());
    let g = Message::GoAway(GoAway {
        new_session_uri: Bytes::from_static(b"moqt://x"),
        timeout: 5,
        request_id: Some(2),
    });
    let back = Message::decode(&mut &ours(&g)[..], &Limits::default()).expect("ours round trips");
    assert_eq!(back, g);
}

/// GOAWAY as draft-18 lays it out, built by hand: type 0x10, u16 length, New Session URI
/// (varint length + bytes), Timeout, and the Request ID only when present.
fn goaway_by_hand(uri: &[u8], timeout: u64, request_id: Option<u64>) -> Vec<u8> {
    let mut payload = Vec::new();
    encode_varint(uri.len() as u64, &mut payload);
    payload.extend_from_slice(uri);
    encode_varint(timeout, &mut payload);
    if let Some(id) = request_id {
        encode_varint(id, &mut payload);
    }
    let mut frame = Vec::new();
    encode_varint(0x10, &mut frame);
    frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    frame.extend_from_slice(&payload);
    frame
}

#[test]
fn goaway_round_trip() {
    // Theirs cannot carry draft-18's GOAWAY (see `goaway_differs`), so ours is checked against
    // the layout built by hand, both ways.
    let mut rng = StdRng::seed_from_u64(0x60a);
    for case in 0..CASES {
        let uri = match rng.random_range(0..4) {
            0 => Bytes::new(),
            1 => bytes(&mut rng, MAX_URI_LEN - 8, MAX_URI_LEN),
            _ => utf8(&mut rng, 200),
        };
        let timeout = varint(&mut rng);
        let request_id = rng.random_bool(0.7).then(|| varint(&mut rng));
        let g = GoAway {
            new_session_uri: uri.clone(),
            timeout,
            request_id,
        };
        let wire = ours(&Message::GoAway(g.clone()));
        assert_eq!(
            wire,
            goaway_by_hand(&uri, timeout, request_id),
            "case {case}: bytes of {g:?}"
        );
        assert_eq!(decode_ours(&wire), Message::GoAway(g), "case {case}");
    }

    // One byte over the URI limit is refused both ways.
    let long = vec![b'a'; MAX_URI_LEN + 1];
    let too_long = Message::GoAway(GoAway {
        new_session_uri: Bytes::from(long.clone()),
        timeout: 1,
        request_id: None,
    });
    assert!(too_long.encode(&mut BytesMut::new()).is_err());
    assert!(matches!(
        Message::decode(&mut &goaway_by_hand(&long, 1, None)[..], &Limits::default()),
        Err(tern_moq::DecodeError::UriTooLong(_))
    ));
    // Anything after the Request ID is a length mismatch, not a second field.
    let mut extra = goaway_by_hand(b"moqt://x", 5, Some(2));
    extra.push(0x00);
    extra[2] += 1;
    assert!(matches!(
        Message::decode(&mut &extra[..], &Limits::default()),
        Err(tern_moq::DecodeError::LengthMismatch { .. })
    ));
}

#[test]
fn redirect_differs() {
    let m = Message::RequestError(RequestError {
        error_code: RequestErrorCode::REDIRECT,
        retry_interval: 1,
        error_reason: ReasonPhrase::from("moved"),
        redirect: Some(Redirect {
            connect_uri: Bytes::from_static(b"moqt://b"),
            track_namespace: TrackNamespace::from_path("a"),
            track_name: Bytes::from_static(b"t"),
        }),
    });
    let wire = inject_id(&ours(&m), 0);
    assert!(cf::message::Message::decode(&mut Bytes::from(wire)).is_err());
}

#[test]
fn removed_messages_refused() {
    for kind in [0x9u64, 0xa, 0xc, 0x17] {
        let mut w = Vec::new();
        encode_varint(kind, &mut w);
        w.extend_from_slice(&[0, 1, 0]);
        assert!(matches!(
            Message::decode(&mut &w[..], &Limits::default()),
            Err(tern_moq::DecodeError::UnknownMessageType(_))
        ));
    }
}

// ---------- data streams ----------

#[test]
fn subgroup_headers_and_objects_round_trip() {
    let mut rng = StdRng::seed_from_u64(0x10);
    let limits = Limits {
        max_object_size: u64::MAX,
        ..Limits::default()
    };
    for t in (0x10u64..0x80).filter(|t| tern_moq::data::is_subgroup_header_type(*t)) {
        for _ in 0..CASES {
            let sub = match (t & 0x06) >> 1 {
                0 => SubgroupId::Zero,
                1 => SubgroupId::FirstObject,
                _ => SubgroupId::Explicit(varint(&mut rng)),
            };
            let h = SubgroupHeader {
                track_alias: varint(&mut rng),
                group_id: varint(&mut rng),
                subgroup_id: sub,
                publisher_priority: (t & 0x20 == 0).then(|| rng.random()),
                has_properties: t & 1 != 0,
                end_of_group: t & 8 != 0,
                first_object: t & 0x40 != 0,
            };
            assert_eq!(h.stream_type(), t);
            let mut ow = Vec::new();
            h.encode(&mut ow);
            // theirs decodes ours
            let mut b = Bytes::from(ow.clone());
            let ht = cf::data::StreamHeaderType::decode(&mut b).expect("their type");
            let th = cf::data::SubgroupHeader::decode(ht, &mut b).expect("their header");
            assert_eq!((th.track_alias, th.group_id), (h.track_alias, h.group_id));
            assert_eq!(
                th.subgroup_id,
                match sub {
                    SubgroupId::Explicit(x) => Some(x),
                    _ => None,
                }
            );
            assert_eq!(th.publisher_priority, h.publisher_priority.unwrap_or(128));
            assert_eq!(ht.has_properties(), h.has_properties);
            assert_eq!(ht.end_of_group(), h.end_of_group);
            assert_eq!(ht.begins_with_first_object(), h.first_object);
            // ours decodes theirs
            let mut tw = BytesMut::new();
            th.encode(&mut tw).expect("theirs encodes");
            assert_eq!(tw.to_vec(), ow);
            assert_eq!(
                SubgroupHeader::decode(&mut &tw[..]).expect("ours decodes"),
                h
            );

            // objects: delta encoding, properties, status
            let mut prev: Option<u64> = None;
            let mut next = rng.random_range(0..1000u64);
            for _ in 0..3 {
                let status = match rng.random_range(0..4) {
                    0 => ObjectStatus::EndOfGroup,
                    1 => ObjectStatus::EndOfTrack,
                    _ => ObjectStatus::Normal,
                };
                let payload_length = if status == ObjectStatus::Normal && rng.random() {
                    varint(&mut rng)
                } else {
                    0
                };
                let props = if h.has_properties && status == ObjectStatus::Normal {
                    properties(&mut rng, 3)
                } else {
                    Properties::new()
                };
                let o = SubgroupObject {
                    object_id: next,
                    properties: props.clone(),
                    payload_length,
                    object_status: status,
                };
                let ow = encode_subgroup_object_header(&h, prev, &o).expect("ours encodes object");
                let delta = match prev {
                    None => next,
                    Some(p) => next - p - 1,
                };
                let cf_status = |s: ObjectStatus| match s {
                    ObjectStatus::Normal => cf::data::ObjectStatus::NormalObject,
                    ObjectStatus::EndOfGroup => cf::data::ObjectStatus::EndOfGroup,
                    ObjectStatus::EndOfTrack => cf::data::ObjectStatus::EndOfTrack,
                };
                let st = (payload_length == 0).then(|| cf_status(status));
                let mut tw = BytesMut::new();
                if h.has_properties {
                    let to = cf::data::SubgroupObjectExt {
                        object_id_delta: delta,
                        extension_headers: cf_headers(&props),
                        payload_length: payload_length as usize,
                        status: st,
                    };
                    to.encode(&mut tw).expect("theirs encodes object");
                    let back = cf::data::SubgroupObjectExt::decode(&mut ow.clone())
                        .expect("theirs decodes object");
                    assert_eq!(back, to);
                } else {
                    let to = cf::data::SubgroupObject {
                        object_id_delta: delta,
                        payload_length: payload_length as usize,
                        status: st,
                    };
                    to.encode(&mut tw).expect("theirs encodes object");
                    let back = cf::data::SubgroupObject::decode(&mut ow.clone())
                        .expect("theirs decodes object");
                    assert_eq!(back, to);
                }
                assert_eq!(tw.to_vec(), ow.to_vec());
                let mine = SubgroupObject::decode(&mut &tw[..], h.has_properties, prev, &limits)
                    .expect("ours decodes object");
                assert_eq!(mine, o);
                prev = Some(next);
                next = next.saturating_add(1 + rng.random_range(0..3));
                if next == u64::MAX {
                    break;
                }
            }
        }
    }
}

#[test]
fn fetch_header_round_trip() {
    let mut rng = StdRng::seed_from_u64(5);
    for _ in 0..CASES {
        let h = FetchHeader {
            request_id: varint(&mut rng),
        };
        let mut ow = Vec::new();
        h.encode(&mut ow);
        let mut b = Bytes::from(ow.clone());
        let ht = cf::data::StreamHeaderType::decode(&mut b).expect("type");
        assert!(ht.is_fetch());
        let th = cf::data::FetchHeader::decode(ht, &mut b).expect("their header");
        assert_eq!(th.request_id, h.request_id);
        let mut tw = BytesMut::new();
        th.encode(&mut tw).expect("encodes");
        assert_eq!(FetchHeader::decode(&mut &tw[..]).expect("ours decodes"), h);
    }
}

#[test]
fn datagrams_round_trip() {
    let mut rng = StdRng::seed_from_u64(0xd6);
    let limits = Limits::default();
    let types: Vec<u64> = (0..=0x0F)
        .chain([0x20, 0x21, 0x24, 0x25, 0x28, 0x29, 0x2C, 0x2D])
        .collect();
    for t in types {
        for _ in 0..CASES {
            let status = t & 0x20 != 0;
            let st = match rng.random_range(0..3) {
                0 => ObjectStatus::Normal,
                1 => ObjectStatus::EndOfGroup,
                _ => ObjectStatus::EndOfTrack,
            };
            let st = if t & 1 != 0 { ObjectStatus::Normal } else { st };
            let mut props = Properties::new();
            while t & 1 != 0 && props.is_empty() {
                props = properties(&mut rng, 3);
            }
            let d = ObjectDatagram {
                track_alias: varint(&mut rng),
                group_id: varint(&mut rng),
                object_id: if t & 4 != 0 {
                    0
                } else {
                    varint(&mut rng).max(1)
                },
                publisher_priority: (t & 8 == 0).then(|| rng.random()),
                properties: props.clone(),
                end_of_group: t & 2 != 0,
                payload: if status {
                    DatagramPayload::Status(st)
                } else {
                    DatagramPayload::Payload(bytes(&mut rng, 1, 200))
                },
            };
            assert_eq!(d.datagram_type(), t);
            let mut ow = encode_datagram_header(&d).expect("ours encodes").to_vec();
            if let DatagramPayload::Payload(p) = &d.payload {
                ow.extend_from_slice(p);
            }
            let back =
                cf::data::Datagram::decode(&mut Bytes::from(ow.clone())).expect("theirs decodes");
            assert_eq!(back.datagram_type as u64, t);
            assert_eq!(
                (back.track_alias, back.group_id),
                (d.track_alias, d.group_id)
            );
            assert_eq!(back.object_id.unwrap_or(0), d.object_id);
            assert_eq!(back.publisher_priority, d.publisher_priority);
            assert_eq!(back.extension_headers.is_some(), !d.properties.is_empty());
            if let Some(e) = &back.extension_headers {
                assert_eq!(e, &cf_headers(&props));
            }
            let mut tw = BytesMut::new();
            back.encode(&mut tw).expect("theirs encodes");
            assert_eq!(tw.to_vec(), ow);
            assert_eq!(
                decode_datagram(tw.freeze(), &limits),
                Ok(Datagram::Object(d))
            );
        }
    }
}
