//! What the relay does with each thing a peer sends: the relay's side of the session driver
//! every MoQ peer shares ([`tern_peer::driver`]). A session is registered with the hub, its
//! publisher identity and trust class set, and then driven: our SETUP (after the edge plugin's
//! session-open phase), the peer's requests to [`super::request`], its data streams and
//! datagrams to [`super::ingest`], its GOAWAY and its leaving to the router.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use tracing::Instrument;

use tern_moq::message::{GoAway, Setup};
use tern_moq::session::{Event, Role, StreamId};
use tern_peer::request::{Reply, SharedProto};
use tern_quic::Session;

use crate::core::hops;
use crate::core::router::{Class, Publisher};

use super::hub::Hub;
use super::session::{Inbound, SessionShared};

/// Drive one accepted session until it ends.
pub async fn run(hub: Arc<Hub>, session: Session, server: bool) {
    run_with(hub, session, server, |_| {}).await;
}

/// Drive one session until it ends, handing its shared state to `opened` once registered (the
/// relay's own sessions to its upstreams use it to send requests).
pub async fn run_with(
    hub: Arc<Hub>,
    session: Session,
    server: bool,
    opened: impl FnOnce(Arc<SessionShared>),
) {
    let id = hub.next_session_id();
    let shared = SessionShared::new(
        id,
        session,
        server,
        &hub.settings,
        hub.receive.clone(),
        hub.live.clone(),
    );
    // A client certificate only exists when the relay asks for one (a cluster CA is
    // configured) and TLS verified it: the peer is a member of the cluster.
    let mut member = false;
    let mut publisher = None;
    if server && let Some(name) = shared.session.peer_name() {
        tracing::info!(session = id, member = name, "cluster member connected");
        shared.set_member();
        member = true;
        publisher = Some(Publisher {
            class: Class::Member,
            identity: Bytes::from(name),
        });
    } else if server {
        // Anonymous until a plugin authorises a publish: the same source (an IPv4 address,
        // an IPv6 /64) is the same publisher, so a reconnecting encoder takes its track back.
        let source = tern_quic::session_source(shared.session.remote_address().ip());
        publisher = Some(Publisher {
            class: Class::Anonymous,
            identity: Bytes::from(source.to_string()),
        });
    }
    // A plugin authorises each of its publishes, or it runs on this host.
    let vouched =
        server && !member && (hub.settings.plugin.is_some() || shared.session.peer_is_local());
    let registered = shared.clone();
    hub.on_loop(move |l, _| {
        l.add_session(registered);
        if member {
            l.router.handle_member(id);
        }
        if let Some(publisher) = publisher {
            l.router.handle_identity(id, publisher);
        }
        if vouched {
            l.router.handle_vouched(id);
        }
    })
    .await;
    opened(shared.clone());
    tracing::info!(session = id, peer = %shared.session.remote_address(), "session open");
    let node = Arc::new(NodeSession {
        hub: hub.clone(),
        s: shared.clone(),
    });
    let reason = tern_peer::driver::drive(&node)
        .instrument(tracing::info_span!("session", id))
        .await;
    shared.stop_expiry();
    match &reason {
        Ok(()) => tracing::info!(session = id, "session closed"),
        Err(e) => tracing::info!(session = id, "session ended: {e:#}"),
    }
    hub.on_loop(move |l, now| l.remove_session(id, now)).await;
}

/// A relay session as the shared session driver ([`tern_peer::driver`]) sees it: the node's
/// answer to each thing the peer sends.
struct NodeSession {
    hub: Arc<Hub>,
    s: Arc<SessionShared>,
}

impl tern_peer::inbound::Feed for NodeSession {
    type Hold = <SessionShared as tern_peer::inbound::Feed>::Hold;

    fn proto(&self) -> &SharedProto {
        self.s.shared_proto()
    }

    fn new_stream_id(&self) -> StreamId {
        self.s.new_stream_id()
    }

    fn control(&self) -> &tern_peer::Control {
        &self.s.control
    }

