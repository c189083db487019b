//! One WHEP viewer: the thin driver around str0m's `Rtc` in RTP mode (ICE-lite, DTLS, SRTP,
//! NACK from its resend cache, TWCC and REMB are str0m's), writing the payloads its
//! [`Source`]s packetised once for every viewer. Per viewer only the RTP header (sequence
//! number, timestamp) and SRTP differ.
//!
//! The join policy: a viewer starts at the current group's keyframe, and that group's frames
//! so far go out at once, each timed at its expected arrival, the newest at its own place
//! ([`retime`]); live frames follow at their own pace. The browser shows the
//! newest picture at once and plays at the live edge from there. A keyframe request (PLI,
//! FIR) does the same from the newest group. The bandwidth estimate moves the viewer between
//! the ladder's renditions at their keyframes ([`Rungs`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::bwe::{Bitrate, BweKind};
use str0m::format::Codec;
use str0m::media::{Mid, Pt};
use str0m::rtp::RtpWrite;
use str0m::{Event, IceConnectionState, Input, Output, Rtc};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{Notify, broadcast, mpsc};

use super::choose::{Rungs, VideoCodec};
use super::retime;
use super::source::{Frame, Source};
use crate::whip::shared::{Datagram, Link, Shared};

/// How often the session looks at its bandwidth estimate and its connection.
const TICK: Duration = Duration::from_millis(250);
/// Video frames are held until the audio sent reaches their media time (less this slack), so
/// both streams reach the player in step and it has no synchronising pause to make (the slack
/// spares video the bursts the audio comes in: a transcoder writes several frames at once). The
/// broadcast's Opus track, transcoded, comes later than its video.
const SYNC_SLACK_US: i64 = 100_000;
/// A video frame is held at most this long (audio that stalls does not stall video).
const MAX_HOLD: Duration = Duration::from_secs(1);
/// The most video frames held.
const MAX_HELD: usize = 256;
/// How long video waits for the first audio frame before starting alone.
const AUDIO_WAIT: Duration = Duration::from_secs(1);
/// Keyframe requests answered at most this often.
const PLI_INTERVAL: Duration = Duration::from_millis(500);
/// The most media one viewer's stream holds unsent (str0m's pacer queue, which the bandwidth
/// estimate drains): past it, video waits for the next keyframe and audio frames are dropped,
/// so a viewer on a slow path costs bounded memory and catches up instead of falling behind.
pub(crate) const MAX_QUEUED_BYTES: usize = 2 << 20;
/// The oldest unsent packet a stream may hold, likewise.
pub(crate) const MAX_QUEUED_AGE: Duration = Duration::from_millis(1000);
/// The join's burst is sent when the bandwidth estimate delivers it within this; a larger one
/// (a long group at a high rate) would hold the viewer behind live while it drains, so the
/// viewer starts at the next keyframe instead.
const BURST_WITHIN: Duration = Duration::from_millis(500);

/// How a viewer's session ended.
#[derive(Debug)]
pub(crate) enum End {
    /// DELETE.
    Deleted,
    /// The viewer went away, or its connection failed.
    Lost(String),
    /// The broadcast ended.
    Over(String),
}

/// One outgoing RTP stream.
struct Out {
    mid: Mid,
    pt: Pt,
    video: bool,
    /// The next sequence number.
    seq: u64,
    /// RTP time = a frame's time + offset.
    offset: i64,
    /// The last RTP time written, unwrapped.
    last: Option<i64>,
    rx: Option<broadcast::Receiver<Arc<Frame>>>,
    /// Frames are skipped until a keyframe (a viewer that fell behind, or before the first).
    need_keyframe: bool,
    /// Frames dropped because the stream was backed up.
    dropped: u64,
}

impl Out {
    fn new(mid: Mid, pt: Pt, video: bool) -> Self {
        Self {
            mid,
            pt,
            video,
            // A random start, as RFC 3550 §5.1 asks, below 2^15 so the SRTP rollover counter
            // starts at zero.
            seq: u64::from(rand::random::<u16>() >> 1),
            offset: 0,
            last: None,
            rx: None,
            need_keyframe: video,
            dropped: 0,
        }
    }

