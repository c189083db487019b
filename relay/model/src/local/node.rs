//! The node's side of the local API: the calls a running node answers, one at a time off a
//! bounded channel, and the releases that dropped handles leave for it.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc, oneshot};

use tern_relay_core::cache::LiveBudget;
use tern_relay_core::types::{Location, Namespace, TrackName};

use super::publish::AppendStats;
use super::types::{Authorized, BroadcastInfo, Credentials, ReadOptions, Refused, Vouched};
use crate::fetch::{Entry, Plan};
use crate::track::{Subscription, TrackProducer};

/// One call to the node. The node answers on `reply`; a call whose caller went away is
/// answered into nothing (and what it granted is released by the dropped grant).
#[derive(Debug)]
#[non_exhaustive]
pub enum Call {
    /// Publish a broadcast: judge the publisher and announce `namespace`.
    Publish {
        /// The broadcast.
        namespace: Namespace,
        /// Who publishes it.
        credentials: Credentials,
        /// The identity the front-end proved for it, if it admitted it itself.
        vouched: Option<Vouched>,
        /// The answer: the publication's ID on the node.
        reply: oneshot::Sender<Result<u64, Refused>>,
    },
    /// Publish one track of a broadcast granted by [`Call::Publish`].
    PublishTrack {
        /// The publication.
        publication: u64,
        /// The track's name within the broadcast.
        name: Bytes,
        /// The answer.
        reply: oneshot::Sender<Result<TrackGrant, Refused>>,
    },
    /// Read a track.
    Subscribe {
        /// The track.
        track: TrackName,
        /// Who reads it.
        credentials: Credentials,
        /// How.
        options: ReadOptions,
        /// The answer.
        reply: oneshot::Sender<Result<ReadGrant, Refused>>,
    },
    /// Past objects of a track a reading was granted: from the node's cache when it holds the
    /// whole range, else from the track's upstream.
    Fetch {
        /// The track (as granted).
        track: TrackName,
        /// The first Location.
        start: Location,
        /// The last Location, inclusive.
        end: Location,
        /// The answer.
        reply: oneshot::Sender<Result<Plan, Refused>>,
    },
    /// Judge a reader as a read of `track` (or of the broadcast, `None`) would be judged,
    /// without reading anything.
    Authorize {
        /// The broadcast.
        namespace: Namespace,
        /// The track, if one.
        track: Option<Bytes>,
        /// Who would read it.
        credentials: Credentials,
        /// The answer.
        reply: oneshot::Sender<Result<Authorized, Refused>>,
    },
    /// Which variant of `group` of a marked track `viewer` gets (the plugin's object phase).
    Variant {
        /// The viewer's subject.
        viewer: String,
        /// Variant A of the marked track.
        track: TrackName,
        /// The group.
        group: u64,
        /// The answer: the variant's index (0 is A).
        reply: oneshot::Sender<Result<u32, Refused>>,
    },
    /// Say whether a broadcast is reachable and which of its tracks the node holds.
    Broadcast {
        /// The broadcast.
        namespace: Namespace,
        /// Who asks.
        credentials: Credentials,
        /// The answer.
        reply: oneshot::Sender<Result<BroadcastInfo, Refused>>,
    },
}

/// A track the node granted a local publisher.
#[derive(Debug)]
pub struct TrackGrant {
    /// The node's own producer of the track, claimed for this publisher.
    pub producer: TrackProducer,
    /// The live budgets its objects are charged to.
    pub live: Vec<Arc<LiveBudget>>,
    /// Where its appends are counted for the node's metrics.
    pub stats: Arc<AppendStats>,
}

/// A subscription the node granted a local reader.
#[derive(Debug)]
pub struct ReadGrant {
    /// The reading's ID on the node (what its release names).
    pub id: u64,
    /// The track read (the name the plugin's subscribe phase chose, if it chose one).
    pub track: TrackName,
    /// The track's Largest Object when the subscription began.
    pub largest: Option<Location>,
    /// For [`Start::CurrentGroup`](super::Start): the current group up to `largest`, from its
    /// first object (from the node's cache, or from the track's upstream on a cold node).
    pub joined: Vec<Entry>,
    /// The fan-out reader; `None` when nothing after `largest` can come.
    pub subscription: Option<Subscription>,
}

/// What a dropped handle leaves for the node to clean up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Release {
    /// A publication ended: `finished` when its publisher said so (its tracks end now), else
    /// it went away (its tracks linger for a publisher that comes back, as a MoQ publisher's
    /// do).
    Publication {
        /// The publication's ID.
        id: u64,
        /// Whether its publisher finished it.
        finished: bool,
    },
    /// A reading was dropped.
    Reading {
        /// The reading's ID.
        id: u64,
    },
}

/// Releases waiting for the node: one entry per dropped handle, so bounded by the handles the
/// node granted.
#[derive(Debug, Default)]
pub(crate) struct Releases {
    pending: Mutex<Vec<Release>>,
    added: Notify,
}

impl Releases {
    pub(crate) fn push(&self, release: Release) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(release);
        self.added.notify_one();
    }

    fn take(&self) -> Vec<Release> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// What the node gets next from its local API.
#[derive(Debug)]
#[non_exhaustive]
pub enum Input {
    /// A call to answer.
    Call(Call),
    /// A handle was dropped.
    Release(Release),
}

/// The node's end of a [`LocalApi`](super::LocalApi): calls and releases, in arrival order
/// within each kind (releases first).
#[derive(Debug)]
pub struct Calls {
    pub(crate) rx: mpsc::Receiver<Call>,
    pub(crate) releases: Arc<Releases>,
    pub(crate) ready: Vec<Release>,
}

impl Calls {
    /// The next input; `None` once every [`LocalApi`](super::LocalApi) handle is gone and
    /// nothing is left.
    pub async fn next(&mut self) -> Option<Input> {
        loop {
            if let Some(r) = self.ready.pop() {
                return Some(Input::Release(r));
            }
            let added = self.releases.added.notified();
            tokio::pin!(added);
            added.as_mut().enable();
            let mut taken = self.releases.take();
            if !taken.is_empty() {
                taken.reverse();
                self.ready = taken;
                continue;
            }
            tokio::select! {
                call = self.rx.recv() => return call.map(Input::Call),
                () = added => {}
            }
        }
    }
}
