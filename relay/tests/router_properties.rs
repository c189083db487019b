//! Property test of the router: random sequences of sessions, announcements, PUBLISHes,
//! subscriptions, upstream answers, GOAWAYs, closes and time, driven through the public sans-IO
//! API by a model of the driver (what `node::hub` does with each command).
//!
//! After every step it checks that each downstream SUBSCRIBE gets exactly one answer, within
//! the rendezvous and linger windows once nothing upstream is left to answer and never after its
//! session or its UNSUBSCRIBE; that a track with subscribers has a live owner, or loses them
//! within the linger window; that every running upstream subscription belongs to a track the
//! router knows; that the per-session budget holds. At the end of a sequence every upstream
//! answers, every session closes, time passes the windows, and the router must hold nothing.
//!
//! A failure prints its seed and a shrunk list of router calls. Replay one seed with
//! `TERN_ROUTER_PROP_SEED=<seed>`; `TERN_ROUTER_PROP_CASES=<n>` runs more sequences.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tern_relay::core::router::{
    Command, Publishers, Refusal, RequestId, Router, RouterConfig, SessionId, TakeOver, TrackId,
};
use tern_relay::core::types::{Filter, Location, Namespace, TrackName};

const LINGER: Duration = Duration::from_secs(2);
const MAX_RENDEZVOUS: Duration = Duration::from_secs(10);
const MAX_SUBSCRIPTIONS: usize = 3;
/// Sessions open at once.
const SLOTS: u8 = 5;
/// PUBLISH_DONE status GOING_AWAY.
const GOING_AWAY: u64 = 0x4;
/// How long the driver lets a publisher's last data land after PUBLISH_DONE.
const DONE_GRACE: Duration = Duration::from_millis(300);
const CASES: u64 = 2000;

#[path = "support/splitmix.rs"]
mod splitmix;

