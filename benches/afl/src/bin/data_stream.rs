fn main() {
    afl::fuzz!(|data: &[u8]| {
        tern_moq::fuzz::data_stream(data);
    });
}
