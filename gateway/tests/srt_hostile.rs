//! Hostile SRT packets against a relay node's SRT listener. srt-protocol 0.4.4 panicked on six
//! packets any remote peer can send (`gateway/vendor/README.md`); a panic in the listener task
//! ends SRT ingest on the port for every publisher. Each test here runs a node with its SRT
//! listener and a real publisher (srt-tokio as the caller, MPEG-TS made by ffmpeg), sends one
//! of those packets from a raw UDP socket, then shows that the publisher's broadcast keeps
//! growing and that a new publisher is still accepted.
//!
//! Needs ffmpeg with libx264 and AAC (`apt-get install ffmpeg`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::SinkExt;
use srt_protocol::options::KeySize;
use srt_protocol::packet::{
    ControlPacket, ControlTypes, HsV5Info, KeyingMaterialMessage, Packet, ShakeType, SocketId,
    SrtControlPacket,
};
use srt_tokio::SrtSocket;
use tern_gateway::publish::Resumes;
use tern_gateway::srt::{self, PathKey, SrtServer};
use tern_model::local::{Credentials, ReadOptions, Reading};
use tern_model::{Delivery, Next, TrackName};
use tern_relay::config::Config as RelayConfig;
use tern_relay::node::Node;
use tokio::net::UdpSocket;

mod srt_packets;
use srt_packets::*;

const STEP: Duration = Duration::from_secs(10);

/// Ten seconds of 320x240 H.264 (a keyframe a second) and AAC, as MPEG-TS.
fn clip() -> &'static Bytes {
    static CLIP: OnceLock<Bytes> = OnceLock::new();
    CLIP.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("srt_hostile");
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("clip.ts");
        if !path.exists() {
            let tmp = dir.join(format!("clip.{}.ts", std::process::id()));
            let status = Command::new("ffmpeg")
                .args(["-hide_banner", "-loglevel", "error", "-y"])
                .args([
                    "-f",
                    "lavfi",
                    "-i",
                    "testsrc=size=320x240:rate=30:duration=10",
                ])
                .args([
                    "-f",
                    "lavfi",
                    "-i",
                    "sine=frequency=440:sample_rate=48000:duration=10",
                ])
                .args([
                    "-c:v",
                    "libx264",
                    "-preset",
                    "ultrafast",
                    "-g",
                    "30",
                    "-bf",
                    "0",
                ])
                .args(["-c:a", "aac", "-f", "mpegts"])
                .arg(&tmp)
                .status()
                .expect("run ffmpeg (apt-get install ffmpeg)");
            assert!(status.success(), "ffmpeg: {status}");
            std::fs::rename(&tmp, &path).expect("rename");
        }
        Bytes::from(std::fs::read(&path).expect("read clip"))
    })
}

/// Send the clip over `socket` at its own pace (7 TS packets a message), in a loop.
async fn feed(mut socket: SrtSocket) {
    let clip = clip();
    let chunks: Vec<Bytes> = clip.chunks(7 * 188).map(Bytes::copy_from_slice).collect();
    let every = Duration::from_secs(10) / chunks.len() as u32;
    let mut next = tokio::time::Instant::now();
    loop {
        for c in &chunks {
            next += every;
            tokio::time::sleep_until(next).await;
            if socket.send((Instant::now(), c.clone())).await.is_err() {
                return;
            }
        }
    }
}

struct Rig {
    node: Node,
    server: SrtServer,
    reading: Reading,
    publisher: tokio::task::JoinHandle<()>,
    newcomers: u32,
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.publisher.abort();
    }
}

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {STEP:?}"))
}

