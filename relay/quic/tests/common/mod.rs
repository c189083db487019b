//! Helpers shared by the integration tests: a server on 127.0.0.1:0 and a client pinned to it.

#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;

use tern_quic::{ClientConfig, IncomingSession, Server, ServerConfig, Session, Transport};

/// Every test step gets this long at most.
pub const STEP: Duration = Duration::from_secs(10);

/// Run `fut`, failing the test if it takes longer than [`STEP`].
pub async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no result within {STEP:?}"),
    }
}

/// A self-signed server on an ephemeral loopback port, tweaked by `f`.
pub fn server_with(f: impl FnOnce(&mut ServerConfig)) -> Server {
    let mut config = ServerConfig {
        bind: "127.0.0.1:0".parse().expect("addr"),
        ..ServerConfig::default()
    };
    f(&mut config);
    Server::bind(config).expect("bind server")
}

pub fn server() -> Server {
    server_with(|_| {})
}

/// A client config that trusts exactly `server`'s certificate.
pub fn client_config(server: &Server) -> ClientConfig {
    ClientConfig {
        cert_hashes: vec![server.fingerprint()],
        system_roots: false,
        connect_timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    }
}

/// The URL of `server` for `transport`, with `path_query` (starting with `/`).
pub fn url(server: &Server, transport: Transport, path_query: &str) -> String {
    let port = server.local_addr().expect("local addr").port();
    match transport {
        Transport::RawQuic => format!("moqt://127.0.0.1:{port}{path_query}"),
        Transport::WebTransport => format!("https://localhost:{port}{path_query}"),
        other => panic!("no URL for {other}"),
    }
}

/// Connect a client to `server` over `transport` and accept the session on the server side.
pub async fn pair(server: &mut Server, transport: Transport) -> (Session, IncomingSession) {
    let config = client_config(server);
    let url = url(server, transport, "/live/demo?jwt=abc");
    let (client, incoming) = bounded("connect", async {
        tokio::join!(tern_quic::connect(&url, &config), server.accept())
    })
    .await;
    let client = client.expect("client connects");
    let incoming = incoming.expect("server accepts");
    (client, incoming)
}

pub const BOTH: [Transport; 2] = [Transport::RawQuic, Transport::WebTransport];

/// QUIC v1 in the version field of a long header.
const QUIC_V1: [u8; 4] = [0, 0, 0, 1];

/// The long-header packet type of a QUIC v1 datagram (`0b00` Initial .. `0b11` Retry), or
/// `None` for a short header or another version. The type bits (4-5 of the first byte) are
/// not covered by header protection.
pub fn long_header_type(datagram: &[u8]) -> Option<u8> {
    let first = *datagram.first()?;
    if first & 0x80 == 0 || datagram.get(1..5)? != QUIC_V1 {
        return None;
    }
    Some((first >> 4) & 0b11)
}

/// The token length of a QUIC v1 Initial packet (0 for the first Initial of a connection, the
/// Retry token's length after a Retry), or `None` when `datagram` does not start with one.
pub fn initial_token_len(datagram: &[u8]) -> Option<u64> {
    if long_header_type(datagram)? != 0b00 {
        return None;
    }
    let mut at = 5;
    for _ in 0..2 {
        // Destination, then Source Connection ID: a length byte, then the ID.
        at += 1 + *datagram.get(at)? as usize;
    }
    let first = *datagram.get(at)?;
    let len = 1usize << (first >> 6);
    let mut value = u64::from(first & 0x3f);
    for i in 1..len {
        value = value << 8 | u64::from(*datagram.get(at + i)?);
    }
    Some(value)
}

/// What a [`UdpTap`] saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Retry packets the server sent.
    pub retries: AtomicUsize,
    /// Initial packets from clients carrying a token (the answer to a Retry).
    pub initials_with_token: AtomicUsize,
    /// Initial packets from clients without a token.
    pub initials_without_token: AtomicUsize,
}

/// A UDP forwarder in front of a server that looks at the QUIC packets going through it. Each
/// client address gets its own upstream socket, so the server sees one peer per client.
pub struct UdpTap {
    /// Where clients should connect.
    pub addr: SocketAddr,
    /// Counters of what went through.
    pub seen: Arc<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl UdpTap {
    /// Start forwarding between clients and `server`.
    pub async fn start(server: SocketAddr) -> UdpTap {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind tap"));
        let addr = front.local_addr().expect("tap addr");
        let seen = Arc::new(Seen::default());
        let task = tokio::spawn(Self::run(front, server, seen.clone()));
        UdpTap { addr, seen, task }
    }

    async fn run(front: Arc<UdpSocket>, server: SocketAddr, seen: Arc<Seen>) {
        let mut upstream: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
        // Aborted with this task (dropping the set aborts the readers).
        let mut readers = tokio::task::JoinSet::new();
        let mut buf = vec![0u8; 65536];
        while let Ok((n, client)) = front.recv_from(&mut buf).await {
            let datagram = &buf[..n];
            match initial_token_len(datagram) {
                Some(0) => seen.initials_without_token.fetch_add(1, Ordering::SeqCst),
                Some(_) => seen.initials_with_token.fetch_add(1, Ordering::SeqCst),
                None => 0,
            };
            let up = match upstream.get(&client) {
                Some(up) => up.clone(),
                None => {
                    let up = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
                    up.connect(server).await.expect("connect upstream");
                    upstream.insert(client, up.clone());
                    let (front, up2, seen) = (front.clone(), up.clone(), seen.clone());
                    readers.spawn(async move {
                        let mut buf = vec![0u8; 65536];
                        while let Ok(n) = up2.recv(&mut buf).await {
                            if long_header_type(&buf[..n]) == Some(0b11) {
                                seen.retries.fetch_add(1, Ordering::SeqCst);
                            }
                            let _ = front.send_to(&buf[..n], client).await;
                        }
                    });
                    up
                }
            };
            let _ = up.send(datagram).await;
        }
    }
}

impl Drop for UdpTap {
    fn drop(&mut self) {
        self.task.abort();
    }
}
