//! The writer of one downstream subscription: turns [`Fanout`] deliveries into subgroup streams
//! and datagrams on the subscriber's session. Payloads are written as the shared `Bytes` the
//! cache holds (no copy per subscriber); only the few header bytes are per stream.
//!
//! Bounded everywhere: the fan-out cursor is the only queue, a write that cannot progress within
//! the delivery timeout resets that stream, and quinn's own send window caps what it buffers.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use tern_moq::coding::encode_varint;
use tern_moq::data::{SubgroupHeader, SubgroupId, encode_subgroup_header};
use tern_moq::message::Parameters;
use tern_moq::message::codes::PublishDoneCode;
use tern_quic::SendStream;

use crate::core::fanout::{Delivery, DoneReason, Fanout, FanoutStats};
use crate::core::types::{Object, ObjectStatus};
use crate::metrics as m;
use tern_model::{Next, Subscription};

use super::session::SessionShared;
use super::watermark::Marking;

/// Subgroup stream reset code INTERNAL_ERROR: the watermark could not be applied to the group.
const RESET_INTERNAL_ERROR: u32 = 0x0;

pub use crate::core::track::DATAGRAM_SUBGROUP;

/// Deliveries taken from the cache per lock.
const BATCH: usize = 64;

/// How long a writer has to deliver what is cached when its track ends, before it is stopped
/// (each write has at most the delivery timeout, 2 s; PUBLISH_DONE must not wait forever).
const FINISH_TIMEOUT: Duration = Duration::from_secs(5);

enum Control {
    Update {
        forward: Option<bool>,
        priority: Option<u8>,
    },
    Finish(oneshot::Sender<u64>),
}

/// A running subscription writer.
pub struct Serving {
    control: mpsc::Sender<Control>,
    task: JoinHandle<(PublishDoneCode, &'static str, u64)>,
    /// Streams opened so far (for PUBLISH_DONE when the writer has to be stopped).
    opened: Arc<AtomicU64>,
}

impl Serving {
    /// Apply a REQUEST_UPDATE.
    pub fn update(&self, params: &Parameters) {
        let _ = self.control.try_send(Control::Update {
            forward: params.forward(),
            priority: params.subscriber_priority(),
        });
    }

    /// Deliver what is cached, finish every stream, and return the number of streams opened.
    /// A writer that has not done so within 5 s (`FINISH_TIMEOUT`) is stopped.
    pub async fn finish(mut self) -> u64 {
        let finished = async {
            let (tx, rx) = oneshot::channel();
            if self.control.send(Control::Finish(tx)).await.is_ok()
                && let Ok(n) = rx.await
            {
                return n;
            }
            // The writer ended on its own (track dropped) before reading the request.
            (&mut self.task).await.map(|(_, _, n)| n).unwrap_or(0)
        };
        match tokio::time::timeout(FINISH_TIMEOUT, finished).await {
            Ok(n) => n,
            Err(_) => {
                tracing::warn!(
                    timeout = ?FINISH_TIMEOUT,
                    "a subscription writer did not finish its streams in time: stopped"
                );
                self.task.abort();
                self.opened.load(Ordering::Relaxed)
            }
        }
    }

    /// Wait until the writer ends by itself.
    pub async fn done(&mut self) -> (PublishDoneCode, &'static str, u64) {
        (&mut self.task)
            .await
            .unwrap_or((PublishDoneCode::INTERNAL_ERROR, "writer failed", 0))
    }

