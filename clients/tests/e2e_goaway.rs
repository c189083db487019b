//! Graceful shutdown: SIGTERM makes `tern relay` send GOAWAY on every session's control stream,
//! then exit within its drain time.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tern_moq::message::Setup;
use tern_moq::{DataStreamEvent, DataStreamReader, Limits, Message};
use tern_quic::ClientConfig;

#[test]
fn e2e_sigterm_sends_goaway_and_exits() {
    let mut relay = common::Relay::start(&[]);
    let url = relay.moqt_url();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let config = ClientConfig {
            disable_verify: true,
            system_roots: false,
            ..ClientConfig::default()
        };
        let session = tern_quic::connect(&url, &config).await.expect("connect");
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
        // The server's control stream: its SETUP, then (after SIGTERM) GOAWAY.
        let mut signalled = false;
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
                        .into_control_reader()
                        .expect("control reader"),
                );
            }
            if let Some(cr) = control_reader.as_mut() {
                while let Some(m) = cr.pop().expect("control message") {
                    match m {
                        Message::Setup(_) if !signalled => {
                            let status = Command::new("kill")
                                .args(["-TERM", &relay.guard.child.id().to_string()])
                                .status()
                                .expect("kill");
                            assert!(status.success());
                            signalled = true;
                        }
                        Message::GoAway(g) => {
                            assert!(signalled, "GOAWAY before SIGTERM");
                            assert!(g.timeout > 0, "GOAWAY says how long the relay waits");
                            assert_eq!(g.request_id, Some(0), "no request of ours was processed");
                            return;
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
    });
    // The relay exits within its drain time (2 s) plus slack.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = relay.guard.child.try_wait().expect("wait") {
            assert!(status.success(), "relay exit status {status:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "relay still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
