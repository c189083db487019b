//! SRT packets from an untrusted peer through a listener's handshake and, once accepted, its
//! connection (the vendored srt-protocol): nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tern_gateway::fuzz::srt_packets(data);
});
