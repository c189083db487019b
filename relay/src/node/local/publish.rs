//! Local publishers: who they are (trust class and identity), their broadcast's
//! PUBLISH_NAMESPACE and their tracks' PUBLISHes, and what is left when one goes away.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use tern_model::local::{Credentials, Refused, RefusedKind, TrackGrant, Vouched};
use tern_moq::message::codes::PublishDoneCode;

use crate::core::cache::LiveBudget;
use crate::core::router::{Class, Command, Publisher, RequestId, SessionId};
use crate::core::types::{Namespace, TrackName};
use crate::node::hub::Hub;

use super::ask::{FIRST, ask_now, not_accepted};

/// A broadcast published through the local API.
#[derive(Debug)]
pub(super) struct Publication {
    namespace: Namespace,
    /// Whether a plugin judged the publisher (its tracks go through the publish phase too).
    authorised: bool,
    credentials: Credentials,
    /// The PUBLISH requests of its tracks.
    tracks: Vec<RequestId>,
    live: Vec<Arc<LiveBudget>>,
}

/// The local API's publications, owned by its driver; the hub knows only their session IDs
/// (see [`OnLoop::mark_local`](crate::node::hub::OnLoop::mark_local)).
#[derive(Debug, Default)]
pub(super) struct Publications(Mutex<HashMap<SessionId, Publication>>);

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The identity a publisher judged by `credentials` (or `vouched` for by its front-end)
/// publishes under, and whether it may publish although publishing is not open (a plugin or
/// its front-end authorised it, or it is on this host).
pub(super) async fn publisher(
    hub: &Hub,
    credentials: &Credentials,
    vouched: Option<&Vouched>,
    namespace: &Namespace,
) -> Result<(Publisher, bool), Refused> {
    if credentials.member {
        let publisher = Publisher {
            class: Class::Member,
            identity: Bytes::from(format!("in-process {}", credentials.via)),
        };
        return Ok((publisher, true));
    }
    if let Some(Vouched(identity)) = vouched {
        // Apart from the plugin's subjects: a subject cannot pass for a stream key.
        let publisher = Publisher {
            class: Class::Authorised,
            identity: Bytes::from(format!("vouched\0{identity}")),
        };
        return Ok((publisher, true));
    }
    if let Some(plugin) = &hub.settings.plugin {
        let decision =
            crate::node::plugin::judge_local(plugin, credentials, true, namespace, None).await?;
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

pub(super) async fn publish(
    hub: &Arc<Hub>,
    pubs: &Publications,
    namespace: Namespace,
    credentials: Credentials,
    front_end: Option<Vouched>,
) -> Result<u64, Refused> {
    let (who, vouched) = publisher(hub, &credentials, front_end.as_ref(), &namespace).await?;
    // Whether the plugin judges its tracks too (not when the front-end vouched for it).
    let authorised = who.class == Class::Authorised && front_end.is_none();
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
    // once, and their tracks wait for this publisher (see `OnLoop::mark_local`).
    hub.on_loop(move |l, _| l.mark_local(sid, true)).await;
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
    let (_, answer) = ask_now(
        hub,
        sid,
        FIRST,
        move |r, now| {
            if member {
                r.handle_member(sid);
            }
            r.handle_identity(sid, who);
            if vouched {
                r.handle_vouched(sid);
            }
            r.handle_publish_namespace(sid, FIRST, ns, Vec::new(), now)
        },
        |_| true,
    )
    .await;
    if !matches!(answer, Some(Command::Ok { .. })) {
        lock(&pubs.0).remove(&sid);
        hub.on_loop(move |l, now| {
            l.mark_local(sid, false);
            l.router.handle_session_closed(sid, now);
        })
        .await;
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

pub(super) async fn publish_track(
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
        crate::node::plugin::judge_local(plugin, &credentials, true, &namespace, Some(&name))
            .await?;
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
    let (track, answer) = ask_now(
        hub,
        publication,
        request,
        move |r, now| r.handle_publish(publication, request, tn, now),
        // Only a refusal's reason is wanted.
        Option::is_none,
    )
    .await;
    let Some(track) = track else {
        return Err(not_accepted(answer, "the track"));
    };
    if !lock(&pubs.0).contains_key(&publication) {
        // The broadcast was dropped while this track was being granted (its caller gave up
        // waiting): the track goes with it.
        hub.apply(move |r, now| {
            r.handle_publish_done(publication, request, PublishDoneCode::TRACK_ENDED.0);
            r.handle_session_closed(publication, now);
        })
        .await;
        return Err(gone());
    }
    // A track the router ended for this one (its predecessor's, unwatched) is closed before
    // this publisher starts: the one it replaced learns it at its next append.
    hub.settled().await;
    let producer = hub
        .on_loop(move |l, _| l.track_or_insert(track, &track_name))
        .await;
    // A publisher that comes back (or takes the track over) carries the track on: an end its
    // predecessor put in the cache no longer holds.
    producer.update(|t| t.new_feed(None));
    Ok(TrackGrant {
        producer: producer.claim(),
        live,
        stats: hub.local_appends.clone(),
    })
}

/// A publication's handle was dropped: `finished` when its publisher said so (its tracks end
/// now), else its tracks are lost and linger for a publisher coming back.
pub(super) fn end(hub: &Arc<Hub>, pubs: &Publications, id: SessionId, finished: bool) {
    let Some(p) = lock(&pubs.0).remove(&id) else {
        return;
    };
    tracing::info!(
        session = id,
        via = p.credentials.via,
        finished,
        "local publisher left"
    );
    hub.post(move |l, now| {
        l.mark_local(id, false);
        if finished {
            for &request in &p.tracks {
                l.router
                    .handle_publish_done(id, request, PublishDoneCode::TRACK_ENDED.0);
            }
        }
        l.router.handle_session_closed(id, now);
    });
}
