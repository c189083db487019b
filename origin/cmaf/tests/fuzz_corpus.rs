//! Replays `fuzz/corpus/demux/` through the demux fuzz entry point on stable, with every prefix
//! and seeded random mutations of each seed (flipped bytes, overwritten box sizes, cut and
//! spliced ranges): malformed media from a publisher must never panic the origin.

use std::fs;
use std::path::PathBuf;

use tern_cmaf::fuzz;

/// A small deterministic generator (xorshift64*), so the run is the same every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/demux");
    let mut out: Vec<Vec<u8>> = fs::read_dir(dir)
        .expect("corpus dir")
        .map(|e| fs::read(e.expect("entry").path()).expect("read"))
        .collect();
    out.sort();
    out
}

#[test]
fn corpus_and_prefixes_never_panic() {
    let seeds = seeds();
    assert!(seeds.len() >= 3, "the corpus has its seeds");
    for seed in &seeds {
        fuzz::demux(seed);
        for cut in (0..seed.len()).step_by(7) {
            fuzz::demux(&seed[..cut]);
        }
    }
}

#[test]
fn mutations_never_panic() {
    let mut rng = Rng(0x7e57_c0de_1234_5678);
    for seed in seeds() {
        for _ in 0..400 {
            let mut m = seed.clone();
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(m.len());
                match rng.below(4) {
                    0 => m[at] ^= 1 << rng.below(8),
                    1 => {
                        // A box size field: any 4 bytes may be one.
                        let v = rng.next() as u32;
                        let end = (at + 4).min(m.len());
                        m[at..end].copy_from_slice(&v.to_be_bytes()[..end - at]);
                    }
                    2 => {
                        let len = rng.below(64);
                        m.drain(at..(at + len).min(m.len()));
                    }
                    _ => {
                        let from = rng.below(m.len());
                        let len = rng.below(64).min(m.len() - from);
                        let piece: Vec<u8> = m[from..from + len].to_vec();
                        m.splice(at..at, piece);
                    }
                }
                if m.is_empty() {
                    break;
                }
            }
            fuzz::demux(&m);
        }
    }
}
