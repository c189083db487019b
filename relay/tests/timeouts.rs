//! The node's one `Timeouts` is what its sessions wait by: a relay told to wait 300 ms for a
//! peer's SETUP closes a silent peer's session after about that long (the default is 10 s), and
//! says why.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tern_quic::{Client, ClientConfig, SessionError};

use support::{default_settings, start_relay, url};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_silent_past_the_configured_setup_wait_is_closed_with_the_reason() {
    let (router, mut settings) = default_settings();
    settings.timeouts.setup = Duration::from_millis(300);
    let relay = start_relay(router, settings);
    let client = Client::new(ClientConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        disable_verify: true,
        system_roots: false,
        ..ClientConfig::default()
    })
    .expect("client endpoint");
    let session = client.connect(&url(&relay)).await.expect("connected");
    let start = Instant::now();
    // No SETUP: the relay gives up on the peer after its configured wait, not the default 10 s.
    let end = tokio::time::timeout(Duration::from_secs(5), session.closed())
        .await
        .expect("closed well before the default wait");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "closed after {waited:?}"
    );
    match end {
        SessionError::Closed { reason, .. } => {
            assert!(reason.contains("no SETUP within 300ms"), "{reason}")
        }
        other => panic!("expected a close with a reason, got {other:?}"),
    }
}
