//! A sans-IO MoQ session: bytes of each transport stream in, protocol events out.
//!
//! The driver owns the transport (QUIC or WebTransport) and names every stream with a
//! [`StreamId`] of its choosing; the session names requests with [`RequestHandle`]s. Neither is
//! a transport type, so a draft whose requests share one multiplexed control stream (draft-14)
//! can map onto the same events. Inputs are `handle_*` calls, outputs are drained with
//! [`Session::poll_event`] and [`Session::poll_transmit`].
//!
//! What the session enforces (each failure is a [`SessionError`] naming the code to close with
//! and what the peer did): one control stream per peer, SETUP first on it and at most one GOAWAY
//! after; request streams opened only with a request message; Request ID parity and uniqueness;
//! unknown message parameters; Track Alias uniqueness; every codec limit.

mod mux;
mod state;
mod streams;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_mux;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use bytes::{Bytes, BytesMut};

use crate::Limits;
use crate::data::{FetchHeader, FetchObject, ObjectDatagram, SubgroupHeader, SubgroupObject};
use crate::message::codes::SessionError as Code;
use crate::message::{GoAway, Message, Setup};

pub use mux::{REQUEST_WINDOW, mux_stream};
use state::StreamState;
pub use streams::request_id;

pub use crate::version::Version;

/// Which end of the transport this session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Opened the connection: uses even Request IDs.
    Client,
    /// Accepted it: uses odd Request IDs.
    Server,
}

/// The driver's name for one transport stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u64);

/// The session's name for one request (its Request ID on draft-18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestHandle(pub u64);

/// A reason to close the session, blamed on the peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (session error {:#x})", code.0)]
pub struct SessionError {
    /// The termination code to close with.
    pub code: Code,
    /// What the peer did, for the close reason and the log.
    pub reason: String,
}

impl SessionError {
    fn new(code: Code, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }

    /// A fault of this end (a message that cannot be sent, a request that is over): close with
    /// INTERNAL_ERROR.
    pub fn internal(reason: impl Into<String>) -> Self {
        Self::new(Code::INTERNAL_ERROR, reason)
    }

    fn violation(reason: impl Into<String>) -> Self {
        Self::new(Code::PROTOCOL_VIOLATION, reason)
    }
}

/// What happened, for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The peer's SETUP.
    Setup(Setup),
    /// The peer sent GOAWAY on its control stream.
    GoAway(GoAway),
    /// The peer opened a request (the first message of a new request stream).
    Request {
        /// Its handle.
        request: RequestHandle,
        /// The stream it arrived on.
        stream: StreamId,
        /// The request message.
        message: Message,
    },
    /// A later message on a request stream, in either direction's request.
    Message {
        /// The request.
        request: RequestHandle,
        /// The message.
        message: Message,
    },
    /// The peer finished (`reset: None`) or reset a request stream.
    RequestClosed {
        /// The request.
        request: RequestHandle,
        /// Reset code, if reset.
        reset: Option<u64>,
    },
    /// A subgroup data stream began.
    Subgroup {
        /// The stream.
        stream: StreamId,
        /// Its header.
        header: SubgroupHeader,
    },
    /// A fetch data stream began.
    Fetch {
        /// The stream.
        stream: StreamId,
        /// Its header (the FETCH's Request ID).
        header: FetchHeader,
    },
    /// An object on a subgroup stream.
    Object {
        /// The stream.
        stream: StreamId,
        /// Object fields.
        object: SubgroupObject,
        /// Payload (zero-copy when it arrived in one chunk).
        payload: Bytes,
    },
    /// An entry on a fetch stream.
    FetchObject {
        /// The stream.
        stream: StreamId,
        /// Object or range marker.
        object: FetchObject,
        /// Payload.
        payload: Bytes,
    },
    /// A data stream ended: `reset: None` for a clean FIN.
    DataEnd {
        /// The stream.
        stream: StreamId,
        /// Reset code, if reset.
        reset: Option<u64>,
    },
    /// An object datagram.
    Datagram(ObjectDatagram),
}

/// What the driver must do on the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// Write bytes on a stream.
    Write {
        /// The stream.
        stream: StreamId,
        /// The bytes.
        data: Bytes,
    },
    /// Finish (FIN) a stream.
    Finish {
        /// The stream.
        stream: StreamId,
    },
    /// Reset a stream.
    Reset {
        /// The stream.
        stream: StreamId,
        /// Code.
        code: u64,
    },
}

/// Peer Request IDs out of order beyond which the oldest missing ones can no longer be used.
const REQUEST_ID_WINDOW: usize = 4096;

