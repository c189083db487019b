//! The relay as a subscriber: SUBSCRIBE sent to a publisher session (one per track), and
//! PUBLISH received from one.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use tern_moq::message::codes::{
    PublishDoneCode, RequestErrorCode, SessionError as Code, StreamResetCode,
};
use tern_moq::message::{Parameters, Publish, RequestOk, Subscribe, SubscriptionFilter};
use tern_moq::{Message, TrackNamespace};
use tern_peer::request::RequestStream;

use crate::core::router::{Command, TrackId};
use crate::core::types::{Filter, Location, TrackName};

use super::hub::Hub;
use super::session::{Inbound, SessionShared};
use super::wire::{next_message, track_name};
use tern_model::TrackProducer;

/// How an upstream subscription ended.
enum End {
    /// We cancelled it, or the router was told already (a refusal).
    Quiet,
    /// PUBLISH_DONE with this status.
    Done(u64),
    /// Its stream or session went away without PUBLISH_DONE.
    Lost,
}

/// Subscribe upstream for `track` at publisher session `s`; `resume` when the track moves here
/// from another upstream (the gap is backfilled first).
pub fn spawn_subscribe(
    hub: Arc<Hub>,
    s: Arc<SessionShared>,
    track: TrackId,
    name: TrackName,
    filter: Filter,
    resume: bool,
) {
    let (cancel_tx, cancel_rx) = oneshot::channel();
    s.add_upstream(track, cancel_tx);
    tokio::spawn(async move {
        let mut alias = None;
        let result = subscribe(
            &hub, &s, track, &name, filter, resume, cancel_rx, &mut alias,
        )
        .await;
        if let Some(a) = alias {
            s.remove_alias(a);
        }
        metrics::gauge!(crate::metrics::UPSTREAM_SUBSCRIPTIONS).decrement(1.0);
        let sid = s.id;
        // How it ended for the router: with PUBLISH_DONE's status, or lost (`None`).
        let ended = match result {
            Ok(End::Done(status)) => Some(Some(status)),
            Ok(End::Quiet) => None,
            Ok(End::Lost) => {
                tracing::info!(session = sid, %name, "upstream subscription lost");
                Some(None)
            }
            Err(e) => {
                tracing::info!(session = sid, %name, "upstream subscription lost: {e:#}");
                Some(None)
            }
        };
        if let Some(status) = ended {
            hub.apply(move |r, now| r.handle_upstream_ended(track, sid, status, now))
                .await;
        }
    });
}

/// A new feed of the track began (see [`crate::core::track::Track::new_feed`]): log and count a
/// restarted group numbering. Returns whether it restarted.
fn restart_check(handle: &TrackProducer, name: &TrackName, largest: Option<Location>) -> bool {
    let (before, restarted) = handle.update(|t| (t.received_largest(), t.new_feed(largest)));
    if restarted {
        metrics::counter!(crate::metrics::TRACK_RESTARTS).increment(1);
        tracing::info!(%name, ?before, ?largest, "the publisher restarted the track's group numbering: its viewers are told to subscribe again");
    }
    restarted
}

/// Fill the gap between what `handle` cached and the new upstream's Largest Object `upto`.
async fn resume_gap(
    s: &Arc<SessionShared>,
    handle: &TrackProducer,
    name: &TrackName,
    upto: Location,
) {
    let Some(after) = handle.consumer().read(|t| t.received_largest()) else {
        return; // nothing cached: nothing to continue from
    };
    if upto <= after {
        return;
    }
    match super::backfill::backfill(s, handle, after, upto).await {
        Ok(n) => {
            tracing::info!(session = s.id, %name, ?after, ?upto, objects = n, "backfilled the gap from the new upstream");
            super::backfill::finish_when_passed(handle.clone(), upto, s.timeouts.group_pass);
        }
        Err(e) => tracing::warn!(session = s.id, %name, ?after, ?upto, "gap not backfilled: {e:#}"),
    }
}

