//! WHEP served by a real relay node of this process to a WebRTC viewer of this process (str0m
//! as a full ICE agent on one UDP socket of 127.0.0.1, in RTP mode so that the payloads are
//! read as sent), fed by an origin publishing the synthetic VP8 track of the LL-HLS node tests,
//! whose frames say which variant and frame they are.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::SdpAnswer;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::rtp::Ssrc;
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tern_model::local::Credentials;
use tokio::net::UdpSocket;

use super::{Config, WhepServer};
use crate::hls::node_tests::{
    GROUP_BASE, Plugin, STEP, Setup, Stream, config, frames_in, group_of_frame, start,
    watermark_rule,
};
use crate::whip;

const KEY: &str = "whep watermark test key";
const GROUP_MS: u64 = 333;
const RENDITION: &str = "video-360p";
/// Frames per group of the synthetic video (30 fps).
const GOP: u64 = 10;

fn watermark_plugin() -> Plugin {
    Plugin {
        name: "watermark",
        config: format!(r#"{{"key": "{KEY}", "tracks": ["{RENDITION}"], "group_ms": {GROUP_MS}}}"#),
    }
}

/// WHEP on the node of `setup`, its media on a UDP port of 127.0.0.1.
async fn whep(setup: &Setup) -> WhepServer {
    let udp = whip::Config::new("127.0.0.1:0".parse().expect("address"));
    let rtc = whip::serve(
        udp,
        setup.node.local(),
        Default::default(),
        Default::default(),
    )
    .await
    .expect("the WebRTC listener");
    WhepServer::new(Arc::new(rtc), Config::default())
}

/// A WebRTC viewer: str0m's `Rtc` and its socket.
struct Viewer {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    /// The video stream's SSRC, once a packet came.
    ssrc: Option<Ssrc>,
    /// Every frame received: (variant letter, frame number), in order of arrival.
    frames: Vec<(char, u64)>,
}

impl Viewer {
    /// Offer to watch `path` with `token`; connected and receiving.
    async fn watch(server: &WhepServer, path: &str, token: &str) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let local = socket.local_addr().expect("address");
        let mut rtc = RtcConfig::new()
            .set_rtp_mode(true)
            .set_crypto_provider(crate::whip::dtls::provider())
            .clear_codecs()
            .enable_vp8(true)
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").expect("candidate"));
        let mut api = rtc.sdp_api();
        api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        let (offer, pending) = api.apply().expect("an offer");
        let credentials = Credentials {
            peer: local,
            token: Some(token.to_owned()),
            via: "whep",
            member: false,
        };
        let answer = server
            .offer(path, credentials, &offer.to_sdp_string())
            .await
            .expect("answered");
        let answer = SdpAnswer::from_sdp_string(&answer.sdp).expect("an SDP answer");
        rtc.sdp_api()
            .accept_answer(pending, answer)
            .expect("answer accepted");
        Self {
            rtc,
            socket,
            local,
            ssrc: None,
            frames: Vec::new(),
        }
    }

    /// Serve the connection for `d`, noting every frame received.
    async fn run_for(&mut self, d: Duration) {
        let until = Instant::now() + d;
        let mut buf = vec![0; 2048];
        loop {
            let next = self.drain();
            let now = Instant::now();
            if now >= until {
                return;
            }
            let wait = next.min(until).saturating_duration_since(now);
            match tokio::time::timeout(wait, self.socket.recv_from(&mut buf)).await {
                Ok(Ok((n, from))) => {
                    let contents = buf[..n].try_into().expect("a datagram");
                    let input = Input::Receive(
                        Instant::now(),
                        Receive {
                            proto: Protocol::Udp,
                            source: from,
                            destination: self.local,
                            contents,
                        },
                    );
                    self.rtc.handle_input(input).expect("input");
                }
                Ok(Err(e)) => panic!("recv: {e}"),
                Err(_) => self
                    .rtc
                    .handle_input(Input::Timeout(Instant::now()))
                    .expect("timeout"),
            }
        }
    }

    /// Poll str0m until it next wants time.
    fn drain(&mut self) -> Instant {
        loop {
            match self.rtc.poll_output().expect("WebRTC") {
                Output::Timeout(t) => return t,
                Output::Transmit(t) => {
                    let _ = self.socket.try_send_to(&t.contents, t.destination);
                }
                Output::Event(Event::RtpPacket(p)) => {
                    self.ssrc = Some(p.header.ssrc);
                    for f in frames_in(&p.payload) {
                        if self.frames.last() != Some(&f) {
                            self.frames.push(f);
                        }
                    }
                }
                Output::Event(_) => {}
            }
        }
    }

    /// Ask for a keyframe (RTCP PLI).
    fn pli(&mut self) {
        let ssrc = self.ssrc.expect("video came");
        self.rtc
            .direct_api()
            .stream_rx(&ssrc)
            .expect("the video stream")
            .request_keyframe(KeyframeRequestKind::Pli);
    }
}

