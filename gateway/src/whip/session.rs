//! One WHIP publisher: the thin driver around str0m's `Rtc` (ICE-lite, DTLS, SRTP, NACK and
//! RTCP are its) and [`Media`], feeding the broadcast through a [`Feed`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::SdpOffer;
use str0m::media::{KeyframeRequestKind, MediaKind, Mid, Rid};
use str0m::{Event, IceConnectionState, IceCreds, Input, Output, Rtc, RtcConfig};
use tern_model::local::{Credentials, Refused, RefusedKind};
use tokio::sync::{Notify, mpsc, oneshot};

use super::WhipError;
use super::media::{Codec, Frame, Limits, Media};
use super::shared::{Answer, Datagram, Link, SESSION_QUEUE, Shared, random_token};
use crate::publish::{Feed, FeedError};
use crate::refusals::{Slot, left_out};

/// How a WHIP publisher gives a stream key.
const KEY_HINT: &str = "the key as the bearer token (Authorization: Bearer KEY)";

/// How often the session looks at its keyframe schedule and its track gate.
const TICK: Duration = Duration::from_millis(100);

/// What a session starts from.
pub(crate) struct Start {
    pub path: String,
    pub credentials: Credentials,
    pub offer: String,
    pub reply: oneshot::Sender<Result<Answer, WhipError>>,
    pub slot: Slot,
}

/// How a session ended.
enum End {
    /// DELETE: the broadcast ends.
    Deleted,
    /// The publisher went away (ICE timed out, DTLS closed): the broadcast lingers.
    Lost(String),
    /// Something the publisher sent or the node said closes it.
    Failed(String),
}

/// Answer the offer, then run the session until it ends.
pub(crate) async fn run(shared: Arc<Shared>, start: Start) {
    let Start {
        path,
        credentials,
        offer,
        reply,
        slot: _slot,
    } = start;
    let peer = credentials.peer;
    let offer_text = offer;
    let offer = match SdpOffer::from_sdp_string(&offer_text) {
        Ok(o) => o,
        Err(e) => {
            let _ = reply.send(Err(WhipError::BadOffer(format!("SDP: {e}"))));
            return;
        }
    };
    let now = Instant::now();
    // On a path with stream keys the bearer token is the key: a match publishes under it.
    let keys = shared.config.stream_keys.current();
    let vouched;
    let api = match keys.judge(&path, credentials.token.as_deref()) {
        Ok(None) => &shared.api,
        Ok(Some(admitted)) => {
            tracing::info!(%peer, "whip: {peer} publishing {path}{}", admitted.describe());
            vouched = shared.api.vouched(admitted.identity.clone());
            &vouched
        }
        Err(refusal) => {
            let reason = format!("{peer} publishing {path}: {}", refusal.reason(KEY_HINT));
            if let Some(n) = shared.refusals.log(peer.ip(), now) {
                tracing::warn!(%peer, "whip: refused {reason}{}", left_out(n));
            }
            let refused = Refused::new(RefusedKind::Unauthorized, reason);
            let _ = reply.send(Err(WhipError::Refused(refused)));
            return;
        }
    };
    let feed = Feed::announce(
        api,
        &credentials,
        &path,
        shared.options,
        &shared.resumes,
        now,
    )
    .await;
    let feed = match feed {
        Ok(f) => f,
        Err(e) => {
            if let Some(n) = shared.refusals.log(peer.ip(), now) {
                tracing::warn!(%peer, "whip: refused {peer} publishing {path}: {e}{}", left_out(n));
            }
            let _ = reply.send(Err(match e {
                FeedError::Refused(r) => WhipError::Refused(r),
                e => WhipError::Internal(e.to_string()),
            }));
            return;
        }
    };
    let ice = IceCreds {
        ufrag: random_token(8),
        pass: random_token(24),
    };
    let tcp_port = shared.tcp_addr.map(|a| a.port());
    let prefer_vp8 = preferred_video(&offer_text) == Some("vp8");
    let (rtc, answer) = match answer(offer, prefer_vp8, &shared.candidates, tcp_port, &ice, now) {
        Ok(r) => r,
        Err(e) => {
            let _ = reply.send(Err(e));
            return;
        }
    };
    let id = random_token(22);
    let (tx, rx) = mpsc::channel(SESSION_QUEUE);
    let stop = Arc::new(Notify::new());
    if let (Ok(mut routes), Ok(mut sessions)) = (shared.routes.lock(), shared.sessions.lock()) {
        routes.insert(&ice.ufrag, tx);
        sessions.insert(id.clone(), stop.clone());
    }
    if reply
        .send(Ok(Answer {
            id: id.clone(),
            sdp: answer,
        }))
        .is_err()
    {
        // The HTTP request went away before its answer: nobody will connect.
        forget(&shared, &ice.ufrag, &id);
        return;
    }
    tracing::info!(%peer, "whip: {peer} publishes {path} (session {id})");
    let limits = Limits {
        keyframe_interval: shared.config.keyframe_interval,
        ..Limits::default()
    };
    let mut s = Session {
        rtc,
        media: Media::new(limits),
        feed,
        streams: Vec::new(),
        link: Link::default(),
        end: None,
        connected: false,
        shared: shared.clone(),
    };
    let end = s.drive(rx, &stop).await;
    forget(&shared, &ice.ufrag, &id);
    let Session {
        mut media,
        mut feed,
        ..
    } = s;
    let now = Instant::now();
    match end {
        End::Deleted => {
            media.flush();
            let _ = feed.events(|| media.poll()).await;
            tracing::info!(%peer, "whip: {peer} ended {path} (DELETE)");
            feed.finish(now);
        }
        End::Lost(why) => {
            tracing::info!(%peer, "whip: {peer} publishing {path} went away: {why}");
            feed.lost(now);
        }
        End::Failed(why) => {
            tracing::warn!(%peer, "whip: closing {peer} publishing {path}: {why}");
            feed.lost(now);
        }
    }
}

