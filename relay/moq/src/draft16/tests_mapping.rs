//! How draft-14 and draft-16 fields map onto the model, and what each refuses.

use bytes::{BufMut, Bytes, BytesMut};

use super::tests::{ns, props, samples14, samples16, token};
use super::{ControlMessage, NamespaceTarget, RequestKind, decode, encode};
use crate::coding::{KvpValue, encode_quic_varint};
use crate::data::Properties;
use crate::message::codes::{PublishDoneCode, RequestErrorCode};
use crate::message::*;
use crate::{DecodeError, EncodeError, Limits, Location, TrackNamespace, Version};

use parameter_type as pt;

const D14: Version = Version::Draft14;
const D16: Version = Version::Draft16;

/// Append RFC 9000 varints.
fn vi(out: &mut Vec<u8>, values: &[u64]) {
    for v in values {
        encode_quic_varint(*v, out).expect("fits");
    }
}

fn frame(kind: u64, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    vi(&mut b, &[kind]);
    b.put_u16(payload.len() as u16);
    b.extend_from_slice(payload);
    b
}

fn read(bytes: &[u8], v: Version) -> Result<ControlMessage, DecodeError> {
    let mut r = bytes;
    let m = decode(&mut r, v, &Limits::default());
    if m.is_ok() {
        assert!(r.is_empty());
    }
    m
}

fn message(m: ControlMessage) -> Message {
    match m {
        ControlMessage::Request(m) | ControlMessage::Reply { message: m, .. } => m,
        other => panic!("not a request or reply: {other:?}"),
    }
}

/// Encoding fails and writes nothing.
fn refused(m: &ControlMessage, v: Version) -> EncodeError {
    let mut b = BytesMut::new();
    let e = encode(m, v, &mut b).expect_err("refused");
    assert!(b.is_empty(), "nothing written");
    e
}

#[test]
fn draft14_subscribe_fields_are_parameters() {
    let mut p = Vec::new();
    vi(&mut p, &[0, 1, 1]);
    p.push(b'a');
    vi(&mut p, &[1]);
    p.push(b'b');
    p.extend_from_slice(&[5, 2, 0]); // Subscriber Priority, Group Order, Forward
    vi(&mut p, &[0x4, 1, 2, 3]); // AbsoluteRange {1, 2} to group 3
    // DELIVERY_TIMEOUT, an unknown even type, MAX_CACHE_DURATION (not SUBSCRIBE's): the last
    // two ignored.
    vi(&mut p, &[3, 0x02, 100, 0x06, 1, 0x04, 7]);
    let Message::Subscribe(s) = message(read(&frame(0x3, &p), D14).expect("decodes")) else {
        panic!("SUBSCRIBE");
    };
    let q = &s.parameters;
    assert_eq!(q.subscriber_priority(), Some(5));
    assert_eq!(q.group_order(), Some(GroupOrder::Descending));
    assert_eq!(q.forward(), Some(false));
    assert_eq!(
        q.subscription_filter(),
        Some(SubscriptionFilter::AbsoluteRange {
            start: Location::new(1, 2),
            end_group_delta: 2
        })
    );
    assert_eq!(q.object_delivery_timeout(), Some(100));
    assert_eq!(q.len(), 5);

    // Absent parameters are the draft's defaults: priority 128, the publisher's Group Order,
    // forward, unfiltered.
    let bare = ControlMessage::Request(
        Subscribe {
            request_id: 0,
            track_namespace: ns("a"),
            track_name: Bytes::from_static(b"b"),
            parameters: Parameters::new(),
        }
        .into(),
    );
    let w = super::tests::wire(&bare, D14);
    assert_eq!(&w[w.len() - 7..], &[128, 0, 1, 3, 0, 0, 0]);
    let Message::Subscribe(s) = message(read(&w, D14).expect("decodes")) else {
        panic!("SUBSCRIBE");
    };
    let mut expected = Parameters::new();
    expected.set_subscriber_priority(128);
    expected.set_forward(true);
    expected.set_subscription_filter(&SubscriptionFilter::AbsoluteStart(Location::new(0, 0)));
    assert_eq!(s.parameters, expected);
}