    /// Write `frame` at RTP time `time` (unwrapped).
    fn write(&mut self, rtc: &mut Rtc, frame: &Frame, time: i64, wallclock: Instant) {
        let mut api = rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(self.mid, None) else {
            return;
        };
        let n = frame.payloads.len();
        for (i, payload) in frame.payloads.iter().enumerate() {
            let marker = if self.video {
                i + 1 == n
            } else {
                self.last.is_none() && i == 0
            };
            let w = RtpWrite::new(
                self.pt,
                self.seq.into(),
                time as u32,
                wallclock,
                payload.clone(),
            )
            .marker(marker)
            .nackable(true);
            tx.write_rtp(w);
            self.seq += 1;
        }
        self.last = Some(time);
    }

    /// Whether the stream holds more unsent media than [`MAX_QUEUED_BYTES`] or
    /// [`MAX_QUEUED_AGE`].
    fn backed_up(&self, rtc: &mut Rtc, now: Instant) -> bool {
        let mut api = rtc.direct_api();
        let Some(q) = api
            .stream_tx_by_mid(self.mid, None)
            .and_then(|tx| tx.queue_info())
        else {
            return false;
        };
        q.byte_size() > MAX_QUEUED_BYTES
            || q.first_unsent()
                .is_some_and(|t| now.saturating_duration_since(t) > MAX_QUEUED_AGE)
    }

    /// Write a live frame: at its own time, moved on past the last one written if it would
    /// not be after it (a new rendition whose clock runs behind). A stream that is backed up
    /// drops it instead (video then waits for a keyframe); `false` then.
    fn live(&mut self, rtc: &mut Rtc, frame: &Frame, wallclock: Instant) -> bool {
        if self.backed_up(rtc, Instant::now()) {
            if !self.need_keyframe {
                tracing::debug!(
                    "whep: {} stream backed up; frames dropped until a keyframe",
                    if self.video { "video" } else { "audio" }
                );
            }
            self.need_keyframe |= self.video;
            self.dropped += 1;
            super::metrics::dropped(self.video);
            return false;
        }
        let mut time = frame.time as i64 + self.offset;
        if let Some(last) = self.last
            && time <= last
        {
            self.offset += last + 1 - time;
            time = last + 1;
        }
        self.write(rtc, frame, time, wallclock);
        true
    }

    /// Write a group's frames so far at once, each timed at its arrival at `rate` bits per
    /// second, the newest at its own place after the last written ([`retime::burst`]), whose
    /// wall clock is `at`, on a `clock` Hz RTP clock.
    fn burst(&mut self, rtc: &mut Rtc, group: &[Arc<Frame>], at: Instant, clock: u32, rate: u64) {
        let Some(newest) = group.last() else {
            return;
        };
        let bytes: Vec<usize> = group.iter().map(|f| f.bytes).collect();
        let end = newest.time as i64 + self.offset;
        let times = retime::burst(&bytes, end, self.last, clock, rate);
        if let Some(t) = times.last() {
            self.offset = t.rtp - newest.time as i64;
        }
        for (frame, t) in group.iter().zip(times) {
            let wall = at.checked_sub(t.before).unwrap_or(at);
            self.write(rtc, frame, t.rtp, wall);
        }
        self.need_keyframe = false;
    }
}

/// A viewer's video: the ladder's sources, the rung sent, the rung being switched to.
pub(crate) struct Video {
    pub codec: VideoCodec,
    pub ladder: Vec<Arc<Source>>,
    pub rungs: Rungs,
    pub bitrates: Vec<u64>,
    /// The rung sent.
    pub current: usize,
    /// The rung switched to at its next keyframe, and its frames meanwhile.
    pending: Option<(usize, broadcast::Receiver<Arc<Frame>>)>,
    out: Option<Out>,
    last_pli: Option<Instant>,
    /// The stream leaves unpaced (see `Viewer::adapt`).
    unpaced: bool,
}

