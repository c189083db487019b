//! A publisher's objects (CMAF chunks, groups, init sections) through the LL-HLS segmenter:
//! nothing may panic, and the playlist keeps the spec's bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tern_gateway::fuzz::hls_objects(data);
});