#[test]
fn draft14_publisher_metadata_is_track_properties() {
    // SUBSCRIBE_OK: alias 1, Expires 0, Descending, Content Exists with {4, 4}, then
    // DELIVERY_TIMEOUT 100 and MAX_CACHE_DURATION 9.
    let mut p = Vec::new();
    vi(&mut p, &[0, 1, 0]);
    p.extend_from_slice(&[2, 1]);
    vi(&mut p, &[4, 4, 2, 0x04, 9, 0x02, 100]);
    let Message::SubscribeOk(ok) = message(read(&frame(0x4, &p), D14).expect("decodes")) else {
        panic!("SUBSCRIBE_OK");
    };
    assert_eq!(ok.parameters.largest_object(), Some(Location::new(4, 4)));
    assert_eq!(ok.parameters.group_order(), Some(GroupOrder::Descending));
    assert_eq!(ok.parameters.expires(), Some(0));
    assert_eq!(
        ok.track_properties,
        props(&[(0x02, KvpValue::Varint(100)), (0x04, KvpValue::Varint(9))])
    );
    // PUBLISH's Group Order is the publisher's preference.
    let publish = samples14()
        .into_iter()
        .find(|m| matches!(m, ControlMessage::Request(Message::Publish(_))))
        .expect("a PUBLISH");
    let Message::Publish(p) = message(publish) else {
        panic!("PUBLISH");
    };
    assert_eq!(
        p.track_properties.pairs().get(0x22),
        Some(&KvpValue::Varint(2))
    );
}

