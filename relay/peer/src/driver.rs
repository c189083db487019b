//! The session's background tasks: accept the server's streams and datagrams, read its
//! control stream (SETUP, GOAWAY), and hand data streams and requests to their handlers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tern_moq::message::codes::SessionError as Code;
use tern_moq::{ControlReader, DataStreamEvent, DataStreamReader, Message};
use tern_quic::RecvStream;

use super::session::{Shared, lock};

/// Accept everything the server opens until the session ends.
pub(crate) async fn drive(shared: Arc<Shared>) {
    loop {
        tokio::select! {
            uni = shared.quic.accept_uni() => match uni {
                Ok(recv) => { tokio::spawn(uni_stream(shared.clone(), recv)); }
                Err(_) => break,
            },
            bi = shared.quic.accept_bi() => match bi {
                Ok((send, recv)) => { tokio::spawn(super::publisher::request(shared.clone(), send, recv)); }
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
async fn uni_stream(shared: Arc<Shared>, mut recv: RecvStream) {
    let mut reader = DataStreamReader::new(shared.limits);
    loop {
        match reader.poll() {
            Ok(Some(DataStreamEvent::Control)) => {
                match reader.into_control_reader() {
                    Ok(control) => control_stream(&shared, control, recv).await,
                    Err(e) => shared.violation(e.wire_code(), &e.to_string()),
                }
                return;
            }
            Ok(Some(first)) => {
                super::subscriber::data_stream(&shared, reader, first, recv).await;
                return;
            }
            Ok(None) => {}
            Err(e) => {
                shared.violation(e.wire_code(), &format!("uni stream: {e}"));
                return;
            }
        }
        match recv.read_chunk(64 * 1024).await {
            Ok(Some(chunk)) => {
                if let Err(e) = reader.push(chunk) {
                    shared.violation(e.wire_code(), &format!("uni stream: {e}"));
                    return;
                }
            }
            Ok(None) | Err(_) => return,
        }
    }
}

/// The server's control stream: SETUP, then at most one GOAWAY; it must stay open.
async fn control_stream(shared: &Shared, mut control: ControlReader, mut recv: RecvStream) {
    let Some(setup_tx) = lock(&shared.setup_tx).take() else {
        shared.violation(Code::PROTOCOL_VIOLATION, "second control stream");
        return;
    };
    let mut setup_tx = Some(setup_tx);
    loop {
        loop {
            match control.pop() {
                Ok(Some(Message::Setup(setup))) if setup_tx.is_some() => {
                    if let Some(tx) = setup_tx.take() {
                        let _ = tx.send(setup);
                    }
                }
                Ok(Some(Message::GoAway(g)))
                    if setup_tx.is_none() && !shared.going_away.load(Ordering::Relaxed) =>
                {
                    shared.going_away.store(true, Ordering::Relaxed);
                    tracing::info!(
                        uri = %String::from_utf8_lossy(&g.new_session_uri),
                        timeout_ms = g.timeout,
                        "server sent GOAWAY"
                    );
                }
                Ok(Some(other)) => {
                    let why = format!("unexpected {} on the control stream", other.name());
                    shared.violation(Code::PROTOCOL_VIOLATION, &why);
                    return;
                }
                Ok(None) => break,
                Err(e) => {
                    shared.violation(e.wire_code(), &format!("control stream: {e}"));
                    return;
                }
            }
        }
        match recv.read_chunk(16 * 1024).await {
            Ok(Some(chunk)) => {
                if let Err(e) = control.push(&chunk) {
                    shared.violation(e.wire_code(), &format!("control stream: {e}"));
                    return;
                }
            }
            Ok(None) => {
                shared.violation(Code::PROTOCOL_VIOLATION, "control stream closed");
                return;
            }
            Err(_) => return,
        }
    }
}
