//! FLV tags from an untrusted RTMP publisher through the FLV ingest: nothing may panic, and
//! tracks come before samples.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tern_gateway::fuzz::flv_tags(data);
});
