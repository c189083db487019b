//! Replays `fuzz/corpus/ts/` through the MPEG-TS fuzz entry point on stable, with prefixes and
//! seeded random mutations of each seed (flipped bits, overwritten header fields, lost packets,
//! spliced ranges): malformed MPEG-TS from a publisher must never panic the gateway. The same
//! for `fuzz/corpus/srt_streamid/` through the SRT stream ID parser.

use std::path::PathBuf;

use tern_cmaf::fuzz::corpus;
use tern_gateway::fuzz;

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
