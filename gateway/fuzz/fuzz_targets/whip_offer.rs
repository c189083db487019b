//! WHIP offers from an untrusted publisher: parsing and answering an SDP must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tern_gateway::fuzz::whip_offer(data);
});
