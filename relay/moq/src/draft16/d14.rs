//! Draft-14's control messages (draft-14 §9, Table of Message Types).
//!
//! Each OK and ERROR message names its request's kind; a reply to write needs it for REQUEST_OK
//! (TRACK_STATUS_OK, PUBLISH_NAMESPACE_OK, SUBSCRIBE_NAMESPACE_OK) and REQUEST_ERROR (the six
//! ERROR messages, each with its own error codes, see [`super::codes`]). The ERROR messages have
//! no Retry Interval (read as 0, dropped when written). SUBSCRIBE_UPDATE is the model's
//! REQUEST_UPDATE of a subscription, its Start Location and End Group a SUBSCRIPTION_FILTER.
//! SUBSCRIBE_NAMESPACE (the model's, which draft-14 answers with PUBLISH_NAMESPACE and PUBLISH)
//! and UNSUBSCRIBE_NAMESPACE name 1 to 32 fields. Fields and parameters: [`super::fields14`].

use bytes::{Buf, Bytes};

use super::codes::{
    CodeMap, FETCH_ERROR, PUBLISH_DONE_14, PUBLISH_ERROR, PUBLISH_NAMESPACE_ERROR, SUBSCRIBE_ERROR,
    SUBSCRIBE_NAMESPACE_ERROR,
};
use super::common::{get_alike, get_fetch_type, get_track_request, request_error};
use super::fields14::{
    DEFAULT_PUBLISHER_GROUP_ORDER, FETCH_OK, PUBLISH, PUBLISH_OK, Read14, SUBSCRIBER, TOKEN_ONLY,
    TRACK_OK, get_group_order,
};
use super::params::{get_filter, get_setup};
use super::wire::{
    NS14, PREFIX14, Types, get, get_flag, get_location, get_namespace, get_reason, get_track_name,
    get_u8,
};
use super::{ControlMessage, NamespaceTarget, RequestKind};
use crate::Version;
use crate::coding::{DecodeError, KvpValue, Location};
use crate::data::Properties;
use crate::message::codes::{PublishDoneCode, RequestErrorCode};
use crate::message::{
    Fetch, FetchOk, Message, ParameterValue, Parameters, Publish, PublishDone, PublishNamespace,
    PublishOk, RequestOk, RequestUpdate, Setup, SubscribeNamespace, SubscribeOk,
    SubscriptionFilter, parameter_type as pt,
};

/// Draft-14's message types (with those draft-16 shares, [`super::common::ty`]).
pub(super) mod ty {
    pub use super::super::common::ty::*;

    pub const SUBSCRIBE_UPDATE: u64 = 0x2;
    pub const SUBSCRIBE_OK: u64 = 0x4;
    pub const SUBSCRIBE_ERROR: u64 = 0x5;
    pub const PUBLISH_NAMESPACE: u64 = 0x6;
    pub const PUBLISH_NAMESPACE_OK: u64 = 0x7;
    pub const PUBLISH_NAMESPACE_ERROR: u64 = 0x8;
    pub const PUBLISH_NAMESPACE_DONE: u64 = 0x9;
    pub const PUBLISH_DONE: u64 = 0xB;
    pub const PUBLISH_NAMESPACE_CANCEL: u64 = 0xC;
    pub const TRACK_STATUS_OK: u64 = 0xE;
    pub const TRACK_STATUS_ERROR: u64 = 0xF;
    pub const SUBSCRIBE_NAMESPACE: u64 = 0x11;
    pub const SUBSCRIBE_NAMESPACE_OK: u64 = 0x12;
    pub const SUBSCRIBE_NAMESPACE_ERROR: u64 = 0x13;
    pub const UNSUBSCRIBE_NAMESPACE: u64 = 0x14;
    pub const FETCH: u64 = 0x16;
    pub const FETCH_OK: u64 = 0x18;
    pub const FETCH_ERROR: u64 = 0x19;
    pub const PUBLISH: u64 = 0x1D;
    pub const PUBLISH_OK: u64 = 0x1E;
    pub const PUBLISH_ERROR: u64 = 0x1F;
    pub const CLIENT_SETUP: u64 = 0x20;
    pub const SERVER_SETUP: u64 = 0x21;
}

/// True for a message type draft-14 defines.
pub(super) fn is_known(kind: u64) -> bool {
    matches!(kind, 0x2..=0x1A | 0x1D..=0x21)
}

