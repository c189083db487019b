//! The QMux session and stream halves behind [`Session`](crate::Session),
//! [`SendStream`](crate::SendStream) and [`RecvStream`](crate::RecvStream) on a WebSocket, with
//! QMux's errors named as tern's ([`crate::websocket`] makes the sessions).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use web_transport_trait::{RecvStream as _, SendStream as _, Session as _, Stats as _};

use crate::error::{SessionError, StreamError};

/// Ids for QMux sessions, apart from quinn's connection ids (which count up from 0).
static NEXT_ID: AtomicUsize = AtomicUsize::new(1 << 40);

/// One QMux session and the WebSocket peer's address.
#[derive(Clone)]
pub(crate) struct QmuxSession {
    inner: qmux::Session,
    /// The WebSocket peer's TCP address.
    pub remote: SocketAddr,
    /// A number naming the session among the process's live sessions.
    pub id: usize,
    closed_locally: Arc<AtomicBool>,
}

impl QmuxSession {
    pub fn new(inner: qmux::Session, remote: SocketAddr) -> Self {
        Self {
            inner,
            remote,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            closed_locally: Arc::default(),
        }
    }

    fn session_error(&self, e: qmux::Error) -> SessionError {
        session_error(e, self.closed_locally.load(Ordering::Relaxed))
    }

    pub async fn open_bi(&self) -> Result<(QmuxSend, QmuxRecv), SessionError> {
        let (send, recv) = self
            .inner
            .open_bi()
            .await
            .map_err(|e| self.session_error(e))?;
        Ok((QmuxSend::new(send), QmuxRecv::new(recv)))
    }

    pub async fn open_uni(&self) -> Result<QmuxSend, SessionError> {
        let send = self
            .inner
            .open_uni()
            .await
            .map_err(|e| self.session_error(e))?;
        Ok(QmuxSend::new(send))
    }

    pub async fn accept_bi(&self) -> Result<(QmuxSend, QmuxRecv), SessionError> {
        let (send, recv) = self
            .inner
            .accept_bi()
            .await
            .map_err(|e| self.session_error(e))?;
        Ok((QmuxSend::new(send), QmuxRecv::new(recv)))
    }

    pub async fn accept_uni(&self) -> Result<QmuxRecv, SessionError> {
        let recv = self
            .inner
            .accept_uni()
            .await
            .map_err(|e| self.session_error(e))?;
        Ok(QmuxRecv::new(recv))
    }

    pub fn close(&self, code: u32, reason: &str) {
        self.closed_locally.store(true, Ordering::Relaxed);
        self.inner.close(code, reason);
    }

    pub async fn closed(&self) -> SessionError {
        let e = self.inner.closed().await;
        self.session_error(e)
    }

    pub fn close_reason(&self) -> Option<SessionError> {
        let closed = std::pin::pin!(self.inner.closed());
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match closed.poll(&mut cx) {
            Poll::Ready(e) => Some(self.session_error(e)),
            Poll::Pending => None,
        }
    }

    pub fn rtt(&self) -> Duration {
        self.inner.stats().rtt().unwrap_or_default()
    }
}

/// A session-level error of QMux as tern names it.
fn session_error(e: qmux::Error, closed_locally: bool) -> SessionError {
    if closed_locally {
        return SessionError::LocallyClosed;
    }
    match e {
        qmux::Error::ConnectionClosed { code, reason } => match u32::try_from(code.into_inner()) {
            Ok(code) => SessionError::Closed { code, reason },
            Err(_) => SessionError::Lost(format!("application close {}", code.into_inner())),
        },
        qmux::Error::IdleTimeout => SessionError::TimedOut,
        e => SessionError::Lost(e.to_string()),
    }
}

/// A stream-level error of QMux as tern names it.
fn stream_error(e: qmux::Error) -> StreamError {
    let code = |c: u64| u32::try_from(c).map_err(|_| StreamError::InvalidCode(c));
    match e {
        qmux::Error::StreamReset(c) => code(c.into_inner()).map_or_else(|e| e, StreamError::Reset),
        qmux::Error::StreamStop(c) => code(c.into_inner()).map_or_else(|e| e, StreamError::Stopped),
        qmux::Error::StreamClosed => StreamError::Closed,
        e => StreamError::Session(session_error(e, false)),
    }
}

