//! [`Pipe`]: one direction of an in-memory stream, the chunks its writer queued for its
//! reader and how each end closed it.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;

/// One direction of a stream.
#[derive(Default)]
pub(super) struct Pipe {
    state: Mutex<PipeState>,
    /// Woken on every change, for the reader and the writer alike.
    pub(super) notify: Notify,
}

#[derive(Default)]
pub(super) struct PipeState {
    pub(super) chunks: VecDeque<Bytes>,
    /// Bytes in `chunks`.
    pub(super) unread: usize,
    /// The writer finished.
    pub(super) fin: bool,
    /// The writer reset with this code.
    pub(super) reset: Option<u32>,
    /// The reader stopped with this code.
    pub(super) stopped: Option<u32>,
    /// The reader read everything through the FIN.
    pub(super) read_all: bool,
}

impl Pipe {
    pub(super) fn lock(&self) -> MutexGuard<'_, PipeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Apply `change` and wake both ends.
    pub(super) fn update<T>(&self, change: impl FnOnce(&mut PipeState) -> T) -> T {
        let out = change(&mut self.lock());
        self.notify.notify_waiters();
        out
    }
}
