//! H.265 sequence parameter sets from an untrusted publisher: parsing and building hvcC must
//! never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tern_gateway::fuzz::hevc_sps(data);
});
