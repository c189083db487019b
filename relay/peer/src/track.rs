//! [`TrackWriter`]: the publisher side of one track, a producer of the track model every tern
//! role shares (`tern_model`). Its cache keeps the current group (a subscriber that arrives
//! mid-group starts at the group's first object) and as much of the past as its [`History`]
//! says (for FETCH); every subscriber is a fan-out reader over it, getting each payload as the
//! same shared `Bytes`.
//!
//! A subscriber that falls behind loses whole groups, counted, as the relay's lag policy says:
//! nothing is buffered per subscriber beyond its cursor.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use tern_model::local::PublishedTrack;
use tern_model::{
    Appended, Filter, LagPolicy, Location, Object, ObjectStatus, Subscription, TrackConsumer,
    TrackName, TrackProducer,
};
use tern_moq::TrackNamespace;
use tern_moq::message::SubscriptionFilter;
use tern_moq::message::codes::StreamResetCode;
use tern_relay_core::track::SubgroupEnd;

use super::Error;
use super::history::History;

/// Publisher priority of a track nobody set one for (the middle of the range).
pub const DEFAULT_PRIORITY: u8 = 128;

/// The subgroup a track writer writes each group's objects on.
const SUBGROUP: u64 = 0;

/// How a publisher treats a subscriber that falls behind. Its subscribers are few (the relays
/// it publishes to), and ending one ends the broadcast for everyone behind it: a subscriber
/// that trails skips to the newest group (whole groups dropped, counted) but is never ended
/// for it. What it may trail is bounded by the writer's own cache ([`History`]).
const PUBLISHER_LAG: LagPolicy = LagPolicy {
    max_lag_groups: 64,
    max_pending_bytes: 16 << 20,
    max_lag: std::time::Duration::from_secs(5),
    group_grace: std::time::Duration::from_secs(2),
    max_skips: usize::MAX,
    skip_window: std::time::Duration::from_secs(10),
};

/// Where the writer is.
#[derive(Debug, Default)]
struct Position {
    group: Option<u64>,
    next_object: u64,
}

/// Where a writer's objects go.
#[derive(Debug)]
enum Sink {
    /// Its own cache, served to the relays it publishes to by this peer's sessions.
    Own(TrackProducer),
    /// A relay node's cache in this process, through the node's local API (see
    /// [`TrackWriter::in_node`]): the node serves it.
    Node(PublishedTrack),
}

#[derive(Debug)]
pub(crate) struct TrackShared {
    pub namespace: TrackNamespace,
    pub name: Bytes,
    /// Publisher priority of the track's subgroups (lower is more important).
    pub priority: AtomicU8,
    /// A read view of the cache the objects go to.
    pub reader: TrackConsumer,
    sink: Sink,
    /// Set by [`TrackShared::end`].
    ended: AtomicBool,
    position: Mutex<Position>,
}

/// Why a node's track refuses this writer's objects.
const LOST: &str =
    "the track is no longer this publisher's: another publisher took it over, or the node ended it";

impl TrackShared {
    fn position(&self) -> MutexGuard<'_, Position> {
        self.position.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The largest object written, if any.
    pub fn largest(&self) -> Option<Location> {
        self.reader.largest()
    }

    /// Whether the track has ended (or, in a node, is no longer this writer's).
    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
            || self.reader.is_closed()
            || matches!(&self.sink, Sink::Node(t) if t.is_lost())
    }

    /// A fan-out reader starting where `filter` says (absent: from {0, 0}, whatever is kept),
    /// and the Largest Object when it was made.
    pub fn attach(
        &self,
        filter: Option<SubscriptionFilter>,
    ) -> (Option<Location>, Option<Subscription>) {
        self.reader
            .subscribe(Filter::of(filter), 128, PUBLISHER_LAG, true)
    }

    fn append(&self, object: Object, priority: u8) -> Result<Appended, Error> {
        match &self.sink {
            Sink::Own(p) => Ok(p.append(object, SUBGROUP, priority, Instant::now(), &[]).0),
            Sink::Node(t) => t
                .append(object, SUBGROUP, priority)
                .map_err(|_| Error::Invalid(LOST)),
        }
    }

    /// Why a write to an ended track fails: in a node, a track another publisher took over
    /// is said as such.
    fn ended_error(&self) -> Error {
        match &self.sink {
            Sink::Node(t) if t.is_lost() => Error::Invalid(LOST),
            _ => Error::Invalid("the track has ended"),
        }
    }

    fn end_group(&self, group: u64) {
        match &self.sink {
            Sink::Own(p) => p.end_subgroup(group, SUBGROUP, SubgroupEnd::Fin, true),
            Sink::Node(t) => {
                let _ = t.end_subgroup(group, SUBGROUP, SubgroupEnd::Fin, true);
            }
        }
    }

    /// The publisher went away mid-group: the current group ends reset (incomplete, never
    /// delivered as complete) and nothing more is written.
    fn abandon(&self) {
        let pos = self.position();
        if self.ended.swap(true, Ordering::SeqCst) || self.reader.is_closed() {
            return;
        }
        let reset = SubgroupEnd::Reset(StreamResetCode::SESSION_CLOSED.0);
        if let Some(g) = pos.group {
            match &self.sink {
                Sink::Own(p) => p.end_subgroup(g, SUBGROUP, reset, false),
                Sink::Node(t) => {
                    let _ = t.end_subgroup(g, SUBGROUP, reset, false);
                }
            }
        }
        if let Sink::Own(p) = &self.sink {
            p.close();
        }
    }

    fn end(&self) {
        let pos = self.position();
        if self.ended.swap(true, Ordering::SeqCst) || self.reader.is_closed() {
            return;
        }
        if let Some(g) = pos.group {
            self.end_group(g);
        }
        match &self.sink {
            Sink::Own(p) => p.close(),
            // The node ends its track when the broadcast is finished (or lingers it when the
            // publisher goes away): see `tern_model::local::BroadcastProducer`.
            Sink::Node(_) => {}
        }
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
        self.0.end();
    }
}

