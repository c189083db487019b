//! Replays `fuzz/corpus/ts/` through the MPEG-TS fuzz entry point on stable, with prefixes and
//! seeded random mutations of each seed (flipped bits, overwritten header fields, lost packets,
//! spliced ranges): malformed MPEG-TS from a publisher must never panic the gateway.

use std::path::PathBuf;

use tern_cmaf::fuzz::corpus;
use tern_gateway::fuzz;

/// MPEG-TS packet size: a lossy link loses whole packets.
const TS_PACKET: usize = 188;

fn seeds() -> Vec<Vec<u8>> {
    corpus::seeds(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/ts"))
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
