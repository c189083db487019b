use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

use crate::{DatagramError, MemLimits, Session, SessionError, StreamError, Transport};

/// Every test is bounded.
async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), test)
        .await
        .expect("test timed out")
}

/// Whether `fut` is still pending after a moment.
async fn pending<T>(fut: impl Future<Output = T>) -> bool {
    tokio::time::timeout(Duration::from_millis(50), fut)
        .await
        .is_err()
}

fn limits(tweak: impl FnOnce(&mut MemLimits)) -> MemLimits {
    let mut limits = MemLimits::default();
    tweak(&mut limits);
    limits
}

#[tokio::test]
async fn bi_round_trip_in_order() {
    bounded(async {
        let (client, server) = Session::pair("moqt-18");
        let mut opened = Vec::new();
        for i in 0..3u8 {
            let (mut send, recv) = client.open_bi().await.unwrap();
            send.write_all(&[i]).await.unwrap();
            send.finish().unwrap();
            opened.push((send, recv));
        }
        for i in 0..3u8 {
            let (mut send, mut recv) = server.accept_bi().await.unwrap();
            assert_eq!(recv.read_to_end(16).await.unwrap(), [i]);
            send.write_all(&[i + 10]).await.unwrap();
        }
        for (i, (send, mut recv)) in opened.into_iter().enumerate() {
            assert_eq!(send.id(), i as u64 * 4, "client bidi ids");
            let mut buf = [0; 4];
            assert_eq!(recv.read(&mut buf).await.unwrap(), Some(1));
            assert_eq!(buf[0], i as u8 + 10);
        }
    })
    .await;
}

#[tokio::test]
async fn uni_round_trip_in_order() {
    bounded(async {
        let (client, server) = Session::pair("moqt-18");
        for i in 0..3u8 {
            let mut send = server.open_uni().await.unwrap();
            assert_eq!(send.id(), i as u64 * 4 + 3, "server uni ids");
            send.write_chunk(Bytes::from(vec![i; 3])).await.unwrap();
        }
        for i in 0..3u8 {
            let mut recv = client.accept_uni().await.unwrap();
            assert_eq!(recv.read_to_end(16).await.unwrap(), [i; 3]);
        }
    })
    .await;
}

#[tokio::test]
async fn stream_is_acceptable_once_used() {
    bounded(async {
        let (client, server) = Session::pair("moqt-18");
        let (mut first, _r1) = client.open_bi().await.unwrap();
        assert!(pending(server.accept_bi()).await, "nothing sent yet");
        let (mut second, _r2) = client.open_bi().await.unwrap();
        second.write_all(b"2").await.unwrap();
        // Like QUIC, a later stream implicitly opens the earlier ones.
        let (_, mut a) = server.accept_bi().await.unwrap();
        let (_, mut b) = server.accept_bi().await.unwrap();
        first.write_all(b"1").await.unwrap();
        assert_eq!(a.read_chunk(8).await.unwrap().unwrap(), "1");
        assert_eq!(b.read_chunk(8).await.unwrap().unwrap(), "2");
    })
    .await;
}