impl TrackWriter {
    /// A new track `name` in `namespace`, with no group yet and no history (only the current
    /// group is kept).
    pub fn new(namespace: TrackNamespace, name: impl Into<Bytes>) -> Self {
        Self::with(namespace, name.into(), &History::default())
    }

    fn with(namespace: TrackNamespace, name: Bytes, history: &History) -> Self {
        let track_name = TrackName {
            namespace: namespace.fields().to_vec(),
            name: name.clone(),
        };
        let producer = TrackProducer::new(track_name, history.track());
        Self::over(namespace, name, producer.consumer(), Sink::Own(producer))
    }

    /// A writer of a track published into a relay node in this process through the node's
    /// local API ([`tern_model::local`]): objects go straight into the node's cache, charged
    /// to its live budgets, and the node serves them (the writer is not given to a
    /// [`Session`](crate::Session)). Writes fail once the track is no longer this publisher's
    /// (another took it over). [`finish`](Self::finish) ends the last group; the track itself
    /// ends with its broadcast.
    pub fn in_node(track: PublishedTrack) -> Self {
        let name = track.name();
        let namespace = TrackNamespace::new(name.namespace.clone());
        let name = name.name.clone();
        Self::over(namespace, name, track.consumer(), Sink::Node(track))
    }

    fn over(namespace: TrackNamespace, name: Bytes, reader: TrackConsumer, sink: Sink) -> Self {
        let shared = Arc::new(TrackShared {
            namespace,
            name,
            priority: AtomicU8::new(DEFAULT_PRIORITY),
            reader,
            sink,
            ended: AtomicBool::new(false),
            position: Mutex::new(Position::default()),
        });
        Self {
            _end: Arc::new(EndOnDrop(shared.clone())),
            shared,
        }
    }

    /// Keep completed groups as `history` says (default: the current group and the groups
    /// of the last 5 s), so that FETCH can be answered from them. Returns the writer, for
    /// chaining after [`new`](Self::new); what the track holds already is charged to
    /// `history` from now on.
    ///
    /// A writer [in a node](Self::in_node) keeps its track's completed groups in the node's
    /// cache by `history` instead of the node cache's own budget (the publisher's DVR, outside
    /// the node's cache budget), and the node answers FETCH from them.
    pub fn with_history(self, history: History) -> Self {
        match &self.shared.sink {
            Sink::Own(p) => p.update(|t| t.charge_to(history.gauge(), Instant::now())),
            Sink::Node(track) => track.keep(history.gauge()),
        }
        self
    }

    /// Set the publisher priority of this track's subgroups (0 is the most important;
    /// default 128). Applies to groups started from now on; the QUIC streams of the more
    /// important tracks are sent first.
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

    /// The publisher went away in the middle of a group (a connection that reset): that group
    /// ends reset, as incomplete, so that no viewer or cache takes it for whole; the track
    /// writes nothing more. In a node the track lingers for a publisher that comes back, whose
    /// next group starts at its keyframe.
    pub fn abandon(&self) {
        self.shared.abandon();
    }

    /// Start group `group` (IDs must increase); the previous group is complete.
    pub fn new_group(&self, group: u64) -> Result<(), Error> {
        let mut pos = self.shared.position();
        if self.shared.ended() {
            return Err(self.shared.ended_error());
        }
        if pos.group.is_some_and(|g| group <= g) {
            return Err(Error::Invalid("group IDs must increase"));
        }
        if let Some(previous) = pos.group {
            self.shared.end_group(previous);
        }
        pos.group = Some(group);
        pos.next_object = 0;
        Ok(())
    }

