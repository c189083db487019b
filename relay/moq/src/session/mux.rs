//! The session shape of drafts 14 and 16 ([`crate::draft16`]): one bidirectional control
//! stream, opened by the client, carries CLIENT_SETUP / SERVER_SETUP and every request's
//! messages, each naming its request by Request ID. The session maps them onto the events of
//! draft-18's request streams, so the driver and the tasks serving requests see one shape:
//! - every request gets a stream name of its own ([`mux_stream`]), which the driver names and
//!   forgets as it would a request stream;
//! - a reply ending a request (REQUEST_ERROR, PUBLISH_DONE, draft-14's per-type errors) is
//!   followed by [`Event::RequestClosed`], as the FIN after it on draft-18;
//! - a cancel (UNSUBSCRIBE, FETCH_CANCEL, PUBLISH_NAMESPACE_DONE / _CANCEL,
//!   UNSUBSCRIBE_NAMESPACE) closes the request it names;
//! - finishing or resetting one of our requests sends its cancel message.
//!
//! Request flow control: the peer may open requests below the MAX_REQUEST_ID we granted (a
//! window of [`REQUEST_WINDOW`] open requests, re-granted on our next control message once
//! half of it is used); a Request ID out of sequence is INVALID_REQUEST_ID, one at or above
//! the grant TOO_MANY_REQUESTS. Ours stop at the peer's grant: the request is refused locally
//! and REQUESTS_BLOCKED tells the peer.

use std::collections::HashMap;

use bytes::BytesMut;

use crate::coding::{KvpValue, TrackNamespace};
use crate::draft16::{self, ControlMessage, NamespaceTarget, RequestKind};
use crate::message::codes::{PublishDoneCode, RequestErrorCode, SessionError as Code};
use crate::message::{Message, PublishDone, Setup};
use crate::{DecodeError, ReasonPhrase, Version};

use super::state::StreamState;
use super::{Event, RequestHandle, Role, Session, SessionError, StreamId, Transmit};
use crate::ControlReader;

/// Stream names at and above this are requests on the control stream, not transport streams.
const MUX_STREAM: u64 = 1 << 63;

/// Requests of the peer that may be open at once.
pub const REQUEST_WINDOW: u64 = 1024;

/// The Setup Parameter MAX_REQUEST_ID (drafts 14 and 16).
const MAX_REQUEST_ID: u64 = 0x02;

/// The stream name of request `request_id` on the control stream.
pub fn mux_stream(request_id: u64) -> StreamId {
    StreamId(MUX_STREAM | request_id)
}

fn is_mux_stream(stream: StreamId) -> bool {
    stream.0 & MUX_STREAM != 0
}

/// One request on the control stream.
#[derive(Debug)]
pub(super) struct MuxRequest {
    kind: RequestKind,
    /// We sent the request (the peer answers it).
    ours: bool,
    /// It is over on the wire: a reply ended it or either end cancelled it.
    ended: bool,
    /// Its OK or ERROR went out (a later REQUEST_OK answers a REQUEST_UPDATE).
    answered: bool,
    /// Draft-14: a PUBLISH_NAMESPACE the session sent for a namespace its peer's
    /// SUBSCRIBE_NAMESPACE matched; its answer is the session's own.
    announce: bool,
    /// Draft-14 names PUBLISH_NAMESPACE and SUBSCRIBE_NAMESPACE by namespace when ending them.
    namespace: Option<TrackNamespace>,
}

/// The control stream's state.
#[derive(Debug)]
pub(super) struct Mux {
    control: Option<StreamId>,
    requests: HashMap<RequestHandle, MuxRequest>,
    /// The MAX_REQUEST_ID we granted.
    granted: u64,
    /// The Request ID the peer's next request must carry.
    peer_next: u64,
    /// The peer's requests still named (not yet forgotten by the driver).
    peer_open: u64,
    /// The MAX_REQUEST_ID the peer granted us.
    peer_granted: u64,
    /// The grant at which we last sent REQUESTS_BLOCKED.
    blocked_at: Option<u64>,
}