/// The ERROR message of each request kind, with its error codes.
pub(super) fn error_message(kind: RequestKind) -> (u64, &'static CodeMap) {
    match kind {
        RequestKind::Subscribe => (ty::SUBSCRIBE_ERROR, &SUBSCRIBE_ERROR),
        RequestKind::Publish => (ty::PUBLISH_ERROR, &PUBLISH_ERROR),
        RequestKind::Fetch => (ty::FETCH_ERROR, &FETCH_ERROR),
        RequestKind::TrackStatus => (ty::TRACK_STATUS_ERROR, &SUBSCRIBE_ERROR),
        RequestKind::PublishNamespace => (ty::PUBLISH_NAMESPACE_ERROR, &PUBLISH_NAMESPACE_ERROR),
        RequestKind::SubscribeNamespace => {
            (ty::SUBSCRIBE_NAMESPACE_ERROR, &SUBSCRIBE_NAMESPACE_ERROR)
        }
    }
}

/// The request kind an ERROR message type answers.
fn error_kind(kind: u64) -> Option<RequestKind> {
    [
        RequestKind::Subscribe,
        RequestKind::Publish,
        RequestKind::Fetch,
        RequestKind::TrackStatus,
        RequestKind::PublishNamespace,
        RequestKind::SubscribeNamespace,
    ]
    .into_iter()
    .find(|k| error_message(*k).0 == kind)
}

fn reply(request_id: u64, kind: RequestKind, message: Message) -> ControlMessage {
    ControlMessage::Reply {
        request_id,
        kind: Some(kind),
        message,
    }
}

/// Subscriber Priority, Group Order, Forward, the filter and the parameters of SUBSCRIBE and
/// TRACK_STATUS.
fn get_subscription(buf: &mut Bytes) -> Result<Parameters, DecodeError> {
    let mut r = Read14::default();
    r.uint8(pt::SUBSCRIBER_PRIORITY, get_u8(buf)?);
    if let Some(order) = get_group_order(buf, true)? {
        r.uint8(pt::GROUP_ORDER, order);
    }
    r.uint8(pt::FORWARD, get_flag(buf, "Forward")?);
    r.params.push(
        pt::SUBSCRIPTION_FILTER,
        ParameterValue::Filter(get_filter(buf)?),
    );
    r.parameters(buf, SUBSCRIBER)?;
    Ok(r.params)
}

/// Expires, Group Order, Content Exists, Largest Location and the parameters of SUBSCRIBE_OK
/// and TRACK_STATUS_OK.
fn get_track_ok(buf: &mut Bytes) -> Result<(Parameters, Properties), DecodeError> {
    let mut r = Read14::default();
    r.params
        .push(pt::EXPIRES, ParameterValue::Varint(get(buf)?));
    let order = get_group_order(buf, false)?.unwrap_or(1);
    r.uint8(pt::GROUP_ORDER, order);
    if let Some(l) = get_largest(buf)? {
        r.params
            .push(pt::LARGEST_OBJECT, ParameterValue::Location(l));
    }
    r.parameters(buf, TRACK_OK)?;
    r.properties()
}

/// Content Exists and, when 1, Largest Location.
fn get_largest(buf: &mut Bytes) -> Result<Option<Location>, DecodeError> {
    match get_flag(buf, "Content Exists")? {
        1 => Ok(Some(get_location(buf)?)),
        _ => Ok(None),
    }
}