/// The peer's Request IDs seen, in bounded memory: every ID below `floor` counts as used, and
/// the ones seen above it are kept until the gaps below them fill. Requests arrive on streams of
/// their own, so IDs may come out of order; an ID left unused while [`REQUEST_ID_WINDOW`] later
/// ones arrived is given up.
#[derive(Debug)]
struct PeerRequestIds {
    floor: u64,
    above: BTreeSet<u64>,
    largest: Option<u64>,
    first: u64,
}

impl PeerRequestIds {
    fn new(first: u64) -> Self {
        Self {
            floor: first,
            above: BTreeSet::new(),
            largest: None,
            first,
        }
    }

    /// Record `id` (parity already checked); an error if it was used (or given up).
    fn insert(&mut self, id: u64) -> Result<(), SessionError> {
        if id < self.floor || !self.above.insert(id) {
            return Err(SessionError::new(
                Code::INVALID_REQUEST_ID,
                format!("request ID {id} used twice"),
            ));
        }
        self.largest = self.largest.max(Some(id));
        if self.above.len() > REQUEST_ID_WINDOW
            && let Some(oldest) = self.above.pop_first()
        {
            self.floor = oldest + 2;
        }
        while self.above.first() == Some(&self.floor) {
            self.above.pop_first();
            self.floor += 2;
        }
        Ok(())
    }

    /// The smallest ID above every one seen.
    fn next(&self) -> u64 {
        self.largest.map_or(self.first, |m| m + 2)
    }

    fn tracked(&self) -> usize {
        self.above.len()
    }
}

/// One MoQ session's protocol state.
#[derive(Debug)]
pub struct Session {
    version: Version,
    role: Role,
    limits: Limits,
    streams: HashMap<StreamId, StreamState>,
    /// Request → its stream.
    requests: HashMap<RequestHandle, StreamId>,
    peer_request_ids: PeerRequestIds,
    /// Parameter types outside draft-18 that an extension negotiated for this session allows.
    extension_parameters: HashSet<u64>,
    next_request_id: u64,
    peer_control: Option<StreamId>,
    our_control: Option<StreamId>,
    setup_received: bool,
    goaway_received: bool,
    aliases: HashMap<u64, RequestHandle>,
    /// Drafts 14 and 16: the control stream's requests and request flow control.
    mux: Option<mux::Mux>,
    events: VecDeque<Event>,
    transmits: VecDeque<Transmit>,
}

impl Session {
    /// A new session.
    pub fn new(version: Version, role: Role, limits: Limits) -> Self {
        Self {
            version,
            role,
            limits,
            streams: HashMap::new(),
            requests: HashMap::new(),
            peer_request_ids: PeerRequestIds::new(match role {
                Role::Client => 1,
                Role::Server => 0,
            }),
            extension_parameters: HashSet::new(),
            next_request_id: match role {
                Role::Client => 0,
                Role::Server => 1,
            },
            peer_control: None,
            our_control: None,
            setup_received: false,
            goaway_received: false,
            aliases: HashMap::new(),
            mux: (!version.has_request_streams()).then(|| mux::Mux::new(role)),
            events: VecDeque::new(),
            transmits: VecDeque::new(),
        }
    }

    /// The negotiated draft.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Whether the peer's SETUP has arrived.
    pub fn is_setup(&self) -> bool {
        self.setup_received
    }

    /// The peer's control stream, once its first bytes named it one.
    pub fn peer_control(&self) -> Option<StreamId> {
        self.peer_control
    }

    /// Whether the peer sent GOAWAY.
    pub fn goaway_received(&self) -> bool {
        self.goaway_received
    }