/// The only randomness, so a seed replays a sequence.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    fn next(&mut self) -> u64 {
        splitmix::next(&mut self.0)
    }

    /// Uniform in `[0, n)`.
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    fn slot(&mut self) -> u8 {
        self.below(SLOTS.into()) as u8
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

fn namespace(i: u8) -> Namespace {
    let fields: &[&'static str] = match i % 4 {
        0 => &["a"],
        1 => &["a", "b"],
        2 => &["c"],
        _ => &[],
    };
    fields
        .iter()
        .map(|f| Bytes::from_static(f.as_bytes()))
        .collect()
}

/// The tracks of the universe: two under `a` (one of them also under `a/b`), one more under
/// `a/b`, one under `c`.
const TRACKS: [(&str, &str); 4] = [("a", "x"), ("a/b", "x"), ("a/b", "y"), ("c", "x")];

fn track_name(i: usize) -> TrackName {
    let (ns, name) = TRACKS[i % TRACKS.len()];
    TrackName::from_path(ns, name)
}

#[derive(Debug, Clone, Copy)]
enum Answer {
    /// SUBSCRIBE_OK.
    Ok,
    /// REQUEST_ERROR (or the driver's answer timeout).
    Refused,
    /// The stream or session went away without PUBLISH_DONE.
    Lost,
    /// PUBLISH_DONE: the driver reports it, lets the data land, then reports the end.
    Done,
    /// PUBLISH_DONE with GOING_AWAY.
    GoingAway,
}

#[derive(Debug, Clone, Copy)]
enum PublishEnd {
    /// The request stream closed without PUBLISH_DONE's grace (status 0x2 at once).
    Done,
    /// PUBLISH_DONE: reported, then the end after the grace.
    DoneReceived,
    /// The publisher dropped.
    Lost,
}

/// One step. `pick`s choose among what exists when the step runs (modulo their number), so a
/// sequence stays meaningful when the shrinker removes steps.
#[derive(Debug, Clone, Copy)]
enum Action {
    Open {
        slot: u8,
        link: bool,
        member: bool,
    },
    Close {
        slot: u8,
        tasks_first: bool,
    },
    Announce {
        slot: u8,
        ns: u8,
        hops: u8,
    },
    Withdraw {
        slot: u8,
        pick: u8,
    },
    Publish {
        slot: u8,
        track: u8,
    },
    EndPublish {
        slot: u8,
        pick: u8,
        how: PublishEnd,
    },
    Subscribe {
        slot: u8,
        track: u8,
        filter: u8,
        wait: u8,
    },
    Unsubscribe {
        slot: u8,
        pick: u8,
    },
    Listing {
        slot: u8,
        prefix: u8,
        tracks: bool,
    },
    EndListing {
        slot: u8,
        pick: u8,
    },
    Answer {
        pick: u8,
        how: Answer,
    },
    DeliverEnd {
        pick: u8,
    },
    GoAway {
        slot: u8,
    },
    Advance {
        millis: u32,
    },
}

fn random_action(rng: &mut Rng) -> Action {
    let slot = rng.slot();
    let pick = rng.byte();
    match rng.below(100) {
        0..6 => Action::Open {
            slot,
            link: rng.percent(40),
            member: rng.percent(50),
        },
        6..10 => Action::Close {
            slot,
            tasks_first: rng.percent(50),
        },
        10..18 => Action::Announce {
            slot,
            ns: rng.byte(),
            hops: rng.byte(),
        },
        18..21 => Action::Withdraw { slot, pick },
        21..29 => Action::Publish {
            slot,
            track: rng.byte(),
        },
        29..33 => Action::EndPublish {
            slot,
            pick,
            how: match rng.below(3) {
                0 => PublishEnd::Done,
                1 => PublishEnd::DoneReceived,
                _ => PublishEnd::Lost,
            },
        },
        33..51 => Action::Subscribe {
            slot,
            track: rng.byte(),
            filter: rng.byte(),
            wait: rng.byte(),
        },
        51..57 => Action::Unsubscribe { slot, pick },
        57..60 => Action::Listing {
            slot,
            prefix: rng.byte(),
            tracks: rng.percent(50),
        },
        60..61 => Action::EndListing { slot, pick },
        61..79 => Action::Answer {
            pick,
            how: match rng.below(10) {
                0..4 => Answer::Ok,
                4..6 => Answer::Refused,
                6..8 => Answer::Lost,
                8 => Answer::Done,
                _ => Answer::GoingAway,
            },
        },
        79..83 => Action::DeliverEnd { pick },
        83..85 => Action::GoAway { slot },
        _ => Action::Advance {
            millis: [1, 300, 900, 1500, 2100, 4000, 11_000][rng.below(7) as usize],
        },
    }
}

/// A sequence: every slot opens first, then random steps.
fn sequence(seed: u64) -> Vec<Action> {
    let mut rng = Rng::new(seed);
    let mut actions: Vec<Action> = (0..SLOTS)
        .map(|slot| Action::Open {
            slot,
            link: rng.percent(40),
            member: rng.percent(50),
        })
        .collect();
    let steps = 200 + rng.below(301);
    actions.extend((0..steps).map(|_| random_action(&mut rng)));
    actions
}

fn config(seed: u64) -> RouterConfig {
    let mut rng = Rng::new(seed ^ 0xC0F1);
    RouterConfig {
        linger: LINGER,
        max_rendezvous: MAX_RENDEZVOUS,
        max_subscriptions_per_session: MAX_SUBSCRIPTIONS,
        cluster: rng.percent(25).then_some(Publishers::Any),
        takeover: [TakeOver::Class, TakeOver::Newest, TakeOver::First][rng.below(3) as usize],
        ..RouterConfig::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sub {
    /// Not answered yet.
    Pending,
    /// SUBSCRIBE_OK on this track.
    Accepted(TrackId),
    /// Refused, or ended with PUBLISH_DONE.
    Over,
    /// UNSUBSCRIBEd or its session closed: the router must say nothing more.
    Gone,
}

/// A downstream request, as the driver sees it.
#[derive(Debug)]
enum Request {
    Subscribe {
        track: usize,
        state: Sub,
        /// Since when nothing upstream is left to answer for it.
        uncovered_since: Instant,
    },
    /// PUBLISH_NAMESPACE, PUBLISH or SUBSCRIBE_NAMESPACE/TRACKS: `answer` is REQUEST_OK or
    /// an error; `live` while it lasts.
    Other {
        kind: Kind,
        answer: Option<bool>,
        live: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Announce,
    Publish(Option<TrackId>),
    Namespaces,
    Tracks,
}

/// An end the driver reports after the PUBLISH_DONE grace.
#[derive(Debug, Clone, Copy)]
enum End {
    Upstream {
        track: TrackId,
        session: SessionId,
        status: u64,
    },
    Publish {
        track: TrackId,
        session: SessionId,
        request: RequestId,
        status: u64,
    },
}

impl End {
    fn feeds(&self, track: TrackId, session: SessionId) -> bool {
        match *self {
            End::Upstream {
                track: t,
                session: s,
                ..
            }
            | End::Publish {
                track: t,
                session: s,
                ..
            } => t == track && s == session,
        }
    }
}

/// What the sequences made happen, so that a harness that drifts into exercising nothing
/// fails instead of passing.
#[derive(Debug, Default)]
struct Coverage {
    accepted: u64,
    ended: u64,
    refused: BTreeMap<String, u64>,
    moves: u64,
    unsubscribes: u64,
    lost: u64,
}

impl Coverage {
    fn add(&mut self, other: &Coverage) {
        self.accepted += other.accepted;
        self.ended += other.ended;
        for (reason, n) in &other.refused {
            *self.refused.entry(reason.clone()).or_default() += n;
        }
        self.moves += other.moves;
        self.unsubscribes += other.unsubscribes;
        self.lost += other.lost;
    }

    fn assert_varied(&self) {
        let refused = |r: &str| self.refused.get(r).copied().unwrap_or(0);
        let varied = self.accepted > 0
            && self.ended > 0
            && self.moves > 0
            && self.unsubscribes > 0
            && self.lost > 0
            && [
                "ExcessiveLoad",
                "Timeout",
                "DuplicateSubscription",
                "DoesNotExist",
                "Upstream",
                "Published",
            ]
            .iter()
            .all(|r| refused(r) > 0);
        assert!(varied, "the sequences exercised too little: {self:?}");
    }
}

/// A broken invariant: its label (what shrinking preserves) and the details.
#[derive(Debug)]
struct Violation {
    label: &'static str,
    detail: String,
}

fn fail<T>(label: &'static str, detail: String) -> Result<T, Violation> {
    Err(Violation { label, detail })
}

/// The router and a model of its driver.
struct Harness {
    router: Router,
    t0: Instant,
    now: Instant,
    slots: [Option<SessionId>; SLOTS as usize],
    open: BTreeSet<SessionId>,
    next_session: SessionId,
    next_request: BTreeMap<SessionId, RequestId>,
    requests: BTreeMap<(SessionId, RequestId), Request>,
    /// Upstream subscriptions the driver runs: `true` once SUBSCRIBE_OK arrived.
    tasks: BTreeMap<(SessionId, TrackId), bool>,
    ends: Vec<End>,
    /// SUBSCRIBE_UPSTREAM commands seen.
    upstream_subscribes: u64,
    /// Tracks with subscribers and no live owner, since when.
    unowned: BTreeMap<TrackId, Instant>,
    /// Driver reactions to run after the current commands.
    reactions: Vec<(TrackId, SessionId)>,
    trace: Option<Vec<String>>,
    seen: Coverage,
}

impl Harness {
    fn new(config: RouterConfig, trace: bool) -> Self {
        let t0 = Instant::now();
        Self {
            router: Router::new(config),
            t0,
            now: t0,
            slots: [None; SLOTS as usize],
            open: BTreeSet::new(),
            next_session: 1,
            next_request: BTreeMap::new(),
            requests: BTreeMap::new(),
            tasks: BTreeMap::new(),
            ends: Vec::new(),
            upstream_subscribes: 0,
            unowned: BTreeMap::new(),
            reactions: Vec::new(),
            trace: trace.then(Vec::new),
            seen: Coverage::default(),
        }
    }

    fn log(&mut self, line: impl FnOnce() -> String) {
        if let Some(trace) = &mut self.trace {
            let at = self.now - self.t0;
            trace.push(format!("[t+{:.3}s] {}", at.as_secs_f64(), line()));
        }
    }

    fn request_id(&mut self, session: SessionId) -> RequestId {
        let next = self.next_request.entry(session).or_default();
        *next += 1;
        *next
    }

    fn live_subscriptions(&self, session: SessionId) -> usize {
        self.requests
            .range((session, 0)..=(session, RequestId::MAX))
            .filter(|(_, r)| {
                matches!(
                    r,
                    Request::Subscribe {
                        state: Sub::Pending | Sub::Accepted(_),
                        ..
                    }
                )
            })
            .count()
    }

    /// The session's requests of one sort, in order.
    fn requests_of(&self, session: SessionId, keep: impl Fn(&Request) -> bool) -> Vec<RequestId> {
        self.requests
            .range((session, 0)..=(session, RequestId::MAX))
            .filter(|(_, r)| keep(r))
            .map(|(&(_, id), _)| id)
            .collect()
    }

    /// Carry out every command, then the driver's reactions, until the router is quiet.
    fn drain(&mut self) -> Result<(), Violation> {
        loop {
            while let Some(cmd) = self.router.poll_command() {
                self.log(|| format!("  -> {cmd:?}"));
                self.on_command(cmd)?;
            }
            let Some((track, session)) = self.reactions.pop() else {
                return Ok(());
            };
            // The hub: a SUBSCRIBE for a session already gone is refused at once.
            self.log(|| format!("r.handle_upstream_refused({track}, {session}, 0x10, now)"));
            self.router
                .handle_upstream_refused(track, session, 0x10, self.now);
        }
    }

    fn on_command(&mut self, cmd: Command) -> Result<(), Violation> {
        let answer_to = cmd.answers();
        if let Some((session, request)) = answer_to
            && !self.open.contains(&session)
        {
            return fail(
                "answer-after-close",
                format!("{cmd:?} to session {session} (request {request}), which is closed"),
            );
        }
        match cmd {
            Command::SubscribeOk {
                session,
                request,
                track,
                ..
            } => match self.requests.get_mut(&(session, request)) {
                Some(Request::Subscribe { state, .. }) if *state == Sub::Pending => {
                    self.seen.accepted += 1;
                    *state = Sub::Accepted(track);
                }
                other => {
                    return fail(
                        "answer-once",
                        format!("SUBSCRIBE_OK to {session}/{request}, which is {other:?}"),
                    );
                }
            },
            Command::Refuse {
                session,
                request,
                reason,
            } => {
                let kind = format!("{reason:?}");
                let kind = kind.split(['(', ' ']).next().unwrap_or_default();
                *self.seen.refused.entry(kind.to_string()).or_default() += 1;
                let live = self.live_subscriptions(session);
                let duplicate = |h: &Self, track: usize| {
                    h.requests
                        .range((session, 0)..=(session, RequestId::MAX))
                        .any(|(&(_, r), q)| {
                            r != request
                                && matches!(q, Request::Subscribe { track: t, state: Sub::Pending | Sub::Accepted(_), .. } if *t == track)
                        })
                };
                let dup = match self.requests.get(&(session, request)) {
                    Some(Request::Subscribe { track, .. }) => duplicate(self, *track),
                    _ => false,
                };
                match self.requests.get_mut(&(session, request)) {
                    Some(Request::Subscribe { state, .. }) if *state == Sub::Pending => {
                        *state = Sub::Over;
                        if reason == Refusal::ExcessiveLoad && live - 1 < MAX_SUBSCRIPTIONS {
                            return fail(
                                "budget",
                                format!(
                                    "{session}/{request} refused ExcessiveLoad with {} other live \
                                     subscriptions (limit {MAX_SUBSCRIPTIONS})",
                                    live - 1
                                ),
                            );
                        }
                        if reason == Refusal::DuplicateSubscription && !dup {
                            return fail(
                                "budget",
                                format!("{session}/{request} refused as a duplicate of nothing"),
                            );
                        }
                    }
                    Some(Request::Other { answer, .. }) if answer.is_none() => {
                        *answer = Some(false);
                    }
                    other => {
                        return fail(
                            "answer-once",
                            format!(
                                "{reason:?} refusal to {session}/{request}, which is {other:?}"
                            ),
                        );
                    }
                }
            }
            Command::Ok { session, request } => match self.requests.get_mut(&(session, request)) {
                Some(Request::Other { answer, live, .. }) if answer.is_none() => {
                    *answer = Some(true);
                    *live = true;
                }
                other => {
                    return fail(
                        "answer-once",
                        format!("REQUEST_OK to {session}/{request}, which is {other:?}"),
                    );
                }
            },
            Command::PublishDone {
                session, request, ..
            } => match self.requests.get_mut(&(session, request)) {
                Some(Request::Subscribe { state, .. }) if matches!(state, Sub::Accepted(_)) => {
                    self.seen.ended += 1;
                    *state = Sub::Over;
                }
                other => {
                    return fail(
                        "answer-once",
                        format!("PUBLISH_DONE to {session}/{request}, which is {other:?}"),
                    );
                }
            },
            Command::Namespace {
                session, request, ..
            }
            | Command::NamespaceDone {
                session, request, ..
            }
            | Command::PublishDownstream {
                session, request, ..
            } => match self.requests.get(&(session, request)) {
                Some(Request::Other {
                    kind: Kind::Namespaces | Kind::Tracks,
                    live: true,
                    ..
                }) => {}
                other => {
                    return fail(
                        "answer-after-close",
                        format!("a listing update to {session}/{request}, which is {other:?}"),
                    );
                }
            },
            Command::SubscribeUpstream {
                session,
                track,
                resume,
                ..
            } => {
                self.upstream_subscribes += 1;
                self.seen.moves += u64::from(resume);
                if !self.open.contains(&session) {
                    self.reactions.push((track, session));
                } else if self.tasks.insert((session, track), false).is_some() {
                    return fail(
                        "one-upstream",
                        format!(
                            "a second upstream SUBSCRIBE for track {track} at session {session}"
                        ),
                    );
                }
            }
            Command::UnsubscribeUpstream { session, track } => {
                self.seen.unsubscribes += 1;
                self.tasks.remove(&(session, track));
            }
            Command::AnnounceUpstream { session, .. }
            | Command::WithdrawUpstream { session, .. } => {
                if !self.open.contains(&session) {
                    return fail("answer-after-close", format!("{cmd:?} on a closed link"));
                }
            }
        }
        Ok(())
    }

    /// Run one step, then check the invariants.
    fn step(&mut self, action: Action) -> Result<(), Violation> {
        self.apply(action)?;
        self.drain()?;
        self.check()
    }

    fn session(&self, slot: u8) -> Option<SessionId> {
        self.slots[usize::from(slot % SLOTS)]
    }

    fn apply(&mut self, action: Action) -> Result<(), Violation> {
        let now = self.now;
        match action {
            Action::Open { slot, link, member } => {
                let i = usize::from(slot % SLOTS);
                if self.slots[i].is_some() {
                    return Ok(());
                }
                let s = self.next_session;
                self.next_session += 1;
                self.slots[i] = Some(s);
                self.open.insert(s);
                self.log(|| format!("// session {s} opens (link: {link}, member: {member})"));
                if member {
                    self.log(|| format!("r.handle_member({s})"));
                    self.router.handle_member(s);
                }
                if link {
                    self.log(|| format!("r.handle_link_up({s})"));
                    self.router.handle_link_up(s);
                }
            }
            Action::Close { slot, tasks_first } => {
                let Some(s) = self.session(slot) else {
                    return Ok(());
                };
                if tasks_first {
                    self.end_tasks_of(s)?;
                }
                self.slots[usize::from(slot % SLOTS)] = None;
                self.open.remove(&s);
                for ((session, _), r) in self.requests.iter_mut() {
                    if *session != s {
                        continue;
                    }
                    match r {
                        Request::Subscribe { state, .. } => *state = Sub::Gone,
                        Request::Other { kind, live, .. } => {
                            // A PUBLISH stream outlives nothing: its end comes below.
                            if !matches!(kind, Kind::Publish(_)) {
                                *live = false;
                            }
                        }
                    }
                }
                self.log(|| format!("r.handle_session_closed({s}, now)"));
                self.router.handle_session_closed(s, now);
                self.drain()?;
                if !tasks_first {
                    self.end_tasks_of(s)?;
                }
            }
            Action::Announce { slot, ns, hops } => {
                let Some(s) = self.session(slot) else {
                    return Ok(());
                };
                let r = self.request_id(s);
                let namespace = namespace(ns % 3);
                let hops: Vec<Bytes> = match hops % 6 {
                    0..3 => Vec::new(),
                    3 => vec![Bytes::from_static(b"peer")],
                    4 => vec![Bytes::from_static(b"peer"), Bytes::from_static(b"far")],
                    _ => vec![self.router.relay_id().clone()],
                };
                self.requests.insert(
                    (s, r),
                    Request::Other {
                        kind: Kind::Announce,
                        answer: None,
                        live: false,
                    },
                );
                self.log(|| {
                    format!("r.handle_publish_namespace({s}, {r}, {namespace:?}, {hops:?}, now)")
                });
                self.router
                    .handle_publish_namespace(s, r, namespace, hops, now);
                self.drain()?;
                self.answered(s, r, "PUBLISH_NAMESPACE")?;
            }
            Action::Withdraw { slot, pick } => {
                let Some(s) = self.session(slot) else {
                    return Ok(());
                };
                let live = self.requests_of(s, |r| {
                    matches!(
                        r,
                        Request::Other {
                            kind: Kind::Announce,
                            live: true,
                            ..
                        }
                    )
                });
                let Some(&r) = pick_from(&live, pick) else {
                    return Ok(());
                };
                if let Some(Request::Other { live, .. }) = self.requests.get_mut(&(s, r)) {
                    *live = false;
                }
                self.log(|| format!("r.handle_publish_namespace_done({s}, {r})"));
                self.router.handle_publish_namespace_done(s, r);
            }
            Action::Publish { slot, track } => {
                let Some(s) = self.session(slot) else {
                    return Ok(());
                };
                let r = self.request_id(s);
                let name = track_name(track.into());
                self.requests.insert(
                    (s, r),
                    Request::Other {
                        kind: Kind::Publish(None),
                        answer: None,
                        live: false,
                    },
                );
                self.log(|| format!("r.handle_publish({s}, {r}, {name:?}, now)"));
                let id = self.router.handle_publish(s, r, name, now);
                self.log(|| format!("  = {id:?}"));
                self.drain()?;
                self.answered(s, r, "PUBLISH")?;
                let Some(Request::Other { kind, answer, live }) = self.requests.get_mut(&(s, r))
                else {
                    unreachable!("inserted above");
                };
                if *answer != Some(id.is_some()) {
                    return fail(
                        "answer-once",
                        format!("PUBLISH {s}/{r} returned {id:?} but was answered {answer:?}"),
                    );
                }
                *kind = Kind::Publish(id);
                *live = id.is_some();
            }
            Action::EndPublish { slot, pick, how } => {
                let Some(s) = self.session(slot) else {
                    return Ok(());
                };
                let live = self.requests_of(s, |r| {
                    matches!(
                        r,
                        Request::Other {
                            kind: Kind::Publish(Some(_)),
                            live: true,
                            ..
                        }
                    )
                });
                let Some(&r) = pick_from(&live, pick) else {
                    return Ok(());
                };
                self.end_publish(s, r, how)?;
            }
            Action::Subscribe {
                slot,
                track,
                filter,
                wait,
            } => {
                let Some(s) = self.session(slot) else {
                    return Ok(());
                };
                let r = self.request_id(s);
                let track = usize::from(track) % TRACKS.len();
                let name = track_name(track);
                let filter = match filter % 3 {
                    0 => Filter::LargestObject,
                    1 => Filter::NextGroupStart,
                    _ => Filter::AbsoluteStart(Location::new(0, 0)),
                };
                let wait = Duration::from_secs([0, 0, 1, 5, 60][usize::from(wait % 5)]);
                self.requests.insert(
                    (s, r),
                    Request::Subscribe {
                        track,
                        state: Sub::Pending,
                        uncovered_since: now,
                    },
                );
                self.log(|| {
                    format!("r.handle_subscribe({s}, {r}, {name:?}, {filter:?}, {wait:?}, now)")
                });
                self.router.handle_subscribe(s, r, name, filter, wait, now);
            }
            Action::Unsubscribe { slot, pick } => {
                let Some(s) = self.session(slot) else {
                    return Ok(());
                };
                // Any of its subscriptions: an UNSUBSCRIBE may cross the answer.
                let all = self.requests_of(s, |r| matches!(r, Request::Subscribe { .. }));
                let Some(&r) = pick_from(&all, pick) else {
                    return Ok(());
                };
                if let Some(Request::Subscribe { state, .. }) = self.requests.get_mut(&(s, r))
                    && matches!(state, Sub::Pending | Sub::Accepted(_))
                {
                    *state = Sub::Gone;
                }
                self.log(|| format!("r.handle_unsubscribe({s}, {r}, now)"));
                self.router.handle_unsubscribe(s, r, now);
            }
            Action::Listing {
                slot,
                prefix,
                tracks,
            } => {
                let Some(s) = self.session(slot) else {
                    return Ok(());
                };
                let r = self.request_id(s);
                let prefix = namespace(prefix);
                self.requests.insert(
                    (s, r),
                    Request::Other {
                        kind: if tracks {
                            Kind::Tracks
                        } else {
                            Kind::Namespaces
                        },
                        answer: None,
                        live: false,
                    },
                );
                if tracks {
                    self.log(|| format!("r.handle_subscribe_tracks({s}, {r}, {prefix:?})"));
                    self.router.handle_subscribe_tracks(s, r, prefix);
                } else {
                    self.log(|| format!("r.handle_subscribe_namespace({s}, {r}, {prefix:?})"));
                    self.router.handle_subscribe_namespace(s, r, prefix);
                }
                self.drain()?;
                self.answered(s, r, "SUBSCRIBE_NAMESPACE")?;
            }
            Action::EndListing { slot, pick } => {
                let Some(s) = self.session(slot) else {
                    return Ok(());
                };
                let live = self.requests_of(s, |r| {
                    matches!(
                        r,
                        Request::Other {
                            kind: Kind::Namespaces | Kind::Tracks,
                            live: true,
                            ..
                        }
                    )
                });
                let Some(&r) = pick_from(&live, pick) else {
                    return Ok(());
                };
                let Some(Request::Other { kind, live, .. }) = self.requests.get_mut(&(s, r)) else {
                    unreachable!("listed above");
                };
                *live = false;
                if *kind == Kind::Tracks {
                    self.log(|| format!("r.handle_subscribe_tracks_done({s}, {r})"));
                    self.router.handle_subscribe_tracks_done(s, r);
                } else {
                    self.log(|| format!("r.handle_subscribe_namespace_done({s}, {r})"));
                    self.router.handle_subscribe_namespace_done(s, r);
                }
            }
            Action::Answer { pick, how } => {
                let eligible: Vec<(SessionId, TrackId)> = self
                    .tasks
                    .iter()
                    .filter(|(_, ok)| !**ok || !matches!(how, Answer::Ok | Answer::Refused))
                    .map(|(&k, _)| k)
                    .collect();
                let Some(&(s, t)) = pick_from(&eligible, pick) else {
                    return Ok(());
                };
                self.answer(s, t, how, 0x2)?;
            }
            Action::DeliverEnd { pick } => {
                if !self.ends.is_empty() {
                    let end = self.ends.remove(usize::from(pick) % self.ends.len());
                    self.deliver(end);
                }
            }
            Action::GoAway { slot } => {
                let Some(s) = self.session(slot) else {
                    return Ok(());
                };
                self.log(|| format!("r.handle_goaway({s}, now)"));
                self.router.handle_goaway(s, now);
            }
            Action::Advance { millis } => {
                self.advance(Duration::from_millis(millis.into()))?;
            }
        }
        Ok(())
    }

    /// A request other than SUBSCRIBE got exactly one answer during the call that made it.
    fn answered(&self, s: SessionId, r: RequestId, what: &str) -> Result<(), Violation> {
        match self.requests.get(&(s, r)) {
            Some(Request::Other {
                answer: Some(_), ..
            }) => Ok(()),
            other => fail(
                "answer-once",
                format!("{what} {s}/{r} got no answer: {other:?}"),
            ),
        }
    }

    fn end_publish(
        &mut self,
        s: SessionId,
        r: RequestId,
        how: PublishEnd,
    ) -> Result<(), Violation> {
        let Some(Request::Other {
            kind: Kind::Publish(Some(track)),
            live,
            ..
        }) = self.requests.get_mut(&(s, r))
        else {
            return Ok(());
        };
        let track = *track;
        *live = false;
        match how {
            PublishEnd::Done => {
                self.log(|| format!("r.handle_publish_done({s}, {r}, 0x2)"));
                self.router.handle_publish_done(s, r, 0x2);
            }
            PublishEnd::DoneReceived => {
                self.log(|| format!("r.handle_publish_done_received({s}, {r})"));
                self.router.handle_publish_done_received(s, r);
                self.ends.push(End::Publish {
                    track,
                    session: s,
                    request: r,
                    status: 0x0,
                });
            }
            PublishEnd::Lost => {
                self.log(|| format!("r.handle_publish_lost({s}, {r}, now)"));
                self.router.handle_publish_lost(s, r, self.now);
            }
        }
        self.drain()
    }

    /// A session's upstream subscriptions and PUBLISHes end with it (streams reset).
    fn end_tasks_of(&mut self, s: SessionId) -> Result<(), Violation> {
        let tasks: Vec<TrackId> = self
            .tasks
            .keys()
            .filter(|(session, _)| *session == s)
            .map(|&(_, t)| t)
            .collect();
        for t in tasks {
            self.answer(s, t, Answer::Lost, 0)?;
            self.drain()?;
        }
        let publishes = self.requests_of(s, |r| {
            matches!(
                r,
                Request::Other {
                    kind: Kind::Publish(Some(_)),
                    live: true,
                    ..
                }
            )
        });
        for r in publishes {
            self.end_publish(s, r, PublishEnd::Lost)?;
        }
        Ok(())
    }

    /// The upstream on `s` answers the subscription for `t`.
    fn answer(
        &mut self,
        s: SessionId,
        t: TrackId,
        how: Answer,
        code: u64,
    ) -> Result<(), Violation> {
        let now = self.now;
        match how {
            Answer::Ok => {
                if self.router.track_name(t).is_none() {
                    // The hub dropped the track: the task ends there.
                    self.log(|| format!("// SUBSCRIBE_OK from {s} for forgotten track {t}"));
                    self.tasks.remove(&(s, t));
                    return Ok(());
                }
                self.tasks.insert((s, t), true);
                let upstream = self
                    .router
                    .track_name(t)
                    .and_then(|name| self.router.upstream_for(name));
                self.log(|| format!("r.handle_upstream_ok({t}) // from {s}"));
                self.router.handle_upstream_ok(t, s);
                if upstream != Some(s) {
                    // Not the track's upstream (one it moved away from): no answer for it.
                    let cmds: Vec<Command> =
                        std::iter::from_fn(|| self.router.poll_command()).collect();
                    if !cmds.is_empty() {
                        return fail(
                            "upstream-ok",
                            format!(
                                "SUBSCRIBE_OK from session {s} for track {t} was taken as the \
                                 answer of its upstream {upstream:?}: {cmds:?}"
                            ),
                        );
                    }
                }
            }
            Answer::Refused => {
                self.tasks.remove(&(s, t));
                self.log(|| format!("r.handle_upstream_refused({t}, {s}, {code:#x}, now)"));
                self.router.handle_upstream_refused(t, s, code, now);
            }
            Answer::Lost => {
                self.tasks.remove(&(s, t));
                self.log(|| format!("r.handle_upstream_ended({t}, {s}, None, now)"));
                self.router.handle_upstream_ended(t, s, None, now);
            }
            Answer::Done => {
                self.tasks.remove(&(s, t));
                self.log(|| format!("r.handle_upstream_done_received({t}, {s})"));
                self.router.handle_upstream_done_received(t, s);
                self.ends.push(End::Upstream {
                    track: t,
                    session: s,
                    status: 0x0,
                });
            }
            Answer::GoingAway => {
                self.tasks.remove(&(s, t));
                self.log(|| format!("r.handle_upstream_ended({t}, {s}, Some(0x4), now)"));
                self.router
                    .handle_upstream_ended(t, s, Some(GOING_AWAY), now);
            }
        }
        Ok(())
    }

    fn deliver(&mut self, end: End) {
        match end {
            End::Upstream {
                track,
                session,
                status,
            } => {
                self.log(|| {
                    format!("r.handle_upstream_ended({track}, {session}, Some({status:#x}), now)")
                });
                self.router
                    .handle_upstream_ended(track, session, Some(status), self.now);
            }
            End::Publish {
                session,
                request,
                status,
                ..
            } => {
                self.log(|| format!("r.handle_publish_done({session}, {request}, {status:#x})"));
                self.router.handle_publish_done(session, request, status);
            }
        }
    }

    /// Time passes by `by`; the timer fires at each deadline the router asks for, as the
    /// driver's would.
    fn advance(&mut self, by: Duration) -> Result<(), Violation> {
        if by >= DONE_GRACE {
            // The driver reports each PUBLISH_DONE's end once the grace is over.
            while let Some(end) = self.ends.pop() {
                self.deliver(end);
                self.drain()?;
            }
        }
        let target = self.now + by;
        for _ in 0..10_000 {
            match self.router.poll_timeout() {
                Some(at) if at <= target => {
                    self.now = self.now.max(at);
                    let now = self.now;
                    self.log(|| "r.handle_timeout(now)".to_string());
                    self.router.handle_timeout(now);
                    self.drain()?;
                    if let Some(next) = self.router.poll_timeout()
                        && next <= now
                    {
                        return fail(
                            "timer",
                            format!("poll_timeout is {next:?} after handle_timeout({now:?})"),
                        );
                    }
                }
                _ => {
                    self.now = target;
                    self.log(|| format!("// time passes {by:?}"));
                    return Ok(());
                }
            }
        }
        fail("timer", "the timer fired 10,000 times in one step".into())
    }

    /// The invariants, after every step.
    fn check(&mut self) -> Result<(), Violation> {
        let now = self.now;
        let router = &self.router;
        if router.upstream_subscribes() != self.upstream_subscribes {
            return fail(
                "counters",
                format!(
                    "upstream_subscribes() is {} but {} SUBSCRIBE_UPSTREAM were issued",
                    router.upstream_subscribes(),
                    self.upstream_subscribes
                ),
            );
        }
        // Tracks: the router knows them by name; nothing else hides in it.
        let mut known = BTreeMap::new();
        for i in 0..TRACKS.len() {
            let name = track_name(i);
            if let Some(t) = router.track_id(&name) {
                if router.track_name(t) != Some(&name) {
                    return fail(
                        "tracks",
                        format!("track {t} of {name:?} is named otherwise"),
                    );
                }
                known.insert(t, i);
            }
        }
        if router.track_count() != known.len() {
            return fail(
                "leak",
                format!(
                    "track_count() is {} but only {} tracks have a name",
                    router.track_count(),
                    known.len()
                ),
            );
        }
        self.seen.lost += router.lost_tracks() as u64;
        if router.lost_tracks() > router.track_count() {
            return fail("counters", "more lost tracks than tracks".into());
        }
        // Budgets.
        for &s in &self.open {
            let live = self.live_subscriptions(s);
            if live > MAX_SUBSCRIPTIONS {
                return fail(
                    "budget",
                    format!("session {s} holds {live} subscriptions (limit {MAX_SUBSCRIPTIONS})"),
                );
            }
        }
        // Established subscriptions are the router's subscribers, and the other way round.
        for (&(s, r), req) in &self.requests {
            if let Request::Subscribe {
                state: Sub::Accepted(t),
                ..
            } = req
                && !router.subscribers(*t).contains(&(s, r))
            {
                return fail(
                    "answer-once",
                    format!(
                        "{s}/{r} was accepted on track {t} but is not among its subscribers, \
                         and got no PUBLISH_DONE"
                    ),
                );
            }
        }
        for (&t, &i) in &known {
            let subscribers = router.subscribers(t);
            for &(s, r) in subscribers {
                let ok = matches!(
                    self.requests.get(&(s, r)),
                    Some(Request::Subscribe { track, state: Sub::Accepted(a), .. })
                        if *track == i && *a == t
                );
                if !ok || subscribers.iter().filter(|&&x| x == (s, r)).count() > 1 {
                    return fail(
                        "tracks",
                        format!(
                            "track {t} lists subscriber {s}/{r}, which is {:?}",
                            self.requests.get(&(s, r))
                        ),
                    );
                }
            }
            // Ownership: a watched track has a live owner, or lets go within the linger window.
            if subscribers.is_empty() {
                self.unowned.remove(&t);
                continue;
            }
            let owner = router.upstream_for(&track_name(i));
            // An upstream that sent PUBLISH_DONE owns the track until the driver reports the
            // end, even if its session closed meanwhile.
            let owned = owner.is_some_and(|o| {
                self.ends.iter().any(|e| e.feeds(t, o))
                    || self.open.contains(&o)
                        && (self.tasks.contains_key(&(o, t))
                        || self.requests.range((o, 0)..=(o, RequestId::MAX)).any(|(_, q)| {
                            matches!(q, Request::Other { kind: Kind::Publish(Some(p)), live: true, .. } if *p == t)
                        }))
            });
            if owned {
                self.unowned.remove(&t);
                continue;
            }
            let since = *self.unowned.entry(t).or_insert(now);
            if now > since + LINGER {
                return fail(
                    "owner",
                    format!(
                        "track {t} ({:?}) has had subscribers {subscribers:?} and no live owner \
                         (upstream {owner:?}) for {:?}, past the linger window",
                        track_name(i),
                        now - since
                    ),
                );
            }
        }
        self.unowned.retain(|t, _| known.contains_key(t));
        // Running upstream subscriptions belong to tracks the router knows.
        for &(s, t) in self.tasks.keys() {
            if self.tasks[&(s, t)] && !known.contains_key(&t) {
                return fail(
                    "orphan-upstream",
                    format!(
                        "the upstream subscription of session {s} to track {t} still runs, but \
                         the router forgot the track without UNSUBSCRIBE"
                    ),
                );
            }
        }
        // A pending SUBSCRIBE is answered within the windows once nothing upstream is left to
        // answer for it.
        let covered: BTreeSet<TrackId> = self
            .tasks
            .iter()
            .filter(|(_, ok)| !**ok)
            .map(|(&(_, t), _)| t)
            .chain(self.ends.iter().map(|e| match *e {
                End::Upstream { track, .. } | End::Publish { track, .. } => track,
            }))
            .collect();
        for (&(s, r), req) in self.requests.iter_mut() {
            let Request::Subscribe {
                track,
                state: Sub::Pending,
                uncovered_since,
            } = req
            else {
                continue;
            };
            if router
                .track_id(&track_name(*track))
                .is_some_and(|t| covered.contains(&t))
            {
                *uncovered_since = now;
            } else if now > *uncovered_since + MAX_RENDEZVOUS + LINGER {
                return fail(
                    "answer-in-time",
                    format!(
                        "SUBSCRIBE {s}/{r} ({:?}) still has no answer {:?} after anything \
                         upstream could answer for it",
                        track_name(*track),
                        now - *uncovered_since
                    ),
                );
            }
        }
        Ok(())
    }

    /// The end of a sequence: every upstream answers, time passes the windows; every
    /// subscriber has its answer; then every session closes and the router must hold nothing.
    fn finish(&mut self, seed: u64) -> Result<(), Violation> {
        let mut rng = Rng::new(seed ^ 0xF1_1154);
        let settle = |h: &mut Self, rng: &mut Rng| -> Result<(), Violation> {
            for _ in 0..50 {
                if let Some(end) = h.ends.pop() {
                    h.deliver(end);
                } else if let Some((&(s, t), _)) = h.tasks.iter().find(|(_, ok)| !**ok) {
                    let how = if rng.percent(80) {
                        Answer::Ok
                    } else {
                        Answer::Refused
                    };
                    h.answer(s, t, how, 0x3)?;
                } else {
                    h.advance(MAX_RENDEZVOUS + LINGER + Duration::from_secs(1))?;
                    if h.tasks.values().all(|ok| *ok) && h.ends.is_empty() {
                        return h.check();
                    }
                    continue;
                }
                h.drain()?;
                h.check()?;
            }
            fail(
                "settle",
                "the router kept asking for upstream SUBSCRIBEs".into(),
            )
        };
        self.log(|| "// -- every upstream answers, time passes --".into());
        settle(self, &mut rng)?;
        for (&(s, r), req) in &self.requests {
            if let Request::Subscribe {
                track,
                state: Sub::Pending,
                ..
            } = req
            {
                return fail(
                    "answer-in-time",
                    format!(
                        "SUBSCRIBE {s}/{r} ({:?}) never answered, with every upstream answered",
                        track_name(*track)
                    ),
                );
            }
        }
        for &(s, t) in self.tasks.keys() {
            let upstream = self
                .router
                .track_name(t)
                .and_then(|name| self.router.upstream_for(name));
            if upstream != Some(s) {
                return fail(
                    "orphan-upstream",
                    format!(
                        "the upstream subscription of session {s} to track {t} still runs, but \
                         the track's upstream is {upstream:?}"
                    ),
                );
            }
        }
        self.log(|| "// -- every session closes --".into());
        for slot in 0..SLOTS {
            self.step(Action::Close {
                slot,
                tasks_first: rng.percent(50),
            })?;
        }
        settle(self, &mut rng)?;
        settle(self, &mut rng)?;
        let router = &self.router;
        let names: Vec<_> = (0..TRACKS.len())
            .filter(|&i| {
                router.routes(&track_name(i)) > 0 || router.upstream_for(&track_name(i)).is_some()
            })
            .collect();
        if router.track_count() != 0
            || router.lost_tracks() != 0
            || router.poll_timeout().is_some()
            || !self.tasks.is_empty()
            || !names.is_empty()
        {
            return fail(
                "leak",
                format!(
                    "with every session closed the router still holds {} tracks ({} lost), a \
                     timer at {:?}, routes for {names:?}; upstream subscriptions {:?}",
                    router.track_count(),
                    router.lost_tracks(),
                    router.poll_timeout(),
                    self.tasks
                ),
            );
        }
        Ok(())
    }
}

fn pick_from<T>(items: &[T], pick: u8) -> Option<&T> {
    (!items.is_empty()).then(|| &items[usize::from(pick) % items.len()])
}

/// Run `actions` for `seed`: the step where an invariant broke, and how.
fn run(seed: u64, actions: &[Action], trace: bool) -> (Result<(), (usize, Violation)>, Harness) {
    let mut h = Harness::new(config(seed), trace);
    for (i, &action) in actions.iter().enumerate() {
        h.log(|| format!("// step {i}: {action:?}"));
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.step(action)));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(v)) => return (Err((i, v)), h),
            Err(p) => return (Err((i, panicked(p, &format!("{action:?}")))), h),
        }
    }
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.finish(seed)));
    let result = match outcome {
        Ok(r) => r.map_err(|v| (actions.len(), v)),
        Err(p) => Err((actions.len(), panicked(p, "the final settling"))),
    };
    (result, h)
}

