//! The one subgroup writer, shared by the relay's subscriptions and a client's published
//! tracks: turns a fan-out reader's [`Delivery`]s into subgroup streams and datagrams on a
//! subscriber's session. Payloads are written as the shared `Bytes` the cache holds (no copy
//! per subscriber); only the few header bytes are per stream, encoded into one arena.
//!
//! Bounded everywhere: the reader's cursor is the only queue, a write that cannot progress
//! within the timeout resets its stream, and the transport's send window caps what it buffers.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use tern_model::{Delivery, DoneReason, Object, ObjectStatus};
use tern_moq::Version;
use tern_moq::coding::encode_varint;
use tern_moq::data::{SubgroupHeader, SubgroupId, encode_subgroup_header_as};
use tern_moq::message::codes::StreamResetCode;
use tern_quic::{SendStream, Session};
use tern_relay_core::track::DATAGRAM_SUBGROUP;

/// Finished streams remembered so that the end of a track can wait for their delivery.
const REMEMBER_FINISHED: usize = 16;

/// A future the writer awaits for a variant choice.
pub type Choice<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Per-viewer variants of a track (forensic watermarking): the writer asks which variant each
/// group comes from, and for each object the chosen variant's object at the same location.
pub trait Variants: Send + Sync {
    /// The variant of `group` for this viewer; `None` ends the group for this viewer.
    fn choose(&self, group: u64) -> Choice<'_, Option<u32>>;
    /// The object to send instead of `object` of `group`; `None` ends the group for this
    /// viewer (its stream is reset).
    fn object(&self, group: u64, object: Object) -> Choice<'_, Option<Object>>;
}

/// What a writer sent, for the caller's metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Objects written.
    pub objects: u64,
    /// Payload bytes written.
    pub bytes: u64,
    /// Subgroup streams reset because the subscriber did not take an object in time.
    pub resets: u64,
}

/// Writes one subscription's deliveries under one Track Alias.
pub struct SubgroupWriter {
    session: Session,
    alias: u64,
    streams: HashMap<(u64, u64), SendStream>,
    finished: VecDeque<SendStream>,
    opened: Arc<AtomicU64>,
    timeout: Duration,
    headers: BytesMut,
    variants: Option<Arc<dyn Variants>>,
    stats: WriterStats,
    version: Version,
    /// The Publisher Priority of the datagram "subgroup" last opened (draft-14 datagrams
    /// carry one; 128 is the drafts' default).
    datagram_priority: u8,
}

