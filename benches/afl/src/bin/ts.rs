fn main() {
    afl::fuzz!(|data: &[u8]| {
        tern_gateway::fuzz::ts(data);
    });
}
