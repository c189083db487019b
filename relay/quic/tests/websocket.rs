//! MoQ sessions over QMux on a WebSocket (`tern_quic::websocket`), both ends in this process
//! over an in-memory byte pipe: streams both ways in order, reset and stop codes and the close
//! code and reason reach the peer unchanged, as on QUIC.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tern_quic::websocket::{accept, connect_io};
use tern_quic::{Session, SessionError, StreamError, Transport};

/// Every test is bounded.
async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), test)
        .await
        .expect("test timed out")
}

/// Two ends of a WebSocket that negotiated `qmux-01.moqt-18`: client, server.
async fn pair() -> (Session, Session) {
    let (a, b) = tokio::io::duplex(1 << 16);
    let addr: SocketAddr = "127.0.0.1:9".parse().expect("address");
    let (client, server) = tokio::join!(
        connect_io(a, "qmux-01.moqt-18", addr),
        accept(b, "qmux-01.moqt-18", addr, None)
    );
    (client, server)
}

#[tokio::test]
async fn streams_both_ways_in_order() {
    bounded(async {
        let (client, server) = pair().await;
        assert_eq!(client.transport(), Transport::WebSocket);
        assert_eq!(server.protocol(), "moqt-18");
        let (mut send, mut recv) = client.open_bi().await.expect("bi");
        send.write_all(b"SUBSCRIBE").await.expect("write");
        let (mut back, mut got) = server.accept_bi().await.expect("accept");
        let mut buf = [0u8; 9];
        let mut n = 0;
        while n < buf.len() {
            n += got.read(&mut buf[n..]).await.expect("read").expect("data");
        }
        assert_eq!(&buf, b"SUBSCRIBE");
        back.write_all(b"OK").await.expect("write");
        back.finish().expect("finish");
        assert_eq!(recv.read_to_end(100).await.expect("read"), b"OK");

        // A unidirectional stream of many chunks, in order.
        let mut uni = server.open_uni().await.expect("uni");
        let mut chunks: Vec<bytes::Bytes> = (0..100u8)
            .map(|i| bytes::Bytes::from(vec![i; 1000]))
            .collect();
        uni.write_all_chunks(&mut chunks).await.expect("chunks");
        uni.finish().expect("finish");
        let mut incoming = client.accept_uni().await.expect("accept uni");
        let all = incoming.read_to_end(1 << 20).await.expect("read");
        assert_eq!(all.len(), 100_000);
        assert!(
            all.chunks(1000)
                .enumerate()
                .all(|(i, c)| c.iter().all(|b| *b == i as u8))
        );
    })
    .await;
}

#[tokio::test]
async fn reset_stop_and_close_codes_reach_the_peer() {
    bounded(async {
        let (client, server) = pair().await;
        let mut send = client.open_uni().await.expect("uni");
        send.write_all(b"x").await.expect("write");
        let mut recv = server.accept_uni().await.expect("accept");
        let mut one = [0u8; 1];
        assert_eq!(recv.read(&mut one).await.expect("read"), Some(1));
        send.reset(0x11).expect("reset");
        assert_eq!(recv.read_chunk(10).await, Err(StreamError::Reset(0x11)));

        let (mut send, _recv) = client.open_bi().await.expect("bi");
        send.write_all(b"y").await.expect("write");
        let (_back, mut got) = server.accept_bi().await.expect("accept");
        got.stop(0x22).expect("stop");
        assert_eq!(send.stopped().await, Ok(Some(0x22)));

        server.close(0x3, "too many subscriptions");
        match client.closed().await {
            SessionError::Closed { code, reason } => {
                assert_eq!((code, reason.as_str()), (0x3, "too many subscriptions"))
            }
            other => panic!("closed: {other:?}"),
        }
        assert_eq!(server.close_reason(), Some(SessionError::LocallyClosed));
    })
    .await;
}