fn panicked(payload: Box<dyn std::any::Any + Send>, on: &str) -> Violation {
    let message = payload
        .downcast_ref::<&str>()
        .map(|m| m.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    Violation {
        label: "panic",
        detail: format!("panicked on {on}: {message}"),
    }
}

/// Remove steps while the same invariant still breaks.
fn shrink(seed: u64, mut actions: Vec<Action>, label: &'static str) -> Vec<Action> {
    let fails = |a: &[Action]| matches!(run(seed, a, false).0, Err((_, v)) if v.label == label);
    let mut chunk = actions.len().div_ceil(2);
    while chunk >= 1 {
        let mut i = 0;
        while i < actions.len() {
            let mut candidate = actions.clone();
            candidate.drain(i..(i + chunk).min(actions.len()));
            if fails(&candidate) {
                actions = candidate;
            } else {
                i += chunk;
            }
        }
        if chunk == 1 {
            break;
        }
        chunk /= 2;
    }
    actions
}

fn report(seed: u64, actions: Vec<Action>, label: &'static str) -> String {
    let actions = shrink(seed, actions, label);
    let (result, h) = run(seed, &actions, true);
    let Err((step, v)) = result else {
        return format!("seed {seed}: the failure did not replay after shrinking");
    };
    format!(
        "seed {seed}: invariant `{}` broken at step {step} of {} (shrunk): {}\n\
         replay: TERN_ROUTER_PROP_SEED={seed} cargo nextest run -p tern-relay -E \
         'test(/router_prop/)'\nconfig: {:?}\ncalls:\n{}",
        v.label,
        actions.len(),
        v.detail,
        config(seed),
        h.trace.unwrap_or_default().join("\n")
    )
}

fn env(key: &str) -> Option<u64> {
    std::env::var(key).ok().and_then(|v| v.parse().ok())
}

/// Run every seed; on failures, panic with one shrunk report per broken invariant.
fn check_sequences() {
    let seeds: Vec<u64> = match env("TERN_ROUTER_PROP_SEED") {
        Some(seed) => vec![seed],
        None => (0..env("TERN_ROUTER_PROP_CASES").unwrap_or(CASES)).collect(),
    };
    // Keep the router's own panic messages out of the output while probing.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = Vec::new();
    let mut steps = 0;
    let mut seen = Coverage::default();
    for &seed in &seeds {
        let actions = sequence(seed);
        steps += actions.len();
        let (result, h) = run(seed, &actions, false);
        seen.add(&h.seen);
        if let Err((_, v)) = result {
            failures.push((seed, actions, v.label));
        }
    }
    let mut reported = BTreeSet::new();
    let mut reports = Vec::new();
    let mut labels: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (seed, actions, label) in failures {
        labels.entry(label).or_default().push(seed);
        // One shrunk report per broken invariant.
        if reported.insert(label) {
            reports.push(report(seed, actions, label));
        }
    }
    std::panic::set_hook(hook);
    assert!(
        reports.is_empty(),
        "{} sequences ({steps} steps): broken invariants {labels:?}\n\n{}",
        seeds.len(),
        reports.join("\n\n")
    );
    if seeds.len() >= 100 {
        seen.assert_varied();
    }
}

#[test]
fn router_properties_hold_on_random_sequences() {
    check_sequences();
}

// Bugs the property test found, each as its shortest sequence of calls.

fn drain(r: &mut Router) -> Vec<Command> {
    std::iter::from_fn(|| r.poll_command()).collect()
}

fn unsubscribed(cmds: &[Command]) -> Vec<SessionId> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::UnsubscribeUpstream { session, .. } => Some(*session),
            _ => None,
        })
        .collect()
}