#[test]
fn error_codes_keep_their_meaning() {
    let error = |kind: u64, code: u64, v: Version| {
        let mut p = Vec::new();
        vi(&mut p, &[3, code, 0]);
        match message(read(&frame(kind, &p), v).expect("decodes")) {
            Message::RequestError(e) => e.error_code,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(error(0x5, 0x4, D14), RequestErrorCode::DOES_NOT_EXIST);
    assert_eq!(
        error(0x5, 0x10, D14),
        RequestErrorCode::MALFORMED_AUTH_TOKEN
    );
    assert_eq!(
        error(0x19, 0x7, D14),
        RequestErrorCode::INVALID_JOINING_REQUEST_ID
    );
    assert_eq!(error(0x13, 0x5, D14), RequestErrorCode::PREFIX_OVERLAP);
    assert_eq!(error(0x1F, 0x4, D14), RequestErrorCode::UNINTERESTED);
    let done = |code: u64, v: Version| {
        let mut p = Vec::new();
        vi(&mut p, &[1, code, 0, 0]);
        match message(read(&frame(0xB, &p), v).expect("decodes")) {
            Message::PublishDone(d) => d.status_code,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(done(0x5, D14), PublishDoneCode::EXPIRED);
    assert_eq!(done(0x7, D14), PublishDoneCode::MALFORMED_TRACK);
    assert_eq!(done(0x5, D16), PublishDoneCode::EXPIRED);
    assert_eq!(done(0x6, D16), PublishDoneCode::TOO_FAR_BEHIND);
    // No Redirect before draft-17.
    let mut p = Vec::new();
    vi(&mut p, &[3, 0x34, 0, 0]);
    assert!(read(&frame(0x5, &p), D16).is_err());
}

#[test]
fn tokens_are_written_with_the_drafts_varints() {
    // Alias 100 is two bytes as an RFC 9000 varint and as draft-18's: 0x40 0x64 vs 0x80 0x64.
    let t = AuthToken::Register {
        alias: 100,
        token_type: 1,
        token_value: Bytes::from_static(b"v"),
    };
    let mut p = Parameters::new();
    p.push_authorization_token(&t);
    let m = ControlMessage::Request(
        PublishNamespace {
            request_id: 0,
            track_namespace: ns("a"),
            parameters: p,
        }
        .into(),
    );
    for v in [D14, D16] {
        let w = super::tests::wire(&m, v);
        assert!(w.windows(3).any(|x| x == [0x01, 0x40, 0x64]), "{v}: {w:x?}");
        let Message::PublishNamespace(back) = message(read(&w, v).expect("decodes")) else {
            panic!("PUBLISH_NAMESPACE");
        };
        let tokens: Vec<_> = back.parameters.authorization_tokens().collect();
        assert_eq!(tokens, vec![Ok(t.clone())]);
    }
    // A Token that does not parse is a KEY_VALUE_FORMATTING_ERROR.
    let mut p = Vec::new();
    vi(&mut p, &[0, 1, 1]);
    p.push(b'a');
    vi(&mut p, &[1, 0x03, 1, 9]);
    assert!(matches!(
        read(&frame(0x6, &p), D16),
        Err(DecodeError::KeyValueFormatting { key: 0x03, .. })
    ));
}

#[test]
fn draft16_refuses_what_it_defines_as_errors() {
    let subscribe = |params: &[u64]| {
        let mut p = Vec::new();
        vi(&mut p, &[0, 1, 1]);
        p.push(b'a');
        vi(&mut p, &[0]);
        vi(&mut p, params);
        frame(0x3, &p)
    };
    let cases: &[&[u64]] = &[
        &[1, 0x1000, 1],           // unknown Message Parameter
        &[1, 0x04, 1],             // draft-18's RENDEZVOUS_TIMEOUT, unknown to draft-16
        &[2, 0x10, 1, 0, 1],       // FORWARD twice
        &[1, 0x20, 256],           // SUBSCRIBER_PRIORITY above 255
        &[1, 0x22, 0],             // GROUP_ORDER 0
        &[1, 0x02, 0],             // DELIVERY_TIMEOUT 0
        &[1, 0x21, 4, 4, 5, 0, 4], // AbsoluteRange ending before it starts
        &[1, 0x21, 2, 3, 1],       // a filter shorter than its length
        &[1, 0x09, 1, 1],          // LARGEST_OBJECT of one varint
    ];
    for params in cases {
        assert!(read(&subscribe(params), D16).is_err(), "{params:x?}");
    }
    assert!(read(&subscribe(&[1, 0x21, 1, 1]), D16).is_ok());
    // Track Extensions out of range, as a SUBSCRIBE_OK's.
    for ext in [[0x22u64, 3], [0x30, 2], [0x02, 0]] {
        let mut p = Vec::new();
        vi(&mut p, &[0, 1, 0]);
        vi(&mut p, &ext);
        assert!(matches!(
            read(&frame(0x4, &p), D16),
            Err(DecodeError::InvalidValue { .. })
        ));
    }
    // Subscribe Options "both" is one request the model cannot hold.
    let mut p = Vec::new();
    vi(&mut p, &[0, 0, 2, 0]);
    assert!(matches!(
        read(&frame(0x11, &p), D16),
        Err(DecodeError::InvalidValue { value: 2, .. })
    ));
}

#[test]
fn namespace_rules_per_draft() {
    let ns_msg = |fields: &[&[u8]]| {
        let mut p = Vec::new();
        vi(&mut p, &[fields.len() as u64]);
        for f in fields {
            vi(&mut p, &[f.len() as u64]);
            p.extend_from_slice(f);
        }
        frame(0x9, &p) // draft-14's PUBLISH_NAMESPACE_DONE
    };
    // Draft-14 admits an empty field, not an empty namespace.
    assert!(read(&ns_msg(&[b"", b"a"]), D14).is_ok());
    assert!(read(&ns_msg(&[]), D14).is_err());
    // A prefix may be empty (every namespace), as moq-dev's clients send it.
    let unsubscribe_all = frame(0x14, &[0]);
    assert!(read(&unsubscribe_all, D14).is_ok());
    // Draft-16 refuses an empty field; its NAMESPACE may name no field.
    let mut p = Vec::new();
    vi(&mut p, &[2, 0, 1]);
    p.push(b'a');
    assert_eq!(
        read(&frame(0x8, &p), D16),
        Err(DecodeError::EmptyNamespaceField)
    );
    assert!(read(&frame(0x8, &[0]), D16).is_ok());
    let m = ControlMessage::Request(
        PublishNamespace {
            request_id: 0,
            track_namespace: TrackNamespace::default(),
            parameters: Parameters::new(),
        }
        .into(),
    );
    refused(&m, D14);
    refused(&m, D16);
    // TRACK_STATUS_OK's Track Alias is 0.
    let mut p = Vec::new();
    vi(&mut p, &[0, 5, 0]);
    p.extend_from_slice(&[1, 0]);
    vi(&mut p, &[0]);
    assert!(matches!(
        read(&frame(0xE, &p), D14),
        Err(DecodeError::InvalidValue { value: 5, .. })
    ));
}

#[test]
fn what_a_draft_cannot_say_is_refused() {
    use ControlMessage as C;
    let goaway = C::GoAway(GoAway {
        new_session_uri: Bytes::new(),
        timeout: 5,
        request_id: None,
    });
    let with = |kind, v| {
        let mut p = Parameters::new();
        p.push(kind, v);
        C::Request(
            Subscribe {
                request_id: 0,
                track_namespace: ns("a"),
                track_name: Bytes::new(),
                parameters: p,
            }
            .into(),
        )
    };
    let error = |kind, retry_interval, redirect: Option<Redirect>| C::Reply {
        request_id: 1,
        kind,
        message: RequestError {
            error_code: if redirect.is_some() {
                RequestErrorCode::REDIRECT
            } else {
                RequestErrorCode::TIMEOUT
            },
            retry_interval,
            error_reason: Default::default(),
            redirect,
        }
        .into(),
    };
    let ranged = C::Request(
        Fetch {
            request_id: 0,
            fetch_type: FetchType::Ranged {
                track_namespace: ns("a"),
                track_name: Bytes::new(),
                filter: None,
            },
            parameters: Parameters::new(),
        }
        .into(),
    );
    let ok_with = |params: Parameters, track_properties: Properties| C::Reply {
        request_id: 0,
        kind: Some(RequestKind::Subscribe),
        message: SubscribeOk {
            track_alias: 0,
            parameters: params,
            track_properties,
        }
        .into(),
    };
    let ordered = {
        let mut p = Parameters::new();
        p.set_group_order(GroupOrder::Ascending);
        p
    };
    let both: &[ControlMessage] = &[
        goaway,
        error(Some(RequestKind::Subscribe), 0, Some(Redirect::default())),
        ranged,
        with(
            pt::SUBSCRIPTION_FILTER,
            ParameterValue::Filter(SubscriptionFilter::RelativeStart { groups: 2 }),
        ),
        with(pt::FORWARD, ParameterValue::Uint8(2)),
        with(
            pt::OBJECT_DELIVERY_TIMEOUT,
            ParameterValue::Bytes(Bytes::new()),
        ),
        C::MaxRequestId(1 << 62),
        ok_with(Parameters::new(), props(&[(0x22, KvpValue::Varint(7))])),
        with(pt::GROUP_ORDER, ParameterValue::Uint8(3)),
        C::Reply {
            request_id: 0,
            kind: Some(RequestKind::Publish),
            message: PublishOk {
                parameters: {
                    let mut p = Parameters::new();
                    p.push(pt::GROUP_ORDER, ParameterValue::Uint8(0));
                    p
                },
                track_properties: Properties::new(),
            }
            .into(),
        },
    ];
    for m in both {
        refused(m, D14);
        refused(m, D16);
    }
    let d14_only: &[ControlMessage] = &[
        error(None, 0, None),
        C::Reply {
            request_id: 0,
            kind: None,
            message: RequestOk::default().into(),
        },
        C::ServerSetup {
            version: None,
            setup: Setup::default(),
        },
        C::PublishNamespaceDone(NamespaceTarget::RequestId(1)),
        C::Request(SubscribeTracks::default().into()),
        C::Reply {
            request_id: 0,
            kind: Some(RequestKind::Subscribe),
            message: RequestOk::default().into(),
        },
        C::Reply {
            request_id: 0,
            kind: Some(RequestKind::Subscribe),
            message: RequestUpdate::default().into(),
        },
    ];
    for m in d14_only {
        refused(m, D14);
    }
    assert!(matches!(
        refused(&C::MaxRequestId(u64::MAX), D16),
        EncodeError::VarintTooLarge(_)
    ));
    let d16_only: &[ControlMessage] = &[
        with(pt::OBJECT_DELIVERY_TIMEOUT, ParameterValue::Varint(0)),
        C::ClientSetup {
            versions: vec![1],
            setup: Setup::default(),
        },
        C::PublishNamespaceDone(NamespaceTarget::Namespace(ns("a"))),
        C::UnsubscribeNamespace { prefix: ns("a") },
        ok_with(Parameters::new(), props(&[(0x02, KvpValue::Varint(0))])),
        C::Reply {
            request_id: 0,
            kind: Some(RequestKind::Fetch),
            message: SubscribeOk::default().into(),
        },
    ];
    for m in d16_only {
        refused(m, D16);
    }
    // Written in the other draft, they are fine.
    assert!(
        encode(
            &ok_with(ordered, Properties::new()),
            D14,
            &mut BytesMut::new()
        )
        .is_ok()
    );
    assert!(encode(&d16_only[0], D14, &mut BytesMut::new()).is_ok());
}

/// `full` is written as `bare` is, byte for byte, and read back as `bare` is: what the draft has
/// no word for is left out, everything else intact.
fn left_out(full: &ControlMessage, bare: &ControlMessage, v: Version) -> ControlMessage {
    let w = super::tests::wire(full, v);
    assert_eq!(w, super::tests::wire(bare, v), "{v}: {full:?}");
    let back = read(&w, v).expect("decodes");
    assert_eq!(
        back,
        read(&super::tests::wire(bare, v), v).expect("decodes")
    );
    back
}

#[test]
fn what_a_draft_has_no_word_for_is_left_out() {
    use ControlMessage as C;
    let subscribe = |parameters| {
        C::Request(
            Subscribe {
                request_id: 3,
                track_namespace: ns("a/b"),
                track_name: Bytes::from_static(b"t"),
                parameters,
            }
            .into(),
        )
    };
    let mut kept = Parameters::new();
    kept.set_subscriber_priority(7);
    kept.set_forward(false);
    kept.set_object_delivery_timeout(250);
    kept.push_authorization_token(&token(1));
    let mut extra = kept.clone();
    extra.set_rendezvous_timeout(100);
    extra.set_fill_timeout(5);
    extra.push(0x1000, ParameterValue::Varint(9));
    extra.push(0x1001, ParameterValue::Bytes(Bytes::from_static(b"?")));
    for v in [D14, D16] {
        let back = left_out(&subscribe(extra.clone()), &subscribe(kept.clone()), v);
        let Message::Subscribe(s) = message(back) else {
            panic!("SUBSCRIBE");
        };
        assert_eq!(s.parameters.subscriber_priority(), Some(7));
        assert_eq!(s.parameters.object_delivery_timeout(), Some(250));
        assert_eq!(s.parameters.get(pt::RENDEZVOUS_TIMEOUT), None);
        assert_eq!(s.parameters.get(0x1000), None);
    }
    // Draft-16 has NEW_GROUP_REQUEST, draft-14 not.
    let mut new_group = kept.clone();
    new_group.set_new_group_request(4);
    left_out(&subscribe(new_group.clone()), &subscribe(kept.clone()), D14);
    let Message::Subscribe(s) =
        message(read(&super::tests::wire(&subscribe(new_group), D16), D16).expect("decodes"))
    else {
        panic!("SUBSCRIBE");
    };
    assert_eq!(
        s.parameters.get(pt::NEW_GROUP_REQUEST),
        Some(&ParameterValue::Varint(4))
    );

    // Track Properties draft-14 has no word for: DYNAMIC_GROUPS, DEFAULT_PUBLISHER_PRIORITY,
    // IMMUTABLE_PROPERTIES, unknown ones; MAX_CACHE_DURATION and the Group Order stay.
    let kept_props = props(&[(0x04, KvpValue::Varint(9)), (0x22, KvpValue::Varint(2))]);
    let extra_props = props(&[
        (0x04, KvpValue::Varint(9)),
        (0x0B, KvpValue::Bytes(super::tests::immutable())),
        (0x0E, KvpValue::Varint(5)),
        (0x22, KvpValue::Varint(2)),
        (0x30, KvpValue::Varint(1)),
        (0x41, KvpValue::Bytes(Bytes::from_static(b"x"))),
        (0x1000, KvpValue::Varint(3)),
    ]);
    let subscribe_ok = |track_properties| C::Reply {
        request_id: 3,
        kind: Some(RequestKind::Subscribe),
        message: SubscribeOk {
            track_alias: 1,
            parameters: Parameters::new(),
            track_properties,
        }
        .into(),
    };
    let back = left_out(
        &subscribe_ok(extra_props.clone()),
        &subscribe_ok(kept_props.clone()),
        D14,
    );
    let Message::SubscribeOk(ok) = message(back) else {
        panic!("SUBSCRIBE_OK");
    };
    assert_eq!(ok.parameters.group_order(), Some(GroupOrder::Descending));
    assert_eq!(ok.track_properties, props(&[(0x04, KvpValue::Varint(9))]));
    let publish = |parameters, track_properties| {
        C::Request(
            Publish {
                request_id: 2,
                track_namespace: ns("a"),
                track_name: Bytes::from_static(b"t"),
                track_alias: 6,
                parameters,
                track_properties,
            }
            .into(),
        )
    };
    // PUBLISH: its fields are Largest Location and Forward; EXPIRES and RENDEZVOUS_TIMEOUT have
    // no place in it.
    let mut publish_params = Parameters::new();
    publish_params.set_largest_object(Location::new(3, 1));
    publish_params.set_forward(false);
    let mut publish_extra = publish_params.clone();
    publish_extra.set_expires(10);
    publish_extra.set_rendezvous_timeout(20);
    let back = left_out(
        &publish(publish_extra, extra_props.clone()),
        &publish(publish_params.clone(), kept_props.clone()),
        D14,
    );
    let Message::Publish(p) = message(back) else {
        panic!("PUBLISH");
    };
    assert_eq!(p.parameters, publish_params);
    assert_eq!(p.track_properties, kept_props);

    // PUBLISH_OK: no Track Properties on either draft; draft-14's Group Order defaults to
    // Ascending.
    let publish_ok = |parameters, track_properties| C::Reply {
        request_id: 2,
        kind: Some(RequestKind::Publish),
        message: PublishOk {
            parameters,
            track_properties,
        }
        .into(),
    };
    let mut ascending = Parameters::new();
    ascending.set_group_order(GroupOrder::Ascending);
    left_out(
        &publish_ok(Parameters::new(), extra_props.clone()),
        &publish_ok(ascending.clone(), Properties::new()),
        D14,
    );
    let Message::PublishOk(ok) = message(
        read(
            &super::tests::wire(&publish_ok(Parameters::new(), Properties::new()), D14),
            D14,
        )
        .expect("decodes"),
    ) else {
        panic!("PUBLISH_OK");
    };
    assert_eq!(ok.parameters.group_order(), Some(GroupOrder::Ascending));
    left_out(
        &publish_ok(ascending.clone(), kept_props.clone()),
        &publish_ok(ascending, Properties::new()),
        D16,
    );

    // REQUEST_OK: draft-16's has no Track Properties, draft-14's PUBLISH_NAMESPACE_OK and
    // SUBSCRIBE_NAMESPACE_OK nothing but the Request ID.
    let request_ok = |kind, parameters, track_properties| C::Reply {
        request_id: 4,
        kind,
        message: RequestOk {
            parameters,
            track_properties,
        }
        .into(),
    };
    let mut expires = Parameters::new();
    expires.set_expires(30);
    left_out(
        &request_ok(None, expires.clone(), kept_props.clone()),
        &request_ok(None, expires.clone(), Properties::new()),
        D16,
    );
    for kind in [
        RequestKind::PublishNamespace,
        RequestKind::SubscribeNamespace,
    ] {
        left_out(
            &request_ok(Some(kind), expires.clone(), kept_props.clone()),
            &request_ok(Some(kind), Parameters::new(), Properties::new()),
            D14,
        );
    }

    // Draft-14 errors have no Retry Interval.
    let error = |retry_interval| C::Reply {
        request_id: 1,
        kind: Some(RequestKind::Fetch),
        message: RequestError {
            error_code: RequestErrorCode::TIMEOUT,
            retry_interval,
            error_reason: Default::default(),
            redirect: None,
        }
        .into(),
    };
    left_out(&error(500), &error(0), D14);

    // SUBSCRIBE_UPDATE with its three fields: NEW_GROUP_REQUEST and RENDEZVOUS_TIMEOUT left out.
    let update = |parameters| C::Reply {
        request_id: 3,
        kind: Some(RequestKind::Subscribe),
        message: RequestUpdate {
            request_id: 5,
            parameters,
        }
        .into(),
    };
    let mut fields = Parameters::new();
    fields.set_subscription_filter(&SubscriptionFilter::AbsoluteStart(Location::new(2, 0)));
    fields.set_subscriber_priority(1);
    fields.set_forward(true);
    let mut update_extra = fields.clone();
    update_extra.set_new_group_request(3);
    update_extra.set_rendezvous_timeout(9);
    left_out(&update(update_extra), &update(fields), D14);
}

#[test]
fn draft14_update_end_group_is_the_last_group_plus_one() {
    let update = |end: u64| {
        let mut p = Vec::new();
        vi(&mut p, &[2, 0, 5, 0, end]);
        p.extend_from_slice(&[1, 1]);
        vi(&mut p, &[0]);
        read(&frame(0x2, &p), D14)
    };
    let filter = |m: ControlMessage| match message(m) {
        Message::RequestUpdate(u) => u.parameters.subscription_filter(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        filter(update(0).expect("open ended")),
        Some(SubscriptionFilter::AbsoluteStart(Location::new(5, 0)))
    );
    assert_eq!(
        filter(update(8).expect("to group 7")),
        Some(SubscriptionFilter::AbsoluteRange {
            start: Location::new(5, 0),
            end_group_delta: 2
        })
    );
    // An End Group of the start group (the group before it is the last) is an empty range.
    assert!(update(5).is_err());
}

#[test]
fn setup_parameters_are_setup_options() {
    for (v, m) in [(D14, &samples14()[0]), (D16, &samples16()[0])] {
        let w = super::tests::wire(m, v);
        let ControlMessage::ClientSetup { setup, .. } = read(&w, v).expect("decodes") else {
            panic!("CLIENT_SETUP");
        };
        assert_eq!(setup.path().map(|b| &b[..]), Some(&b"/moq?x=1"[..]));
        assert_eq!(
            setup.options.get(super::setup_parameter::MAX_REQUEST_ID),
            Some(&KvpValue::Varint(2048))
        );
        let tokens: Vec<_> = setup.authorization_tokens().collect();
        assert_eq!(tokens[0], Ok(token(1)));
        assert_eq!(setup.options.get_all(0x9D).count(), 2);
    }
    // A known Setup Parameter twice is refused.
    let mut p = Vec::new();
    vi(&mut p, &[2, 0x02, 1, 0, 2]);
    assert!(read(&frame(0x21, &p), D16).is_err());
}

#[test]
fn immutable_extensions_are_written_with_the_drafts_varints() {
    let m = ControlMessage::Reply {
        request_id: 0,
        kind: Some(RequestKind::Subscribe),
        message: SubscribeOk {
            track_alias: 0,
            parameters: Parameters::new(),
            track_properties: props(&[(0x0B, KvpValue::Bytes(super::tests::immutable()))]),
        }
        .into(),
    };
    let w = super::tests::wire(&m, D16);
    // Type 0x0B, length 8, then 0x0E 200 as RFC 9000 varints (0x40 0xC8).
    assert_eq!(&w[6..11], &[0x0B, 8, 0x0E, 0x40, 0xC8]);
    assert_eq!(read(&w, D16), Ok(m));
}

#[test]
fn draft14_reply_group_order_defaults_to_the_publishers() {
    let ok = |params: Parameters, track_properties: Properties| ControlMessage::Reply {
        request_id: 0,
        kind: Some(RequestKind::Subscribe),
        message: SubscribeOk {
            track_alias: 1,
            parameters: params,
            track_properties,
        }
        .into(),
    };
    let order_of = |m: &ControlMessage| {
        let w = super::tests::wire(m, D14);
        let Message::SubscribeOk(back) = message(read(&w, D14).expect("decodes")) else {
            panic!("SUBSCRIBE_OK");
        };
        assert!(back.track_properties.is_empty());
        back.parameters.group_order()
    };
    // No GROUP_ORDER: the track's DEFAULT_PUBLISHER_GROUP_ORDER, else Ascending.
    let descending = props(&[(0x22, KvpValue::Varint(2))]);
    assert_eq!(
        order_of(&ok(Parameters::new(), descending.clone())),
        Some(GroupOrder::Descending)
    );
    assert_eq!(
        order_of(&ok(Parameters::new(), Properties::new())),
        Some(GroupOrder::Ascending)
    );
    let mut ascending = Parameters::new();
    ascending.set_group_order(GroupOrder::Ascending);
    assert_eq!(
        order_of(&ok(ascending, descending)),
        Some(GroupOrder::Ascending)
    );
}

#[test]
fn draft14_client_setup_of_another_draft_is_read_for_its_versions() {
    // A CLIENT_SETUP whose parameters are not draft-14's (here draft-16's, which has no
    // versions: "versions" [2], then 2048 parameters that are not there).
    let mut p = Vec::new();
    vi(&mut p, &[1, 0x02, 2048]);
    assert_eq!(
        read(&frame(0x20, &p), D14),
        Ok(ControlMessage::ClientSetup {
            versions: vec![2],
            setup: Setup::default(),
        })
    );
    // Offering draft-14's version, the same bytes are a malformed message.
    let mut p = Vec::new();
    vi(&mut p, &[1, Version::DRAFT14_SETUP_VERSION, 2048]);
    assert!(read(&frame(0x20, &p), D14).is_err());
}
