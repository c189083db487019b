//! Who may publish on a relay with neither `[cluster]` nor `[plugin]`: only its own host, unless
//! the operator sets `relay.open_publishing`. The relay runs in a network namespace of the
//! test's own, so that a publisher on the host reaches it from another address (the veth pair),
//! as one on the internet would; a publisher inside the namespace is on the relay's host.
//!
//! Needs root (`ip netns`); every child is killed and the namespace deleted on drop.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ChildGuard, Lines, NetNs, Relay, tern};

/// `tern relay` inside `netns` on its veth address, with `env` set; its `moqt://` URL, and its
/// log (stderr).
fn relay_in(netns: &NetNs, env: &[(&str, &str)]) -> (Relay, String, Lines) {
    let mut cmd = netns.command(&tern());
    cmd.args(["relay", "--bind", &format!("{}:0", netns.ns_ip)])
        .envs(env.iter().copied());
    let mut relay = Relay::start_cmd_with_stderr(cmd, &[], Stdio::piped());
    let log = Lines::new(relay.guard.child.stderr.take().expect("stderr"));
    let url = relay.moqt_url();
    (relay, url, log)
}

/// Run `tern publish` (as `cmd`, with its arguments to come) against `url` for one object; its
/// exit success and stderr. Bounded: killed after 30 s.
fn publish(mut cmd: Command, url: &str) -> (bool, String) {
    cmd.args(["publish", url, "--tls-disable-verify"])
        .args(["--namespace", "live/open", "--track", "t"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = ChildGuard::spawn("tern publish", &mut cmd);
    let mut stdin = child.child.stdin.take().expect("stdin");
    let _ = stdin.write_all(b"one object\n");
    drop(stdin);
    let err = Lines::new(child.child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Ok(Some(status)) = child.child.try_wait() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "tern publish did not end in 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = err;
    err.wait_for(usize::MAX, Duration::from_millis(500), |_| true);
    (status.success(), err.seen.join("\n"))
}

#[test]
fn a_default_relay_takes_publishers_from_its_own_host_only() {
    let netns = NetNs::create().unwrap_or_else(|e| panic!("network namespace (needs root): {e}"));
    let (_relay, url, mut log) = relay_in(&netns, &[]);

    // From the host: another address than the relay's.
    let (ok, err) = publish(Command::new(tern()), &url);
    assert!(
        !ok,
        "an anonymous publisher from another host was accepted: {err}"
    );
    assert!(
        err.contains("relay.open_publishing"),
        "the refusal names the key that opens publishing: {err}"
    );
    let refused = log.wait_for(1, Duration::from_secs(5), |l| {
        l.contains("refused an anonymous publisher")
    });
    assert!(!refused.is_empty(), "relay log: {:?}", log.seen);

    // From the relay's own host (inside the namespace).
    let (ok, err) = publish(netns.command(&tern()), &url);
    assert!(ok, "a publisher on the relay's host was refused: {err}");
}

#[test]
fn relay_open_publishing_takes_anonymous_publishers_from_anywhere_and_says_so() {
    let netns = NetNs::create().unwrap_or_else(|e| panic!("network namespace (needs root): {e}"));
    let (_relay, url, mut log) = relay_in(&netns, &[("TERN_RELAY_OPEN_PUBLISHING", "true")]);
    let warned = log.wait_for(1, Duration::from_secs(10), |l| {
        l.contains("OPEN PUBLISHING")
    });
    assert!(!warned.is_empty(), "no startup warning: {:?}", log.seen);

    let (ok, err) = publish(Command::new(tern()), &url);
    assert!(ok, "an open relay refused a publisher: {err}");
}