impl MuxRequest {
    /// A request of `kind`, ours or the peer's, opened by `message`.
    fn new(kind: RequestKind, ours: bool, message: &Message) -> Self {
        let namespace = match message {
            Message::PublishNamespace(m) => Some(m.track_namespace.clone()),
            Message::SubscribeNamespace(m) => Some(m.track_namespace_prefix.clone()),
            _ => None,
        };
        Self {
            kind,
            ours,
            ended: false,
            answered: false,
            announce: false,
            namespace,
        }
    }
}

impl Mux {
    pub(super) fn new(role: Role) -> Self {
        let peer_first = match role {
            Role::Server => 0,
            Role::Client => 1,
        };
        Self {
            control: None,
            requests: HashMap::new(),
            granted: peer_first + 2 * REQUEST_WINDOW,
            peer_next: peer_first,
            peer_open: 0,
            peer_granted: 0,
            blocked_at: None,
        }
    }

    pub(super) fn held(&self) -> usize {
        self.requests.len()
    }

    #[cfg(test)]
    pub(super) fn peer_granted_for_tests(&mut self, max: u64) {
        self.peer_granted = max;
    }
}

fn mux(s: &mut Session) -> &mut Mux {
    s.mux.as_mut().expect("a draft-14/16 session")
}

fn violation(reason: impl Into<String>) -> SessionError {
    SessionError::new(Code::PROTOCOL_VIOLATION, reason)
}

fn decode(e: DecodeError, what: &str) -> SessionError {
    SessionError::new(e.wire_code(), format!("{what}: {e}"))
}

/// Encode `m` and queue it on `stream`.
fn write(s: &mut Session, stream: StreamId, m: &ControlMessage) -> Result<(), SessionError> {
    let mut buf = BytesMut::new();
    draft16::encode(m, s.version, &mut buf)
        .map_err(|e| SessionError::internal(format!("cannot encode for {}: {e}", s.version)))?;
    s.transmits.push_back(Transmit::Write {
        stream,
        data: buf.freeze(),
    });
    Ok(())
}

/// Queue `m` on the control stream, after a fresh MAX_REQUEST_ID when half the window is used.
fn write_control(s: &mut Session, m: &ControlMessage) -> Result<(), SessionError> {
    let control = mux(s)
        .control
        .ok_or_else(|| SessionError::internal("no control stream"))?;
    let mx = mux(s);
    let grant = mx.peer_next + 2 * REQUEST_WINDOW.saturating_sub(mx.peer_open);
    if grant >= mx.granted + REQUEST_WINDOW {
        mx.granted = grant;
        write(s, control, &ControlMessage::MaxRequestId(grant))?;
    }
    write(s, control, m)
}

/// Our SETUP on the control stream `stream`: CLIENT_SETUP (a client, which opened it) or
/// SERVER_SETUP, with the MAX_REQUEST_ID we grant.
pub(super) fn open_control(
    s: &mut Session,
    stream: StreamId,
    mut setup: Setup,
) -> Result<(), SessionError> {
    let version = s.version;
    let role = s.role;
    let mx = mux(s);
    mx.control = Some(stream);
    setup
        .options
        .set(MAX_REQUEST_ID, KvpValue::Varint(mx.granted));
    s.our_control = Some(stream);
    s.peer_control = Some(stream);
    if role == Role::Client {
        s.streams.insert(
            stream,
            StreamState::MuxControl(ControlReader::with_version(s.limits, version)),
        );
    }
    let draft14 = (version == Version::Draft14).then_some(Version::DRAFT14_SETUP_VERSION);
    let m = match role {
        Role::Client => ControlMessage::ClientSetup {
            versions: draft14.into_iter().collect(),
            setup,
        },
        Role::Server => ControlMessage::ServerSetup {
            version: draft14,
            setup,
        },
    };
    write(s, stream, &m)
}

/// The peer opened a bidirectional stream: the control stream if it is the first (a server's
/// view), else a draft-16 SUBSCRIBE_NAMESPACE stream.
pub(super) fn bi_opened(s: &mut Session, stream: StreamId) {
    let reader = ControlReader::with_version(s.limits, s.version);
    if s.role == Role::Server && mux(s).control.is_none() {
        mux(s).control = Some(stream);
        s.peer_control = Some(stream);
        s.streams.insert(stream, StreamState::MuxControl(reader));
    } else {
        s.streams.insert(
            stream,
            StreamState::Request16 {
                request: None,
                reader,
            },
        );
    }
}