fn linger_router() -> Router {
    Router::new(RouterConfig {
        linger: LINGER,
        ..RouterConfig::default()
    })
}

/// Session 1 publishes `ns`; viewer 9 subscribes to `ns--x` through it, which accepts.
fn subscribed_at_one(r: &mut Router, ns: &str, t0: Instant) -> TrackId {
    let name = TrackName::from_path(ns, "x");
    r.handle_publish_namespace(1, 1, name.namespace.clone(), Vec::new(), t0);
    r.handle_subscribe(9, 1, name, Filter::LargestObject, Duration::ZERO, t0);
    let track = drain(r)
        .into_iter()
        .find_map(|c| match c {
            Command::SubscribeUpstream {
                session: 1, track, ..
            } => Some(track),
            _ => None,
        })
        .expect("an upstream SUBSCRIBE at session 1");
    r.handle_upstream_ok(track, 1);
    drain(r);
    track
}

/// Seeds 119 and 166: the publisher a track was subscribed at PUBLISHes it itself. The
/// SUBSCRIBE is cancelled, or it runs on after the PUBLISH ends, and a later failover back to
/// that session subscribes a second time.
#[test]
fn router_prop_a_publisher_taking_over_its_own_subscribed_track_cancels_the_subscription() {
    let t0 = Instant::now();
    let mut r = linger_router();
    let track = subscribed_at_one(&mut r, "c", t0);
    assert_eq!(
        r.handle_publish(1, 2, TrackName::from_path("c", "x"), t0),
        Some(track)
    );
    let cmds = drain(&mut r);
    assert_eq!(unsubscribed(&cmds), vec![1], "{cmds:?}");
}

