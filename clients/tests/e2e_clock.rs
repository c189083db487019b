//! Interop of `tern clock` with Cloudflare's `moq-clock-ietf` 0.6.25 (draft 18) and 0.6.24
//! (draft 16, bridged to tern's newest draft), through `tern relay` and through Cloudflare's
//! `moq-relay-ietf`; and `tern publish` → `tern relay` → `tern subscribe`
//! round trips over raw QUIC, WebTransport and QMux over WebSocket.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{CfRelay, ChildGuard, Lines, Relay, peer, peer16, tern, wait_exit};

/// `YYYY-MM-DD HH:MM:SS`, as both clocks print.
fn is_tick(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

/// Start a clock publisher and give it a moment to announce its namespace.
fn clock_publisher(program: &std::path::Path, args: &[&str]) -> ChildGuard {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let guard = ChildGuard::spawn("clock publisher", &mut cmd);
    std::thread::sleep(Duration::from_millis(1500));
    guard
}

/// Run a clock subscriber until it printed two ticks (at most 20 s).
fn two_ticks(program: &std::path::Path, args: &[&str]) -> Vec<String> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut guard = ChildGuard::spawn("clock subscriber", &mut cmd);
    let mut lines = Lines::new(guard.child.stdout.take().expect("stdout"));
    let ticks = lines.wait_for(2, Duration::from_secs(20), is_tick);
    assert!(ticks.len() >= 2, "fewer than 2 ticks: {:?}", lines.seen);
    ticks
}

#[test]
fn e2e_moq_clock_publisher_tern_relay_tern_subscriber() {
    let relay = Relay::start(&[]);
    let url = relay.https_url();
    let _publisher = clock_publisher(
        &peer("moq-clock-ietf"),
        &[&url, "--publish", "--tls-disable-verify"],
    );
    let moqt = relay.moqt_url();
    let args = [
        "clock",
        "subscribe",
        &moqt,
        "--cert-hash",
        &relay.fingerprint,
    ];
    two_ticks(&tern(), &args);
}

/// Cloudflare's draft-16 clock publisher over raw QUIC (`moqt-16`: every request on one
/// control stream) reaches a draft-22 tern subscriber and a draft-16 moq-clock-ietf
/// subscriber over WebTransport.
#[test]
fn e2e_draft_16_moq_clock_publisher_reaches_draft_22_and_draft_16_subscribers() {
    let relay = Relay::start(&[]);
    let moqt = relay.moqt_url();
    let _publisher = clock_publisher(
        &peer16("moq-clock-ietf"),
        &[&moqt, "--publish", "--tls-disable-verify"],
    );
    let args = [
        "clock",
        "subscribe",
        &moqt,
        "--draft",
        "22",
        "--cert-hash",
        &relay.fingerprint,
    ];
    two_ticks(&tern(), &args);
    two_ticks(
        &peer16("moq-clock-ietf"),
        &[&relay.https_url(), "--tls-disable-verify"],
    );
}

#[test]
fn e2e_tern_clock_publisher_tern_relay_moq_clock_subscriber() {
    let relay = Relay::start(&[]);
    let moqt = relay.moqt_url();
    let _publisher = clock_publisher(
        &tern(),
        &["clock", "publish", &moqt, "--tls-disable-verify"],
    );
    let url = relay.https_url();
    two_ticks(&peer("moq-clock-ietf"), &[&url, "--tls-disable-verify"]);
}

#[test]
fn e2e_moq_clock_publisher_cloudflare_relay_tern_subscriber() {
    let relay = CfRelay::start();
    let url = relay.https_url();
    let _publisher = clock_publisher(
        &peer("moq-clock-ietf"),
        &[&url, "--publish", "--tls-disable-verify"],
    );
    two_ticks(
        &tern(),
        &["clock", "subscribe", &url, "--tls-disable-verify"],
    );
}

