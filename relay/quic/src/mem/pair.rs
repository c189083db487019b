//! What both sides of an in-memory pair share: the [`Pair`] with its stream queues, datagram
//! queues and close, the [`Side`] and [`Kind`] that index them, and the counted [`SideRef`].

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use tokio::sync::Notify;

use super::limits::MemLimits;
use super::pipe::Pipe;
use crate::error::SessionError;

/// One end of a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Side {
    Client,
    Server,
}

impl Side {
    pub(super) fn index(self) -> usize {
        match self {
            Self::Client => 0,
            Self::Server => 1,
        }
    }

    pub(super) fn peer(self) -> Self {
        match self {
            Self::Client => Self::Server,
            Self::Server => Self::Client,
        }
    }
}

/// A stream's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Bi,
    Uni,
}

impl Kind {
    pub(super) fn index(self) -> usize {
        match self {
            Self::Bi => 0,
            Self::Uni => 1,
        }
    }
}

/// The first close of a pair; later ones change nothing.
pub(super) struct Close {
    by: Side,
    code: u32,
    reason: String,
}

/// What both sides share.
pub(super) struct Pair {
    pub(super) limits: MemLimits,
    pub(super) close: OnceLock<Close>,
    /// Woken once, when the pair closes; every wait also listens here.
    pub(super) closed: Notify,
    state: Mutex<PairState>,
    /// Per receiving side: a stream became acceptable or a datagram arrived.
    pub(super) incoming: [Notify; 2],
    /// Per opening side: the peer accepted a stream.
    pub(super) room: [Notify; 2],
    /// Per side: its `stable_id`.
    pub(super) ids: [usize; 2],
}

#[derive(Default)]
pub(super) struct PairState {
    /// Indexed by the receiving side.
    pub(super) toward: [Inbox; 2],
}

/// What travels toward one side.
#[derive(Default)]
pub(super) struct Inbox {
    /// Indexed by [`Kind::index`].
    pub(super) streams: [Queue; 2],
    pub(super) datagrams: VecDeque<Bytes>,
}

/// Streams of one kind opened toward one side.
#[derive(Default)]
pub(super) struct Queue {
    pub(super) pending: VecDeque<Pending>,
    /// The sequence number of the next stream opened.
    pub(super) next: u64,
    /// Streams with a lower sequence number can be accepted.
    pub(super) announced: u64,
}

/// A stream opened and not yet accepted.
pub(super) struct Pending {
    pub(super) seq: u64,
    pub(super) id: u64,
    /// Written by the opener, read by the acceptor.
    pub(super) forth: Arc<Pipe>,
    /// Written by the acceptor, read by the opener (unused on unidirectional streams).
    pub(super) back: Arc<Pipe>,
}

static NEXT_STABLE_ID: AtomicUsize = AtomicUsize::new(1);

impl Pair {
    pub(super) fn new(limits: MemLimits) -> Self {
        let id = NEXT_STABLE_ID.fetch_add(2, Ordering::Relaxed);
        Self {
            limits,
            close: OnceLock::new(),
            closed: Notify::new(),
            state: Mutex::default(),
            incoming: [Notify::new(), Notify::new()],
            room: [Notify::new(), Notify::new()],
            ids: [id, id + 1],
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, PairState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why the pair is closed, as `side` sees it.
    pub(super) fn error(&self, side: Side) -> Option<SessionError> {
        self.close.get().map(|close| {
            if close.by == side {
                SessionError::LocallyClosed
            } else {
                SessionError::Closed {
                    code: close.code,
                    reason: close.reason.clone(),
                }
            }
        })
    }

    pub(super) fn close(&self, by: Side, code: u32, reason: &str) {
        let close = Close {
            by,
            code,
            reason: reason.to_owned(),
        };
        if self.close.set(close).is_ok() {
            *self.lock() = PairState::default();
            self.closed.notify_waiters();
        }
    }

    /// Call `poll` until it gives a value, again whenever `notify` or the pair's close wakes.
    pub(super) async fn wait<T>(&self, notify: &Notify, mut poll: impl FnMut() -> Option<T>) -> T {
        loop {
            let mut changed = pin!(notify.notified());
            let mut closed = pin!(self.closed.notified());
            changed.as_mut().enable();
            closed.as_mut().enable();
            if let Some(out) = poll() {
                return out;
            }
            tokio::select! {
                () = changed => {}
                () = closed => {}
            }
        }
    }

    /// Streams of `kind` up to `seq` opened toward `to` can be accepted.
    pub(super) fn announce(&self, to: Side, kind: Kind, seq: u64) {
        let mut state = self.lock();
        let queue = &mut state.toward[to.index()].streams[kind.index()];
        queue.announced = queue.announced.max(seq + 1);
        drop(state);
        self.incoming[to.index()].notify_waiters();
    }
}

/// A counted handle to one side: the side closes with code 0 when the last one drops.
pub(super) struct SideRef {
    pub(super) pair: Arc<Pair>,
    pub(super) side: Side,
}

impl Drop for SideRef {
    fn drop(&mut self) {
        self.pair.close(self.side, 0, "");
    }
}
