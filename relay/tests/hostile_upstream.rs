//! An upstream that breaks the protocol is cut off alone: an edge with a hostile upstream (a
//! QUIC server answering with a malformed SETUP) and a good one closes every session to the
//! hostile one with PROTOCOL_VIOLATION, keeps retrying it with backoff, and its viewers of the
//! good upstream's track see no gap and no duplicate meanwhile.

mod support;

#[path = "failover/tree.rs"]
mod tree;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tern_moq::message::codes::SessionError as Code;
use tern_quic::{Server, ServerConfig, SessionError};

use support::{default_settings, start_relay, url};
use tree::{Root, produce, wait_flowing, wait_for, watch};

/// A SETUP (type 0x2F00) whose four payload bytes are no SETUP options.
fn malformed_setup() -> bytes::Bytes {
    let mut buf = Vec::new();
    tern_moq::coding::encode_varint(0x2F00, &mut buf);
    buf.extend_from_slice(&4u16.to_be_bytes());
    buf.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    buf.into()
}

/// A QUIC server that opens its control stream with [`malformed_setup`] on every session and
/// records how each session ended.
fn hostile_upstream() -> (SocketAddr, Arc<Mutex<Vec<SessionError>>>) {
    let mut server = Server::bind(ServerConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..ServerConfig::default()
    })
    .expect("bind");
    let addr = server.local_addr().expect("addr");
    let ends = Arc::new(Mutex::new(Vec::new()));
    let e = ends.clone();
    tokio::spawn(async move {
        while let Some(incoming) = server.accept().await {
            let e = e.clone();
            tokio::spawn(async move {
                let session = incoming.session;
                if let Ok(mut control) = session.open_uni().await {
                    let _ = control.write_chunk(malformed_setup()).await;
                    let end = session.closed().await;
                    e.lock().expect("lock").push(end);
                    drop(control);
                }
            });
        }
    });
    (addr, ends)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_upstream_is_cut_off_alone() {
    tree::logs();
    let root = Root::start().await;
    let (hostile, ends) = hostile_upstream();
    let (router, mut settings) = default_settings();
    settings.upstreams = vec![
        format!("moqt://{hostile}"),
        url(root.node.as_ref().expect("root")),
    ];
    settings.upstream_tls.disable_verify = true;
    let edge = start_relay(router, settings);

    wait_for(
        Duration::from_secs(5),
        "the edge learns the broadcast",
        async || {
            edge.hub
                .read(move |r| r.upstream_for(&tree::name()).is_some())
                .await
        },
    )
    .await;
    let writers = Arc::new(Mutex::new(vec![root.origin.writer.clone()]));
    let (producer, written) = produce(writers);
    let (_viewer, seen) = watch(&url(&edge)).await;
    wait_flowing(std::slice::from_ref(&seen), Duration::from_secs(5)).await;

    // The edge cuts the hostile upstream off at its first message, and again on each retry.
    wait_for(
        Duration::from_secs(10),
        "two sessions to the hostile upstream cut off",
        async || ends.lock().expect("lock").len() >= 2,
    )
    .await;
    for end in ends.lock().expect("lock").iter() {
        match end {
            SessionError::Closed { code, reason } => {
                assert_eq!(*code as u64, Code::PROTOCOL_VIOLATION.0, "{end:?}");
                assert!(!reason.is_empty(), "the close names the reason");
            }
            other => panic!("the hostile upstream's session ended with {other:?}"),
        }
    }
    // The good upstream's viewers saw nothing of it.
    wait_flowing(std::slice::from_ref(&seen), Duration::from_secs(5)).await;
    producer.abort();
    tokio::time::sleep(Duration::from_millis(300)).await;
    tree::assert_contiguous(&written.lock().expect("lock"), std::slice::from_ref(&seen));
}
