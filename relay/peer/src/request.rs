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
use std::time::Duration;

use tern_moq::Message;
use tern_moq::session::{RequestHandle, Session, SessionError, StreamId, Transmit};
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
pub struct Reply(pub(crate) SendStream);

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
        let transmits = {
            let mut p = lock(proto);
            p.refuse_unread(stream, message)?;
            drain(&mut p)
        };
        write_transmits(&mut self.0, transmits, "write a refusal", stall).await
    }
}

/// The sending half of one request's stream, written through the protocol session.
#[derive(Debug)]
pub struct RequestStream {
    proto: SharedProto,
    request: RequestHandle,
    name: Arc<StreamName>,
    send: SendStream,
    stall: Duration,
}

impl RequestStream {
    /// The stream of `request` (named `name` in `proto`), written on `send`; a write the peer
    /// gives no credit to for `stall` fails.
    pub fn new(
        proto: SharedProto,
        request: RequestHandle,
        name: Arc<StreamName>,
        send: SendStream,
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
        let name = StreamName::new(&proto, id);
        let (request, transmits) = {
            let mut p = lock(&proto);
            let rid = p.next_request_id();
            let request = p.send_request(id, make(rid))?;
            (request, drain(&mut p))
        };
        let mut stream = Self::new(proto, request, name, send, stall);
        stream.write(transmits, "write a request").await?;
        Ok(stream)
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
        let transmits = {
            let mut p = lock(&self.proto);
            p.send(self.request, message.into())?;
            drain(&mut p)
        };
        self.write(transmits, "write a control message").await
    }

    /// Send `message` and end our side of the request.
    pub async fn send_last(&mut self, message: impl Into<Message>) -> Result<(), WriteError> {
        self.send(message).await?;
        self.finish()
    }

    /// End our side of the request (FIN); what was sent is still delivered.
    pub fn finish(&mut self) -> Result<(), WriteError> {
        let transmits = {
            let mut p = lock(&self.proto);
            p.finish(self.request);
            drain(&mut p)
        };
        self.apply_now(transmits)
    }

    /// Abandon our side of the request with `code` (RESET_STREAM).
    pub fn reset(&mut self, code: u64) -> Result<(), WriteError> {
        let transmits = {
            let mut p = lock(&self.proto);
            p.cancel(self.request, code);
            drain(&mut p)
        };
        self.apply_now(transmits)
    }

    /// Wait until the peer stops the stream (`Some(code)`) or has read all of it (`None`).
    pub async fn stopped(&self) -> Result<Option<u32>, tern_quic::SessionError> {
        self.send.stopped().await
    }

    async fn write(
        &mut self,
        transmits: Vec<Transmit>,
        what: &'static str,
    ) -> Result<(), WriteError> {
        write_transmits(&mut self.send, transmits, what, self.stall).await
    }

    /// Transmits that need no wait (FIN, RESET_STREAM).
    fn apply_now(&mut self, transmits: Vec<Transmit>) -> Result<(), WriteError> {
        transmits
            .into_iter()
            .try_for_each(|t| end_stream(&mut self.send, t))
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
