//! One track's recent groups, as an append-only log that subscribers read with cursors.
//!
//! Objects arrive from one or more upstream publishers (deduplicated by location) and are kept
//! until the cache evicts their group. Every arrival is also appended to a log of [`Entry`]s;
//! each downstream subscription owns a [`Cursor`] into that log, so fan-out costs one cursor per
//! subscriber and no copy of any payload. The newest group is never evicted as a whole; a group
//! that grows past the per-group byte cap (a publisher that never closes its group) loses its
//! oldest objects instead, so one track never holds more than that cap.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::types::{Location, Object, ObjectStatus};

/// Subgroup ID under which objects that arrived as datagrams are cached. Datagrams have no
/// subgroup, may arrive in any order and each carries its own priority.
pub const DATAGRAM_SUBGROUP: u64 = u64::MAX;

/// Bytes charged for an object beyond its payload and properties (bookkeeping overhead).
const OBJECT_OVERHEAD: usize = 64;

/// What happened to an object offered to [`Track::append`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// A new object, charged this many bytes.
    New(usize),
    /// An object already cached at this location (another publisher, or a retransmission).
    Duplicate,
    /// The object is older than anything the cache still holds for its group (evicted).
    Stale,
    /// The track is malformed by this object (spec "Malformed Tracks"); it was not cached.
    Malformed(&'static str),
    /// The object would have taken a live budget past its limit (see
    /// [`Track::append_within`]); it was not cached.
    OverBudget,
}

/// Bytes an object is charged in the cache: its payload, properties and bookkeeping.
pub fn charge(object: &Object) -> usize {
    OBJECT_OVERHEAD + object.payload.len() + object.properties.len()
}

/// How a subgroup stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubgroupEnd {
    /// Clean FIN: every object of the subgroup was delivered.
    Fin,
    /// The publisher reset it with this code.
    Reset(u64),
}

/// One entry of the track log, in arrival order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// An object was cached at `index` of subgroup `subgroup` of group `group`.
    Object {
        /// Group ID.
        group: u64,
        /// Subgroup ID.
        subgroup: u64,
        /// Index into the subgroup's object list.
        index: usize,
    },
    /// A subgroup ended.
    SubgroupEnd {
        /// Group ID.
        group: u64,
        /// Subgroup ID.
        subgroup: u64,
        /// How it ended.
        end: SubgroupEnd,
    },
}

/// A reader position in a track's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cursor {
    /// Sequence number of the next entry to read.
    pub next: u64,
    /// The track's numbering this cursor reads ([`Track::restarts`] when it was made): a cursor
    /// made before the publisher restarted its group numbering reads [`Read::Restarted`].
    pub epoch: u64,
}

/// What a cursor read returned.
#[derive(Debug, Clone)]
pub enum Read<'a> {
    /// The next entry, with the object it refers to.
    Object(
        &'a Object,
        u64, /* subgroup */
        u8,  /* publisher priority */
    ),
    /// A subgroup ended.
    SubgroupEnd(u64 /* group */, u64 /* subgroup */, SubgroupEnd),
    /// The cursor pointed at entries that were evicted; it has been moved to the oldest entry.
    Lagged,
    /// The publisher restarted the track's group numbering after the cursor was made (see
    /// [`Track::new_feed`]): what the cursor's reader asked for is in a numbering that is gone.
    Restarted,
}

#[derive(Debug)]
struct Subgroup {
    priority: u8,
    /// Objects still held, in arrival order (ascending IDs except in [`DATAGRAM_SUBGROUP`]).
    objects: VecDeque<Object>,
    /// Log index of `objects[0]`: how many objects were trimmed from the front.
    base: usize,
    end: Option<SubgroupEnd>,
}

impl Subgroup {
    fn get(&self, index: usize) -> Option<&Object> {
        self.objects.get(index.checked_sub(self.base)?)
    }
}

/// The object IDs a group holds, sorted. Objects mostly arrive in increasing order, so the
/// usual lookup is one comparison with the largest and the usual insert a push; anything else
/// is a binary search.
#[derive(Debug, Default)]
struct ObjectIds(Vec<u64>);

impl ObjectIds {
    fn contains(&self, id: u64) -> bool {
        match self.0.last() {
            Some(&last) if id < last => self.0.binary_search(&id).is_ok(),
            Some(&last) => id == last,
            None => false,
        }
    }

