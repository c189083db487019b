fn main() {
    afl::fuzz!(|data: &[u8]| {
        tern_relay::fuzz::hops(data);
    });
}
