//! Links to upstream relays: for each configured upstream, a session the relay opens as a
//! client and keeps up (reconnecting with backoff). Over it the relay asks for every namespace
//! the upstream knows (SUBSCRIBE_NAMESPACE with the empty prefix) and routes each one it learns
//! to that session, exactly as if a publisher had announced it here: a downstream SUBSCRIBE then
//! becomes one upstream SUBSCRIBE per track, shared by every subscriber.
//!
//! Announcements travel up: each namespace published below this relay is announced on every
//! link (PUBLISH_NAMESPACE, held open until the router withdraws it), never one learned from an
//! upstream (split horizon).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tern_moq::message::codes::SessionError as Code;
use tern_moq::message::{Parameters, PublishNamespace, SubscribeNamespace};
use tern_moq::{Message, TrackNamespace};
use tern_quic::Client;

use super::discovery::Discovery;

use crate::core::hops::{self, Hops};
use crate::core::types::Namespace;

use super::hub::Hub;
use super::session::SessionShared;
use super::wire::next_message;

/// Wait before the first reconnection; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait between reconnections.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Namespaces one upstream may make this relay route at once; more closes the link (the
/// upstream is misbehaving or far larger than one relay should follow).
const MAX_LEARNED: usize = 100_000;
/// Request IDs of the namespaces learned from an upstream, in the router: far above any the
/// upstream can use itself, so they never collide with its own requests.
const LEARNED_BASE: u64 = 1 << 60;

/// An upstream that sends nothing for this long is dead (a killed process sends no
/// CONNECTION_CLOSE): its tracks move to the next upstream. Keep-alives go out at a third of it.
/// Transport settings of links: the relay's own (`base`: congestion control, windows) with a
/// short idle timeout (`upstream.idle_timeout`), so that failover does not wait long for an
/// upstream that died silently; keep-alives go every third of it.
pub fn transport(base: tern_quic::TransportLimits, idle: Duration) -> tern_quic::TransportLimits {
    tern_quic::TransportLimits {
        idle_timeout: idle,
        keep_alive: Some(idle / 3),
        ..base
    }
}

/// Keep a link to `url` up for as long as the relay runs.
///
/// When the upstream sends GOAWAY, a new session is opened at once (to the URI the GOAWAY
/// names, else `url` again) while the old one drains: the router has already moved the tracks
/// it fed to other upstreams where it could, and moves the rest as soon as the new session
/// learns their namespaces.
///
/// With `discovery`, a URL that names a host is resolved through DNS at each attempt (SRV,
/// then A/AAAA; see [`super::discovery`]): the candidates are tried in order, and a link whose
/// upstream the DNS answer no longer lists (checked when its TTL runs out) is closed so that
/// the next attempt follows DNS.
pub fn spawn(
    hub: Arc<Hub>,
    url: String,
    client: Arc<Client>,
    discovery: Option<Arc<Discovery>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = FIRST_BACKOFF;
        let mut target = url.clone();
        loop {
            let started = tokio::time::Instant::now();
            let result = link(&hub, &target, &client, discovery.as_deref()).await;
            target = url.clone();
            match result {
                Ok(Some(next)) => {
                    tracing::info!(upstream = %url, next = %next, "upstream going away: linking to its successor");
                    if !next.is_empty() {
                        target = next;
                    }
                    continue;
                }
                Ok(None) => tracing::info!(upstream = %url, "upstream session ended"),
                Err(e) => tracing::warn!(upstream = %url, "upstream link: {e:#}"),
            }
            // A link that stayed up a while starts its backoff over.
            if started.elapsed() > MAX_BACKOFF {
                backoff = FIRST_BACKOFF;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    })
}

/// Connect to `url`: straight, or to the first DNS candidate that answers. Returns the session,
/// the address it went to and until when DNS vouches for it (`None`: no DNS involved).
async fn connect(
    client: &Client,
    discovery: Option<&Discovery>,
    url: &str,
) -> super::error::Result<(
    tern_quic::Session,
    Option<(SocketAddr, tokio::time::Instant)>,
)> {
    let Some(discovery) = discovery else {
        let session = client
            .connect(url)
            .await
            .map_err(|e| super::error::NodeError::Upstream(format!("cannot connect: {e}")))?;
        return Ok((session, None));
    };
    let resolved = discovery.resolve(url).await?;
    let mut failures = Vec::new();
    for c in &resolved.candidates {
        match client.connect_to(&c.url, c.addr).await {
            Ok(session) => {
                tracing::info!(upstream = %url, candidate = %c.url, addr = %c.addr, "connected to a DNS candidate");
                return Ok((session, resolved.valid_until.map(|t| (c.addr, t))));
            }
            Err(e) => {
                tracing::info!(upstream = %url, candidate = %c.url, addr = %c.addr, "DNS candidate did not answer: {e}");
                failures.push(format!("{} at {}: {e}", c.url, c.addr));
            }
        }
    }
    Err(super::error::NodeError::Upstream(format!(
        "no candidate answered: {}",
        failures.join("; ")
    )))
}

