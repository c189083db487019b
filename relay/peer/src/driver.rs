//! The session's background tasks: accept the server's streams and datagrams, read its
//! control stream (SETUP, GOAWAY), and hand data streams and requests to their handlers.
//! Every stream is read through the protocol session ([`super::inbound`]), which checks the
//! server's bytes and names them.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tern_moq::message::codes::SessionError as Code;
use tern_moq::session::Event;

use super::shared::{Inbound, Shared, lock};

/// Accept everything the server opens until the session ends.
pub(crate) async fn drive(shared: Arc<Shared>) {
    loop {
        tokio::select! {
            uni = shared.quic.accept_uni() => match uni {
                Ok(recv) => {
                    let inbound = Inbound::uni(&shared, recv);
                    tokio::spawn(uni_stream(shared.clone(), inbound));
                }
                Err(_) => break,
            },
            bi = shared.quic.accept_bi() => match bi {
                Ok((send, recv)) => {
                    let inbound = Inbound::bi(&shared, recv);
                    tokio::spawn(super::publisher::request(shared.clone(), send, inbound));
                }
                Err(_) => break,
            },
            dg = shared.quic.read_datagram() => match dg {
                Ok(dg) => super::subscriber::datagram(&shared, dg),
                Err(_) => break,
            },
        }
    }
    // Wake every subscription: their request streams fail with the session's error.
    lock(&shared.subscriptions).clear();
}

/// A unidirectional stream: the server's control stream or a data stream.
async fn uni_stream(shared: Arc<Shared>, mut inbound: Inbound) {
    match inbound.next(&shared).await {
        Some(Event::Setup(setup)) => control_stream(&shared, setup, inbound).await,
        Some(Event::Subgroup { header, .. }) => {
            super::subscriber::data_stream(&shared, inbound, header).await;
        }
        Some(Event::Fetch { header, .. }) => super::fetch::data_stream(&shared, inbound, header),
        // A stream that ended before its header, or the session broke (and is closed).
        _ => {}
    }
}

/// The server's control stream: SETUP (read), then at most one GOAWAY; the protocol session
/// closes the session on anything else, and on the stream's end.
async fn control_stream(shared: &Shared, setup: tern_moq::message::Setup, mut inbound: Inbound) {
    let Some(setup_tx) = lock(&shared.setup_tx).take() else {
        return;
    };
    let _ = setup_tx.send(setup);
    while let Some(event) = inbound.next(shared).await {
        if let Event::GoAway(g) = event
            && !shared.going_away.swap(true, Ordering::Relaxed)
        {
            tracing::info!(
                uri = %String::from_utf8_lossy(&g.new_session_uri),
                timeout_ms = g.timeout,
                "server sent GOAWAY"
            );
        }
    }
    if shared.quic.close_reason().is_none() {
        shared.violation(Code::PROTOCOL_VIOLATION, "control stream closed");
    }
}