/// Read the payload of a message of type `kind`.
pub(super) fn decode(kind: u64, buf: &mut Bytes) -> Result<ControlMessage, DecodeError> {
    use ControlMessage as C;
    if let Some(m) = get_alike(kind, buf)? {
        return Ok(m);
    }
    Ok(match kind {
        ty::CLIENT_SETUP => {
            let count = get(buf)?;
            let mut versions = Vec::new();
            for _ in 0..count {
                versions.push(get(buf)?);
            }
            C::ClientSetup {
                setup: client_setup_parameters(buf, &versions)?,
                versions,
            }
        }
        ty::SERVER_SETUP => C::ServerSetup {
            version: Some(get(buf)?),
            setup: get_setup(buf, Types::Absolute)?,
        },
        ty::SUBSCRIBE | ty::TRACK_STATUS => {
            C::Request(get_track_request(kind, buf, NS14, get_subscription)?)
        }
        ty::SUBSCRIBE_OK | ty::TRACK_STATUS_OK => {
            let request_id = get(buf)?;
            let track_alias = get(buf)?;
            let (parameters, track_properties) = get_track_ok(buf)?;
            if kind == ty::SUBSCRIBE_OK {
                let ok = SubscribeOk {
                    track_alias,
                    parameters,
                    track_properties,
                };
                reply(request_id, RequestKind::Subscribe, ok.into())
            } else if track_alias != 0 {
                return Err(DecodeError::InvalidValue {
                    field: "TRACK_STATUS_OK Track Alias (not 0)",
                    value: track_alias,
                });
            } else {
                let ok = RequestOk {
                    parameters,
                    track_properties,
                };
                reply(request_id, RequestKind::TrackStatus, ok.into())
            }
        }
        ty::SUBSCRIBE_ERROR
        | ty::PUBLISH_ERROR
        | ty::FETCH_ERROR
        | ty::TRACK_STATUS_ERROR
        | ty::PUBLISH_NAMESPACE_ERROR
        | ty::SUBSCRIBE_NAMESPACE_ERROR => {
            let request = error_kind(kind).ok_or(DecodeError::UnknownMessageType(kind))?;
            let request_id = get(buf)?;
            let code = error_message(request).1.to_model(get(buf)?);
            let e = request_error(code, 0, get_reason(buf)?)?;
            reply(request_id, request, e.into())
        }
        ty::SUBSCRIBE_UPDATE => decode_update(buf)?,
        ty::PUBLISH_DONE => {
            let request_id = get(buf)?;
            let done = PublishDone {
                status_code: PublishDoneCode(PUBLISH_DONE_14.to_model(get(buf)?)),
                stream_count: get(buf)?,
                error_reason: get_reason(buf)?,
            };
            C::Reply {
                request_id,
                kind: None,
                message: done.into(),
            }
        }
        ty::PUBLISH => decode_publish(buf)?,
        ty::PUBLISH_OK => {
            let request_id = get(buf)?;
            let mut r = Read14::default();
            r.uint8(pt::FORWARD, get_flag(buf, "Forward")?);
            r.uint8(pt::SUBSCRIBER_PRIORITY, get_u8(buf)?);
            let order = get_group_order(buf, false)?.unwrap_or(1);
            r.uint8(pt::GROUP_ORDER, order);
            r.params.push(
                pt::SUBSCRIPTION_FILTER,
                ParameterValue::Filter(get_filter(buf)?),
            );
            r.parameters(buf, PUBLISH_OK)?;
            let ok = PublishOk {
                parameters: r.params,
                track_properties: Properties::new(),
            };
            reply(request_id, RequestKind::Publish, ok.into())
        }
        ty::FETCH => {
            let request_id = get(buf)?;
            let mut r = Read14::default();
            r.uint8(pt::SUBSCRIBER_PRIORITY, get_u8(buf)?);
            if let Some(order) = get_group_order(buf, true)? {
                r.uint8(pt::GROUP_ORDER, order);
            }
            let fetch_type = get_fetch_type(buf, NS14)?;
            r.parameters(buf, TOKEN_ONLY)?;
            C::Request(
                Fetch {
                    request_id,
                    fetch_type,
                    parameters: r.params,
                }
                .into(),
            )
        }
        ty::FETCH_OK => {
            let request_id = get(buf)?;
            let mut r = Read14::default();
            let order = get_group_order(buf, false)?.unwrap_or(1);
            r.uint8(pt::GROUP_ORDER, order);
            let end_of_track = get_flag(buf, "End Of Track")? == 1;
            let end_location = get_location(buf)?;
            r.parameters(buf, FETCH_OK)?;
            let (parameters, track_properties) = r.properties()?;
            let ok = FetchOk {
                end_of_track,
                end_location,
                parameters,
                track_properties,
            };
            reply(request_id, RequestKind::Fetch, ok.into())
        }
        ty::PUBLISH_NAMESPACE | ty::SUBSCRIBE_NAMESPACE => {
            let request_id = get(buf)?;
            let rule = if kind == ty::PUBLISH_NAMESPACE {
                NS14
            } else {
                PREFIX14
            };
            let ns = get_namespace(buf, rule)?;
            let mut r = Read14::default();
            r.parameters(buf, TOKEN_ONLY)?;
            C::Request(if kind == ty::PUBLISH_NAMESPACE {
                PublishNamespace {
                    request_id,
                    track_namespace: ns,
                    parameters: r.params,
                }
                .into()
            } else {
                SubscribeNamespace {
                    request_id,
                    track_namespace_prefix: ns,
                    parameters: r.params,
                }
                .into()
            })
        }
        ty::PUBLISH_NAMESPACE_OK | ty::SUBSCRIBE_NAMESPACE_OK => {
            let request = match kind {
                ty::PUBLISH_NAMESPACE_OK => RequestKind::PublishNamespace,
                _ => RequestKind::SubscribeNamespace,
            };
            reply(get(buf)?, request, RequestOk::default().into())
        }
        ty::PUBLISH_NAMESPACE_DONE => {
            C::PublishNamespaceDone(NamespaceTarget::Namespace(get_namespace(buf, NS14)?))
        }
        ty::PUBLISH_NAMESPACE_CANCEL => C::PublishNamespaceCancel {
            target: NamespaceTarget::Namespace(get_namespace(buf, NS14)?),
            error_code: RequestErrorCode(PUBLISH_NAMESPACE_ERROR.to_model(get(buf)?)),
            error_reason: get_reason(buf)?,
        },
        ty::UNSUBSCRIBE_NAMESPACE => C::UnsubscribeNamespace {
            prefix: get_namespace(buf, PREFIX14)?,
        },
        other => return Err(DecodeError::UnknownMessageType(other)),
    })
}

