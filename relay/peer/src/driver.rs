//! One driver for every MoQ session, the relay's and the client's alike, over any transport a
//! [`tern_quic::Session`] carries (raw QUIC, WebTransport, an in-memory pair).
//!
//! [`drive`] is the session's one task that waits on the transport: it sends our SETUP (a
//! client at once, a server in answer to the client's), accepts the peer's streams and
//! datagrams and feeds them through the sans-IO protocol session ([`crate::inbound`]), bounds
//! the SETUP exchange and a leaving peer's grace by the session's [`Timeouts`], and after the
//! transport closed lets what already arrived land. What a stream means to the role (a
//! request to answer, a data stream of a subscription, a datagram) is the [`Peer`]'s: the
//! driver hands each to it and runs the task it returns. Request tasks hold small handles
//! ([`crate::request::RequestStream`]) that write through the same protocol session.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use tern_moq::data::ObjectDatagram;
use tern_moq::message::codes::SessionError as Code;
use tern_moq::message::{GoAway, Setup};
use tern_moq::session::{Event, Role, SessionError};

use crate::Timeouts;
use crate::inbound::{Feed, Inbound};
use crate::mux::Mux;
use crate::request::{Out, Reply, WriteError, drain, lock, write_transmits};

/// A request of the peer's that arrived on the control stream (drafts 14 and 16), for the
/// driver to run.
type NewRequest<H> = (Reply, Inbound<H>);

/// Why a session's driver ended, with the blame.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriveError {
    /// The transport session ended.
    #[error(transparent)]
    Transport(#[from] tern_quic::SessionError),
    /// Our SETUP could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The protocol session refused what we were about to send (a fault of ours).
    #[error(transparent)]
    Protocol(#[from] SessionError),
    /// The peer gave no credit to open our control stream for this long.
    #[error("the peer gave no credit to open the control stream for {0:?}")]
    Stalled(Duration),
    /// The peer broke the session's rules (no SETUP in time, a control stream finished while
    /// the session stays up); the session is closed with a PROTOCOL_VIOLATION.
    #[error("{0}")]
    Peer(String),
}

/// A session as its driver sees it: the transport, the protocol session (its [`Feed`]), the
/// control-stream state, and what the role does with each thing the peer sends.
pub trait Peer: Feed + Send + Sync + Sized + 'static {
    /// Why the role ends a session (it takes the driver's own reasons).
    type Error: From<DriveError> + Send;

    /// The transport session.
    fn transport(&self) -> &tern_quic::Session;

    /// Every wait on the peer.
    fn timeouts(&self) -> &Timeouts;

    /// Our SETUP: a client's, sent first (`peer` is `None`), or a server's in answer to the
    /// client's `peer` SETUP. An error ends the session (the role closes it first, with its
    /// reason).
    fn setup(
        self: &Arc<Self>,
        peer: Option<Arc<Setup>>,
    ) -> impl Future<Output = Result<Setup, Self::Error>> + Send;

    /// The peer's SETUP came (checked by the protocol session), before anything else of the
    /// peer's is read further.
    fn on_peer_setup(&self, setup: &Setup) {
        let _ = setup;
    }

    /// The peer's GOAWAY came (only the first one is handed on).
    fn on_goaway(&self, goaway: &GoAway) {
        let _ = goaway;
    }

    /// The peer finished its control stream: it is leaving, and has the session's
    /// `timeouts.leave_grace` to close the session itself.
    fn on_leaving(&self) {}

    /// A request the peer sent: the reader of its messages and where its answers go; the task
    /// that serves it (or refuses it).
    fn on_request(
        self: &Arc<Self>,
        reply: Reply,
        inbound: Inbound<Self::Hold>,
    ) -> impl Future<Output = ()> + Send + 'static;

    /// A data stream (subgroup or fetch) whose first event is `first`: the task that reads it.
    fn on_data_stream(
        self: &Arc<Self>,
        inbound: Inbound<Self::Hold>,
        first: Event,
    ) -> impl Future<Output = ()> + Send + 'static;

    /// An object datagram (checked by the protocol session).
    fn on_datagram(&self, datagram: ObjectDatagram);
}

