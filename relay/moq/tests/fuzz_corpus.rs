//! Replays every file in `fuzz/corpus/<target>/` through the fuzz entry points
//! on stable. `cargo test -p tern-moq --test fuzz_corpus -- --ignored` rewrites
//! the seed files from valid encodings.

use std::fs;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use tern_moq::coding::KvpValue;
use tern_moq::data::{
    DatagramPayload, FetchHeader, FetchObject, FetchObjectHeader, FetchObjectState, ObjectDatagram,
    ObjectStatus, Properties, SubgroupHeader, SubgroupId, SubgroupObject, encode_datagram_header,
    encode_subgroup_header, encode_subgroup_object_header,
};
use tern_moq::message::*;
use tern_moq::{Location, TrackNamespace};

/// A fuzz entry point.
type EntryPoint = fn(&[u8]);

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn replay(target: &str, f: fn(&[u8])) -> usize {
    let mut n = 0;
    for entry in fs::read_dir(corpus(target)).expect("corpus dir") {
        let data = fs::read(entry.expect("entry").path()).expect("read");
        f(&data);
        // Every prefix too: truncation must never panic.
        for cut in 0..data.len().min(64) {
            f(&data[..cut]);
        }
        n += 1;
    }
    n
}

#[test]
fn replay_corpus() {
    assert!(replay("control_message", tern_moq::fuzz::control_message) >= 3);
    assert!(replay("data_stream", tern_moq::fuzz::data_stream) >= 3);
    assert!(replay("datagram", tern_moq::fuzz::datagram) >= 3);
    assert!(replay("setup", tern_moq::fuzz::setup) >= 3);
}

/// Mutated inputs per target, spread over its corpus files (at least 20 per file).
const MUTATIONS_PER_TARGET: usize = 20_000;

/// Seeded random mutations of the corpus, so stable CI exercises more than the seeds.
#[test]
fn mutated_corpus_never_panics() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let mut rng = StdRng::seed_from_u64(0xf022);
    let targets: [(&str, EntryPoint); 4] = [
        ("control_message", tern_moq::fuzz::control_message),
        ("data_stream", tern_moq::fuzz::data_stream),
        ("datagram", tern_moq::fuzz::datagram),
        ("setup", tern_moq::fuzz::setup),
    ];
    for (target, f) in targets {
        let files = fs::read_dir(corpus(target)).expect("corpus dir").count();
        let per_file = (MUTATIONS_PER_TARGET / files.max(1)).max(20);
        for entry in fs::read_dir(corpus(target)).expect("corpus dir") {
            let seed = fs::read(entry.expect("entry").path()).expect("read");
            for _ in 0..per_file {
                let mut data = seed.clone();
                for _ in 0..rng.random_range(1..4) {
                    if data.is_empty() {
                        data.push(rng.random());
                        continue;
                    }
                    let i = rng.random_range(0..data.len());
                    match rng.random_range(0..3) {
                        0 => data[i] = rng.random(),
                        1 => data.insert(i, rng.random()),
                        _ => {
                            data.remove(i);
                        }
                    }
                }
                f(&data);
            }
        }
    }
}

