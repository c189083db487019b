//! Fragmented MP4 from an untrusted publisher: the demuxer and the packager must never panic,
//! whatever the bytes and however they are split.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tern_cmaf::fuzz::demux(data);
});