/// Drive `peer`'s session until its transport closes, then let the stream tasks read what
/// arrived before the close (at most `timeouts.close_drain`).
pub async fn drive<P: Peer>(peer: &Arc<P>) -> Result<(), P::Error> {
    let _writer = StopMuxOnDrop(peer.clone());
    let mut tasks = JoinSet::new();
    let result = serve(peer, &mut tasks).await;
    after_close(peer, &mut tasks).await;
    result
}

/// Drafts 14 and 16: when the driver ends (or is dropped), the control stream's writer lets go
/// of the stream, which would hold the connection open.
struct StopMuxOnDrop<P: Peer>(Arc<P>);

impl<P: Peer> Drop for StopMuxOnDrop<P> {
    fn drop(&mut self) {
        if let Some(mux) = self.0.control().mux() {
            mux.shut_down();
        }
    }
}

/// Accept the peer's streams and datagrams until the session ends.
async fn serve<P: Peer>(peer: &Arc<P>, tasks: &mut JoinSet<()>) -> Result<(), P::Error> {
    let quic = peer.transport().clone();
    let timeouts = *peer.timeouts();
    let (server, shared_control) = {
        let p = lock(peer.proto());
        (p.role() == Role::Server, !p.version().has_request_streams())
    };
    let (spawn, mut new_requests) = tokio::sync::mpsc::channel::<NewRequest<P::Hold>>(64);
    if !server {
        let ours = peer.setup(None).await?;
        if shared_control {
            open_shared_control(peer, ours, &spawn, tasks).await?;
        } else {
            send_setup(&**peer, ours).await?;
        }
    }
    let mut peer_setup = peer.control().watch_peer_setup();
    let mut awaiting_setup = true;
    let setup_deadline = tokio::time::sleep(timeouts.setup);
    tokio::pin!(setup_deadline);
    let leave_deadline = tokio::time::sleep(Duration::MAX);
    tokio::pin!(leave_deadline);
    let mut leaving = false;
    loop {
        tokio::select! {
            () = peer.control().leaving.notified(), if !leaving => {
                leaving = true;
                tracing::info!(grace = ?timeouts.leave_grace, "peer finished its control stream: waiting for it to close the session");
                leave_deadline.as_mut().reset(tokio::time::Instant::now() + timeouts.leave_grace);
                peer.on_leaving();
            }
            () = &mut leave_deadline, if leaving => {
                return Err(violation(&**peer, "control stream closed".into()).into());
            }
            () = &mut setup_deadline, if awaiting_setup => {
                let why = format!("no SETUP within {:?}", timeouts.setup);
                return Err(violation(&**peer, why).into());
            }
            changed = peer_setup.changed(), if awaiting_setup => {
                let setup = peer_setup.borrow_and_update().clone();
                let Some(setup) = setup.filter(|_| changed.is_ok()) else {
                    continue;
                };
                awaiting_setup = false;
                if server {
                    let ours = peer.setup(Some(setup)).await?;
                    if shared_control {
                        answer_on_shared_control(&**peer, ours)?;
                    } else {
                        send_setup(&**peer, ours).await?;
                    }
                }
            }
            uni = quic.accept_uni() => {
                let inbound = Inbound::uni(peer, uni.map_err(DriveError::from)?);
                tasks.spawn(uni_stream(peer.clone(), inbound));
            }
            bi = quic.accept_bi() => {
                let (send, recv) = bi.map_err(DriveError::from)?;
                if shared_control && server && peer.control().mux().is_none() {
                    // Drafts 14 and 16: the client's first bidirectional stream is the control
                    // stream.
                    let id = peer.new_stream_id();
                    lock(peer.proto()).handle_bi_opened(id);
                    let mux = Mux::start(send, timeouts.peer_stall);
                    peer.control().set_mux(mux.clone());
                    let inbound = Inbound::control(peer, id, recv);
                    tasks.spawn(shared_control_stream(peer.clone(), inbound, mux, spawn.clone()));
                } else {
                    let inbound = Inbound::bi(peer, recv);
                    tasks.spawn(peer.on_request(Reply(Out::Stream(send)), inbound));
                }
            }
            Some((reply, inbound)) = new_requests.recv() => {
                tasks.spawn(peer.on_request(reply, inbound));
            }
            datagram = quic.read_datagram() => {
                datagram_in(&**peer, datagram.map_err(DriveError::from)?);
            }
            Some(_) = tasks.join_next() => {}
            closed = quic.closed() => return Err(DriveError::from(closed).into()),
        }
    }
}

