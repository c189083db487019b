//! Streams, datagrams, codes and close on both transports.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{BOTH, bounded, pair, server};
use tern_quic::{SessionError, StreamError, Transport};

#[tokio::test]
async fn metadata_of_incoming_sessions() {
    let mut server = server();
    for transport in BOTH {
        let (client, incoming) = pair(&mut server, transport).await;
        assert_eq!(incoming.transport, transport);
        // Both ends speak every draft by default: the newest is chosen.
        assert_eq!(incoming.protocol, "moqt-22");
        assert_eq!(client.protocol(), "moqt-22");
        assert_eq!(client.transport(), transport);
        assert_eq!(incoming.session.protocol(), "moqt-22");
        assert_eq!(incoming.remote, incoming.session.remote_address());
        assert!(incoming.remote.ip().is_loopback());
        match transport {
            Transport::RawQuic => {
                assert!(incoming.url.is_none());
                assert_eq!(incoming.path(), "/");
            }
            Transport::WebTransport => {
                assert_eq!(incoming.path(), "/live/demo");
                assert_eq!(incoming.query(), Some("jwt=abc"));
            }
            other => panic!("not tested here: {other}"),
        }
    }
}

#[tokio::test]
async fn bidi_echo() {
    let mut server = server();
    for transport in BOTH {
        let (client, incoming) = pair(&mut server, transport).await;
        let echo = tokio::spawn(async move {
            let (mut send, mut recv) = incoming.session.accept_bi().await.expect("accept bi");
            while let Some(chunk) = recv.read_chunk(usize::MAX).await.expect("read") {
                send.write_chunk(chunk).await.expect("echo");
            }
            send.finish().expect("finish");
            incoming
        });
        let (mut send, mut recv) = bounded("open bi", client.open_bi()).await.expect("open bi");
        send.set_priority(7).expect("priority");
        let mut chunks = [Bytes::from_static(b"hello "), Bytes::from_static(b"tern")];
        send.write_all_chunks(&mut chunks).await.expect("write");
        send.finish().expect("finish");
        let got = bounded("echo", recv.read_to_end(1024))
            .await
            .expect("read echo");
        assert_eq!(got, b"hello tern", "{transport}");
        bounded("echo task", echo).await.expect("echo task");
    }
}

#[tokio::test]
async fn uni_both_ways() {
    let mut server = server();
    for transport in BOTH {
        let (client, incoming) = pair(&mut server, transport).await;
        let server_session = incoming.session.clone();
        let mut up = bounded("open uni", client.open_uni())
            .await
            .expect("open uni");
        up.write_chunk(Bytes::from_static(b"up"))
            .await
            .expect("write");
        up.finish().expect("finish");
        let mut recv = bounded("accept uni", server_session.accept_uni())
            .await
            .expect("accept");
        assert_eq!(recv.read_to_end(64).await.expect("read"), b"up");

        let mut down = bounded("open uni", server_session.open_uni())
            .await
            .expect("open uni");
        down.write_all(b"down").await.expect("write");
        down.finish().expect("finish");
        let mut recv = bounded("accept uni", client.accept_uni())
            .await
            .expect("accept");
        assert_eq!(
            recv.read_to_end(64).await.expect("read"),
            b"down",
            "{transport}"
        );
    }
}

#[tokio::test]
async fn datagrams_both_ways() {
    let mut server = server();
    for transport in BOTH {
        let (client, incoming) = pair(&mut server, transport).await;
        assert!(client.max_datagram_size() > 1000, "{transport}");
        let server_session = incoming.session.clone();
        let echo = tokio::spawn(async move {
            let d = server_session.read_datagram().await.expect("read datagram");
            server_session.send_datagram(d).expect("send datagram");
        });
        // Datagrams may be lost; resend until the echo arrives.
        let got = bounded("datagram echo", async {
            loop {
                client
                    .send_datagram(Bytes::from_static(b"ping"))
                    .expect("send");
                if let Ok(d) =
                    tokio::time::timeout(Duration::from_millis(200), client.read_datagram()).await
                {
                    break d.expect("read");
                }
            }
        })
        .await;
        assert_eq!(&got[..], b"ping", "{transport}");
        echo.await.expect("echo task");
        let too_big = Bytes::from(vec![0u8; client.max_datagram_size() + 1]);
        assert_eq!(
            client.send_datagram(too_big),
            Err(tern_quic::DatagramError::TooLarge)
        );
    }
}

#[tokio::test]
async fn reset_and_stop_codes_arrive_intact() {
    let mut server = server();
    for transport in BOTH {
        let (client, incoming) = pair(&mut server, transport).await;
        let server_session = incoming.session.clone();
        let (mut send, mut recv) = bounded("open", client.open_bi()).await.expect("open");
        send.write_all(b"x").await.expect("write");
        let (mut s_send, mut s_recv) = bounded("accept", server_session.accept_bi())
            .await
            .expect("accept");
        assert_eq!(
            s_recv.read_chunk(1).await.expect("read").as_deref(),
            Some(&b"x"[..])
        );

        // Client resets its send side: the server reads the same code.
        send.reset(0x1234_5678).expect("reset");
        let err = bounded("reset", s_recv.read_chunk(16))
            .await
            .expect_err("reset");
        assert_eq!(err, StreamError::Reset(0x1234_5678), "{transport}");

        // Client stops its receive side: the server's writer sees the same code.
        recv.stop(0x21).expect("stop");
        assert_eq!(
            bounded("stopped", s_send.stopped()).await,
            Ok(Some(0x21)),
            "{transport}"
        );
        let err = loop {
            match s_send.write_chunk(Bytes::from_static(b"more")).await {
                Ok(()) => tokio::time::sleep(Duration::from_millis(10)).await,
                Err(e) => break e,
            }
        };
        assert_eq!(err, StreamError::Stopped(0x21), "{transport}");
    }
}

#[tokio::test]
async fn close_code_and_reason_arrive() {
    let mut server = server();
    for transport in BOTH {
        // Server closes: the client sees the code and reason.
        let (client, incoming) = pair(&mut server, transport).await;
        incoming.session.close(0x10, "goaway timeout");
        let err = bounded("client closed", client.closed()).await;
        assert_eq!(
            err,
            SessionError::Closed {
                code: 0x10,
                reason: "goaway timeout".into()
            },
            "{transport}"
        );

        // Client closes: the server sees the code and reason.
        let (client, incoming) = pair(&mut server, transport).await;
        client.close(0x3, "protocol violation");
        let err = bounded("server closed", incoming.session.closed()).await;
        assert_eq!(
            err,
            SessionError::Closed {
                code: 0x3,
                reason: "protocol violation".into()
            },
            "{transport}"
        );
        assert_eq!(
            bounded("client closed", client.closed()).await,
            SessionError::LocallyClosed
        );
    }
}
