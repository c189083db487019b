//! A request's stream as the task serving it holds it: every message it sends is encoded by the
//! sans-IO protocol session ([`tern_moq::session::Session::send`]), which knows the request,
//! and leaves as that session's transmits. Nothing writes a control message around the session.
//!
//! On draft-18 a request is a bidirectional stream of its own; the session names the stream
//! each transmit goes to, so a draft whose requests share one control stream changes the
//! session, not the tasks.
//!
//! The session lets go of a request's stream (its state, its aliases) when the last of the
//! stream's holders is dropped: the task's [`RequestStream`] and the reader of the stream's
//! other half, which share one [`StreamName`].

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::mux::Mux;
use std::time::Duration;

use tern_moq::Message;
use tern_moq::session::{RequestHandle, Session, SessionError, StreamId, Transmit, request_id};
use tern_quic::{SendStream, StreamError};

/// The protocol session of one MoQ session, shared by the tasks that feed it and send on it.
pub type SharedProto = Arc<Mutex<Session>>;

pub(crate) fn lock(p: &Mutex<Session>) -> MutexGuard<'_, Session> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a message could not be sent on a request's stream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The session refused the message (the request is over, or it cannot be encoded): a
    /// fault of ours, not the peer's.
    #[error("the protocol session refused the message: {0}")]
    Refused(#[from] SessionError),
    /// The stream failed (the peer stopped it, or the session is gone).
    #[error("request stream: {0}")]
    Stream(#[from] StreamError),
    /// Drafts 14 and 16: the control stream cannot take the message.
    #[error(transparent)]
    Control(#[from] crate::mux::Blocked),
    /// The peer gave the stream no credit for this long.
    #[error("the peer gave no credit to {what} for {after:?}")]
    Stalled {
        /// What was being written.
        what: &'static str,
        /// How long it waited.
        after: Duration,
    },
}

/// A stream's name in the protocol session; when the last holder drops it, the session forgets
/// the stream, its request and that request's aliases (bounded state per session).
#[derive(Debug)]
pub struct StreamName {
    proto: Weak<Mutex<Session>>,
    id: StreamId,
}

impl StreamName {
    /// Name `id` in `proto`.
    pub fn new(proto: &SharedProto, id: StreamId) -> Arc<Self> {
        Arc::new(Self {
            proto: Arc::downgrade(proto),
            id,
        })
    }

    /// The stream's ID in the protocol session.
    pub fn id(&self) -> StreamId {
        self.id
    }
}

impl Drop for StreamName {
    fn drop(&mut self) {
        if let Some(p) = self.proto.upgrade() {
            lock(&p).forget_stream(self.id);
        }
    }
}

/// Where the answers to a request the peer sent go (draft-18: the other half of the request's
/// bidirectional stream). The driver hands it over with the request's
/// [`Inbound`](crate::inbound::Inbound); the task that serves the request turns it into the request's
/// writer ([`Inbound::answer`](crate::inbound::Inbound::answer)) or refuses the request unread
/// ([`Reply::refuse_unread`]).
#[derive(Debug)]
pub struct Reply(pub(crate) Out);

/// Where a request's messages go: a stream of its own (draft-18 on) or the control stream
/// (drafts 14 and 16).
#[derive(Debug)]
pub(crate) enum Out {
    Stream(SendStream),
    Control(Arc<Mux>),
}

impl Out {
    /// Run `f` on the protocol session and send what it queued: on the control stream in order,
    /// under the session's lock; on a stream of its own, returned to be written.
    fn emit(
        &self,
        proto: &SharedProto,
        f: impl FnOnce(&mut Session) -> Result<(), SessionError>,
    ) -> Result<Vec<Transmit>, WriteError> {
        let mut p = lock(proto);
        f(&mut p)?;
        let transmits = drain(&mut p);
        match self {
            Out::Stream(_) => Ok(transmits),
            Out::Control(mux) => {
                mux.enqueue(transmits)?;
                Ok(Vec::new())
            }
        }
    }

    async fn write(
        &mut self,
        transmits: Vec<Transmit>,
        what: &'static str,
        stall: Duration,
    ) -> Result<(), WriteError> {
        match self {
            Out::Stream(send) => write_transmits(send, transmits, what, stall).await,
            Out::Control(_) => Ok(()),
        }
    }
}

impl Reply {
    /// Refuse the peer's request on stream `stream` before reading it (`message`, then FIN),
    /// through `proto`; the write is given up after `stall` without credit.
    pub async fn refuse_unread(
        mut self,
        proto: &SharedProto,
        stream: StreamId,
        message: Message,
        stall: Duration,
    ) -> Result<(), WriteError> {
        let transmits = self.0.emit(proto, |p| p.refuse_unread(stream, message))?;
        self.0.write(transmits, "write a refusal", stall).await
    }
}

/// The sending half of one request's stream, written through the protocol session.
#[derive(Debug)]
pub struct RequestStream {
    proto: SharedProto,
    request: RequestHandle,
    name: Arc<StreamName>,
    send: Out,
    stall: Duration,
}

impl RequestStream {
    /// The stream of `request` (named `name` in `proto`), written on `send`; a write the peer
    /// gives no credit to for `stall` fails.
    pub(crate) fn new(
        proto: SharedProto,
        request: RequestHandle,
        name: Arc<StreamName>,
        send: Out,
        stall: Duration,
    ) -> Self {
        Self {
            proto,
            request,
            name,
            send,
            stall,
        }
    }

    /// Send a request of ours on `send`, a bidirectional stream just opened: the session picks
    /// its Request ID (given to `make`) and learns the request. Returns the request's stream.
    pub async fn open(
        proto: SharedProto,
        id: StreamId,
        send: SendStream,
        stall: Duration,
        make: impl FnOnce(u64) -> Message,
    ) -> Result<Self, WriteError> {
        let message = {
            let mut p = lock(&proto);
            make(p.next_request_id())
        };
        Self::open_with(proto, id, send, stall, message).await
    }

    /// [`RequestStream::open`] for a request whose Request ID is already taken.
    pub(crate) async fn open_with(
        proto: SharedProto,
        id: StreamId,
        send: SendStream,
        stall: Duration,
        message: Message,
    ) -> Result<Self, WriteError> {
        let name = StreamName::new(&proto, id);
        let (request, transmits) = {
            let mut p = lock(&proto);
            let request = p.send_request(id, message)?;
            (request, drain(&mut p))
        };
        let mut stream = Self::new(proto, request, name, Out::Stream(send), stall);
        stream.write(transmits, "write a request").await?;
        Ok(stream)
    }

    /// Send our request on the control stream of drafts 14 and 16 (`id`: its Request ID,
    /// taken under the same lock as `message` was built). Returns the request's writer and
    /// what the driver routes its answers to.
    pub(crate) fn open_on_control(
        proto: SharedProto,
        p: &mut Session,
        mux: &Arc<Mux>,
        message: Message,
        stall: Duration,
    ) -> Result<
        (
            Self,
            (
                tokio::sync::mpsc::Receiver<tern_moq::session::Event>,
                crate::mux::Route,
            ),
        ),
        WriteError,
    > {
        let rid = request_id(&message).ok_or_else(|| SessionError::internal("not a request"))?;
        let id = tern_moq::session::mux_stream(rid);
        let route = mux.register(RequestHandle(rid));
        let sent = p.send_request(id, message);
        // Sent or not, what it queued (REQUESTS_BLOCKED when the peer's grant is used up) goes.
        mux.enqueue(drain(p))?;
        let request = sent?;
        let name = StreamName::new(&proto, id);
        Ok((
            Self::new(proto, request, name, Out::Control(mux.clone()), stall),
            route,
        ))
    }

    /// The request.
    pub fn request(&self) -> RequestHandle {
        self.request
    }

    /// The request's ID on the wire (draft-18: the handle is the ID).
    pub fn request_id(&self) -> u64 {
        self.request.0
    }

    /// The stream's name in the protocol session (shared with the reader of its other half).
    pub fn name(&self) -> &Arc<StreamName> {
        &self.name
    }

    /// Send `message` on the request.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), WriteError> {
        let request = self.request;
        let message = message.into();
        let ends = matches!(message, Message::PublishDone(_) | Message::RequestError(_));
        let transmits = self.send.emit(&self.proto, |p| p.send(request, message))?;
        if ends {
            self.close_reader();
        }
        self.write(transmits, "write a control message").await
    }

    /// On the control stream of drafts 14 and 16, the request's reader sees its end once this
    /// end is done with the request (draft-18: the peer's FIN answers ours): nothing more of
    /// it is read.
    fn close_reader(&self) {
        if let Out::Control(mux) = &self.send {
            let request = self.request;
            let _ = mux.route(
                request,
                tern_moq::session::Event::RequestClosed {
                    request,
                    reset: None,
                },
            );
        }
    }

    /// Send `message` and end our side of the request.
    pub async fn send_last(&mut self, message: impl Into<Message>) -> Result<(), WriteError> {
        self.send(message).await?;
        self.finish()
    }

    /// End our side of the request (FIN); what was sent is still delivered.
    pub fn finish(&mut self) -> Result<(), WriteError> {
        let request = self.request;
        let transmits = self.send.emit(&self.proto, |p| {
            p.finish(request);
            Ok(())
        })?;
        self.close_reader();
        self.apply_now(transmits)
    }

    /// Abandon our side of the request with `code` (RESET_STREAM).
    pub fn reset(&mut self, code: u64) -> Result<(), WriteError> {
        let request = self.request;
        let transmits = self.send.emit(&self.proto, |p| {
            p.cancel(request, code);
            Ok(())
        })?;
        self.close_reader();
        self.apply_now(transmits)
    }

    /// Wait until the peer stops the stream (`Some(code)`) or has read all of it (`None`). On
    /// the control stream of drafts 14 and 16 it never does: the request's reader sees the
    /// peer's cancel.
    pub async fn stopped(&self) -> Result<Option<u32>, tern_quic::SessionError> {
        match &self.send {
            Out::Stream(send) => send.stopped().await,
            Out::Control(_) => std::future::pending().await,
        }
    }

    async fn write(
        &mut self,
        transmits: Vec<Transmit>,
        what: &'static str,
    ) -> Result<(), WriteError> {
        self.send.write(transmits, what, self.stall).await
    }

    /// Transmits that need no wait (FIN, RESET_STREAM).
    fn apply_now(&mut self, transmits: Vec<Transmit>) -> Result<(), WriteError> {
        match &mut self.send {
            Out::Stream(send) => transmits.into_iter().try_for_each(|t| end_stream(send, t)),
            Out::Control(_) => Ok(()),
        }
    }
}

/// Carry out on `send`, the one stream they name, the transmits the session queued for it, in
/// order: each write given up after `stall` without the peer's credit (`what` names it), then
/// FIN or RESET_STREAM.
pub async fn write_transmits(
    send: &mut SendStream,
    transmits: Vec<Transmit>,
    what: &'static str,
    stall: Duration,
) -> Result<(), WriteError> {
    for t in transmits {
        match t {
            Transmit::Write { data, .. } => {
                match tokio::time::timeout(stall, send.write_chunk(data)).await {
                    Ok(r) => r?,
                    Err(_) => return Err(WriteError::Stalled { what, after: stall }),
                }
            }
            other => end_stream(send, other)?,
        }
    }
    Ok(())
}

/// A transmit that needs no wait: FIN or RESET_STREAM.
fn end_stream(send: &mut SendStream, t: Transmit) -> Result<(), WriteError> {
    match t {
        Transmit::Finish { .. } => send.finish()?,
        Transmit::Reset { code, .. } => {
            send.reset(u32::try_from(code).unwrap_or(u32::MAX))?;
        }
        Transmit::Write { .. } => {
            return Err(WriteError::Refused(SessionError::internal(
                "a write queued behind a FIN or reset",
            )));
        }
    }
    Ok(())
}

/// Every transmit the session queued: the caller's own, since it queued them under the same
/// lock.
pub fn drain(p: &mut Session) -> Vec<Transmit> {
    std::iter::from_fn(|| p.poll_transmit()).collect()
}
