//! The viewers: a fixed number of slots, each running one viewer after another. A viewer
//! picks an edge and a broadcast at random, connects (raw QUIC), subscribes to the track from
//! the largest object on, records every object it gets (checking that the payload names that
//! broadcast and location), and leaves after a random stay; the slot's next viewer joins at
//! once. A subscription that ends early (PUBLISH_DONE, session lost) ends the viewer too.
//!
//! A SUBSCRIBE that gets neither SUBSCRIBE_OK nor an error within [`ANSWER_WITHIN`] is
//! *stuck*: counted, and given up.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tern_moq::TrackNamespace;
use tern_moq::message::SubscriptionFilter;
use tern_peer::{ConnectOptions, Session};
use tern_sims::rng::Rng;

use crate::Counters;
use crate::publisher::{Loc, TRACK, parse_payload, path};

/// Time a SUBSCRIBE has to be answered before it counts as stuck.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// Pause before a slot tries again after a viewer that never got going.
const RETRY: Duration = Duration::from_secs(1);

/// What one viewer did.
#[derive(Debug)]
pub struct Viewer {
    /// The relay index of its edge.
    pub edge: usize,
    /// The broadcast it watches.
    pub broadcast: usize,
    /// When it started connecting.
    pub joined: Instant,
    /// When SUBSCRIBE_OK came.
    pub subscribed: Option<Instant>,
    /// When it left (or failed).
    pub left: Option<Instant>,
    /// The smallest location received.
    pub first: Option<Loc>,
    /// When the last object came.
    pub last_object: Option<Instant>,
    /// Every location received.
    pub received: HashSet<Loc>,
}

/// Every viewer of the run still of interest to the reports.
#[derive(Debug, Default)]
pub struct Registry {
    viewers: Mutex<Vec<Arc<Mutex<Viewer>>>>,
}

/// Lock a viewer.
pub fn lock(v: &Mutex<Viewer>) -> MutexGuard<'_, Viewer> {
    v.lock().unwrap_or_else(|e| e.into_inner())
}

impl Registry {
    fn add(&self, v: Viewer) -> Arc<Mutex<Viewer>> {
        let v = Arc::new(Mutex::new(v));
        self.list().push(v.clone());
        v
    }

    fn list(&self) -> MutexGuard<'_, Vec<Arc<Mutex<Viewer>>>> {
        self.viewers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The viewers now registered.
    pub fn snapshot(&self) -> Vec<Arc<Mutex<Viewer>>> {
        self.list().clone()
    }

    /// Forget the viewers that left before `before`.
    pub fn prune(&self, before: Instant) {
        self.list()
            .retain(|v| lock(v).left.is_none_or(|l| l >= before));
    }
}

/// How every viewer runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `moqt://` URLs of the edges, with their relay index.
    pub edges: Vec<(usize, String)>,
    /// Broadcasts to choose from.
    pub broadcasts: usize,
    /// Shortest and longest stay.
    pub stay: (Duration, Duration),
    /// How to connect.
    pub connect: ConnectOptions,
}

/// Run viewers one after another in this slot, from `start` on, until aborted.
pub async fn slot(
    registry: Arc<Registry>,
    settings: Arc<Settings>,
    counters: Arc<Counters>,
    mut rng: Rng,
    start: tokio::time::Instant,
) {
    tokio::time::sleep_until(start).await;
    loop {
        if !watch(&registry, &settings, &counters, &mut rng).await {
            tokio::time::sleep(RETRY).await;
        }
    }
}

/// One viewer; false when it never got a subscription.
async fn watch(
    registry: &Registry,
    settings: &Settings,
    counters: &Counters,
    rng: &mut Rng,
) -> bool {
    let (edge, url) = &settings.edges[rng.below(settings.edges.len() as u64) as usize];
    let broadcast = rng.below(settings.broadcasts as u64) as usize;
    let stay = Duration::from_secs_f64(
        rng.range(settings.stay.0.as_secs_f64(), settings.stay.1.as_secs_f64()),
    );
    let v = registry.add(Viewer {
        edge: *edge,
        broadcast,
        joined: Instant::now(),
        subscribed: None,
        left: None,
        first: None,
        last_object: None,
        received: HashSet::new(),
    });
    Counters::add(&counters.joins);
    let leave = |counters: &Counters| {
        lock(&v).left = Some(Instant::now());
        Counters::add(&counters.leaves);
    };
    let session = match tokio::time::timeout(
        Duration::from_secs(10),
        Session::connect(url, &settings.connect),
    )
    .await
    {
        Ok(Ok(s)) => s,
        _ => {
            Counters::add(&counters.connect_errors);
            leave(counters);
            return false;
        }
    };
    let ns = TrackNamespace::from_path(&path(broadcast));
    let subscribe = session.subscribe(ns, TRACK, Some(SubscriptionFilter::LargestObject));
    let mut sub = match tokio::time::timeout(ANSWER_WITHIN, subscribe).await {
        Ok(Ok(sub)) => sub,
        Ok(Err(_)) => {
            Counters::add(&counters.subscribe_errors);
            session.close(0, "leaving");
            leave(counters);
            return false;
        }
        Err(_) => {
            Counters::add(&counters.stuck);
            session.close(0, "no answer");
            leave(counters);
            return false;
        }
    };
    let subscribed = Instant::now();
    lock(&v).subscribed = Some(subscribed);
    let until = tokio::time::Instant::from_std(subscribed + stay);
    loop {
        match tokio::time::timeout_at(until, sub.next()).await {
            Err(_) => break,
            Ok(Ok(Some(o))) => {
                let loc = (o.location.group, o.location.object);
                if parse_payload(&o.payload) != Some((broadcast, loc)) {
                    Counters::add(&counters.corrupt);
                }
                let mut v = lock(&v);
                v.first = Some(v.first.map_or(loc, |f| f.min(loc)));
                v.last_object = Some(Instant::now());
                v.received.insert(loc);
            }
            Ok(Ok(None) | Err(_)) => {
                Counters::add(&counters.ended_early);
                break;
            }
        }
    }
    drop(sub);
    session.close(0, "leaving");
    leave(counters);
    true
}
