//! The receiving half of one stream, read through the session's sans-IO protocol state: every
//! byte a peer sends is fed to [`tern_moq::session::Session`], which checks it and names what
//! it is (SETUP, a request, an object, the end of a stream) as [`Event`]s. The relay and the
//! client read every stream this way.
//!
//! What a session does with its streams beyond the protocol (closing itself on a violation,
//! holding a receive budget for the object arriving) is its [`Feed`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tern_moq::message::codes::StreamResetCode;
use tern_moq::session::RequestHandle;
use tern_moq::session::{Event, Session, SessionError, StreamId};
use tern_quic::{RecvStream, StreamError};

use crate::control::Control;
use crate::mux::{Mux, Route};
use crate::request::{Reply, RequestStream, SharedProto, StreamName};

/// Bytes read from a stream at a time.
const READ_CHUNK: usize = 64 * 1024;

/// What a stream's reader needs from its session.
pub trait Feed {
    /// What each stream's reader keeps for the session (the relay: the receive budget held
    /// for the object still arriving).
    type Hold: Default + Send;

    /// The session's protocol state.
    fn proto(&self) -> &SharedProto;

    /// A new name for a stream.
    fn new_stream_id(&self) -> StreamId;

    /// The session's control-stream state.
    fn control(&self) -> &Control;

    /// Close the session because the peer broke the protocol (`error` names the code and what
    /// the peer did).
    fn violated(&self, error: SessionError);

    /// Feed what arrived on `stream` (`reset`: the peer reset it) and take the events it
    /// produced; `None` when it broke the protocol (the session is closed, with the reason).
    ///
    /// The end of the peer's control stream is held back from the protocol session: the
    /// driver ([`crate::driver`]) gives the peer `timeouts.leave_grace` to close the session
    /// before it counts as a violation.
    fn feed(
        &self,
        stream: StreamId,
        data: Bytes,
        fin: bool,
        reset: Option<u64>,
    ) -> Option<Vec<Event>> {
        let mut proto = crate::request::lock(self.proto());
        let leaving = fin && reset.is_none() && proto.peer_control() == Some(stream);
        let fed = feed_proto(&mut proto, stream, data, fin && !leaving, reset);
        drop(proto);
        if leaving {
            self.control().leaving.notify_one();
        }
        fed.map_err(|e| self.violated(e)).ok()
    }

    /// After a chunk: whether the object still arriving on `stream` may be received (its
    /// reader stops the stream with EXCESSIVE_LOAD when not). By default, always.
    fn admit(&self, stream: StreamId, hold: &mut Self::Hold) -> bool {
        let _ = (stream, hold);
        true
    }
}

/// Feed what arrived on `stream` to `proto` (`fin`: the peer finished it; `reset`: it reset it)
/// and take the events it produced: what [`Feed::feed`] does under the session's lock. Input never
/// queues transmits; only the session's send calls do, and their callers drain them.
pub fn feed_proto(
    proto: &mut Session,
    stream: StreamId,
    data: Bytes,
    fin: bool,
    reset: Option<u64>,
) -> Result<Vec<Event>, SessionError> {
    let result = match reset {
        Some(code) => proto.handle_reset(stream, code),
        None => proto.handle_data(stream, data, fin),
    };
    let events = std::iter::from_fn(|| proto.poll_event()).collect();
    result.map(|()| events)
}

impl<T: Feed> Feed for Arc<T> {
    type Hold = T::Hold;

    fn proto(&self) -> &SharedProto {
        (**self).proto()
    }

    fn new_stream_id(&self) -> StreamId {
        (**self).new_stream_id()
    }

    fn control(&self) -> &Control {
        (**self).control()
    }

    fn violated(&self, error: SessionError) {
        (**self).violated(error)
    }

    fn feed(
        &self,
        stream: StreamId,
        data: Bytes,
        fin: bool,
        reset: Option<u64>,
    ) -> Option<Vec<Event>> {
        (**self).feed(stream, data, fin, reset)
    }

    fn admit(&self, stream: StreamId, hold: &mut Self::Hold) -> bool {
        (**self).admit(stream, hold)
    }
}

/// The inbound side of one stream.
#[derive(Debug)]
pub struct Inbound<H = ()> {
    /// The stream's name in the protocol session.
    pub id: StreamId,
    /// Shared with its request's writer: the session forgets the stream when both are gone.
    name: Arc<StreamName>,
    source: Source,
    queue: VecDeque<Event>,
    done: bool,
    hold: H,
}

/// Where a stream's events come from.
#[derive(Debug)]
enum Source {
    /// A transport stream, read and fed to the protocol session.
    Stream(RecvStream),
    /// A request on the control stream of drafts 14 and 16: the driver reads that stream and
    /// routes this request's events here.
    Control {
        events: tokio::sync::mpsc::Receiver<Event>,
        _route: Route,
        request: RequestHandle,
        mux: Arc<Mux>,
        proto: SharedProto,
    },
}