    /// Append an object to the current group (group 0 if none was started); returns its
    /// location. The payload is shared with every subscriber, not copied.
    pub fn write_object(&self, payload: Bytes) -> Result<Location, Error> {
        if self.shared.position().group.is_none() {
            self.new_group(0)?;
        }
        let mut pos = self.shared.position();
        if self.shared.ended() {
            return Err(self.shared.ended_error());
        }
        let location = Location::new(pos.group.unwrap_or(0), pos.next_object);
        let object = Object {
            location,
            status: ObjectStatus::Normal,
            properties: Bytes::new(),
            payload,
            end_of_group: false,
        };
        let priority = self.shared.priority.load(Ordering::Relaxed);
        match self.shared.append(object, priority)? {
            Appended::New(_) => {
                pos.next_object += 1;
                Ok(location)
            }
            Appended::Malformed(why) => Err(Error::Invalid(why)),
            Appended::OverBudget => Err(Error::Invalid(
                "the relay's live budget is full: the rest of this group is dropped",
            )),
            _ => Err(Error::Invalid("the object was not kept")),
        }
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
        self.shared.reader.readers()
    }

    /// End the track: every subscriber's streams are finished and it gets PUBLISH_DONE.
    pub fn finish(&self) {
        self.shared.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_model::{Delivery, Next};

    /// What a reader gets until the track ends: groups opened, objects and the end.
    async fn drain(reader: &mut Subscription) -> Vec<String> {
        let mut out = Vec::new();
        let mut batch = Vec::new();
        while reader.next(64, &mut batch).await == Next::Ready {
            for d in batch.drain(..) {
                match d {
                    Delivery::Open { group, .. } => out.push(format!("G{group}")),
                    Delivery::Object { object, .. } => out.push(format!(
                        "{}.{}",
                        object.location.group, object.location.object
                    )),
                    _ => {}
                }
            }
        }
        out.push("end".into());
        out
    }

    #[tokio::test]
    async fn late_joiner_gets_the_current_group_from_its_start() {
        let t = TrackWriter::new(TrackNamespace::from_path("a"), "t");
        t.new_group(3).expect("group");
        t.write_object(Bytes::from_static(b"x")).expect("obj");
        t.write_object(Bytes::from_static(b"y")).expect("obj");
        let (largest, all) = t.shared.attach(None);
        let (_, next) = t.shared.attach(Some(SubscriptionFilter::NextGroupStart));
        let (_, last) = t.shared.attach(Some(SubscriptionFilter::LargestObject));
        assert_eq!(largest, Some(Location::new(3, 1)));
        assert_eq!(t.subscribers(), 3);
        t.write_object(Bytes::from_static(b"z")).expect("obj");
        t.new_group(4).expect("group");
        t.write_object(Bytes::from_static(b"w")).expect("obj");
        t.finish();
        let mut all = all.expect("reader");
        let mut next = next.expect("reader");
        let mut last = last.expect("reader");
        assert_eq!(
            drain(&mut all).await,
            ["G3", "3.0", "3.1", "3.2", "G4", "4.0", "end"]
        );
        assert_eq!(drain(&mut next).await, ["G4", "4.0", "end"]);
        assert_eq!(drain(&mut last).await, ["G3", "3.2", "G4", "4.0", "end"]);
        assert!(t.new_group(5).is_err());
    }

    #[tokio::test]
    async fn a_history_set_after_the_track_is_served_applies_to_the_served_track() {
        // The origin serves each track, then sets its DVR history.
        let t = TrackWriter::new(TrackNamespace::from_path("a"), "t");
        let served = t.shared.clone();
        let (_, reader) = served.attach(None);
        let t = t.with_history(History::new(std::time::Duration::from_secs(60), 1 << 20));
        t.new_group(0).expect("group");
        t.write_object(Bytes::from_static(b"x")).expect("obj");
        assert_eq!(served.largest(), Some(Location::new(0, 0)));
        t.finish();
        let mut reader = reader.expect("reader");
        assert_eq!(drain(&mut reader).await, ["G0", "0.0", "end"]);
    }

    #[test]
    fn group_ids_must_increase_and_the_history_keeps_what_it_says() {
        let t = TrackWriter::new(TrackNamespace::from_path("a"), "t")
            .with_history(History::new(std::time::Duration::from_secs(60), 1 << 20));
        for g in 0..3 {
            t.new_group(g).expect("group");
            t.write_object(Bytes::from_static(b"x")).expect("obj");
        }
        assert!(t.new_group(2).is_err(), "group IDs must increase");
        let held = t.shared.reader.read(|t| t.group_ids().collect::<Vec<_>>());
        assert_eq!(held, [0, 1, 2]);
        assert!(
            t.shared.reader.read(|t| t.group_finished(1)),
            "a group ends when the next starts"
        );
    }
}
