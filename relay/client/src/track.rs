//! [`TrackWriter`]: the publisher side of one track. It keeps the current group (so a subscriber
//! that arrives mid-group can start at the group's first object), and as much of the past as its
//! [`History`] says (for FETCH), and hands every object to each subscriber's bounded queue
//! without copying the payload.
//!
//! A subscriber whose queue is full loses the rest of the current group: its writer resets that
//! group's stream and resumes at the next group. Nothing is buffered beyond the queue.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use tern_moq::message::SubscriptionFilter;
use tern_moq::{Location, TrackNamespace};
use tokio::sync::mpsc;

use super::Error;
use super::history::{History, Kept, Plan, Refusal};

/// Commands queued for one subscriber's writer.
#[derive(Debug)]
pub(crate) enum SinkCmd {
    /// Group `0` starts: finish the previous group's stream.
    Group(u64),
    /// An object of the current group.
    Object {
        group: u64,
        object: u64,
        payload: Bytes,
    },
    /// The track ended.
    End,
}

/// Publisher priority of a track nobody set one for (the middle of the range).
pub const DEFAULT_PRIORITY: u8 = 128;

/// Commands a subscriber's queue holds. Bounds memory per subscriber.
pub(crate) const SINK_QUEUE: usize = 512;
/// Objects of the current group replayed to a late joiner; beyond this it starts at the next
/// group.
const BACKLOG_OBJECTS: usize = SINK_QUEUE / 2;

#[derive(Debug)]
struct Sink {
    tx: mpsc::Sender<SinkCmd>,
    /// Groups below this value are not sent (a filter's start, or a lost group).
    start_group: u64,
    /// Shared with the writer: groups below it must be dropped and their streams reset.
    skip_below: Arc<AtomicU64>,
}

#[derive(Debug, Default)]
struct State {
    group: Option<u64>,
    next_object: u64,
    /// The current group and the past groups kept.
    kept: Kept,
    sinks: Vec<Sink>,
    ended: bool,
}

#[derive(Debug)]
pub(crate) struct TrackShared {
    pub namespace: TrackNamespace,
    pub name: Bytes,
    /// Publisher priority of the track's subgroups (lower is more important).
    pub priority: AtomicU8,
    state: Mutex<State>,
}

/// What a new subscriber needs: its queue, the skip marker, and the Largest Object.
pub(crate) struct Attached {
    pub rx: mpsc::Receiver<SinkCmd>,
    pub skip_below: Arc<AtomicU64>,
    pub largest: Option<Location>,
    pub priority: u8,
}

impl State {
    fn largest(&self) -> Option<Location> {
        self.group
            .filter(|_| self.next_object > 0)
            .map(|g| Location::new(g, self.next_object - 1))
    }
}

impl TrackShared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The largest object written, if any.
    pub fn largest(&self) -> Option<Location> {
        self.lock().largest()
    }

    /// What a FETCH of `start..=end` gets now, and whether it reaches the end of the track.
    pub fn fetch(&self, start: Location, end: Location) -> Result<(Plan, bool), Refusal> {
        let mut st = self.lock();
        st.kept.evict(Instant::now());
        let largest = st.largest();
        let plan = st.kept.plan(start, end, largest)?;
        let end_of_track = st.ended && Some(plan.last) == largest;
        Ok((plan, end_of_track))
    }

    /// Add a subscriber starting where `filter` says (absent: from the start of what we have).
    pub fn attach(&self, filter: Option<SubscriptionFilter>) -> Attached {
        let (tx, rx) = mpsc::channel(SINK_QUEUE);
        let skip_below = Arc::new(AtomicU64::new(0));
        let mut st = self.lock();
        let largest = st.largest();
        let current = st.group;
        // (first group sent, first object of the current group sent)
        let (start_group, from_object) = match (filter, current) {
            (_, None) => (0, 0),
            (Some(SubscriptionFilter::NextGroupStart), Some(g)) => (g + 1, 0),
            (Some(SubscriptionFilter::LargestObject), Some(g)) => (g, st.next_object),
            (
                Some(
                    SubscriptionFilter::AbsoluteStart(l)
                    | SubscriptionFilter::AbsoluteRange { start: l, .. },
                ),
                Some(g),
            ) => match l.group.cmp(&g) {
                std::cmp::Ordering::Less => (g, 0),
                std::cmp::Ordering::Equal => (g, l.object),
                std::cmp::Ordering::Greater => (l.group, 0),
            },
            (None, Some(g)) => (g, 0),
        };
        let mut start_group = start_group;
        if let Some(g) = current
            && start_group == g
        {
            // The current group's objects from `from_object` on, if they are all kept.
            let backlog = if from_object >= st.next_object {
                Some(&[][..])
            } else {
                st.kept
                    .current()
                    .filter(|k| k.id == g && k.objects.len() as u64 == st.next_object)
                    .and_then(|k| k.objects.get(from_object as usize..))
                    .filter(|rest| rest.len() <= BACKLOG_OBJECTS)
            };
            match backlog {
                None => start_group = g + 1,
                Some(rest) => {
                    let _ = tx.try_send(SinkCmd::Group(g));
                    for (i, payload) in rest.iter().enumerate() {
                        let _ = tx.try_send(SinkCmd::Object {
                            group: g,
                            object: from_object + i as u64,
                            payload: payload.clone(),
                        });
                    }
                }
            }
        }
        if st.ended {
            let _ = tx.try_send(SinkCmd::End);
        } else {
            st.sinks.push(Sink {
                tx,
                start_group,
                skip_below: skip_below.clone(),
            });
        }
        Attached {
            priority: self.priority.load(Ordering::Relaxed),
            rx,
            skip_below,
            largest,
        }
    }
}

