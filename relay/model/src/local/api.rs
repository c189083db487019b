//! The handle code in the node's process holds: publish a broadcast, read a track, look a
//! broadcast up.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use tern_relay_core::fanout::Delivery;
use tern_relay_core::types::{Namespace, TrackName};

use super::node::{Call, Calls, Releases};
use super::publish::BroadcastProducer;
use super::read::Reading;
use super::types::{
    Authorized, BroadcastInfo, Credentials, ReadOptions, Refused, RefusedKind, Start, Vouched,
};
use crate::fetch::Entry;
use crate::track::Next;

/// The catalog track of a broadcast (MSF).
pub const CATALOG_TRACK: &str = "catalog";

/// A running node's local API: cheap to clone, usable from any task of the node's process.
/// Every call is judged as the same request from a MoQ peer would be (the edge plugin's
/// phases, trust class, take-over policy, budgets), then served with no network hop and no
/// serialisation: a publisher appends into the node's cache, a reader reads from it.
#[derive(Debug, Clone)]
pub struct LocalApi {
    calls: mpsc::Sender<Call>,
    releases: Arc<Releases>,
    /// Set on a handle from [`LocalApi::vouched`].
    vouched: Option<Vouched>,
}

impl LocalApi {
    /// A local API and the node's end of it, holding up to `capacity` calls not yet taken.
    pub fn channel(capacity: usize) -> (LocalApi, Calls) {
        let (tx, rx) = mpsc::channel(capacity);
        let releases = Arc::new(Releases::default());
        (
            LocalApi {
                calls: tx,
                releases: releases.clone(),
                vouched: None,
            },
            Calls {
                rx,
                releases,
                ready: Vec::new(),
            },
        )
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, Refused>>) -> Call,
    ) -> Result<T, Refused> {
        let (reply, answer) = oneshot::channel();
        self.calls
            .send(make(reply))
            .await
            .map_err(|_| Refused::unavailable())?;
        answer.await.map_err(|_| Refused::unavailable())?
    }

    /// This API for a publisher the front-end admitted itself, under `identity` (a static
    /// stream key the RTMP or SRT listener matched): what the returned handle publishes is an
    /// authorised publisher's, judged by no plugin and from any host (see [`Vouched`]).
    pub fn vouched(&self, identity: Vouched) -> LocalApi {
        LocalApi {
            vouched: Some(identity),
            ..self.clone()
        }
    }

    /// Publish the broadcast `namespace` into the node: announced to its viewers and up the
    /// tree as a MoQ publisher's PUBLISH_NAMESPACE is. The publisher is judged by its
    /// credentials: the plugin's session-open and publish phases when the node has a plugin,
    /// else the node's rules for anonymous publishers (this host only unless
    /// `relay.open_publishing`); through a [`vouched`](Self::vouched) handle, by the identity
    /// the front-end proved.
    pub async fn publish(
        &self,
        namespace: Namespace,
        credentials: Credentials,
    ) -> Result<BroadcastProducer, Refused> {
        let ns = namespace.clone();
        let vouched = self.vouched.clone();
        let id = self
            .call(|reply| Call::Publish {
                namespace: ns,
                credentials,
                vouched,
                reply,
            })
            .await?;
        Ok(BroadcastProducer::new(
            namespace,
            id,
            self.calls.clone(),
            self.releases.clone(),
        ))
    }

    /// Read `track`, from the node's cache or through its upstreams, as a MoQ SUBSCRIBE
    /// does (the plugin's subscribe phase included).
    pub async fn subscribe(
        &self,
        track: TrackName,
        credentials: Credentials,
        options: ReadOptions,
    ) -> Result<Reading, Refused> {
        let grant = self
            .call(|reply| Call::Subscribe {
                track,
                credentials,
                options,
                reply,
            })
            .await?;
        Ok(Reading::new(
            grant,
            self.releases.clone(),
            self.calls.clone(),
        ))
    }

    /// Judge `credentials` as a reader of `track` of the broadcast `namespace` (of the
    /// broadcast as a whole when `track` is `None`), as [`subscribe`](Self::subscribe) and
    /// [`broadcast`](Self::broadcast) judge it (the plugin's session-open and subscribe phases),
    /// without reading anything: for a front-end that serves many viewers from one reading and
    /// checks each of them. Without a plugin everyone is admitted.
    pub async fn authorize(
        &self,
        namespace: Namespace,
        track: Option<Bytes>,
        credentials: Credentials,
    ) -> Result<Authorized, Refused> {
        self.call(|reply| Call::Authorize {
            namespace,
            track,
            credentials,
            reply,
        })
        .await
    }

    /// Which variant of `group` the viewer `viewer` (an [`Authorized::subject`]) gets of a track
    /// marked for it, whose variant A is `track`: the plugin's object phase, asked as for a MoQ
    /// viewer of the track (0 is variant A). Refused when the plugin fails or names a variant
    /// the set lacks (that group cannot be served to this viewer), and without a plugin.
    pub async fn variant(
        &self,
        viewer: String,
        track: TrackName,
        group: u64,
    ) -> Result<u32, Refused> {
        self.call(|reply| Call::Variant {
            viewer,
            track,
            group,
            reply,
        })
        .await
    }

    /// Whether the broadcast `namespace` is reachable from this node (published here or
    /// announced by an upstream), and the tracks the node holds of it. An unknown name is
    /// refused at once with [`RefusedKind::NotFound`]: no upstream is asked.
    pub async fn broadcast(
        &self,
        namespace: Namespace,
        credentials: Credentials,
    ) -> Result<BroadcastInfo, Refused> {
        self.call(|reply| Call::Broadcast {
            namespace,
            credentials,
            reply,
        })
        .await
    }

    /// The newest catalog of the broadcast `namespace` (the first object of the newest group
    /// of its `catalog` track), waiting up to `wait` for one.
    pub async fn catalog(
        &self,
        namespace: Namespace,
        credentials: Credentials,
        wait: Duration,
    ) -> Result<Bytes, Refused> {
        let track = TrackName {
            namespace,
            name: Bytes::from_static(CATALOG_TRACK.as_bytes()),
        };
        // One deadline for the rendezvous and the first object.
        let deadline = tokio::time::Instant::now() + wait;
        let options = ReadOptions {
            start: Start::CurrentGroup,
            rendezvous: wait,
            ..ReadOptions::default()
        };
        let mut reading = self.subscribe(track, credentials, options).await?;
        if let Some(Entry::Object { payload, .. }) = reading
            .joined()
            .into_iter()
            .find(|e| matches!(e, Entry::Object { location, .. } if location.object == 0))
        {
            return Ok(payload);
        }
        let mut batch = Vec::new();
        tokio::time::timeout_at(deadline, async {
            loop {
                batch.clear();
                if reading.next(16, &mut batch).await == Next::Closed {
                    return Err(Refused::new(
                        RefusedKind::NotFound,
                        "the catalog track ended",
                    ));
                }
                for d in &batch {
                    if let Delivery::Object { object, .. } = d
                        && object.location.object == 0
                    {
                        return Ok(object.payload.clone());
                    }
                }
            }
        })
        .await
        .unwrap_or_else(|_| {
            Err(Refused::new(
                RefusedKind::Timeout,
                "no catalog within the wait",
            ))
        })
    }
}
