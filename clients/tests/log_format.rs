//! `tern relay --log-format json` writes its logs as JSON lines on stderr, one event per line,
//! each an object with a timestamp, a level, a target and the event's fields.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Lines, Relay, wait_exit};
use serde_json::Value;
use tern_quic::ClientConfig;

#[test]
fn e2e_relay_logs_json_lines() {
    let mut relay = Relay::start_with_stderr(&["--log-format", "json"], Stdio::piped());
    let stderr = relay.guard.child.stderr.take().expect("stderr piped");
    let mut lines = Lines::new(stderr);

    // A session makes the relay log "session open" with structured fields.
    let url = relay.moqt_url();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let session = rt.block_on(async {
        let config = ClientConfig {
            disable_verify: true,
            system_roots: false,
            ..ClientConfig::default()
        };
        tern_quic::connect(&url, &config).await.expect("connect")
    });
    let opened = lines.wait_for(1, Duration::from_secs(10), |l| l.contains("session open"));
    assert_eq!(
        opened.len(),
        1,
        "no \"session open\" line: {:?}",
        lines.seen
    );

    // SIGTERM: the relay logs its drain and exits, closing stderr.
    let status = Command::new("kill")
        .args(["-TERM", &relay.guard.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = wait_exit(&mut relay.guard, Duration::from_secs(10)).expect("relay exits");
    assert!(exit.success(), "{exit:?}");
    drop(session);
    lines.wait_for(usize::MAX, Duration::from_secs(2), |_| true);

    let mut events = Vec::new();
    for line in lines.seen.iter().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("stderr line is not JSON ({e}): {line}"));
        for key in ["timestamp", "level", "target", "fields"] {
            assert!(v.get(key).is_some(), "no {key:?} in {line}");
        }
        events.push(v);
    }
    let open = events
        .iter()
        .find(|v| v["fields"]["message"] == "session open")
        .expect("the session open event");
    assert_eq!(open["level"], "INFO", "{open}");
    assert!(
        open["fields"]["session"].is_u64(),
        "session id is a number: {open}"
    );
    let peer = open["fields"]["peer"].as_str().expect("peer is a string");
    assert!(peer.starts_with("127.0.0.1:"), "{open}");
    assert!(
        events.iter().any(|v| v["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("draining"))),
        "the drain is logged as JSON too: {:?}",
        lines.seen
    );
}
