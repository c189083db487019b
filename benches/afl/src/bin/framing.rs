fn main() {
    afl::fuzz!(|data: &[u8]| {
        tern::fuzz::framing(data);
    });
}