/// Whether `m` runs on the control stream (everything on draft-14; all but
/// SUBSCRIBE_NAMESPACE on draft-16).
pub(super) fn on_control(version: Version, m: &Message) -> bool {
    !(version == Version::Draft16 && matches!(m, Message::SubscribeNamespace(_)))
}

/// Send our request `message` (its Request ID from [`Session::next_request_id`]) on the
/// control stream, or on `stream` for draft-16's SUBSCRIBE_NAMESPACE.
pub(super) fn send_request(
    s: &mut Session,
    stream: StreamId,
    message: Message,
) -> Result<RequestHandle, SessionError> {
    let id = super::request_id(&message)
        .ok_or_else(|| SessionError::internal("not a request message"))?;
    let kind =
        RequestKind::of(&message).ok_or_else(|| SessionError::internal("not a request message"))?;
    let mx = mux(s);
    if id >= mx.peer_granted {
        let granted = mx.peer_granted;
        if s.next_request_id == id + 2 {
            s.next_request_id = id; // not used: the next request takes it
        }
        if mux(s).blocked_at != Some(granted) {
            mux(s).blocked_at = Some(granted);
            write_control(s, &ControlMessage::RequestsBlocked(granted))?;
        }
        return Err(SessionError::internal(format!(
            "the peer allows requests below ID {granted} (MAX_REQUEST_ID)"
        )));
    }
    let request = RequestHandle(id);
    mux(s)
        .requests
        .insert(request, MuxRequest::new(kind, true, &message));
    s.requests.insert(request, stream);
    if on_control(s.version, &message) {
        s.streams.insert(
            stream,
            StreamState::Closed {
                request: Some(request),
            },
        );
        write_control(s, &ControlMessage::Request(message))?;
    } else {
        s.streams.insert(
            stream,
            StreamState::Request16 {
                request: Some(request),
                reader: ControlReader::with_version(s.limits, s.version),
            },
        );
        write(s, stream, &ControlMessage::Request(message))?;
    }
    Ok(request)
}

/// True for a message that ends its request on the wire.
fn ends_request(m: &Message) -> bool {
    matches!(m, Message::RequestError(_) | Message::PublishDone(_))
}

/// Send `message` about `request`.
pub(super) fn send(
    s: &mut Session,
    request: RequestHandle,
    stream: StreamId,
    message: Message,
) -> Result<(), SessionError> {
    let draft14 = s.version == Version::Draft14;
    if draft14 && matches!(message, Message::Namespace(_) | Message::NamespaceDone(_)) {
        return announce14(s, request, message);
    }
    let Some(r) = mux(s).requests.get_mut(&request) else {
        return Err(SessionError::internal("unknown request"));
    };
    if r.ended && !matches!(message, Message::PublishDone(_)) {
        return Err(SessionError::internal("the request is over"));
    }
    r.ended |= ends_request(&message);
    // Draft-18 answers PUBLISH with REQUEST_OK (draft-18's PUBLISH_OK); these drafts with
    // PUBLISH_OK. Draft-14 has no answer to an update (SUBSCRIBE_UPDATE): its REQUEST_OK stays.
    let update_answer = r.answered && matches!(message, Message::RequestOk(_));
    r.answered = true;
    let message = match (r.kind, message) {
        _ if update_answer && draft14 => return Ok(()),
        (RequestKind::Publish, Message::RequestOk(ok)) if !update_answer => {
            Message::PublishOk(crate::message::PublishOk {
                parameters: ok.parameters,
                track_properties: ok.track_properties,
            })
        }
        (_, m) => m,
    };
    let reply = ControlMessage::Reply {
        request_id: request.0,
        kind: Some(r.kind),
        message,
    };
    if is_mux_stream(stream) {
        write_control(s, &reply)
    } else {
        write(s, stream, &reply)
    }
}