/// Close the session for a violation of the session's rules and say why.
fn violation<P: Peer>(peer: &P, why: String) -> DriveError {
    peer.violated(SessionError {
        code: Code::PROTOCOL_VIOLATION,
        reason: why.clone(),
    });
    DriveError::Peer(why)
}

/// Open our control stream and write `setup` on it through the protocol session.
async fn send_setup<P: Peer>(peer: &P, setup: Setup) -> Result<(), DriveError> {
    let stall = peer.timeouts().peer_stall;
    let mut control = tokio::time::timeout(stall, peer.transport().open_uni())
        .await
        .map_err(|_| DriveError::Stalled(stall))??;
    let id = peer.new_stream_id();
    let transmits = {
        let mut p = lock(peer.proto());
        p.open_control(id, setup)?;
        drain(&mut p)
    };
    write_transmits(&mut control, transmits, "write SETUP", stall).await?;
    peer.control().set_stream(control);
    Ok(())
}

/// Drafts 14 and 16, a client: open the control stream and send CLIENT_SETUP on it.
async fn open_shared_control<P: Peer>(
    peer: &Arc<P>,
    setup: Setup,
    spawn: &tokio::sync::mpsc::Sender<NewRequest<P::Hold>>,
    tasks: &mut JoinSet<()>,
) -> Result<(), DriveError> {
    let stall = peer.timeouts().peer_stall;
    let (send, recv) = tokio::time::timeout(stall, peer.transport().open_bi())
        .await
        .map_err(|_| DriveError::Stalled(stall))??;
    let id = peer.new_stream_id();
    let mux = Mux::start(send, stall);
    {
        let mut p = lock(peer.proto());
        p.open_control(id, setup)?;
        mux.enqueue(drain(&mut p)).map_err(WriteError::from)?;
    }
    peer.control().set_mux(mux.clone());
    let inbound = Inbound::control(peer, id, recv);
    tasks.spawn(shared_control_stream(
        peer.clone(),
        inbound,
        mux,
        spawn.clone(),
    ));
    Ok(())
}

/// Drafts 14 and 16, a server: SERVER_SETUP on the control stream the client opened.
fn answer_on_shared_control<P: Peer>(peer: &P, setup: Setup) -> Result<(), DriveError> {
    let mux = peer
        .control()
        .mux()
        .ok_or_else(|| SessionError::internal("no control stream"))?;
    let mut p = lock(peer.proto());
    let id = p
        .peer_control()
        .ok_or_else(|| SessionError::internal("no control stream"))?;
    p.open_control(id, setup)?;
    mux.enqueue(drain(&mut p)).map_err(WriteError::from)?;
    Ok(())
}

