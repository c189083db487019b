//! Memory inside its budgets whatever a peer does, measured on a `tern relay` child process
//! (its resident memory, never mixed with the attacker's): a publisher that opens hundreds of
//! subgroup streams, each declaring a large object and sending all of it but the last byte,
//! gets its objects refused past the receive budget, and the relay stays under that budget
//! plus a small constant.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;

use common::raw::{RawPeer, answer};
use common::{Relay, admin_address, http_get, rss, sample, tern};
use tern_moq::data::{
    SubgroupHeader, SubgroupId, SubgroupObject, encode_subgroup_header,
    encode_subgroup_object_header,
};
use tern_moq::message::{Parameters, Publish};
use tern_moq::{Message, TrackNamespace};

const MIB: u64 = 1 << 20;
/// The relay's receive budget in this test: per session, and in all.
const PER_SESSION: u64 = 16 * MIB;
const TOTAL: u64 = 64 * MIB;
/// Streams the attacker opens, each with one object of [`DECLARED`] bytes, one byte short.
const STREAMS: u64 = 200;
const DECLARED: u64 = MIB;

/// A subgroup stream of `alias`'s group `group` with one object declaring [`DECLARED`] bytes
/// and all but its last byte, never finished. Errors (the relay stopping it) are the point.
async fn partial_object(session: tern_quic::Session, alias: u64, group: u64) {
    let Ok(mut send) = session.open_uni().await else {
        return;
    };
    let header = SubgroupHeader {
        track_alias: alias,
        group_id: group,
        subgroup_id: SubgroupId::Zero,
        publisher_priority: Some(128),
        has_properties: false,
        end_of_group: true,
        first_object: true,
    };
    let object = SubgroupObject {
        object_id: 0,
        payload_length: DECLARED,
        ..SubgroupObject::default()
    };
    let head = encode_subgroup_object_header(&header, None, &object).expect("header");
    if send
        .write_chunk(encode_subgroup_header(&header))
        .await
        .is_err()
        || send.write_chunk(head).await.is_err()
    {
        return;
    }
    let chunk = Bytes::from(vec![0x5a; 64 * 1024]);
    let mut left = DECLARED - 1;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        if send.write_chunk(chunk.slice(..n)).await.is_err() {
            return;
        }
        left -= n as u64;
    }
    // Held open, one byte short, until the test ends.
    std::future::pending::<()>().await;
}

#[test]
fn partly_sent_objects_are_refused_past_the_receive_budget_and_the_relay_stays_within_it() {
    let mut cmd = Command::new(tern());
    cmd.args(["relay", "--bind", "127.0.0.1:0"])
        .env("TERN_LIMITS_RECEIVE_PER_SESSION", PER_SESSION.to_string())
        .env("TERN_LIMITS_RECEIVE_TOTAL", TOTAL.to_string())
        .env("TERN_QUIC_MAX_CONCURRENT_UNI_STREAMS", "1000");
    let mut relay = Relay::start_cmd_with_stderr(cmd, &[], Stdio::piped());
    let mut log = common::Lines::new(relay.guard.child.stderr.take().expect("stderr"));
    let admin = admin_address(&mut log);
    let pid = relay.guard.child.id();

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let _attack = rt.block_on(async {
        let peer = RawPeer::connect(&relay.moqt_url(), "memory-attacker").await;
        let (send, mut recv) = peer
            .request(Publish {
                request_id: 0,
                track_namespace: TrackNamespace::from_path("live/hog"),
                track_name: Bytes::from_static(b"video"),
                track_alias: 1,
                parameters: Parameters::new(),
                track_properties: Default::default(),
            })
            .await;
        let answer = answer(&mut recv).await;
        assert!(matches!(answer, Message::RequestOk(_)), "{answer:?}");
        let baseline = rss(pid);
        for group in 0..STREAMS {
            tokio::spawn(partial_object(peer.session.clone(), 1, group));
        }
        (peer, send, recv, baseline)
    });
    let baseline = _attack.3;

    // Wait until the relay has taken what it will: its refusals stop growing.
    let series = "tern_receive_budget_refusals_total";
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = -1.0;
    let refused = loop {
        std::thread::sleep(Duration::from_millis(1000));
        let now = sample(&http_get(&admin, "/metrics"), series).unwrap_or(0.0);
        if (now > 0.0 && now == last) || Instant::now() > deadline {
            break now;
        }
        last = now;
    };
    let grown = rss(pid).saturating_sub(baseline);
    eprintln!(
        "relay RSS grew {} MiB; {refused} objects refused",
        grown / MIB
    );
    assert!(refused > 0.0, "no object was refused");
    // The budget plus a small constant (stream state, allocator slack, metrics).
    assert!(
        grown < PER_SESSION + 48 * MIB,
        "relay RSS grew {} MiB for a {} MiB receive budget",
        grown / MIB,
        PER_SESSION / MIB
    );
    drop(_attack);
}
