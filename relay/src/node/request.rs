//! Request streams opened by a peer: one bidirectional stream per SUBSCRIBE, PUBLISH,
//! PUBLISH_NAMESPACE, SUBSCRIBE_NAMESPACE, TRACK_STATUS or FETCH. The first message names the
//! request; responses and updates follow on the same stream.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use tern_moq::message::codes::{PublishDoneCode, RequestErrorCode, SessionError as Code};
use tern_moq::message::{
    Namespace as NamespaceMsg, NamespaceDone, Parameters, PublishDone, RequestOk, Subscribe,
    SubscribeOk,
};
use tern_moq::session::{Event, RequestHandle};
use tern_moq::{Message, ReasonPhrase, TrackNamespace};
use tern_peer::request::Reply;
use tern_peer::request::RequestStream;

use crate::core::router::{Class, Command, Ended, Publisher, Refusal, Router};
use crate::core::types::Namespace;

use super::hub::{Hub, Listing, ToRequest};
use super::session::{Inbound, SessionShared};
use super::wire::{error, filter, next_message, refusal, track_name};

/// Log lines about refused announcements: at most 20 per 10 s.
static REFUSAL_LOG: tern_quic::LogBudget =
    tern_quic::LogBudget::new(20, std::time::Duration::from_secs(10));

/// Refuse a request before reading it: the session has too many open.
pub async fn refuse_excessive(s: &SessionShared, inbound: Inbound, send: Reply) {
    let refusal = error(RequestErrorCode::EXCESSIVE_LOAD, "too many requests");
    s.refuse_unread(&inbound, send, refusal.into()).await;
}

/// The first message of a peer's request stream and the request it opens; `None` when the
/// stream ended first (or the session broke).
async fn first_request(
    inbound: &mut Inbound,
    s: &SessionShared,
) -> Option<(RequestHandle, Message)> {
    loop {
        match inbound.next(s).await? {
            Event::Request {
                request, message, ..
            } => return Some((request, message)),
            Event::RequestClosed { .. } => return None,
            _ => {}
        }
    }
}