/// The variant letter of each group received, checking that a group comes from one variant.
fn letters_by_group(frames: &[(char, u64)]) -> BTreeMap<u64, char> {
    let mut out = BTreeMap::new();
    for (letter, n) in frames {
        let group = group_of_frame(n / GOP * GOP);
        let first = *out.entry(group).or_insert(*letter);
        assert_eq!(first, *letter, "group {group} mixes variants: {frames:?}");
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_whep_viewer_gets_its_own_variant_of_every_group() {
    let mut setup = start(Some(watermark_plugin()), config()).await;
    let ns = "live/marked";
    setup.publish(
        ns,
        Stream {
            watermark: true,
            gop: GOP,
            heights: &[],
        },
    );
    let server = whep(&setup).await;
    let rule = watermark_rule(KEY, GROUP_MS);
    // The broadcast's catalog first (the origin starts).
    let deadline = Instant::now() + STEP;
    let catalog = tern_model::TrackName::from_path(ns, "").namespace;
    while setup
        .node
        .local()
        .catalog(catalog.clone(), Credentials::member("test"), STEP)
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the origin's catalog");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut alice = Viewer::watch(&server, ns, "alice").await;
    let mut bob = Viewer::watch(&server, ns, "bob").await;
    tokio::join!(
        alice.run_for(Duration::from_secs(4)),
        bob.run_for(Duration::from_secs(4))
    );
    assert_eq!(server.viewers(), 2);
    // Variants A and B read once for both viewers.
    assert_eq!(server.sources(), 2);

    let mut sequences = Vec::new();
    for (name, viewer) in [("alice", &alice), ("bob", &bob)] {
        let groups = letters_by_group(&viewer.frames);
        assert!(groups.len() >= 8, "{name}: {groups:?}");
        for (group, letter) in &groups {
            assert_eq!(*letter, rule(name, *group), "{name}, group {group}");
        }
        // Every frame of every whole group came (nothing lost at the switches of variant).
        let numbers: Vec<u64> = viewer.frames.iter().map(|(_, n)| *n).collect();
        let first_whole = numbers
            .iter()
            .find(|n| *n % GOP == 0)
            .copied()
            .expect("a keyframe");
        let last = *numbers.last().expect("frames");
        let from = numbers.iter().position(|n| *n == first_whole).unwrap_or(0);
        let expected: Vec<u64> = (first_whole..=last).collect();
        assert_eq!(&numbers[from..], &expected[..], "{name}: frames in order");
        sequences.push(groups);
    }
    // Two identities, two A/B sequences over the same groups.
    let differs = sequences[0]
        .iter()
        .filter(|(g, l)| sequences[1].get(g).is_some_and(|m| m != *l))
        .count();
    assert!(differs > 0, "{sequences:?}");
    // The groups are those of the published stream.
    assert!(sequences[0].keys().all(|g| *g >= GROUP_BASE));

    // A keyframe request: the viewer gets its variant of the newest group again from its
    // keyframe at once.
    let before = alice.frames.len();
    alice.pli();
    alice.run_for(Duration::from_millis(300)).await;
    let after = &alice.frames[before..];
    let seen: Vec<u64> = alice.frames[..before].iter().map(|(_, n)| *n).collect();
    let resent = after
        .iter()
        .find(|(_, n)| n % GOP == 0 && seen.contains(n))
        .unwrap_or_else(|| panic!("no keyframe sent again after a PLI: {after:?}"));
    let group = group_of_frame(resent.1);
    assert_eq!(
        resent.0,
        rule("alice", group),
        "group {group} after the PLI"
    );
}
