//! An untrusted RTMP publisher's bytes through the vendored rml_rtmp server session and the FLV
//! ingest: nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tern_gateway::fuzz::rtmp_session(data);
});