/// Serve one request stream.
pub async fn run(hub: Arc<Hub>, s: Arc<SessionShared>, send: Reply, mut inbound: Inbound) {
    let Some((request, mut first)) = first_request(&mut inbound, &s).await else {
        return;
    };
    let mut send = inbound.answer(&s, request, send, s.timeouts.peer_stall);
    tracing::debug!(session = s.id, message = first.name(), "request");
    if s.control.going_away() {
        let refusal = error(RequestErrorCode::GOING_AWAY, "relay is going away");
        let _ = send.send_last(refusal).await;
        return;
    }
    let max_fields = hub.settings.max_namespace_fields;
    if let Some(fields) = namespace_fields(&first).filter(|n| *n > max_fields) {
        let reason = format!(
            "track namespace has {fields} fields; this relay allows {max_fields} \
             (limits.max_namespace_fields)"
        );
        tracing::info!(session = s.id, message = first.name(), "{reason}");
        let _ = send
            .send(error(RequestErrorCode::NOT_SUPPORTED, &reason))
            .await;
        let _ = send.finish();
        return;
    }
    let original = super::watermark::requested_track(&first).cloned();
    let variants = match &hub.settings.plugin {
        Some(plugin) => match super::plugin::authorize(plugin, &s, &mut first).await {
            Ok(variants) => variants,
            Err(super::plugin::Refused(answer)) => {
                if let Some((code, reason)) = answer {
                    let _ = send.send(error(code, &reason)).await;
                    let _ = send.finish();
                }
                return;
            }
        },
        None => None,
    };
    if let Some(subject) = s.auth.take_publisher() {
        // Who publishes, for the take-over policy: the subject the plugin authorised.
        let publisher = Publisher {
            class: Class::Authorised,
            identity: bytes::Bytes::from(subject),
        };
        let sid = s.id;
        hub.apply(move |r, _| r.handle_identity(sid, publisher))
            .await;
    }
    let variants = match super::watermark::verdict(&s, original.as_ref(), &first, variants) {
        Ok(variants) => variants,
        Err((code, reason)) => {
            tracing::info!(session = s.id, reason, "request refused");
            let _ = send.send(error(code, &reason)).await;
            let _ = send.finish();
            return;
        }
    };
    let result = match first {
        Message::Subscribe(m) => subscribe(&hub, &s, m, send, inbound, variants).await,
        Message::PublishNamespace(m) => {
            let rid = m.request_id;
            let ns = m.track_namespace.fields().to_vec();
            let sid = s.id;
            let Some(hops) = hops_of(&hub, &s, &m.parameters) else {
                return;
            };
            lifetime(
                &hub,
                &s,
                rid,
                0,
                false,
                send,
                inbound,
                move |r, now| r.handle_publish_namespace(sid, rid, ns, hops, now),
                move |r| r.handle_publish_namespace_done(sid, rid),
            )
            .await
        }
        Message::SubscribeNamespace(m) => {
            let rid = m.request_id;
            // A tern relay below names itself, so that nothing it publishes is echoed back to
            // it over another session.
            let Some(hops) = hops_of(&hub, &s, &m.parameters) else {
                return;
            };
            if let Some(relay) = hops.last().cloned() {
                // Hop lists are taken from anyone (loop detection), but a relay's privilege
                // (watermark variants unmarked: it marks for its own viewers) is a member's.
                if s.is_member() {
                    s.auth.set_relay();
                }
                let sid = s.id;
                if let Some(why) = hub.apply(move |r, _| r.handle_peer_relay(sid, relay)).await {
                    tracing::warn!(session = s.id, "{why}");
                }
            }
            let prefix = m.track_namespace_prefix.fields().to_vec();
            let prefix_len = prefix.len();
            let sid = s.id;
            lifetime(
                &hub,
                &s,
                rid,
                prefix_len,
                true,
                send,
                inbound,
                move |r, _| r.handle_subscribe_namespace(sid, rid, prefix),
                move |r| r.handle_subscribe_namespace_done(sid, rid),
            )
            .await
        }
        Message::Publish(m) => super::upstream::publish(&hub, &s, m, send, inbound).await,
        Message::TrackStatus(m) => track_status(&hub, &s, m, send).await,
        Message::Fetch(m) => super::fetch::serve(&hub, &s, m, send, inbound, variants).await,
        Message::SubscribeTracks(m) => {
            let rid = m.request_id;
            let prefix = m.track_namespace_prefix.fields().to_vec();
            let sid = s.id;
            lifetime(
                &hub,
                &s,
                rid,
                0,
                false,
                send,
                inbound,
                move |r, _| r.handle_subscribe_tracks(sid, rid, prefix),
                move |r| r.handle_subscribe_tracks_done(sid, rid),
            )
            .await
        }
        other => {
            s.violation(
                Code::PROTOCOL_VIOLATION,
                &format!("request stream opened with {}", other.name()),
            );
            Ok(())
        }
    };
    if let Err(e) = result {
        tracing::debug!(session = s.id, "request ended: {e:#}");
    }
}

/// The hop list a request carries (empty without one, or when the extension was not
/// negotiated); `None` when it is malformed (the session is closed with the reason).
fn hops_of(hub: &Hub, s: &SessionShared, params: &Parameters) -> Option<crate::core::hops::Hops> {
    use crate::core::hops;
    use tern_moq::message::ParameterValue;
    if !s.hops_negotiated() {
        return Some(Vec::new());
    }
    match params.get(hops::TERN_HOPS) {
        None => Some(Vec::new()),
        Some(ParameterValue::Bytes(b)) => {
            // One more than the limit so that the router can refuse it with the reason.
            let max = hub.max_depth + 1;
            match hops::decode(b.clone(), max) {
                Ok(h) => Some(h),
                Err(why) => {
                    s.violation(Code::PROTOCOL_VIOLATION, &format!("hop list: {why}"));
                    None
                }
            }
        }
        Some(_) => {
            s.violation(Code::PROTOCOL_VIOLATION, "hop list is not bytes");
            None
        }
    }
}

/// Fields of the track namespace (or prefix) a request names.
fn namespace_fields(m: &Message) -> Option<usize> {
    let ns = match m {
        Message::Subscribe(m) => &m.track_namespace,
        Message::Publish(m) => &m.track_namespace,
        Message::PublishNamespace(m) => &m.track_namespace,
        Message::SubscribeNamespace(m) => &m.track_namespace_prefix,
        Message::SubscribeTracks(m) => &m.track_namespace_prefix,
        Message::TrackStatus(m) => &m.track_namespace,
        Message::Fetch(m) => m.fetch_type.track()?.0,
        _ => return None,
    };
    Some(ns.fields().len())
}

