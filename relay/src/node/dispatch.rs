//! The node loop: the one task that owns the router and carries out what it decides, as
//! quinn's endpoint driver owns its endpoint. Tasks only give the router its inputs on a
//! bounded queue ([`Hub::on_loop`]: a request, a session's end, an upstream's answer) and wait
//! for the answer; this loop runs them in order, takes the router's commands in the router's
//! order and turns each into its effect
//! (an upstream SUBSCRIBE, a PUBLISH offer, an announcement on a link, an answer for a request
//! task, a listing's change), drops the tracks the router forgot, runs the router's timers and
//! publishes its gauges. No task re-enters it, and what it starts never calls back into it.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use tern_moq::message::codes::{RequestErrorCode, SessionError};

use crate::core::dispatch::{self, Effect, Presence};
use crate::core::router::{Command, RequestId, Router, SessionId, TrackId};
use crate::core::types::Namespace;
use crate::metrics as m;

use super::hub::{Hub, Inputs, Job, OnLoop, ToRequest};
use super::session::wire_code;

/// How often the loop publishes its gauges when nothing wakes it sooner.
const REPORT_EVERY: Duration = Duration::from_millis(500);

/// The most inputs the loop takes before it carries out what they decided.
const BATCH: usize = 256;

/// Run the node loop until the hub is dropped: it owns the router, takes its inputs in order
/// ([`Hub::on_loop`], [`Hub::post`]), carries out its decisions and runs its timers. `report`
/// publishes the port's counters with the node's gauges.
pub async fn run(hub: Weak<Hub>, inputs: Inputs, report: impl Fn()) {
    let Inputs {
        mut router,
        mut jobs,
        mut endings,
    } = inputs;
    let mut next_report = Instant::now() + REPORT_EVERY;
    let mut batch: Vec<Job> = Vec::with_capacity(BATCH);
    let mut ending: Option<Job> = None;
    let mut settle = Vec::new();
    loop {
        let now = Instant::now();
        let wake = router
            .poll_timeout()
            .map_or(next_report, |t| t.min(next_report));
        tokio::select! {
            biased;
            job = endings.recv() => ending = job,
            n = jobs.recv_many(&mut batch, BATCH) => if n == 0 {
                return; // the hub is gone
            },
            () = tokio::time::sleep(wake.saturating_duration_since(now)) => {}
        }
        let Some(hub) = hub.upgrade() else {
            return;
        };
        let now = Instant::now();
        let mut l = OnLoop {
            hub: &hub,
            router: &mut router,
            settle: &mut settle,
        };
        // Ends given before an input run before it (a task's own are, as it waited for its
        // inputs before).
        let mut endings_first = |l: &mut OnLoop<'_>| {
            for job in ending
                .take()
                .into_iter()
                .chain(std::iter::from_fn(|| endings.try_recv().ok()))
            {
                job(l, now);
            }
        };
        endings_first(&mut l);
        for job in batch.drain(..) {
            endings_first(&mut l);
            job(&mut l, now);
        }
        if l.router.poll_timeout().is_some_and(|t| t <= now) {
            l.router.handle_timeout(now);
        }
        carry_out(&mut l, now);
        for done in settle.drain(..) {
            let _ = done.send(());
        }
        if now >= next_report {
            next_report = now + REPORT_EVERY;
            hub.report_cache();
            hub.report_local();
            report_router(&router);
            report();
        }
    }
}

/// Publish the router's counters (failovers, held tracks, refusals, loops) as metrics.
fn report_router(router: &Router) {
    metrics::counter!(m::FAILOVERS).absolute(router.failovers());
    metrics::gauge!(m::TRACKS_HELD).set(router.lost_tracks() as f64);
    metrics::counter!(m::PUBLISHERS_REFUSED).absolute(router.untrusted_refusals());
    metrics::counter!(m::LOOPS).absolute(router.loops_detected());
}

/// Carry out every decision the router has made, including those its own effects led to.
fn carry_out(l: &mut OnLoop<'_>, now: Instant) {
    loop {
        let commands: Vec<Command> = std::iter::from_fn(|| l.router.poll_command()).collect();
        let forgotten: Vec<TrackId> = std::iter::from_fn(|| l.router.poll_forgotten()).collect();
        if commands.is_empty() && forgotten.is_empty() {
            return;
        }
        for cmd in commands {
            effect(l, cmd, now);
        }
        // Tracks the router forgot: drop their caches and end their readers.
        l.forget_tracks(forgotten);
    }
}

/// One command's effect ([`crate::core::dispatch::effect`], the mapping the simulator uses too).
fn effect(l: &mut OnLoop<'_>, cmd: Command, now: Instant) {
    let hub = l.hub;
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
                return upstream_gone(l, session, track, now);
            };
            l.track_or_insert(track, &name);
            metrics::gauge!(m::UPSTREAM_SUBSCRIPTIONS).increment(1.0);
            super::upstream::spawn_subscribe(hub.clone(), s, track, name, filter, resume);
        }
        Effect::AwaitLocalTrack { session, track } => await_local_track(hub, session, track),
        Effect::UpstreamGone { session, track } => upstream_gone(l, session, track, now),
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
        Effect::Answer(cmd) => answer(l, cmd),
    }
}

/// The publisher of `track` is gone: the router hears it as a refusal with DOES_NOT_EXIST.
fn upstream_gone(l: &mut OnLoop<'_>, session: SessionId, track: TrackId, now: Instant) {
    let code = RequestErrorCode::DOES_NOT_EXIST.0;
    l.router.handle_upstream_refused(track, session, code, now);
}

/// An answer to a request: to its task's channel. For SUBSCRIBE_OK, with the track's Largest
/// Object and the fan-out reader, resolved together (the reader starts where SUBSCRIBE_OK says).
fn answer(l: &mut OnLoop<'_>, cmd: Command) {
    let hub = l.hub;
    let Some((session, request)) = cmd.answers() else {
        return;
    };
    let Some((tx, _)) = hub.inbox(session, request) else {
        return;
    };
    let accepted = match &cmd {
        Command::SubscribeOk { track, filter, .. } => l
            .router
            .track_name(*track)
            .cloned()
            .map(|name| l.track_or_insert(*track, &name))
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
        hub.post(move |l, now| upstream_gone(l, session, track, now));
    });
}