/// Draft-14 has no NAMESPACE or NAMESPACE_DONE: a namespace matching the peer's
/// SUBSCRIBE_NAMESPACE `request` is sent as a PUBLISH_NAMESPACE of ours (the full namespace;
/// its answer stays in the session), and its end as PUBLISH_NAMESPACE_DONE.
fn announce14(
    s: &mut Session,
    request: RequestHandle,
    message: Message,
) -> Result<(), SessionError> {
    let prefix = mux(s)
        .requests
        .get(&request)
        .and_then(|r| r.namespace.clone())
        .unwrap_or_default();
    let full = |suffix: &TrackNamespace| {
        let mut fields = prefix.fields().to_vec();
        fields.extend_from_slice(suffix.fields());
        TrackNamespace::new(fields)
    };
    match message {
        Message::Namespace(n) => {
            let namespace = full(&n.track_namespace_suffix);
            let id = s.next_request_id();
            let m = crate::message::PublishNamespace {
                request_id: id,
                track_namespace: namespace,
                parameters: crate::message::Parameters::new(),
            };
            send_request(s, mux_stream(id), m.into())?;
            if let Some(r) = mux(s).requests.get_mut(&RequestHandle(id)) {
                r.announce = true;
            }
            Ok(())
        }
        Message::NamespaceDone(n) => {
            let namespace = full(&n.track_namespace_suffix);
            let found = mux(s)
                .requests
                .iter()
                .find(|(_, r)| r.announce && r.namespace.as_ref() == Some(&namespace))
                .map(|(h, _)| *h);
            let Some(handle) = found else {
                return Ok(());
            };
            drop_announcement(s, handle);
            write_control(
                s,
                &ControlMessage::PublishNamespaceDone(NamespaceTarget::Namespace(namespace)),
            )
        }
        _ => Ok(()),
    }
}

/// Forget a draft-14 announcement of ours (no task holds its name).
fn drop_announcement(s: &mut Session, request: RequestHandle) {
    mux(s).requests.remove(&request);
    s.requests.remove(&request);
    s.streams.remove(&mux_stream(request.0));
}

/// The message that ends `request` from our side, if it is not over: our SUBSCRIBE's
/// UNSUBSCRIBE, our FETCH's FETCH_CANCEL, our PUBLISH_NAMESPACE's PUBLISH_NAMESPACE_DONE,
/// draft-14's UNSUBSCRIBE_NAMESPACE; for the peer's requests with `code`: PUBLISH's
/// UNSUBSCRIBE, PUBLISH_NAMESPACE's PUBLISH_NAMESPACE_CANCEL, SUBSCRIBE's PUBLISH_DONE.
fn ending(
    version: Version,
    request: RequestHandle,
    r: &MuxRequest,
    code: Option<u64>,
) -> Option<ControlMessage> {
    let id = request.0;
    let target = |r: &MuxRequest| match (version, &r.namespace) {
        (Version::Draft14, Some(ns)) => NamespaceTarget::Namespace(ns.clone()),
        _ => NamespaceTarget::RequestId(id),
    };
    if r.ended {
        return None;
    }
    Some(match (r.ours, r.kind, code) {
        (true, RequestKind::Subscribe, _) | (false, RequestKind::Publish, Some(_)) => {
            ControlMessage::Unsubscribe { request_id: id }
        }
        (true, RequestKind::Fetch, _) => ControlMessage::FetchCancel { request_id: id },
        (true, RequestKind::PublishNamespace, _) => ControlMessage::PublishNamespaceDone(target(r)),
        (true, RequestKind::SubscribeNamespace, _) if version == Version::Draft14 => {
            ControlMessage::UnsubscribeNamespace {
                prefix: r.namespace.clone().unwrap_or_default(),
            }
        }
        (false, RequestKind::PublishNamespace, Some(code)) => {
            ControlMessage::PublishNamespaceCancel {
                target: target(r),
                error_code: RequestErrorCode(code),
                error_reason: ReasonPhrase::default(),
            }
        }
        (false, RequestKind::Subscribe, Some(_)) => ControlMessage::Reply {
            request_id: id,
            kind: Some(RequestKind::Subscribe),
            message: Message::PublishDone(PublishDone {
                status_code: PublishDoneCode::INTERNAL_ERROR,
                stream_count: (1 << 62) - 1,
                error_reason: ReasonPhrase::new("cancelled".to_owned()),
            }),
        },
        _ => return None,
    })
}