/// Resolve `url` again each time the answer expires, until DNS stops listing `addr`.
async fn dns_dropped(
    discovery: &Discovery,
    url: &str,
    addr: SocketAddr,
    mut until: tokio::time::Instant,
) -> String {
    loop {
        tokio::time::sleep_until(until).await;
        match discovery.resolve(url).await {
            Ok(r) if r.candidates.iter().any(|c| c.addr == addr) => {
                until = r.valid_until.unwrap_or(until + super::discovery::MAX_TTL);
            }
            Ok(r) => {
                let now = r
                    .candidates
                    .iter()
                    .map(|c| c.addr.to_string())
                    .collect::<Vec<_>>();
                return format!(
                    "DNS no longer lists {addr} for {url} (now: {})",
                    now.join(", ")
                );
            }
            // A failed lookup keeps the link: DNS trouble is no reason to drop a working path.
            Err(e) => {
                tracing::warn!(upstream = %url, "DNS re-resolution failed: {e}; keeping {addr}");
                until = tokio::time::Instant::now() + super::discovery::MIN_TTL * 5;
            }
        }
    }
}

/// One upstream session, from connect to its end, or to its GOAWAY: then the URI it names.
async fn link(
    hub: &Arc<Hub>,
    url: &str,
    client: &Client,
    discovery: Option<&Discovery>,
) -> super::error::Result<Option<String>> {
    let (session, dns) = connect(client, discovery, url).await?;
    tracing::info!(upstream = %url, "upstream connected");
    let (opened_tx, opened_rx) = tokio::sync::oneshot::channel();
    let driver = tokio::spawn(super::peer::run_with(hub.clone(), session, false, |s| {
        let _ = opened_tx.send(s);
    }));
    let s = opened_rx
        .await
        .map_err(|_| super::error::NodeError::Upstream("session ended at once".into()))?;
    let mut goaway = s.control.peer_goaway();
    let listing = async {
        if !s.wait_peer_setup(s.timeouts.setup).await {
            return Err(super::error::NodeError::Upstream(format!(
                "no SETUP from the upstream within {:?}",
                s.timeouts.setup
            )));
        }
        let sid = s.id;
        let relay = s.peer_relay();
        let refused = hub
            .apply(move |r, _| {
                r.handle_link_up(sid);
                relay.and_then(|relay| r.handle_peer_relay(sid, relay))
            })
            .await;
        if let Some(why) = refused {
            tracing::warn!(upstream = %url, session = sid, "{why}");
        }
        namespaces(hub, &s).await
    };
    tokio::select! {
        result = listing => {
            if let Err(e) = &result {
                tracing::warn!(upstream = %url, session = s.id, "namespace listing ended: {e:#}");
            }
        }
        // Closed before or during the listing (a violation by either side, a timeout): retry
        // now, not after the SETUP wait.
        end = s.session.closed() => {
            tracing::warn!(upstream = %url, session = s.id, "upstream session ended: {end}");
        }
        uri = goaway.wait_for(Option::is_some) => {
            // The old session drains on its own (its driver task runs until it closes).
            return Ok(Some(uri.ok().and_then(|u| u.clone()).unwrap_or_default()));
        }
        why = async {
            match (discovery, dns) {
                (Some(d), Some((addr, until))) => dns_dropped(d, url, addr, until).await,
                _ => std::future::pending().await,
            }
        } => {
            tracing::info!(upstream = %url, session = s.id, "{why}: closing the link");
            s.session
                .close(super::session::wire_code(Code::NO_ERROR), "moved by DNS");
        }
    }
    // The session carries the upstream SUBSCRIBEs too: it lives until it closes.
    let _ = driver.await;
    Ok(None)
}

