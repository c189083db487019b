fn main() {
    afl::fuzz!(|data: &[u8]| {
        tern_cmaf::fuzz::demux(data);
    });
}
