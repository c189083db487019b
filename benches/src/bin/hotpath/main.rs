//! Hot paths of the relay for `valgrind --tool=callgrind`: a fixed, deterministic amount of
//! work per scenario (no clock decides anything, no randomness but a fixed-seed generator, no
//! threads, no I/O), ending with a checksum of what was produced, so that the work cannot be
//! optimised away and two builds can be checked to have done the same thing.
//!
//! - `fanout`: one track, 200 fan-out readers; the publisher appends 3,000 objects of 1,200
//!   bytes in groups of 30 (one shared `Bytes` payload, never copied), and after each append
//!   every reader polls all its deliveries.
//! - `cache`: one track charged to a 2 MiB cache, 20,000 objects of 1,200 bytes in groups of
//!   30, whole groups evicted continually; one reader at the head.
//! - `codec`: 100,000 subgroup objects (headers and payloads) encoded then decoded with
//!   tern-moq, and 10,000 control messages (SUBSCRIBE, SUBSCRIBE_OK, REQUEST_OK).
//!
//! ```sh
//! cargo build --release -p tern-benches --bin hotpath
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.fanout target/release/hotpath fanout
//! ```
//!
//! `old.rs.txt` beside this file is the same program against the track model of `c4e38b5`
//! (the relay's `core` module and its `TrackHandle`), to compare the two (see
//! `benches/README.md`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};

use tern_model::{
    Appended, CacheBudget, CacheGauge, Delivery, DoneReason, Filter, LagPolicy, LiveBudget,
    Location, Object, ObjectStatus, SubgroupEnd, Subscription, TrackName, TrackProducer,
};
use tern_moq::data::{
    Properties, SubgroupHeader, SubgroupId, SubgroupObject, encode_subgroup_header,
    encode_subgroup_object_header,
};
use tern_moq::message::{
    GroupOrder, Parameters, RequestOk, Subscribe, SubscribeOk, SubscriptionFilter,
};
use tern_moq::{ControlReader, DataStreamEvent, DataStreamReader, Limits, Message, TrackNamespace};
use tern_relay_core::track::Track;

/// Payload bytes of every object.
const PAYLOAD: usize = 1200;
/// Objects per group (one subgroup, 0, per group).
const GROUP: u64 = 30;
/// Publisher priority of the subgroups (not 0: readers may skip).
const PRIORITY: u8 = 128;
/// Time between two objects (30 objects a second), on a clock of our own.
const FRAME: Duration = Duration::from_micros(33_333);
/// Deliveries one poll takes at most (the relay's serving batch).
const BATCH: usize = 64;

/// FNV-1a over 64-bit words: the checksum of everything produced.
#[derive(Debug, Clone, Copy)]
struct Sum {
    hash: u64,
    items: u64,
}

impl Sum {
    fn new() -> Self {
        Self {
            hash: 0xcbf2_9ce4_8422_2325,
            items: 0,
        }
    }

    fn add(&mut self, v: u64) {
        self.hash = (self.hash ^ v).wrapping_mul(0x0000_0100_0000_01b3);
    }

    fn delivery(&mut self, d: &Delivery) {
        self.items += 1;
        match d {
            Delivery::Open {
                group,
                subgroup,
                publisher_priority,
                send_order,
                // Not in the old model: left out so that both builds sum the same.
                first_object: _,
            } => {
                self.add(1);
                self.add(*group);
                self.add(*subgroup);
                self.add(u64::from(*publisher_priority));
                self.add(u64::from(send_order.cast_unsigned()));
            }
            Delivery::Object {
                group,
                subgroup,
                previous,
                object,
            } => {
                self.add(2);
                self.add(*group);
                self.add(*subgroup);
                self.add(previous.unwrap_or(u64::MAX));
                self.add(object.location.object);
                self.add(object.payload.len() as u64);
                self.add(u64::from(object.payload.first().copied().unwrap_or(0)));
            }
            Delivery::Finish { group, subgroup } => {
                self.add(3);
                self.add(*group);
                self.add(*subgroup);
            }
            Delivery::Reset {
                group,
                subgroup,
                code,
            } => {
                self.add(4);
                self.add(*group);
                self.add(*subgroup);
                self.add(*code);
            }
            Delivery::Done(reason) => {
                self.add(5);
                self.add(match reason {
                    DoneReason::TooFarBehind => 1,
                    DoneReason::RangeComplete => 2,
                    DoneReason::TrackEnded => 3,
                    DoneReason::Restarted => 4,
                });
            }
        }
    }
}

