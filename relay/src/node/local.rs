//! The node's side of the local API ([`tern_model::local`]): publishers and readers in this
//! process, judged and routed as MoQ peers are. Each local publication and each local reading
//! is a session of its own to the router (a session ID with its publisher identity, requests,
//! limits), with no stream behind it: the router's answers to it come back through the hub's
//! request inboxes, and the data goes straight into and out of the tracks' caches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use tern_model::local::{
    BroadcastInfo, Call, Calls, Credentials, Input, ReadGrant, ReadOptions, Refused, RefusedKind,
    Release, Start, TrackGrant,
};
use tern_moq::message::codes::PublishDoneCode;

use crate::core::cache::LiveBudget;
use crate::core::router::{Class, Command, Publisher, Refusal, RequestId, SessionId};
use crate::core::types::{Filter, Namespace, TrackName};

use super::hub::{Hub, ToRequest};

/// A broadcast published through the local API.
#[derive(Debug)]
struct Publication {
    namespace: Namespace,
    /// Whether a plugin judged the publisher (its tracks go through the publish phase too).
    authorised: bool,
    credentials: Credentials,
    /// The PUBLISH requests of its tracks.
    tracks: Vec<RequestId>,
    live: Vec<Arc<LiveBudget>>,
}

/// The local API's publications, owned by its driver; the hub knows only their session IDs
/// (see [`Hub::mark_local`]).
#[derive(Debug, Default)]
struct Publications(Mutex<HashMap<SessionId, Publication>>);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The request ID of a publication's PUBLISH_NAMESPACE and of a reading's SUBSCRIBE.
const FIRST: RequestId = 0;

/// Answer the local API's calls until every handle of it is gone.
pub fn spawn(hub: Arc<Hub>, mut calls: Calls) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let pubs = Arc::new(Publications::default());
        while let Some(input) = calls.next().await {
            match input {
                Input::Call(call) => {
                    // Calls wait on the plugin and on upstreams: each on its own, so that one
                    // slow answer holds up nobody else's.
                    tokio::spawn(answer(hub.clone(), pubs.clone(), call));
                }
                Input::Release(release) => self::release(&hub, &pubs, release),
                _ => {}
            }
        }
    })
}

async fn answer(hub: Arc<Hub>, pubs: Arc<Publications>, call: Call) {
    match call {
        Call::Publish {
            namespace,
            credentials,
            reply,
        } => {
            let result = publish(&hub, &pubs, namespace, credentials).await;
            if let Err(Ok(id)) = reply.send(result) {
                // The caller went away before the answer: nobody holds the publication.
                release(&hub, &pubs, Release::Publication { id, finished: true });
            }
        }
        Call::PublishTrack {
            publication,
            name,
            reply,
        } => {
            let _ = reply.send(publish_track(&hub, &pubs, publication, name).await);
        }
        Call::Subscribe {
            track,
            credentials,
            options,
            reply,
        } => {
            let result = subscribe(&hub, track, credentials, options).await;
            if let Err(Ok(grant)) = reply.send(result) {
                release(&hub, &pubs, Release::Reading { id: grant.id });
            }
        }
        Call::Broadcast {
            namespace,
            credentials,
            reply,
        } => {
            let _ = reply.send(broadcast(&hub, namespace, credentials).await);
        }
        _ => {}
    }
}

/// The refusal a local caller gets for the router's `reason`, in the words a MoQ peer gets.
fn refused(reason: Refusal) -> Refused {
    let kind = match reason {
        Refusal::DoesNotExist | Refusal::Upstream(_) => RefusedKind::NotFound,
        Refusal::Timeout => RefusedKind::Timeout,
        Refusal::ExcessiveLoad => RefusedKind::Overloaded,
        Refusal::Unauthorized | Refusal::NotOpen => RefusedKind::Unauthorized,
        Refusal::Published { .. } => RefusedKind::Conflict,
        _ => RefusedKind::Invalid,
    };
    let wire = super::request::refusal(reason);
    Refused::new(kind, wire.error_reason.to_string_lossy())
}

/// The identity a publisher judged by `credentials` publishes under, and whether it may
/// publish although publishing is not open (a plugin authorised it, or it is on this host).
async fn publisher(
    hub: &Hub,
    credentials: &Credentials,
    namespace: &Namespace,
) -> Result<(Publisher, bool), Refused> {
    if credentials.member {
        let publisher = Publisher {
            class: Class::Member,
            identity: Bytes::from(format!("in-process {}", credentials.via)),
        };
        return Ok((publisher, true));
    }
    if let Some(plugin) = &hub.settings.plugin {
        let decision =
            super::plugin::judge_local(plugin, credentials, true, namespace, None).await?;
        let publisher = Publisher {
            class: Class::Authorised,
            identity: Bytes::from(decision.subject),
        };
        return Ok((publisher, true));
    }
    let ip = credentials.peer.ip();
    let publisher = Publisher {
        class: Class::Anonymous,
        identity: Bytes::from(tern_quic::session_source(ip).to_string()),
    };
    Ok((publisher, ip.is_loopback()))
}