    fn violated(&self, error: tern_moq::session::SessionError) {
        self.s.violation(error.code, &error.reason);
    }

    fn admit(&self, stream: StreamId, held: &mut Self::Hold) -> bool {
        tern_peer::inbound::Feed::admit(&*self.s, stream, held)
    }
}

impl tern_peer::driver::Peer for NodeSession {
    type Error = super::error::NodeError;

    fn transport(&self) -> &Session {
        &self.s.session
    }

    fn timeouts(&self) -> &tern_peer::Timeouts {
        &self.s.timeouts
    }

    /// Our SETUP. A server answers the client's only after the edge plugin admitted the
    /// session, and offers the hop-list option only to a tern peer it trusts (within a cluster
    /// only to members), so that it knows whether the peer is tern first.
    async fn setup(self: &Arc<Self>, peer: Option<Arc<Setup>>) -> super::error::Result<Setup> {
        let (hub, s) = (&self.hub, &self.s);
        let mut tern_relay = false;
        if let Some(peer) = peer {
            if !s.is_member()
                && let Some(plugin) = &hub.settings.plugin
                && let Some(at) = super::plugin::open_session(plugin, s, &peer).await?
            {
                let timer = tokio::spawn(super::plugin::expire(s.clone(), at));
                s.set_expiry(timer.abort_handle());
            }
            tern_relay = peer
                .moqt_implementation()
                .is_some_and(|i| i.starts_with(hops::TERN_IMPLEMENTATION_PREFIX))
                && {
                    let sid = s.id;
                    hub.read(move |r| r.is_trusted(sid)).await
                };
        }
        let mut setup = Setup::default();
        setup.set_moqt_implementation(concat!("tern/", env!("CARGO_PKG_VERSION")));
        if tern_relay {
            let id = hub.relay_id.clone();
            setup
                .options
                .set(hops::TERN_RELAY, tern_moq::coding::KvpValue::Bytes(id));
            s.negotiate_hops();
        }
        Ok(setup)
    }

    /// Our upstream answered with the hop-list option: it is a tern relay.
    fn on_peer_setup(&self, setup: &Setup) {
        let s = &self.s;
        if s.proto(|p| p.role()) == Role::Client
            && let Some(tern_moq::coding::KvpValue::Bytes(id)) = setup.options.get(hops::TERN_RELAY)
            && !id.is_empty()
            && id.len() <= hops::MAX_ID_LEN
        {
            s.set_peer_relay(id.clone());
        }
    }

    fn on_goaway(&self, _goaway: &GoAway) {
        let sid = self.s.id;
        self.hub
            .post(move |l, now| l.router.handle_goaway(sid, now));
    }

    /// For routing the session is over now (a new publisher of its tracks starts afresh); its
    /// last objects and PUBLISH_DONEs still land meanwhile.
    fn on_leaving(&self) {
        let sid = self.s.id;
        self.hub
            .post(move |l, now| l.router.handle_session_closed(sid, now));
    }

    /// A request of the peer's, or its refusal when the session has its
    /// `max_requests_per_session` open.
    fn on_request(
        self: &Arc<Self>,
        reply: Reply,
        inbound: Inbound,
    ) -> impl Future<Output = ()> + Send + 'static {
        let slot = self
            .s
            .request_slot(self.hub.settings.max_requests_per_session);
        let (hub, s) = (self.hub.clone(), self.s.clone());
        async move {
            match slot {
                Some(slot) => {
                    super::request::run(hub, s, reply, inbound).await;
                    drop(slot);
                }
                None => super::request::refuse_excessive(&s, inbound, reply).await,
            }
        }
    }

    fn on_data_stream(
        self: &Arc<Self>,
        inbound: Inbound,
        first: Event,
    ) -> impl Future<Output = ()> + Send + 'static {
        let (hub, s) = (self.hub.clone(), self.s.clone());
        async move { super::ingest::data_stream(&hub, &s, inbound, first).await }
    }

    fn on_datagram(&self, datagram: tern_moq::data::ObjectDatagram) {
        super::ingest::datagram(&self.s, datagram);
    }
}
