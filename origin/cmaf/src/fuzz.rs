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
