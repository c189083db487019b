//! Fuzz entry points, shared by `fuzz/` (cargo-fuzz, nightly) and the corpus replay test that
//! runs on stable.

use crate::demux::{Demuxer, Event, Limits};
use crate::packager::Packager;

/// Demux `data` (split into pieces whose sizes come from the data itself) and package every
/// sample. Never panics; errors end the run as they would end a publisher's session.
pub fn demux(data: &[u8]) {
    let limits = Limits {
        max_moov: 1 << 20,
        max_fragment: 1 << 20,
        max_other: 1 << 20,
        max_samples_per_fragment: 10_000,
    };
    let mut d = Demuxer::new(limits);
    let mut packager: Option<Packager> = None;
    let step = data.first().map_or(1, |b| usize::from(*b % 61) + 1);
    for piece in data.chunks(step) {
        if d.push(piece).is_err() {
            return;
        }
        while let Some(e) = d.poll() {
            match e {
                Event::Init(tracks) => packager = Packager::new(tracks).ok(),
                Event::Sample(s) => {
                    if let Some(p) = packager.as_mut()
                        && p.push(&s, 0).is_err()
                    {
                        return;
                    }
                }
            }
        }
    }
    let _ = d.finish();
}

/// Corpus replay on stable, shared by this crate's and the gateway's `tests/fuzz_corpus.rs`:
/// every seed, its prefixes, and seeded random mutations of it (flipped bits, overwritten
/// header fields, cut and spliced ranges). The generator is deterministic, so a run is the same
/// every time and a failure replays.
pub mod corpus {
    use std::path::Path;

    /// A small deterministic generator (xorshift64*).
    pub struct Rng(u64);

    impl Rng {
        /// A generator started from `seed` (not 0).
        pub fn new(seed: u64) -> Rng {
            Rng(seed.max(1))
        }

        /// The next 64 random bits.
        pub fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        /// A number in `0..n` (0 when `n` is 0).
        pub fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n.max(1) as u64) as usize
        }
    }

    /// The seed files in `dir`, in a stable order. Panics (it is a test helper) when the
    /// directory cannot be read.
    pub fn seeds(dir: &Path) -> Vec<Vec<u8>> {
        let entries = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("corpus directory {}: {e}", dir.display()));
        let mut out: Vec<Vec<u8>> = entries
            .map(|e| {
                let path = e.expect("corpus entry").path();
                std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            })
            .collect();
        out.sort();
        out
    }

    /// Prefixes of one seed replayed at most: a long seed is cut at a coarser step, so that a
    /// corpus of a thousand fuzzer-found inputs replays in seconds.
    pub const MAX_PREFIXES: usize = 64;

    /// Feed `f` every seed and every `step`-th prefix of it (at most [`MAX_PREFIXES`]).
    pub fn replay(seeds: &[Vec<u8>], step: usize, f: fn(&[u8])) {
        for seed in seeds {
            f(seed);
            let step = step.max(seed.len().div_ceil(MAX_PREFIXES)).max(1);
            for cut in (0..seed.len()).step_by(step) {
                f(&seed[..cut]);
            }
        }
    }

    /// How [`mutate`] changes a seed.
    pub struct Mutations {
        /// The generator's seed.
        pub rng: u64,
        /// Mutated copies of each seed.
        pub per_seed: usize,
        /// The largest range cut or spliced in, in bytes.
        pub max_range: usize,
        /// Cuts remove whole packets of this size (MPEG-TS: 188, as a lossy link does) instead
        /// of byte ranges.
        pub packet: Option<usize>,
    }

    /// Mutated copies per seed when `total` are spread over `seeds`: at least 1, at most `max`.
    pub fn per_seed(seeds: &[Vec<u8>], total: usize, max: usize) -> usize {
        (total / seeds.len().max(1)).clamp(1, max.max(1))
    }

    /// Feed `f` `per_seed` mutated copies of every seed, each with 1 to 8 mutations.
    pub fn mutate(seeds: &[Vec<u8>], how: &Mutations, f: fn(&[u8])) {
        let mut rng = Rng::new(how.rng);
        for seed in seeds {
            for _ in 0..how.per_seed {
                let mut m = seed.clone();
                for _ in 0..1 + rng.below(8) {
                    if m.is_empty() {
                        break;
                    }
                    mutate_once(&mut rng, how, &mut m);
                }
                f(&m);
            }
        }
    }

    fn mutate_once(rng: &mut Rng, how: &Mutations, m: &mut Vec<u8>) {
        let at = rng.below(m.len());
        match rng.below(4) {
            0 => m[at] ^= 1 << rng.below(8),
            1 => {
                // A box size, packet header or length field: any 4 bytes may be one.
                let v = rng.next_u64() as u32;
                let end = (at + 4).min(m.len());
                m[at..end].copy_from_slice(&v.to_be_bytes()[..end - at]);
            }
            2 => {
                let (start, len) = match how.packet {
                    Some(p) => (at - at % p, p * (1 + rng.below(3))),
                    None => (at, rng.below(how.max_range)),
                };
                m.drain(start..(start + len).min(m.len()));
            }
            _ => {
                let from = rng.below(m.len());
                let len = rng.below(how.max_range).min(m.len() - from);
                let piece: Vec<u8> = m[from..from + len].to_vec();
                m.splice(at..at, piece);
            }
        }
    }
}