impl Video {
    pub fn new(
        codec: VideoCodec,
        ladder: Vec<Arc<Source>>,
        bitrates: Vec<u64>,
        current: usize,
    ) -> Self {
        Self {
            codec,
            ladder,
            rungs: Rungs::new(bitrates.clone()),
            bitrates,
            current,
            pending: None,
            out: None,
            last_pli: None,
            unpaced: false,
        }
    }
}

/// What a viewer's session runs on.
pub(crate) struct Viewer {
    pub rtc: Rtc,
    pub video: Option<Video>,
    pub audio: Option<Arc<Source>>,
    pub shared: Arc<Shared>,
    /// Which broadcast (for logs).
    pub path: String,
    pub peer: SocketAddr,
    pub connect_timeout: Duration,
    audio_out: Option<Out>,
    /// The wall clock of media time zero, in microseconds of the broadcast's timeline: set by
    /// the first frame written.
    anchor: Option<(Instant, i64)>,
    connected: bool,
    end: Option<End>,
    link: Link,
    /// The newest bandwidth estimate, bits per second.
    estimate: Option<u64>,
    /// The video and audio sections sent on.
    pub mids: (Option<Mid>, Option<Mid>),
    /// The bandwidth estimate it starts from, bits per second.
    pub initial_bitrate: u64,
    /// Video has not started yet; it starts with the first audio frame or at this time.
    video_due: Option<Instant>,
    /// The media time the audio sent has reached, microseconds.
    audio_us: Option<i64>,
    /// Video frames waiting for the audio to reach them, with when each was held.
    held: std::collections::VecDeque<(Instant, Arc<Frame>)>,
}

impl Viewer {
    pub fn new(
        rtc: Rtc,
        video: Option<Video>,
        audio: Option<Arc<Source>>,
        shared: Arc<Shared>,
        path: String,
        peer: SocketAddr,
        connect_timeout: Duration,
    ) -> Self {
        Self {
            rtc,
            video,
            audio,
            shared,
            path,
            peer,
            connect_timeout,
            audio_out: None,
            anchor: None,
            connected: false,
            end: None,
            link: Link::default(),
            estimate: None,
            mids: (None, None),
            initial_bitrate: 2_500_000,
            video_due: None,
            audio_us: None,
            held: std::collections::VecDeque::new(),
        }
    }