    fn insert(&mut self, id: u64) {
        match self.0.last() {
            Some(&last) if id <= last => {
                if let Err(at) = self.0.binary_search(&id) {
                    self.0.insert(at, id);
                }
            }
            _ => self.0.push(id),
        }
    }

    fn remove(&mut self, id: u64) {
        if let Ok(at) = self.0.binary_search(&id) {
            self.0.remove(at);
        }
    }

    fn last(&self) -> Option<u64> {
        self.0.last().copied()
    }
}

#[derive(Debug)]
struct Group {
    created: Instant,
    bytes: usize,
    /// Sequence number of the group's first log entry.
    first_seq: u64,
    subgroups: BTreeMap<u64, Subgroup>,
    /// IDs of the objects held, across every subgroup: a duplicate is found in one lookup
    /// however many objects and subgroups the group has.
    ids: ObjectIds,
    /// Object ID of the last object of the group, once known.
    end: Option<u64>,
    /// Largest object ID trimmed from the front of this group under the per-group cap.
    trimmed: Option<u64>,
    /// Rank of the group among those the track has had, in order of creation.
    ordinal: u64,
}

pub use super::cache::DEFAULT_MAX_GROUP_BYTES;

/// Subgroups one group may have (datagrams count as one): a publisher opening more is refused
/// ([`Appended::Malformed`]). Layered video uses a few per group, one per frame at most.
pub const MAX_SUBGROUPS_PER_GROUP: usize = 1024;

/// The cached state of one track.
#[derive(Debug)]
pub struct Track {
    groups: BTreeMap<u64, Group>,
    /// Entries in arrival order, each with the bytes appended to the track before it.
    log: VecDeque<(Entry, u64)>,
    /// Bytes charged by every object ever appended (the log's running total).
    appended: u64,
    /// Bytes one group may hold.
    max_group_bytes: usize,
    /// Groups created so far (the next group's ordinal).
    groups_created: u64,
    /// Sequence number of `log[0]`.
    log_base: u64,
    largest: Option<Location>,
    /// Largest location of an object actually cached (not the upstream's word for it).
    received: Option<Location>,
    bytes: usize,
    /// Location of the END_OF_TRACK object, once seen.
    end: Option<Location>,
    /// Smallest location ever cached: before it the relay saw nothing of the track.
    first: Option<Location>,
    /// Largest location of an object the cache held and dropped (evicted or trimmed). Groups
    /// go oldest first and a group is trimmed only once it is the only one, so everything the
    /// cache dropped is at or before it.
    forgotten: Option<Location>,
    /// Groups evicted so far (for metrics).
    evicted_groups: u64,
    /// The newest group's bytes as charged to live budgets (see [`super::live::LiveBudget`]).
    live: super::live::LiveCharge,
    /// Times the publisher restarted the group numbering (see [`Track::new_feed`]).
    restarts: u64,
    /// A new feed began without saying where it is: its first object tells.
    feed_unchecked: bool,
    /// The process's cache gauge this track's bytes and groups are charged to, at the moment
    /// they change (see [`super::cache::CacheGauge`]).
    gauge: Option<std::sync::Arc<super::cache::CacheGauge>>,
}

impl Default for Track {
    fn default() -> Self {
        Self::with_group_limit(DEFAULT_MAX_GROUP_BYTES)
    }
}

impl Track {
    /// An empty track with the default per-group cap.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty track whose groups hold at most `max_group_bytes` each: past it, a group's
    /// oldest objects are dropped (readers still on them lag and skip ahead).
    pub fn with_group_limit(max_group_bytes: usize) -> Self {
        Self {
            groups: BTreeMap::new(),
            log: VecDeque::new(),
            appended: 0,
            max_group_bytes: max_group_bytes.max(1),
            groups_created: 0,
            log_base: 0,
            largest: None,
            received: None,
            bytes: 0,
            end: None,
            first: None,
            forgotten: None,
            evicted_groups: 0,
            live: super::live::LiveCharge::default(),
            restarts: 0,
            feed_unchecked: false,
            gauge: None,
        }
    }