/// Seed 145: a track idle and lingering moves away from an upstream going away; when the
/// linger window ends, both its subscriptions are cancelled, not only the new one.
#[test]
fn router_prop_a_track_forgotten_mid_move_cancels_the_upstream_it_moved_from() {
    let t0 = Instant::now();
    let mut r = linger_router();
    let track = subscribed_at_one(&mut r, "a", t0);
    r.handle_unsubscribe(9, 1, t0);
    r.handle_goaway(1, t0);
    r.handle_publish_namespace(3, 1, vec![Bytes::from_static(b"a")], Vec::new(), t0);
    assert!(drain(&mut r).contains(&Command::SubscribeUpstream {
        session: 3,
        track,
        name: TrackName::from_path("a", "x"),
        filter: Filter::LargestObject,
        resume: true,
    }));
    r.handle_timeout(t0 + LINGER);
    let mut cancelled = unsubscribed(&drain(&mut r));
    cancelled.sort_unstable();
    assert_eq!(cancelled, vec![1, 3]);
    assert_eq!(r.track_count(), 0);
}

/// Seed 145 again: the new upstream refuses a track moving away from one going away, which
/// then has nowhere to go. The old upstream still feeds it; it is cancelled when the track
/// ends, never forgotten while it runs.
#[test]
fn router_prop_an_upstream_whose_replacement_refused_is_cancelled_when_the_track_ends() {
    let t0 = Instant::now();
    let mut r = linger_router();
    let track = subscribed_at_one(&mut r, "a", t0);
    r.handle_goaway(1, t0);
    r.handle_publish_namespace(3, 1, vec![Bytes::from_static(b"a")], Vec::new(), t0);
    drain(&mut r);
    r.handle_upstream_refused(track, 3, 0x3, t0);
    assert_eq!(unsubscribed(&drain(&mut r)), Vec::<SessionId>::new());
    assert_eq!(r.lost_tracks(), 1);
    r.handle_timeout(t0 + LINGER);
    let cmds = drain(&mut r);
    assert_eq!(unsubscribed(&cmds), vec![1], "{cmds:?}");
    assert!(cmds.iter().any(|c| matches!(
        c,
        Command::PublishDone {
            session: 9,
            request: 1,
            ..
        }
    )));
}