impl std::fmt::Debug for SubgroupWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubgroupWriter")
            .field("alias", &self.alias)
            .field("streams", &self.streams.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl SubgroupWriter {
    /// A writer to `session` under `alias`; each stream opening and each write may wait at most
    /// `timeout` for the subscriber.
    pub fn new(session: Session, alias: u64, timeout: Duration) -> Self {
        Self {
            session,
            alias,
            streams: HashMap::new(),
            finished: VecDeque::new(),
            opened: Arc::new(AtomicU64::new(0)),
            timeout,
            headers: BytesMut::with_capacity(4096),
            variants: None,
            stats: WriterStats::default(),
            version: Version::Draft18,
            datagram_priority: 128,
        }
    }

    /// Write in the shape `version` gives subgroup streams and datagrams (draft-18's unless
    /// set: drafts 18 to 22 share it).
    pub fn with_version(mut self, version: Version) -> Self {
        self.version = version;
        self
    }

    /// Take each group's objects from the variant `variants` chooses.
    pub fn with_variants(mut self, variants: Option<Arc<dyn Variants>>) -> Self {
        self.variants = variants;
        self
    }

    /// Streams opened so far.
    pub fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// What was sent so far.
    pub fn stats(&self) -> WriterStats {
        self.stats
    }

    /// Carry out one delivery; `Some` when the subscription is over.
    pub async fn apply(&mut self, d: Delivery) -> Option<DoneReason> {
        match d {
            Delivery::Open {
                group,
                subgroup,
                publisher_priority,
                send_order,
                first_object,
            } => {
                if subgroup == DATAGRAM_SUBGROUP {
                    self.datagram_priority = publisher_priority;
                    return None;
                }
                if let Some(v) = &self.variants
                    && v.choose(group).await.is_none()
                {
                    return None; // the group ends here for this viewer
                }
                tracing::trace!(alias = self.alias, group, subgroup, "subgroup stream out");
                let header = SubgroupHeader {
                    track_alias: self.alias,
                    group_id: group,
                    subgroup_id: if subgroup == 0 {
                        SubgroupId::Zero
                    } else {
                        SubgroupId::Explicit(subgroup)
                    },
                    publisher_priority: Some(publisher_priority),
                    has_properties: true,
                    end_of_group: false,
                    first_object,
                };
                let header = match encode_subgroup_header_as(&header, self.version) {
                    Ok(h) => h,
                    Err(e) => {
                        tracing::debug!(group, "subgroup skipped: {e}");
                        return None;
                    }
                };
                let stream = tokio::time::timeout(self.timeout, self.session.open_uni()).await;
                let Ok(Ok(mut stream)) = stream else {
                    tracing::debug!(group, "no stream credit in time: subgroup skipped");
                    return None;
                };
                let _ = stream.set_priority(send_order);
                if self.write(&mut stream, header).await {
                    self.opened.fetch_add(1, Ordering::Relaxed);
                    self.streams.insert((group, subgroup), stream);
                } else {
                    let _ = stream.reset(StreamResetCode::DELIVERY_TIMEOUT.0 as u32);
                }
            }
            Delivery::Object {
                group,
                subgroup,
                previous,
                object,
            } => {
                let object = match &self.variants {
                    None => object,
                    Some(v) => match v.object(group, object).await {
                        Some(chosen) => chosen,
                        None => {
                            if let Some(mut s) = self.streams.remove(&(group, subgroup)) {
                                let _ = s.reset(StreamResetCode::INTERNAL_ERROR.0 as u32);
                            }
                            return None;
                        }
                    },
                };
                if subgroup == DATAGRAM_SUBGROUP {
                    self.datagram(group, &object);
                    return None;
                }
                let mut stream = self.streams.remove(&(group, subgroup))?;
                let header = if self.version.has_request_streams() {
                    self.object_header(previous, &object)
                } else {
                    match object_header_draft16(previous, &object, self.version) {
                        Ok(h) => h,
                        Err(e) => {
                            tracing::debug!(
                                group,
                                "object not sendable, subgroup stream reset: {e}"
                            );
                            let _ = stream.reset(StreamResetCode::INTERNAL_ERROR.0 as u32);
                            return None;
                        }
                    }
                };
                let ok = self.write(&mut stream, header).await
                    && (object.payload.is_empty()
                        || self.write(&mut stream, object.payload.clone()).await);
                if ok {
                    self.stats.objects += 1;
                    self.stats.bytes += object.payload.len() as u64;
                    self.streams.insert((group, subgroup), stream);
                } else {
                    // The subscriber did not take the object within the timeout.
                    tracing::debug!(group, "subscriber not reading: subgroup stream reset");
                    self.stats.resets += 1;
                    let _ = stream.reset(StreamResetCode::DELIVERY_TIMEOUT.0 as u32);
                }
            }
            Delivery::Finish { group, subgroup } => {
                if let Some(s) = self.streams.remove(&(group, subgroup)) {
                    self.finish(s);
                }
            }
            Delivery::Reset {
                group,
                subgroup,
                code,
            } => {
                if let Some(mut s) = self.streams.remove(&(group, subgroup)) {
                    let _ = s.reset(code as u32);
                }
            }
            Delivery::Done(reason) => return Some(reason),
        }
        None
    }

    fn finish(&mut self, mut stream: SendStream) {
        let _ = stream.finish();
        if self.finished.len() == REMEMBER_FINISHED {
            self.finished.pop_front();
        }
        self.finished.push_back(stream);
    }

    /// Finish every open stream (the subscription ends cleanly).
    pub fn finish_all(&mut self) {
        let open: Vec<SendStream> = self.streams.drain().map(|(_, s)| s).collect();
        for s in open {
            self.finish(s);
        }
    }

    /// Reset every open stream with `code` (the subscriber left).
    pub fn reset_all(&mut self, code: StreamResetCode) {
        for (_, mut s) in self.streams.drain() {
            let _ = s.reset(code.0 as u32);
        }
    }

    /// Wait, at most `timeout`, until the subscriber has acknowledged the last streams
    /// finished, so that a session closed right after the track ends loses nothing.
    pub async fn drain(&mut self, timeout: Duration) {
        let acked = async {
            for s in &self.finished {
                let _ = s.stopped().await;
            }
        };
        let _ = tokio::time::timeout(timeout, acked).await;
    }

    /// Write one chunk, giving up if the subscriber does not take it in time.
    async fn write(&self, stream: &mut SendStream, chunk: Bytes) -> bool {
        matches!(
            tokio::time::timeout(self.timeout, stream.write_chunk(chunk)).await,
            Ok(Ok(()))
        )
    }

    /// Object header on a subgroup stream with the PROPERTIES bit set: ID delta, properties,
    /// payload length, status when empty. Encoded into a shared arena (no allocation per object
    /// in the steady state).
    fn object_header(&mut self, previous: Option<u64>, object: &Object) -> Bytes {
        let id = object.location.object;
        let delta = match previous {
            Some(p) => id.saturating_sub(p).saturating_sub(1),
            None => id,
        };
        if self.headers.capacity() - self.headers.len() < 64 + object.properties.len() {
            self.headers.reserve(4096 + object.properties.len());
        }
        encode_varint(delta, &mut self.headers);
        encode_varint(object.properties.len() as u64, &mut self.headers);
        self.headers.extend_from_slice(&object.properties);
        encode_varint(object.payload.len() as u64, &mut self.headers);
        if object.payload.is_empty() {
            encode_varint(status_code(object.status), &mut self.headers);
        }
        self.headers.split().freeze()
    }

    fn datagram(&mut self, group: u64, object: &Object) {
        use tern_moq::data::{DatagramPayload, ObjectDatagram, encode_datagram_header_as};
        let Ok(properties) = tern_moq::data::Properties::from_raw(object.properties.clone()) else {
            return;
        };
        let d = ObjectDatagram {
            track_alias: self.alias,
            group_id: group,
            object_id: object.location.object,
            // Draft-14 datagrams always carry a Publisher Priority; later drafts inherit the
            // subscription's.
            publisher_priority: (self.version == Version::Draft14)
                .then_some(self.datagram_priority),
            properties,
            end_of_group: object.end_of_group,
            payload: match object.status {
                ObjectStatus::Normal => DatagramPayload::Payload(object.payload.clone()),
                ObjectStatus::EndOfTrack => {
                    DatagramPayload::Status(tern_moq::data::ObjectStatus::EndOfTrack)
                }
                _ => DatagramPayload::Status(tern_moq::data::ObjectStatus::EndOfGroup),
            },
        };
        let Ok(header) = encode_datagram_header_as(&d, self.version) else {
            return;
        };
        let mut buf = BytesMut::with_capacity(header.len() + object.payload.len());
        buf.extend_from_slice(&header);
        if object.status == ObjectStatus::Normal {
            buf.extend_from_slice(&object.payload);
        }
        let _ = self.session.send_datagram(buf.freeze());
        self.stats.objects += 1;
        self.stats.bytes += object.payload.len() as u64;
    }
}

/// Object header on a draft-14 or draft-16 subgroup stream (EXTENSIONS bit set): the
/// properties re-encoded as that draft's Extension Headers. Such a stream has no form for
/// Object Does Not Exist (draft-16 has no such status; draft-14's never reaches the cache).
fn object_header_draft16(
    previous: Option<u64>,
    object: &Object,
    version: Version,
) -> Result<Bytes, String> {
    use tern_moq::data::{ObjectStatus as Wire, Properties, SubgroupObject, draft16};
    let object_status = match object.status {
        ObjectStatus::Normal => Wire::Normal,
        ObjectStatus::EndOfGroup => Wire::EndOfGroup,
        ObjectStatus::EndOfTrack => Wire::EndOfTrack,
        ObjectStatus::DoesNotExist => return Err("Object Does Not Exist".into()),
    };
    let fields = SubgroupObject {
        object_id: object.location.object,
        properties: Properties::from_raw(object.properties.clone()).map_err(|e| e.to_string())?,
        payload_length: object.payload.len() as u64,
        object_status,
    };
    let mut out = Vec::with_capacity(16 + object.properties.len());
    draft16::encode_subgroup_object(true, previous, &fields, version, &mut out)
        .map_err(|e| e.to_string())?;
    Ok(out.into())
}

/// Wire value of an object status.
pub fn status_code(s: ObjectStatus) -> u64 {
    match s {
        ObjectStatus::Normal => 0,
        ObjectStatus::DoesNotExist => 1,
        ObjectStatus::EndOfGroup => 3,
        ObjectStatus::EndOfTrack => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_model::Location;
    use tern_moq::Limits;
    use tern_moq::data::{Decoded, SubgroupObject};

    #[test]
    fn draft14_and_16_object_headers_decode_back() {
        let mut props = Vec::new();
        tern_moq::coding::encode_varint(0x3C, &mut props);
        tern_moq::coding::encode_varint(300, &mut props);
        let object = Object {
            location: Location::new(4, 9),
            status: ObjectStatus::Normal,
            properties: props.into(),
            payload: Bytes::from_static(b"abc"),
            end_of_group: false,
        };
        for version in [Version::Draft14, Version::Draft16] {
            let head = object_header_draft16(Some(7), &object, version).expect("encodes");
            let header = SubgroupHeader {
                track_alias: 1,
                group_id: 4,
                subgroup_id: SubgroupId::Zero,
                publisher_priority: Some(0),
                has_properties: true,
                end_of_group: false,
                first_object: false,
            };
            let Ok(Decoded::Model(got)) = SubgroupObject::decode_as(
                &mut &head[..],
                &header,
                Some(7),
                &Limits::default(),
                version,
            ) else {
                panic!("{version}: decodes")
            };
            assert_eq!((got.object_id, got.payload_length), (9, 3));
            assert_eq!(&got.properties.raw()[..], &object.properties[..]);
        }
        let gone = Object {
            status: ObjectStatus::DoesNotExist,
            payload: Bytes::new(),
            ..object
        };
        assert!(object_header_draft16(None, &gone, Version::Draft14).is_err());
    }
}