#[test]
fn e2e_tern_clock_publisher_cloudflare_relay_moq_clock_subscriber() {
    let relay = CfRelay::start();
    let moqt = relay.moqt_url();
    let _publisher = clock_publisher(
        &tern(),
        &["clock", "publish", &moqt, "--tls-disable-verify"],
    );
    let url = relay.https_url();
    two_ticks(&peer("moq-clock-ietf"), &[&url, "--tls-disable-verify"]);
}

/// 100 records and the bytes `tern subscribe` must print back for them.
fn records(framing: &str) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut chunks = Vec::new();
    let mut expected = Vec::new();
    for i in 0..100u32 {
        let mut rec = Vec::new();
        match framing {
            "lines" => {
                rec.extend_from_slice(format!("record {i:03} ").as_bytes());
                rec.extend(std::iter::repeat_n(
                    b'a' + (i % 26) as u8,
                    (i * 37 % 1500) as usize,
                ));
                rec.push(b'\n');
            }
            _ => {
                if i > 0 && i % 10 == 0 {
                    rec.extend_from_slice(&0u32.to_be_bytes()); // next group
                }
                let body: Vec<u8> = (0..(1 + i * 53 % 3000))
                    .map(|j| (i * 7 + j) as u8)
                    .collect();
                rec.extend_from_slice(&(body.len() as u32).to_be_bytes());
                rec.extend_from_slice(&body);
            }
        }
        expected.extend_from_slice(&rec);
        chunks.push(rec);
    }
    (chunks, expected)
}

/// `tern publish` → relay → `tern subscribe`, 100 records in groups of 10, byte-exact.
fn round_trip(publish_url: &str, subscribe_url: &str, fingerprint: &str, framing: &str) {
    let track = format!("data-{framing}");
    let common = |cmd: &mut Command, url: &str| {
        cmd.arg(url)
            .args(["--cert-hash", fingerprint, "--namespace", "test/round-trip"])
            .args(["--track", &track, "--framing", framing]);
    };
    let mut cmd = Command::new(tern());
    cmd.arg("publish");
    common(&mut cmd, publish_url);
    cmd.args(["--group-size", "10"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut publisher = ChildGuard::spawn("tern publish", &mut cmd);
    let mut pub_err = Lines::new(publisher.child.stderr.take().expect("stderr"));
    let ready = pub_err.wait_for(1, Duration::from_secs(10), |l| {
        l.starts_with("tern: publishing")
    });
    assert!(!ready.is_empty(), "publisher not ready: {:?}", pub_err.seen);

    let mut cmd = Command::new(tern());
    cmd.arg("subscribe");
    common(&mut cmd, subscribe_url);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut subscriber = ChildGuard::spawn("tern subscribe", &mut cmd);
    let mut sub_out = subscriber.child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = std::io::Read::read_to_end(&mut sub_out, &mut all);
        all
    });
    let mut sub_err = Lines::new(subscriber.child.stderr.take().expect("stderr"));
    let ready = sub_err.wait_for(1, Duration::from_secs(10), |l| {
        l.starts_with("tern: subscribed")
    });
    assert!(
        !ready.is_empty(),
        "subscriber not ready: {:?}",
        sub_err.seen
    );

    let (chunks, expected) = records(framing);
    let mut stdin = publisher.child.stdin.take().expect("stdin");
    // A live source: ten records (one group) at a time.
    for batch in chunks.chunks(10) {
        for rec in batch {
            stdin.write_all(rec).expect("write to tern publish");
        }
        stdin.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(30));
    }
    drop(stdin);

    let status = wait_exit(&mut subscriber, Duration::from_secs(20));
    if status.is_none() {
        // Still running: end it, so that its stdout closes and the reader returns.
        let _ = subscriber.child.kill();
    }
    let got = reader.join().expect("reader");
    assert!(
        status.is_some_and(|s| s.success()),
        "tern subscribe: {status:?} {:?}",
        sub_err.seen
    );
    assert_eq!(got.len(), expected.len(), "{framing}: byte count");
    assert!(got == expected, "{framing}: bytes differ");
    let status = wait_exit(&mut publisher, Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "tern publish: {status:?}"
    );
}