    /// An empty track charged to `gauge`: its groups hold at most the gauge's
    /// `max_group_bytes`, every byte and group is counted in the gauge as it is appended or
    /// evicted, and the track's writer makes room when the process is over its budget (see
    /// [`super::cache`]).
    pub fn charged_to(gauge: std::sync::Arc<super::cache::CacheGauge>) -> Self {
        let mut t = Self::with_group_limit(gauge.budget().max_group_bytes);
        t.gauge = Some(gauge);
        t
    }

    /// Charge the track to `gauge` from now on: what it holds moves from its old gauge (if
    /// any) to the new one, its groups are capped at the new budget's `max_group_bytes`, and
    /// the new budget is paid at once.
    pub fn charge_to(&mut self, gauge: std::sync::Arc<super::cache::CacheGauge>, now: Instant) {
        if let Some(old) = &self.gauge {
            old.sub_bytes(self.bytes);
            old.sub_groups(self.groups.len());
        }
        gauge.add_bytes(self.bytes);
        gauge.add_groups(self.groups.len());
        self.max_group_bytes = gauge.budget().max_group_bytes.max(1);
        self.gauge = Some(gauge);
        if let Some(&newest) = self.groups.keys().next_back() {
            self.enforce_group_cap(newest);
        }
        self.make_room(now);
    }

    fn add_bytes(&mut self, n: usize) {
        self.bytes += n;
        if let Some(g) = &self.gauge {
            g.add_bytes(n);
        }
    }

    fn sub_bytes(&mut self, n: usize) {
        self.bytes -= n;
        if let Some(g) = &self.gauge {
            g.sub_bytes(n);
        }
    }

    /// A new feed of the track began: a publisher took it over or came back (PUBLISH), or a new
    /// upstream subscription was answered (SUBSCRIBE_OK), saying its Largest Object `largest`
    /// when it has one. An end of track its predecessor put in the cache no longer holds (the
    /// new feed's objects after it are the track going on).
    ///
    /// A feed whose largest location is below what the cache received, in a group the cache
    /// does not hold, is a publisher that restarted its group numbering (a restarted encoder
    /// counting from 0, an origin whose clock stepped back): the track [restarts](Self::restart)
    /// and `true` is returned. A backup publishing the same numbering, even a group behind,
    /// lands in a cached group and is not a restart. Without `largest`, the feed's first object
    /// decides in the same way (see [`Track::append`]).
    pub fn new_feed(&mut self, largest: Option<Location>) -> bool {
        self.end = None;
        self.feed_unchecked = false;
        match largest {
            Some(l) if self.steps_back(l.group) => {
                self.restart();
                true
            }
            Some(_) => false,
            None => {
                self.feed_unchecked = true;
                false
            }
        }
    }

    /// Whether a new feed's object in `group` is in an earlier numbering than the cache's.
    fn steps_back(&self, group: u64) -> bool {
        self.received.is_some_and(|r| group < r.group) && !self.groups.contains_key(&group)
    }

    /// Forget everything cached of the track's old numbering: every group goes, and every
    /// cursor made before reads [`Read::Restarted`] (its reader's subscription ends, to be made
    /// again in the new numbering). Counted in [`Track::restarts`].
    pub fn restart(&mut self) {
        if let Some(g) = &self.gauge {
            g.sub_groups(self.groups.len());
        }
        self.groups.clear();
        self.log_base += self.log.len() as u64;
        self.log.clear();
        self.sub_bytes(self.bytes);
        self.largest = None;
        self.received = None;
        self.first = None;
        self.forgotten = None;
        self.end = None;
        self.restarts += 1;
    }

    /// Times the track's group numbering restarted (see [`Track::new_feed`]).
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// Bytes of the newest group (the one never evicted) once an object of `charge` bytes
    /// lands in `group`: what the live budgets would hold for this track. The per-group cap
    /// trims a full group's oldest objects, so a group never holds more than that cap.
    pub fn newest_bytes_with(&self, group: u64, charge: usize) -> usize {
        let newest = self.groups.last_key_value();
        match newest {
            Some((&id, g)) if id == group => (g.bytes + charge).min(self.max_group_bytes),
            Some((&id, g)) if id > group => g.bytes,
            _ => charge.min(self.max_group_bytes),
        }
    }

    /// Whether an object of `charge` bytes in `group` keeps the newest group within every
    /// budget of `to`.
    pub fn live_fits(
        &self,
        group: u64,
        charge: usize,
        to: &[std::sync::Arc<super::live::LiveBudget>],
    ) -> bool {
        self.live.fits(self.newest_bytes_with(group, charge), to)
    }

