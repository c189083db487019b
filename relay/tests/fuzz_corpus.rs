//! Replays `fuzz/corpus/hops/` and `fuzz/corpus/dns/` through the relay's fuzz entry points on
//! stable, with prefixes and seeded random mutations of each seed: a peer relay's hop list and a
//! DNS server's answer must never panic the relay. `cargo test -p tern-relay --test fuzz_corpus
//! -- --ignored` writes the hand-made seeds again.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::str::FromStr;

use bytes::{Bytes, BytesMut};
use hickory_proto::op::{Message as DnsMessage, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tern_cmaf::fuzz::corpus;
use tern_moq::TrackNamespace;
use tern_moq::message::{
    Message, ParameterValue, Parameters, PublishNamespace, SubscribeNamespace,
};
use tern_relay::core::hops;
use tern_relay::fuzz;

fn dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

#[test]
fn corpus_and_prefixes_never_panic() {
    let hops = corpus::seeds(&dir("hops"));
    assert!(hops.len() >= 3, "the hops corpus has its seeds");
    corpus::replay(&hops, 1, fuzz::hops);
    let dns = corpus::seeds(&dir("dns"));
    assert!(dns.len() >= 3, "the dns corpus has its seeds");
    corpus::replay(&dns, 3, fuzz::dns);
}

#[test]
fn mutations_never_panic() {
    let hops = corpus::seeds(&dir("hops"));
    let how = corpus::Mutations {
        rng: 0x7e57_0405_0bad_f00d,
        per_seed: corpus::per_seed(&hops, 20_000, 1000),
        max_range: 16,
        packet: None,
    };
    corpus::mutate(&hops, &how, fuzz::hops);
    let dns = corpus::seeds(&dir("dns"));
    let how = corpus::Mutations {
        rng: 0x7e57_0d05_5e1d_0053,
        per_seed: corpus::per_seed(&dns, 20_000, 1000),
        max_range: 32,
        packet: None,
    };
    corpus::mutate(&dns, &how, fuzz::dns);
}

fn write(target: &str, name: &str, data: &[u8]) {
    std::fs::create_dir_all(dir(target)).expect("mkdir");
    std::fs::write(dir(target).join(name), data).expect("write");
}

#[test]
#[ignore = "rewrites the hand-made seeds"]
fn regenerate_corpus() {
    let path = |ids: &[&'static [u8]]| ids.iter().map(|id| Bytes::from_static(id)).collect();
    let with_hops = |list: &hops::Hops| {
        let mut p = Parameters::new();
        p.push(hops::TERN_HOPS, ParameterValue::Bytes(hops::encode(list)));
        p
    };
    let messages = [
        (
            "publish_namespace",
            Message::PublishNamespace(PublishNamespace {
                request_id: 1,
                track_namespace: TrackNamespace::from_path("live/demo"),
                parameters: with_hops(&path(&[b"edge-a", b"mid-1"])),
            }),
        ),
        (
            "publish_namespace_outsider",
            Message::PublishNamespace(PublishNamespace {
                request_id: 3,
                track_namespace: TrackNamespace::from_path("live"),
                parameters: with_hops(&path(&[hops::OUTSIDER, b"edge-b"])),
            }),
        ),
        (
            "subscribe_namespace",
            Message::SubscribeNamespace(SubscribeNamespace {
                request_id: 2,
                track_namespace_prefix: TrackNamespace::from_path("live"),
                parameters: with_hops(&path(&[b"root"])),
            }),
        ),
    ];
    for (name, m) in &messages {
        let mut b = BytesMut::new();
        m.encode(&mut b).expect("encodes");
        write("hops", name, &b);
    }
    let mut bare = hops::encode(&path(&[b"a", b"b", b"c", b"d"])).to_vec();
    bare.push(4);
    write("hops", "bare", &bare);

    let name = |s: &str| Name::from_str(s).expect("name");
    let response = |id: u16, q: &str, t: RecordType| {
        let mut m = DnsMessage::new(id, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(name(q), t));
        m
    };
    let srv = |p, w, port, target: &str| {
        Record::from_rdata(
            name("_moqt._udp.tier.example."),
            30,
            RData::SRV(SRV::new(p, w, port, name(target))),
        )
    };
    let a = |owner: &str, ttl, ip: [u8; 4]| {
        Record::from_rdata(name(owner), ttl, RData::A(A(Ipv4Addr::from(ip))))
    };
    let mut m = response(2, "_moqt._udp.tier.example.", RecordType::SRV);
    m.add_answer(srv(10, 60, 4443, "a.tier.example."));
    m.add_answer(srv(10, 0, 4443, "b.tier.example."));
    m.add_answer(srv(20, 5, 4444, "c.tier.example."));
    m.add_additional(a("a.tier.example.", 5, [192, 0, 2, 1]));
    m.add_additional(Record::from_rdata(
        name("b.tier.example."),
        600,
        RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)),
    ));
    write("dns", "srv_with_additionals", &m.to_vec().expect("encodes"));
    let mut m = response(3, "tier.example.", RecordType::A);
    m.add_answer(Record::from_rdata(
        name("tier.example."),
        300,
        RData::CNAME(CNAME(name("relay.tier.example."))),
    ));
    m.add_answer(a("relay.tier.example.", 0, [10, 0, 0, 7]));
    m.add_answer(a("relay.tier.example.", 86_400, [10, 0, 0, 8]));
    write("dns", "cname_and_a", &m.to_vec().expect("encodes"));
    let mut m = response(4, "_moqt._udp.tier.example.", RecordType::SRV);
    m.metadata.response_code = ResponseCode::NXDomain;
    write("dns", "nxdomain", &m.to_vec().expect("encodes"));
    let mut m = response(5, "_moqt._udp.tier.example.", RecordType::SRV);
    m.add_answer(srv(0, 0, 443, "."));
    m.add_answer(srv(65_535, 65_535, 0, "xn--bcher-kva.example."));
    write("dns", "srv_odd_targets", &m.to_vec().expect("encodes"));
}