/// CLIENT_SETUP's Setup Parameters. A client offering none of draft-14's version speaks another
/// draft, whose parameters may not be draft-14's: when they do not read, it is read with none,
/// for the session to fail the version negotiation rather than the parse.
fn client_setup_parameters(buf: &mut Bytes, versions: &[u64]) -> Result<Setup, DecodeError> {
    let mut rest = buf.clone();
    let offers_14 = versions.contains(&Version::DRAFT14_SETUP_VERSION);
    match get_setup(&mut rest, Types::Absolute) {
        Ok(setup) if offers_14 || !rest.has_remaining() => {
            *buf = rest;
            Ok(setup)
        }
        Err(e) if offers_14 => Err(e),
        _ => {
            buf.advance(buf.remaining());
            Ok(Setup::default())
        }
    }
}

/// SUBSCRIBE_UPDATE: its Start Location and End Group (the last group plus 1; 0: open ended)
/// are the model's SUBSCRIPTION_FILTER, an AbsoluteStart or AbsoluteRange.
fn decode_update(buf: &mut Bytes) -> Result<ControlMessage, DecodeError> {
    let request_id = get(buf)?;
    let subscription = get(buf)?;
    let start = get_location(buf)?;
    let end_group = get(buf)?;
    let filter = match end_group {
        0 => SubscriptionFilter::AbsoluteStart(start),
        end => SubscriptionFilter::AbsoluteRange {
            start,
            end_group_delta: (end - 1).checked_sub(start.group).ok_or(
                DecodeError::InvalidValue {
                    field: "End Group (before the Start Location)",
                    value: end,
                },
            )?,
        },
    };
    let mut r = Read14::default();
    r.params
        .push(pt::SUBSCRIPTION_FILTER, ParameterValue::Filter(filter));
    r.uint8(pt::SUBSCRIBER_PRIORITY, get_u8(buf)?);
    r.uint8(pt::FORWARD, get_flag(buf, "Forward")?);
    r.parameters(buf, SUBSCRIBER)?;
    let update = RequestUpdate {
        request_id,
        parameters: r.params,
    };
    Ok(reply(subscription, RequestKind::Subscribe, update.into()))
}

/// PUBLISH: its Group Order is the Track Property DEFAULT_PUBLISHER_GROUP_ORDER.
fn decode_publish(buf: &mut Bytes) -> Result<ControlMessage, DecodeError> {
    let request_id = get(buf)?;
    let track_namespace = get_namespace(buf, NS14)?;
    let track_name = get_track_name(buf, &track_namespace)?;
    let track_alias = get(buf)?;
    let mut r = Read14::default();
    let order = get_group_order(buf, false)?.unwrap_or(1);
    r.props.push(
        DEFAULT_PUBLISHER_GROUP_ORDER,
        KvpValue::Varint(u64::from(order)),
    );
    if let Some(l) = get_largest(buf)? {
        r.params
            .push(pt::LARGEST_OBJECT, ParameterValue::Location(l));
    }
    r.uint8(pt::FORWARD, get_flag(buf, "Forward")?);
    r.parameters(buf, PUBLISH)?;
    let (parameters, track_properties) = r.properties()?;
    Ok(ControlMessage::Request(
        Publish {
            request_id,
            track_namespace,
            track_name,
            track_alias,
            parameters,
            track_properties,
        }
        .into(),
    ))
}
