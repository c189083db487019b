//! Draft-16's control messages (draft-16 §9, Table of Message Types).
//!
//! REQUEST_OK, REQUEST_ERROR, REQUEST_UPDATE and PUBLISH_DONE do not say which request they are
//! about (a reply's kind is `None`); SUBSCRIBE_OK, PUBLISH_OK and FETCH_OK do. NAMESPACE and
//! NAMESPACE_DONE run on a SUBSCRIBE_NAMESPACE's own stream and carry no Request ID: they are
//! read as a reply to request 0 (the stream names the request), and their `request_id` is not
//! written. SUBSCRIBE_NAMESPACE's Subscribe Options name the model's request: NAMESPACE (0x1) is
//! SUBSCRIBE_NAMESPACE, PUBLISH (0x0) SUBSCRIBE_TRACKS; both (0x2) is one request the model
//! cannot hold, and is refused.

use bytes::{BufMut, Bytes};

use super::codes::{PUBLISH_DONE_16, REQUEST_ERROR};
use super::common::{
    check_error, check_kind, get_alike, get_fetch_type, get_track_request, put_alike,
    put_fetch_type, put_full_track, put_track_request, request_error,
};
use super::params::{
    get_extensions, get_params16, get_setup, put_extensions, put_params16, put_setup,
};
use super::wire::{
    NS16, PREFIX16, Types, get, get_flag, get_location, get_namespace, get_reason, get_track_name,
    put, put_location, put_namespace, put_reason,
};
use super::{ControlMessage, NamespaceTarget, RequestKind};
use crate::coding::{DecodeError, EncodeError};
use crate::data::Properties;
use crate::message::codes::{PublishDoneCode, RequestErrorCode};
use crate::message::{
    Fetch, FetchOk, Message, Namespace, NamespaceDone, Publish, PublishDone, PublishNamespace,
    PublishOk, RequestOk, RequestUpdate, SubscribeNamespace, SubscribeOk, SubscribeTracks,
};

/// Draft-16's message types (with those draft-14 shares, [`super::common::ty`]).
mod ty {
    pub use super::super::common::ty::*;

    pub const REQUEST_UPDATE: u64 = 0x2;
    pub const SUBSCRIBE_OK: u64 = 0x4;
    pub const REQUEST_ERROR: u64 = 0x5;
    pub const PUBLISH_NAMESPACE: u64 = 0x6;
    pub const REQUEST_OK: u64 = 0x7;
    pub const NAMESPACE: u64 = 0x8;
    pub const PUBLISH_NAMESPACE_DONE: u64 = 0x9;
    pub const PUBLISH_DONE: u64 = 0xB;
    pub const PUBLISH_NAMESPACE_CANCEL: u64 = 0xC;
    pub const NAMESPACE_DONE: u64 = 0xE;
    pub const SUBSCRIBE_NAMESPACE: u64 = 0x11;
    pub const FETCH: u64 = 0x16;
    pub const FETCH_OK: u64 = 0x18;
    pub const PUBLISH: u64 = 0x1D;
    pub const PUBLISH_OK: u64 = 0x1E;
    pub const CLIENT_SETUP: u64 = 0x20;
    pub const SERVER_SETUP: u64 = 0x21;
}

/// True for a message type draft-16 defines.
pub(super) fn is_known(kind: u64) -> bool {
    matches!(kind, 0x2..=0xE | 0x10 | 0x11 | 0x15..=0x18 | 0x1A | 0x1D | 0x1E | 0x20 | 0x21)
}

/// Subscribe Options of SUBSCRIBE_NAMESPACE.
const OPTIONS_PUBLISH: u64 = 0x0;
const OPTIONS_NAMESPACE: u64 = 0x1;

fn reply(request_id: u64, kind: Option<RequestKind>, message: Message) -> ControlMessage {
    ControlMessage::Reply {
        request_id,
        kind,
        message,
    }
}

