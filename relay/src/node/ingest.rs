//! Objects arriving from publishers: subgroup streams and datagrams into the track cache.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use tern_moq::data::{DatagramPayload, ObjectDatagram, ObjectStatus as WireStatus, SubgroupId};
use tern_moq::message::codes::{SessionError as Code, StreamResetCode};
use tern_moq::session::Event;

use crate::core::cache::LiveBudget;
use crate::core::router::SessionId;
use crate::core::track::{Appended, SubgroupEnd};
use crate::core::types::{Location, Object, ObjectStatus, TrackName};
use crate::metrics as m;

use super::hub::Hub;
use super::session::Inbound;
use super::session::SessionShared;
use crate::core::track::DATAGRAM_SUBGROUP;
use tern_model::TrackProducer;

fn status(s: WireStatus) -> ObjectStatus {
    match s {
        WireStatus::Normal => ObjectStatus::Normal,
        WireStatus::EndOfGroup => ObjectStatus::EndOfGroup,
        WireStatus::EndOfTrack => ObjectStatus::EndOfTrack,
    }
}

async fn wait_alias(s: &SessionShared, alias: u64) -> Option<TrackProducer> {
    let deadline = tokio::time::Instant::now() + s.timeouts.alias_wait;
    loop {
        let added = s.alias_added.notified();
        tokio::pin!(added);
        added.as_mut().enable();
        if let Some(t) = s.alias(alias) {
            return Some(t);
        }
        if tokio::time::timeout_at(deadline, added).await.is_err() {
            return None;
        }
    }
}

/// Log lines about objects refused for the cache's live budget: at most 20 per 10 s.
static LIVE_LOG: tern_quic::LogBudget = tern_quic::LogBudget::new(20, Duration::from_secs(10));

/// Append one object, within the live budgets `live` (see [`crate::core::cache::LiveBudget`]),
/// and wake the track's readers.
pub(super) fn append(
    track: &TrackProducer,
    object: Object,
    subgroup: u64,
    priority: u8,
    live: &[Arc<LiveBudget>],
) -> Appended {
    let len = object.payload.len() as u64;
    let (result, restarted) = track.append(object, subgroup, priority, Instant::now(), live);
    if restarted {
        metrics::counter!(m::TRACK_RESTARTS).increment(1);
        tracing::info!(track = %track.name(), "the publisher restarted the track's group numbering: its viewers are told to subscribe again");
    }
    match &result {
        Appended::New(_) => {
            metrics::counter!(m::OBJECTS_IN).increment(1);
            metrics::counter!(m::BYTES_IN).increment(len);
        }
        Appended::Malformed(why) => {
            tracing::warn!(track = %track.name(), why, "malformed track: object dropped");
        }
        Appended::OverBudget => {
            metrics::counter!(m::CACHE_BUDGET_REFUSALS).increment(1);
            if let Some(suppressed) = LIVE_LOG.allow(Instant::now()) {
                tracing::info!(
                    track = %track.name(),
                    suppressed,
                    "refused an object: open groups hold the cache's budget \
                     (cache.max_bytes, cache.max_live_per_session)"
                );
            }
        }
        Appended::Duplicate | Appended::Stale => {}
    }
    result
}

