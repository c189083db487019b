fn main() {
    afl::fuzz!(|data: &[u8]| {
        tern_moq::fuzz::control_message(data);
    });
}