/// End our side of `request` (`code`: reset rather than finished).
pub(super) fn close(
    s: &mut Session,
    request: RequestHandle,
    stream: StreamId,
    code: Option<u64>,
) -> Result<(), SessionError> {
    let version = s.version;
    let Some(r) = mux(s).requests.get_mut(&request) else {
        return Ok(());
    };
    let message = ending(version, request, r, code);
    if message.is_some() || code.is_some() {
        r.ended = true;
    }
    if !is_mux_stream(stream) {
        s.transmits.push_back(match code {
            Some(code) => Transmit::Reset { stream, code },
            None => Transmit::Finish { stream },
        });
        return Ok(());
    }
    match message {
        Some(m) => write_control(s, &m),
        None => Ok(()),
    }
}

/// We stop reading the peer's `request`: a PUBLISH we no longer want is unsubscribed.
pub(super) fn stop_reading(
    s: &mut Session,
    request: RequestHandle,
    code: u64,
) -> Result<(), SessionError> {
    let Some(stream) = s.requests.get(&request).copied() else {
        return Ok(());
    };
    match mux(s).requests.get(&request) {
        Some(r) if !r.ours && r.kind == RequestKind::Publish => {
            close(s, request, stream, Some(code))
        }
        _ => Ok(()),
    }
}

/// The driver forgot `stream`: its request is gone; a peer's request frees a place in the
/// window.
pub(super) fn forget(s: &mut Session, stream: StreamId) {
    let Some(
        StreamState::Closed {
            request: Some(request),
        }
        | StreamState::Request16 {
            request: Some(request),
            ..
        },
    ) = s.streams.remove(&stream)
    else {
        return;
    };
    if s.requests.get(&request) == Some(&stream) {
        s.requests.remove(&request);
    }
    s.aliases.retain(|_, r| *r != request);
    if let Some(r) = mux(s).requests.remove(&request)
        && !r.ours
    {
        let mx = mux(s);
        mx.peer_open = mx.peer_open.saturating_sub(1);
    }
}

/// Bytes on the control stream.
pub(super) fn control_data(
    s: &mut Session,
    reader: &mut ControlReader,
    data: &[u8],
    fin: bool,
) -> Result<(), SessionError> {
    reader.push(data).map_err(|e| decode(e, "control stream"))?;
    while let Some(m) = reader
        .pop_draft16()
        .map_err(|e| decode(e, "control stream"))?
    {
        control_message(s, m)?;
    }
    if fin {
        return Err(violation("control stream closed"));
    }
    Ok(())
}

fn control_message(s: &mut Session, m: ControlMessage) -> Result<(), SessionError> {
    if !s.setup_received {
        return match (m, s.role) {
            (ControlMessage::ClientSetup { versions, setup }, Role::Server) => {
                if s.version == Version::Draft14
                    && !versions.contains(&Version::DRAFT14_SETUP_VERSION)
                {
                    return Err(SessionError::new(
                        Code::VERSION_NEGOTIATION_FAILED,
                        format!(
                            "CLIENT_SETUP offers versions {versions:#x?}; this relay speaks {:#x} (draft-14) under moq-00",
                            Version::DRAFT14_SETUP_VERSION
                        ),
                    ));
                }
                peer_setup(s, setup)
            }
            (ControlMessage::ServerSetup { version, setup }, Role::Client) => {
                if s.version == Version::Draft14 && version != Some(Version::DRAFT14_SETUP_VERSION)
                {
                    return Err(SessionError::new(
                        Code::VERSION_NEGOTIATION_FAILED,
                        format!("SERVER_SETUP selected version {version:#x?}, not draft-14's"),
                    ));
                }
                peer_setup(s, setup)
            }
            (m, _) => Err(violation(format!(
                "{} before SETUP on the control stream",
                name(&m)
            ))),
        };
    }
    match m {
        ControlMessage::GoAway(g) if !s.goaway_received => {
            if s.role == Role::Server && !g.new_session_uri.is_empty() {
                return Err(violation("a client GOAWAY carried a URI"));
            }
            s.goaway_received = true;
            s.events.push_back(Event::GoAway(g));
        }
        ControlMessage::MaxRequestId(max) => {
            let mx = mux(s);
            if max < mx.peer_granted {
                return Err(violation(format!(
                    "MAX_REQUEST_ID went down from {} to {max}",
                    mx.peer_granted
                )));
            }
            mx.peer_granted = max;
        }
        ControlMessage::RequestsBlocked(_) => {}
        ControlMessage::Request(message) => {
            if !on_control(s.version, &message) {
                return Err(violation(format!(
                    "{} on the control stream",
                    message.name()
                )));
            }
            peer_request(s, message, None)?;
        }
        ControlMessage::Reply {
            request_id,
            message,
            ..
        } => reply(s, RequestHandle(request_id), message)?,
        ControlMessage::Unsubscribe { request_id } | ControlMessage::FetchCancel { request_id } => {
            cancelled(s, RequestHandle(request_id));
        }
        ControlMessage::PublishNamespaceDone(target)
        | ControlMessage::PublishNamespaceCancel { target, .. } => {
            if let Some(request) = by_target(s, &target) {
                cancelled(s, request);
            }
        }
        ControlMessage::UnsubscribeNamespace { prefix } => {
            if let Some(request) = by_target(s, &NamespaceTarget::Namespace(prefix)) {
                cancelled(s, request);
            }
        }
        other => {
            return Err(violation(format!(
                "unexpected {} on the control stream",
                name(&other)
            )));
        }
    }
    Ok(())
}

