//! Helpers shared by the integration tests: a server on 127.0.0.1:0 and a client pinned to it.

#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

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