#[test]
fn e2e_publish_subscribe_round_trip_raw_quic() {
    let relay = Relay::start(&[]);
    let url = relay.moqt_url();
    round_trip(&url, &url, &relay.fingerprint, "lines");
    round_trip(&url, &url, &relay.fingerprint, "length");
}

#[test]
fn e2e_publish_subscribe_round_trip_webtransport() {
    let relay = Relay::start(&[]);
    let url = relay.https_url();
    round_trip(&url, &url, &relay.fingerprint, "lines");
    round_trip(&url, &url, &relay.fingerprint, "length");
}

#[test]
fn e2e_publish_subscribe_round_trip_websocket() {
    // QMux over a WebSocket on the relay's HTTP listener (plain HTTP on loopback): a subscriber
    // over WebSocket reads a publisher over raw QUIC, and the other way round.
    let relay = Relay::start(&["--http", "127.0.0.1:0"]);
    let ws = relay.ws_url();
    let moqt = relay.moqt_url();
    round_trip(&moqt, &ws, &relay.fingerprint, "lines");
    round_trip(&ws, &moqt, &relay.fingerprint, "length");
}

#[test]
fn a_websocket_offering_no_moq_draft_in_common_is_refused_with_the_reason() {
    let relay = Relay::start(&["--http", "127.0.0.1:0"]);
    let http = relay.http.as_deref().expect("the HTTP listener");
    let answer = websocket_upgrade(http, "qmux-00.moqt-14");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("offered qmux-00.moqt-14") && answer.contains("qmux-01.moqt-18"),
        "{answer}"
    );
}

/// A WebSocket upgrade to `http` (`http://host:port`) offering `subprotocol`; the answer of a
/// refusal (which closes the connection).
fn websocket_upgrade(http: &str, subprotocol: &str) -> String {
    let addr = http.strip_prefix("http://").expect("plain HTTP");
    let mut tcp = std::net::TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        tcp,
        "GET /live HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: {subprotocol}\r\nContent-Length: 0\r\n\r\n"
    )
    .expect("write");
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut tcp, &mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// WebSocket sessions count under the QUIC listener's caps, together with QUIC's: with one
/// session per source allowed, a WebSocket session keeps a QUIC one out and the other way
/// round, and a refused upgrade is answered 503 with the reason.
#[test]
fn websocket_and_quic_sessions_share_the_per_source_cap() {
    use tern::client::{ConnectOptions, Session};
    let mut cmd = Command::new(tern());
    cmd.args(["relay", "--bind", "127.0.0.1:0"])
        .env("TERN_LIMITS_MAX_SESSIONS_PER_IP", "1")
        .env("TERN_LIMITS_NEW_SESSIONS_PER_IP", "1000");
    let relay = Relay::start_cmd(cmd, &["--http", "127.0.0.1:0"]);
    let http = relay.http.clone().expect("the HTTP listener");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let opts = ConnectOptions {
            disable_verify: true,
            ..ConnectOptions::default()
        };
        let held = Session::connect(&relay.ws_url(), &opts)
            .await
            .expect("the one session, over WebSocket");
        assert!(
            Session::connect(&relay.moqt_url(), &opts).await.is_err(),
            "a QUIC session past the cap"
        );
        let answer =
            tokio::task::spawn_blocking(move || websocket_upgrade(&http, "qmux-01.moqt-18"))
                .await
                .expect("upgrade");
        assert!(
            answer.starts_with("HTTP/1.1 503") && answer.contains("too many sessions"),
            "{answer}"
        );
        drop(held);
        // Its place is given back when the WebSocket session ends.
        let mut tries = 0;
        let quic = loop {
            match Session::connect(&relay.moqt_url(), &opts).await {
                Ok(s) => break s,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("the freed place: {e}"),
            }
        };
        assert!(
            Session::connect(&relay.ws_url(), &opts).await.is_err(),
            "a WebSocket session past the cap"
        );
        drop(quic);
    });
}

