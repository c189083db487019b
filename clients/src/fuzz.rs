//! Fuzz entry points, shared by `fuzz/` (cargo-fuzz, nightly), `benches/afl/` (cargo-afl,
//! stable) and the corpus replay test `tests/fuzz_corpus.rs`. Each must never panic on any
//! input.

use crate::framing::{Decoder, Framing, Record};

/// `tern publish`'s stdin: the first byte picks the framing, the group size, the object limit
/// and the size of the reads; the rest is the input, cut into records as `tern publish` does
/// (every record drained after each read, one `finish` at the end). When the input frames
/// without error, the records account for every input byte and no group is longer than asked.
pub fn framing(data: &[u8]) {
    let Some((&b, data)) = data.split_first() else {
        return;
    };
    let framing = if b & 1 == 0 {
        Framing::Lines
    } else {
        Framing::Length
    };
    let group_size = usize::from((b >> 1) % 4) + 1;
    let max_object = if b & 0x80 == 0 { 1 << 16 } else { 24 };
    let step = usize::from(b % 13) + 1;
    let mut decoder = Decoder::new(framing, group_size, max_object);
    let mut records = Vec::new();
    for piece in data.chunks(step) {
        decoder.push(piece);
        loop {
            match decoder.poll() {
                Ok(Some(r)) => records.push(r),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    match decoder.finish() {
        Ok(Some(r)) => records.push(r),
        Ok(None) => {}
        Err(_) => return,
    }
    let mut in_group = 0;
    let mut framed = 0;
    for r in &records {
        match r {
            Record::NewGroup => {
                in_group = 0;
                framed += 4;
            }
            Record::Object(p) => {
                in_group += 1;
                assert!(p.len() <= max_object, "object over the limit");
                framed += match framing {
                    Framing::Lines => {
                        assert!(!p.contains(&b'\n'), "a line holds a newline");
                        assert!(in_group <= group_size, "group longer than --group-size");
                        p.len() + 1
                    }
                    Framing::Length => {
                        assert!(!p.is_empty(), "empty length-framed object");
                        p.len() + 4
                    }
                };
            }
        }
    }
    match framing {
        // Lines: one `\n` per object, the last one possibly missing; group marks take no bytes.
        Framing::Lines => {
            let marks = records
                .iter()
                .filter(|r| matches!(r, Record::NewGroup))
                .count();
            let bytes = framed - 4 * marks;
            let last_cut = data.last().is_some_and(|&c| c != b'\n');
            assert_eq!(
                bytes,
                data.len() + usize::from(last_cut),
                "lines lost bytes"
            );
        }
        Framing::Length => assert_eq!(framed, data.len(), "records lost bytes"),
    }
}