/// Run `f` on the router as request `request` of `session`, and return the first answer the
/// router gave that request, if it gave one at once.
fn ask<R>(
    hub: &Arc<Hub>,
    session: SessionId,
    request: RequestId,
    f: impl FnOnce(&mut crate::core::router::Router, Instant) -> R,
) -> (R, mpsc::Receiver<ToRequest>) {
    let (tx, rx) = mpsc::channel(8);
    hub.add_request(session, request, tx);
    let out = hub.apply(f);
    (out, rx)
}

/// [`ask`] for a request the router answers at once (PUBLISH_NAMESPACE, PUBLISH): its answer,
/// with the request forgotten again.
fn ask_now<R>(
    hub: &Arc<Hub>,
    session: SessionId,
    request: RequestId,
    f: impl FnOnce(&mut crate::core::router::Router, Instant) -> R,
) -> (R, Option<Command>) {
    let (out, mut rx) = ask(hub, session, request, f);
    hub.remove_request(session, request);
    (out, rx.try_recv().ok().map(|c| c.command))
}

/// The refusal for a request the router did not accept: its own reason, or (when it gave
/// none) that `what` was not accepted.
fn not_accepted(answer: Option<Command>, what: &str) -> Refused {
    match answer {
        Some(Command::Refuse { reason, .. }) => refused(reason),
        _ => Refused::new(RefusedKind::Invalid, format!("{what} was not accepted")),
    }
}

async fn publish(
    hub: &Arc<Hub>,
    pubs: &Publications,
    namespace: Namespace,
    credentials: Credentials,
) -> Result<u64, Refused> {
    let (who, vouched) = publisher(hub, &credentials, &namespace).await?;
    let authorised = who.class == Class::Authorised;
    let sid = hub.next_session_id();
    // A member's objects are charged to the relay's budget only, anyone else's to its own
    // share too, as for a MoQ session.
    let mut live = vec![hub.live.clone()];
    if !credentials.member {
        live.push(Arc::new(LiveBudget::new(
            hub.settings.cache.max_live_per_session,
        )));
    }
    // Known before it is announced: the announcement may meet subscribers waiting for it at
    // once, and their tracks wait for this publisher (see `Hub::mark_local`).
    hub.mark_local(sid, true);
    lock(&pubs.0).insert(
        sid,
        Publication {
            namespace: namespace.clone(),
            authorised,
            credentials: credentials.clone(),
            tracks: Vec::new(),
            live,
        },
    );
    let ns = namespace.clone();
    let member = who.class == Class::Member;
    let (_, answer) = ask_now(hub, sid, FIRST, |r, now| {
        if member {
            r.handle_member(sid);
        }
        r.handle_identity(sid, who);
        if vouched {
            r.handle_vouched(sid);
        }
        r.handle_publish_namespace(sid, FIRST, ns, Vec::new(), now)
    });
    if !matches!(answer, Some(Command::Ok { .. })) {
        lock(&pubs.0).remove(&sid);
        hub.mark_local(sid, false);
        hub.apply(|r, now| r.handle_session_closed(sid, now));
        return Err(not_accepted(answer, "the namespace"));
    }
    tracing::info!(
        session = sid,
        via = credentials.via,
        peer = %credentials.peer,
        namespace = tern_model::local::path(&namespace),
        "local publisher announced a broadcast"
    );
    Ok(sid)
}