    /// Run until the viewer leaves, DELETE, or the broadcast ends.
    pub async fn drive(&mut self, mut rx: mpsc::Receiver<Datagram>, stop: &Notify) -> End {
        let connect_by = Instant::now() + self.connect_timeout;
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
            tokio::select! {
                biased;
                () = stop.notified() => return End::Deleted,
                d = rx.recv() => match d {
                    Some(d) => {
                        if let Err(end) = self.receive(d) {
                            return end;
                        }
                    }
                    None => return End::Lost("the listener stopped".into()),
                },
                () = tokio::time::sleep_until(timeout.into()) => {
                    if let Err(e) = self.rtc.handle_input(Input::Timeout(Instant::now())) {
                        return End::Lost(format!("WebRTC: {e}"));
                    }
                }
                r = next_video(&mut self.video) => match r {
                    VideoNext::Current(r) => self.on_video(r),
                    VideoNext::Pending(r) => self.on_pending(r),
                },
                r = next_audio(&mut self.audio_out) => self.on_audio(r),
                _ = tick.tick() => {
                    let now = Instant::now();
                    if !self.connected && now >= connect_by {
                        return End::Lost(format!(
                            "ICE and DTLS did not complete within {:?}",
                            self.connect_timeout
                        ));
                    }
                    if !self.rtc.is_alive() {
                        return End::Lost("the WebRTC connection closed".into());
                    }
                    if let Some(end) = self.over() {
                        return end;
                    }
                    if self.video_due.is_some_and(|t| now >= t) {
                        self.video_due = None;
                        self.join_newest();
                    }
                    self.release(now);
                    self.adapt(now);
                }
            }
        }
    }

    fn receive(&mut self, input: Datagram) -> Result<(), End> {
        let Some(receive) = self.link.receive(&self.shared, &input) else {
            return Ok(());
        };
        self.rtc
            .handle_input(Input::Receive(input.at, receive))
            .map_err(|e| End::Lost(format!("WebRTC: {e}")))
    }

    /// Poll the `Rtc` until it says when it next needs time.
    fn drain(&mut self) -> Result<Instant, End> {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => return Ok(t),
                Ok(Output::Transmit(t)) => self.link.transmit(&self.shared, &t),
                Ok(Output::Event(e)) => self.event(e),
                Err(e) => return Err(End::Lost(format!("WebRTC: {e}"))),
            }
        }
    }

    fn event(&mut self, e: Event) {
        match e {
            Event::Connected => {
                self.connected = true;
                let over = self.link.over();
                tracing::info!(peer = %self.peer, "whep: {} watching {} over {over}", self.peer, self.path);
                self.start();
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.end = Some(End::Lost("ICE disconnected".into()));
            }
            Event::KeyframeRequest(_) => self.keyframe_request(),
            Event::EgressBitrateEstimate(
                BweKind::Twcc { estimate, .. } | BweKind::Remb { estimate, .. },
            ) => {
                let estimate = estimate.as_u64();
                if self.estimate.is_none_or(|e| estimate.abs_diff(e) > e / 10) {
                    tracing::debug!("whep: {}: bandwidth estimate {estimate} bit/s", self.peer);
                }
                self.estimate = Some(estimate);
            }
            _ => {}
        }
    }

    /// Connected: the outgoing streams start, video from the current group.
    fn start(&mut self) {
        let (video_mid, audio_mid) = self.mids;
        if let (Some(v), Some(mid)) = (&mut self.video, video_mid)
            && let Some(pt) = pick_pt(&self.rtc, mid, Some(v.codec))
        {
            v.out = Some(Out::new(mid, pt, true));
        }
        if let (Some(a), Some(mid)) = (&self.audio, audio_mid)
            && let Some(pt) = pick_pt(&self.rtc, mid, None)
        {
            let mut out = Out::new(mid, pt, false);
            out.rx = Some(a.join().rx);
            self.audio_out = Some(out);
        }
        tracing::debug!(
            "whep: {} sending video on {:?} ({:?}), audio on {:?} ({:?})",
            self.peer,
            video_mid,
            self.video
                .as_ref()
                .and_then(|v| v.out.as_ref())
                .map(|o| o.pt),
            audio_mid,
            self.audio_out.as_ref().map(|o| o.pt),
        );
        // Video starts with the first audio frame (or after AUDIO_WAIT without one), so that
        // both streams' first packets carry the same moment and the player needs no
        // synchronising pause.
        if self.audio_out.is_none() {
            self.join_newest();
        } else {
            self.video_due = Some(Instant::now() + AUDIO_WAIT);
        }
        if let Some(v) = &self.video {
            let top = v.bitrates.first().copied().unwrap_or(2_000_000);
            let low = v.bitrates.last().copied().unwrap_or(300_000);
            self.rtc
                .bwe()
                .set_bitrate(Bitrate::bps(low), Bitrate::bps(top.saturating_mul(5) / 4));
        }
    }

    /// Start over from the newest group of the current rung: its frames so far at once.
    fn join_newest(&mut self) {
        let anchor = &mut self.anchor;
        let Some(v) = &mut self.video else {
            return;
        };
        let Some(out) = &mut v.out else {
            return;
        };
        let Some(source) = v.ladder.get(v.current) else {
            return;
        };
        let joined = source.join();
        out.rx = Some(joined.rx);
        let clock = source.clock;
        let bytes: usize = joined.group.iter().map(|f| f.bytes).sum();
        let affordable = (self.estimate.unwrap_or(self.initial_bitrate) as f64 / 8.0
            * BURST_WITHIN.as_secs_f64()) as usize;
        self.held.clear();
        if joined.group.first().is_some_and(|f| f.keyframe) && bytes <= affordable {
            // What the audio sent has reached goes at once; the rest waits for it.
            let now_part = match self.audio_us {
                Some(a) => joined
                    .group
                    .iter()
                    .take_while(|f| media_us(f.time, clock) <= a + SYNC_SLACK_US)
                    .count(),
                None => joined.group.len(),
            };
            let (burst, later) = joined.group.split_at(now_part);
            if let Some(newest) = burst.last() {
                // The newest frame sent is the one shown first: its wall clock is now.
                let at = wallclock(anchor, newest.time, clock);
                // str0m sends at 1.1x the estimate.
                let rate = self.estimate.unwrap_or(self.initial_bitrate) * 11 / 10;
                out.burst(&mut self.rtc, burst, at, clock, rate);
            }
            out.need_keyframe = false;
            let now = Instant::now();
            self.held.extend(later.iter().map(|f| (now, f.clone())));
        } else {
            out.need_keyframe = true;
        }
    }

    /// A live video frame: sent, or held until the audio reaches it.
    fn video_frame(&mut self, frame: Arc<Frame>) {
        let clock = self.video_clock();
        let waits = match self.audio_us {
            Some(a) if self.audio_out.is_some() => {
                !self.held.is_empty() || media_us(frame.time, clock) > a + SYNC_SLACK_US
            }
            _ => false,
        };
        if waits {
            self.held.push_back((Instant::now(), frame));
            self.release(Instant::now());
        } else {
            self.send_video(&frame);
        }
    }

    /// Send the held video frames the audio has reached, or held too long.
    fn release(&mut self, now: Instant) {
        let clock = self.video_clock();
        while let Some((at, frame)) = self.held.front() {
            let reached = self
                .audio_us
                .is_none_or(|a| media_us(frame.time, clock) <= a + SYNC_SLACK_US);
            if !(reached || now.duration_since(*at) >= MAX_HOLD || self.held.len() > MAX_HELD) {
                break;
            }
            let frame = frame.clone();
            self.held.pop_front();
            self.send_video(&frame);
        }
    }

    fn video_clock(&self) -> u32 {
        self.video
            .as_ref()
            .and_then(|v| v.ladder.get(v.current))
            .map_or(90_000, |s| s.clock)
    }

    fn send_video(&mut self, frame: &Frame) {
        let clock = self.video_clock();
        let anchor = &mut self.anchor;
        let Some(out) = self.video.as_mut().and_then(|v| v.out.as_mut()) else {
            return;
        };
        if out.need_keyframe && !frame.keyframe {
            return;
        }
        out.need_keyframe = false;
        let at = wallclock(anchor, frame.time, clock);
        let _ = out.live(&mut self.rtc, frame, at);
    }

    fn keyframe_request(&mut self) {
        let now = Instant::now();
        let Some(v) = &mut self.video else {
            return;
        };
        if v.last_pli
            .is_some_and(|t| now.duration_since(t) < PLI_INTERVAL)
        {
            return;
        }
        v.last_pli = Some(now);
        self.join_newest();
    }

    fn on_video(&mut self, r: Result<Arc<Frame>, RecvError>) {
        let peer = self.peer;
        let Some(out) = self.video.as_mut().and_then(|v| v.out.as_mut()) else {
            return;
        };
        match r {
            Ok(frame) => {
                if out.need_keyframe && !frame.keyframe {
                    return;
                }
                out.need_keyframe = false;
                self.video_frame(frame);
            }
            Err(RecvError::Lagged(n)) => {
                tracing::debug!("whep: {peer} fell {n} frames behind; waiting for a keyframe");
                out.need_keyframe = true;
                self.held.clear();
            }
            Err(RecvError::Closed) => out.rx = None,
        }
    }

    fn on_pending(&mut self, r: Result<Arc<Frame>, RecvError>) {
        let Some(v) = &mut self.video else {
            return;
        };
        match r {
            Ok(frame) if frame.keyframe => {
                let Some((rung, rx)) = v.pending.take() else {
                    return;
                };
                let Some(out) = &mut v.out else {
                    return;
                };
                tracing::debug!(
                    "whep: {} moves to rung {rung} ({} bit/s)",
                    self.peer,
                    v.bitrates.get(rung).copied().unwrap_or(0)
                );
                v.current = rung;
                super::metrics::switched();
                out.rx = Some(rx);
                out.need_keyframe = false;
                // Held frames of the old rung at or after the new keyframe are not sent.
                let clock = v.ladder.get(rung).map_or(90_000, |s| s.clock);
                let from = media_us(frame.time, clock);
                self.held.retain(|(_, f)| media_us(f.time, clock) < from);
                self.video_frame(frame);
            }
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => v.pending = None,
        }
    }

    fn on_audio(&mut self, r: Result<Arc<Frame>, RecvError>) {
        match r {
            Ok(frame) => {
                if self.video_due.take().is_some() {
                    self.join_newest();
                }
                let Some(out) = &mut self.audio_out else {
                    return;
                };
                let anchor = &mut self.anchor;
                let clock = self.audio.as_ref().map_or(48_000, |s| s.clock);
                let at = wallclock(anchor, frame.time, clock);
                if out.live(&mut self.rtc, &frame, at) {
                    self.audio_us = Some(media_us(frame.time + frame.duration, clock));
                    self.release(Instant::now());
                }
            }
            Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => {
                if let Some(out) = &mut self.audio_out {
                    out.rx = None;
                }
            }
        }
    }

    /// The bandwidth estimate picks the rung; a change waits for the new rung's keyframe.
    fn adapt(&mut self, now: Instant) {
        let Some(estimate) = self.estimate else {
            return;
        };
        let Some(v) = &mut self.video else {
            return;
        };
        // The lowest rung goes at its own rate whatever the estimate, as an SFU forwards a
        // layer: str0m paces at 1.1x the estimate, and one under the rung's rate (a false alarm
        // of a loaded receiver at the start, or a path too narrow for any rung) would queue the
        // stream until frames are dropped, a freeze of a whole GOP. Unpaced, the stream leaves
        // as it comes until the estimate has room for it again.
        let lowest = v.current + 1 >= v.bitrates.len() && v.pending.is_none();
        let rate = v.bitrates.get(v.current).copied().unwrap_or(0);
        let unpaced = lowest && estimate < rate.saturating_mul(11) / 10;
        if let Some(out) = &v.out
            && unpaced != v.unpaced
        {
            let mut api = self.rtc.direct_api();
            if let Some(tx) = api.stream_tx_by_mid(out.mid, None) {
                tx.set_unpaced(unpaced);
                v.unpaced = unpaced;
                tracing::debug!(
                    "whep: {}: estimate {estimate} bit/s, lowest rung {rate}: video {}",
                    self.peer,
                    if unpaced { "unpaced" } else { "paced" }
                );
            }
        }
        if v.ladder.len() < 2 || v.out.is_none() {
            return;
        }
        let base = v.pending.as_ref().map_or(v.current, |(r, _)| *r);
        let want = v.rungs.decide(base, estimate, now);
        if want == base {
            return;
        }
        if want == v.current {
            v.pending = None;
            return;
        }
        if let Some(source) = v.ladder.get(want) {
            v.pending = Some((want, source.join().rx));
        }
    }

    /// Frames dropped because the viewer's path could not take them (video, audio).
    pub fn dropped(&self) -> (u64, u64) {
        let video = self
            .video
            .as_ref()
            .and_then(|v| v.out.as_ref())
            .map_or(0, |o| o.dropped);
        (video, self.audio_out.as_ref().map_or(0, |o| o.dropped))
    }

    /// Why the session ends because the broadcast did, if it did.
    fn over(&self) -> Option<End> {
        let video_over = self
            .video
            .as_ref()
            .is_none_or(|v| v.ladder.get(v.current).is_none_or(|s| s.is_over()));
        let audio_over = self.audio.as_ref().is_none_or(|a| a.is_over());
        (video_over && audio_over).then(|| End::Over("the broadcast ended".into()))
    }
}

