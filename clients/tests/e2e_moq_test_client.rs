//! Cloudflare's `moq-test-client` (the IETF interop runner's reference client) against
//! `tern relay`, over raw QUIC and WebTransport: every case must pass.

mod common;

use std::process::Command;

use common::{Relay, peer};

/// The cases moq-test-client 0.2 runs (from `--list`).
fn cases() -> Vec<String> {
    let out = Command::new(peer("moq-test-client"))
        .arg("--list")
        .output()
        .expect("moq-test-client --list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn run_all(url: &str) {
    let cases = cases();
    assert_eq!(cases.len(), 18, "moq-test-client lists {cases:?}");
    let out = Command::new(peer("moq-test-client"))
        .args(["-r", url, "--tls-disable-verify"])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run moq-test-client");
    let tap = String::from_utf8_lossy(&out.stdout);
    let passed: Vec<&str> = tap
        .lines()
        .filter_map(|l| l.strip_prefix("ok "))
        .filter_map(|l| l.split(" - ").nth(1))
        .collect();
    let failed: Vec<&str> = tap.lines().filter(|l| l.starts_with("not ok")).collect();
    assert!(failed.is_empty(), "{url}: failing cases {failed:?}\n{tap}");
    for case in &cases {
        assert!(
            passed.contains(&case.as_str()),
            "{url}: case {case} did not pass\n{tap}"
        );
    }
    assert!(
        out.status.success(),
        "{url}: moq-test-client exit {:?}",
        out.status
    );
}

#[test]
fn e2e_moq_test_client_raw_quic() {
    let relay = Relay::start(&[]);
    run_all(&relay.moqt_url());
}

#[test]
fn e2e_moq_test_client_webtransport() {
    let relay = Relay::start(&[]);
    run_all(&relay.https_url());
}
