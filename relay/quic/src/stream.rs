//! Send and receive halves of a stream, on either transport.
//!
//! Payloads move as [`Bytes`]: [`SendStream::write_chunk`] hands the buffer to quinn without
//! copying, and [`RecvStream::read_chunk`] returns quinn's own buffer (in memory, the
//! writer's buffer).

use bytes::Bytes;
use web_transport_quinn as wtq;

use crate::error::SessionError;
pub use crate::error::StreamError;
use crate::mem::{MemRecv, MemSend};
use crate::qmux_stream::{QmuxRecv, QmuxSend};

/// The sending half of a stream. Dropping it finishes the stream gracefully; call
/// [`reset`](Self::reset) to abandon it instead.
#[derive(Debug)]
pub struct SendStream {
    inner: SendInner,
}

/// What carries a send stream.
#[derive(Debug)]
enum SendInner {
    Quic(wtq::SendStream),
    Mem(MemSend),
    Qmux(QmuxSend),
}

impl SendStream {
    pub(crate) fn new(inner: wtq::SendStream) -> Self {
        Self {
            inner: SendInner::Quic(inner),
        }
    }

    pub(crate) fn mem(inner: MemSend) -> Self {
        Self {
            inner: SendInner::Mem(inner),
        }
    }

    pub(crate) fn qmux(inner: QmuxSend) -> Self {
        Self {
            inner: SendInner::Qmux(inner),
        }
    }

    /// Queue `chunk` for sending without copying it; waits while flow control is exhausted.
    pub async fn write_chunk(&mut self, chunk: Bytes) -> Result<(), StreamError> {
        match &mut self.inner {
            SendInner::Quic(s) => Ok(s.write_chunk(chunk).await?),
            SendInner::Mem(m) => m.write_chunk(chunk).await,
            SendInner::Qmux(q) => q.write_chunk(chunk).await,
        }
    }

    /// Queue every chunk in order without copying; on return all of them are queued.
    pub async fn write_all_chunks(&mut self, chunks: &mut [Bytes]) -> Result<(), StreamError> {
        match &mut self.inner {
            SendInner::Quic(s) => Ok(s.write_all_chunks(chunks).await?),
            SendInner::Mem(m) => m.write_all_chunks(chunks).await,
            SendInner::Qmux(q) => q.write_all_chunks(chunks).await,
        }
    }

    /// Copy `buf` into the stream (for small control messages).
    pub async fn write_all(&mut self, buf: &[u8]) -> Result<(), StreamError> {
        match &mut self.inner {
            SendInner::Quic(s) => Ok(s.write_all(buf).await?),
            SendInner::Mem(m) => m.write_all(buf).await,
            SendInner::Qmux(q) => q.write_all(buf).await,
        }
    }

    /// Set the send priority: streams with a higher value go first (quinn semantics). In
    /// memory every stream is delivered at once and the priority is ignored.
    pub fn set_priority(&self, priority: i32) -> Result<(), StreamError> {
        match &self.inner {
            SendInner::Quic(s) => s.set_priority(priority).map_err(|_| StreamError::Closed),
            SendInner::Mem(_) => Ok(()),
            SendInner::Qmux(q) => q.set_priority(priority),
        }
    }

    /// Abandon the stream; the peer's reads fail with [`StreamError::Reset`] carrying `code`.
    pub fn reset(&mut self, code: u32) -> Result<(), StreamError> {
        match &mut self.inner {
            SendInner::Quic(s) => s.reset(code).map_err(|_| StreamError::Closed),
            SendInner::Mem(m) => m.reset(code),
            SendInner::Qmux(q) => q.reset(code),
        }
    }

    /// Mark the end of the stream; queued data is still delivered.
    pub fn finish(&mut self) -> Result<(), StreamError> {
        match &mut self.inner {
            SendInner::Quic(s) => s.finish().map_err(|_| StreamError::Closed),
            SendInner::Mem(m) => m.finish(),
            SendInner::Qmux(q) => q.finish(),
        }
    }

    /// Wait until the peer stops the stream (`Some(code)`) or has read all of it (`None`).
    pub async fn stopped(&self) -> Result<Option<u32>, SessionError> {
        match &self.inner {
            SendInner::Quic(s) => Ok(s.stopped().await?),
            SendInner::Mem(m) => m.stopped().await,
            SendInner::Qmux(q) => q.stopped().await,
        }
    }

    /// The QUIC stream id (WebTransport ids have gaps; use it for logs only).
    pub fn id(&self) -> u64 {
        match &self.inner {
            SendInner::Quic(s) => s.quic_id().into(),
            SendInner::Mem(m) => m.id(),
            SendInner::Qmux(q) => q.id(),
        }
    }
}

/// The receiving half of a stream.
#[derive(Debug)]
pub struct RecvStream {
    inner: RecvInner,
}

/// What carries a receive stream.
#[derive(Debug)]
enum RecvInner {
    Quic(wtq::RecvStream),
    Mem(MemRecv),
    Qmux(QmuxRecv),
}

impl RecvStream {
    pub(crate) fn new(inner: wtq::RecvStream) -> Self {
        Self {
            inner: RecvInner::Quic(inner),
        }
    }

    pub(crate) fn mem(inner: MemRecv) -> Self {
        Self {
            inner: RecvInner::Mem(inner),
        }
    }

    pub(crate) fn qmux(inner: QmuxRecv) -> Self {
        Self {
            inner: RecvInner::Qmux(inner),
        }
    }

    /// The next in-order chunk of at most `max` bytes, or `None` at the end of the stream.
    pub async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, StreamError> {
        match &mut self.inner {
            RecvInner::Quic(s) => Ok(s.read_chunk(max, true).await?.map(|chunk| chunk.bytes)),
            RecvInner::Mem(m) => m.read_chunk(max).await,
            RecvInner::Qmux(q) => q.read_chunk(max).await,
        }
    }

    /// Read into `buf`; `None` at the end of the stream.
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, StreamError> {
        match &mut self.inner {
            RecvInner::Quic(s) => Ok(s.read(buf).await?),
            RecvInner::Mem(m) => m.read(buf).await,
            RecvInner::Qmux(q) => q.read(buf).await,
        }
    }

    /// Read the rest of the stream, failing with [`StreamError::TooLong`] beyond `limit` bytes.
    pub async fn read_to_end(&mut self, limit: usize) -> Result<Vec<u8>, StreamError> {
        match &mut self.inner {
            RecvInner::Quic(s) => s.read_to_end(limit).await.map_err(|e| match e {
                wtq::ReadToEndError::TooLong => StreamError::TooLong,
                wtq::ReadToEndError::ReadError(e) => e.into(),
            }),
            RecvInner::Mem(m) => m.read_to_end(limit).await,
            RecvInner::Qmux(q) => q.read_to_end(limit).await,
        }
    }

    /// Ask the peer to stop sending; its writes fail with [`StreamError::Stopped`] and `code`.
    pub fn stop(&mut self, code: u32) -> Result<(), StreamError> {
        match &mut self.inner {
            RecvInner::Quic(s) => s.stop(code).map_err(|_| StreamError::Closed),
            RecvInner::Mem(m) => m.stop(code),
            RecvInner::Qmux(q) => q.stop(code),
        }
    }

    /// The QUIC stream id (WebTransport ids have gaps; use it for logs only).
    pub fn id(&self) -> u64 {
        match &self.inner {
            RecvInner::Quic(s) => s.quic_id().into(),
            RecvInner::Mem(m) => m.id(),
            RecvInner::Qmux(q) => q.id(),
        }
    }
}