/// Media time `time` (in `clock` ticks) in microseconds.
fn media_us(time: u64, clock: u32) -> i64 {
    (i128::from(time) * 1_000_000 / i128::from(clock.max(1))) as i64
}

/// The wall clock of media time `time` (in `clock` ticks): the first call sets the anchor.
fn wallclock(anchor: &mut Option<(Instant, i64)>, time: u64, clock: u32) -> Instant {
    let micros = (i128::from(time) * 1_000_000 / i128::from(clock.max(1))) as i64;
    let (at, base) = *anchor.get_or_insert((Instant::now(), micros));
    let d = micros - base;
    if d >= 0 {
        at + Duration::from_micros(d as u64)
    } else {
        at.checked_sub(Duration::from_micros(d.unsigned_abs()))
            .unwrap_or(at)
    }
}

/// The first video and audio sections of an SDP (their `a=mid`s) that `rtc` sends on.
pub(crate) fn sending_mids(rtc: &Rtc, sdp: &str) -> (Option<Mid>, Option<Mid>) {
    let (mut video, mut audio) = (None, None);
    let mut kind = "";
    for line in sdp.lines() {
        let line = line.trim_end();
        if let Some(m) = line.strip_prefix("m=") {
            kind = m.split_whitespace().next().unwrap_or("");
        } else if let Some(mid) = line.strip_prefix("a=mid:") {
            let mid = Mid::from(mid);
            let sending = rtc.media(mid).is_some_and(|m| m.direction().is_sending());
            match kind {
                "video" if sending && video.is_none() => video = Some(mid),
                "audio" if sending && audio.is_none() => audio = Some(mid),
                _ => {}
            }
        }
    }
    (video, audio)
}

