//! The halves of an in-memory stream: a [`Pipe`] of chunks between a [`MemSend`] and a
//! [`MemRecv`], with quinn's flow control, finish, reset and stop.

use std::fmt;
use std::sync::Arc;

use bytes::{Buf, Bytes};

use super::pair::{Kind, Pair, Side, SideRef};
use super::pipe::Pipe;
use crate::error::{SessionError, StreamError};

/// The sending half of an in-memory stream.
pub(crate) struct MemSend {
    side: Arc<SideRef>,
    pipe: Arc<Pipe>,
    id: u64,
    /// For a stream we opened and have not touched yet: its kind and sequence number, to
    /// make it acceptable on first use.
    announce: Option<(Kind, u64)>,
    finished: bool,
    reset: bool,
}

impl fmt::Debug for MemSend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemSend").field("id", &self.id).finish()
    }
}

impl MemSend {
    pub(super) fn new(
        side: Arc<SideRef>,
        pipe: Arc<Pipe>,
        id: u64,
        announce: Option<(Kind, u64)>,
    ) -> Self {
        Self {
            side,
            pipe,
            id,
            announce,
            finished: false,
            reset: false,
        }
    }

    fn pair(&self) -> &Pair {
        &self.side.pair
    }

    fn me(&self) -> Side {
        self.side.side
    }

    /// The peer sees the stream from its first frame on.
    fn announce(&mut self) {
        if let Some((kind, seq)) = self.announce.take() {
            self.side.pair.announce(self.side.side.peer(), kind, seq);
        }
    }

    pub(crate) async fn write_chunk(&mut self, mut chunk: Bytes) -> Result<(), StreamError> {
        while !chunk.is_empty() {
            let written = self.write_some(&chunk).await?;
            chunk.advance(written);
        }
        Ok(())
    }

    pub(crate) async fn write_all_chunks(
        &mut self,
        chunks: &mut [Bytes],
    ) -> Result<(), StreamError> {
        for chunk in chunks.iter_mut() {
            while !chunk.is_empty() {
                let written = self.write_some(chunk).await?;
                chunk.advance(written);
            }
        }
        Ok(())
    }

    pub(crate) async fn write_all(&mut self, buf: &[u8]) -> Result<(), StreamError> {
        self.write_chunk(Bytes::copy_from_slice(buf)).await
    }

    /// Queue as much of the non-empty `chunk` as the window allows, waiting for room.
    async fn write_some(&mut self, chunk: &Bytes) -> Result<usize, StreamError> {
        let window = self.pair().limits.stream_window.max(1);
        let (pair, me, pipe) = (&self.side.pair, self.side.side, &self.pipe);
        let closed = self.finished || self.reset;
        let written = pair
            .wait(&pipe.notify, || {
                if let Some(err) = pair.error(me) {
                    return Some(Err(StreamError::Session(err)));
                }
                if closed {
                    return Some(Err(StreamError::Closed));
                }
                let mut state = pipe.lock();
                if let Some(code) = state.stopped {
                    return Some(Err(StreamError::Stopped(code)));
                }
                let room = window.saturating_sub(state.unread);
                if room == 0 {
                    return None;
                }
                let part = chunk.slice(..room.min(chunk.len()));
                state.unread += part.len();
                state.chunks.push_back(part);
                drop(state);
                pipe.notify.notify_waiters();
                Some(Ok(room.min(chunk.len())))
            })
            .await?;
        self.announce();
        Ok(written)
    }

    pub(crate) fn reset(&mut self, code: u32) -> Result<(), StreamError> {
        if self.reset || (self.finished && self.pipe.lock().read_all) {
            return Err(StreamError::Closed);
        }
        self.reset = true;
        self.pipe.update(|state| {
            state.reset = Some(code);
            state.chunks.clear();
            state.unread = 0;
        });
        self.announce();
        Ok(())
    }

    pub(crate) fn finish(&mut self) -> Result<(), StreamError> {
        if self.finished || self.reset {
            return Err(StreamError::Closed);
        }
        self.finished = true;
        self.pipe.update(|state| state.fin = true);
        self.announce();
        Ok(())
    }

