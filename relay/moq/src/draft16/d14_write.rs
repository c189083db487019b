//! Draft-14's control messages written from the model (see [`super::d14`]).
//!
//! What draft-14 has no word for is left out (model parameters and Track Properties outside a
//! message's fields and parameters, an error's Retry Interval), and a field the model leaves out
//! takes the draft's default (see [`super::fields14`]); what cannot be said without changing the
//! meaning is refused.

use bytes::BufMut;

use super::codes::{PUBLISH_DONE_14, PUBLISH_NAMESPACE_ERROR};
use super::common::{
    UNFILTERED, check_error, check_kind, put_alike, put_fetch_type, put_full_track,
    put_track_request,
};
use super::d14::{error_message, ty};
use super::fields14::{FETCH_OK, PUBLISH, PUBLISH_OK, SUBSCRIBER, TOKEN_ONLY, TRACK_OK, Write14};
use super::params::{put_filter, put_setup};
use super::wire::{NS14, PREFIX14, Types, put, put_location, put_namespace, put_reason};
use super::{ControlMessage, NamespaceTarget, RequestKind};
use crate::coding::{EncodeError, Location, TrackNamespace};
use crate::data::Properties;
use crate::message::{
    Message, Parameters, PublishNamespace, RequestError, RequestOk, RequestUpdate,
    SubscribeNamespace, SubscriptionFilter, parameter_type as pt,
};

/// SUBSCRIBE's and TRACK_STATUS's Subscriber Priority, Group Order, Forward, filter and
/// parameters.
fn put_subscription(p: &Parameters, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let fields = [
        pt::SUBSCRIBER_PRIORITY,
        pt::GROUP_ORDER,
        pt::FORWARD,
        pt::SUBSCRIPTION_FILTER,
    ];
    let w = Write14::new(p, &fields, None, SUBSCRIBER)?;
    out.put_u8(w.priority.unwrap_or(128));
    out.put_u8(w.group_order.unwrap_or(0));
    out.put_u8(w.forward.unwrap_or(1));
    put_filter(&w.filter.unwrap_or(UNFILTERED), out)?;
    w.put_parameters(out)
}

/// SUBSCRIBE_OK's and TRACK_STATUS_OK's Expires, Group Order, Content Exists, Largest Location
/// and parameters.
fn put_track_ok(p: &Parameters, props: &Properties, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let fields = [pt::EXPIRES, pt::GROUP_ORDER, pt::LARGEST_OBJECT];
    let w = Write14::new(p, &fields, Some(props), TRACK_OK)?;
    put(w.expires.unwrap_or(0), out)?;
    out.put_u8(w.group_order.or(w.default_order).unwrap_or(1));
    put_largest(w.largest, out)?;
    w.put_parameters(out)
}

/// Content Exists and, when 1, Largest Location.
fn put_largest(l: Option<Location>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    out.put_u8(u8::from(l.is_some()));
    match l {
        Some(l) => put_location(l, out),
        None => Ok(()),
    }
}

/// Write the payload of `m`; its message type.
pub(super) fn encode(m: &ControlMessage, out: &mut Vec<u8>) -> Result<u64, EncodeError> {
    use ControlMessage as C;
    Ok(match m {
        C::ClientSetup { versions, setup } => {
            put(versions.len() as u64, out)?;
            for v in versions {
                put(*v, out)?;
            }
            put_setup(setup, Types::Absolute, out)?;
            ty::CLIENT_SETUP
        }
        C::ServerSetup { version, setup } => {
            let v = version.ok_or(EncodeError::Invalid(
                "draft-14 SERVER_SETUP needs its Selected Version",
            ))?;
            put(v, out)?;
            put_setup(setup, Types::Absolute, out)?;
            ty::SERVER_SETUP
        }
        C::GoAway(_)
        | C::MaxRequestId(_)
        | C::RequestsBlocked(_)
        | C::Unsubscribe { .. }
        | C::FetchCancel { .. } => put_alike(m, out)?,
        C::Request(message) => request(message, out)?,
        C::Reply {
            request_id,
            kind,
            message,
        } => put_reply(*request_id, *kind, message, out)?,
        C::PublishNamespaceDone(target) => {
            put_namespace(namespace_of(target)?, NS14, out)?;
            ty::PUBLISH_NAMESPACE_DONE
        }
        C::PublishNamespaceCancel {
            target,
            error_code,
            error_reason,
        } => {
            put_namespace(namespace_of(target)?, NS14, out)?;
            put(PUBLISH_NAMESPACE_ERROR.to_wire(error_code.0), out)?;
            put_reason(error_reason, out)?;
            ty::PUBLISH_NAMESPACE_CANCEL
        }
        C::UnsubscribeNamespace { prefix } => {
            put_namespace(prefix, PREFIX14, out)?;
            ty::UNSUBSCRIBE_NAMESPACE
        }
    })
}

fn namespace_of(target: &NamespaceTarget) -> Result<&TrackNamespace, EncodeError> {
    match target {
        NamespaceTarget::Namespace(ns) => Ok(ns),
        NamespaceTarget::RequestId(_) => Err(EncodeError::Invalid(
            "draft-14 names the PUBLISH_NAMESPACE by its Track Namespace",
        )),
    }
}