    /// Stop now (the subscriber left).
    pub fn stop(self) {
        self.task.abort();
    }
}

/// Start writing `reader` to the subscriber's session under `alias`.
pub fn spawn(s: Arc<SessionShared>, reader: Subscription, alias: u64) -> Serving {
    spawn_marked(s, reader, alias, None)
}

/// [`spawn`], with each object taken from the variant `marking` chooses for its group (the
/// fan-out runs over variant A, whose locations every variant shares).
pub fn spawn_marked(
    s: Arc<SessionShared>,
    reader: Subscription,
    alias: u64,
    marking: Option<Arc<Marking>>,
) -> Serving {
    let (control, rx) = mpsc::channel(8);
    // Counted while the task lives, however it ends (an abort drops the guard too).
    let watching = super::viewers::Watching::new(&reader.track().name().namespace, s.id);
    let opened = Arc::new(AtomicU64::new(0));
    let counter = opened.clone();
    let task = tokio::spawn(async move {
        let done = run(s, reader, alias, rx, marking, counter).await;
        drop(watching);
        done
    });
    metrics::gauge!(m::SUBSCRIPTIONS).increment(1.0);
    Serving {
        control,
        task,
        opened,
    }
}

struct Writer {
    s: Arc<SessionShared>,
    alias: u64,
    streams: HashMap<(u64, u64), SendStream>,
    /// Streams opened so far, shared with [`Serving`] (for [`Serving::finish`] when it has to
    /// stop the writer).
    opened: Arc<AtomicU64>,
    timeout: Duration,
    headers: BytesMut,
    marking: Option<Arc<Marking>>,
}

async fn run(
    s: Arc<SessionShared>,
    mut reader: Subscription,
    alias: u64,
    mut control: mpsc::Receiver<Control>,
    marking: Option<Arc<Marking>>,
    opened: Arc<AtomicU64>,
) -> (PublishDoneCode, &'static str, u64) {
    let timeout = fanout_timeout(reader.fanout());
    let mut w = Writer {
        s,
        alias,
        streams: HashMap::new(),
        opened,
        timeout,
        headers: BytesMut::with_capacity(4096),
        marking,
    };
    let mut finishing: Option<oneshot::Sender<u64>> = None;
    let mut reported = FanoutStats::default();
    let mut batch: Vec<Delivery> = Vec::with_capacity(BATCH);
    let result = loop {
        batch.clear();
        if finishing.is_some() {
            // Deliver what is cached now, then end.
            reader.poll(Instant::now(), BATCH, &mut batch);
            if batch.is_empty() {
                w.finish_all();
                if let Some(tx) = finishing.take() {
                    let _ = tx.send(w.opened());
                }
                break (PublishDoneCode::TRACK_ENDED, "track ended", w.opened());
            }
        } else {
            tokio::select! {
                next = reader.next(BATCH, &mut batch) => if next == Next::Closed {
                    w.finish_all();
                    break (PublishDoneCode::TRACK_ENDED, "track ended", w.opened());
                },
                c = control.recv() => {
                    match c {
                        Some(Control::Update { forward, priority }) => {
                            if let Some(f) = forward { reader.fanout_mut().set_forward(f); }
                            if let Some(p) = priority { reader.fanout_mut().set_subscriber_priority(p); }
                        }
                        Some(Control::Finish(tx)) => {
                            tracing::trace!(session = w.s.id, alias = w.alias, "subscription writer finishing");
                            finishing = Some(tx);
                        }
                        None => break (PublishDoneCode::INTERNAL_ERROR, "cancelled", w.opened()),
                    }
                    continue;
                }
            }
        }
        report(reader.fanout(), &mut reported);
        let mut ended = None;
        for d in batch.drain(..) {
            if let Some(reason) = w.apply(d).await {
                ended = Some(reason);
                break;
            }
        }
        if let Some(reason) = ended {
            w.finish_all();
            if let Some(tx) = finishing.take() {
                let _ = tx.send(w.opened());
            }
            break match reason {
                DoneReason::TooFarBehind => {
                    metrics::counter!(m::TOO_FAR_BEHIND).increment(1);
                    (
                        PublishDoneCode::TOO_FAR_BEHIND,
                        "subscriber too far behind",
                        w.opened(),
                    )
                }
                DoneReason::RangeComplete => (
                    PublishDoneCode::SUBSCRIPTION_ENDED,
                    "range complete",
                    w.opened(),
                ),
                DoneReason::TrackEnded => (PublishDoneCode::TRACK_ENDED, "track ended", w.opened()),
                DoneReason::Restarted => (
                    PublishDoneCode::TRACK_ENDED,
                    "the publisher restarted the track's group numbering: subscribe again",
                    w.opened(),
                ),
            };
        }
    };
    report(reader.fanout(), &mut reported);
    metrics::gauge!(m::SUBSCRIPTIONS).decrement(1.0);
    result
}

/// Count the skips and lag resets the fan-out made since the last report, as they happen.
fn report(fanout: &Fanout, reported: &mut FanoutStats) {
    let now = fanout.stats();
    metrics::counter!(m::SUBSCRIBER_SKIPS).increment(now.skips - reported.skips);
    metrics::counter!(m::SUBGROUP_RESETS).increment(now.resets - reported.resets);
    *reported = now;
}

/// How long one write may wait for the subscriber: its delivery timeout, at most 2 s.
fn fanout_timeout(f: &Fanout) -> Duration {
    f.policy().max_lag.min(Duration::from_secs(2))
}

impl Writer {
    fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    async fn apply(&mut self, d: Delivery) -> Option<DoneReason> {
        match d {
            Delivery::Open {
                group,
                subgroup,
                publisher_priority,
                send_order,
                first_object,
            } => {
                if subgroup == DATAGRAM_SUBGROUP {
                    return None;
                }
                if let Some(m) = &self.marking
                    && m.choose(group).await.is_none()
                {
                    return None; // the group ends here for this viewer
                }
                tracing::trace!(
                    session = self.s.id,
                    alias = self.alias,
                    group,
                    subgroup,
                    "subgroup stream out"
                );
                let stream = tokio::time::timeout(self.timeout, self.s.session.open_uni()).await;
                let Ok(Ok(mut stream)) = stream else {
                    return None; // no stream credit in time: this subgroup is skipped
                };
                let _ = stream.set_priority(send_order);
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
                if self
                    .write(&mut stream, encode_subgroup_header(&header))
                    .await
                {
                    self.opened.fetch_add(1, Ordering::Relaxed);
                    self.streams.insert((group, subgroup), stream);
                }
            }
            Delivery::Object {
                group,
                subgroup,
                previous,
                object,
            } => {
                let object = match &self.marking {
                    None => object,
                    Some(m) => match m.object(group, object).await {
                        Some(chosen) => chosen,
                        None => {
                            if let Some(mut s) = self.streams.remove(&(group, subgroup)) {
                                let _ = s.reset(RESET_INTERNAL_ERROR);
                            }
                            return None;
                        }
                    },
                };
                if subgroup == DATAGRAM_SUBGROUP {
                    self.datagram(group, &object);
                    return None;
                }
                let header = self.object_header(previous, &object);
                let mut stream = self.streams.remove(&(group, subgroup))?;
                let ok = self.write(&mut stream, header).await
                    && (object.payload.is_empty()
                        || self.write(&mut stream, object.payload.clone()).await);
                if ok {
                    metrics::counter!(m::OBJECTS_OUT).increment(1);
                    metrics::counter!(m::BYTES_OUT).increment(object.payload.len() as u64);
                    self.streams.insert((group, subgroup), stream);
                } else {
                    // The subscriber did not take the object within its delivery timeout.
                    metrics::counter!(m::SUBGROUP_RESETS).increment(1);
                    let _ = stream.reset(crate::core::fanout::RESET_DELIVERY_TIMEOUT as u32);
                }
            }
            Delivery::Finish { group, subgroup } => {
                if let Some(mut s) = self.streams.remove(&(group, subgroup)) {
                    let _ = s.finish();
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

    /// Write one chunk, giving up (and resetting) if the subscriber does not take it in time.
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

    fn datagram(&self, group: u64, object: &Object) {
        use tern_moq::data::{DatagramPayload, ObjectDatagram, encode_datagram_header};
        let Ok(properties) = tern_moq::data::Properties::from_raw(object.properties.clone()) else {
            return;
        };
        let d = ObjectDatagram {
            track_alias: self.alias,
            group_id: group,
            object_id: object.location.object,
            publisher_priority: None,
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
        let Ok(header) = encode_datagram_header(&d) else {
            return;
        };
        let mut buf = BytesMut::with_capacity(header.len() + object.payload.len());
        buf.extend_from_slice(&header);
        if object.status == ObjectStatus::Normal {
            buf.extend_from_slice(&object.payload);
        }
        let _ = self.s.session.send_datagram(buf.freeze());
        metrics::counter!(m::OBJECTS_OUT).increment(1);
    }

    fn finish_all(&mut self) {
        for (_, mut s) in self.streams.drain() {
            let _ = s.finish();
        }
    }
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
