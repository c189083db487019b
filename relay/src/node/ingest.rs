//! Objects arriving from publishers: subgroup streams and datagrams into the track cache.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use tern_moq::data::{Datagram, DatagramPayload, ObjectStatus as WireStatus, decode_datagram};
use tern_moq::message::codes::SessionError as Code;
use tern_moq::{DataStreamEvent, DataStreamReader};
use tern_quic::RecvStream;

use crate::core::track::{Appended, SubgroupEnd};
use crate::core::types::{Location, Object, ObjectStatus};
use crate::metrics as m;

use super::hub::{Hub, TrackHandle};
use super::serve::DATAGRAM_SUBGROUP;
use super::session::SessionShared;

/// How long data may wait for the control message that names its track alias.
const ALIAS_WAIT: Duration = Duration::from_secs(2);

fn status(s: WireStatus) -> ObjectStatus {
    match s {
        WireStatus::Normal => ObjectStatus::Normal,
        WireStatus::EndOfGroup => ObjectStatus::EndOfGroup,
        WireStatus::EndOfTrack => ObjectStatus::EndOfTrack,
    }
}

async fn wait_alias(s: &SessionShared, alias: u64) -> Option<Arc<TrackHandle>> {
    let deadline = tokio::time::Instant::now() + ALIAS_WAIT;
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

/// Append one object and wake the track's readers.
fn append(track: &TrackHandle, object: Object, subgroup: u64, priority: u8) -> Appended {
    let len = object.payload.len() as u64;
    let result = track
        .lock()
        .append(object, subgroup, priority, Instant::now());
    match &result {
        Appended::New(_) => {
            metrics::counter!(m::OBJECTS_IN).increment(1);
            metrics::counter!(m::BYTES_IN).increment(len);
            track.notify.notify_waiters();
        }
        Appended::Malformed(why) => {
            tracing::warn!(track = %track.name, why, "malformed track: object dropped");
        }
        Appended::Duplicate | Appended::Stale => {}
    }
    result
}

/// A data stream from a publisher. `first` is the stream header event already read.
pub async fn data_stream(
    hub: &Arc<Hub>,
    s: &Arc<SessionShared>,
    mut reader: DataStreamReader,
    first: DataStreamEvent,
    mut recv: RecvStream,
) {
    let header = match first {
        DataStreamEvent::SubgroupHeader(h) => h,
        DataStreamEvent::Padding => {
            while let Ok(Some(_)) = recv.read_chunk(64 * 1024).await {}
            return;
        }
        DataStreamEvent::FetchHeader(h) => {
            super::fetch::upstream_fetch_stream(hub, s, reader, h, recv).await;
            return;
        }
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
        let _ = recv.stop(0x1);
        return;
    };
    let group = header.group_id;
    let priority = header.publisher_priority.unwrap_or(128);
    let mut subgroup: Option<u64> = match header.subgroup_id {
        tern_moq::data::SubgroupId::Zero => Some(0),
        tern_moq::data::SubgroupId::Explicit(id) => Some(id),
        tern_moq::data::SubgroupId::FirstObject => None,
    };
    loop {
        loop {
            match reader.poll() {
                Ok(Some(DataStreamEvent::SubgroupObject { object, payload })) => {
                    let sg = *subgroup.get_or_insert(object.object_id);
                    let obj = Object {
                        location: Location::new(group, object.object_id),
                        status: status(object.object_status),
                        properties: object.properties.raw().clone(),
                        payload,
                        end_of_group: false,
                    };
                    if let Appended::Malformed(why) = append(&track, obj, sg, priority) {
                        let _ = recv.stop(0x12);
                        tracing::warn!(session = s.id, why, "stopped a malformed subgroup stream");
                        return;
                    }
                }
                Ok(Some(other)) => {
                    s.violation(
                        Code::PROTOCOL_VIOLATION,
                        &format!("unexpected {other:?} on a subgroup stream"),
                    );
                    return;
                }
                Ok(None) => break,
                Err(e) => {
                    s.violation(e.wire_code(), &format!("subgroup stream: {e}"));
                    return;
                }
            }
        }
        match recv.read_chunk(64 * 1024).await {
            Ok(Some(chunk)) => {
                if let Err(e) = reader.push(chunk) {
                    s.violation(e.wire_code(), &format!("subgroup stream: {e}"));
                    return;
                }
            }
            Ok(None) => {
                if let Err(e) = reader.finish() {
                    s.violation(e.wire_code(), &format!("subgroup stream: {e}"));
                    return;
                }
                if let Some(sg) = subgroup {
                    track
                        .lock()
                        .end_subgroup(group, sg, SubgroupEnd::Fin, header.end_of_group);
                    track.notify.notify_waiters();
                }
                return;
            }
            Err(e) => {
                let code = match e {
                    tern_quic::StreamError::Reset(c) => u64::from(c),
                    _ => 0,
                };
                if let Some(sg) = subgroup {
                    track
                        .lock()
                        .end_subgroup(group, sg, SubgroupEnd::Reset(code), false);
                    track.notify.notify_waiters();
                }
                return;
            }
        }
    }
}

/// A datagram from a publisher.
pub fn datagram(hub: &Arc<Hub>, s: &Arc<SessionShared>, datagram: Bytes) {
    let d = match decode_datagram(datagram, &hub.settings.limits) {
        Ok(Datagram::Object(d)) => d,
        Ok(_) => return, // padding
        Err(e) => {
            s.violation(e.wire_code(), &format!("datagram: {e}"));
            return;
        }
    };
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
    );
}