    /// Charge the newest group's bytes, as they are now, to `to`.
    pub fn charge_live(&mut self, to: &[std::sync::Arc<super::live::LiveBudget>]) {
        let bytes = self.groups.last_key_value().map_or(0, |(_, g)| g.bytes);
        self.live.set(bytes, to);
    }

    /// [`Track::append`] within live budgets: an object that would grow the newest group past
    /// what any budget of `live` has left is refused ([`Appended::OverBudget`]); otherwise the
    /// newest group, as it is after the object, is charged to `live`.
    pub fn append_within(
        &mut self,
        object: Object,
        subgroup: u64,
        priority: u8,
        now: Instant,
        live: &[std::sync::Arc<super::live::LiveBudget>],
    ) -> Appended {
        if !self.live_fits(object.location.group, charge(&object), live) {
            return Appended::OverBudget;
        }
        let appended = self.append(object, subgroup, priority, now);
        self.charge_live(live);
        appended
    }

    /// Bytes the newest group holds against live budgets.
    pub fn live_bytes(&self) -> usize {
        self.live.bytes()
    }

    /// Largest location received so far (the spec's "Largest Object").
    pub fn largest(&self) -> Option<Location> {
        self.largest
    }

    /// Largest location of an object that arrived (a new upstream resumes after it).
    pub fn received_largest(&self) -> Option<Location> {
        self.received
    }

    /// The upstream's LARGEST_OBJECT (from SUBSCRIBE_OK or PUBLISH): the relay's Largest Object
    /// is the larger of it and what was received.
    pub fn note_upstream_largest(&mut self, loc: Location) {
        if self.largest.is_none_or(|l| loc > l) {
            self.largest = Some(loc);
        }
    }

    /// Bytes charged to the cache by this track.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Number of groups held.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// Groups evicted since the track was created.
    pub fn evicted_groups(&self) -> u64 {
        self.evicted_groups
    }

