//! Pieces draft-14 and draft-16 messages share: FETCH's Fetch Type and its structure, the
//! error answer, GOAWAY and a reply's kind.

use bytes::Bytes;

use super::wire::{
    NsRule, get, get_location, get_namespace, get_track_name, get_uri, put, put_location,
    put_namespace, put_track_name, put_uri,
};
use super::{ControlMessage, RequestKind};
use crate::coding::{DecodeError, EncodeError, Location, ReasonPhrase, TrackNamespace};
use crate::message::codes::RequestErrorCode;
use crate::message::{
    FetchType, GoAway, Message, Parameters, RequestError, Subscribe, SubscriptionFilter,
    TrackStatus,
};

/// An unfiltered subscription: what draft-14 writes for an absent SUBSCRIPTION_FILTER ("an
/// AbsoluteStart filter with `Start` = {0, 0}").
pub(super) const UNFILTERED: SubscriptionFilter =
    SubscriptionFilter::AbsoluteStart(Location::new(0, 0));

/// Read FETCH's Fetch Type and the Standalone or Joining structure it names.
pub(super) fn get_fetch_type(buf: &mut Bytes, rule: NsRule) -> Result<FetchType, DecodeError> {
    Ok(match get(buf)? {
        0x1 => {
            let track_namespace = get_namespace(buf, rule)?;
            let track_name = get_track_name(buf, &track_namespace)?;
            FetchType::Standalone {
                track_namespace,
                track_name,
                start_location: get_location(buf)?,
                end_location: get_location(buf)?,
            }
        }
        0x2 => FetchType::RelativeJoining {
            joining_request_id: get(buf)?,
            joining_start: get(buf)?,
        },
        0x3 => FetchType::AbsoluteJoining {
            joining_request_id: get(buf)?,
            joining_start: get(buf)?,
        },
        value => {
            return Err(DecodeError::InvalidValue {
                field: "Fetch Type",
                value,
            });
        }
    })
}

/// Write FETCH's Fetch Type and its structure.
pub(super) fn put_fetch_type(
    f: &FetchType,
    rule: NsRule,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    match f {
        FetchType::Standalone {
            track_namespace,
            track_name,
            start_location,
            end_location,
        } => {
            put(0x1, out)?;
            put_namespace(track_namespace, rule, out)?;
            put_track_name(track_name, track_namespace, out)?;
            put_location(*start_location, out)?;
            put_location(*end_location, out)
        }
        FetchType::RelativeJoining {
            joining_request_id,
            joining_start,
        }
        | FetchType::AbsoluteJoining {
            joining_request_id,
            joining_start,
        } => {
            put(f.code(), out)?;
            put(*joining_request_id, out)?;
            put(*joining_start, out)
        }
        FetchType::Ranged { .. } => Err(EncodeError::Invalid(
            "drafts 14 and 16 have no FETCH to the Largest Object: resolve it first",
        )),
    }
}

/// The model's error answer (no Redirect before draft-17: REDIRECT is refused).
pub(super) fn request_error(
    code: u64,
    retry_interval: u64,
    error_reason: ReasonPhrase,
) -> Result<RequestError, DecodeError> {
    if code == RequestErrorCode::REDIRECT.0 {
        return Err(DecodeError::InvalidValue {
            field: "Error Code (REDIRECT without its Redirect)",
            value: code,
        });
    }
    Ok(RequestError {
        error_code: RequestErrorCode(code),
        retry_interval,
        error_reason,
        redirect: None,
    })
}

/// Refuse what the error answers of drafts 14 and 16 cannot carry.
pub(super) fn check_error(e: &RequestError) -> Result<(), EncodeError> {
    if e.redirect.is_some() || e.error_code == RequestErrorCode::REDIRECT {
        return Err(EncodeError::Invalid("drafts 14 and 16 have no REDIRECT"));
    }
    Ok(())
}

/// Read GOAWAY: the New Session URI alone.
pub(super) fn get_goaway(buf: &mut Bytes) -> Result<GoAway, DecodeError> {
    Ok(GoAway {
        new_session_uri: get_uri(buf)?,
        timeout: 0,
        request_id: None,
    })
}

/// Write GOAWAY, refusing a Timeout or Request ID (no field for either before draft-17).
pub(super) fn put_goaway(g: &GoAway, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if g.timeout != 0 {
        return Err(EncodeError::Invalid(
            "drafts 14 and 16 have no GOAWAY Timeout",
        ));
    }
    if g.request_id.is_some() {
        return Err(EncodeError::Invalid(
            "drafts 14 and 16 have no GOAWAY Request ID",
        ));
    }
    put_uri(&g.new_session_uri, out)
}

/// Refuse a reply whose kind is not the one its message answers.
pub(super) fn check_kind(kind: Option<RequestKind>, want: RequestKind) -> Result<(), EncodeError> {
    match kind {
        None => Ok(()),
        Some(k) if k == want => Ok(()),
        Some(_) => Err(EncodeError::Invalid(
            "the reply's kind is not the request its message answers",
        )),
    }
}