async fn publish_track(
    hub: &Arc<Hub>,
    pubs: &Publications,
    publication: SessionId,
    name: Bytes,
) -> Result<TrackGrant, Refused> {
    let gone = || Refused::new(RefusedKind::Invalid, "the broadcast was finished");
    let (namespace, authorised, credentials, live) = {
        let all = lock(&pubs.0);
        let p = all.get(&publication).ok_or_else(gone)?;
        (
            p.namespace.clone(),
            p.authorised,
            p.credentials.clone(),
            p.live.clone(),
        )
    };
    if authorised && let Some(plugin) = &hub.settings.plugin {
        super::plugin::judge_local(plugin, &credentials, true, &namespace, Some(&name)).await?;
    }
    let request = {
        let mut all = lock(&pubs.0);
        let p = all.get_mut(&publication).ok_or_else(gone)?;
        // As many tracks as a MoQ session may have requests open.
        let max = hub.settings.max_requests_per_session;
        if p.tracks.len() >= max {
            return Err(Refused::new(
                RefusedKind::Overloaded,
                format!(
                    "a broadcast publishes at most {max} tracks (limits.max_requests_per_session)"
                ),
            ));
        }
        let request = FIRST + 1 + p.tracks.len() as RequestId;
        p.tracks.push(request);
        request
    };
    let track_name = TrackName { namespace, name };
    let tn = track_name.clone();
    let (track, answer) = ask_now(hub, publication, request, |r, now| {
        r.handle_publish(publication, request, tn, now)
    });
    let Some(track) = track else {
        return Err(not_accepted(answer, "the track"));
    };
    if !lock(&pubs.0).contains_key(&publication) {
        // The broadcast was dropped while this track was being granted (its caller gave up
        // waiting): the track goes with it.
        hub.apply(|r, now| {
            r.handle_publish_done(publication, request, PublishDoneCode::TRACK_ENDED.0);
            r.handle_session_closed(publication, now);
        });
        return Err(gone());
    }
    let producer = hub.track_or_insert(track, &track_name);
    // A publisher that comes back (or takes the track over) carries the track on: an end its
    // predecessor put in the cache no longer holds.
    producer.update(|t| t.new_feed(None));
    Ok(TrackGrant {
        producer: producer.claim(),
        live,
        stats: hub.local_appends.clone(),
    })
}

async fn subscribe(
    hub: &Arc<Hub>,
    mut track: TrackName,
    credentials: Credentials,
    options: ReadOptions,
) -> Result<ReadGrant, Refused> {
    if let Some(plugin) = &hub.settings.plugin {
        let decision = super::plugin::judge_local(
            plugin,
            &credentials,
            false,
            &track.namespace,
            Some(&track.name),
        )
        .await?;
        if let Some(other) = decision.track {
            track.name = other;
        }
    }
    let filter = match options.start {
        Start::CurrentGroup => Filter::LargestObject,
        _ => Filter::NextGroupStart,
    };
    let sid = hub.next_session_id();
    let (_, mut rx) = ask(hub, sid, FIRST, |r, now| {
        r.handle_subscribe(sid, FIRST, track, filter, options.rendezvous, now)
    });
    // The rendezvous, then the upstream's answer (each bounded by the router's timers).
    let wait = options.rendezvous + hub.settings.upstream_answer_timeout + Duration::from_secs(1);
    let answer = tokio::time::timeout(wait, rx.recv()).await;
    hub.remove_request(sid, FIRST);
    match answer {
        Ok(Some(ToRequest {
            command: Command::SubscribeOk { .. },
            accepted: Some((largest, subscription, _)),
        })) => Ok(ReadGrant {
            id: sid,
            largest,
            subscription,
        }),
        other => {
            hub.apply(|r, now| {
                r.handle_unsubscribe(sid, FIRST, now);
                r.handle_session_closed(sid, now);
            });
            Err(match other {
                Ok(Some(ToRequest {
                    command: Command::Refuse { reason, .. },
                    ..
                })) => refused(reason),
                Err(_) => {
                    Refused::new(RefusedKind::Timeout, "no answer from the track's publisher")
                }
                _ => Refused::new(RefusedKind::NotFound, "the track ended"),
            })
        }
    }
}

async fn broadcast(
    hub: &Arc<Hub>,
    namespace: Namespace,
    credentials: Credentials,
) -> Result<BroadcastInfo, Refused> {
    if let Some(plugin) = &hub.settings.plugin {
        super::plugin::judge_local(plugin, &credentials, false, &namespace, None).await?;
    }
    let (reachable, tracks) =
        hub.with_router(|r| (r.is_reachable(&namespace), r.tracks_of(&namespace)));
    if !reachable {
        return Err(Refused::new(
            RefusedKind::NotFound,
            "no publisher and no upstream announced this broadcast",
        ));
    }
    Ok(BroadcastInfo { namespace, tracks })
}

/// A handle was dropped: end what it held on the node.
fn release(hub: &Arc<Hub>, pubs: &Publications, release: Release) {
    match release {
        Release::Publication { id, finished } => {
            let Some(p) = lock(&pubs.0).remove(&id) else {
                return;
            };
            hub.mark_local(id, false);
            tracing::info!(
                session = id,
                via = p.credentials.via,
                finished,
                "local publisher left"
            );
            hub.apply(|r, now| {
                if finished {
                    for &request in &p.tracks {
                        r.handle_publish_done(id, request, PublishDoneCode::TRACK_ENDED.0);
                    }
                }
                // Not finished: its tracks are lost, and linger for a publisher coming back.
                r.handle_session_closed(id, now);
            });
        }
        Release::Reading { id } => hub.apply(|r, now| {
            r.handle_unsubscribe(id, FIRST, now);
            r.handle_session_closed(id, now);
        }),
        _ => {}
    }
}
