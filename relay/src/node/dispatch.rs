//! The node loop: the one task that carries out what the router decides. Tasks only give the
//! router its inputs ([`Hub::apply`]: a request, a session's end, an upstream's answer); this
//! loop takes the router's commands in the router's order and turns each into its effect
//! (an upstream SUBSCRIBE, a PUBLISH offer, an announcement on a link, an answer for a request
//! task, a listing's change), drops the tracks the router forgot, runs the router's timers and
//! publishes its gauges. No task re-enters it, and what it starts never calls back into it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use tern_moq::message::codes::{RequestErrorCode, SessionError};

use crate::core::dispatch::{self, Effect, Presence};
use crate::core::router::{Command, RequestId, SessionId, TrackId};
use crate::core::types::Namespace;
use crate::metrics as m;

use super::hub::{Hub, ToRequest};
use super::session::wire_code;

/// How often the loop publishes its gauges when nothing wakes it sooner.
const REPORT_EVERY: Duration = Duration::from_millis(500);

/// Run the node loop until the node stops; `report` publishes the port's counters with the
/// node's gauges.
pub async fn run(hub: Arc<Hub>, report: impl Fn()) {
    let mut next_report = Instant::now() + REPORT_EVERY;
    loop {
        let now = Instant::now();
        let wake = hub
            .with_router(|r| r.poll_timeout())
            .map_or(next_report, |t| t.min(next_report));
        tokio::select! {
            () = hub.decided() => {}
            () = tokio::time::sleep(wake.saturating_duration_since(now)) => {}
        }
        let now = Instant::now();
        if hub
            .with_router(|r| r.poll_timeout())
            .is_some_and(|t| t <= now)
        {
            hub.apply(|r, now| r.handle_timeout(now));
        }
        carry_out(&hub);
        if now >= next_report {
            next_report = now + REPORT_EVERY;
            hub.report_cache();
            hub.report_local();
            hub.report_router();
            report();
        }
    }
}

/// Carry out every decision the router has made, including those its own effects led to.
fn carry_out(hub: &Arc<Hub>) {
    loop {
        let (commands, forgotten, inputs) = hub.decisions();
        if commands.is_empty() && forgotten.is_empty() {
            hub.carried_out(inputs);
            return;
        }
        for cmd in commands {
            effect(hub, cmd);
        }
        // Tracks the router forgot: drop their caches and end their readers.
        hub.forget_tracks(forgotten);
    }
}

/// One command's effect ([`crate::core::dispatch::effect`], the mapping the simulator uses too).
fn effect(hub: &Arc<Hub>, cmd: Command) {
    let presence = |session| {
        if hub.session(session).is_some() {
            Presence::Connected
        } else if hub.is_local_publication(session) {
            Presence::InProcess
        } else {
            Presence::Gone
        }
    };
    let Some(effect) = dispatch::effect(cmd, presence) else {
        return;
    };
    match effect {
        Effect::SubscribeUpstream {
            session,
            track,
            name,
            filter,
            resume,
        } => {
            let Some(s) = hub.session(session) else {
                return upstream_gone(hub, session, track);
            };
            hub.track_or_insert(track, &name);
            metrics::gauge!(m::UPSTREAM_SUBSCRIPTIONS).increment(1.0);
            super::upstream::spawn_subscribe(hub.clone(), s, track, name, filter, resume);
        }
        Effect::AwaitLocalTrack { session, track } => await_local_track(hub, session, track),
        Effect::UpstreamGone { session, track } => upstream_gone(hub, session, track),
        Effect::Offer { session, track } => {
            if let Some(s) = hub.session(session) {
                super::offer::spawn(hub.clone(), s, track);
            }
        }
        Effect::Announce {
            session,
            namespace,
            hops,
        } => {
            if let Some(s) = hub.session(session) {
                super::link::spawn_announce(s, namespace, hops);
            }
        }
        Effect::Withdraw { session, namespace } => {
            if let Some(s) = hub.session(session) {
                s.withdraw(&namespace);
            }
        }
        Effect::UnsubscribeUpstream { session, track } => {
            if let Some(s) = hub.session(session) {
                s.cancel_upstream(track);
            }
        }
        // A listing's changes, written by its request task at its own pace.
        Effect::Listing {
            session,
            request,
            namespace,
            announced,
        } => list(hub, session, request, namespace, announced),
        Effect::Answer(cmd) => answer(hub, cmd),
    }
}

/// The publisher of `track` is gone: the router hears it as a refusal with DOES_NOT_EXIST.
fn upstream_gone(hub: &Hub, session: SessionId, track: TrackId) {
    hub.apply(|r, now| {
        r.handle_upstream_refused(track, session, RequestErrorCode::DOES_NOT_EXIST.0, now)
    });
}

/// An answer to a request: to its task's channel. For SUBSCRIBE_OK, with the track's Largest
/// Object and the fan-out reader, resolved together (the reader starts where SUBSCRIBE_OK says).
fn answer(hub: &Arc<Hub>, cmd: Command) {
    let Some((session, request)) = cmd.answers() else {
        return;
    };
    let Some((tx, _)) = hub.inbox(session, request) else {
        return;
    };
    let accepted = match &cmd {
        Command::SubscribeOk { track, filter, .. } => hub
            .with_router(|r| r.track_name(*track).cloned())
            .map(|name| hub.track_or_insert(*track, &name))
            .map(|h| {
                let (largest, reader) =
                    h.consumer().subscribe(*filter, 128, hub.settings.lag, true);
                (largest, reader, h)
            }),
        _ => None,
    };
    // A request gets a few answers in its life (OK or an error, PUBLISH_DONE): a full channel
    // means its task is stuck. A closed one means it just ended.
    if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(ToRequest {
        command: cmd,
        accepted,
    }) && let Some(s) = hub.session(session)
    {
        tracing::warn!(session, request, "request backlog full; closing session");
        s.session.close(
            wire_code(SessionError::INTERNAL_ERROR),
            "control backlog exceeded",
        );
    }
}

fn list(hub: &Hub, session: SessionId, request: RequestId, namespace: Namespace, announced: bool) {
    if let Some((_, Some(listing))) = hub.inbox(session, request) {
        listing.set(namespace, announced);
    }
}

/// A subscriber asked for a track of the local publication `session` that its publisher has
/// not made (yet): the track waits for it as long as a MoQ publisher's answer may take, then
/// its subscribers are refused as by a publisher without the track.
fn await_local_track(hub: &Arc<Hub>, session: SessionId, track: TrackId) {
    let hub = hub.clone();
    let wait = hub.settings.upstream_answer_timeout;
    tokio::spawn(async move {
        tokio::time::sleep(wait).await;
        // A track its publisher made meanwhile is no longer waiting: the router ignores this
        // refusal for it.
        upstream_gone(&hub, session, track);
    });
}
