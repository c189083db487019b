//! ICE-TCP (RFC 6544) for publishers on networks that block UDP: every answer also offers a
//! passive TCP candidate on the media port's number; a publisher's connection carries RFC 4571
//! frames (a 16-bit length, then a STUN, DTLS, RTP or RTCP packet). Its first frame must be a
//! STUN check naming a session's ufrag (within [`FIRST_FRAME`]), which routes the connection;
//! the session answers on the same connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::route::stun_recipient;
use super::shared::{Datagram, Shared};

/// How long a new connection has to send its first STUN check.
const FIRST_FRAME: Duration = Duration::from_secs(10);
/// How long an established connection may stay silent (ICE consent checks come every few
/// seconds).
const IDLE: Duration = Duration::from_secs(30);
/// Frames queued towards one connection before the newest are dropped.
const OUT_QUEUE: usize = 256;

/// Accept ICE-TCP connections on `listener` until the task is aborted.
pub(crate) async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = tokio::task::JoinSet::new();
    // Two per session: a publisher may try a candidate pair per address family.
    let max = shared.config.max_sessions.saturating_mul(2);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("whip: ICE-TCP accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        if connections.len() >= max {
            tracing::debug!(%peer, "whip: ICE-TCP connection refused: {max} already");
            continue;
        }
        connections.spawn(connection(stream, peer, shared.clone()));
    }
}

async fn read_frame(stream: &mut tokio::net::tcp::OwnedReadHalf, buf: &mut Vec<u8>) -> Option<()> {
    let len = stream.read_u16().await.ok()?;
    buf.resize(usize::from(len), 0);
    stream.read_exact(buf).await.ok()?;
    Some(())
}

async fn connection(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let (out, mut out_rx) = mpsc::channel::<Vec<u8>>(OUT_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(frame) = out_rx.recv().await {
            let Ok(len) = u16::try_from(frame.len()) else {
                continue;
            };
            if wr.write_u16(len).await.is_err() || wr.write_all(&frame).await.is_err() {
                return;
            }
        }
    });
    let mut buf = Vec::new();
    let first = tokio::time::timeout(FIRST_FRAME, read_frame(&mut rd, &mut buf)).await;
    let to = match first {
        Ok(Some(())) => stun_recipient(&buf).and_then(|ufrag| {
            shared
                .routes
                .lock()
                .ok()
                .and_then(|r| r.get(ufrag).cloned())
        }),
        _ => None,
    };
    let Some(to) = to else {
        tracing::debug!(%peer, "whip: ICE-TCP connection from {peer} names no session");
        writer.abort();
        return;
    };
    loop {
        let datagram = Datagram {
            source: peer,
            at: Instant::now(),
            data: std::mem::take(&mut buf),
            tcp: Some(out.clone()),
        };
        match to.try_send(datagram) {
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => break,
        }
        match tokio::time::timeout(IDLE, read_frame(&mut rd, &mut buf)).await {
            Ok(Some(())) => {}
            _ => break,
        }
    }
    writer.abort();
}
