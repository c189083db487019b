//! A local reader's handle: one subscription to a track the node can reach.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use tern_relay_core::fanout::Delivery;
use tern_relay_core::types::{Location, TrackName};

use super::node::{Call, ReadGrant, Release, Releases};
use super::types::Refused;
use crate::fetch::{Entry, Plan};
use crate::track::{Next, Subscription, TrackConsumer};

/// A subscription of a local reader (an HLS packager, a WHEP session), served from the node's
/// cache exactly as a MoQ subscriber's is: the node holds one upstream subscription per track
/// whatever the number of readers, and a reader that falls behind loses whole groups, counted,
/// as the node's lag policy says. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Reading {
    id: u64,
    name: TrackName,
    largest: Option<Location>,
    joined: Vec<Entry>,
    subscription: Option<Subscription>,
    releases: Arc<Releases>,
    calls: mpsc::Sender<Call>,
}

impl Reading {
    pub(crate) fn new(
        grant: ReadGrant,
        releases: Arc<Releases>,
        calls: mpsc::Sender<Call>,
    ) -> Self {
        Self {
            id: grant.id,
            name: grant.track,
            largest: grant.largest,
            joined: grant.joined,
            subscription: grant.subscription,
            releases,
            calls,
        }
    }

    /// The track read (the plugin's subscribe phase may have chosen another name than the one
    /// asked for).
    pub fn name(&self) -> &TrackName {
        &self.name
    }

    /// The track's Largest Object when the reading began (`None`: nothing published yet).
    pub fn largest(&self) -> Option<Location> {
        self.largest
    }

    /// For [`Start::CurrentGroup`](super::Start::CurrentGroup): the objects of the current
    /// group from its first up to [`largest`](Self::largest), in order (taken once), from the
    /// node's cache or, on a node that did not hold the group's start, from the track's
    /// upstream. What [`next`](Self::next) delivers follows on from the last of them.
    pub fn joined(&mut self) -> Vec<Entry> {
        std::mem::take(&mut self.joined)
    }

    /// Wait for deliveries (subgroups opened, objects, subgroups finished or reset, groups
    /// skipped for lag) and take up to `max` into `batch`; [`Next::Closed`] once the track ended
    /// and everything cached was read.
    pub async fn next(&mut self, max: usize, batch: &mut Vec<Delivery>) -> Next {
        match &mut self.subscription {
            Some(s) => s.next(max, batch).await,
            None => Next::Closed,
        }
    }

    /// The track read (`None` when the subscription selected nothing).
    pub fn track(&self) -> Option<&TrackConsumer> {
        self.subscription.as_ref().map(Subscription::track)
    }

    /// The fan-out reader itself (its counters: groups dropped for lag, objects delivered).
    pub fn subscription(&self) -> Option<&Subscription> {
        self.subscription.as_ref()
    }

    /// Past objects `start..=end` (inclusive), as a FETCH of them gets them: from the node's
    /// cache when it holds the whole range, else from the track's upstream. A plan may end
    /// before `end` ([`Plan::last`]) when the range holds more than the node hands out at once;
    /// fetch the rest from there. A range nobody holds is refused
    /// ([`RefusedKind::NotFound`](super::RefusedKind::NotFound)) with the window that is held.
    pub async fn fetch(&self, start: Location, end: Location) -> Result<Plan, Refused> {
        self.fetcher().fetch(start, end).await
    }

    /// A handle that fetches past objects of the track read ([`Fetcher::fetch`]), for other
    /// tasks while this reading is read in its own.
    pub fn fetcher(&self) -> Fetcher {
        Fetcher {
            name: self.name.clone(),
            calls: self.calls.clone(),
        }
    }
}

/// Fetches past objects of a track a [`Reading`] was granted, from any task (cheap to clone):
/// what [`Reading::fetch`] does, without holding the reading.
#[derive(Debug, Clone)]
pub struct Fetcher {
    name: TrackName,
    calls: mpsc::Sender<Call>,
}

impl Fetcher {
    /// The track.
    pub fn name(&self) -> &TrackName {
        &self.name
    }

    /// Past objects `start..=end`: see [`Reading::fetch`].
    pub async fn fetch(&self, start: Location, end: Location) -> Result<Plan, Refused> {
        let (reply, answer) = oneshot::channel();
        let call = Call::Fetch {
            track: self.name.clone(),
            start,
            end,
            reply,
        };
        self.calls
            .send(call)
            .await
            .map_err(|_| Refused::unavailable())?;
        answer.await.map_err(|_| Refused::unavailable())?
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        self.releases.push(Release::Reading { id: self.id });
    }
}