/// A node with an SRT listener (passphrases `keys`) and a publisher of `live/good` whose video
/// track is being read.
async fn rig(keys: Vec<PathKey>) -> Rig {
    let mut config = RelayConfig::default();
    config.relay.bind = "127.0.0.1:0".parse().unwrap();
    config.admin.enabled = false;
    let (node, _ready) = tern_relay::run::start(&config).await.expect("node");
    let mut c = srt::Config::new("127.0.0.1:0".parse().unwrap());
    c.keys = keys;
    let server = srt::serve(c, node.local(), Default::default(), Resumes::default())
        .await
        .expect("srt listener");
    let socket = within(
        "the publisher's handshake",
        SrtSocket::builder().call(server.local_addr(), Some("live/good")),
    )
    .await
    .expect("publisher accepted");
    let publisher = tokio::spawn(feed(socket));
    // The broadcast's video track, once the publisher's media made it.
    let api = node.local();
    let video = within("the publisher's video track", async {
        loop {
            if let Ok(info) = api
                .broadcast(
                    vec![Bytes::from("live"), Bytes::from("good")],
                    Credentials::in_process("test"),
                )
                .await
                && let Some(t) = info.tracks.iter().find(|t| t.starts_with(b"video"))
            {
                return t.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let reading = api
        .subscribe(
            TrackName::from_path("live/good", std::str::from_utf8(&video).unwrap()),
            Credentials::in_process("test"),
            ReadOptions::default(),
        )
        .await
        .expect("read the video track");
    Rig {
        node,
        server,
        reading,
        publisher,
        newcomers: 0,
    }
}

impl Rig {
    /// The listener still serves: the publisher's video keeps growing, and a new publisher is
    /// accepted.
    async fn still_serves(&mut self) {
        // What the reader holds now (sent before the hostile packet) is not proof.
        let mut batch = Vec::new();
        let mut seen = None;
        let newest = |batch: &mut Vec<Delivery>, seen: &mut Option<u64>| {
            for d in batch.drain(..) {
                if let Delivery::Object { object, .. } = d {
                    *seen = (*seen).max(Some(object.location.group));
                }
            }
        };
        while let Ok(next) =
            tokio::time::timeout(Duration::from_millis(20), self.reading.next(64, &mut batch)).await
        {
            assert_eq!(next, Next::Ready, "the publisher's track ended");
            newest(&mut batch, &mut seen);
        }
        let before = seen;
        within("the publisher's next group", async {
            loop {
                let next = self.reading.next(64, &mut batch).await;
                assert_eq!(next, Next::Ready, "the publisher's track ended");
                newest(&mut batch, &mut seen);
                if seen > before {
                    return;
                }
            }
        })
        .await;
        self.newcomers += 1;
        let sid = format!("live/newcomer{}", self.newcomers);
        let socket = within(
            "a new publisher's handshake",
            SrtSocket::builder().call(self.server.local_addr(), Some(&sid)),
        )
        .await;
        assert!(socket.is_ok(), "a new publisher was refused: {socket:?}");
        let _ = self.node.addr;
    }

    async fn hostile(&self) -> Hostile {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket.connect(self.server.local_addr()).await.unwrap();
        Hostile {
            socket,
            id: SocketId(0x7e57_0001),
        }
    }
}

/// A raw UDP peer that speaks just enough SRT to reach the code under test.
struct Hostile {
    socket: UdpSocket,
    id: SocketId,
}

impl Hostile {
    async fn send(&self, data: &[u8]) {
        self.socket.send(data).await.unwrap();
    }

    async fn recv(&self) -> Option<Packet> {
        self.recv_within(Duration::from_secs(2)).await
    }

    async fn recv_within(&self, wait: Duration) -> Option<Packet> {
        let mut buf = vec![0; 2048];
        let n = tokio::time::timeout(wait, self.socket.recv(&mut buf))
            .await
            .ok()?
            .ok()?;
        Packet::parse(&mut &buf[..n], false).ok()
    }

    /// The induction phase: the listener's cookie.
    async fn cookie(&self) -> i32 {
        self.send(&bytes_of(&handshake(
            ShakeType::Induction,
            self.id,
            0,
            HsV5Info::default(),
        )))
        .await;
        match self.recv().await {
            Some(Packet::Control(ControlPacket {
                control_type: ControlTypes::Handshake(hs),
                ..
            })) => hs.syn_cookie,
            other => panic!("no induction response: {other:?}"),
        }
    }

    /// Send a conclusion with `info` (after the induction), plus `extra` bytes of raw
    /// extensions after the ones `info` makes; the listener's answer, if any.
    async fn conclude(&self, info: HsV5Info, extra: &[u8]) -> Option<Packet> {
        let cookie = self.cookie().await;
        let mut b = bytes_of(&handshake(ShakeType::Conclusion, self.id, cookie, info));
        b.extend_from_slice(extra);
        self.send(&b).await;
        self.recv().await
    }
}

fn rejection(answer: &Option<Packet>) -> Option<ShakeType> {
    match answer {
        Some(Packet::Control(ControlPacket {
            control_type: ControlTypes::Handshake(hs),
            ..
        })) => Some(hs.shake_type),
        _ => None,
    }
}

fn key(path: &str, passphrase: &str, key_length: Option<u16>) -> PathKey {
    PathKey {
        path: path.into(),
        passphrase: passphrase.into(),
        key_length,
    }
}

/// A caller's conclusion with `info` (and raw `extra` extensions after its own) to a listener
/// with passphrases `keys` is refused, and the listener keeps serving.
async fn refused_alone(keys: Vec<PathKey>, info: HsV5Info, extra: &[u8]) {
    let mut rig = rig(keys).await;
    let answer = rig.hostile().await.conclude(info, extra).await;
    assert!(
        matches!(rejection(&answer), Some(ShakeType::Rejection(_))),
        "refused: {answer:?}"
    );
    rig.still_serves().await;
}

/// A conclusion for `sid` carrying AES-128 key material as `km` makes it.
fn encrypted(sid: &str, km: fn(KeyingMaterialMessage) -> SrtControlPacket) -> HsV5Info {
    let mut info = hsv5(sid);
    info.key_size = KeySize::AES128;
    info.ext_km = Some(km(key_material(KeySize::AES128, "the path's passphrase")));
    info
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_caller_to_a_path_without_a_passphrase_is_refused_alone() {
    // srt-protocol's hsv5.rs: unimplemented!("expected no secrets").
    let info = encrypted("live/plain", SrtControlPacket::KeyRefreshRequest);
    refused_alone(vec![], info, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_key_length_other_than_the_path_requires_is_refused_alone() {
    // srt-protocol's hsv5.rs: unimplemented!("Key size mismatch").
    let keys = vec![key("live/aes256", "the path's passphrase", Some(32))];
    let info = encrypted("live/aes256", SrtControlPacket::KeyRefreshRequest);
    refused_alone(keys, info, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_material_response_where_the_request_belongs_is_refused_alone() {
    // srt-protocol's hsv5.rs: unimplemented!("Expected kmreq").
    let keys = vec![key("live/keyed", "the path's passphrase", None)];
    let info = encrypted("live/keyed", SrtControlPacket::KeyRefreshResponse);
    refused_alone(keys, info, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_mode_congestion_extension_is_refused_alone() {
    // srt-protocol's packet/control/mod.rs: unimplemented!("Implement other kinds"), reached
    // by libsrt's SRT_CMD_CONGESTION ("file", sent with transtype=file). Strings travel as
    // little-endian 32-bit words.
    refused_alone(vec![], hsv5("live/file"), &extension(6, b"elif")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_group_extension_is_dropped_alone() {
    // srt-protocol's packet/control/srt.rs: the group extension read without a length check.
    let mut rig = rig(vec![]).await;
    let h = rig.hostile().await;
    let mut raw = extension(8, &[]);
    raw.extend(extension(5, b"abcd"));
    let _ = h.conclude(hsv5("live/group"), &raw).await;
    rig.still_serves().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_control_packets_from_a_connected_caller_are_ignored() {
    // srt-protocol's connection/mod.rs: todo!() for congestion warnings and peer errors,
    // unimplemented!() for an SRT extension other than key material, all from a connected
    // peer; and packet/control/srt.rs's size_words, unimplemented!() for a Reject extension.
    let mut rig = rig(vec![]).await;
    let h = rig.hostile().await;
    let answer = h.conclude(hsv5("live/connected"), &[]).await;
    let listener_id = match answer {
        Some(Packet::Control(ControlPacket {
            control_type: ControlTypes::Handshake(hs),
            ..
        })) if hs.shake_type == ShakeType::Conclusion => hs.socket_id,
        other => panic!("the plain caller was not accepted: {other:?}"),
    };
    for control_type in [
        ControlTypes::CongestionWarning,
        ControlTypes::PeerError(4000),
        ControlTypes::Srt(SrtControlPacket::StreamId("live/again".into())),
        // An SRT extension of type 0 (found by the fuzz entry point).
        ControlTypes::Srt(SrtControlPacket::Reject),
    ] {
        h.send(&bytes_of(&control(listener_id, control_type))).await;
    }
    // The connection itself lives on: what the listener sent before is read, then it still
    // sends (keep-alives, at least one a second).
    while h.recv_within(Duration::from_millis(300)).await.is_some() {}
    assert!(
        h.recv_within(Duration::from_secs(3)).await.is_some(),
        "the connection that sent them is dead"
    );
    rig.still_serves().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_with_the_right_passphrase_publishes_and_a_wrong_one_is_refused() {
    let mut rig = rig(vec![key("live/keyed", "the path's passphrase", None)]).await;
    let addr: SocketAddr = rig.server.local_addr();
    for (size, len) in [(KeySize::AES128, 16), (KeySize::AES256, 32)] {
        let ok = within(
            "an encrypted publisher's handshake",
            SrtSocket::builder()
                .encryption(len, "the path's passphrase")
                .call(addr, Some("live/keyed")),
        )
        .await;
        assert!(ok.is_ok(), "{size:?} with the right passphrase: {ok:?}");
    }
    let wrong = within(
        "a wrong passphrase's handshake",
        SrtSocket::builder()
            .encryption(16, "not the passphrase")
            .call(addr, Some("live/keyed")),
    )
    .await;
    assert!(wrong.is_err(), "a wrong passphrase was accepted");
    let none = within(
        "a caller without the passphrase",
        SrtSocket::builder().call(addr, Some("live/keyed")),
    )
    .await;
    assert!(none.is_err(), "a caller without encryption was accepted");
    rig.still_serves().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_string_extension_in_any_datagram_is_dropped() {
    // srt-protocol's packet/control/srt.rs: a string extension (stream ID, congestion, filter)
    // of zero words read its last word anyway. Every datagram is parsed before anything else,
    // so one packet from anyone, connected or not, reached it. Found by the SRT fuzz entry
    // point; not among the six known before.
    let mut rig = rig(vec![]).await;
    let h = rig.hostile().await;
    for kind in [5, 6, 7] {
        // An SRT extended control packet (type 0x7FFF, the extension type in the reserved
        // field) with no body.
        let mut raw = vec![0x80 | 0x7f, 0xff];
        raw.extend_from_slice(&u16::to_be_bytes(kind));
        raw.extend_from_slice(&[0; 12]);
        h.send(&raw).await;
    }
    // And as a handshake's stream ID extension of zero words.
    let _ = h.conclude(HsV5Info::default(), &extension(5, &[])).await;
    rig.still_serves().await;
}
