//! The producer and consumer handles through their public API: a reader wakes when its track
//! changes, reads the shared payloads, and ends once the track is closed and read.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tern_model::{
    Delivery, Filter, LagPolicy, Location, Next, Object, ObjectStatus, TrackName, TrackProducer,
};
use tern_relay_core::track::Track;

fn object(group: u64, id: u64, payload: &'static [u8]) -> Object {
    Object {
        location: Location::new(group, id),
        status: ObjectStatus::Normal,
        properties: Bytes::new(),
        payload: Bytes::from_static(payload),
        end_of_group: false,
    }
}

fn payloads(batch: &[Delivery]) -> Vec<Bytes> {
    batch
        .iter()
        .filter_map(|d| match d {
            Delivery::Object { object, .. } => Some(object.payload.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_reader_wakes_for_each_append_and_ends_after_the_close() {
    let producer = TrackProducer::new(TrackName::from_path("live/a", "video"), Track::new());
    producer.append(object(0, 0, b"first"), 0, 128, Instant::now(), &[]);
    let (largest, reader) =
        producer
            .consumer()
            .subscribe(Filter::LargestObject, 128, LagPolicy::default(), true);
    assert_eq!(largest, Some(Location::new(0, 0)));
    let mut reader = reader.expect("a reader");
    assert_eq!(producer.consumer().readers(), 1);
    let writer = producer.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        writer.append(object(0, 1, b"second"), 0, 128, Instant::now(), &[]);
        tokio::time::sleep(Duration::from_millis(20)).await;
        writer.close();
    });
    let mut batch = Vec::new();
    let mut got = Vec::new();
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            batch.clear();
            if reader.next(16, &mut batch).await == Next::Closed {
                return;
            }
            got.extend(payloads(&batch));
        }
    })
    .await;
    assert!(end.is_ok(), "the reader ended after the close");
    // Largest Object: only what came after the largest object at subscription time.
    assert_eq!(got, [Bytes::from_static(b"second")]);
    drop(reader);
    assert_eq!(producer.consumer().readers(), 0);
}

#[tokio::test]
async fn every_reader_gets_the_same_bytes_not_a_copy() {
    let producer = TrackProducer::new(TrackName::from_path("live/a", "video"), Track::new());
    let consumer = producer.consumer();
    let mut readers: Vec<_> = (0..3)
        .map(|_| {
            consumer
                .subscribe(
                    Filter::AbsoluteStart(Location::new(0, 0)),
                    128,
                    LagPolicy::default(),
                    true,
                )
                .1
                .expect("a reader")
        })
        .collect();
    producer.append(object(0, 0, b"shared"), 0, 128, Instant::now(), &[]);
    let mut pointers = Vec::new();
    for r in &mut readers {
        let mut batch = Vec::new();
        assert_eq!(r.next(16, &mut batch).await, Next::Ready);
        pointers.extend(payloads(&batch).iter().map(|b| b.as_ptr()));
    }
    assert_eq!(pointers.len(), 3);
    assert!(
        pointers.windows(2).all(|w| w[0] == w[1]),
        "one payload, shared"
    );
}