#[test]
#[ignore = "rewrites the seed corpus"]
fn regenerate_corpus() {
    let write = |target: &str, name: &str, data: &[u8]| {
        fs::create_dir_all(corpus(target)).expect("mkdir");
        fs::write(corpus(target).join(name), data).expect("write");
    };
    let mut p = Parameters::new();
    p.set_subscriber_priority(128);
    p.set_forward(true);
    p.set_subscription_filter(&SubscriptionFilter::LargestObject);
    let msgs = [
        ("setup", {
            let mut s = Setup::default();
            s.set_path("/live");
            s.set_moqt_implementation("tern");
            Message::Setup(s)
        }),
        (
            "subscribe",
            Message::Subscribe(Subscribe {
                request_id: 0,
                track_namespace: TrackNamespace::from_path("live/demo"),
                track_name: Bytes::from_static(b"video"),
                parameters: p.clone(),
            }),
        ),
        (
            "subscribe_ok",
            Message::SubscribeOk(SubscribeOk {
                track_alias: 1,
                parameters: {
                    let mut q = Parameters::new();
                    q.set_largest_object(Location::new(3, 4));
                    q
                },
                track_properties: Properties::new(),
            }),
        ),
        (
            "fetch",
            Message::Fetch(Fetch {
                request_id: 2,
                fetch_type: FetchType::RelativeJoining {
                    joining_request_id: 0,
                    joining_start: 1,
                },
                parameters: Parameters::new(),
            }),
        ),
        (
            "goaway",
            Message::GoAway(GoAway {
                new_session_uri: Bytes::new(),
                timeout: 1000,
                request_id: Some(4),
            }),
        ),
    ];
    for (name, m) in &msgs {
        let mut b = BytesMut::new();
        m.encode(&mut b).expect("encodes");
        write("control_message", name, &b);
    }
    let h = SubgroupHeader {
        track_alias: 1,
        group_id: 0,
        subgroup_id: SubgroupId::FirstObject,
        publisher_priority: None,
        has_properties: true,
        end_of_group: true,
        first_object: true,
    };
    let mut s = encode_subgroup_header(&h).to_vec();
    let o = SubgroupObject {
        object_id: 0,
        properties: Properties::new(),
        payload_length: 4,
        object_status: ObjectStatus::Normal,
    };
    s.extend_from_slice(&encode_subgroup_object_header(&h, None, &o).expect("obj"));
    s.extend_from_slice(b"abcd");
    let end = SubgroupObject {
        object_id: 1,
        payload_length: 0,
        object_status: ObjectStatus::EndOfGroup,
        ..o
    };
    s.extend_from_slice(&encode_subgroup_object_header(&h, Some(0), &end).expect("obj"));
    write("data_stream", "subgroup", &s);
    let mut f = Vec::new();
    FetchHeader { request_id: 2 }.encode(&mut f);
    let mut st = FetchObjectState::new(GroupOrder::Ascending);
    f.extend_from_slice(
        &st.encode(&FetchObject::Object(FetchObjectHeader {
            group_id: 1,
            subgroup_id: Some(0),
            object_id: 0,
            publisher_priority: 1,
            properties: Properties::new(),
            payload_length: 2,
        }))
        .expect("enc"),
    );
    f.extend_from_slice(b"hi");
    f.extend_from_slice(
        &st.encode(&FetchObject::EndOfUnknownRange(Location::new(2, 5)))
            .expect("enc"),
    );
    write("data_stream", "fetch", &f);
    let mut setup = BytesMut::new();
    msgs[0].1.encode(&mut setup).expect("enc");
    write("data_stream", "control", &setup);
    // The `setup` target takes a SETUP payload: its Setup Options.
    let options = |s: &Setup| {
        let mut b = Vec::new();
        s.options.encode_all(&mut b).expect("enc");
        b
    };
    let mut s = Setup::default();
    s.set_path("/live?jwt=abc.def");
    s.set_authority("relay.example:4443");
    s.set_moqt_implementation("tern/0.1.0");
    s.set_max_auth_token_cache_size(4096);
    write("setup", "all_options", &options(&s));
    let mut s = Setup::default();
    s.push_authorization_token(&AuthToken::Register {
        alias: 7,
        token_type: 1,
        token_value: Bytes::from_static(b"secret"),
    });
    s.push_authorization_token(&AuthToken::UseAlias { alias: 7 });
    s.push_authorization_token(&AuthToken::UseValue {
        token_type: 0,
        token_value: Bytes::from_static(b"v"),
    });
    s.push_authorization_token(&AuthToken::Delete { alias: 7 });
    write("setup", "auth_tokens", &options(&s));
    let mut s = Setup::default();
    s.set_moqt_implementation("other/2");
    // GREASE and tern's hop-list option: unknown options are kept and ignored.
    s.options.push(0x24, KvpValue::Varint(0x3f));
    s.options
        .push(0x25, KvpValue::Bytes(Bytes::from_static(b"grease")));
    s.options
        .push(0x7E71, KvpValue::Bytes(Bytes::from_static(b"edge-a")));
    s.options.push(0x3e, KvpValue::Varint(u64::from(u32::MAX)));
    write("setup", "unknown_options", &options(&s));
    let d = |payload| ObjectDatagram {
        track_alias: 1,
        group_id: 2,
        object_id: 3,
        publisher_priority: Some(7),
        properties: Properties::new(),
        end_of_group: false,
        payload,
    };
    let mut a = encode_datagram_header(&d(DatagramPayload::Payload(Bytes::from_static(b"x"))))
        .expect("enc")
        .to_vec();
    a.push(b'x');
    write("datagram", "payload", &a);
    write(
        "datagram",
        "status",
        &encode_datagram_header(&d(DatagramPayload::Status(ObjectStatus::EndOfTrack)))
            .expect("enc"),
    );
    let mut pad = Vec::new();
    tern_moq::coding::encode_varint(tern_moq::data::PADDING_DATAGRAM, &mut pad);
    pad.extend_from_slice(&[0, 0, 0]);
    write("datagram", "padding", &pad);
}
