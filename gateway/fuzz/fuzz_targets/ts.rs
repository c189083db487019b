//! MPEG-TS from an untrusted publisher (an SRT caller): the demuxer and the H.264/AAC config
//! builders must never panic, whatever the bytes and however they are split.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tern_gateway::fuzz::ts(data);
});