#[allow(clippy::too_many_arguments)]
async fn subscribe(
    hub: &Arc<Hub>,
    s: &Arc<SessionShared>,
    track: TrackId,
    name: &TrackName,
    filter: Filter,
    resume: bool,
    mut cancel: oneshot::Receiver<()>,
    alias: &mut Option<u64>,
) -> super::error::Result<End> {
    let mut params = Parameters::new();
    params.set_subscription_filter(&SubscriptionFilter::from(filter));
    // A publisher that gives no stream credit, reads nothing or never answers holds the track
    // (and every subscriber waiting on it) only until the deadline.
    let deadline = tokio::time::Instant::now() + hub.settings.upstream_answer_timeout;
    let open = async {
        let sent = s
            .request(|request_id| {
                Subscribe {
                    request_id,
                    track_namespace: TrackNamespace::new(name.namespace.clone()),
                    track_name: name.name.clone(),
                    parameters: params,
                }
                .into()
            })
            .await?;
        Ok::<_, super::error::NodeError>(sent)
    };
    let (mut send, mut inbound) = tokio::select! {
        _ = &mut cancel => return Ok(End::Quiet),
        opened = tokio::time::timeout_at(deadline, open) => match opened {
            Ok(opened) => opened?,
            Err(_) => return Ok(unanswered(hub, s, track, name).await),
        },
    };
    loop {
        tokio::select! {
            _ = &mut cancel => {
                inbound.stop(StreamResetCode::CANCELLED);
                let _ = send.finish();
                return Ok(End::Quiet);
            }
            () = tokio::time::sleep_until(deadline), if alias.is_none() => {
                inbound.stop(StreamResetCode::CANCELLED);
                let _ = send.finish();
                return Ok(unanswered(hub, s, track, name).await);
            }
            msg = next_message(&mut inbound, s) => match msg {
                Some(Message::SubscribeOk(ok)) if alias.is_none() => {
                    let Some(handle) = hub.track(track) else { return Ok(End::Quiet) };
                    let largest = ok.parameters.largest_object();
                    let restarted = restart_check(&handle, name, largest);
                    // The alias first, its data held (unread, within QUIC flow control) until
                    // the gap before it is backfilled and the waiting subscribers are accepted
                    // (their readers start at the current end of the cache): however long the
                    // backfill takes, no live object is refused for an unknown alias.
                    let Some(hold) = s.add_alias_held(ok.track_alias, handle.clone()) else {
                        s.violation(Code::DUPLICATE_TRACK_ALIAS, "track alias already in use");
                        return Ok(End::Lost);
                    };
                    *alias = Some(ok.track_alias);
                    if let Some(l) = largest {
                        if resume && !restarted {
                            resume_gap(s, &handle, name, l).await;
                        }
                        handle.update(|t| t.note_upstream_largest(l));
                    }
                    let sid = s.id;
                    hub.apply(move |r, _| r.handle_upstream_ok(track, sid)).await;
                    drop(hold);
                }
                Some(Message::RequestError(e)) if alias.is_none() => {
                    tracing::info!(%name, code = e.error_code.0, reason = %e.error_reason.to_string_lossy(), "upstream refused");
                    let (sid, code) = (s.id, e.error_code.0);
                    hub.apply(move |r, now| r.handle_upstream_refused(track, sid, code, now))
                        .await;
                    return Ok(End::Quiet);
                }
                Some(Message::PublishDone(d)) => {
                    if d.status_code != tern_moq::message::codes::PublishDoneCode::GOING_AWAY {
                        let sid = s.id;
                        hub.apply(move |r, _| r.handle_upstream_done_received(track, sid))
                            .await;
                    }
                    tokio::time::sleep(s.timeouts.done_linger).await;
                    return Ok(End::Done(d.status_code.0));
                }
                Some(Message::RequestOk(_)) => {} // answer to a REQUEST_UPDATE
                Some(Message::PublishStateNotify(n)) => {
                    tracing::debug!(%name, parameters = ?n.parameters, "PUBLISH_STATE_NOTIFY from upstream");
                }
                Some(other) => {
                    s.violation(Code::PROTOCOL_VIOLATION, &format!("unexpected {} on a SUBSCRIBE stream", other.name()));
                    return Ok(End::Lost);
                }
                None => return Ok(End::Lost),
            },
        }
    }
}

/// The publisher on `s` did not answer the SUBSCRIBE for `track` in time: as if it had
/// refused with TIMEOUT (the track moves on, or its waiting subscribers are refused).
async fn unanswered(
    hub: &Arc<Hub>,
    s: &Arc<SessionShared>,
    track: TrackId,
    name: &TrackName,
) -> End {
    let timeout = hub.settings.upstream_answer_timeout;
    tracing::info!(session = s.id, %name, ?timeout, "upstream did not answer SUBSCRIBE in time");
    let sid = s.id;
    let code = RequestErrorCode::TIMEOUT.0;
    hub.apply(move |r, now| r.handle_upstream_refused(track, sid, code, now))
        .await;
    End::Quiet
}