fn name(m: &ControlMessage) -> &'static str {
    match m {
        ControlMessage::ClientSetup { .. } => "CLIENT_SETUP",
        ControlMessage::ServerSetup { .. } => "SERVER_SETUP",
        ControlMessage::GoAway(_) => "GOAWAY",
        ControlMessage::MaxRequestId(_) => "MAX_REQUEST_ID",
        ControlMessage::RequestsBlocked(_) => "REQUESTS_BLOCKED",
        ControlMessage::Request(m) | ControlMessage::Reply { message: m, .. } => m.name(),
        ControlMessage::Unsubscribe { .. } => "UNSUBSCRIBE",
        ControlMessage::FetchCancel { .. } => "FETCH_CANCEL",
        ControlMessage::PublishNamespaceDone(_) => "PUBLISH_NAMESPACE_DONE",
        ControlMessage::PublishNamespaceCancel { .. } => "PUBLISH_NAMESPACE_CANCEL",
        ControlMessage::UnsubscribeNamespace { .. } => "UNSUBSCRIBE_NAMESPACE",
    }
}

fn peer_setup(s: &mut Session, setup: Setup) -> Result<(), SessionError> {
    if let Some(KvpValue::Varint(max)) = setup.options.get(MAX_REQUEST_ID) {
        mux(s).peer_granted = *max;
    }
    s.setup_received = true;
    s.events.push_back(Event::Setup(setup));
    Ok(())
}

/// A request of the peer's: on the control stream (`stream` None: it gets a stream name of its
/// own) or opening a draft-16 SUBSCRIBE_NAMESPACE stream.
fn peer_request(
    s: &mut Session,
    message: Message,
    stream: Option<StreamId>,
) -> Result<RequestHandle, SessionError> {
    let id = super::request_id(&message).expect("a request");
    let kind = RequestKind::of(&message)
        .ok_or_else(|| violation(format!("{} is not a request", message.name())))?;
    check_request_id(s, id)?;
    let request = RequestHandle(id);
    let stream = stream.unwrap_or_else(|| {
        s.streams.insert(
            mux_stream(id),
            StreamState::Closed {
                request: Some(request),
            },
        );
        mux_stream(id)
    });
    let mx = mux(s);
    mx.peer_open += 1;
    mx.requests
        .insert(request, MuxRequest::new(kind, false, &message));
    s.requests.insert(request, stream);
    s.events.push_back(Event::Request {
        request,
        stream,
        message,
    });
    Ok(request)
}