/// The payload type to send on `mid`: for video (`codec`) the first of that codec the viewer
/// accepted (H.264 with packetization-mode 1), for audio Opus.
fn pick_pt(rtc: &Rtc, mid: Mid, codec: Option<VideoCodec>) -> Option<Pt> {
    let media = rtc.media(mid)?;
    let remote = media.remote_pts();
    let params = rtc.codec_config().params();
    params
        .iter()
        .filter(|p| remote.contains(&p.pt()))
        .find(|p| {
            let spec = p.spec();
            match (spec.codec, codec) {
                (Codec::H264, Some(VideoCodec::H264)) => spec.format.packetization_mode == Some(1),
                (Codec::Vp8, Some(VideoCodec::Vp8)) => true,
                (Codec::Opus, None) => true,
                _ => false,
            }
        })
        .map(|p| p.pt())
}

/// The next frame of the rung sent, or of the rung being switched to.
enum VideoNext {
    Current(Result<Arc<Frame>, RecvError>),
    Pending(Result<Arc<Frame>, RecvError>),
}

async fn next_video(v: &mut Option<Video>) -> VideoNext {
    let Some(v) = v.as_mut() else {
        return std::future::pending().await;
    };
    let current = async {
        match v.out.as_mut().and_then(|o| o.rx.as_mut()) {
            Some(rx) => rx.recv().await,
            None => std::future::pending().await,
        }
    };
    let pending = async {
        match v.pending.as_mut() {
            Some((_, rx)) => rx.recv().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        r = pending => VideoNext::Pending(r),
        r = current => VideoNext::Current(r),
    }
}

async fn next_audio(out: &mut Option<Out>) -> Result<Arc<Frame>, RecvError> {
    match out.as_mut().and_then(|o| o.rx.as_mut()) {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
