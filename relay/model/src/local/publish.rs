//! A local publisher's handles: a broadcast it publishes into the node and the tracks in it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use tern_relay_core::cache::LiveBudget;
use tern_relay_core::track::{Appended, SubgroupEnd};
use tern_relay_core::types::{Namespace, Object, TrackName};

use super::node::{Call, Release, Releases};
use super::types::Refused;
use crate::track::{TrackConsumer, TrackProducer};

/// A broadcast published into a node, as a MoQ publisher's PUBLISH_NAMESPACE is: announced to
/// the node's viewers and up the tree while the handle lives. Its tracks are made with
/// [`track`](Self::track). [`finish`](Self::finish) ends it and its tracks; dropping it
/// without finishing is a publisher going away: its tracks linger for the node's linger
/// window, so that a publisher reconnecting with the same identity takes them back with their
/// viewers.
#[derive(Debug)]
pub struct BroadcastProducer {
    namespace: Namespace,
    id: u64,
    calls: mpsc::Sender<Call>,
    releases: Arc<Releases>,
    released: bool,
}

impl BroadcastProducer {
    pub(crate) fn new(
        namespace: Namespace,
        id: u64,
        calls: mpsc::Sender<Call>,
        releases: Arc<Releases>,
    ) -> Self {
        Self {
            namespace,
            id,
            calls,
            releases,
            released: false,
        }
    }

    /// The broadcast's namespace.
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// Publish the track `name` of this broadcast, as a MoQ PUBLISH does: its subscribers get
    /// it from now on. Refused when another publisher holds the track and the take-over policy
    /// keeps it (or the plugin's publish phase refuses the track).
    pub async fn track(&self, name: impl Into<Bytes>) -> Result<PublishedTrack, Refused> {
        let (reply, answer) = oneshot::channel();
        let call = Call::PublishTrack {
            publication: self.id,
            name: name.into(),
            reply,
        };
        self.calls
            .send(call)
            .await
            .map_err(|_| Refused::unavailable())?;
        let grant = answer.await.map_err(|_| Refused::unavailable())??;
        Ok(PublishedTrack {
            producer: grant.producer,
            live: grant.live,
            stats: grant.stats,
        })
    }

    /// End the broadcast: its tracks end for their readers once they have read what is
    /// cached, and the namespace is withdrawn.
    pub fn finish(mut self) {
        self.release(true);
    }

    fn release(&mut self, finished: bool) {
        if !self.released {
            self.released = true;
            self.releases.push(Release::Publication {
                id: self.id,
                finished,
            });
        }
    }
}

impl Drop for BroadcastProducer {
    fn drop(&mut self) {
        self.release(false);
    }
}

/// The track is no longer this publisher's: another publisher took it over (the take-over
/// policy gave it to a newer one), or the node ended it (a publisher that replaced this one
/// after its track lingered out). This handle writes nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackLost;

impl std::fmt::Display for TrackLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the track is no longer this publisher's: another took it over or it ended")
    }
}

impl std::error::Error for TrackLost {}

/// What local publishers appended, for the node's metrics: counted as they append, taken by
/// the node's report (so a scrape sees local objects as it sees a MoQ publisher's).
#[derive(Debug, Default)]
pub struct AppendStats {
    objects: AtomicU64,
    bytes: AtomicU64,
    over_budget: AtomicU64,
}

impl AppendStats {
    /// Objects cached, their payload bytes and objects pushed back for the live budget since
    /// the last call.
    pub fn take(&self) -> (u64, u64, u64) {
        (
            self.objects.swap(0, Ordering::Relaxed),
            self.bytes.swap(0, Ordering::Relaxed),
            self.over_budget.swap(0, Ordering::Relaxed),
        )
    }
}

/// One track of a [`BroadcastProducer`]: appends go straight into the node's cache (the same
/// `Bytes` every reader of the track gets), charged to the node's live budgets as a MoQ
/// publisher's objects are.
#[derive(Debug, Clone)]
pub struct PublishedTrack {
    producer: TrackProducer,
    live: Vec<Arc<LiveBudget>>,
    stats: Arc<AppendStats>,
}

impl PublishedTrack {
    /// The track's name.
    pub fn name(&self) -> &TrackName {
        self.producer.name()
    }

    /// Append an object of subgroup `subgroup` with publisher priority `priority`. The answer
    /// says whether it was cached: [`Appended::OverBudget`] when open groups hold the node's
    /// live budget (pushed back: drop the rest of the group and start the next one),
    /// [`Appended::Malformed`] when it breaks the track's order. `Err` once the track is no longer
    /// this publisher's.
    pub fn append(
        &self,
        object: Object,
        subgroup: u64,
        priority: u8,
    ) -> Result<Appended, TrackLost> {
        if self.is_lost() {
            return Err(TrackLost);
        }
        let len = object.payload.len() as u64;
        let (appended, _) =
            self.producer
                .append(object, subgroup, priority, Instant::now(), &self.live);
        match appended {
            Appended::New(_) => {
                self.stats.objects.fetch_add(1, Ordering::Relaxed);
                self.stats.bytes.fetch_add(len, Ordering::Relaxed);
            }
            Appended::OverBudget => {
                self.stats.over_budget.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        Ok(appended)
    }

    /// End subgroup `subgroup` of group `group`: `SubgroupEnd::Fin` when all its objects were
    /// appended, `SubgroupEnd::Reset` when it is incomplete (its readers' streams are reset
    /// too); `end_of_group` when it was the group's last.
    pub fn end_subgroup(
        &self,
        group: u64,
        subgroup: u64,
        end: SubgroupEnd,
        end_of_group: bool,
    ) -> Result<(), TrackLost> {
        if self.is_lost() {
            return Err(TrackLost);
        }
        self.producer
            .end_subgroup(group, subgroup, end, end_of_group);
        Ok(())
    }

    /// Whether the track is no longer this publisher's (see [`TrackLost`]).
    pub fn is_lost(&self) -> bool {
        !self.producer.holds_claim() || self.producer.is_closed()
    }

    /// A read view of the track (what the node caches of it).
    pub fn consumer(&self) -> TrackConsumer {
        self.producer.consumer()
    }

    /// Keep this track's completed groups by `retention`'s budget (its age and bytes: the
    /// publisher's own DVR window) instead of the node cache's: the groups are charged to the
    /// publisher, outside the node's cache budget, and the node answers FETCH from them as from
    /// any cached group. The node's live budgets still hold the track's open groups. Clones of
    /// one gauge share its bytes (one budget for a whole broadcast).
    pub fn keep(&self, retention: Arc<crate::CacheGauge>) {
        self.producer
            .update(|t| t.charge_to(retention, Instant::now()));
    }
}