impl<H: Default + Send> Inbound<H> {
    /// A unidirectional stream the peer opened (its control stream or a data stream).
    pub fn uni(f: &impl Feed<Hold = H>, recv: RecvStream) -> Self {
        let id = f.new_stream_id();
        crate::request::lock(f.proto()).handle_uni_opened(id);
        Self::named(StreamName::new(f.proto(), id), recv)
    }

    /// A bidirectional (request) stream the peer opened.
    pub fn bi(f: &impl Feed<Hold = H>, recv: RecvStream) -> Self {
        let id = f.new_stream_id();
        crate::request::lock(f.proto()).handle_bi_opened(id);
        Self::named(StreamName::new(f.proto(), id), recv)
    }

    /// The receiving half of a request stream we opened.
    pub fn of(request: &RequestStream, recv: RecvStream) -> Self {
        Self::named(request.name().clone(), recv)
    }

    /// The bidirectional control stream of drafts 14 and 16 (the session already knows it:
    /// [`tern_moq::session::Session::open_control`] or `handle_bi_opened`), named `id`.
    pub fn control(f: &impl Feed<Hold = H>, id: StreamId, recv: RecvStream) -> Self {
        Self::named(StreamName::new(f.proto(), id), recv)
    }

    /// The reader of `request` on the control stream of drafts 14 and 16: `first` (the
    /// peer's request) and then what the driver routes to `events`.
    pub(crate) fn muxed(
        f: &impl Feed<Hold = H>,
        request: RequestHandle,
        first: Option<Event>,
        (events, route): (tokio::sync::mpsc::Receiver<Event>, Route),
        mux: Arc<Mux>,
    ) -> Self {
        let name = StreamName::new(f.proto(), tern_moq::session::mux_stream(request.0));
        Self {
            id: name.id(),
            name,
            source: Source::Control {
                events,
                _route: route,
                request,
                mux,
                proto: f.proto().clone(),
            },
            queue: first.into_iter().collect(),
            done: false,
            hold: H::default(),
        }
    }

    fn named(name: Arc<StreamName>, recv: RecvStream) -> Self {
        Self {
            id: name.id(),
            name,
            source: Source::Stream(recv),
            queue: VecDeque::new(),
            done: false,
            hold: H::default(),
        }
    }

    /// The stream's name in the protocol session (what a request's writer shares).
    pub fn name(&self) -> &Arc<StreamName> {
        &self.name
    }

    /// The writer of the peer's `request`, which arrived on this stream: its answers go
    /// through the protocol session of `f` to `reply`, each write given up after `stall`
    /// without credit.
    pub fn answer(
        &self,
        f: &impl Feed<Hold = H>,
        request: RequestHandle,
        reply: Reply,
        stall: Duration,
    ) -> RequestStream {
        RequestStream::new(
            f.proto().clone(),
            request,
            self.name.clone(),
            reply.0,
            stall,
        )
    }

    /// The next event of this stream; `None` once it is over (its end was reported as an
    /// event) or the session broke.
    pub async fn next(&mut self, f: &impl Feed<Hold = H>) -> Option<Event> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some(e);
            }
            if self.done {
                return None;
            }
            let recv = match &mut self.source {
                Source::Stream(recv) => recv,
                Source::Control { events, .. } => {
                    let event = events.recv().await;
                    if event.is_none() || matches!(event, Some(Event::RequestClosed { .. })) {
                        self.done = true;
                    }
                    return event;
                }
            };
            let fed = match recv.read_chunk(READ_CHUNK).await {
                Ok(Some(chunk)) => f.feed(self.id, chunk, false, None).map(|mut events| {
                    if !f.admit(self.id, &mut self.hold) {
                        // Refused: stop the stream and drop what it sent (its readers see
                        // the stream end as reset).
                        let code = StreamResetCode::EXCESSIVE_LOAD;
                        self.stop(code);
                        events.extend(
                            f.feed(self.id, Bytes::new(), false, Some(code.0))
                                .unwrap_or_default(),
                        );
                    }
                    events
                }),
                Ok(None) => {
                    self.done = true;
                    f.feed(self.id, Bytes::new(), true, None)
                }
                Err(StreamError::Reset(code)) => {
                    self.done = true;
                    f.feed(self.id, Bytes::new(), false, Some(u64::from(code)))
                }
                Err(_) => {
                    self.done = true;
                    None
                }
            };
            match fed {
                Some(events) => self.queue.extend(events),
                None => self.done = true,
            }
        }
    }

    /// Ask the peer to stop sending (STOP_SENDING with `code`); nothing more is read.
    pub fn stop(&mut self, code: StreamResetCode) {
        match &mut self.source {
            Source::Stream(recv) => {
                let _ = recv.stop(u32::try_from(code.0).unwrap_or(u32::MAX));
            }
            Source::Control {
                request,
                mux,
                proto,
                ..
            } => {
                let mut p = crate::request::lock(proto);
                if p.stop_reading(*request, code.0).is_ok() {
                    let transmits = crate::request::drain(&mut p);
                    let _ = mux.enqueue(transmits);
                }
            }
        }
        self.done = true;
    }
}