/// An ICE-lite `Rtc` for `offer` with these host candidates (UDP, and passive TCP on
/// `tcp_port`) and local credentials, and its SDP answer. Codecs: H.264 and VP8 (VP8 first when
/// the publisher prefers it: the publisher sends the answer's first), Opus.
pub(crate) fn answer(
    offer: SdpOffer,
    prefer_vp8: bool,
    candidates: &[SocketAddr],
    tcp_port: Option<u16>,
    ice: &IceCreds,
    now: Instant,
) -> Result<(Rtc, String), WhipError> {
    let config = RtcConfig::new()
        .set_ice_lite(true)
        .set_local_ice_credentials(ice.clone())
        .set_crypto_provider(super::dtls::provider())
        .clear_codecs();
    let config = if prefer_vp8 {
        config.enable_vp8(true).enable_h264(true)
    } else {
        config.enable_h264(true).enable_vp8(true)
    };
    let mut rtc = config.enable_opus(true, false).build(now);
    super::shared::add_candidates(&mut rtc, candidates, tcp_port);
    let answer = rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|e| WhipError::BadOffer(e.to_string()))?;
    Ok((rtc, answer.to_sdp_string()))
}

/// The encoding name of the first payload type of an offer's first video m-line, lower case.
pub(crate) fn preferred_video(sdp: &str) -> Option<&'static str> {
    let mline = sdp.lines().find(|l| l.starts_with("m=video "))?;
    let pt = mline.split_whitespace().nth(3)?;
    let prefix = format!("a=rtpmap:{pt} ");
    let name = sdp.lines().find_map(|l| l.strip_prefix(&prefix))?;
    let name = name.split('/').next()?.to_ascii_lowercase();
    match name.as_str() {
        "vp8" => Some("vp8"),
        "h264" => Some("h264"),
        _ => None,
    }
}

fn forget(shared: &Shared, ufrag: &str, id: &str) {
    if let Ok(mut routes) = shared.routes.lock() {
        routes.remove(ufrag);
    }
    if let Ok(mut sessions) = shared.sessions.lock() {
        sessions.remove(id);
    }
}

struct Session<'a> {
    rtc: Rtc,
    media: Media,
    feed: Feed<'a>,
    /// Each received stream (an m-line, or a simulcast layer of one), at its track's index.
    streams: Vec<(Mid, Option<Rid>)>,
    /// Its side of the shared port.
    link: Link,
    end: Option<End>,
    connected: bool,
    shared: Arc<Shared>,
}