/// A request that lives as long as its stream: PUBLISH_NAMESPACE, SUBSCRIBE_NAMESPACE.
#[allow(clippy::too_many_arguments)]
async fn lifetime(
    hub: &Arc<Hub>,
    s: &Arc<SessionShared>,
    rid: u64,
    prefix_len: usize,
    listing: bool,
    mut send: RequestStream,
    mut inbound: Inbound,
    start: impl FnOnce(&mut Router, std::time::Instant) + Send + 'static,
    end: impl FnOnce(&mut Router) + Send + 'static,
) -> super::error::Result<()> {
    let (tx, mut rx) = mpsc::channel(8);
    // A SUBSCRIBE_NAMESPACE's NAMESPACE and NAMESPACE_DONE come through its listing, written
    // once REQUEST_OK is out: a listing of any length is never queued.
    let listing = listing.then(|| Arc::new(Listing::default()));
    let mut listed: HashSet<Namespace> = HashSet::new();
    let mut acknowledged = false;
    let (sid, inbox) = (s.id, listing.clone());
    hub.on_loop(move |l, now| {
        l.add_request(sid, rid, tx, inbox);
        start(l.router, now);
    })
    .await;
    let result: super::error::Result<()> = async {
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd.map(|c: ToRequest| c.command) {
                    Some(Command::Ok { .. }) => {
                        let ok = RequestOk { parameters: Parameters::new(), track_properties: Default::default() };
                        send.send(ok).await?;
                        acknowledged = true;
                    }
                    Some(Command::Refuse { reason, .. }) => {
                        if matches!(reason, Refusal::Loop | Refusal::TooDeep | Refusal::Unauthorized | Refusal::NotOpen)
                            && let Some(suppressed) = REFUSAL_LOG.allow(std::time::Instant::now())
                        {
                            tracing::warn!(session = s.id, reason = %refusal(reason).error_reason.to_string_lossy(), suppressed, "announcement refused");
                        }
                        send.send(refusal(reason)).await?;
                        send.finish()?;
                        return Ok(());
                    }
                    Some(_) => {}
                    None => return Ok(()),
                },
                () = async {
                    match &listing {
                        Some(l) => l.changed().await,
                        None => std::future::pending().await,
                    }
                }, if acknowledged => {
                    if let Some(l) = &listing {
                        write_listing(&mut send, l, &mut listed, prefix_len).await?;
                    }
                }
                msg = next_message(&mut inbound, s) => match msg {
                    None => return Ok(()),
                    Some(Message::RequestUpdate(_)) => {
                        let ok = RequestOk { parameters: Parameters::new(), track_properties: Default::default() };
                        send.send(ok).await?;
                    }
                    Some(other) => {
                        s.violation(Code::PROTOCOL_VIOLATION, &format!("unexpected {} on a request stream", other.name()));
                        return Ok(());
                    }
                },
            }
        }
    }
    .await;
    hub.on_loop(move |l, _| {
        l.remove_request(sid, rid);
        end(l.router);
    })
    .await;
    result
}

/// Write what changed in `listing` since the last call: NAMESPACE for a namespace the peer
/// has not been shown, NAMESPACE_DONE for one it has that is gone.
async fn write_listing(
    send: &mut RequestStream,
    listing: &Listing,
    listed: &mut HashSet<Namespace>,
    prefix_len: usize,
) -> super::error::Result<()> {
    for (namespace, announced) in listing.take() {
        if announced == listed.contains(&namespace) {
            continue; // the peer already sees it so
        }
        let track_namespace_suffix = suffix(&namespace, prefix_len);
        let msg: Message = if announced {
            NamespaceMsg {
                track_namespace_suffix,
            }
            .into()
        } else {
            NamespaceDone {
                track_namespace_suffix,
            }
            .into()
        };
        send.send(msg).await?;
        if announced {
            listed.insert(namespace);
        } else {
            listed.remove(&namespace);
        }
    }
    Ok(())
}

/// NAMESPACE carries the part of the namespace after the subscriber's prefix.
fn suffix(ns: &[bytes::Bytes], prefix_len: usize) -> TrackNamespace {
    TrackNamespace::new(ns[prefix_len.min(ns.len())..].to_vec())
}