/// xorshift64*, fixed seed: the payload's bytes.
fn payload(len: usize) -> Bytes {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

fn object(i: u64, payload: &Bytes) -> Object {
    Object {
        location: Location::new(i / GROUP, i % GROUP),
        status: ObjectStatus::Normal,
        properties: Bytes::new(),
        payload: payload.clone(),
        end_of_group: false,
    }
}

/// A track as the relay makes one: charged to the process's cache gauge, written under the
/// process's and the publishing session's live budgets.
struct Publisher {
    producer: TrackProducer,
    gauge: Arc<CacheGauge>,
    live: [Arc<LiveBudget>; 2],
}

impl Publisher {
    fn new(budget: CacheBudget) -> Self {
        let gauge = Arc::new(CacheGauge::new(budget));
        let producer = TrackProducer::new(
            TrackName::from_path("bench/hotpath", "video"),
            Track::charged_to(gauge.clone()),
        );
        let live = [
            Arc::new(LiveBudget::new(budget.max_bytes)),
            Arc::new(LiveBudget::new(budget.max_live_per_session)),
        ];
        Self {
            producer,
            gauge,
            live,
        }
    }

    /// A fan-out reader from the next object on (SUBSCRIBE with Largest Object, forward 1).
    fn reader(&self) -> Subscription {
        let (_, sub) = self.producer.consumer().subscribe(
            Filter::LargestObject,
            PRIORITY,
            LagPolicy::default(),
            true,
        );
        sub.expect("a Largest Object filter always selects")
    }

    /// Append object `i` (and end its subgroup when it is the last of its group).
    fn append(&self, i: u64, payload: &Bytes, now: Instant) {
        let (appended, _) = self
            .producer
            .append(object(i, payload), 0, PRIORITY, now, &self.live);
        assert!(matches!(appended, Appended::New(_)), "{appended:?}");
        if i % GROUP == GROUP - 1 {
            self.producer
                .end_subgroup(i / GROUP, 0, SubgroupEnd::Fin, true);
        }
    }

    fn evicted_groups(&self) -> u64 {
        self.producer.read(Track::evicted_groups)
    }

    fn held_bytes(&self) -> u64 {
        self.gauge.bytes() as u64
    }
}

/// Take every delivery ready for `reader` into the checksum.
fn drain(reader: &mut Subscription, now: Instant, batch: &mut Vec<Delivery>, sum: &mut Sum) {
    loop {
        reader.poll(now, BATCH, batch);
        let n = batch.len();
        for d in batch.drain(..) {
            sum.delivery(&d);
        }
        if n < BATCH {
            return;
        }
    }
}

fn fanout() -> String {
    const READERS: usize = 200;
    const OBJECTS: u64 = 3_000;
    let start = Instant::now();
    let publisher = Publisher::new(CacheBudget::default());
    let mut readers: Vec<Subscription> = (0..READERS).map(|_| publisher.reader()).collect();
    let payload = payload(PAYLOAD);
    let mut batch = Vec::with_capacity(BATCH);
    let mut sum = Sum::new();
    for i in 0..OBJECTS {
        let now = start + FRAME * i as u32;
        publisher.append(i, &payload, now);
        for r in &mut readers {
            drain(r, now, &mut batch, &mut sum);
        }
    }
    format!(
        "deliveries {} checksum {:016x} evicted_groups {} held_bytes {}",
        sum.items,
        sum.hash,
        publisher.evicted_groups(),
        publisher.held_bytes()
    )
}

fn cache() -> String {
    const OBJECTS: u64 = 20_000;
    let start = Instant::now();
    let publisher = Publisher::new(CacheBudget {
        max_bytes: 2 << 20,
        // Evicted for bytes, not age.
        max_age: Duration::from_secs(3_600),
        ..CacheBudget::default()
    });
    let mut reader = publisher.reader();
    let payload = payload(PAYLOAD);
    let mut batch = Vec::with_capacity(BATCH);
    let mut sum = Sum::new();
    for i in 0..OBJECTS {
        let now = start + FRAME * i as u32;
        publisher.append(i, &payload, now);
        drain(&mut reader, now, &mut batch, &mut sum);
    }
    format!(
        "deliveries {} checksum {:016x} evicted_groups {} held_bytes {}",
        sum.items,
        sum.hash,
        publisher.evicted_groups(),
        publisher.held_bytes()
    )
}

/// Bytes the decoder is handed at a time (one QUIC packet's worth).
const CHUNK: usize = 1200;

fn codec() -> String {
    const OBJECTS: u64 = 100_000;
    const MESSAGES: u64 = 10_000;
    let limits = Limits::default();
    let payload = payload(PAYLOAD);
    let mut sum = Sum::new();

    // Data: one subgroup stream per group, as the relay writes them (PROPERTIES bit set).
    let mut stream = BytesMut::new();
    let mut group = 0;
    while group * GROUP < OBJECTS {
        let header = SubgroupHeader {
            track_alias: 1,
            group_id: group,
            subgroup_id: SubgroupId::Zero,
            publisher_priority: Some(PRIORITY),
            has_properties: true,
            end_of_group: true,
            first_object: true,
        };
        stream.clear();
        stream.put_slice(&encode_subgroup_header(&header));
        let mut previous = None;
        for id in 0..GROUP.min(OBJECTS - group * GROUP) {
            let object = SubgroupObject {
                object_id: id,
                properties: Properties::new(),
                payload_length: payload.len() as u64,
                object_status: tern_moq::data::ObjectStatus::Normal,
            };
            let h = encode_subgroup_object_header(&header, previous, &object).expect("encodes");
            stream.put_slice(&h);
            stream.put_slice(&payload);
            previous = Some(id);
        }
        let bytes = stream.split().freeze();
        let mut reader = DataStreamReader::new(limits);
        let mut at = 0;
        while at < bytes.len() {
            let end = (at + CHUNK).min(bytes.len());
            reader.push(bytes.slice(at..end)).expect("buffered");
            at = end;
            while let Some(event) = reader.poll().expect("decodes") {
                sum.items += 1;
                match event {
                    DataStreamEvent::SubgroupHeader(h) => {
                        sum.add(h.group_id);
                        sum.add(h.stream_type());
                    }
                    DataStreamEvent::SubgroupObject { object, payload } => {
                        sum.add(object.object_id);
                        sum.add(payload.len() as u64);
                        sum.add(u64::from(payload[payload.len() - 1]));
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        reader.finish().expect("whole objects");
        group += 1;
    }

    // Control: SUBSCRIBE, SUBSCRIBE_OK, SUBSCRIBE, REQUEST_OK, ... on one stream.
    let namespace = TrackNamespace::from_path("bench/hotpath");
    let mut control = BytesMut::new();
    for i in 0..MESSAGES {
        let message: Message = match i % 4 {
            0 | 2 => {
                let mut parameters = Parameters::new();
                parameters.set_subscriber_priority(PRIORITY);
                parameters.set_group_order(GroupOrder::Ascending);
                parameters.set_forward(true);
                parameters.set_subscription_filter(&SubscriptionFilter::LargestObject);
                Subscribe {
                    request_id: i * 2,
                    track_namespace: namespace.clone(),
                    track_name: Bytes::from_static(b"video"),
                    parameters,
                }
                .into()
            }
            1 => {
                let mut parameters = Parameters::new();
                parameters.set_largest_object(tern_moq::Location::new(i, 29));
                parameters.set_expires(0);
                SubscribeOk {
                    track_alias: i,
                    parameters,
                    track_properties: Properties::new(),
                }
                .into()
            }
            _ => RequestOk {
                parameters: Parameters::new(),
                track_properties: Properties::new(),
            }
            .into(),
        };
        message.encode(&mut control).expect("encodes");
    }
    let control = control.freeze();
    let mut reader = ControlReader::new(limits);
    for chunk in control.chunks(CHUNK) {
        reader.push(chunk).expect("buffered");
        while let Some(message) = reader.pop().expect("decodes") {
            sum.items += 1;
            sum.add(message.message_type());
            match message {
                Message::Subscribe(s) => {
                    sum.add(s.request_id);
                    sum.add(s.track_name.len() as u64);
                    sum.add(u64::from(s.parameters.subscriber_priority().unwrap_or(0)));
                }
                Message::SubscribeOk(ok) => {
                    sum.add(ok.track_alias);
                    sum.add(ok.parameters.largest_object().map_or(0, |l| l.group));
                }
                Message::RequestOk(ok) => sum.add(ok.parameters.len() as u64),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    reader.finish().expect("whole messages");
    format!("items {} checksum {:016x}", sum.items, sum.hash)
}

fn main() {
    let scenario = std::env::args().nth(1).unwrap_or_default();
    let out = match scenario.as_str() {
        "fanout" => fanout(),
        "cache" => cache(),
        "codec" => codec(),
        _ => {
            eprintln!("usage: hotpath fanout|cache|codec");
            std::process::exit(2);
        }
    };
    println!("{scenario}: {out}");
}
