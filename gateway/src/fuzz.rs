//! Fuzz entry points, shared by `fuzz/` (cargo-fuzz, nightly) and the corpus replay test that
//! runs on stable.

use crate::ingest::{Limits, TsIngest};
use crate::ts;

/// Demux `data` as MPEG-TS (split into pieces whose sizes come from the data itself) into
/// tracks and samples. Never panics; errors end the run as they would end a publisher's
/// session.
pub fn ts(data: &[u8]) {
    let limits = Limits {
        ts: ts::Limits {
            max_pes: 1 << 20,
            psi_within: 1000,
        },
        max_pending: 200,
    };
    let mut ingest = TsIngest::new(limits);
    let step = data.first().map_or(1, |b| usize::from(*b) * 3 + 1);
    for piece in data.chunks(step) {
        if ingest.push(piece).is_err() {
            return;
        }
        while ingest.poll().is_some() {}
    }
    let _ = ingest.finish();
    while ingest.poll().is_some() {}
}

/// Parse `data` as an SRT stream ID (lossily decoded, as the listener reads it). Never panics.
pub fn srt_streamid(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    if let Ok(id) = crate::srt::streamid::parse(&raw) {
        // What a parsed ID yields is always a valid broadcast path.
        let fields = id.namespace();
        assert!(!fields.is_empty() && fields.iter().all(|f| !f.is_empty()));
        assert!(fields.len() <= crate::srt::streamid::MAX_SEGMENTS);
    }
}