/// Seeds 564 and 825: a SUBSCRIBE still unanswered at an upstream that sends GOAWAY moves to a
/// new upstream; then the old one answers. That answer is not the new upstream's: the router
/// must neither cancel the upstream that answered nor take as subscribed one that has not
/// (or, when the new one has failed meanwhile, one whose session is closed).
#[test]
fn router_prop_a_subscribe_ok_from_the_upstream_being_replaced_is_not_taken_for_the_new_ones() {
    let t0 = Instant::now();
    let mut r = linger_router();
    let name = TrackName::from_path("a", "x");
    r.handle_publish_namespace(1, 1, name.namespace.clone(), Vec::new(), t0);
    r.handle_subscribe(
        9,
        1,
        name.clone(),
        Filter::LargestObject,
        Duration::ZERO,
        t0,
    );
    let track = r.track_id(&name).expect("subscribed upstream");
    r.handle_goaway(1, t0);
    r.handle_publish_namespace(3, 1, name.namespace.clone(), Vec::new(), t0);
    drain(&mut r);
    // Session 1, which the track is moving away from, answers.
    r.handle_upstream_ok(track, 1);
    let cmds = drain(&mut r);
    assert!(
        !unsubscribed(&cmds).contains(&1),
        "the upstream that answered is cancelled while session 3 has not answered: {cmds:?}"
    );
}