/// Read the payload of a message of type `kind`.
pub(super) fn decode(kind: u64, buf: &mut Bytes) -> Result<ControlMessage, DecodeError> {
    use ControlMessage as C;
    if let Some(m) = get_alike(kind, buf)? {
        return Ok(m);
    }
    Ok(match kind {
        ty::CLIENT_SETUP => C::ClientSetup {
            versions: Vec::new(),
            setup: get_setup(buf, Types::Delta)?,
        },
        ty::SERVER_SETUP => C::ServerSetup {
            version: None,
            setup: get_setup(buf, Types::Delta)?,
        },
        ty::REQUEST_OK => {
            let request_id = get(buf)?;
            let parameters = get_params16(buf)?;
            let ok = RequestOk {
                parameters,
                track_properties: Properties::new(),
            };
            reply(request_id, None, ok.into())
        }
        ty::REQUEST_ERROR => {
            let request_id = get(buf)?;
            let code = REQUEST_ERROR.to_model(get(buf)?);
            let retry_interval = get(buf)?;
            let e = request_error(code, retry_interval, get_reason(buf)?)?;
            reply(request_id, None, e.into())
        }
        ty::SUBSCRIBE | ty::TRACK_STATUS => {
            C::Request(get_track_request(kind, buf, NS16, get_params16)?)
        }
        ty::SUBSCRIBE_OK => {
            let request_id = get(buf)?;
            let ok = SubscribeOk {
                track_alias: get(buf)?,
                parameters: get_params16(buf)?,
                track_properties: get_extensions(buf)?,
            };
            reply(request_id, Some(RequestKind::Subscribe), ok.into())
        }
        ty::REQUEST_UPDATE => {
            let request_id = get(buf)?;
            let existing = get(buf)?;
            let update = RequestUpdate {
                request_id,
                parameters: get_params16(buf)?,
            };
            reply(existing, None, update.into())
        }
        ty::PUBLISH => {
            let request_id = get(buf)?;
            let track_namespace = get_namespace(buf, NS16)?;
            let track_name = get_track_name(buf, &track_namespace)?;
            C::Request(
                Publish {
                    request_id,
                    track_namespace,
                    track_name,
                    track_alias: get(buf)?,
                    parameters: get_params16(buf)?,
                    track_properties: get_extensions(buf)?,
                }
                .into(),
            )
        }
        ty::PUBLISH_OK => {
            let request_id = get(buf)?;
            let ok = PublishOk {
                parameters: get_params16(buf)?,
                track_properties: Properties::new(),
            };
            reply(request_id, Some(RequestKind::Publish), ok.into())
        }
        ty::PUBLISH_DONE => {
            let request_id = get(buf)?;
            let done = PublishDone {
                status_code: PublishDoneCode(PUBLISH_DONE_16.to_model(get(buf)?)),
                stream_count: get(buf)?,
                error_reason: get_reason(buf)?,
            };
            reply(request_id, None, done.into())
        }
        ty::FETCH => C::Request(
            Fetch {
                request_id: get(buf)?,
                fetch_type: get_fetch_type(buf, NS16)?,
                parameters: get_params16(buf)?,
            }
            .into(),
        ),
        ty::FETCH_OK => {
            let request_id = get(buf)?;
            let ok = FetchOk {
                end_of_track: get_flag(buf, "End Of Track")? == 1,
                end_location: get_location(buf)?,
                parameters: get_params16(buf)?,
                track_properties: get_extensions(buf)?,
            };
            reply(request_id, Some(RequestKind::Fetch), ok.into())
        }
        ty::PUBLISH_NAMESPACE => C::Request(
            PublishNamespace {
                request_id: get(buf)?,
                track_namespace: get_namespace(buf, NS16)?,
                parameters: get_params16(buf)?,
            }
            .into(),
        ),
        ty::NAMESPACE => {
            let track_namespace_suffix = get_namespace(buf, PREFIX16)?;
            let m = Namespace {
                track_namespace_suffix,
            };
            reply(0, Some(RequestKind::SubscribeNamespace), m.into())
        }
        ty::NAMESPACE_DONE => {
            let track_namespace_suffix = get_namespace(buf, PREFIX16)?;
            let m = NamespaceDone {
                track_namespace_suffix,
            };
            reply(0, Some(RequestKind::SubscribeNamespace), m.into())
        }
        ty::PUBLISH_NAMESPACE_DONE => {
            C::PublishNamespaceDone(NamespaceTarget::RequestId(get(buf)?))
        }
        ty::PUBLISH_NAMESPACE_CANCEL => C::PublishNamespaceCancel {
            target: NamespaceTarget::RequestId(get(buf)?),
            error_code: RequestErrorCode(REQUEST_ERROR.to_model(get(buf)?)),
            error_reason: get_reason(buf)?,
        },
        ty::SUBSCRIBE_NAMESPACE => {
            let request_id = get(buf)?;
            let track_namespace_prefix = get_namespace(buf, PREFIX16)?;
            let options = get(buf)?;
            let parameters = get_params16(buf)?;
            C::Request(match options {
                OPTIONS_NAMESPACE => SubscribeNamespace {
                    request_id,
                    track_namespace_prefix,
                    parameters,
                }
                .into(),
                OPTIONS_PUBLISH => SubscribeTracks {
                    request_id,
                    track_namespace_prefix,
                    parameters,
                }
                .into(),
                value => {
                    return Err(DecodeError::InvalidValue {
                        field: "Subscribe Options (only NAMESPACE 0x1 or PUBLISH 0x0)",
                        value,
                    });
                }
            })
        }
        other => return Err(DecodeError::UnknownMessageType(other)),
    })
}