/// Write a request.
fn request(m: &Message, out: &mut Vec<u8>) -> Result<u64, EncodeError> {
    Ok(match m {
        Message::Subscribe(_) | Message::TrackStatus(_) => {
            put_track_request(m, NS14, put_subscription, out)?
        }
        Message::Publish(p) => {
            let w = Write14::new(
                &p.parameters,
                &[pt::LARGEST_OBJECT, pt::FORWARD],
                Some(&p.track_properties),
                PUBLISH,
            )?;
            put_full_track(p.request_id, &p.track_namespace, &p.track_name, NS14, out)?;
            put(p.track_alias, out)?;
            out.put_u8(w.default_order.unwrap_or(1));
            put_largest(w.largest, out)?;
            out.put_u8(w.forward.unwrap_or(1));
            w.put_parameters(out)?;
            ty::PUBLISH
        }
        Message::Fetch(f) => {
            let fields = [pt::SUBSCRIBER_PRIORITY, pt::GROUP_ORDER];
            let w = Write14::new(&f.parameters, &fields, None, TOKEN_ONLY)?;
            put(f.request_id, out)?;
            out.put_u8(w.priority.unwrap_or(128));
            out.put_u8(w.group_order.unwrap_or(0));
            put_fetch_type(&f.fetch_type, NS14, out)?;
            w.put_parameters(out)?;
            ty::FETCH
        }
        Message::PublishNamespace(PublishNamespace {
            request_id,
            track_namespace: ns,
            parameters,
        })
        | Message::SubscribeNamespace(SubscribeNamespace {
            request_id,
            track_namespace_prefix: ns,
            parameters,
        }) => {
            let w = Write14::new(parameters, &[], None, TOKEN_ONLY)?;
            put(*request_id, out)?;
            let rule = match m {
                Message::PublishNamespace(_) => NS14,
                _ => PREFIX14,
            };
            put_namespace(ns, rule, out)?;
            w.put_parameters(out)?;
            match m {
                Message::PublishNamespace(_) => ty::PUBLISH_NAMESPACE,
                _ => ty::SUBSCRIBE_NAMESPACE,
            }
        }
        Message::SubscribeTracks(_) => {
            return Err(EncodeError::Invalid(
                "draft-14 has no SUBSCRIBE_TRACKS (its SUBSCRIBE_NAMESPACE brings PUBLISH too)",
            ));
        }
        _ => {
            return Err(EncodeError::Invalid(
                "not a request of draft-14 (SUBSCRIBE, PUBLISH, FETCH, TRACK_STATUS, \
                 PUBLISH_NAMESPACE, SUBSCRIBE_NAMESPACE)",
            ));
        }
    })
}

/// Write a message about request `request_id`.
fn put_reply(
    request_id: u64,
    kind: Option<RequestKind>,
    m: &Message,
    out: &mut Vec<u8>,
) -> Result<u64, EncodeError> {
    if let Message::RequestUpdate(u) = m {
        return put_update(request_id, kind, u, out);
    }
    put(request_id, out)?;
    Ok(match m {
        Message::RequestOk(ok) => put_request_ok(kind, ok, out)?,
        Message::RequestError(e) => put_request_error(kind, e, out)?,
        Message::SubscribeOk(ok) => {
            check_kind(kind, RequestKind::Subscribe)?;
            put(ok.track_alias, out)?;
            put_track_ok(&ok.parameters, &ok.track_properties, out)?;
            ty::SUBSCRIBE_OK
        }
        Message::PublishOk(ok) => {
            // Draft-14 PUBLISH_OK has no Track Properties: they are left out, and so is a
            // parameter it has no field or DELIVERY TIMEOUT for. Absent fields take their
            // defaults: Forward 1, Subscriber Priority 128, Group Order Ascending, unfiltered.
            check_kind(kind, RequestKind::Publish)?;
            let fields = [
                pt::FORWARD,
                pt::SUBSCRIBER_PRIORITY,
                pt::GROUP_ORDER,
                pt::SUBSCRIPTION_FILTER,
            ];
            let w = Write14::new(&ok.parameters, &fields, None, PUBLISH_OK)?;
            out.put_u8(w.forward.unwrap_or(1));
            out.put_u8(w.priority.unwrap_or(128));
            out.put_u8(w.group_order.unwrap_or(1));
            put_filter(&w.filter.unwrap_or(UNFILTERED), out)?;
            w.put_parameters(out)?;
            ty::PUBLISH_OK
        }
        Message::PublishDone(d) => {
            put(PUBLISH_DONE_14.to_wire(d.status_code.0), out)?;
            put(d.stream_count, out)?;
            put_reason(&d.error_reason, out)?;
            ty::PUBLISH_DONE
        }
        Message::FetchOk(ok) => {
            check_kind(kind, RequestKind::Fetch)?;
            let w = Write14::new(
                &ok.parameters,
                &[pt::GROUP_ORDER],
                Some(&ok.track_properties),
                FETCH_OK,
            )?;
            out.put_u8(w.group_order.or(w.default_order).unwrap_or(1));
            out.put_u8(u8::from(ok.end_of_track));
            put_location(ok.end_location, out)?;
            w.put_parameters(out)?;
            ty::FETCH_OK
        }
        _ => {
            return Err(EncodeError::Invalid(
                "not a reply of draft-14 (an OK or ERROR, SUBSCRIBE_UPDATE, PUBLISH_DONE)",
            ));
        }
    })
}

