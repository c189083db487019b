//! A local reader's handle: one subscription to a track the node can reach.

use std::sync::Arc;

use tern_relay_core::fanout::Delivery;
use tern_relay_core::types::Location;

use super::node::{ReadGrant, Release, Releases};
use super::types::Start;
use crate::fetch::{self, Entry, Plan};
use crate::track::{Next, Subscription, TrackConsumer};

/// A subscription of a local reader (an HLS packager, a WHEP session), served from the node's
/// cache exactly as a MoQ subscriber's is: the node holds one upstream subscription per track
/// whatever the number of readers, and a reader that falls behind loses whole groups, counted,
/// as the node's lag policy says. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Reading {
    id: u64,
    largest: Option<Location>,
    joined: Vec<Entry>,
    subscription: Option<Subscription>,
    releases: Arc<Releases>,
}

impl Reading {
    pub(crate) fn new(grant: ReadGrant, start: Start, releases: Arc<Releases>) -> Self {
        let joined = match (start, grant.largest, &grant.subscription) {
            (Start::CurrentGroup, Some(largest), Some(sub)) => sub
                .track()
                .read(|t| fetch::plan(t, Location::new(largest.group, 0), largest))
                .map(|p| p.entries)
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        Self {
            id: grant.id,
            largest: grant.largest,
            joined,
            subscription: grant.subscription,
            releases,
        }
    }

    /// The track's Largest Object when the reading began (`None`: nothing published yet).
    pub fn largest(&self) -> Option<Location> {
        self.largest
    }

    /// For [`Start::CurrentGroup`]: the objects of the current group up to
    /// [`largest`](Self::largest) that the node holds, in order (taken once). What
    /// [`next`](Self::next) delivers follows on from the last of them.
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

    /// Past objects `start..=end` from the node's cache, as a FETCH of them gets them.
    pub fn fetch(&self, start: Location, end: Location) -> Result<Plan, fetch::Refusal> {
        match self.track() {
            Some(t) => t.read(|t| fetch::plan(t, start, end)),
            None => Err(fetch::Refusal::NothingPublished),
        }
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        self.releases.push(Release::Reading { id: self.id });
    }
}