/// Write the payload of `m`; its message type.
pub(super) fn encode(m: &ControlMessage, out: &mut Vec<u8>) -> Result<u64, EncodeError> {
    use ControlMessage as C;
    Ok(match m {
        C::ClientSetup { versions, setup } => {
            if !versions.is_empty() {
                return Err(EncodeError::Invalid(
                    "draft-16 CLIENT_SETUP has no Supported Versions",
                ));
            }
            put_setup(setup, Types::Delta, out)?;
            ty::CLIENT_SETUP
        }
        C::ServerSetup { version, setup } => {
            if version.is_some() {
                return Err(EncodeError::Invalid(
                    "draft-16 SERVER_SETUP has no Selected Version",
                ));
            }
            put_setup(setup, Types::Delta, out)?;
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
            put(request_id_of(target)?, out)?;
            ty::PUBLISH_NAMESPACE_DONE
        }
        C::PublishNamespaceCancel {
            target,
            error_code,
            error_reason,
        } => {
            put(request_id_of(target)?, out)?;
            put(REQUEST_ERROR.to_wire(error_code.0), out)?;
            put_reason(error_reason, out)?;
            ty::PUBLISH_NAMESPACE_CANCEL
        }
        C::UnsubscribeNamespace { .. } => {
            return Err(EncodeError::Invalid(
                "draft-16 has no UNSUBSCRIBE_NAMESPACE (it closes the SUBSCRIBE_NAMESPACE's stream)",
            ));
        }
    })
}

fn request_id_of(target: &NamespaceTarget) -> Result<u64, EncodeError> {
    match target {
        NamespaceTarget::RequestId(id) => Ok(*id),
        NamespaceTarget::Namespace(_) => Err(EncodeError::Invalid(
            "draft-16 names the PUBLISH_NAMESPACE by Request ID",
        )),
    }
}

/// Write a request.
fn request(m: &Message, out: &mut Vec<u8>) -> Result<u64, EncodeError> {
    Ok(match m {
        Message::Subscribe(_) | Message::TrackStatus(_) => {
            put_track_request(m, NS16, put_params16, out)?
        }
        Message::Publish(p) => {
            put_full_track(p.request_id, &p.track_namespace, &p.track_name, NS16, out)?;
            put(p.track_alias, out)?;
            put_params16(&p.parameters, out)?;
            put_extensions(&p.track_properties, out)?;
            ty::PUBLISH
        }
        Message::Fetch(f) => {
            put(f.request_id, out)?;
            put_fetch_type(&f.fetch_type, NS16, out)?;
            put_params16(&f.parameters, out)?;
            ty::FETCH
        }
        Message::PublishNamespace(p) => {
            put(p.request_id, out)?;
            put_namespace(&p.track_namespace, NS16, out)?;
            put_params16(&p.parameters, out)?;
            ty::PUBLISH_NAMESPACE
        }
        Message::SubscribeNamespace(SubscribeNamespace {
            request_id,
            track_namespace_prefix,
            parameters,
        })
        | Message::SubscribeTracks(SubscribeTracks {
            request_id,
            track_namespace_prefix,
            parameters,
        }) => {
            put(*request_id, out)?;
            put_namespace(track_namespace_prefix, PREFIX16, out)?;
            put(
                match m {
                    Message::SubscribeNamespace(_) => OPTIONS_NAMESPACE,
                    _ => OPTIONS_PUBLISH,
                },
                out,
            )?;
            put_params16(parameters, out)?;
            ty::SUBSCRIBE_NAMESPACE
        }
        _ => {
            return Err(EncodeError::Invalid(
                "not a request of draft-16 (SUBSCRIBE, PUBLISH, FETCH, TRACK_STATUS, \
                 PUBLISH_NAMESPACE, SUBSCRIBE_NAMESPACE)",
            ));
        }
    })
}

