//! Backfill after a failover: the objects a track missed between the last one it cached and
//! the new upstream's SUBSCRIBE_OK, fetched with a standalone FETCH from that upstream into the
//! cache *before* the new subscription's objects are let in, so that every subgroup stays in
//! order and a subscriber sees no gap. Objects the cache already holds are dropped by location.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tern_moq::data::{FetchObject, FetchObjectHeader};
use tern_moq::message::FetchType;
use tern_moq::session::Event;
use tern_moq::{Message, TrackNamespace};

use crate::core::track::{Appended, DATAGRAM_SUBGROUP};
use crate::core::types::{Location, Object, ObjectStatus, TrackName};

use super::ask_fetch::AskedFetch;
use super::session::SessionShared;
use tern_model::TrackProducer;

/// Fetch the objects after `after` up to `upto` (inclusive) of `track` from upstream `s` into
/// the cache. Returns how many new objects it added.
pub async fn backfill(
    s: &Arc<SessionShared>,
    track: &TrackProducer,
    after: Location,
    upto: Location,
) -> super::error::Result<usize> {
    // One deadline for all of it, the stream's opening and the request's writing included:
    // a short stream credit on the link cannot hold the new subscription's data past it.
    let deadline = tokio::time::Instant::now() + s.timeouts.backfill;
    let mut added = 0;
    let start = Location::new(after.group, after.object.saturating_add(1));
    fetch_upstream(s, track.name(), start, upto, deadline, |o, payload| {
        let obj = Object {
            location: Location::new(o.group_id, o.object_id),
            status: ObjectStatus::Normal,
            properties: o.properties.raw().clone(),
            payload,
            end_of_group: false,
        };
        let sg = o.subgroup_id.unwrap_or(DATAGRAM_SUBGROUP);
        if let Appended::New(_) =
            super::ingest::append(track, obj, sg, o.publisher_priority, s.live_budgets())
        {
            added += 1;
        }
        true
    })
    .await
    .map_err(|e| match e {
        Fetched::Late => super::error::NodeError::Upstream(format!(
            "backfill took longer than {:?}",
            s.timeouts.backfill
        )),
        e => super::error::NodeError::Upstream(format!("{e}")),
    })?;
    // Every group before the new subscription's own is now complete, the one the old upstream
    // left half-sent included: its subgroups end here (no upstream stream will end them).
    track.update(|t| {
        let done: Vec<u64> = t
            .group_ids()
            .filter(|g| (after.group..upto.group).contains(g))
            .collect();
        for group in done {
            t.finish_group(group);
        }
    });
    Ok(added)
}

/// Why a FETCH sent upstream brought nothing (more).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Fetched {
    /// The upstream refused it; its reason.
    #[error("upstream refused the FETCH: {0}")]
    Refused(String),
    /// The deadline passed.
    #[error("the upstream did not answer the FETCH in time")]
    Late,
    /// The link failed or the upstream broke the protocol.
    #[error("the FETCH failed on the upstream link: {0}")]
    Link(String),
}

/// Send a standalone FETCH of `start..=end` of track `name` to upstream `s` and hand each object
/// of its answer to `each` (in order) until it returns `false` or the answer ends, all before
/// `deadline`.
pub async fn fetch_upstream(
    s: &Arc<SessionShared>,
    name: &TrackName,
    start: Location,
    end: Location,
    deadline: tokio::time::Instant,
    mut each: impl FnMut(&FetchObjectHeader, Bytes) -> bool,
) -> Result<(), Fetched> {
    let fetch_type = FetchType::Standalone {
        track_namespace: TrackNamespace::new(name.namespace.clone()),
        track_name: name.name.clone(),
        start_location: tern_moq::Location::new(start.group, start.object),
        // End Location is exclusive in its object.
        end_location: tern_moq::Location::new(end.group, end.object.saturating_add(1)),
    };
    let sent = tokio::time::timeout_at(deadline, AskedFetch::send(s, fetch_type)).await;
    let mut asked = match sent {
        Ok(Ok(asked)) => asked,
        Ok(Err(e)) => return Err(Fetched::Link(e.to_string())),
        Err(_) => return Err(Fetched::Late),
    };
    let result = async {
        match asked.answer().await {
            Some(Message::FetchOk(_)) => {}
            Some(Message::RequestError(e)) => {
                return Err(Fetched::Refused(e.error_reason.to_string_lossy()));
            }
            other => return Err(Fetched::Link(format!("no FETCH_OK: {other:?}"))),
        }
        while let Some(event) = asked.data.recv().await {
            match event {
                Event::FetchObject {
                    object: FetchObject::Object(o),
                    payload,
                    ..
                } => {
                    if !each(&o, payload) {
                        break;
                    }
                }
                Event::FetchObject { .. } => {}
                Event::DataEnd { .. } => break,
                other => {
                    return Err(Fetched::Link(format!(
                        "unexpected {other:?} on a fetch stream"
                    )));
                }
            }
        }
        Ok(())
    };
    let out = tokio::time::timeout_at(deadline, result)
        .await
        .unwrap_or(Err(Fetched::Late));
    let _ = asked.send.finish();
    out
}

/// The new subscription starts after `upto`: once it delivers a later group, the group of
/// `upto` is complete unless the new upstream continued it (then its own stream ends it).
/// Without this, a group the dead upstream left open at `upto` would never end downstream.
/// It watches the track for at most `wait`.
pub fn finish_when_passed(track: TrackProducer, upto: Location, wait: Duration) {
    tokio::spawn(async move {
        let reader = track.consumer();
        let passed = reader.wait_for(|r| {
            r.read(|t| {
                t.received_largest()
                    .is_some_and(|l| l.group > upto.group)
                    .then(|| {
                        t.object(Location::new(upto.group, upto.object.saturating_add(1)))
                            .is_some()
                    })
            })
        });
        if let Ok(Some(false)) = tokio::time::timeout(wait, passed).await {
            // Not continued by the new upstream: the group is complete.
            track.update(|t| t.finish_group(upto.group));
        }
    });
}
