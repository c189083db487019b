//! A WHIP publisher on str0m (the WebRTC crate the gateway answers with), on one UDP socket on
//! 127.0.0.1: an offer with one sendonly H.264 video m-line (no audio), POSTed to the relay's
//! `/whip/PATH`; ICE as a full agent (the relay is ICE-lite) with that socket as its one host
//! candidate, then DTLS. Once connected it writes each access unit at its decode time (RTP time
//! from the frame index, 90 kHz) and notes when the frame's last packet was handed to the
//! socket. Keyframe requests (PLI/FIR) are counted, not answered: the input has a keyframe every
//! 2 s anyway. The session is DELETEd at the end.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};

use crate::http;
use crate::rtmp::Sent;

/// Every wait on the relay.
const STEP: Duration = Duration::from_secs(10);

/// Polls of str0m in a row before it is taken to be stuck (a frame is a few hundred packets).
const MAX_POLLS: usize = 100_000;

/// Publish `frames` (Annex-B access units, `fps` a second) to the WHIP endpoint of the HTTP
/// listener `addr` as broadcast `path`, for `limit` of media. Returns every frame sent, with
/// its decode time (90 kHz, from the first) and when its last packet was sent.
pub fn publish(
    addr: SocketAddr,
    path: &str,
    fps: u32,
    frames: &[Arc<[u8]>],
    limit: Duration,
) -> anyhow::Result<Vec<Sent>> {
    ensure!(fps > 0, "a frame rate of 0");
    let socket = UdpSocket::bind("127.0.0.1:0").context("bind the WHIP publisher's UDP socket")?;
    let local = socket.local_addr()?;
    let mut rtc = RtcConfig::new()
        .clear_codecs()
        .enable_h264(true)
        .build(Instant::now());
    let host = Candidate::host(local, "udp").map_err(|e| anyhow!("ICE candidate: {e}"))?;
    rtc.add_local_candidate(host);
    let mut api = rtc.sdp_api();
    let mid = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    let (offer, pending) = api.apply().context("str0m made no offer")?;
    let resource = format!("/whip/{path}");
    let offer = offer.to_sdp_string();
    let created = http::request(addr, "POST", &resource, Some(("application/sdp", &offer)))?;
    ensure!(
        created.status == 201,
        "POST {resource}: {} {}",
        created.status,
        created.body.trim()
    );
    let session = created
        .header("location")
        .context("POST: a 201 without Location")?
        .to_owned();
    let answer = SdpAnswer::from_sdp_string(&created.body).context("the SDP answer")?;
    rtc.sdp_api()
        .accept_answer(pending, answer)
        .map_err(|e| anyhow!("the SDP answer: {e}"))?;
    let mut client = Client {
        rtc,
        socket,
        local,
        connected: false,
        keyframe_requests: 0,
        buf: vec![0; 2048],
    };
    let sent = client
        .connect()
        .and_then(|()| client.send(mid, fps, frames, limit));
    // Whatever happened, the session goes.
    let deleted = http::request(addr, "DELETE", &session, None);
    client.rtc.disconnect();
    let sent = sent?;
    let deleted = deleted?;
    ensure!(
        deleted.status == 200,
        "DELETE {session}: {} {}",
        deleted.status,
        deleted.body.trim()
    );
    if client.keyframe_requests > 0 {
        println!(
            "    (WHIP: the relay asked for a keyframe {} times; not answered, the input has one \
             every 2 s)",
            client.keyframe_requests
        );
    }
    Ok(sent)
}

/// str0m's `Rtc` and the socket it talks over.
struct Client {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    connected: bool,
    keyframe_requests: usize,
    buf: Vec<u8>,
}

impl Client {
    /// Run ICE and DTLS until str0m says connected (at most 10 s).
    fn connect(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + STEP;
        loop {
            let next = self.drain()?;
            if self.connected {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "ICE and DTLS did not complete within 10 s"
            );
            self.wait(next.min(deadline))?;
        }
    }