/// REQUEST_OK as TRACK_STATUS_OK, PUBLISH_NAMESPACE_OK or SUBSCRIBE_NAMESPACE_OK. The last
/// two carry the Request ID alone: the REQUEST_OK's parameters and Track Properties are left
/// out. Without its kind (`None`), or answering what draft-14 answers otherwise, it is refused.
fn put_request_ok(
    kind: Option<RequestKind>,
    ok: &RequestOk,
    out: &mut Vec<u8>,
) -> Result<u64, EncodeError> {
    match kind {
        Some(RequestKind::TrackStatus) => {
            put(0, out)?; // Track Alias
            put_track_ok(&ok.parameters, &ok.track_properties, out)?;
            Ok(ty::TRACK_STATUS_OK)
        }
        Some(RequestKind::PublishNamespace) => Ok(ty::PUBLISH_NAMESPACE_OK),
        Some(RequestKind::SubscribeNamespace) => Ok(ty::SUBSCRIBE_NAMESPACE_OK),
        Some(_) => Err(EncodeError::Invalid(
            "draft-14 answers SUBSCRIBE, PUBLISH and FETCH with their own OK, and \
             SUBSCRIBE_UPDATE with nothing",
        )),
        None => Err(EncodeError::Invalid(
            "draft-14 needs the kind of request a REQUEST_OK answers",
        )),
    }
}

/// REQUEST_ERROR as the ERROR message of its request's kind, refused without the kind. Draft-14
/// errors have no Retry Interval: it is dropped (the peer retries at its own discretion).
fn put_request_error(
    kind: Option<RequestKind>,
    e: &RequestError,
    out: &mut Vec<u8>,
) -> Result<u64, EncodeError> {
    check_error(e)?;
    let kind = kind.ok_or(EncodeError::Invalid(
        "draft-14 needs the kind of request an error answers",
    ))?;
    let (t, codes) = error_message(kind);
    put(codes.to_wire(e.error_code.0), out)?;
    put_reason(&e.error_reason, out)?;
    Ok(t)
}

/// REQUEST_UPDATE of a subscription as SUBSCRIBE_UPDATE: its SUBSCRIPTION_FILTER (AbsoluteStart
/// or AbsoluteRange), SUBSCRIBER_PRIORITY and FORWARD are fields, none optional. A missing one
/// is refused, not defaulted: SUBSCRIBE_UPDATE replaces the subscription's values, and a
/// default would change what the update leaves alone. Other parameters but DELIVERY TIMEOUT
/// and AUTHORIZATION TOKEN (NEW_GROUP_REQUEST, ...) are left out.
fn put_update(
    subscription: u64,
    kind: Option<RequestKind>,
    u: &RequestUpdate,
    out: &mut Vec<u8>,
) -> Result<u64, EncodeError> {
    if !matches!(
        kind,
        None | Some(RequestKind::Subscribe | RequestKind::Publish)
    ) {
        return Err(EncodeError::Invalid(
            "draft-14 updates subscriptions only (SUBSCRIBE_UPDATE)",
        ));
    }
    let fields = [
        pt::SUBSCRIPTION_FILTER,
        pt::SUBSCRIBER_PRIORITY,
        pt::FORWARD,
    ];
    let w = Write14::new(&u.parameters, &fields, None, SUBSCRIBER)?;
    let (start, end) = match w.filter {
        Some(SubscriptionFilter::AbsoluteStart(start)) => (start, 0),
        Some(SubscriptionFilter::AbsoluteRange {
            start,
            end_group_delta,
        }) => {
            let end = start
                .group
                .checked_add(end_group_delta)
                .and_then(|g| g.checked_add(1))
                .ok_or(EncodeError::Invalid("End Group beyond 2^64 - 1"))?;
            (start, end)
        }
        Some(_) => {
            return Err(EncodeError::Invalid(
                "draft-14 SUBSCRIBE_UPDATE has a Start Location and End Group only",
            ));
        }
        None => {
            return Err(EncodeError::Invalid(
                "draft-14 SUBSCRIBE_UPDATE needs SUBSCRIPTION_FILTER (its Start Location and End Group)",
            ));
        }
    };
    put(u.request_id, out)?;
    put(subscription, out)?;
    put_location(start, out)?;
    put(end, out)?;
    out.put_u8(w.priority.ok_or(EncodeError::Invalid(
        "draft-14 SUBSCRIBE_UPDATE needs SUBSCRIBER_PRIORITY",
    ))?);
    out.put_u8(w.forward.ok_or(EncodeError::Invalid(
        "draft-14 SUBSCRIBE_UPDATE needs FORWARD",
    ))?);
    w.put_parameters(out)?;
    Ok(ty::SUBSCRIBE_UPDATE)
}