/// A downstream SUBSCRIBE: wait for the router, then fan out from the track's cache.
async fn subscribe(
    hub: &Arc<Hub>,
    s: &Arc<SessionShared>,
    m: Subscribe,
    mut send: RequestStream,
    mut inbound: Inbound,
    variants: Option<super::watermark::Variants>,
) -> super::error::Result<()> {
    let rid = m.request_id;
    let name = track_name(&m.track_namespace, &m.track_name);
    let filter = filter(&m.parameters);
    let rendezvous = Duration::from_millis(m.parameters.rendezvous_timeout().unwrap_or(0));
    let priority = m.parameters.subscriber_priority().unwrap_or(128);
    let forward = m.parameters.forward().unwrap_or(true);
    let delivery_timeout = m
        .parameters
        .subgroup_delivery_timeout()
        .or(m.parameters.object_delivery_timeout())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis);
    let descending = m.parameters.group_order() == Some(tern_moq::message::GroupOrder::Descending);
    tracing::debug!(session = s.id, request = rid, track = %name, ?filter, ?rendezvous, "SUBSCRIBE");
    // A marked subscription holds the other variants too, as the relay's own subscriptions.
    let mut marked = None;
    if let (Some(v), Some(plugin)) = (variants, &hub.settings.plugin) {
        match super::watermark::subscribe_companions(hub, s, rid, &name, filter, rendezvous).await {
            Ok((others, companions)) => {
                marked = Some((v.viewer, plugin.clone(), others, companions))
            }
            Err(reason) => {
                tracing::debug!(
                    session = s.id,
                    request = rid,
                    ?reason,
                    "watermark variant refused"
                );
                send.send(refusal(reason)).await?;
                send.finish()?;
                return Ok(());
            }
        }
    }
    let (tx, mut rx) = mpsc::channel(64);
    let (sid, n) = (s.id, name.clone());
    hub.on_loop(move |l, now| {
        l.add_request(sid, rid, tx, None);
        l.router
            .handle_subscribe(sid, rid, n, filter, rendezvous, now);
    })
    .await;
    let mut serving: Option<super::serve::Serving> = None;
    // Draft-20 on, PUBLISH_DONE's Stream Count includes the fill fetch stream.
    let mut fill_streams = 0u64;
    let result: super::error::Result<()> = async {
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd.map(|c: ToRequest| (c.command, c.accepted)) {
                    Some((Command::SubscribeOk { .. }, accepted)) => {
                        let Some((largest, fanout, handle)) = accepted else {
                            send.send(refusal(Refusal::DoesNotExist)).await?;
                            send.finish()?;
                            return Ok(());
                        };
                        let alias = s.next_alias();
                        let fanout = fanout.map(|mut reader| {
                            let f = reader.fanout_mut();
                            f.set_forward(forward);
                            f.set_subscriber_priority(priority);
                            if let Some(t) = delivery_timeout {
                                f.set_delivery_timeout(t);
                            }
                            f.set_descending(descending);
                            reader
                        });
                        let mut params = Parameters::new();
                        if let Some(l) = largest.filter(|_| s.sends_largest_object()) {
                            params.set_largest_object(l);
                        }
                        let Some(fanout) = fanout else {
                            send.send(error(RequestErrorCode::INVALID_RANGE, "filter end group overflows")).await?;
                            send.finish()?;
                            return Ok(());
                        };
                        // Known as a Joining FETCH target before the subscriber can see the OK.
                        s.add_subscription(rid, handle.clone(), largest);
                        send.send(SubscribeOk { track_alias: alias, parameters: params, track_properties: Default::default() }).await?;
                        // Draft-20 on: the objects before the subscription's start, if asked.
                        match super::fill::range(s.proto(|p| p.version()), &m.parameters, largest) {
                            Ok(Some(range)) => {
                                if super::fill::spawn(s, rid, &handle, range) {
                                    fill_streams = 1;
                                }
                            }
                            Ok(None) => {}
                            Err(why) => tracing::info!(session = s.id, request = rid, "no FILL: {why}"),
                        }
                        let marking = marked.as_ref().map(|(viewer, plugin, others, _)| {
                            let variants = std::iter::once(handle.consumer()).chain(others.iter().cloned()).collect();
                            let marking = Arc::new(super::watermark::Marking::new(plugin.clone(), viewer.clone(), variants, s.timeouts.variant_wait));
                            s.auth.markings.insert(rid, marking.clone());
                            marking
                        });
                        serving = Some(super::serve::spawn_marked(s.clone(), fanout, alias, marking));
                    }
                    Some((Command::Refuse { reason, .. }, _)) => {
                        tracing::debug!(session = s.id, request = rid, ?reason, "SUBSCRIBE refused");
                        send.send(refusal(reason)).await?;
                        send.finish()?;
                        return Ok(());
                    }
                    Some((Command::PublishDone { reason, .. }, _)) => {
                        tracing::debug!(session = s.id, request = rid, ?reason, "track ended: finishing the subscription");
                        let count = match serving.take() {
                            Some(sv) => sv.finish().await,
                            None => 0,
                        };
                        tracing::debug!(session = s.id, request = rid, streams = count, "PUBLISH_DONE to the subscriber");
                        let (code, text) = match reason {
                            Ended::Upstream(c) => (PublishDoneCode(c), "track ended upstream"),
                            Ended::PublisherGone => (PublishDoneCode::TRACK_ENDED, "publisher went away"),
                            Ended::GoingAway => (PublishDoneCode::GOING_AWAY, "relay going away"),
                        };
                        send.send(PublishDone { status_code: code, stream_count: count + fill_streams, error_reason: ReasonPhrase::new(text.to_owned()) }).await?;
                        send.finish()?;
                        return Ok(());
                    }
                    Some(_) => {}
                    None => return Ok(()),
                },
                done = async { match serving.as_mut() { Some(sv) => sv.done().await, None => std::future::pending().await } } => {
                    // The fan-out ended by itself (TOO_FAR_BEHIND, range complete, track ended).
                    let (code, text, count) = done;
                    tracing::debug!(session = s.id, request = rid, code = code.0, streams = count, "subscription ended: PUBLISH_DONE to the subscriber");
                    serving = None;
                    send.send(PublishDone { status_code: code, stream_count: count + fill_streams, error_reason: ReasonPhrase::new(text.to_owned()) }).await?;
                    send.finish()?;
                    return Ok(());
                }
                msg = next_message(&mut inbound, s) => match msg {
                    None => return Ok(()), // FIN or reset: unsubscribe
                    Some(Message::RequestUpdate(u)) => {
                        if let Some(sv) = serving.as_ref() {
                            sv.update(&u.parameters);
                        }
                        let ok = RequestOk { parameters: Parameters::new(), track_properties: Default::default() };
                        send.send(ok).await?;
                    }
                    Some(other) => {
                        s.violation(Code::PROTOCOL_VIOLATION, &format!("unexpected {} on a SUBSCRIBE stream", other.name()));
                        return Ok(());
                    }
                },
            }
        }
    }
    .await;
    if let Some(sv) = serving {
        sv.stop();
    }
    s.remove_subscription(rid);
    s.auth.markings.remove(rid);
    drop(marked);
    hub.on_loop(move |l, now| {
        l.remove_request(sid, rid);
        l.router.handle_unsubscribe(sid, rid, now);
    })
    .await;
    result
}

