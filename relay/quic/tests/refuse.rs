//! Failures a CLI must explain, and the server's admission rules.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{BOTH, UdpTap, bounded, client_config, pair, server, server_with, url};
use tern_quic::{Client, ConnectError, Fingerprint, Transport};

#[tokio::test]
async fn wrong_pinned_hash_is_a_tls_error() {
    let server = server();
    for transport in BOTH {
        let mut config = client_config(&server);
        config.cert_hashes = vec![Fingerprint([7; 32])];
        let err = bounded(
            "connect",
            tern_quic::connect(&url(&server, transport, "/"), &config),
        )
        .await
        .expect_err("must fail");
        assert!(
            matches!(err, ConnectError::Tls { .. }),
            "{transport}: {err:?}"
        );
    }
}

#[tokio::test]
async fn silent_port_is_unreachable_within_the_timeout() {
    // A bound UDP socket that never answers: the handshake can only time out.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    for url in [
        format!("moqt://127.0.0.1:{port}/"),
        format!("https://127.0.0.1:{port}/"),
    ] {
        let config = tern_quic::ClientConfig {
            disable_verify: true,
            system_roots: false,
            connect_timeout: Duration::from_millis(400),
            ..Default::default()
        };
        let started = Instant::now();
        let err = bounded("connect", tern_quic::connect(&url, &config))
            .await
            .expect_err("must fail");
        let ConnectError::Unreachable { addr, after } = err else {
            panic!("{url}: expected Unreachable, got {err:?}");
        };
        assert_eq!(addr.port(), port);
        assert!(after >= Duration::from_millis(400), "{after:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn unsupported_protocol_is_refused_on_both_transports() {
    let mut server = server();
    for transport in BOTH {
        let mut config = client_config(&server);
        config.protocols = vec!["moqt-99".into()];
        let err = bounded(
            "connect",
            tern_quic::connect(&url(&server, transport, "/"), &config),
        )
        .await
        .expect_err("must be refused");
        assert!(
            matches!(err, ConnectError::ProtocolRefused { .. }),
            "{transport}: {err:?}"
        );
    }
    // The server stays healthy and serves a well-behaved client next.
    let (_client, incoming) = pair(&mut server, Transport::WebTransport).await;
    assert_eq!(incoming.protocol, "moqt-18");
}

#[tokio::test]
async fn bad_urls_are_reported() {
    let config = tern_quic::ClientConfig::default();
    for bad in ["ftp://example.com/", "not a url", "moqt:///live"] {
        let err = tern_quic::connect(bad, &config)
            .await
            .expect_err("must fail");
        assert!(
            matches!(err, ConnectError::InvalidUrl { .. }),
            "{bad}: {err:?}"
        );
    }
}

#[tokio::test]
async fn per_ip_cap_refuses_the_extra_session() {
    let mut server = server_with(|c| c.max_sessions_per_ip = 2);
    let config = client_config(&server);
    let client = Client::new(config).expect("client");
    let mut held = Vec::new();
    for transport in [Transport::RawQuic, Transport::WebTransport] {
        let target = url(&server, transport, "/");
        let (session, incoming) = bounded("connect", async {
            tokio::join!(client.connect(&target), server.accept())
        })
        .await;
        held.push((session.expect("within cap"), incoming.expect("accepted")));
    }
    assert_eq!(server.admitted(), 2);
    let err = bounded(
        "third",
        client.connect(&url(&server, Transport::RawQuic, "/")),
    )
    .await
    .expect_err("over the cap");
    assert!(matches!(err, ConnectError::Refused { .. }), "{err:?}");

    // Ending one session frees its slot.
    let (session, incoming) = held.pop().expect("held");
    session.close(0, "done");
    drop(incoming);
    drop(session);
    bounded("slot freed", async {
        while server.admitted() > 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let target = url(&server, Transport::RawQuic, "/");
    let (again, incoming) = bounded("reconnect", async {
        tokio::join!(client.connect(&target), server.accept())
    })
    .await;
    again.expect("slot reused");
    incoming.expect("accepted");
}

#[tokio::test]
async fn retry_under_load_still_admits_clients() {
    // A threshold of 0 sends every unvalidated client a stateless Retry first. The clients
    // connect through a tap that sees the packets: each connection must get exactly one Retry
    // from the server and come back with an Initial carrying its token, and still be admitted.
    let mut server = server_with(|c| c.retry_threshold = 0);
    let tap = UdpTap::start(server.local_addr().expect("server addr")).await;
    let config = client_config(&server);
    let seen = |c: &std::sync::atomic::AtomicUsize| c.load(Ordering::SeqCst);
    for (n, transport) in BOTH.into_iter().enumerate() {
        let with_token = seen(&tap.seen.initials_with_token);
        let target = match transport {
            Transport::RawQuic => format!("moqt://127.0.0.1:{}/", tap.addr.port()),
            Transport::WebTransport => format!("https://localhost:{}/live", tap.addr.port()),
        };
        let (client, incoming) = bounded("connect through the tap", async {
            tokio::join!(tern_quic::connect(&target, &config), server.accept())
        })
        .await;
        let client = client.expect("client connects after the Retry");
        let incoming = incoming.expect("server accepts after the Retry");
        assert_eq!(client.protocol(), incoming.protocol);
        assert_eq!(
            seen(&tap.seen.retries),
            n + 1,
            "{transport}: one Retry per connection attempt"
        );
        // Every Initial after the Retry carries its token.
        assert!(
            seen(&tap.seen.initials_with_token) > with_token,
            "{transport}: the client answered the Retry with its token"
        );
        assert!(seen(&tap.seen.initials_without_token) > n, "{transport}");
    }

    // Above the threshold nobody is retried: the same tap sees no Retry.
    let mut calm = server_with(|c| c.retry_threshold = 64);
    let tap = UdpTap::start(calm.local_addr().expect("server addr")).await;
    let config = client_config(&calm);
    let target = format!("moqt://127.0.0.1:{}/", tap.addr.port());
    let (client, incoming) = bounded("connect through the tap", async {
        tokio::join!(tern_quic::connect(&target, &config), calm.accept())
    })
    .await;
    client.expect("client connects");
    incoming.expect("server accepts");
    assert_eq!(
        tap.seen.retries.load(Ordering::SeqCst),
        0,
        "no load, no Retry"
    );
    assert_eq!(tap.seen.initials_with_token.load(Ordering::SeqCst), 0);
}