    pub(crate) async fn stopped(&self) -> Result<Option<u32>, SessionError> {
        let (pair, me, pipe) = (self.pair(), self.me(), &self.pipe);
        let reset = self.reset;
        pair.wait(&pipe.notify, || {
            let state = pipe.lock();
            if let Some(code) = state.stopped {
                return Some(Ok(Some(code)));
            }
            if state.read_all || reset {
                return Some(Ok(None));
            }
            pair.error(me).map(Err)
        })
        .await
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for MemSend {
    /// Finish the stream, or reset it with the stop code if the reader stopped it; nothing
    /// once the session is closed.
    fn drop(&mut self) {
        if !self.finished && !self.reset && self.pair().close.get().is_none() {
            self.pipe.update(|state| match state.stopped {
                Some(code) => state.reset = Some(code),
                None => state.fin = true,
            });
        }
        self.announce();
    }
}

/// The receiving half of an in-memory stream.
pub(crate) struct MemRecv {
    side: Arc<SideRef>,
    pipe: Arc<Pipe>,
    id: u64,
    stopped: bool,
    all_read: bool,
}

impl fmt::Debug for MemRecv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemRecv").field("id", &self.id).finish()
    }
}

impl MemRecv {
    pub(super) fn new(side: Arc<SideRef>, pipe: Arc<Pipe>, id: u64) -> Self {
        Self {
            side,
            pipe,
            id,
            stopped: false,
            all_read: false,
        }
    }

    pub(crate) async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, StreamError> {
        if self.all_read {
            return Ok(None);
        }
        if self.stopped {
            return Err(StreamError::Closed);
        }
        let (pair, me, pipe) = (&self.side.pair, self.side.side, &self.pipe);
        let chunk = pair
            .wait(&pipe.notify, || {
                if let Some(err) = pair.error(me) {
                    return Some(Err(StreamError::Session(err)));
                }
                let mut guard = pipe.lock();
                let state = &mut *guard;
                if let Some(code) = state.reset {
                    return Some(Err(StreamError::Reset(code)));
                }
                let chunk = match state.chunks.front_mut() {
                    Some(front) if front.len() > max => front.split_to(max),
                    Some(_) => state.chunks.pop_front()?,
                    None if state.fin => {
                        state.read_all = true;
                        pipe.notify.notify_waiters();
                        return Some(Ok(None));
                    }
                    None => return None,
                };
                state.unread -= chunk.len();
                pipe.notify.notify_waiters();
                Some(Ok(Some(chunk)))
            })
            .await?;
        self.all_read = chunk.is_none();
        Ok(chunk)
    }

    pub(crate) async fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, StreamError> {
        Ok(self.read_chunk(buf.len()).await?.map(|chunk| {
            buf[..chunk.len()].copy_from_slice(&chunk);
            chunk.len()
        }))
    }

    pub(crate) async fn read_to_end(&mut self, limit: usize) -> Result<Vec<u8>, StreamError> {
        let mut out = Vec::new();
        while let Some(chunk) = self.read_chunk(usize::MAX).await? {
            if out.len() + chunk.len() > limit {
                return Err(StreamError::TooLong);
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    pub(crate) fn stop(&mut self, code: u32) -> Result<(), StreamError> {
        if self.stopped || self.all_read {
            return Err(StreamError::Closed);
        }
        self.stopped = true;
        self.pipe.update(|state| {
            state.stopped = Some(code);
            state.chunks.clear();
            state.unread = 0;
        });
        Ok(())
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for MemRecv {
    /// Stop the stream with code 0 unless it was read to the end, stopped or reset, or the
    /// session is closed.
    fn drop(&mut self) {
        if !self.stopped && !self.all_read && self.side.pair.close.get().is_none() {
            self.pipe.update(|state| {
                if state.reset.is_none() {
                    state.stopped = Some(0);
                    state.chunks.clear();
                    state.unread = 0;
                }
            });
        }
    }
}
