//! Send and receive halves of a stream, on either transport.
//!
//! Payloads move as [`Bytes`]: [`SendStream::write_chunk`] hands the buffer to quinn without
//! copying, and [`RecvStream::read_chunk`] returns quinn's own buffer.

use bytes::Bytes;
use web_transport_quinn as wtq;

use crate::error::SessionError;

/// Why a stream operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The peer reset the stream with this code (read side).
    #[error("reset by peer: code {0:#x}")]
    Reset(u32),
    /// The peer asked us to stop sending with this code (write side).
    #[error("stopped by peer: code {0:#x}")]
    Stopped(u32),
    /// A reset or stop code outside the WebTransport application range.
    #[error("peer used an invalid stream code {0}")]
    InvalidCode(u64),
    /// The stream was already finished, reset or stopped locally.
    #[error("stream already closed")]
    Closed,
    /// [`RecvStream::read_to_end`] met more bytes than its limit.
    #[error("stream longer than the limit")]
    TooLong,
    /// The whole session is gone.
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl From<wtq::WriteError> for StreamError {
    fn from(err: wtq::WriteError) -> Self {
        match err {
            wtq::WriteError::Stopped(code) => Self::Stopped(code),
            wtq::WriteError::InvalidStopped(code) => Self::InvalidCode(code.into_inner()),
            wtq::WriteError::SessionError(e) => Self::Session(e.into()),
            wtq::WriteError::ClosedStream => Self::Closed,
        }
    }
}

impl From<wtq::ReadError> for StreamError {
    fn from(err: wtq::ReadError) -> Self {
        match err {
            wtq::ReadError::Reset(code) => Self::Reset(code),
            wtq::ReadError::InvalidReset(code) => Self::InvalidCode(code.into_inner()),
            wtq::ReadError::SessionError(e) => Self::Session(e.into()),
            wtq::ReadError::ClosedStream | wtq::ReadError::IllegalOrderedRead => Self::Closed,
        }
    }
}

/// The sending half of a stream. Dropping it finishes the stream gracefully; call
/// [`reset`](Self::reset) to abandon it instead.
#[derive(Debug)]
pub struct SendStream {
    inner: wtq::SendStream,
}

impl SendStream {
    pub(crate) fn new(inner: wtq::SendStream) -> Self {
        Self { inner }
    }

    /// Queue `chunk` for sending without copying it; waits while flow control is exhausted.
    pub async fn write_chunk(&mut self, chunk: Bytes) -> Result<(), StreamError> {
        Ok(self.inner.write_chunk(chunk).await?)
    }

    /// Queue every chunk in order without copying; on return all of them are queued.
    pub async fn write_all_chunks(&mut self, chunks: &mut [Bytes]) -> Result<(), StreamError> {
        Ok(self.inner.write_all_chunks(chunks).await?)
    }

    /// Copy `buf` into the stream (for small control messages).
    pub async fn write_all(&mut self, buf: &[u8]) -> Result<(), StreamError> {
        Ok(self.inner.write_all(buf).await?)
    }

    /// Set the send priority: streams with a higher value go first (quinn semantics).
    pub fn set_priority(&self, priority: i32) -> Result<(), StreamError> {
        self.inner
            .set_priority(priority)
            .map_err(|_| StreamError::Closed)
    }

    /// Abandon the stream; the peer's reads fail with [`StreamError::Reset`] carrying `code`.
    pub fn reset(&mut self, code: u32) -> Result<(), StreamError> {
        self.inner.reset(code).map_err(|_| StreamError::Closed)
    }

    /// Mark the end of the stream; queued data is still delivered.
    pub fn finish(&mut self) -> Result<(), StreamError> {
        self.inner.finish().map_err(|_| StreamError::Closed)
    }

    /// Wait until the peer stops the stream (`Some(code)`) or has read all of it (`None`).
    pub async fn stopped(&self) -> Result<Option<u32>, SessionError> {
        Ok(self.inner.stopped().await?)
    }

    /// The QUIC stream id (WebTransport ids have gaps; use it for logs only).
    pub fn id(&self) -> u64 {
        self.inner.quic_id().into()
    }
}

/// The receiving half of a stream.
#[derive(Debug)]
pub struct RecvStream {
    inner: wtq::RecvStream,
}

impl RecvStream {
    pub(crate) fn new(inner: wtq::RecvStream) -> Self {
        Self { inner }
    }

    /// The next in-order chunk of at most `max` bytes, or `None` at the end of the stream.
    pub async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, StreamError> {
        Ok(self
            .inner
            .read_chunk(max, true)
            .await?
            .map(|chunk| chunk.bytes))
    }

    /// Read into `buf`; `None` at the end of the stream.
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, StreamError> {
        Ok(self.inner.read(buf).await?)
    }

    /// Read the rest of the stream, failing with [`StreamError::TooLong`] beyond `limit` bytes.
    pub async fn read_to_end(&mut self, limit: usize) -> Result<Vec<u8>, StreamError> {
        self.inner.read_to_end(limit).await.map_err(|e| match e {
            wtq::ReadToEndError::TooLong => StreamError::TooLong,
            wtq::ReadToEndError::ReadError(e) => e.into(),
        })
    }

    /// Ask the peer to stop sending; its writes fail with [`StreamError::Stopped`] and `code`.
    pub fn stop(&mut self, code: u32) -> Result<(), StreamError> {
        self.inner.stop(code).map_err(|_| StreamError::Closed)
    }

    /// The QUIC stream id (WebTransport ids have gaps; use it for logs only).
    pub fn id(&self) -> u64 {
        self.inner.quic_id().into()
    }
}
