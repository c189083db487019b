//! Replays `fuzz/corpus/demux/` through the demux fuzz entry point on stable, with every
//! seventh prefix (coarser for long inputs) and seeded random mutations of each seed (flipped
//! bits, overwritten box sizes, cut and spliced ranges): malformed media from a publisher must
//! never panic the origin.

use std::path::PathBuf;

use tern_cmaf::fuzz::{self, corpus};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/demux")
}

fn seeds() -> Vec<Vec<u8>> {
    corpus::seeds(&dir())
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

/// Two inputs the coverage-guided run found (`hang_sgpd_entry_count_*`): a moov whose `sgpd`
/// counts billions of entries in a few bytes. mp4-atom decoded every one of them (52 s and
/// 24 GB each); the demuxer now refuses the box, naming it, before it is decoded.
#[test]
fn a_sample_group_box_counting_more_entries_than_it_holds_is_refused_at_once() {
    use tern_cmaf::Error;
    use tern_cmaf::demux::{Demuxer, Limits};
    for n in 0..2 {
        let data = std::fs::read(dir().join(format!("hang_sgpd_entry_count_{n}"))).expect("seed");
        let started = std::time::Instant::now();
        let mut d = Demuxer::new(Limits::default());
        let err = d.push(&data).expect_err("refused");
        assert!(
            matches!(&err, Error::Malformed { kind, .. } if kind == "sgpd"),
            "{err:?}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
