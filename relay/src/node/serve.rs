//! One downstream subscription's task: its fan-out reader ([`Fanout`] in a
//! [`Subscription`]) written to the subscriber's session by the one subgroup writer every role
//! shares ([`SubgroupWriter`]), REQUEST_UPDATE applied, the end of the track finished and
//! counted. Payloads are written as the shared `Bytes` the cache holds (no copy per
//! subscriber).
//!
//! Bounded everywhere: the fan-out cursor is the only queue, a write that cannot progress within
//! the delivery timeout resets that stream, and quinn's own send window caps what it buffers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use tern_moq::message::Parameters;
use tern_moq::message::codes::PublishDoneCode;
use tern_peer::writer::{SubgroupWriter, Variants, WriterStats};

use crate::core::fanout::{Delivery, DoneReason, Fanout, FanoutStats};
use crate::metrics as m;
use tern_model::{Next, Subscription};

use super::session::SessionShared;
use super::watermark::Marking;

/// Deliveries taken from the cache per lock.
const BATCH: usize = 64;

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
    /// How long [`Serving::finish`] lets the writer deliver what is cached.
    finish_timeout: Duration,
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
    /// A writer that has not done so within the session's `timeouts.finish` is stopped.
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
        match tokio::time::timeout(self.finish_timeout, finished).await {
            Ok(n) => n,
            Err(_) => {
                tracing::warn!(
                    timeout = ?self.finish_timeout,
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
    let finish_timeout = s.timeouts.finish;
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
        finish_timeout,
    }
}

async fn run(
    s: Arc<SessionShared>,
    mut reader: Subscription,
    alias: u64,
    mut control: mpsc::Receiver<Control>,
    marking: Option<Arc<Marking>>,
    opened: Arc<AtomicU64>,
) -> (PublishDoneCode, &'static str, u64) {
    let timeout = reader.fanout().policy().max_lag.min(s.timeouts.write);
    let session = s.id;
    let variants = marking.map(|m| m as Arc<dyn Variants>);
    let mut w = SubgroupWriter::new(s.session.clone(), alias, timeout)
        .with_variants(variants)
        .with_version(s.proto(|p| p.version()));
    let counted = opened;
    let mut written = WriterStats::default();
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
                            tracing::trace!(session, alias, "subscription writer finishing");
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
        count(w.stats(), &mut written);
        counted.store(w.opened(), Ordering::Relaxed);
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
    count(w.stats(), &mut written);
    metrics::gauge!(m::SUBSCRIPTIONS).decrement(1.0);
    result
}

/// Count what the writer sent since the last count.
fn count(now: WriterStats, counted: &mut WriterStats) {
    metrics::counter!(m::OBJECTS_OUT).increment(now.objects - counted.objects);
    metrics::counter!(m::BYTES_OUT).increment(now.bytes - counted.bytes);
    metrics::counter!(m::SUBGROUP_RESETS).increment(now.resets - counted.resets);
    *counted = now;
}

/// Count the skips and lag resets the fan-out made since the last report, as they happen.
fn report(fanout: &Fanout, reported: &mut FanoutStats) {
    let now = fanout.stats();
    metrics::counter!(m::SUBSCRIBER_SKIPS).increment(now.skips - reported.skips);
    metrics::counter!(m::SUBGROUP_RESETS).increment(now.resets - reported.resets);
    *reported = now;
}
