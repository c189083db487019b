//! What users see from the `tern` client subcommands: help text and one-line errors with exit
//! code 1.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::{Relay, tern};

fn run(args: &[&str]) -> Output {
    Command::new(tern())
        .args(args)
        .env("TERN_LOG", "error")
        .output()
        .expect("run tern")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn cli_help_documents_the_framing() {
    for sub in ["publish", "subscribe"] {
        let out = run(&[sub, "--help"]);
        assert!(out.status.success());
        let help = String::from_utf8_lossy(&out.stdout);
        for needle in [
            "--framing",
            "lines",
            "length",
            "u32 big-endian",
            "--namespace",
            "--cert-hash",
        ] {
            assert!(
                help.contains(needle),
                "`tern {sub} --help` lacks {needle:?}:\n{help}"
            );
        }
    }
    let out = run(&["clock", "publish", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("[default: clock]") && help.contains("[default: now]"),
        "{help}"
    );
}

#[test]
fn e2e_cli_unreachable_relay() {
    // A UDP port of our own that never answers: nothing but silence comes back.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = silent.local_addr().expect("addr");
    let url = format!("moqt://{addr}");
    let started = std::time::Instant::now();
    let out = run(&[
        "subscribe",
        &url,
        "--tls-disable-verify",
        "--namespace",
        "clock",
        "--track",
        "now",
        "--connect-timeout",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        format!("tern: cannot reach {addr} (no answer within 2s)")
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(silent);
}

#[test]
fn e2e_cli_wrong_cert_hash() {
    let relay = Relay::start(&[]);
    let wrong = "00".repeat(32);
    let url = relay.https_url();
    let out = run(&["clock", "subscribe", &url, "--cert-hash", &wrong]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "tern: the certificate of {url} did not match --cert-hash"
        )),
        "{err}"
    );
    // Without any trust setting the message says how to fix it.
    let out = run(&["clock", "subscribe", &url]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--cert-hash HEX"), "{}", stderr(&out));
}

#[test]
fn e2e_cli_unknown_track() {
    let relay = Relay::start(&[]);
    for url in [relay.moqt_url(), relay.https_url()] {
        let out = run(&[
            "clock",
            "subscribe",
            &url,
            "--cert-hash",
            &relay.fingerprint,
            "--track",
            "nope",
        ]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            stderr(&out).trim(),
            format!("tern: track clock/nope not found at {url}")
        );
    }
}

#[test]
fn cli_bad_arguments() {
    let out = run(&["subscribe", "ftp://x", "--namespace", "a", "--track", "b"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid relay URL"),
        "{}",
        stderr(&out)
    );
    let out = run(&[
        "subscribe",
        "moqt://x",
        "--namespace",
        "a",
        "--track",
        "b",
        "--cert-hash",
        "zz",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--cert-hash"), "{}", stderr(&out));
}

/// A relay whose standard output goes away (its reader closed the pipe after the banner, as
/// `tern relay | head -1` does) keeps running: the lines it prints later are lost, the relay
/// is not.
#[test]
fn e2e_cli_relay_outlives_a_closed_stdout() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut cmd = Command::new(tern());
    cmd.args(["relay", "--bind", "127.0.0.1:0", "--rtmp", "127.0.0.1:0"])
        .args(["--admin-bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut relay = common::ChildGuard::spawn("tern relay", &mut cmd);
    let stdout = relay.child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("the banner");
    assert!(first.starts_with("tern relay listening on"), "{first}");
    // The reader is gone; the ingest listeners' lines come after the banner.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        relay.child.try_wait().expect("status").is_none(),
        "the relay exited when its stdout closed"
    );
}