/// Offer `cmd` to a sink; a full queue makes it lose `group`. Returns false when it is gone.
fn offer(sink: &mut Sink, group: u64, cmd: SinkCmd) -> bool {
    if group < sink.start_group {
        return true;
    }
    match sink.tx.try_send(cmd) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            sink.start_group = group + 1;
            sink.skip_below.fetch_max(group + 1, Ordering::Relaxed);
            tracing::debug!(group, "subscriber too slow: rest of the group dropped");
            true
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// Writes one track: groups of objects, each object's payload shared by every subscriber.
/// Cheap to clone; clones write the same track. The track ends when [`finish`](Self::finish)
/// is called or the last clone is dropped.
#[derive(Debug, Clone)]
pub struct TrackWriter {
    pub(crate) shared: Arc<TrackShared>,
    _end: Arc<EndOnDrop>,
}

#[derive(Debug)]
struct EndOnDrop(Arc<TrackShared>);

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        end(&self.0);
    }
}

fn end(shared: &TrackShared) {
    let mut st = shared.lock();
    if st.ended {
        return;
    }
    st.ended = true;
    for sink in st.sinks.drain(..) {
        // A full queue still ends: the writer sees the channel close.
        let _ = sink.tx.try_send(SinkCmd::End);
    }
}

impl TrackWriter {
    /// A new track `name` in `namespace`, with no group yet.
    pub fn new(namespace: TrackNamespace, name: impl Into<Bytes>) -> Self {
        let shared = Arc::new(TrackShared {
            namespace,
            name: name.into(),
            priority: AtomicU8::new(DEFAULT_PRIORITY),
            state: Mutex::new(State::default()),
        });
        Self {
            _end: Arc::new(EndOnDrop(shared.clone())),
            shared,
        }
    }

    /// Keep completed groups as `history` says (default: none, only the current group), so
    /// that FETCH can be answered from them. Returns the writer, for chaining after
    /// [`new`](Self::new).
    pub fn with_history(self, history: History) -> Self {
        self.shared.lock().kept.set_history(history, Instant::now());
        self
    }

    /// Set the publisher priority of this track's subgroups (0 is the most important;
    /// default 128). Applies to subscribers that attach from now on; the QUIC streams of the
    /// more important tracks are sent first.
    pub fn set_priority(&self, priority: u8) {
        self.shared.priority.store(priority, Ordering::Relaxed);
    }

    /// The track namespace.
    pub fn namespace(&self) -> &TrackNamespace {
        &self.shared.namespace
    }

    /// The track name.
    pub fn name(&self) -> &Bytes {
        &self.shared.name
    }

