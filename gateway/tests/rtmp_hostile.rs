//! A hostile RTMP peer against a relay node's RTMP listener: after a real handshake it sends
//! an AMF0 command of one value, which panicked rml_rtmp 0.8's session (`drain(..3)`). A
//! panicking connection also kept its place among `max_publishers` for good, so a few such
//! packets closed the listener to everyone. Here three hostile connections come and go, and
//! then ffmpeg still publishes.
//!
//! Needs ffmpeg with libx264 (`apt-get install ffmpeg`).

use std::process::Command;
use std::time::Duration;

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use tern_gateway::publish::Resumes;
use tern_gateway::rtmp;
use tern_relay::config::Config as RelayConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Connect, handshake as a client, send `chunk`, and wait (bounded) for the server to close.
async fn hostile(addr: std::net::SocketAddr, chunk: &[u8]) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut hs = Handshake::new(PeerType::Client);
    s.write_all(&hs.generate_outbound_p0_and_p1().expect("c0c1"))
        .await
        .expect("write");
    let mut buf = vec![0u8; 8192];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("the handshake within 5 s")
            .expect("read");
        assert!(n > 0, "closed during the handshake");
        match hs.process_bytes(&buf[..n]).expect("handshake") {
            HandshakeProcessResult::InProgress { response_bytes } => {
                s.write_all(&response_bytes).await.expect("write");
            }
            HandshakeProcessResult::Completed { response_bytes, .. } => {
                s.write_all(&response_bytes).await.expect("write");
                break;
            }
        }
    }
    s.write_all(chunk).await.expect("write");
    // The server drops this connection (an error, or before the fix a panic): EOF or a reset.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the hostile connection was not closed");
}

/// An RTMP chunk (format 0, chunk stream 3) carrying an AMF0 command message of one value,
/// the string "connect": no transaction ID, no command object.
fn one_value_command() -> Vec<u8> {
    let mut payload = vec![0x02, 0x00, 0x07];
    payload.extend(b"connect");
    let mut chunk = vec![0x03, 0, 0, 0];
    chunk.extend(&(payload.len() as u32).to_be_bytes()[1..]);
    chunk.push(0x14);
    chunk.extend([0, 0, 0, 0]);
    chunk.extend(payload);
    chunk
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_amf0_commands_close_their_connection_alone_and_give_back_its_place() {
    let mut config = RelayConfig::default();
    config.relay.bind = "127.0.0.1:0".parse().unwrap();
    config.admin.enabled = false;
    let (node, _ready) = tern_relay::run::start(&config).await.expect("node");
    let mut c = rtmp::Config::new("127.0.0.1:0".parse().unwrap());
    c.max_publishers = 2;
    let server = rtmp::serve(c, node.local(), Default::default(), Resumes::default())
        .await
        .expect("rtmp listener");
    let addr = server.local_addr();
    for _ in 0..3 {
        hostile(addr, &one_value_command()).await;
    }
    // Places are given back as their connections end.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let url = format!("rtmp://{addr}/live/after");
    let status = tokio::task::spawn_blocking(move || {
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
            .args([
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=160x120:rate=30:duration=2",
            ])
            .args(["-c:v", "libx264", "-g", "30", "-f", "flv", &url])
            .status()
            .expect("run ffmpeg (apt-get install ffmpeg)")
    })
    .await
    .unwrap();
    assert!(
        status.success(),
        "ffmpeg could not publish after the hostile peers: {status}"
    );
}