/// The sending half of a QMux stream. Its waits for the peer's stop (`stopped`) take `&self`,
/// as quinn's do; QMux's take the stream, so it sits behind an async lock that writes hold only
/// while they write.
pub(crate) struct QmuxSend {
    inner: tokio::sync::Mutex<qmux::SendStream>,
    id: u64,
    /// Finished or reset here.
    done: bool,
}

impl Drop for QmuxSend {
    /// Dropping finishes the stream, as a quinn stream's drop does (QMux's own drop resets it).
    fn drop(&mut self) {
        if !self.done {
            let _ = self.inner.get_mut().finish();
        }
    }
}

impl std::fmt::Debug for QmuxSend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QmuxSend").field("id", &self.id).finish()
    }
}

/// Numbers naming QMux streams in logs.
static STREAM_IDS: AtomicUsize = AtomicUsize::new(0);

impl QmuxSend {
    fn new(inner: qmux::SendStream) -> Self {
        Self {
            inner: tokio::sync::Mutex::new(inner),
            id: STREAM_IDS.fetch_add(1, Ordering::Relaxed) as u64,
            done: false,
        }
    }

    pub async fn write_chunk(&mut self, chunk: Bytes) -> Result<(), StreamError> {
        let mut s = self.inner.lock().await;
        let mut chunk = chunk;
        s.write_all_buf(&mut chunk).await.map_err(stream_error)
    }

    pub async fn write_all_chunks(&mut self, chunks: &mut [Bytes]) -> Result<(), StreamError> {
        let mut s = self.inner.lock().await;
        for chunk in chunks.iter_mut() {
            s.write_all_buf(chunk).await.map_err(stream_error)?;
        }
        Ok(())
    }

    pub async fn write_all(&mut self, buf: &[u8]) -> Result<(), StreamError> {
        let mut s = self.inner.lock().await;
        s.write_all(buf).await.map_err(stream_error)
    }

    /// Set the send priority; skipped while a write holds the stream (the next call sets it).
    pub fn set_priority(&self, priority: i32) -> Result<(), StreamError> {
        if let Ok(mut s) = self.inner.try_lock() {
            s.set_priority(priority);
        }
        Ok(())
    }

    pub fn reset(&mut self, code: u32) -> Result<(), StreamError> {
        self.done = true;
        self.inner.get_mut().reset(code);
        Ok(())
    }

    pub fn finish(&mut self) -> Result<(), StreamError> {
        self.done = true;
        self.inner.get_mut().finish().map_err(stream_error)
    }

    pub async fn stopped(&self) -> Result<Option<u32>, SessionError> {
        let mut s = self.inner.lock().await;
        match s.closed().await {
            Ok(()) => Ok(None),
            Err(qmux::Error::StreamStop(c)) => Ok(u32::try_from(c.into_inner()).ok()),
            Err(e) => match stream_error(e) {
                StreamError::Session(e) => Err(e),
                _ => Ok(None),
            },
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }
}

/// The receiving half of a QMux stream.
pub(crate) struct QmuxRecv(qmux::RecvStream, u64);

impl std::fmt::Debug for QmuxRecv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QmuxRecv").field("id", &self.1).finish()
    }
}

impl QmuxRecv {
    fn new(inner: qmux::RecvStream) -> Self {
        Self(inner, STREAM_IDS.fetch_add(1, Ordering::Relaxed) as u64)
    }

    pub async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, StreamError> {
        self.0.read_chunk(max).await.map_err(stream_error)
    }

    pub async fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, StreamError> {
        self.0.read(buf).await.map_err(stream_error)
    }

    pub async fn read_to_end(&mut self, limit: usize) -> Result<Vec<u8>, StreamError> {
        let mut out = Vec::new();
        while let Some(chunk) = self.read_chunk(64 * 1024).await? {
            if out.len() + chunk.len() > limit {
                return Err(StreamError::TooLong);
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    pub fn stop(&mut self, code: u32) -> Result<(), StreamError> {
        self.0.stop(code);
        Ok(())
    }

    pub fn id(&self) -> u64 {
        self.1
    }
}
