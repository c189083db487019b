//! Drafts 14 and 16 in the driver: one bidirectional control stream carries every request's
//! messages (the protocol session, [`tern_moq::session`], names each request as if it had a
//! stream of its own). Here are the two halves of that stream as the tasks see them:
//! - writes: every message of every request is queued in order under the protocol session's
//!   lock ([`Mux::enqueue`]) and one task writes them to the stream; once [`MAX_QUEUED`] bytes
//!   wait for a peer that stopped reading, or a write got no credit for the session's stall
//!   limit, every further message is refused with the reason (the task holds no handle on the
//!   session, so dropping the session closes it as on draft-18);
//! - reads: the driver reads the control stream and routes each request's events to the reader
//!   that task holds ([`Mux::route`]), a bounded queue per request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

use tern_moq::session::{Event, RequestHandle, Transmit};
use tern_quic::SendStream;

/// Bytes of control messages queued for the peer beyond which it counts as not reading.
pub const MAX_QUEUED: usize = 1 << 20;

/// Events of one request waiting for its task, beyond which the peer counts as flooding it.
pub const ROUTE_DEPTH: usize = 64;

/// Why the control stream cannot take a message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Blocked(pub String);

/// The control stream of a draft-14/16 session.
#[derive(Debug)]
pub struct Mux {
    out: mpsc::UnboundedSender<Transmit>,
    queued: Arc<AtomicUsize>,
    /// Why the writer stopped, once it did.
    failed: Arc<Mutex<Option<String>>>,
    /// Ends the writer (the session's driver ended): its stream handle would keep the
    /// connection open.
    stop: Arc<tokio::sync::Notify>,
    routes: Mutex<HashMap<RequestHandle, mpsc::Sender<Event>>>,
}

impl Mux {
    /// The control stream written on `send` by a task of its own, which ends when the stream
    /// fails (later messages are refused with the reason) or the last [`Mux`] is gone.
    pub fn start(mut send: SendStream, stall: Duration) -> Arc<Self> {
        let (out, mut rx) = mpsc::unbounded_channel::<Transmit>();
        let queued = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(Mutex::new(None));
        let count = queued.clone();
        let why_failed = failed.clone();
        let stop = Arc::new(tokio::sync::Notify::new());
        let stopped = stop.clone();
        tokio::spawn(async move {
            loop {
                let t = tokio::select! {
                    t = rx.recv() => match t {
                        Some(t) => t,
                        None => return,
                    },
                    () = stopped.notified() => return,
                };
                let failed = match t {
                    Transmit::Write { data, .. } => {
                        let len = data.len();
                        let r = tokio::time::timeout(stall, send.write_chunk(data)).await;
                        count.fetch_sub(len, Ordering::Relaxed);
                        match r {
                            Ok(Ok(())) => None,
                            Ok(Err(e)) => Some(format!("control stream: {e}")),
                            Err(_) => Some(format!(
                                "the peer gave the control stream no credit for {stall:?}"
                            )),
                        }
                    }
                    Transmit::Finish { .. } => send.finish().err().map(|e| e.to_string()),
                    Transmit::Reset { .. } => None,
                };
                if let Some(why) = failed {
                    tracing::info!(reason = %why, "the control stream failed");
                    *lock(&why_failed) = Some(why);
                    return;
                }
            }
        });
        Arc::new(Self {
            out,
            queued,
            failed,
            stop,
            routes: Mutex::new(HashMap::new()),
        })
    }

    /// Queue `transmits` (all for the control stream) in order. Call it under the protocol
    /// session's lock that produced them, so requests leave in Request ID order.
    pub fn enqueue(&self, transmits: Vec<Transmit>) -> Result<(), Blocked> {
        if let Some(why) = lock(&self.failed).clone() {
            return Err(Blocked(why));
        }
        for t in transmits {
            if let Transmit::Write { data, .. } = &t {
                let now = self.queued.fetch_add(data.len(), Ordering::Relaxed) + data.len();
                if now > MAX_QUEUED {
                    return Err(Blocked(format!(
                        "{now} bytes of control messages wait for the peer to read them"
                    )));
                }
            }
            if self.out.send(t).is_err() {
                return Err(Blocked("the control stream is closed".into()));
            }
        }
        Ok(())
    }

    /// The session's driver ended: the writer lets go of the stream, and every request's
    /// reader sees its end (as a draft-18 request stream's reader does when the connection
    /// closes), so the tasks serving them end instead of waiting out the drain.
    pub fn shut_down(&self) {
        self.stop.notify_one();
        self.close_routes();
    }

    /// The control stream ended: no request of it gets another event.
    pub fn close_routes(&self) {
        lock(&self.routes).clear();
    }

    /// Finish our side of the control stream (we are leaving).
    pub fn finish(&self) {
        let _ = self.out.send(Transmit::Finish {
            stream: tern_moq::session::StreamId(0),
        });
    }

    /// The reader of `request`'s events, registered before the request is sent or handed on.
    pub fn register(self: &Arc<Self>, request: RequestHandle) -> (mpsc::Receiver<Event>, Route) {
        let (tx, rx) = mpsc::channel(ROUTE_DEPTH);
        lock(&self.routes).insert(request, tx);
        (
            rx,
            Route {
                mux: Arc::downgrade(self),
                request,
            },
        )
    }

    /// Hand `event` of `request` to its reader; an error when the peer sent more than its
    /// task has read ([`ROUTE_DEPTH`]). Events of a request nobody reads any more are dropped.
    pub fn route(&self, request: RequestHandle, event: Event) -> Result<(), String> {
        let last = matches!(event, Event::RequestClosed { .. });
        let mut routes = lock(&self.routes);
        let Some(tx) = routes.get(&request) else {
            return Ok(());
        };
        let r = match tx.try_send(event) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                routes.remove(&request);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => Err(format!(
                "request {}: more than {ROUTE_DEPTH} messages unread",
                request.0
            )),
        };
        if last {
            routes.remove(&request);
        }
        r
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A request's place in the routes; dropping it (its reader is gone) removes it.
#[derive(Debug)]
pub struct Route {
    mux: Weak<Mux>,
    request: RequestHandle,
}

impl Drop for Route {
    fn drop(&mut self) {
        if let Some(m) = self.mux.upgrade() {
            lock(&m.routes).remove(&self.request);
        }
    }
}
