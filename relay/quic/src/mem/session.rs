//! [`MemSession`]: one side of an in-memory pair, what [`Session`](crate::Session) calls for
//! streams, datagrams, close and the connection's metadata.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;

use super::limits::MemLimits;
use super::pair::{Kind, Pair, Pending, Side, SideRef};
use super::pipe::Pipe;
use super::stream::{MemRecv, MemSend};
use crate::error::{DatagramError, SessionError};

/// One side of an in-memory pair, behind [`Session`](crate::Session).
#[derive(Clone)]
pub(crate) struct MemSession {
    side: Arc<SideRef>,
}

impl MemSession {
    /// Two connected sides with the given limits: the client side first, the server side
    /// second.
    pub(crate) fn new_pair(limits: MemLimits) -> (Self, Self) {
        let pair = Arc::new(Pair::new(limits));
        let side = |side| Self {
            side: Arc::new(SideRef {
                pair: pair.clone(),
                side,
            }),
        };
        (side(Side::Client), side(Side::Server))
    }

    fn pair(&self) -> &Pair {
        &self.side.pair
    }

    fn me(&self) -> Side {
        self.side.side
    }

    pub(crate) async fn open_bi(&self) -> Result<(MemSend, MemRecv), SessionError> {
        let opened = self.open(Kind::Bi).await?;
        Ok((
            MemSend::new(
                self.side.clone(),
                opened.forth,
                opened.id,
                Some((Kind::Bi, opened.seq)),
            ),
            MemRecv::new(self.side.clone(), opened.back, opened.id),
        ))
    }

    pub(crate) async fn open_uni(&self) -> Result<MemSend, SessionError> {
        let opened = self.open(Kind::Uni).await?;
        Ok(MemSend::new(
            self.side.clone(),
            opened.forth,
            opened.id,
            Some((Kind::Uni, opened.seq)),
        ))
    }

    pub(crate) async fn accept_bi(&self) -> Result<(MemSend, MemRecv), SessionError> {
        let accepted = self.accept(Kind::Bi).await?;
        Ok((
            MemSend::new(self.side.clone(), accepted.back, accepted.id, None),
            MemRecv::new(self.side.clone(), accepted.forth, accepted.id),
        ))
    }

    pub(crate) async fn accept_uni(&self) -> Result<MemRecv, SessionError> {
        let accepted = self.accept(Kind::Uni).await?;
        Ok(MemRecv::new(self.side.clone(), accepted.forth, accepted.id))
    }

    /// Allocate a stream toward the peer, waiting while too many wait to be accepted.
    fn open(&self, kind: Kind) -> impl Future<Output = Result<Pending, SessionError>> + '_ {
        let (pair, me, peer) = (self.pair(), self.me(), self.me().peer());
        let max = pair.limits.max_streams.max(1);
        pair.wait(&pair.room[me.index()], move || {
            if let Some(err) = pair.error(me) {
                return Some(Err(err));
            }
            let mut state = pair.lock();
            let queue = &mut state.toward[peer.index()].streams[kind.index()];
            if queue.pending.len() >= max {
                return None;
            }
            let seq = queue.next;
            queue.next += 1;
            // QUIC's numbering: the low bits name the initiator and the kind.
            let id = seq * 4 + kind.index() as u64 * 2 + me.index() as u64;
            let forth = Arc::new(Pipe::default());
            let back = Arc::new(Pipe::default());
            queue.pending.push_back(Pending {
                seq,
                id,
                forth: forth.clone(),
                back: back.clone(),
            });
            Some(Ok(Pending {
                seq,
                id,
                forth,
                back,
            }))
        })
    }

    /// Take the peer's next announced stream of `kind`.
    fn accept(&self, kind: Kind) -> impl Future<Output = Result<Pending, SessionError>> + '_ {
        let (pair, me) = (self.pair(), self.me());
        pair.wait(&pair.incoming[me.index()], move || {
            if let Some(err) = pair.error(me) {
                return Some(Err(err));
            }
            let mut state = pair.lock();
            let queue = &mut state.toward[me.index()].streams[kind.index()];
            if queue.pending.front()?.seq >= queue.announced {
                return None;
            }
            let pending = queue.pending.pop_front()?;
            drop(state);
            pair.room[me.peer().index()].notify_waiters();
            Some(Ok(pending))
        })
    }

    pub(crate) fn send_datagram(&self, payload: Bytes) -> Result<(), DatagramError> {
        let (pair, peer) = (self.pair(), self.me().peer());
        if let Some(err) = pair.error(self.me()) {
            return Err(err.into());
        }
        if pair.limits.max_datagram_size == 0 {
            return Err(DatagramError::Unsupported);
        }
        if payload.len() > pair.limits.max_datagram_size {
            return Err(DatagramError::TooLarge);
        }
        let limit = pair.limits.datagrams;
        if limit == 0 {
            return Ok(());
        }
        let mut state = pair.lock();
        let queue = &mut state.toward[peer.index()].datagrams;
        while queue.len() >= limit {
            queue.pop_front();
        }
        queue.push_back(payload);
        drop(state);
        pair.incoming[peer.index()].notify_waiters();
        Ok(())
    }

    pub(crate) async fn read_datagram(&self) -> Result<Bytes, SessionError> {
        let (pair, me) = (self.pair(), self.me());
        pair.wait(&pair.incoming[me.index()], || {
            if let Some(err) = pair.error(me) {
                return Some(Err(err));
            }
            pair.lock().toward[me.index()].datagrams.pop_front().map(Ok)
        })
        .await
    }

    pub(crate) fn max_datagram_size(&self) -> usize {
        self.pair().limits.max_datagram_size
    }

    pub(crate) fn close(&self, code: u32, reason: &str) {
        self.pair().close(self.me(), code, reason);
    }

    pub(crate) async fn closed(&self) -> SessionError {
        let (pair, me) = (self.pair(), self.me());
        pair.wait(&pair.closed, || pair.error(me)).await
    }

    pub(crate) fn close_reason(&self) -> Option<SessionError> {
        self.pair().error(self.me())
    }

    /// A loopback address with a made-up port, distinct per side.
    pub(crate) fn remote_address(&self) -> SocketAddr {
        let id = self.pair().ids[self.me().peer().index()];
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 49152 + (id % 16384) as u16)
    }

    pub(crate) fn local_ip(&self) -> Option<IpAddr> {
        Some(Ipv4Addr::LOCALHOST.into())
    }

    pub(crate) fn peer_name(&self) -> Option<String> {
        match self.me() {
            Side::Server => self.pair().limits.client_name.clone(),
            Side::Client => None,
        }
    }

    pub(crate) fn stable_id(&self) -> usize {
        self.pair().ids[self.me().index()]
    }
}
