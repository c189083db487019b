//! A publisher's catalog read for LL-HLS and the multivariant playlist made of it: nothing may
//! panic, and every rendition read can be a path segment.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tern_gateway::fuzz::hls_catalog(data);
});
