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
    // The server stays healthy and serves a well-behaved client next, on the newest draft both
    // speak.
    let (_client, incoming) = pair(&mut server, Transport::WebTransport).await;
    assert_eq!(incoming.protocol, "moqt-22");
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
            other => panic!("not tested here: {other}"),
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

/// A client endpoint bound to `ip` (any port).
fn client_from(server: &tern_quic::Server, ip: &str) -> Client {
    let mut config = client_config(server);
    config.bind = std::net::SocketAddr::new(ip.parse().expect("ip"), 0);
    Client::new(config).expect("client")
}

/// Sessions from each address in `from` to `target` (each must be admitted), then one more
/// from `extra`: the sessions (to hold) and the extra one's error.
async fn fill_then_refuse(
    server: &mut tern_quic::Server,
    target: &str,
    from: &[&str],
    extra: &str,
) -> (
    Vec<(
        Client,
        tern_quic::Session,
        Option<tern_quic::IncomingSession>,
    )>,
    ConnectError,
) {
    let mut held = Vec::new();
    for ip in from {
        let client = client_from(server, ip);
        let (session, incoming) = bounded("connect", async {
            tokio::join!(client.connect(target), server.accept())
        })
        .await;
        held.push((client, session.expect("within the cap"), incoming));
    }
    let extra = client_from(server, extra);
    let err = bounded("one more", extra.connect(target))
        .await
        .expect_err("over the cap");
    (held, err)
}

#[tokio::test]
async fn a_source_opening_sessions_too_fast_is_refused_and_others_are_not() {
    let mut server = server_with(|c| c.new_sessions_per_ip = 3);
    let fast = client_from(&server, "127.0.0.1");
    let target = url(&server, Transport::RawQuic, "/");
    let (mut admitted, mut refused) = (0, 0);
    for _ in 0..12 {
        let attempt = bounded("connect", async {
            tokio::select! {
                r = fast.connect(&target) => r,
                _ = async { loop { let _ = server.accept().await; } } => unreachable!(),
            }
        })
        .await;
        match attempt {
            Ok(session) => {
                admitted += 1;
                session.close(0, "done");
            }
            Err(ConnectError::Refused { .. }) => refused += 1,
            Err(e) => panic!("unexpected: {e:?}"),
        }
    }
    // A burst of 3, then 3 a second: twelve attempts in well under three seconds.
    assert!(admitted >= 3, "admitted {admitted}");
    assert!(refused >= 3, "refused only {refused} of 12");
    let stats = server.admission_stats();
    assert_eq!(stats.refused_rate.load(Ordering::Relaxed), refused);
    // Another source is not held back by the first one's rate.
    let other = client_from(&server, "127.0.0.2");
    let (session, incoming) = bounded("other source", async {
        tokio::join!(other.connect(&target), server.accept())
    })
    .await;
    session.expect("another source is admitted");
    incoming.expect("accepted");
}

#[tokio::test]
async fn past_max_sessions_every_source_is_refused() {
    let mut server = server_with(|c| c.max_sessions = 2);
    let target = url(&server, Transport::RawQuic, "/");
    let (_held, err) = fill_then_refuse(
        &mut server,
        &target,
        &["127.0.0.1", "127.0.0.2"],
        "127.0.0.3",
    )
    .await;
    assert!(matches!(err, ConnectError::Refused { .. }), "{err:?}");
    let stats = server.admission_stats();
    assert_eq!(stats.refused_capacity.load(Ordering::Relaxed), 1);
    assert_eq!(stats.refused_per_ip.load(Ordering::Relaxed), 0);
}

#[test]
fn sources_are_ipv4_addresses_and_ipv6_64s() {
    use std::net::IpAddr;
    let ip = |s: &str| -> IpAddr { s.parse().expect("ip") };
    let source = tern_quic::session_source;
    assert_eq!(source(ip("192.0.2.7")), ip("192.0.2.7"));
    assert_eq!(source(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
    assert_eq!(source(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
    assert_eq!(
        source(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
        source(ip("2001:db8:1:2::9"))
    );
    assert_ne!(source(ip("2001:db8:1:3::1")), source(ip("2001:db8:1:2::1")));
}

/// Set in the copy of this test binary that runs inside its own network namespace.
const IN_NETNS: &str = "TERN_QUIC_TEST_IN_NETNS";

/// Sessions from addresses of one IPv6 /64 share that /64's cap; another /64 has its own. The
/// test runs again in a network namespace of its own (`unshare --net`, needs root), whose
/// loopback carries the addresses it needs.
#[test]
fn sessions_from_one_ipv6_64_share_its_cap() {
    if std::env::var_os(IN_NETNS).is_none() {
        let exe = std::env::current_exe().expect("test binary");
        let out = std::process::Command::new("unshare")
            .arg("--net")
            .arg("--")
            .arg(exe)
            .args([
                "--exact",
                "sessions_from_one_ipv6_64_share_its_cap",
                "--nocapture",
            ])
            .env(IN_NETNS, "1")
            .output()
            .expect("unshare (util-linux)");
        let log = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "in its own network namespace:\n{log}");
        assert!(log.contains("1 passed"), "the test ran there:\n{log}");
        return;
    }
    let ip = |args: &[&str]| {
        let status = std::process::Command::new("ip")
            .args(args)
            .status()
            .expect("ip");
        assert!(status.success(), "ip {args:?}");
    };
    ip(&["link", "set", "lo", "up"]);
    for addr in [
        "fd00:0:0:7::1",
        "fd00:0:0:7::10",
        "fd00:0:0:7::11",
        "fd00:0:0:7::12",
        "fd00:0:0:8::10",
    ] {
        ip(&[
            "-6",
            "addr",
            "add",
            &format!("{addr}/128"),
            "dev",
            "lo",
            "nodad",
        ]);
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut server = tern_quic::Server::bind(tern_quic::ServerConfig {
            bind: "[fd00:0:0:7::1]:0".parse().expect("addr"),
            max_sessions_per_ip: 2,
            ..tern_quic::ServerConfig::default()
        })
        .expect("bind server");
        let port = server.local_addr().expect("addr").port();
        let target = format!("moqt://[fd00:0:0:7::1]:{port}/");
        // A third address of the same /64.
        let (_held, err) = fill_then_refuse(
            &mut server,
            &target,
            &["fd00:0:0:7::10", "fd00:0:0:7::11"],
            "fd00:0:0:7::12",
        )
        .await;
        assert!(matches!(err, ConnectError::Refused { .. }), "{err:?}");
        assert_eq!(
            server
                .admission_stats()
                .refused_per_ip
                .load(Ordering::Relaxed),
            1
        );
        let neighbour = client_from(&server, "fd00:0:0:8::10");
        let (session, incoming) = bounded("another /64", async {
            tokio::join!(neighbour.connect(&target), server.accept())
        })
        .await;
        session.expect("another /64 has its own cap");
        incoming.expect("accepted");
    });
}