    /// Group IDs currently held, oldest first.
    pub fn group_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.groups.keys().copied()
    }

    /// The largest location of an object the cache held and dropped: every object at or before
    /// it that was ever cached is gone (see [`Track::evict_oldest`]).
    pub fn forgotten(&self) -> Option<Location> {
        self.forgotten
    }

    /// Whether the track has ended (END_OF_TRACK seen).
    pub fn ended(&self) -> Option<Location> {
        self.end
    }

    /// Sequence number one past the newest log entry: a cursor here sees only future entries.
    pub fn tail(&self) -> Cursor {
        Cursor {
            next: self.log_base + self.log.len() as u64,
            epoch: self.restarts,
        }
    }

    /// Cursor at the oldest entry still held.
    pub fn head(&self) -> Cursor {
        Cursor {
            next: self.log_base,
            epoch: self.restarts,
        }
    }

    /// Cursor at the first entry of the newest group (where a lagging reader jumps to).
    pub fn newest_group_start(&self) -> Cursor {
        match self.groups.values().next_back() {
            Some(g) => Cursor {
                next: g.first_seq.max(self.log_base),
                epoch: self.restarts,
            },
            None => self.tail(),
        }
    }

    /// Rank of a held group among every group the track has had, in order of creation: what
    /// orders groups for sending whatever their IDs.
    pub fn group_ordinal(&self, group: u64) -> Option<u64> {
        self.groups.get(&group).map(|g| g.ordinal)
    }

    /// Number of groups held with an ID above `group`, counted up to `limit` (a reader asks
    /// whether it is more than so many behind; the count never walks further).
    pub fn groups_after(&self, group: u64, limit: u64) -> u64 {
        match group.checked_add(1) {
            Some(next) => self
                .groups
                .range(next..)
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .count() as u64,
            None => 0,
        }
    }

    /// Group IDs held within `range`, oldest first.
    pub fn group_ids_in(
        &self,
        range: std::ops::RangeInclusive<u64>,
    ) -> impl Iterator<Item = u64> + '_ {
        self.groups.range(range).map(|(&id, _)| id)
    }

    /// Group ID of the newest group held.
    pub fn newest_group(&self) -> Option<u64> {
        self.groups.keys().next_back().copied()
    }

    /// Cache an object. Duplicates (same location) are dropped; objects that contradict what is
    /// known about the track are refused as malformed and never cached.
    pub fn append(
        &mut self,
        object: Object,
        subgroup: u64,
        priority: u8,
        now: Instant,
    ) -> Appended {
        let loc = object.location;
        if std::mem::take(&mut self.feed_unchecked) && self.steps_back(loc.group) {
            self.restart();
        }
        if let Some(end) = self.end
            && loc > end
        {
            return Appended::Malformed("object after the end of the track");
        }
        if !self.groups.contains_key(&loc.group)
            && let Some((&oldest, _)) = self.groups.first_key_value()
            && loc.group < oldest
            && self.evicted_groups > 0
        {
            return Appended::Stale;
        }
        let seq = self.log_base + self.log.len() as u64;
        let ordinal = self.groups_created;
        let group = self.groups.entry(loc.group).or_insert_with(|| Group {
            created: now,
            bytes: 0,
            first_seq: seq,
            subgroups: BTreeMap::new(),
            ids: ObjectIds::default(),
            end: None,
            trimmed: None,
            ordinal,
        });
        if group.ordinal == ordinal {
            self.groups_created = ordinal + 1;
            if let Some(g) = &self.gauge {
                g.add_groups(1);
            }
        }
        if let Some(end) = group.end
            && loc.object > end
        {
            return Appended::Malformed("object after the end of its group");
        }
        // Deduplicate by location across every subgroup of the group.
        if group.ids.contains(loc.object) {
            return Appended::Duplicate;
        }
        if group.trimmed.is_some_and(|t| loc.object <= t) {
            return Appended::Stale;
        }
        if !group.subgroups.contains_key(&subgroup)
            && group.subgroups.len() >= MAX_SUBGROUPS_PER_GROUP
        {
            return Appended::Malformed("more subgroups in one group than the relay keeps");
        }
        let sg = group.subgroups.entry(subgroup).or_insert_with(|| Subgroup {
            priority,
            objects: VecDeque::new(),
            base: 0,
            end: None,
        });
        if sg.priority != priority && subgroup != DATAGRAM_SUBGROUP {
            return Appended::Malformed("publisher priority changed within a subgroup");
        }
        if sg.end.is_some() {
            return Appended::Malformed("object after its subgroup ended");
        }
        if let Some(last) = sg.objects.back()
            && last.location.object > loc.object
            && subgroup != DATAGRAM_SUBGROUP
        {
            // Out-of-order inside a subgroup only happens on a re-opened stream; keep order.
            return Appended::Malformed("object IDs out of order within a subgroup");
        }
        if object.end_of_group {
            group.end = Some(loc.object);
        }
        match object.status {
            ObjectStatus::EndOfGroup => group.end = Some(loc.object),
            ObjectStatus::EndOfTrack => self.end = Some(loc),
            _ => {}
        }
        let charge = charge(&object);
        group.bytes += charge;
        let over_cap = group.bytes > self.max_group_bytes;
        let index = sg.base + sg.objects.len();
        sg.objects.push_back(object);
        group.ids.insert(loc.object);
        self.add_bytes(charge);
        self.log.push_back((
            Entry::Object {
                group: loc.group,
                subgroup,
                index,
            },
            self.appended,
        ));
        self.appended += charge as u64;
        if self.largest.is_none_or(|l| loc > l) {
            self.largest = Some(loc);
        }
        if self.received.is_none_or(|l| loc > l) {
            self.received = Some(loc);
        }
        if self.first.is_none_or(|f| loc < f) {
            self.first = Some(loc);
        }
        if over_cap {
            self.enforce_group_cap(loc.group);
        }
        self.make_room(now);
        Appended::New(charge)
    }

    /// The writer pays for its own growth: once an append took the process over its cache
    /// budget, this track gives up its oldest groups (never its newest) until the process fits
    /// again or only the newest is left; groups older than the budget's age go too. One
    /// comparison when nothing is due: no other track is visited, none is locked.
    fn make_room(&mut self, now: Instant) {
        let Some(gauge) = self.gauge.clone() else {
            return;
        };
        self.evict_expired(now, gauge.budget().max_age);
        while gauge.over() && self.evict_oldest().is_some() {}
    }

    /// Bring group `id` back under the per-group cap: older groups go first (they are older than
    /// an over-full group anyway); once it is the only group, its oldest objects go.
    fn enforce_group_cap(&mut self, id: u64) {
        while self
            .groups
            .get(&id)
            .is_some_and(|g| g.bytes > self.max_group_bytes)
        {
            if self.groups.len() > 1 {
                self.evict_oldest();
            } else if !self.trim_front() {
                break;
            }
        }
    }

    /// Drop the oldest log entry of a track holding a single group, and the object it names.
    /// Returns false when the log is empty.
    fn trim_front(&mut self) -> bool {
        let Some((entry, _)) = self.log.pop_front() else {
            return false;
        };
        self.log_base += 1;
        if let Entry::Object {
            group,
            subgroup,
            index,
        } = entry
            && let Some(g) = self.groups.get_mut(&group)
            && let Some(sg) = g.subgroups.get_mut(&subgroup)
            && index == sg.base
            && let Some(o) = sg.objects.pop_front()
        {
            sg.base += 1;
            g.ids.remove(o.location.object);
            let charge = charge(&o);
            g.bytes -= charge;
            g.trimmed = g.trimmed.max(Some(o.location.object));
            self.forgotten = self.forgotten.max(Some(o.location));
            self.sub_bytes(charge);
        }
        true
    }

    /// Bytes appended after `cursor`: what a reader there still has to send.
    pub fn pending_bytes(&self, cursor: Cursor) -> u64 {
        let offset = cursor.next.saturating_sub(self.log_base) as usize;
        self.log
            .get(offset)
            .map_or(0, |(_, before)| self.appended - before)
    }

    /// Record the end of a subgroup stream. `end_of_group` marks the group complete (the
    /// stream header's END_OF_GROUP bit with a FIN).
    pub fn end_subgroup(
        &mut self,
        group: u64,
        subgroup: u64,
        end: SubgroupEnd,
        end_of_group: bool,
    ) {
        let Some(g) = self.groups.get_mut(&group) else {
            return;
        };
        let Some(sg) = g.subgroups.get_mut(&subgroup) else {
            return;
        };
        if sg.end.is_some() {
            return;
        }
        sg.end = Some(end);
        if end_of_group
            && end == SubgroupEnd::Fin
            && let Some(last) = sg.objects.back()
        {
            g.end = Some(last.location.object);
        }
        self.log.push_back((
            Entry::SubgroupEnd {
                group,
                subgroup,
                end,
            },
            self.appended,
        ));
    }

    /// End (FIN) every open subgroup of `group` but the datagram one: all its objects are in
    /// (a backfill fetched the rest of it). Returns how many it ended.
    pub fn finish_group(&mut self, group: u64) -> usize {
        let open: Vec<u64> = self.groups.get(&group).map_or_else(Vec::new, |g| {
            g.subgroups
                .iter()
                .filter(|(id, sg)| sg.end.is_none() && **id != DATAGRAM_SUBGROUP)
                .map(|(id, _)| *id)
                .collect()
        });
        for &sg in &open {
            self.end_subgroup(group, sg, SubgroupEnd::Fin, false);
        }
        open.len()
    }

    /// Read the entry under `cursor` and advance it.
    pub fn read(&self, cursor: &mut Cursor) -> Option<Read<'_>> {
        if cursor.epoch != self.restarts {
            return Some(Read::Restarted);
        }
        if cursor.next < self.log_base {
            cursor.next = self.log_base;
            return Some(Read::Lagged);
        }
        let (entry, _) = *self.log.get((cursor.next - self.log_base) as usize)?;
        cursor.next += 1;
        Some(match entry {
            Entry::Object {
                group,
                subgroup,
                index,
            } => {
                let Some(sg) = self
                    .groups
                    .get(&group)
                    .and_then(|g| g.subgroups.get(&subgroup))
                else {
                    // Evicted between log trims: treat as lag.
                    return Some(Read::Lagged);
                };
                let Some(obj) = sg.get(index) else {
                    return Some(Read::Lagged);
                };
                Read::Object(obj, subgroup, sg.priority)
            }
            Entry::SubgroupEnd {
                group,
                subgroup,
                end,
            } => Read::SubgroupEnd(group, subgroup, end),
        })
    }

    /// Look up a cached object.
    pub fn object(&self, loc: Location) -> Option<(&Object, u64, u8)> {
        let g = self.groups.get(&loc.group)?;
        g.subgroups.iter().find_map(|(id, sg)| {
            sg.objects
                .iter()
                .find(|o| o.location.object == loc.object)
                .map(|o| (o, *id, sg.priority))
        })
    }

    /// All cached objects in `[start, end]` (inclusive), in location order, with their subgroup
    /// and priority, and whether the cache can vouch for the whole range (see
    /// [`Track::covers`]). A copy of the whole range: a server that writes it to a peer reads
    /// it [`Track::page`] by page instead, so that a stalled peer pins no snapshot.
    pub fn range(&self, start: Location, end: Location) -> (Vec<(Object, u64, u8)>, bool) {
        (
            self.page(start, end, usize::MAX, usize::MAX),
            self.covers(start, end),
        )
    }

    /// Whether the cache can vouch for every object in `[start, end]`: nothing in it was
    /// evicted, every group before the end group is known to be complete, and the end group is
    /// complete (`end.object == u64::MAX`: the whole group) or reached `end`.
    pub fn covers(&self, start: Location, end: Location) -> bool {
        if end < start {
            return true;
        }
        let oldest = self.groups.keys().next().copied();
        // The relay can only vouch from the first object it ever cached on, and not for what
        // it has since evicted.
        if self.first.is_none_or(|f| f > start)
            || (self.evicted_groups > 0 && oldest.is_none_or(|g| start.group < g))
        {
            return false;
        }
        for (&gid, g) in self.groups.range(start.group..=end.group) {
            let whole = gid < end.group || end.object == u64::MAX;
            if whole && g.end.is_none() {
                return false;
            }
            // Objects trimmed from the front of the group under the per-group cap.
            if g.trimmed
                .is_some_and(|t| gid > start.group || start.object <= t)
            {
                return false;
            }
        }
        match end.object {
            u64::MAX => self.groups.get(&end.group).is_some_and(|g| g.end.is_some()),
            _ => self.largest.is_some_and(|l| l >= end),
        }
    }

    /// The location of the last cached object in `[start, end]`.
    pub fn last_in(&self, start: Location, end: Location) -> Option<Location> {
        if end < start {
            return None;
        }
        self.groups
            .range(start.group..=end.group)
            .rev()
            .find_map(|(_, g)| {
                g.subgroups
                    .values()
                    .flat_map(|sg| sg.objects.iter().map(|o| o.location))
                    .filter(|l| *l >= start && *l <= end)
                    .max()
            })
    }

    /// The first cached objects in `[from, end]`, in location order, with their subgroup and
    /// priority: at most `max_objects`, and no more once `max_bytes` of payload are taken (at
    /// least one object). The next page starts after the last location returned.
    pub fn page(
        &self,
        from: Location,
        end: Location,
        max_objects: usize,
        max_bytes: usize,
    ) -> Vec<(Object, u64, u8)> {
        let mut out = Vec::new();
        if end < from {
            return out;
        }
        let mut bytes = 0usize;
        for (_, g) in self.groups.range(from.group..=end.group) {
            let mut objs: Vec<(&Object, u64, u8)> = g
                .subgroups
                .iter()
                .flat_map(|(sid, sg)| sg.objects.iter().map(move |o| (o, *sid, sg.priority)))
                .filter(|(o, _, _)| o.location >= from && o.location <= end)
                .collect();
            objs.sort_by_key(|(o, _, _)| o.location.object);
            for (o, sid, priority) in objs {
                if out.len() >= max_objects || (bytes >= max_bytes && !out.is_empty()) {
                    return out;
                }
                bytes = bytes.saturating_add(o.payload.len());
                out.push((o.clone(), sid, priority));
            }
        }
        out
    }

    /// Whether a group is over: its last object is known and every subgroup stream ended.
    pub fn group_finished(&self, group: u64) -> bool {
        self.groups
            .get(&group)
            .is_some_and(|g| g.end.is_some() && g.subgroups.values().all(|sg| sg.end.is_some()))
    }

    /// Creation time of the oldest group that may be evicted (never the newest).
    pub fn oldest_evictable(&self) -> Option<Instant> {
        if self.groups.len() < 2 {
            return None;
        }
        self.groups.values().next().map(|g| g.created)
    }

    /// Evict the oldest group unless it is the newest. Returns the bytes released.
    pub fn evict_oldest(&mut self) -> Option<usize> {
        if self.groups.len() < 2 {
            return None;
        }
        let (id, g) = self.groups.pop_first()?;
        if let Some(last) = g.ids.last() {
            self.forgotten = self.forgotten.max(Some(Location::new(id, last)));
        }
        self.sub_bytes(g.bytes);
        self.evicted_groups += 1;
        if let Some(gauge) = &self.gauge {
            gauge.sub_groups(1);
            gauge.count_eviction();
        }
        self.trim_log();
        Some(g.bytes)
    }

    /// Evict groups older than `max_age` (never the newest). Returns the bytes released.
    pub fn evict_expired(&mut self, now: Instant, max_age: Duration) -> usize {
        let mut released = 0;
        while let Some(created) = self.oldest_evictable() {
            if now.saturating_duration_since(created) <= max_age {
                break;
            }
            released += self.evict_oldest().unwrap_or(0);
        }
        released
    }

    /// Drop log entries whose group is gone.
    fn trim_log(&mut self) {
        while let Some((e, _)) = self.log.front() {
            let group = match *e {
                Entry::Object { group, .. } | Entry::SubgroupEnd { group, .. } => group,
            };
            if self.groups.contains_key(&group) {
                break;
            }
            self.log.pop_front();
            self.log_base += 1;
        }
    }

    /// Age of the entry under a cursor (how far a reader is behind in time), if known.
    pub fn age_at(&self, cursor: Cursor, now: Instant) -> Option<Duration> {
        let (entry, _) = self
            .log
            .get(cursor.next.checked_sub(self.log_base)? as usize)?;
        let group = match *entry {
            Entry::Object { group, .. } | Entry::SubgroupEnd { group, .. } => group,
        };
        self.groups
            .get(&group)
            .map(|g| now.saturating_duration_since(g.created))
    }

    /// Group ID of the entry under a cursor.
    pub fn group_at(&self, cursor: Cursor) -> Option<u64> {
        let (entry, _) = self
            .log
            .get(cursor.next.checked_sub(self.log_base)? as usize)?;
        Some(match *entry {
            Entry::Object { group, .. } | Entry::SubgroupEnd { group, .. } => group,
        })
    }

    /// Publisher priority of the subgroup the entry under a cursor belongs to.
    pub fn priority_at(&self, cursor: Cursor) -> Option<u8> {
        let (entry, _) = self
            .log
            .get(cursor.next.checked_sub(self.log_base)? as usize)?;
        let (group, subgroup) = match *entry {
            Entry::Object {
                group, subgroup, ..
            }
            | Entry::SubgroupEnd {
                group, subgroup, ..
            } => (group, subgroup),
        };
        let g = self.groups.get(&group)?;
        g.subgroups.get(&subgroup).map(|sg| sg.priority)
    }

    /// Payload bytes of one object (helper for tests and metrics).
    pub fn payload(&self, loc: Location) -> Option<Bytes> {
        self.object(loc).map(|(o, _, _)| o.payload.clone())
    }
}

impl Drop for Track {
    /// A dropped track gives back what it held to the gauge.
    fn drop(&mut self) {
        if let Some(g) = &self.gauge {
            g.sub_bytes(self.bytes);
            g.sub_groups(self.groups.len());
        }
    }
}

#[cfg(test)]
mod object_ids {
    use super::ObjectIds;

    #[test]
    fn ids_in_any_order_are_found_once_and_kept_sorted() {
        let mut ids = ObjectIds::default();
        for id in [4, 5, 9, 1, 7, 5, 0, 9] {
            ids.insert(id);
        }
        assert_eq!(ids.0, vec![0, 1, 4, 5, 7, 9]);
        for id in [0, 1, 4, 5, 7, 9] {
            assert!(ids.contains(id), "{id}");
        }
        for id in [2, 3, 6, 8, 10] {
            assert!(!ids.contains(id), "{id}");
        }
        ids.remove(0);
        ids.remove(7);
        ids.remove(3);
        assert_eq!(ids.0, vec![1, 4, 5, 9]);
        assert_eq!(ids.last(), Some(9));
        assert!(!ObjectIds::default().contains(0));
    }
}