/// A data stream from a publisher. `first` is its first event (the stream header).
pub async fn data_stream(
    hub: &Arc<Hub>,
    s: &Arc<SessionShared>,
    mut inbound: Inbound,
    first: Event,
) {
    let header = match first {
        Event::Subgroup { header, .. } => header,
        Event::Fetch { header, .. } => {
            super::fetch::upstream_fetch_stream(hub, s, inbound, header).await;
            return;
        }
        Event::DataEnd { .. } => return,
        other => {
            s.violation(
                Code::PROTOCOL_VIOLATION,
                &format!("unexpected data stream start {other:?}"),
            );
            return;
        }
    };
    let Some(track) = wait_alias(s, header.track_alias).await else {
        // Not a track we asked for (or it already ended): stop reading it.
        inbound.stop(StreamResetCode::CANCELLED);
        return;
    };
    // A new upstream's data waits, unread, for the gap before it to be backfilled.
    if !s.alias_released(header.track_alias).await {
        tracing::debug!(
            session = s.id,
            alias = header.track_alias,
            "alias held past its deadline: reading on"
        );
    }
    let group = header.group_id;
    tracing::trace!(
        session = s.id,
        alias = header.track_alias,
        group,
        "subgroup stream in"
    );
    let priority = header.publisher_priority.unwrap_or(128);
    let mut subgroup: Option<u64> = match header.subgroup_id {
        SubgroupId::Zero => Some(0),
        SubgroupId::Explicit(id) => Some(id),
        SubgroupId::FirstObject => None,
    };
    while let Some(event) = inbound.next(s).await {
        match event {
            Event::Object {
                object, payload, ..
            } => {
                let sg = *subgroup.get_or_insert(object.object_id);
                if object.object_status == WireStatus::EndOfTrack
                    && !feeds(hub, track.name(), s.id).await
                {
                    // A publisher the track moved away from (taken over, failed over) does
                    // not end it for the one that feeds it now.
                    continue;
                }
                let obj = Object {
                    location: Location::new(group, object.object_id),
                    status: status(object.object_status),
                    properties: object.properties.raw().clone(),
                    payload,
                    end_of_group: false,
                };
                match append(&track, obj, sg, priority, s.live_budgets()) {
                    Appended::Malformed(why) => {
                        inbound.stop(StreamResetCode::MALFORMED_TRACK);
                        tracing::warn!(session = s.id, why, "stopped a malformed subgroup stream");
                        return;
                    }
                    Appended::OverBudget => {
                        // Pushed back: this stream's objects stop here; the publisher's next
                        // group, once older ones can go, is taken again.
                        inbound.stop(StreamResetCode::EXCESSIVE_LOAD);
                        return;
                    }
                    _ => {}
                }
            }
            Event::DataEnd { reset, .. } => {
                // The end of a subgroup from an upstream the track is moving (or has moved)
                // away from is not the subgroup's end: that upstream may be draining or cut
                // off, and the new one carries the subgroup on (and ends it itself).
                let stale = !feeds(hub, track.name(), s.id).await;
                if let Some(sg) = subgroup
                    && !stale
                {
                    let end = match reset {
                        None => SubgroupEnd::Fin,
                        Some(code) => SubgroupEnd::Reset(code),
                    };
                    track.end_subgroup(group, sg, end, reset.is_none() && header.end_of_group);
                }
                return;
            }
            other => {
                s.violation(
                    Code::PROTOCOL_VIOLATION,
                    &format!("unexpected {other:?} on a subgroup stream"),
                );
                return;
            }
        }
    }
}

/// A datagram from a publisher.
pub fn datagram(s: &SessionShared, d: ObjectDatagram) {
    // A datagram of an alias still held (its gap being backfilled) would land out of order.
    if s.alias_held(d.track_alias) {
        return;
    }
    let Some(track) = s.alias(d.track_alias) else {
        return; // datagrams are unreliable: one for an unknown alias is dropped
    };
    let (st, payload) = match d.payload {
        DatagramPayload::Payload(p) => (ObjectStatus::Normal, p),
        DatagramPayload::Status(st) => (status(st), Bytes::new()),
    };
    let obj = Object {
        location: Location::new(d.group_id, d.object_id),
        status: st,
        properties: d.properties.raw().clone(),
        payload,
        end_of_group: d.end_of_group,
    };
    append(
        &track,
        obj,
        DATAGRAM_SUBGROUP,
        d.publisher_priority.unwrap_or(128),
        s.live_budgets(),
    );
}

/// Whether session `session` is the one that feeds track `name` now (for the router).
async fn feeds(hub: &Hub, name: &TrackName, session: SessionId) -> bool {
    let name = name.clone();
    hub.read(move |r| r.upstream_for(&name)).await == Some(session)
}