#[tokio::test]
async fn open_waits_beyond_max_streams() {
    bounded(async {
        let (client, server) = Session::pair_with("moqt-18", limits(|l| l.max_streams = 1));
        let mut first = client.open_uni().await.unwrap();
        first.write_all(b"x").await.unwrap();
        assert!(pending(client.open_uni()).await);
        let _accepted = server.accept_uni().await.unwrap();
        let _second = client.open_uni().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn fin_and_chunk_split() {
    bounded(async {
        let (client, server) = Session::pair("moqt-18");
        let mut send = client.open_uni().await.unwrap();
        send.write_all(b"0123456789").await.unwrap();
        send.finish().unwrap();
        assert_eq!(send.finish(), Err(StreamError::Closed));
        assert_eq!(send.write_all(b"x").await, Err(StreamError::Closed));
        let mut recv = server.accept_uni().await.unwrap();
        assert_eq!(recv.read_chunk(4).await.unwrap().unwrap(), "0123");
        assert_eq!(recv.read_chunk(4).await.unwrap().unwrap(), "4567");
        assert_eq!(recv.read_chunk(4).await.unwrap().unwrap(), "89");
        assert_eq!(recv.read_chunk(4).await.unwrap(), None);
        assert_eq!(recv.read_chunk(4).await.unwrap(), None);

        // Dropping the send half finishes it after its data.
        let mut send = client.open_uni().await.unwrap();
        send.write_all_chunks(&mut [Bytes::from_static(b"ab"), Bytes::from_static(b"c")])
            .await
            .unwrap();
        drop(send);
        let mut recv = server.accept_uni().await.unwrap();
        assert_eq!(recv.read_to_end(16).await.unwrap(), b"abc");

        let mut send = client.open_uni().await.unwrap();
        send.write_all(b"too long").await.unwrap();
        drop(send);
        let mut recv = server.accept_uni().await.unwrap();
        assert_eq!(recv.read_to_end(4).await, Err(StreamError::TooLong));
    })
    .await;
}

#[tokio::test]
async fn writer_waits_for_the_reader() {
    bounded(async {
        let (client, server) = Session::pair_with("moqt-18", limits(|l| l.stream_window = 16));
        let mut send = client.open_uni().await.unwrap();
        let writer = tokio::spawn(async move {
            send.write_chunk(Bytes::from(vec![7; 40])).await.unwrap();
            send
        });
        let mut recv = server.accept_uni().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !writer.is_finished(),
            "the writer must wait past the window"
        );

        let mut read = recv.read_chunk(usize::MAX).await.unwrap().unwrap().len();
        assert_eq!(read, 16, "no more than the window is queued");
        while read < 40 {
            read += recv.read_chunk(usize::MAX).await.unwrap().unwrap().len();
        }
        let send = writer.await.unwrap();
        drop(send);
        assert_eq!(recv.read_chunk(8).await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn reset_reaches_the_reader() {
    bounded(async {
        let (client, server) = Session::pair("moqt-18");
        let (mut send, _recv) = client.open_bi().await.unwrap();
        send.write_all(b"discarded").await.unwrap();
        let (_, mut recv) = server.accept_bi().await.unwrap();
        send.reset(42).unwrap();
        assert_eq!(send.reset(43), Err(StreamError::Closed));
        assert_eq!(recv.read_chunk(64).await, Err(StreamError::Reset(42)));
        assert_eq!(recv.read_chunk(64).await, Err(StreamError::Reset(42)));
    })
    .await;
}

#[tokio::test]
async fn stop_reaches_the_writer() {
    bounded(async {
        let (client, server) = Session::pair("moqt-18");
        let mut send = client.open_uni().await.unwrap();
        send.write_all(b"x").await.unwrap();
        let mut recv = server.accept_uni().await.unwrap();
        assert!(pending(send.stopped()).await);
        recv.stop(9).unwrap();
        assert_eq!(send.stopped().await, Ok(Some(9)));
        assert_eq!(send.write_all(b"y").await, Err(StreamError::Stopped(9)));
        assert_eq!(recv.read_chunk(8).await, Err(StreamError::Closed));

        // Dropping the receive half early stops with code 0.
        let mut send = client.open_uni().await.unwrap();
        send.write_all(b"x").await.unwrap();
        drop(server.accept_uni().await.unwrap());
        assert_eq!(send.stopped().await, Ok(Some(0)));
        assert_eq!(send.write_all(b"y").await, Err(StreamError::Stopped(0)));
    })
    .await;
}

#[tokio::test]
async fn stopped_is_none_once_read_to_the_end() {
    bounded(async {
        let (client, server) = Session::pair("moqt-18");
        let mut send = client.open_uni().await.unwrap();
        send.write_all(b"all").await.unwrap();
        send.finish().unwrap();
        let mut recv = server.accept_uni().await.unwrap();
        assert!(pending(send.stopped()).await, "not read yet");
        assert_eq!(recv.read_to_end(8).await.unwrap(), b"all");
        assert_eq!(send.stopped().await, Ok(None));
        drop(recv);
        assert_eq!(send.stopped().await, Ok(None));
        assert_eq!(send.reset(1), Err(StreamError::Closed));
    })
    .await;
}

#[tokio::test]
async fn close_reaches_both_sides_and_pending_calls() {
    bounded(async {
        let (client, server) = Session::pair("moqt-18");
        let (mut send, mut client_recv) = client.open_bi().await.unwrap();
        send.write_all(b"x").await.unwrap();
        let (_server_send, mut server_recv) = server.accept_bi().await.unwrap();

        let accept = tokio::spawn({
            let server = server.clone();
            async move { server.accept_bi().await.map(|_| ()) }
        });
        let read = tokio::spawn(async move { server_recv.read_to_end(64).await.map(|_| ()) });
        let datagram = tokio::spawn({
            let server = server.clone();
            async move { server.read_datagram().await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(server.close_reason(), None);

        client.close(0x10, "bye");
        let by_peer = SessionError::Closed {
            code: 0x10,
            reason: "bye".into(),
        };
        assert_eq!(client.close_reason(), Some(SessionError::LocallyClosed));
        assert_eq!(server.close_reason(), Some(by_peer.clone()));
        assert_eq!(client.closed().await, SessionError::LocallyClosed);
        assert_eq!(server.closed().await, by_peer);
        assert_eq!(accept.await.unwrap(), Err(by_peer.clone()));
        assert_eq!(
            read.await.unwrap(),
            Err(StreamError::Session(by_peer.clone()))
        );
        assert_eq!(datagram.await.unwrap(), Err(by_peer.clone()));

        // Later calls fail too, and a second close changes nothing.
        server.close(1, "late");
        assert_eq!(server.close_reason(), Some(by_peer.clone()));
        assert_eq!(server.open_uni().await.unwrap_err(), by_peer);
        assert_eq!(
            server.send_datagram(Bytes::new()),
            Err(DatagramError::Session(by_peer))
        );
        assert_eq!(
            client.accept_uni().await.unwrap_err(),
            SessionError::LocallyClosed
        );
        assert_eq!(
            send.write_all(b"y").await,
            Err(StreamError::Session(SessionError::LocallyClosed))
        );
        assert_eq!(
            client_recv.read_chunk(8).await,
            Err(StreamError::Session(SessionError::LocallyClosed))
        );
        assert_eq!(send.stopped().await, Err(SessionError::LocallyClosed));
    })
    .await;
}

#[tokio::test]
async fn dropping_the_last_handle_closes_with_code_zero() {
    bounded(async {
        let (client, server) = Session::pair("moqt-18");
        let clone = client.clone();
        drop(client);
        assert_eq!(server.close_reason(), None, "a clone remains");

        // As with quinn, a stream keeps its connection open.
        let stream = clone.open_uni().await.unwrap();
        drop(clone);
        assert!(pending(server.closed()).await);
        drop(stream);
        let by_peer = SessionError::Closed {
            code: 0,
            reason: String::new(),
        };
        assert_eq!(server.closed().await, by_peer);
        assert_eq!(server.close_reason(), Some(by_peer));
    })
    .await;
}

#[tokio::test]
async fn datagrams_drop_the_oldest() {
    bounded(async {
        let (client, server) = Session::pair_with("moqt-18", limits(|l| l.datagrams = 2));
        assert_eq!(client.max_datagram_size(), 1200);
        for payload in ["1", "2", "3"] {
            client.send_datagram(Bytes::from(payload)).unwrap();
        }
        assert_eq!(server.read_datagram().await.unwrap(), "2");
        assert_eq!(server.read_datagram().await.unwrap(), "3");
        assert!(pending(server.read_datagram()).await);
        server.send_datagram(Bytes::from("back")).unwrap();
        assert_eq!(client.read_datagram().await.unwrap(), "back");
    })
    .await;
}

#[tokio::test]
async fn too_large_datagram() {
    bounded(async {
        let (client, _server) = Session::pair_with("moqt-18", limits(|l| l.max_datagram_size = 8));
        assert_eq!(client.max_datagram_size(), 8);
        client.send_datagram(Bytes::from(vec![0; 8])).unwrap();
        assert_eq!(
            client.send_datagram(Bytes::from(vec![0; 9])),
            Err(DatagramError::TooLarge)
        );
        let (client, _server) = Session::pair_with("moqt-18", limits(|l| l.max_datagram_size = 0));
        assert_eq!(
            client.send_datagram(Bytes::new()),
            Err(DatagramError::Unsupported)
        );
    })
    .await;
}

#[tokio::test]
async fn addresses_and_identity() {
    let (client, server) =
        Session::pair_with("moqt-18", limits(|l| l.client_name = Some("edge-1".into())));
    assert_eq!(client.transport(), Transport::Memory);
    assert_eq!(client.transport().to_string(), "memory");
    assert_eq!(server.protocol(), "moqt-18");
    assert!(client.peer_is_local() && server.peer_is_local());
    assert_ne!(client.remote_address(), server.remote_address());
    assert_ne!(client.stable_id(), server.stable_id());
    assert_eq!(server.peer_name().as_deref(), Some("edge-1"));
    assert_eq!(client.peer_name(), None);
    assert_eq!(client.rtt(), Duration::ZERO);
}

#[test]
fn futures_can_be_spawned() {
    fn send<T: Send>(_: T) {}
    let (client, server) = Session::pair("moqt-18");
    send(client.open_bi());
    send(client.open_uni());
    send(server.accept_bi());
    send(server.accept_uni());
    send(server.read_datagram());
    send(server.closed());
}
