//! Replays `fuzz/corpus/ts/` through the MPEG-TS fuzz entry point on stable, with prefixes and
//! seeded random mutations of each seed (flipped bits, overwritten header fields, lost packets,
//! spliced ranges): malformed MPEG-TS from a publisher must never panic the gateway. The same
//! for `fuzz/corpus/srt_streamid/` through the SRT stream ID parser, and for the SRT listener's
//! handshake and connection (`fuzz/corpus/srt_packets/`, seeds made here from srt-protocol's own
//! packet types: `TERN_WRITE_SEEDS=1` rewrites the files for cargo-fuzz).

use std::path::PathBuf;

use srt_protocol::options::KeySize;
use srt_protocol::packet::{ControlTypes, ShakeType, SocketId, SrtControlPacket};
use tern_cmaf::fuzz::corpus;
use tern_gateway::fuzz;

mod srt_packets;
use srt_packets::*;

/// MPEG-TS packet size: a lossy link loses whole packets.
const TS_PACKET: usize = 188;

fn seeds() -> Vec<Vec<u8>> {
    corpus_of("ts")
}

fn corpus_of(target: &str) -> Vec<Vec<u8>> {
    corpus::seeds(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(target),
    )
}

#[test]
fn corpus_and_prefixes_never_panic() {
    let seeds = seeds();
    assert!(seeds.len() >= 3, "the corpus has its seeds");
    corpus::replay(&seeds, 97, fuzz::ts);
}

#[test]
fn mutations_never_panic() {
    let seeds = seeds();
    let how = corpus::Mutations {
        rng: 0x7e57_c0de_0188_0047,
        per_seed: corpus::per_seed(&seeds, 20_000, 300),
        max_range: 400,
        packet: Some(TS_PACKET),
    };
    corpus::mutate(&seeds, &how, fuzz::ts);
}

#[test]
fn hevc_sequence_parameter_sets_never_panic() {
    let seeds = corpus_of("hevc_sps");
    assert!(seeds.len() >= 2, "the corpus has its seeds");
    corpus::replay(&seeds, 1, fuzz::hevc_sps);
    let how = corpus::Mutations {
        rng: 0x4e7c_5b50_0033_0265,
        per_seed: corpus::per_seed(&seeds, 20_000, 5_000),
        max_range: 16,
        packet: None,
    };
    corpus::mutate(&seeds, &how, fuzz::hevc_sps);
}

#[test]
fn srt_streamids_never_panic() {
    let seeds = corpus_of("srt_streamid");
    assert!(seeds.len() >= 5, "the corpus has its seeds");
    corpus::replay(&seeds, 1, fuzz::srt_streamid);
    let how = corpus::Mutations {
        rng: 0x5e7_5721_d000_0512,
        per_seed: corpus::per_seed(&seeds, 20_000, 300),
        max_range: 64,
        packet: None,
    };
    corpus::mutate(&seeds, &how, fuzz::srt_streamid);
}

/// An input of [`fuzz::srt_packets`]: the key mode, then length-prefixed packets.
fn records(mode: u8, packets: &[Vec<u8>]) -> Vec<u8> {
    let mut v = vec![mode];
    for p in packets {
        v.extend_from_slice(&(p.len() as u16).to_be_bytes());
        v.extend_from_slice(p);
    }
    v
}

fn srt_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let id = SocketId(0x1234_5678);
    let induction = bytes_of(&handshake(ShakeType::Induction, id, 0, Default::default())).to_vec();
    // The harness puts the listener's cookie into any handshake whose cookie is not zero.
    let conclusion = |info, extra: &[u8]| {
        let mut b = bytes_of(&handshake(ShakeType::Conclusion, id, 1, info)).to_vec();
        b.extend_from_slice(extra);
        b
    };
    let to = SocketId(0);
    let connected: Vec<Vec<u8>> = [
        data(to, 1234, b"\x47 one TS packet's worth"),
        control(to, ControlTypes::KeepAlive),
        control(to, ControlTypes::CongestionWarning),
        control(to, ControlTypes::PeerError(4000)),
        control(
            to,
            ControlTypes::Srt(SrtControlPacket::StreamId("x".into())),
        ),
        data(to, 1236, b"after a gap"),
        control(to, ControlTypes::Shutdown),
    ]
    .iter()
    .map(|p| bytes_of(p).to_vec())
    .collect();
    let mut plain = vec![induction.clone(), conclusion(hsv5("live/a"), &[])];
    plain.extend(connected.clone());
    let mut keyed = hsv5("live/a");
    keyed.key_size = KeySize::AES128;
    keyed.ext_km = Some(SrtControlPacket::KeyRefreshRequest(key_material(
        KeySize::AES128,
        "a fuzzing passphrase",
    )));
    let mut encrypted = vec![induction.clone(), conclusion(keyed, &[])];
    encrypted.extend(connected);
    let mut group = extension(8, &[]);
    group.extend(extension(5, b"abcd"));
    vec![
        ("plain", records(0, &plain)),
        ("encrypted", records(1, &encrypted)),
        ("encrypted_any_length", records(2, &encrypted)),
        (
            "congestion_file",
            records(
                0,
                &[
                    induction.clone(),
                    conclusion(hsv5("live/a"), &extension(6, b"elif")),
                ],
            ),
        ),
        (
            "short_group",
            records(0, &[induction, conclusion(hsv5("live/a"), &group)]),
        ),
    ]
}

#[test]
fn srt_handshakes_and_connections_never_panic() {
    let seeds = srt_seeds();
    if std::env::var_os("TERN_WRITE_SEEDS").is_some() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/srt_packets");
        std::fs::create_dir_all(&dir).expect("corpus dir");
        for (name, seed) in &seeds {
            std::fs::write(dir.join(name), seed).expect("write seed");
        }
    }
    let mut seeds: Vec<Vec<u8>> = seeds.into_iter().map(|(_, s)| s).collect();
    seeds.extend(corpus_of("srt_packets"));
    corpus::replay(&seeds, 13, fuzz::srt_packets);
    let how = corpus::Mutations {
        rng: std::env::var("TERN_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5e7_0bad_9ac4_e750),
        // TERN_FUZZ_RUNS=N mutates each seed N times (a deeper run by hand).
        per_seed: std::env::var("TERN_FUZZ_RUNS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| corpus::per_seed(&seeds, 20_000, 400)),
        max_range: 96,
        packet: None,
    };
    corpus::mutate(&seeds, &how, fuzz::srt_packets);
}
