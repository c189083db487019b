//! Fuzz entry points, shared by `fuzz/` (cargo-fuzz, nightly), `benches/afl/` (cargo-afl,
//! stable) and the corpus replay test `tests/fuzz_corpus.rs`. Each must never panic on any
//! input.

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use hickory_resolver::proto::op::Message as DnsMessage;
use hickory_resolver::proto::rr::RData;
use tern_moq::Limits;
use tern_moq::message::{Message, ParameterValue};

use crate::core::hops;
use crate::node::discovery::{self, MAX_TTL, MIN_TTL, SrvTarget};

/// A hop list as a peer relay sends it: `data` is read as one control message and, when it is
/// a PUBLISH_NAMESPACE or SUBSCRIBE_NAMESPACE with a `TERN_HOPS` parameter, that parameter is
/// decoded as the relay does (`node::request`); any other input is decoded as a bare hop list.
/// The depth limit (1 to 16) comes from the last byte. A decoded list re-encodes to itself.
pub fn hops(data: &[u8]) {
    let max = data.last().map_or(8, |b| usize::from(b % 16) + 1);
    let value = match Message::decode(&mut &data[..], &Limits::default()) {
        Ok(Message::PublishNamespace(m)) => m.parameters.get(hops::TERN_HOPS).cloned(),
        Ok(Message::SubscribeNamespace(m)) => m.parameters.get(hops::TERN_HOPS).cloned(),
        Ok(_) => None,
        Err(_) => Some(ParameterValue::Bytes(Bytes::copy_from_slice(data))),
    };
    let Some(ParameterValue::Bytes(value)) = value else {
        return;
    };
    let Ok(list) = hops::decode(value, max) else {
        return;
    };
    assert!(list.len() <= max, "more hops than the limit");
    assert!(
        list.iter()
            .all(|id| !id.is_empty() && id.len() <= hops::MAX_ID_LEN),
        "hop id out of bounds"
    );
    let _ = hops::from_outsider(&list);
    assert_eq!(hops::decode(hops::encode(&list), max), Ok(list));
}

/// A DNS answer, as `node::discovery` turns it into upstream candidates: `data` is a DNS message;
/// its SRV answers become targets (ordered as RFC 2782 asks, with a fixed draw), each target takes
/// the message's A/AAAA records (answers and additionals) as its addresses, and the TTLs give
/// the hold time. The upstream URL (one of two) is chosen by the message ID's low bit.
pub fn dns(data: &[u8]) {
    let Ok(msg) = DnsMessage::from_vec(data) else {
        return;
    };
    let url = if msg.metadata.id & 1 == 0 {
        "moqt://tier.example:4443"
    } else {
        "https://relay.example/moq?room=1"
    };
    let url = url::Url::parse(url).expect("a valid URL");
    let (targets, srv_ttl) = discovery::srv_targets(&msg.answers);
    let n = targets.len();
    let mut state = u64::from(msg.metadata.id) | 1;
    let ordered = discovery::srv_order(targets, |n| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n.max(1)
    });
    assert_eq!(ordered.len(), n, "SRV ordering lost or added targets");
    assert!(
        ordered.windows(2).all(|w| w[0].priority <= w[1].priority),
        "SRV targets out of priority order"
    );
    let targets = if ordered.is_empty() {
        vec![SrvTarget {
            priority: 0,
            weight: 0,
            port: 4443,
            target: "tier.example".to_owned(),
        }]
    } else {
        ordered
    };
    let mut ips = Vec::new();
    let mut ip_ttl = None::<Duration>;
    for r in msg.answers.iter().chain(&msg.additionals) {
        let ip = match &r.data {
            RData::A(a) => IpAddr::V4(a.0),
            RData::AAAA(a) => IpAddr::V6(a.0),
            _ => continue,
        };
        ips.push(ip);
        let t = Duration::from_secs(u64::from(r.ttl));
        ip_ttl = Some(ip_ttl.map_or(t, |x| x.min(t)));
    }
    for t in &targets {
        let candidates = discovery::target_candidates(&url, t, ips.clone());
        assert_eq!(
            candidates.len(),
            ips.len(),
            "a target SRV gave has no candidates"
        );
        for c in &candidates {
            assert_eq!(c.addr.port(), t.port, "candidate on the wrong port");
            assert!(
                url::Url::parse(&c.url).is_ok(),
                "candidate URL {:?} for target {:?} does not parse",
                c.url,
                t.target
            );
        }
    }
    let hold = discovery::hold_time(srv_ttl.into_iter().chain(ip_ttl));
    assert!(
        (MIN_TTL..=MAX_TTL).contains(&hold),
        "hold time out of bounds"
    );
}