/// TRACK_STATUS: answered from the cache, else asked of the track's upstream, else
/// DOES_NOT_EXIST.
async fn track_status(
    hub: &Arc<Hub>,
    s: &Arc<SessionShared>,
    m: tern_moq::message::TrackStatus,
    mut send: RequestStream,
) -> super::error::Result<()> {
    let name = track_name(&m.track_namespace, &m.track_name);
    let (handle, upstream) = hub.locate(&name).await;
    let cached = handle.map(|t| t.consumer().largest());
    let upstream = upstream
        .filter(|id| *id != s.id)
        .and_then(|id| hub.session(id));
    let reply: Message = match (cached, upstream) {
        (Some(largest), _) => {
            let mut params = Parameters::new();
            if let Some(l) = largest.filter(|_| s.sends_largest_object()) {
                params.set_largest_object(l);
            }
            RequestOk {
                parameters: params,
                track_properties: Default::default(),
            }
            .into()
        }
        (None, Some(up)) => 'forward: {
            let Some(_slot) = up.forward_slot().await else {
                break 'forward error(
                    RequestErrorCode::EXCESSIVE_LOAD,
                    "this relay's upstream is busy with other requests",
                )
                .into();
            };
            let (mut usend, mut inbound) = up
                .request(|request_id| {
                    tern_moq::message::TrackStatus {
                        request_id,
                        parameters: Parameters::new(),
                        ..m
                    }
                    .into()
                })
                .await?;
            let answer =
                tokio::time::timeout(up.timeouts.peer_stall, next_message(&mut inbound, &up)).await;
            let _ = usend.finish();
            match answer {
                Ok(Some(reply @ (Message::RequestOk(_) | Message::RequestError(_)))) => reply,
                _ => error(
                    RequestErrorCode::TIMEOUT,
                    "upstream did not answer TRACK_STATUS",
                )
                .into(),
            }
        }
        (None, None) => refusal(Refusal::DoesNotExist).into(),
    };
    send.send(reply).await?;
    send.finish()?;
    Ok(())
}
