//! WebRTC frames from an untrusted publisher through the WHIP media stage: never a panic, the
//! tracks once, decode times that go forward.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tern_gateway::fuzz::whip_frames(data);
});