/// Ask for every namespace and route each one to this session until the listing ends.
async fn namespaces(hub: &Arc<Hub>, s: &Arc<SessionShared>) -> super::error::Result<()> {
    let (_send, mut inbound) = s
        .request(|request_id| {
            SubscribeNamespace {
                request_id,
                track_namespace_prefix: TrackNamespace::new(Vec::new()),
                parameters: hop_parameters(s, std::slice::from_ref(&hub.relay_id)),
            }
            .into()
        })
        .await?;
    let mut learned: HashMap<Vec<bytes::Bytes>, u64> = HashMap::new();
    let mut next_id = LEARNED_BASE;
    let sid = s.id;
    while let Some(msg) = next_message(&mut inbound, s).await {
        match msg {
            Message::RequestOk(_) => {}
            Message::RequestError(e) => {
                return Err(super::error::NodeError::Upstream(format!(
                    "SUBSCRIBE_NAMESPACE refused: {}",
                    e.error_reason.to_string_lossy()
                )));
            }
            Message::Namespace(n) => {
                let ns = n.track_namespace_suffix.fields().to_vec();
                if learned.contains_key(&ns) {
                    continue;
                }
                if learned.len() >= MAX_LEARNED {
                    let why = format!("upstream announced more than {MAX_LEARNED} namespaces");
                    s.violation(Code::PROTOCOL_VIOLATION, &why);
                    return Err(super::error::NodeError::Upstream(why));
                }
                let rid = next_id;
                next_id += 1;
                learned.insert(ns.clone(), rid);
                tracing::debug!(session = sid, namespace = ?ns, "namespace from upstream");
                hub.apply(move |r, now| r.handle_publish_namespace(sid, rid, ns, Vec::new(), now))
                    .await;
            }
            Message::NamespaceDone(n) => {
                let ns = n.track_namespace_suffix.fields().to_vec();
                if let Some(rid) = learned.remove(&ns) {
                    hub.apply(move |r, _| r.handle_publish_namespace_done(sid, rid))
                        .await;
                }
            }
            other => {
                let why = format!(
                    "unexpected {} on a SUBSCRIBE_NAMESPACE stream",
                    other.name()
                );
                s.violation(Code::PROTOCOL_VIOLATION, &why);
                return Err(super::error::NodeError::Upstream(why));
            }
        }
    }
    Ok(())
}

/// Announce `namespace` to the upstream on link `s` until the router withdraws it (or the
/// upstream refuses it or closes the request).
pub fn spawn_announce(s: Arc<SessionShared>, namespace: Namespace, hops: Hops) {
    let (withdraw_tx, withdraw_rx) = tokio::sync::oneshot::channel();
    s.add_announced(namespace.clone(), withdraw_tx);
    tokio::spawn(async move {
        if let Err(e) = announce(&s, &namespace, &hops, withdraw_rx).await {
            tracing::debug!(session = s.id, namespace = ?namespace, "announcement upstream ended: {e:#}");
        }
    });
}

async fn announce(
    s: &Arc<SessionShared>,
    namespace: &Namespace,
    hops: &[bytes::Bytes],
    mut withdraw: tokio::sync::oneshot::Receiver<()>,
) -> super::error::Result<()> {
    let (mut send, mut inbound) = s
        .request(|request_id| {
            PublishNamespace {
                request_id,
                track_namespace: TrackNamespace::new(namespace.clone()),
                parameters: hop_parameters(s, hops),
            }
            .into()
        })
        .await?;
    loop {
        tokio::select! {
            _ = &mut withdraw => {
                let _ = send.finish();
                return Ok(());
            }
            msg = next_message(&mut inbound, s) => match msg {
                Some(Message::RequestOk(_)) => {
                    tracing::debug!(session = s.id, namespace = ?namespace, "announced upstream");
                }
                Some(Message::RequestError(e)) => {
                    tracing::warn!(
                        session = s.id,
                        namespace = ?namespace,
                        code = e.error_code.0,
                        reason = %e.error_reason.to_string_lossy(),
                        "upstream refused our announcement"
                    );
                    return Ok(());
                }
                Some(other) => {
                    let why = format!("unexpected {} on a PUBLISH_NAMESPACE stream", other.name());
                    s.violation(Code::PROTOCOL_VIOLATION, &why);
                    return Err(super::error::NodeError::Upstream(why));
                }
                None => return Ok(()),
            },
        }
    }
}

/// The hop-list parameter, only where the upstream offered the extension.
fn hop_parameters(s: &SessionShared, path: &[bytes::Bytes]) -> Parameters {
    let mut params = Parameters::new();
    if s.hops_negotiated() {
        params.set(
            hops::TERN_HOPS,
            tern_moq::message::ParameterValue::Bytes(hops::encode(path)),
        );
    }
    params
}
