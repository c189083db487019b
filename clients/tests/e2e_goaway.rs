//! Graceful shutdown: SIGTERM makes `tern relay` turn `/health` to 503, send GOAWAY (naming
//! `drain.goaway_uri`) on every session's control stream, then exit within `drain.timeout`.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::{Lines, Relay, TempDir};
use tern_moq::message::{GoAway, Setup};
use tern_moq::{DataStreamEvent, DataStreamReader, Limits, Message};
use tern_quic::ClientConfig;

/// Connect to the relay, send SETUP, and once the relay's SETUP arrived run `on_setup` (it
/// sends the signal); return the GOAWAY that follows (bounded: 10 s) and what keeps the session
/// open (the session and both control streams: closing a control stream ends a MoQ session),
/// so that the relay has to wait for it.
async fn goaway_after(url: &str, on_setup: impl FnOnce()) -> (GoAway, Box<dyn std::any::Any>) {
    let config = ClientConfig {
        disable_verify: true,
        system_roots: false,
        // This test reads draft-18's GOAWAY (with its Request ID) by hand.
        protocols: vec![tern_quic::MOQT_18.to_owned()],
        ..ClientConfig::default()
    };
    let session = tern_quic::connect(url, &config).await.expect("connect");
    let mut control = session.open_uni().await.expect("control stream");
    let mut buf = BytesMut::new();
    Message::from(Setup::default())
        .encode(&mut buf)
        .expect("encode");
    control.write_chunk(buf.freeze()).await.expect("SETUP");
    let mut recv = tokio::time::timeout(Duration::from_secs(5), session.accept_uni())
        .await
        .expect("server control stream in time")
        .expect("server control stream");
    let mut reader = DataStreamReader::new(Limits::default());
    // The server's control stream: its SETUP, then (after the signal) GOAWAY.
    let mut on_setup = Some(on_setup);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut control_reader = None;
    loop {
        assert!(
            Instant::now() < deadline,
            "no GOAWAY within 10 s of SIGTERM"
        );
        if control_reader.is_none()
            && let Some(DataStreamEvent::Control) = reader.poll().expect("stream type")
        {
            control_reader = Some(
                std::mem::replace(&mut reader, DataStreamReader::new(Limits::default()))
                    .into_control_reader(tern_moq::Version::Draft18)
                    .expect("control reader"),
            );
        }
        if let Some(cr) = control_reader.as_mut() {
            while let Some(m) = cr.pop().expect("control message") {
                match m {
                    Message::Setup(_) if on_setup.is_some() => (on_setup.take().expect("once"))(),
                    Message::GoAway(g) => {
                        assert!(on_setup.is_none(), "GOAWAY before SIGTERM");
                        return (g, Box::new((session, control, recv)));
                    }
                    other => panic!("unexpected {} on the control stream", other.name()),
                }
            }
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), recv.read_chunk(4096))
            .await
            .expect("control data in time")
            .expect("control stream open");
        match chunk {
            Some(c) => match control_reader.as_mut() {
                Some(cr) => cr.push(&c).expect("push"),
                None => reader.push(c).expect("push"),
            },
            None => panic!("control stream closed before GOAWAY"),
        }
    }
}

fn sigterm(relay: &Relay) {
    let status = Command::new("kill")
        .args(["-TERM", &relay.guard.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Wait (bounded) for the relay to exit; returns when it did.
fn wait_exit(relay: &mut Relay, limit: Duration) -> Instant {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = relay.guard.child.try_wait().expect("wait") {
            assert!(status.success(), "relay exit status {status:?}");
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "relay still running {limit:?} after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The status code of `GET path` on the admin port (HTTP/1.1, bounded by 2 s).
fn http_status(addr: SocketAddr, path: &str) -> u16 {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("admin port");
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut head = [0u8; 12];
    s.read_exact(&mut head).expect("status line");
    std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("status line {:?}", String::from_utf8_lossy(&head)))
}

#[test]
fn e2e_sigterm_sends_goaway_and_exits() {
    let mut relay = Relay::start(&[]);
    let url = relay.moqt_url();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (g, session) = rt.block_on(goaway_after(&url, || sigterm(&relay)));
    assert!(g.timeout > 0, "GOAWAY says how long the relay waits");
    assert_eq!(g.request_id, Some(0), "no request of ours was processed");
    assert!(
        g.new_session_uri.is_empty(),
        "no drain.goaway_uri: reconnect to the same URI"
    );
    // The session leaves when told to: the relay exits well within its drain time (2 s).
    drop(session);
    wait_exit(&mut relay, Duration::from_secs(10));
}

#[test]
fn e2e_drain_names_the_next_relay_turns_health_503_and_exits_within_the_drain_time() {
    const NEXT: &str = "moqt://next-relay.example:4443";
    const DRAIN: Duration = Duration::from_secs(3);
    let dir = TempDir::new("drain");
    let config = dir.0.join("relay.toml");
    std::fs::write(
        &config,
        format!("[drain]\ngoaway_uri = \"{NEXT}\"\ntimeout = \"3s\"\n"),
    )
    .expect("config");
    let mut relay = Relay::start_with_stderr(
        &["--config", config.to_str().expect("utf-8")],
        Stdio::piped(),
    );
    let mut logs = Lines::new(relay.guard.child.stderr.take().expect("stderr"));
    let line = logs.wait_for(1, Duration::from_secs(10), |l| {
        l.contains("admin HTTP listening")
    });
    // The address the admin port got (port 0), as logged: 127.0.0.1:PORT.
    let admin: SocketAddr = line
        .first()
        .and_then(|l| l.split("127.0.0.1:").nth(1))
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|port| format!("127.0.0.1:{port}").parse().ok())
        .unwrap_or_else(|| panic!("admin address in the log: {:?}", logs.seen));
    assert_eq!(http_status(admin, "/health"), 200, "ready before SIGTERM");

    let url = relay.moqt_url();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut signalled = None;
    let (g, session) = rt.block_on(goaway_after(&url, || {
        sigterm(&relay);
        signalled = Some(Instant::now());
    }));
    let signalled = signalled.expect("signalled");
    assert_eq!(
        &g.new_session_uri[..],
        NEXT.as_bytes(),
        "GOAWAY names the next relay"
    );
    assert_eq!(
        g.timeout,
        DRAIN.as_millis() as u64,
        "GOAWAY says how long the relay waits"
    );
    // Draining: load balancers and Kubernetes take the node out of rotation.
    assert_eq!(
        http_status(admin, "/health"),
        503,
        "not ready while draining"
    );
    // A newcomer is turned away (its session closed "relay draining") while the current
    // session stays up.
    let refused = rt.block_on(async {
        let config = ClientConfig {
            disable_verify: true,
            system_roots: false,
            ..ClientConfig::default()
        };
        match tern_quic::connect(&url, &config).await {
            Err(_) => true,
            Ok(s) => tokio::time::timeout(Duration::from_secs(2), s.closed())
                .await
                .is_ok(),
        }
    });
    assert!(refused, "a new session is refused while draining");

    // The session does not leave: the relay closes it when the drain time is up, and exits.
    let exited = wait_exit(&mut relay, DRAIN + Duration::from_secs(5));
    let took = exited - signalled;
    assert!(
        took >= DRAIN - Duration::from_millis(200) && took <= DRAIN + Duration::from_millis(1500),
        "exit {took:?} after SIGTERM, drain time {DRAIN:?}"
    );
    drop(session);
}
