//! Replays `fuzz/corpus/demux/` through the demux fuzz entry point on stable, with every
//! seventh prefix (coarser for long inputs) and seeded random mutations of each seed (flipped
//! bits, overwritten box sizes, cut and spliced ranges): malformed media from a publisher must
//! never panic the origin.

use std::path::PathBuf;

use tern_cmaf::fuzz::{self, corpus};

fn seeds() -> Vec<Vec<u8>> {
    corpus::seeds(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/demux"))
}

#[test]
fn corpus_and_prefixes_never_panic() {
    let seeds = seeds();
    assert!(seeds.len() >= 3, "the corpus has its seeds");
    corpus::replay(&seeds, 7, fuzz::demux);
}

#[test]
fn mutations_never_panic() {
    let seeds = seeds();
    let how = corpus::Mutations {
        rng: 0x7e57_c0de_1234_5678,
        per_seed: corpus::per_seed(&seeds, 40_000, 400),
        max_range: 64,
        packet: None,
    };
    corpus::mutate(&seeds, &how, fuzz::demux);
}