/// Message types drafts 14 and 16 share, with the same payload on both.
pub(super) mod ty {
    pub const SUBSCRIBE: u64 = 0x3;
    pub const UNSUBSCRIBE: u64 = 0xA;
    pub const TRACK_STATUS: u64 = 0xD;
    pub const GOAWAY: u64 = 0x10;
    pub const MAX_REQUEST_ID: u64 = 0x15;
    pub const FETCH_CANCEL: u64 = 0x17;
    pub const REQUESTS_BLOCKED: u64 = 0x1A;
}

/// Write the messages drafts 14 and 16 write alike: GOAWAY, MAX_REQUEST_ID, REQUESTS_BLOCKED,
/// UNSUBSCRIBE and FETCH_CANCEL; the message type. Another message is refused.
pub(super) fn put_alike(m: &ControlMessage, out: &mut Vec<u8>) -> Result<u64, EncodeError> {
    use ControlMessage as C;
    let (v, kind) = match m {
        C::GoAway(g) => {
            put_goaway(g, out)?;
            return Ok(ty::GOAWAY);
        }
        C::MaxRequestId(v) => (*v, ty::MAX_REQUEST_ID),
        C::RequestsBlocked(v) => (*v, ty::REQUESTS_BLOCKED),
        C::Unsubscribe { request_id } => (*request_id, ty::UNSUBSCRIBE),
        C::FetchCancel { request_id } => (*request_id, ty::FETCH_CANCEL),
        _ => {
            return Err(EncodeError::Invalid(
                "not a message drafts 14 and 16 write alike",
            ));
        }
    };
    put(v, out)?;
    Ok(kind)
}

/// Read the messages drafts 14 and 16 read alike (see [`put_alike`]); `None` for another type.
pub(super) fn get_alike(kind: u64, buf: &mut Bytes) -> Result<Option<ControlMessage>, DecodeError> {
    use ControlMessage as C;
    Ok(Some(match kind {
        ty::GOAWAY => C::GoAway(get_goaway(buf)?),
        ty::MAX_REQUEST_ID => C::MaxRequestId(get(buf)?),
        ty::REQUESTS_BLOCKED => C::RequestsBlocked(get(buf)?),
        ty::UNSUBSCRIBE => C::Unsubscribe {
            request_id: get(buf)?,
        },
        ty::FETCH_CANCEL => C::FetchCancel {
            request_id: get(buf)?,
        },
        _ => return Ok(None),
    }))
}

/// Request ID, Track Namespace (by `rule`) and Track Name: how SUBSCRIBE, TRACK_STATUS and
/// PUBLISH begin.
pub(super) fn put_full_track(
    request_id: u64,
    ns: &TrackNamespace,
    name: &[u8],
    rule: NsRule,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    put(request_id, out)?;
    put_namespace(ns, rule, out)?;
    put_track_name(name, ns, out)
}

/// Write SUBSCRIBE or TRACK_STATUS (the same fields): [`put_full_track`], then the parameters
/// by `put_params`; the message type. Another message is refused.
pub(super) fn put_track_request(
    m: &Message,
    rule: NsRule,
    put_params: fn(&Parameters, &mut Vec<u8>) -> Result<(), EncodeError>,
    out: &mut Vec<u8>,
) -> Result<u64, EncodeError> {
    let (Message::Subscribe(Subscribe {
        request_id,
        track_namespace,
        track_name,
        parameters,
    })
    | Message::TrackStatus(TrackStatus {
        request_id,
        track_namespace,
        track_name,
        parameters,
    })) = m
    else {
        return Err(EncodeError::Invalid("not a SUBSCRIBE or TRACK_STATUS"));
    };
    put_full_track(*request_id, track_namespace, track_name, rule, out)?;
    put_params(parameters, out)?;
    Ok(match m {
        Message::Subscribe(_) => ty::SUBSCRIBE,
        _ => ty::TRACK_STATUS,
    })
}

/// Read SUBSCRIBE or TRACK_STATUS, as `kind` says (see [`put_track_request`]).
pub(super) fn get_track_request(
    kind: u64,
    buf: &mut Bytes,
    rule: NsRule,
    get_params: fn(&mut Bytes) -> Result<Parameters, DecodeError>,
) -> Result<Message, DecodeError> {
    let request_id = get(buf)?;
    let track_namespace = get_namespace(buf, rule)?;
    let track_name = get_track_name(buf, &track_namespace)?;
    let parameters = get_params(buf)?;
    Ok(if kind == ty::SUBSCRIBE {
        Subscribe {
            request_id,
            track_namespace,
            track_name,
            parameters,
        }
        .into()
    } else {
        TrackStatus {
            request_id,
            track_namespace,
            track_name,
            parameters,
        }
        .into()
    })
}
