//! SRT stream IDs from an untrusted caller: the parser must never panic, and what it accepts is
//! always a valid broadcast path.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tern_gateway::fuzz::srt_streamid(data);
});