    /// The H.264 payload type the answer accepted (packetization mode 1).
    fn payload_type(&mut self, mid: Mid) -> anyhow::Result<Pt> {
        let writer = self
            .rtc
            .writer(mid)
            .context("no writer for the video m-line")?;
        writer
            .payload_params()
            .find(|p| {
                let spec = p.spec();
                spec.codec == Codec::H264 && spec.format.packetization_mode == Some(1)
            })
            .map(|p| p.pt())
            .context("the answer accepted no H.264 in packetization mode 1")
    }

    /// Write each frame when it is due (the first at once), serving the connection between
    /// frames, for `limit` of media.
    fn send(
        &mut self,
        mid: Mid,
        fps: u32,
        frames: &[Arc<[u8]>],
        limit: Duration,
    ) -> anyhow::Result<Vec<Sent>> {
        let pt = self.payload_type(mid)?;
        let start = Instant::now();
        let mut sent = Vec::new();
        for (i, frame) in frames.iter().enumerate() {
            let index = u64::try_from(i)?;
            let offset = Duration::from_micros(index * 1_000_000 / u64::from(fps));
            if offset > limit {
                break;
            }
            let due = start + offset;
            loop {
                let next = self.drain()?;
                if Instant::now() >= due {
                    break;
                }
                self.wait(next.min(due))?;
            }
            let dts = index * 90_000 / u64::from(fps);
            self.rtc
                .writer(mid)
                .context("no writer for the video m-line")?
                .write(
                    pt,
                    Instant::now(),
                    MediaTime::from_90khz(dts),
                    frame.clone(),
                )
                .map_err(|e| anyhow!("write frame {i}: {e}"))?;
            // str0m packetises and sends on the polls that follow.
            self.drain()?;
            sent.push((dts, Instant::now()));
        }
        Ok(sent)
    }

    /// Poll str0m until it next wants time: its datagrams sent, its events noted. Returns
    /// when that is.
    fn drain(&mut self) -> anyhow::Result<Instant> {
        for _ in 0..MAX_POLLS {
            match self.rtc.poll_output().map_err(|e| anyhow!("WebRTC: {e}"))? {
                Output::Transmit(t) => {
                    self.socket
                        .send_to(&t.contents, t.destination)
                        .with_context(|| format!("send to {}", t.destination))?;
                }
                Output::Event(e) => self.event(e)?,
                Output::Timeout(at) => {
                    let now = Instant::now();
                    if at > now {
                        return Ok(at);
                    }
                    self.rtc
                        .handle_input(Input::Timeout(now))
                        .map_err(|e| anyhow!("WebRTC: {e}"))?;
                }
            }
        }
        bail!("str0m still had output after {MAX_POLLS} polls")
    }

    fn event(&mut self, e: Event) -> anyhow::Result<()> {
        match e {
            Event::Connected => self.connected = true,
            Event::KeyframeRequest(_) => self.keyframe_requests += 1,
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                bail!("ICE disconnected")
            }
            _ => {}
        }
        Ok(())
    }

    /// Wait for one datagram until `until` at most and hand it, or the time, to str0m.
    fn wait(&mut self, until: Instant) -> anyhow::Result<()> {
        let left = until.saturating_duration_since(Instant::now());
        if !left.is_zero() {
            self.socket.set_read_timeout(Some(left))?;
            match self.socket.recv_from(&mut self.buf) {
                Ok((n, source)) => {
                    let data = &self.buf[..n];
                    // Not STUN, DTLS, RTP or RTCP: ignored.
                    if let Ok(r) = Receive::new(Protocol::Udp, source, self.local, data) {
                        self.rtc
                            .handle_input(Input::Receive(Instant::now(), r))
                            .map_err(|e| anyhow!("WebRTC: {e}"))?;
                    }
                    return Ok(());
                }
                // An ICMP error for an earlier send (Linux reports it on the next receive).
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(e).context("receive"),
            }
        }
        self.rtc
            .handle_input(Input::Timeout(Instant::now()))
            .map_err(|e| anyhow!("WebRTC: {e}"))
    }
}
