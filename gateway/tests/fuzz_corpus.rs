//! Replays `fuzz/corpus/ts/` through the MPEG-TS fuzz entry point on stable, with prefixes and
//! seeded random mutations of each seed (flipped bits, overwritten header fields, cut and
//! spliced ranges): malformed MPEG-TS from a publisher must never panic the gateway.

use std::fs;
use std::path::PathBuf;

use tern_gateway::fuzz;

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
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/ts");
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
        fuzz::ts(seed);
        for cut in (0..seed.len()).step_by(97) {
            fuzz::ts(&seed[..cut]);
        }
    }
}

#[test]
fn mutations_never_panic() {
    let mut rng = Rng(0x7e57_c0de_0188_0047);
    for seed in seeds() {
        for _ in 0..300 {
            let mut m = seed.clone();
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(m.len());
                match rng.below(4) {
                    0 => m[at] ^= 1 << rng.below(8),
                    1 => {
                        // A packet header, PES header or length field: any 4 bytes may be one.
                        let v = rng.next() as u32;
                        let end = (at + 4).min(m.len());
                        m[at..end].copy_from_slice(&v.to_be_bytes()[..end - at]);
                    }
                    2 => {
                        // Lose whole packets (what a lossy link does).
                        let start = at - at % 188;
                        let len = 188 * (1 + rng.below(3));
                        m.drain(start..(start + len).min(m.len()));
                    }
                    _ => {
                        let from = rng.below(m.len());
                        let len = rng.below(400).min(m.len() - from);
                        let piece: Vec<u8> = m[from..from + len].to_vec();
                        m.splice(at..at, piece);
                    }
                }
                if m.is_empty() {
                    break;
                }
            }
            fuzz::ts(&m);
        }
    }
}