    /// Start group `group` (IDs must increase); the previous group's streams are finished.
    pub fn new_group(&self, group: u64) -> Result<(), Error> {
        let mut st = self.shared.lock();
        if st.ended {
            return Err(Error::Invalid("the track has ended"));
        }
        if st.group.is_some_and(|g| group <= g) {
            return Err(Error::Invalid("group IDs must increase"));
        }
        st.group = Some(group);
        st.next_object = 0;
        let priority = self.shared.priority.load(Ordering::Relaxed);
        st.kept.handle_group(group, priority, Instant::now());
        st.sinks
            .retain_mut(|s| offer(s, group, SinkCmd::Group(group)));
        Ok(())
    }

    /// Append an object to the current group (group 0 if none was started); returns its
    /// location. The payload is shared with every subscriber, not copied.
    pub fn write_object(&self, payload: Bytes) -> Result<Location, Error> {
        if self.shared.lock().group.is_none() {
            self.new_group(0)?;
        }
        let mut st = self.shared.lock();
        if st.ended {
            return Err(Error::Invalid("the track has ended"));
        }
        let group = st.group.unwrap_or(0);
        let object = st.next_object;
        st.next_object += 1;
        st.kept.handle_object(payload.clone(), Instant::now());
        st.sinks.retain_mut(|s| {
            let cmd = SinkCmd::Object {
                group,
                object,
                payload: payload.clone(),
            };
            offer(s, group, cmd)
        });
        Ok(Location::new(group, object))
    }

    /// Copy `data` once into a shared buffer and write it (for callers holding a slice).
    pub fn write_slice(&self, data: &[u8]) -> Result<Location, Error> {
        self.write_object(BytesMut::from(data).freeze())
    }

    /// The largest object written, if any.
    pub fn largest(&self) -> Option<Location> {
        self.shared.largest()
    }

    /// Number of subscribers currently attached.
    pub fn subscribers(&self) -> usize {
        self.shared.lock().sinks.len()
    }

    /// End the track: every subscriber's streams are finished and it gets PUBLISH_DONE.
    pub fn finish(&self) {
        end(&self.shared);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(rx: &mut mpsc::Receiver<SinkCmd>) -> Vec<String> {
        std::iter::from_fn(|| rx.try_recv().ok())
            .map(|c| match c {
                SinkCmd::Group(g) => format!("G{g}"),
                SinkCmd::Object { group, object, .. } => format!("{group}.{object}"),
                SinkCmd::End => "end".into(),
            })
            .collect()
    }

    #[test]
    fn late_joiner_gets_the_current_group_from_its_start() {
        let t = TrackWriter::new(TrackNamespace::from_path("a"), "t");
        t.new_group(3).expect("group");
        t.write_object(Bytes::from_static(b"x")).expect("obj");
        t.write_object(Bytes::from_static(b"y")).expect("obj");
        let mut all = t.shared.attach(None);
        let mut next = t.shared.attach(Some(SubscriptionFilter::NextGroupStart));
        let mut largest = t.shared.attach(Some(SubscriptionFilter::LargestObject));
        assert_eq!(all.largest, Some(Location::new(3, 1)));
        t.write_object(Bytes::from_static(b"z")).expect("obj");
        t.new_group(4).expect("group");
        t.finish();
        assert_eq!(drain(&mut all.rx), ["G3", "3.0", "3.1", "3.2", "G4", "end"]);
        assert_eq!(drain(&mut next.rx), ["G4", "end"]);
        assert_eq!(drain(&mut largest.rx), ["G3", "3.2", "G4", "end"]);
        assert!(t.new_group(5).is_err());
    }

    #[test]
    fn full_queue_loses_the_rest_of_the_group_only() {
        let t = TrackWriter::new(TrackNamespace::from_path("a"), "t");
        let mut slow = t.shared.attach(None);
        t.new_group(0).expect("group");
        for _ in 0..SINK_QUEUE + 10 {
            t.write_object(Bytes::from_static(b"x")).expect("obj");
        }
        assert_eq!(slow.skip_below.load(Ordering::Relaxed), 1);
        assert_eq!(drain(&mut slow.rx).len(), SINK_QUEUE);
        t.new_group(1).expect("group");
        t.write_object(Bytes::from_static(b"y")).expect("obj");
        assert_eq!(drain(&mut slow.rx), ["G1", "1.0"]);
        assert!(t.new_group(1).is_err(), "group IDs must increase");
    }
}
