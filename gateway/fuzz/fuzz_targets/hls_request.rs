//! A viewer's LL-HLS request target (path, Delivery Directives, query): nothing may panic, and
//! no query can break a playlist's lines or quoted-strings.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tern_gateway::fuzz::hls_request(data);
});