/// The library's PUBLISH flow (no PUBLISH_NAMESPACE) through `tern relay`, read back with the
/// library's subscriber until PUBLISH_DONE.
#[test]
fn e2e_library_publish_then_subscribe() {
    use tern::client::{ConnectOptions, Session, TrackWriter};
    use tern_moq::TrackNamespace;

    let relay = Relay::start(&[]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let opts = ConnectOptions {
            cert_hashes: vec![tern_quic::Fingerprint::from_hex(&relay.fingerprint).expect("hex")],
            ..ConnectOptions::default()
        };
        let publisher = Session::connect(&relay.moqt_url(), &opts)
            .await
            .expect("publisher");
        let ns = TrackNamespace::from_path("lib/test");
        let track = TrackWriter::new(ns.clone(), &b"objects"[..]);
        publisher.publish(&track).await.expect("PUBLISH accepted");

        let subscriber = Session::connect(&relay.https_url(), &opts)
            .await
            .expect("subscriber");
        let mut sub = subscriber
            .subscribe(ns, &b"objects"[..], None)
            .await
            .expect("SUBSCRIBE_OK");
        for group in [5u64, 6] {
            track.new_group(group).expect("group");
            for i in 0..3 {
                track
                    .write_object(format!("{group}/{i}").into())
                    .expect("object");
            }
        }
        let mut got = Vec::new();
        let read = async {
            while got.len() < 6 {
                match sub.next().await.expect("object") {
                    Some(o) => got.push((o.location.group, o.location.object, o.payload)),
                    None => break,
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("six objects within 10 s");
        let want: Vec<(u64, u64, bytes::Bytes)> = [5u64, 6]
            .iter()
            .flat_map(|g| (0..3).map(move |i| (*g, i, format!("{g}/{i}").into())))
            .collect();
        assert_eq!(got, want);
        track.finish();
        let end = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .expect("PUBLISH_DONE within 10 s");
        assert!(matches!(end, Ok(None)), "{end:?}");
    });
}

/// A relay tree with a foreign root: Cloudflare's relay is the upstream of a tern edge
/// (`TERN_UPSTREAMS`). The edge learns the clock's namespace from it (SUBSCRIBE_NAMESPACE), so a
/// subscriber at the edge — Cloudflare's own clock and tern's — gets the ticks published at
/// the root; the edge sends the root nothing it does not know (the hop list stays between tern
/// relays), or the root would close the session.
#[test]
fn e2e_cloudflare_relay_upstream_of_a_tern_edge() {
    let root = CfRelay::start();
    let _publisher = clock_publisher(
        &peer("moq-clock-ietf"),
        &[&root.https_url(), "--publish", "--tls-disable-verify"],
    );
    let mut cmd = Command::new(tern());
    cmd.args(["relay", "--bind", "127.0.0.1:0"])
        .env("TERN_UPSTREAMS", root.moqt_url())
        .env("TERN_UPSTREAM_DISABLE_VERIFY", "true");
    let mut edge = Relay::start_cmd_with_stderr(cmd, &[], Stdio::piped());
    // Subscribe once the edge is linked to the root: before that, the edge knows no clock.
    let mut log = Lines::new(edge.guard.child.stderr.take().expect("stderr"));
    log.expect(
        Duration::from_secs(10),
        "the edge linked to the root",
        |l| l.contains("upstream connected"),
    );
    let edge_url = edge.https_url();
    two_ticks(
        &peer("moq-clock-ietf"),
        &[&edge_url, "--tls-disable-verify"],
    );
    two_ticks(
        &tern(),
        &[
            "clock",
            "subscribe",
            &edge.moqt_url(),
            "--tls-disable-verify",
        ],
    );
}