impl Session<'_> {
    async fn drive(&mut self, mut rx: mpsc::Receiver<Datagram>, stop: &Notify) -> End {
        let started = Instant::now();
        let connect_by = started + self.shared.config.connect_timeout;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let timeout = match self.drain() {
                Ok(t) => t,
                Err(end) => return end,
            };
            if let Some(end) = self.end.take() {
                return end;
            }
            if let Err(e) = self.feed.events(|| self.media.poll()).await {
                return End::Failed(e.to_string());
            }
            let input = tokio::select! {
                biased;
                () = stop.notified() => return End::Deleted,
                d = rx.recv() => match d {
                    Some(d) => d,
                    None => return End::Lost("the listener stopped".into()),
                },
                () = tokio::time::sleep_until(timeout.into()) => {
                    if let Err(e) = self.rtc.handle_input(Input::Timeout(Instant::now())) {
                        return End::Failed(format!("WebRTC: {e}"));
                    }
                    continue;
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    if !self.connected && now >= connect_by {
                        return End::Lost(format!(
                            "ICE and DTLS did not complete within {:?}",
                            self.shared.config.connect_timeout
                        ));
                    }
                    if !self.rtc.is_alive() {
                        return End::Lost("the WebRTC connection closed".into());
                    }
                    self.media.tick(now);
                    if self.connected {
                        for i in self.media.keyframes_due(now) {
                            self.ask_keyframe(i);
                            if let Err(end) = self.drain() {
                                return end;
                            }
                        }
                    }
                    continue;
                }
            };
            let Some(receive) = self.link.receive(&self.shared, &input) else {
                continue;
            };
            if let Err(e) = self.rtc.handle_input(Input::Receive(input.at, receive)) {
                return End::Failed(format!("WebRTC: {e}"));
            }
        }
    }

    fn ask_keyframe(&mut self, index: usize) {
        let Some((mid, rid)) = self.streams.get(index).cloned() else {
            return;
        };
        let Some(mut writer) = self.rtc.writer(mid) else {
            return;
        };
        let kind = if writer.is_request_keyframe_possible(KeyframeRequestKind::Pli) {
            KeyframeRequestKind::Pli
        } else {
            KeyframeRequestKind::Fir
        };
        if let Err(e) = writer.request_keyframe(rid, kind) {
            tracing::debug!("whip: keyframe request: {e}");
        }
    }

    /// Poll the `Rtc` until it says when it next needs time: datagrams out, events handled.
    fn drain(&mut self) -> Result<Instant, End> {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => return Ok(t),
                Ok(Output::Transmit(t)) => self.link.transmit(&self.shared, &t),
                Ok(Output::Event(e)) => self.event(e),
                Err(e) => return Err(End::Failed(format!("WebRTC: {e}"))),
            }
        }
    }

    fn event(&mut self, e: Event) {
        match e {
            Event::Connected => {
                self.connected = true;
                let over = self.link.over();
                tracing::info!("whip: {} connected over {over}", self.feed.path());
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.end = Some(End::Lost("ICE disconnected".into()));
            }
            Event::MediaAdded(m) => {
                let video = m.kind == MediaKind::Video;
                let rids: Vec<Option<Rid>> = match &m.simulcast {
                    Some(s) if !s.recv.is_empty() => s.recv.iter().map(|l| Some(l.rid)).collect(),
                    _ => vec![None],
                };
                for rid in rids {
                    match self.media.add_track(video) {
                        Some(i) => {
                            debug_assert_eq!(i, self.streams.len());
                            self.streams.push((m.mid, rid));
                        }
                        None => tracing::warn!(
                            path = self.feed.path(),
                            "whip: a stream past the session's track limit is ignored"
                        ),
                    }
                }
            }
            Event::MediaData(d) => {
                let Some(track) = self.streams.iter().position(|k| *k == (d.mid, d.rid)) else {
                    return;
                };
                let spec = d.params.spec();
                let codec = match spec.codec {
                    str0m::format::Codec::H264 => Codec::H264,
                    str0m::format::Codec::Vp8 => Codec::Vp8,
                    str0m::format::Codec::Opus => Codec::Opus,
                    other => {
                        self.end = Some(End::Failed(format!("unexpected codec {other:?}")));
                        return;
                    }
                };
                let frame = Frame {
                    track,
                    codec,
                    rtp_time: d.time.numer(),
                    arrival: d.network_time,
                    keyframe: d.is_keyframe(),
                    contiguous: d.contiguous,
                    channels: spec.channels.unwrap_or(2),
                    data: &d.data,
                };
                if let Err(e) = self.media.push(frame) {
                    tracing::debug!(path = self.feed.path(), "whip: frame dropped: {e}");
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offers_first_video_codec() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\na=rtpmap:102 H264/90000\r\n\
                   a=rtpmap:96 VP8/90000\r\n";
        assert_eq!(preferred_video(sdp), Some("vp8"));
        let sdp = sdp.replace("SAVPF 96 102", "SAVPF 102 96");
        assert_eq!(preferred_video(&sdp), Some("h264"));
        assert_eq!(preferred_video("v=0\r\n"), None);
    }
}