/// A new Request ID of the peer's: the next in sequence, below our grant.
fn check_request_id(s: &mut Session, id: u64) -> Result<(), SessionError> {
    let mx = mux(s);
    if id != mx.peer_next {
        return Err(SessionError::new(
            Code::INVALID_REQUEST_ID,
            format!("request ID {id} where {} was next", mx.peer_next),
        ));
    }
    if id >= mx.granted {
        return Err(SessionError::new(
            Code::TOO_MANY_REQUESTS,
            format!("request ID {id} at or above MAX_REQUEST_ID {}", mx.granted),
        ));
    }
    mx.peer_next += 2;
    s.peer_request_ids.insert(id)
}

/// A message about `request`: its events; a reply that ends it closes it. A message about a
/// request already forgotten (cancelled while the reply was on its way) is dropped.
fn reply(s: &mut Session, request: RequestHandle, message: Message) -> Result<(), SessionError> {
    if let Message::RequestUpdate(u) = &message {
        check_request_id(s, u.request_id)?;
    }
    let Some(r) = mux(s).requests.get_mut(&request) else {
        return Ok(());
    };
    if r.announce {
        // The answer to a draft-14 announcement of ours: only an error ends it.
        if ends_request(&message) {
            drop_announcement(s, request);
        }
        return Ok(());
    }
    if !matches!(message, Message::RequestUpdate(_))
        && !r.ours
        && !matches!(message, Message::PublishDone(_))
    {
        return Err(violation(format!(
            "{} about a request of its own",
            message.name()
        )));
    }
    let ends = ends_request(&message);
    if ends {
        r.ended = true;
    }
    // Draft-18's publisher finishes a FETCH's request stream after FETCH_OK (the objects
    // follow on the fetch stream); here FETCH_CANCEL may still follow, but nothing more is read.
    let read_all = ends || matches!(message, Message::FetchOk(_));
    s.events.push_back(Event::Message { request, message });
    if read_all {
        s.events.push_back(Event::RequestClosed {
            request,
            reset: None,
        });
    }
    Ok(())
}

/// The peer cancelled `request`.
fn cancelled(s: &mut Session, request: RequestHandle) {
    if let Some(r) = mux(s).requests.get_mut(&request)
        && !r.ended
    {
        r.ended = true;
        s.events.push_back(Event::RequestClosed {
            request,
            reset: None,
        });
    }
}

fn by_target(s: &mut Session, target: &NamespaceTarget) -> Option<RequestHandle> {
    match target {
        NamespaceTarget::RequestId(id) => Some(RequestHandle(*id)),
        NamespaceTarget::Namespace(ns) => mux(s)
            .requests
            .iter()
            .find(|(_, r)| r.namespace.as_ref() == Some(ns))
            .map(|(h, _)| *h),
    }
}

/// Bytes on a draft-16 SUBSCRIBE_NAMESPACE stream (draft-14 has none).
pub(super) fn request_stream_data(
    s: &mut Session,
    stream: StreamId,
    request: &mut Option<RequestHandle>,
    reader: &mut ControlReader,
    data: &[u8],
    fin: bool,
) -> Result<(), SessionError> {
    reader.push(data).map_err(|e| decode(e, "request stream"))?;
    while let Some(m) = reader
        .pop_draft16()
        .map_err(|e| decode(e, "request stream"))?
    {
        match (m, *request) {
            (ControlMessage::Request(message), None)
                if s.version == Version::Draft16 && !on_control(s.version, &message) =>
            {
                *request = Some(peer_request(s, message, Some(stream))?);
            }
            (ControlMessage::Reply { message, .. }, Some(handle)) => reply(s, handle, message)?,
            (m, _) => {
                return Err(violation(format!(
                    "{} on a bidirectional stream of {}",
                    name(&m),
                    s.version
                )));
            }
        }
    }
    if fin {
        reader.finish().map_err(|e| decode(e, "request stream"))?;
        if let Some(request) = *request {
            s.events.push_back(Event::RequestClosed {
                request,
                reset: None,
            });
        }
    }
    Ok(())
}

/// The GOAWAY of drafts 14 and 16 carries only the URI (no Request ID, no Timeout).
pub(super) fn send_goaway(
    s: &mut Session,
    goaway: crate::message::GoAway,
) -> Result<(), SessionError> {
    write_control(
        s,
        &ControlMessage::GoAway(crate::message::GoAway {
            request_id: None,
            timeout: 0,
            ..goaway
        }),
    )
}
