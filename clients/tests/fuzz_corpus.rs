//! Replays `fuzz/corpus/framing/` through `tern publish`'s framing fuzz entry point on stable,
//! with every prefix and seeded random mutations of each seed: whatever a user pipes into
//! `tern publish` must never panic it. `cargo test -p tern --test fuzz_corpus -- --ignored`
//! writes the hand-made seeds again.

use std::path::PathBuf;

use tern::fuzz;
use tern_cmaf::fuzz::corpus;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/framing")
}

#[test]
fn corpus_and_prefixes_never_panic() {
    let seeds = corpus::seeds(&dir());
    assert!(seeds.len() >= 3, "the corpus has its seeds");
    corpus::replay(&seeds, 1, fuzz::framing);
}

#[test]
fn mutations_never_panic() {
    let seeds = corpus::seeds(&dir());
    let how = corpus::Mutations {
        rng: 0x7e57_f4a3_1e5b_0001,
        per_seed: corpus::per_seed(&seeds, 20_000, 1000),
        max_range: 16,
        packet: None,
    };
    corpus::mutate(&seeds, &how, fuzz::framing);
}

#[test]
#[ignore = "rewrites the hand-made seeds"]
fn regenerate_corpus() {
    let write = |name: &str, control: u8, input: &[u8]| {
        std::fs::create_dir_all(dir()).expect("mkdir");
        let mut data = vec![control];
        data.extend_from_slice(input);
        std::fs::write(dir().join(name), data).expect("write");
    };
    // Control byte: bit 0 framing (0 lines, 1 length), bits 1-2 group size - 1, bit 7 a
    // 24-byte object limit; the byte modulo 13, plus one, is the read size.
    write(
        "lines",
        0x02,
        b"first\nsecond\n\nthird\nlast without newline",
    );
    write(
        "lines_small_limit",
        0x80,
        b"short\nthis line is longer than the limit\n",
    );
    let mut length = Vec::new();
    for record in [&b"one"[..], b"two", b"", b"three", b"", b"", b"four"] {
        length.extend_from_slice(&(record.len() as u32).to_be_bytes());
        length.extend_from_slice(record);
    }
    write("length", 0x01, &length);
    write("length_truncated", 0x07, &[0, 0, 0, 9, b'c', b'u', b't']);
    write("length_over_limit", 0x81, &[0, 0, 1, 0, b'x']);
}