/// Write a message about request `request_id`: what draft-16 has no word for (a parameter it
/// does not define, REQUEST_OK's and PUBLISH_OK's Track Properties) is left out.
fn put_reply(
    request_id: u64,
    kind: Option<RequestKind>,
    m: &Message,
    out: &mut Vec<u8>,
) -> Result<u64, EncodeError> {
    match m {
        // Request ID, then the Existing Request ID.
        Message::RequestUpdate(u) => {
            put(u.request_id, out)?;
            put(request_id, out)?;
            put_params16(&u.parameters, out)?;
            return Ok(ty::REQUEST_UPDATE);
        }
        Message::Namespace(_) | Message::NamespaceDone(_) => {}
        _ => put(request_id, out)?,
    }
    Ok(match m {
        // Draft-16 REQUEST_OK and PUBLISH_OK have no Track Extensions: the model's Track
        // Properties are left out.
        Message::RequestOk(ok) => {
            put_params16(&ok.parameters, out)?;
            ty::REQUEST_OK
        }
        Message::RequestError(e) => {
            check_error(e)?;
            put(REQUEST_ERROR.to_wire(e.error_code.0), out)?;
            put(e.retry_interval, out)?;
            put_reason(&e.error_reason, out)?;
            ty::REQUEST_ERROR
        }
        Message::SubscribeOk(ok) => {
            check_kind(kind, RequestKind::Subscribe)?;
            put(ok.track_alias, out)?;
            put_params16(&ok.parameters, out)?;
            put_extensions(&ok.track_properties, out)?;
            ty::SUBSCRIBE_OK
        }
        Message::PublishOk(ok) => {
            check_kind(kind, RequestKind::Publish)?;
            put_params16(&ok.parameters, out)?;
            ty::PUBLISH_OK
        }
        Message::PublishDone(d) => {
            put(PUBLISH_DONE_16.to_wire(d.status_code.0), out)?;
            put(d.stream_count, out)?;
            put_reason(&d.error_reason, out)?;
            ty::PUBLISH_DONE
        }
        Message::FetchOk(ok) => {
            check_kind(kind, RequestKind::Fetch)?;
            out.put_u8(u8::from(ok.end_of_track));
            put_location(ok.end_location, out)?;
            put_params16(&ok.parameters, out)?;
            put_extensions(&ok.track_properties, out)?;
            ty::FETCH_OK
        }
        Message::Namespace(Namespace {
            track_namespace_suffix,
        })
        | Message::NamespaceDone(NamespaceDone {
            track_namespace_suffix,
        }) => {
            check_kind(kind, RequestKind::SubscribeNamespace)?;
            put_namespace(track_namespace_suffix, PREFIX16, out)?;
            match m {
                Message::Namespace(_) => ty::NAMESPACE,
                _ => ty::NAMESPACE_DONE,
            }
        }
        _ => {
            return Err(EncodeError::Invalid(
                "not a reply of draft-16 (REQUEST_OK, REQUEST_ERROR, SUBSCRIBE_OK, \
                 REQUEST_UPDATE, PUBLISH_OK, PUBLISH_DONE, FETCH_OK, NAMESPACE, NAMESPACE_DONE)",
            ));
        }
    })
}