/// A publisher pushes a track with PUBLISH.
pub async fn publish(
    hub: &Arc<Hub>,
    s: &Arc<SessionShared>,
    m: Publish,
    mut send: RequestStream,
    mut inbound: Inbound,
) -> super::error::Result<()> {
    let rid = m.request_id;
    let name = track_name(&m.track_namespace, &m.track_name);
    let (tx, mut rx) = mpsc::channel(8);
    let (sid, n) = (s.id, name.clone());
    let granted = hub
        .on_loop(move |l, now| {
            l.add_request(sid, rid, tx, None);
            let track = l.router.handle_publish(sid, rid, n.clone(), now)?;
            Some(l.track_or_insert(track, &n))
        })
        .await;
    let Some(handle) = granted else {
        // Refused: the router said why in a command to this request, which the node loop
        // carries out next.
        let answer = tokio::time::timeout(hub.settings.upstream_answer_timeout, rx.recv()).await;
        hub.on_loop(move |l, _| l.remove_request(sid, rid)).await;
        let reason = match answer.ok().flatten().map(|c| c.command) {
            Some(Command::Refuse { reason, .. }) => reason,
            _ => crate::core::router::Refusal::Unauthorized,
        };
        send.send(super::wire::refusal(reason)).await?;
        let _ = send.finish();
        return Ok(());
    };
    // A local publisher this one took the track over from writes no more.
    drop(handle.claim());
    // A PUBLISH of a track the relay already has takes it over (a restarted encoder, a backup
    // origin): whatever end its predecessor put in the cache does not end the track now, and a
    // numbering that starts again ends the old one's subscriptions.
    let largest = m.parameters.largest_object();
    restart_check(&handle, &name, largest);
    if let Some(l) = largest {
        handle.update(|t| t.note_upstream_largest(l));
    }
    if !s.add_alias(m.track_alias, handle) {
        hub.on_loop(move |l, _| l.remove_request(sid, rid)).await;
        s.violation(Code::DUPLICATE_TRACK_ALIAS, "PUBLISH reused a track alias");
        return Ok(());
    }
    // `Some(status)`: PUBLISH_DONE; `None`: the publisher dropped without one.
    let result: super::error::Result<Option<u64>> = async {
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd.map(|c: super::hub::ToRequest| c.command) {
                    Some(Command::Ok { .. }) => {
                        let mut params = Parameters::new();
                        params.set_forward(true);
                        send.send(RequestOk { parameters: params, track_properties: Default::default() }).await?;
                    }
                    Some(_) => {}
                    None => return Ok(Some(PublishDoneCode::TRACK_ENDED.0)),
                },
                msg = next_message(&mut inbound, s) => match msg {
                    Some(Message::PublishDone(d)) => {
                        let sid = s.id;
                        tracing::debug!(session = sid, request = rid, %name, status = d.status_code.0, "PUBLISH_DONE from the publisher");
                        hub.apply(move |r, _| r.handle_publish_done_received(sid, rid)).await;
                        tokio::time::sleep(s.timeouts.done_linger).await;
                        return Ok(Some(d.status_code.0));
                    }
                    Some(Message::RequestUpdate(_)) => {
                        send.send(RequestOk { parameters: Parameters::new(), track_properties: Default::default() }).await?;
                    }
                    Some(Message::PublishStateNotify(n)) => {
                        tracing::debug!(session = s.id, request = rid, %name, parameters = ?n.parameters, "PUBLISH_STATE_NOTIFY from the publisher");
                    }
                    Some(other) => {
                        s.violation(Code::PROTOCOL_VIOLATION, &format!("unexpected {} on a PUBLISH stream", other.name()));
                        return Ok(Some(PublishDoneCode::TRACK_ENDED.0));
                    }
                    None => return Ok(None),
                },
            }
        }
    }
    .await;
    s.remove_alias(m.track_alias);
    let _ = send.finish();
    let done = result.unwrap_or(None);
    if done.is_none() {
        tracing::info!(session = sid, %name, "publisher dropped without PUBLISH_DONE");
    }
    hub.on_loop(move |l, now| {
        l.remove_request(sid, rid);
        match done {
            Some(status) => l.router.handle_publish_done(sid, rid, status),
            None => l.router.handle_publish_lost(sid, rid, now),
        }
    })
    .await;
    Ok(())
}