    /// Next application event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Next transport action.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    fn write(&mut self, stream: StreamId, message: impl Into<Message>) -> Result<(), SessionError> {
        let mut buf = BytesMut::new();
        message
            .into()
            .encode_as(self.version, &mut buf)
            .map_err(|e| SessionError::new(Code::INTERNAL_ERROR, format!("cannot encode: {e}")))?;
        self.transmits.push_back(Transmit::Write {
            stream,
            data: buf.freeze(),
        });
        Ok(())
    }

    /// Our control stream: SETUP goes out on it. On draft-18 on, a unidirectional stream the
    /// driver opened; on drafts 14 and 16 the bidirectional control stream (a client opened it,
    /// a server accepted it).
    pub fn open_control(&mut self, stream: StreamId, setup: Setup) -> Result<(), SessionError> {
        if self.mux.is_some() {
            return mux::open_control(self, stream, setup);
        }
        self.our_control = Some(stream);
        self.streams.insert(stream, StreamState::OurControl);
        self.write(stream, setup)
    }

    /// Which end of the session this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Accept Message Parameters of type `kind` from the peer (an extension both ends
    /// negotiated); any other unknown parameter still closes the session.
    pub fn allow_parameter(&mut self, kind: u64) {
        self.extension_parameters.insert(kind);
    }

    /// Send GOAWAY on our control stream.
    pub fn send_goaway(&mut self, goaway: GoAway) -> Result<(), SessionError> {
        if self.mux.is_some() {
            return mux::send_goaway(self, goaway);
        }
        let stream = self
            .our_control
            .ok_or_else(|| SessionError::new(Code::INTERNAL_ERROR, "no control stream"))?;
        self.write(stream, goaway)
    }

    /// The smallest peer Request ID not yet seen (for GOAWAY).
    pub fn next_peer_request_id(&self) -> u64 {
        self.peer_request_ids.next()
    }

    /// The driver is done with `stream` (the task that read or wrote it ended): the session
    /// forgets it, the request it carried and that request's aliases. Without this a session
    /// would hold every request it ever saw.
    pub fn forget_stream(&mut self, stream: StreamId) {
        if self.mux.is_some() {
            return mux::forget(self, stream);
        }
        if let Some(
            StreamState::Request {
                request: Some(request),
                ..
            }
            | StreamState::Closed {
                request: Some(request),
            },
        ) = self.streams.remove(&stream)
        {
            if self.requests.get(&request) == Some(&stream) {
                self.requests.remove(&request);
            }
            self.aliases.retain(|_, r| *r != request);
        }
    }

    /// What the session holds: streams, requests and peer Request IDs tracked out of order.
    /// Each stays bounded by what is live (see [`Session::forget_stream`]).
    pub fn held(&self) -> (usize, usize, usize) {
        (
            self.streams.len(),
            self.requests.len() + self.mux.as_ref().map_or(0, mux::Mux::held),
            self.peer_request_ids.tracked(),
        )
    }

    /// Allocate the Request ID for a request we are about to send.
    pub fn next_request_id(&mut self) -> u64 {
        let id = self.next_request_id;
        self.next_request_id += 2;
        id
    }

    /// Send a request on a bidirectional stream the driver just opened. The message's Request ID
    /// must come from [`Session::next_request_id`].
    pub fn send_request(
        &mut self,
        stream: StreamId,
        message: Message,
    ) -> Result<RequestHandle, SessionError> {
        if self.mux.is_some() {
            return mux::send_request(self, stream, message);
        }
        let id = request_id(&message)
            .ok_or_else(|| SessionError::new(Code::INTERNAL_ERROR, "not a request message"))?;
        let request = RequestHandle(id);
        self.streams.insert(
            stream,
            StreamState::request(request, self.limits, self.version),
        );
        self.requests.insert(request, stream);
        self.write(stream, message)?;
        Ok(request)
    }

    /// Send a response or follow-up message on a request's stream.
    pub fn send(&mut self, request: RequestHandle, message: Message) -> Result<(), SessionError> {
        let stream = *self
            .requests
            .get(&request)
            .ok_or_else(|| SessionError::new(Code::INTERNAL_ERROR, "unknown request"))?;
        if self.mux.is_some() {
            return mux::send(self, request, stream, message);
        }
        self.write(stream, message)
    }

    /// Whether our request `message` goes on the control stream (drafts 14 and 16, except
    /// draft-16's SUBSCRIBE_NAMESPACE) rather than on a bidirectional stream of its own. Its
    /// stream name is then [`mux_stream`] of its Request ID.
    pub fn on_control_stream(&self, message: &Message) -> bool {
        self.mux.is_some() && mux::on_control(self.version, message)
    }

    /// We stop reading the peer's `request` (draft-18: STOP_SENDING on its stream, which the
    /// driver sends). On drafts 14 and 16 a PUBLISH of the peer's is ended with UNSUBSCRIBE.
    pub fn stop_reading(&mut self, request: RequestHandle, code: u64) -> Result<(), SessionError> {
        if self.mux.is_some() {
            return mux::stop_reading(self, request, code);
        }
        Ok(())
    }

    /// Answer a request stream the peer opened without reading it (the session has too many
    /// open): `message` (a REQUEST_ERROR) and FIN on it, and the stream is over. Only a peer's
    /// request stream whose request is not known yet can be refused so.
    pub fn refuse_unread(
        &mut self,
        stream: StreamId,
        message: Message,
    ) -> Result<(), SessionError> {
        if self.mux.is_some() {
            return match self.streams.get(&stream) {
                Some(StreamState::Closed {
                    request: Some(request),
                }) => {
                    let request = *request;
                    mux::send(self, request, stream, message)
                }
                _ => {
                    self.transmits
                        .push_back(Transmit::Reset { stream, code: 0 });
                    Ok(())
                }
            };
        }
        match self.streams.get(&stream) {
            Some(StreamState::Request { request: None, .. }) => {}
            _ => return Err(SessionError::internal("not an unread request stream")),
        }
        self.write(stream, message)?;
        self.transmits.push_back(Transmit::Finish { stream });
        self.streams
            .insert(stream, StreamState::Closed { request: None });
        Ok(())
    }

    /// Finish our side of a request stream.
    pub fn finish(&mut self, request: RequestHandle) {
        if self.mux.is_some() {
            // Only an encoding fault of ours fails here; the request is over either way.
            if let Some(&stream) = self.requests.get(&request) {
                let _ = mux::close(self, request, stream, None);
            }
            return;
        }
        if let Some(&stream) = self.requests.get(&request) {
            self.transmits.push_back(Transmit::Finish { stream });
        }
    }

    /// Reset our side of a request stream (cancel it).
    pub fn cancel(&mut self, request: RequestHandle, code: u64) {
        if self.mux.is_some() {
            // Only an encoding fault of ours fails here; the request is over either way.
            if let Some(&stream) = self.requests.get(&request) {
                let _ = mux::close(self, request, stream, Some(code));
            }
            return;
        }
        if let Some(stream) = self.requests.remove(&request) {
            self.streams.remove(&stream);
            self.transmits.push_back(Transmit::Reset { stream, code });
        }
    }

    /// Data for `alias` belongs to `request` (from SUBSCRIBE_OK or PUBLISH). A second request
    /// with the same alias is the peer's DUPLICATE_TRACK_ALIAS.
    pub fn register_alias(
        &mut self,
        alias: u64,
        request: RequestHandle,
    ) -> Result<(), SessionError> {
        match self.aliases.insert(alias, request) {
            Some(prev) if prev != request => Err(SessionError::new(
                Code::DUPLICATE_TRACK_ALIAS,
                format!("track alias {alias} already used"),
            )),
            _ => Ok(()),
        }
    }

    /// Forget an alias (its request ended).
    pub fn release_alias(&mut self, alias: u64) {
        self.aliases.remove(&alias);
    }

    /// The request a Track Alias belongs to.
    pub fn alias(&self, alias: u64) -> Option<RequestHandle> {
        self.aliases.get(&alias).copied()
    }

    /// The peer opened a unidirectional stream (control or data: its first bytes tell).
    pub fn handle_uni_opened(&mut self, stream: StreamId) {
        self.streams
            .insert(stream, StreamState::uni(self.limits, self.version));
    }

    /// The peer opened a bidirectional stream (a request stream).
    pub fn handle_bi_opened(&mut self, stream: StreamId) {
        if self.mux.is_some() {
            return mux::bi_opened(self, stream);
        }
        self.streams
            .insert(stream, StreamState::peer_request(self.limits, self.version));
    }

    /// Bytes arrived on a stream; `fin` when the peer finished it.
    pub fn handle_data(
        &mut self,
        stream: StreamId,
        data: Bytes,
        fin: bool,
    ) -> Result<(), SessionError> {
        streams::handle_data(self, stream, data, fin)
    }

    /// The object still arriving on data stream `stream`, if any: its number on the stream and
    /// its declared payload length (see [`DataStreamReader::partial_object`]).
    ///
    /// [`DataStreamReader::partial_object`]: crate::reader::DataStreamReader::partial_object
    pub fn partial_object(&self, stream: StreamId) -> Option<(u64, usize)> {
        match self.streams.get(&stream)? {
            StreamState::Uni(reader) => reader.partial_object(),
            _ => None,
        }
    }

    /// The peer reset a stream (`RESET_STREAM`).
    pub fn handle_reset(&mut self, stream: StreamId, code: u64) -> Result<(), SessionError> {
        streams::handle_reset(self, stream, code)
    }

    /// A datagram arrived.
    pub fn handle_datagram(&mut self, datagram: Bytes) -> Result<(), SessionError> {
        match crate::data::decode_datagram_as(datagram, self.version, &self.limits) {
            Ok(crate::data::Datagram::Object(d)) => {
                self.events.push_back(Event::Datagram(d));
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) => Err(SessionError::new(e.wire_code(), format!("datagram: {e}"))),
        }
    }
}