/// Drafts 14 and 16: read the control stream; the peer's SETUP and GOAWAY are the driver's,
/// each new request of the peer's goes to the driver to run, and every other message to the
/// reader of the request it names.
async fn shared_control_stream<P: Peer>(
    peer: Arc<P>,
    mut inbound: Inbound<P::Hold>,
    mux: Arc<Mux>,
    spawn: tokio::sync::mpsc::Sender<NewRequest<P::Hold>>,
) {
    while let Some(event) = inbound.next(&peer).await {
        match event {
            control @ (Event::Setup(_) | Event::GoAway(_)) => on_control_event(&*peer, control),
            first @ Event::Request { request, .. } => {
                let route = mux.register(request);
                let inbound = Inbound::muxed(&peer, request, Some(first), route, mux.clone());
                let reply = Reply(Out::Control(mux.clone()));
                if spawn.send((reply, inbound)).await.is_err() {
                    return;
                }
            }
            event @ (Event::Message { request, .. } | Event::RequestClosed { request, .. }) => {
                if let Err(why) = mux.route(request, event) {
                    peer.violated(SessionError {
                        code: Code::PROTOCOL_VIOLATION,
                        reason: why,
                    });
                    return;
                }
            }
            _ => {}
        }
    }
    mux.close_routes();
}

/// The peer's SETUP or GOAWAY from its control stream (of either shape); only its first
/// GOAWAY is handed on.
fn on_control_event<P: Peer>(peer: &P, event: Event) {
    match event {
        Event::Setup(setup) => {
            tracing::debug!(?setup, "peer SETUP");
            peer.on_peer_setup(&setup);
            peer.control().set_peer_setup(setup);
        }
        Event::GoAway(g) if peer.control().set_peer_goaway(&g) => {
            tracing::info!(
                uri = %String::from_utf8_lossy(&g.new_session_uri),
                timeout_ms = g.timeout,
                "peer sent GOAWAY"
            );
            peer.on_goaway(&g);
        }
        _ => {}
    }
}

/// A unidirectional stream from the peer: its control stream or a data stream.
async fn uni_stream<P: Peer>(peer: Arc<P>, mut inbound: Inbound<P::Hold>) {
    match inbound.next(&peer).await {
        Some(setup @ Event::Setup(_)) => {
            on_control_event(&*peer, setup);
            // The control stream stays open for the session's life; GOAWAY may come.
            while let Some(event) = inbound.next(&peer).await {
                on_control_event(&*peer, event);
            }
        }
        Some(first) => peer.on_data_stream(inbound, first).await,
        None => {}
    }
}

/// A datagram, checked by the protocol session; its object goes to the role.
fn datagram_in<P: Peer>(peer: &P, datagram: bytes::Bytes) {
    let (result, events) = {
        let mut p = lock(peer.proto());
        let r = p.handle_datagram(datagram);
        (r, std::iter::from_fn(|| p.poll_event()).collect::<Vec<_>>())
    };
    match result {
        Ok(()) => {
            for e in events {
                if let Event::Datagram(d) = e {
                    peer.on_datagram(d);
                }
            }
        }
        Err(e) => peer.violated(e),
    }
}

/// After the session closed, let what the peer sent before its close land: streams the
/// transport already holds are still accepted, and the stream tasks read what is buffered. A
/// publisher that sends PUBLISH_DONE and closes at once has ended its track cleanly; cutting
/// its request task short would look like a dropped publisher. Ends when the tasks have, at the
/// latest after `timeouts.close_drain`.
async fn after_close<P: Peer>(peer: &Arc<P>, tasks: &mut JoinSet<()>) {
    let quic = peer.transport();
    // Streams the transport already holds are ready at once; a closed session accepts no new
    // ones (a WebTransport session may just never answer).
    while let Ok(Ok(uni)) = tokio::time::timeout(Duration::ZERO, quic.accept_uni()).await {
        let inbound = Inbound::uni(peer, uni);
        tasks.spawn(uni_stream(peer.clone(), inbound));
    }
    let all_done = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(peer.timeouts().close_drain, all_done)
        .await
        .is_err()
    {
        tracing::debug!(left = tasks.len(), "session drain timed out");
    }
}
