//! WHEP out (RFC 9725's sibling, draft-ietf-wish-whep): a WebRTC player POSTs an SDP offer to
//! `/whep/live/cam1`, gets an answer and a session URL, and watches the broadcast `live/cam1`
//! from this node's cache.
//!
//! - [`http`]: the HTTP side (POST → 201 + `Location`, DELETE, OPTIONS, CORS, `Link:
//!   rel="ice-server"` for the operator's STUN/TURN servers).
//! - [`WhepServer`]: admission (the viewer's token goes to the node's subscribe checks with the
//!   catalog read), the choice of renditions ([`choose`]), and the sessions. Media goes out on
//!   the WHIP listener's UDP port (one port for every WebRTC session of the node, ICE-lite,
//!   demultiplexed by ICE ufrag, with its ICE-TCP candidate).
//! - [`source`]: one reader per track shared by every viewer on the node: CMAF samples are
//!   packetised into RTP payloads once ([`packetize`]).
//! - `session`: one task per viewer driving str0m's `Rtc` in RTP mode.

pub mod choose;
pub mod http;
mod marked;
pub mod metrics;
pub mod packetize;
mod retime;
mod session;
pub mod source;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use str0m::bwe::Bitrate;
use str0m::change::SdpOffer;
use str0m::{IceCreds, RtcConfig};
use tern_model::TrackName;
use tern_model::local::{Credentials, Refused, RefusedKind};
use tokio::sync::{Notify, mpsc};

use crate::hls::catalog::{Rendition, renditions};
use crate::refusals::Slot;
use crate::whip::WhipServer;
use crate::whip::shared::{SESSION_QUEUE, random_token};
use choose::{Plan, VideoCodec, bitrate, offered, plan};
use session::{End, Video, Viewer};
use source::{Source, Sources, Status};

/// What the bandwidth estimate leaves for audio, bits per second.
const AUDIO_ALLOWANCE: u64 = 128_000;

/// How a rendition left out for its B-frames is said.
const B_FRAMES: &str = "has B-frames";

/// Why a rendition is not read for a viewer.
enum Unread {
    /// The viewer may not watch it, or it cannot be read, and why.
    LeftOut(String),
    /// The node reads [`source::MAX_SOURCES`] tracks already.
    Full,
}

/// How WHEP runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Viewers at most; more are refused with 503.
    pub max_sessions: usize,
    /// STUN/TURN servers handed to viewers in `Link: rel="ice-server"` headers.
    pub ice_servers: Vec<IceServer>,
    /// How long a broadcast's catalog and first frames are waited for.
    pub wait: Duration,
    /// A viewer whose ICE and DTLS have not completed this long after its answer is closed.
    pub connect_timeout: Duration,
    /// The bandwidth estimate a viewer starts from (its first rung is the highest this
    /// affords).
    pub initial_bitrate: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_sessions: 1000,
            ice_servers: Vec::new(),
            wait: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(15),
            initial_bitrate: 2_500_000,
        }
    }
}

/// A STUN or TURN server for viewers (RFC 7064/7065 URI, with TURN credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:host:port` or `turn:host:port?transport=udp`, `turns:...`.
    pub url: String,
    /// The TURN username.
    pub username: Option<String>,
    /// The TURN password.
    pub credential: Option<String>,
}

impl IceServer {
    /// Its `Link` header value (draft-ietf-wish-whep §4.4, as WHIP's RFC 9725 §4.6).
    pub fn link(&self) -> String {
        let quote = |s: &str| s.replace(['"', '\\'], "");
        let mut v = format!("<{}>; rel=\"ice-server\"", self.url.replace(['<', '>'], ""));
        if let Some(u) = &self.username {
            v.push_str(&format!("; username=\"{}\"", quote(u)));
        }
        if let Some(c) = &self.credential {
            v.push_str(&format!(
                "; credential=\"{}\"; credential-type=\"password\"",
                quote(c)
            ));
        }
        v
    }
}

/// Why an offer was not answered (each an HTTP status: [`WhepError::status`]).
#[derive(Debug, thiserror::Error)]
pub enum WhepError {
    /// The offer is not an SDP this endpoint can answer.
    #[error("bad offer: {0}")]
    BadOffer(String),
    /// The node refused the viewer, or has no such broadcast.
    #[error("{0}")]
    Refused(Refused),
    /// Nothing in the broadcast can be sent to this offer, and why.
    #[error("{0}")]
    Unplayable(String),
    /// The listener is at [`Config::max_sessions`].
    #[error("too many WHEP sessions ({0}); try later")]
    Full(usize),
    /// No such session.
    #[error("no such WHEP session")]
    NoSession,
    /// Something failed here.
    #[error("{0}")]
    Internal(String),
}

impl WhepError {
    /// The HTTP status it is answered with.
    pub fn status(&self) -> u16 {
        match self {
            WhepError::BadOffer(_) => 400,
            WhepError::Refused(r) => match r.kind {
                RefusedKind::Unauthorized => 403,
                RefusedKind::Invalid => 400,
                RefusedKind::NotFound | RefusedKind::Timeout => 404,
                RefusedKind::Overloaded | RefusedKind::Unavailable => 503,
                _ => 500,
            },
            WhepError::Unplayable(_) => 422,
            WhepError::Full(_) => 503,
            WhepError::NoSession => 404,
            WhepError::Internal(_) => 500,
        }
    }
}

/// What an offer is answered with.
#[derive(Debug, Clone)]
pub struct WhepAnswer {
    /// The session's ID (its resource is `/whep-session/<id>`).
    pub id: String,
    /// The SDP answer.
    pub sdp: String,
    /// Why the audio section is inactive, when it is.
    pub audio_inactive: Option<String>,
    /// The video renditions the viewer may be moved between, highest first.
    pub ladder: Vec<String>,
}

/// WHEP on a node: its viewers and the tracks they watch.
pub struct WhepServer {
    rtc: Arc<WhipServer>,
    config: Config,
    sources: Sources,
    sessions: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
    active: Arc<AtomicUsize>,
    tasks: Mutex<tokio::task::JoinSet<()>>,
}

impl std::fmt::Debug for WhepServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhepServer")
            .field("viewers", &self.viewers())
            .finish()
    }
}

impl WhepServer {
    /// WHEP with media on `rtc`'s UDP port (and its ICE-TCP candidate).
    pub fn new(rtc: Arc<WhipServer>, config: Config) -> Self {
        Self {
            rtc,
            config,
            sources: Sources::default(),
            sessions: Arc::default(),
            active: Arc::default(),
            tasks: Mutex::new(tokio::task::JoinSet::new()),
        }
    }

    /// Viewers connected or connecting.
    pub fn viewers(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Tracks read for viewers.
    pub fn sources(&self) -> usize {
        self.sources.len()
    }

    /// The STUN/TURN servers viewers are told of.
    pub fn ice_servers(&self) -> &[IceServer] {
        &self.config.ice_servers
    }

    /// Whether `id` is a running session.
    pub fn exists(&self, id: &str) -> bool {
        self.sessions.lock().is_ok_and(|s| s.contains_key(id))
    }

    /// End the session `id`.
    pub fn delete(&self, id: &str) -> Result<(), WhepError> {
        let stop = self
            .sessions
            .lock()
            .map_err(|_| WhepError::Internal("a lock was poisoned".into()))?
            .remove(id)
            .ok_or(WhepError::NoSession)?;
        stop.notify_one();
        Ok(())
    }

    /// Answer `offer` to watch broadcast `path` as `credentials`.
    pub async fn offer(
        &self,
        path: &str,
        credentials: Credentials,
        offer: &str,
    ) -> Result<WhepAnswer, WhepError> {
        let r = self.answer(path, credentials, offer).await;
        metrics::offer(r.is_ok());
        metrics::viewers(self.viewers());
        r
    }

    async fn answer(
        &self,
        path: &str,
        credentials: Credentials,
        offer: &str,
    ) -> Result<WhepAnswer, WhepError> {
        let max = self.config.max_sessions;
        if self.viewers() >= max {
            return Err(WhepError::Full(max));
        }
        let slot = Slot::take(&self.active);
        let peer = credentials.peer;
        let sdp = SdpOffer::from_sdp_string(offer)
            .map_err(|e| WhepError::BadOffer(format!("SDP: {e}")))?;
        let plan = self.plan(path, &credentials, offer).await?;
        let (video, ladder_names) = self.video(path, &credentials, &plan).await?;
        let audio = match &plan.audio {
            Some(r) => match self.source_for(path, r, &credentials).await {
                Ok(source) => match source.status(self.config.wait).await {
                    Status::Over(why) => {
                        tracing::debug!("whep: {path}: no audio: {why}");
                        None
                    }
                    _ => Some(source),
                },
                Err(Unread::Full) => return Err(WhepError::Full(source::MAX_SOURCES)),
                Err(Unread::LeftOut(why)) => {
                    tracing::debug!("whep: {path}: no audio: {why}");
                    None
                }
            },
            None => None,
        };
        let audio_inactive = match (&audio, &plan.no_audio) {
            (Some(_), _) => None,
            (None, Some(why)) => Some(why.clone()),
            (None, None) => Some("the broadcast's Opus track cannot be read".into()),
        };
        let shared = self.rtc.shared().clone();
        let ice = IceCreds {
            ufrag: random_token(8),
            pass: random_token(24),
        };
        let now = Instant::now();
        // The estimate starts where the first rung plays unthrottled (str0m paces at 1.1x the
        // estimate; a start below the stream's rate would queue it until the estimate rose).
        let rung = video
            .as_ref()
            .and_then(|v| v.bitrates.get(v.current).copied())
            .unwrap_or(0);
        let start = self
            .config
            .initial_bitrate
            .max(rung.saturating_mul(3) / 2 + AUDIO_ALLOWANCE);
        let mut config = RtcConfig::new()
            .set_ice_lite(true)
            .set_local_ice_credentials(ice.clone())
            .set_crypto_provider(crate::whip::dtls::provider())
            .set_rtp_mode(true)
            .enable_bwe(Some(Bitrate::bps(start)))
            .clear_codecs();
        config = match plan.codec {
            Some(VideoCodec::Vp8) => config.enable_vp8(true),
            _ => config.enable_h264(true),
        };
        let mut rtc = config.enable_opus(true, false).build(now);
        shared.add_candidates(&mut rtc);
        let answer = rtc
            .sdp_api()
            .accept_offer(sdp)
            .map_err(|e| WhepError::BadOffer(e.to_string()))?;
        let mut answer = answer.to_sdp_string();
        let mids = session::sending_mids(&rtc, &answer);
        if audio.is_none() {
            answer = inactive_audio(&answer);
        }
        let id = random_token(22);
        let (tx, rx) = mpsc::channel(SESSION_QUEUE);
        let stop = Arc::new(Notify::new());
        if let (Ok(mut routes), Ok(mut sessions)) = (shared.routes.lock(), self.sessions.lock()) {
            routes.insert(&ice.ufrag, tx);
            sessions.insert(id.clone(), stop.clone());
        }
        let mut viewer = Viewer::new(
            rtc,
            video,
            audio,
            shared.clone(),
            path.to_owned(),
            peer,
            self.config.connect_timeout,
        );
        viewer.mids = mids;
        viewer.initial_bitrate = start;
        let sessions = self.sessions.clone();
        let active = self.active.clone();
        let (path_owned, id_owned) = (path.to_owned(), id.clone());
        {
            let mut tasks = self
                .tasks
                .lock()
                .map_err(|_| WhepError::Internal("a lock was poisoned".into()))?;
            while tasks.try_join_next().is_some() {}
            tasks.spawn(async move {
                let end = viewer.drive(rx, &stop).await;
                drop(slot);
                metrics::viewers(active.load(Ordering::Relaxed));
                let (video_dropped, audio_dropped) = viewer.dropped();
                if video_dropped + audio_dropped > 0 {
                    tracing::info!(
                        %peer,
                        "whep: {peer} watching {path_owned}: {video_dropped} video and \
                         {audio_dropped} audio frames dropped for a path that could not take them"
                    );
                }
                if let Ok(mut routes) = shared.routes.lock() {
                    routes.remove(&ice.ufrag);
                }
                if let Ok(mut s) = sessions.lock() {
                    s.remove(&id_owned);
                }
                match end {
                    End::Deleted => {
                        tracing::info!(%peer, "whep: {peer} stopped watching {path_owned} (DELETE)")
                    }
                    End::Lost(why) => {
                        tracing::info!(%peer, "whep: {peer} watching {path_owned} went away: {why}")
                    }
                    End::Over(why) => {
                        tracing::info!(%peer, "whep: {peer} watching {path_owned}: {why}")
                    }
                }
            });
        }
        tracing::info!(%peer, "whep: {peer} offered to watch {path} (session {id})");
        Ok(WhepAnswer {
            id,
            sdp: answer,
            audio_inactive,
            ladder: ladder_names,
        })
    }

    fn shared_api(&self) -> &tern_model::local::LocalApi {
        &self.rtc.shared().api
    }

    /// The broadcast's catalog, read as the viewer (the node's subscribe checks run), and what
    /// of it the offer can take.
    async fn plan(
        &self,
        path: &str,
        credentials: &Credentials,
        offer: &str,
    ) -> Result<Plan, WhepError> {
        let api = self.shared_api();
        let ns = TrackName::from_path(path, "").namespace;
        // The viewer, judged as a MoQ subscriber of the broadcast is (the plugin's
        // session-open and subscribe phases); then an unknown name is refused at once.
        api.authorize(ns.clone(), None, credentials.clone())
            .await
            .map_err(WhepError::Refused)?;
        api.broadcast(ns.clone(), credentials.clone())
            .await
            .map_err(WhepError::Refused)?;
        let bytes = api
            .catalog(ns, credentials.clone(), self.config.wait)
            .await
            .map_err(WhepError::Refused)?;
        let list = renditions(&bytes).ok_or_else(|| {
            WhepError::Refused(Refused::new(
                RefusedKind::Invalid,
                format!("{path}: its catalog cannot be read"),
            ))
        })?;
        plan(&list, &offered(offer)).map_err(|e| WhepError::Unplayable(format!("{path}: {e}")))
    }

    /// The source of rendition `r` of `path` for this viewer, judged as the node judges a MoQ
    /// subscriber of the track (the plugin's subscribe phase): the node's one reading of it,
    /// or, for a rendition watermarked for the viewer, the viewer's own source taking each
    /// group from its variant ([`marked`]), the variants read once for every viewer.
    async fn source_for(
        &self,
        path: &str,
        r: &Rendition,
        credentials: &Credentials,
    ) -> Result<Arc<Source>, Unread> {
        let ns = TrackName::from_path(path, "").namespace;
        let track = bytes::Bytes::copy_from_slice(r.name.as_bytes());
        let admitted = self
            .shared_api()
            .authorize(ns, Some(track.clone()), credentials.clone())
            .await
            .map_err(|refused| Unread::LeftOut(refused.to_string()))?;
        // Read once for every viewer, each judged on its own (above).
        let read = |name: &str| {
            self.sources
                .get(
                    self.shared_api(),
                    path,
                    name,
                    r.init.clone(),
                    &Credentials::member("whep"),
                )
                .ok_or(Unread::Full)
        };
        if !admitted.marked {
            if admitted.track.as_ref().is_some_and(|t| *t != track) {
                return Err(Unread::LeftOut(
                    "the node points this viewer at another track".into(),
                ));
            }
            return read(&r.name);
        }
        let mut variants = Vec::new();
        for v in 0..marked::VARIANTS {
            let name = crate::hls::path::variant_track(&r.name, v)
                .ok_or_else(|| Unread::LeftOut("its variants cannot be named".into()))?;
            variants.push(read(&name)?);
        }
        let viewer = marked::Viewer {
            api: self.shared_api().clone(),
            subject: admitted.subject.unwrap_or_default(),
            track: TrackName::from_path(path, &variants[0].track),
        };
        Ok(marked::source(viewer, variants, self.config.wait).await)
    }

    /// The video ladder's running sources, without the renditions that have B-frames (WebRTC
    /// has no reordering); refused with the reason when no rendition is left.
    async fn video(
        &self,
        path: &str,
        credentials: &Credentials,
        plan: &Plan,
    ) -> Result<(Option<Video>, Vec<String>), WhepError> {
        let (Some(codec), false) = (plan.codec, plan.ladder.is_empty()) else {
            return Ok((None, Vec::new()));
        };
        let mut sources = Vec::new();
        let mut left_out = Vec::new();
        for r in &plan.ladder {
            match self.source_for(path, r, credentials).await {
                Ok(s) => sources.push((r, s)),
                Err(Unread::LeftOut(why)) => left_out.push(format!("{}: {why}", r.name)),
                Err(Unread::Full) => return Err(WhepError::Full(source::MAX_SOURCES)),
            }
        }
        let mut ladder = Vec::new();
        for (r, s) in sources {
            match s.status(self.config.wait).await {
                Status::Running { reorders: false } => ladder.push((r, s)),
                Status::Running { reorders: true } => {
                    left_out.push(format!("{} {B_FRAMES}", r.name));
                }
                Status::Starting => left_out.push(format!("{} sent no frame yet", r.name)),
                Status::Over(why) => left_out.push(format!("{}: {why}", r.name)),
            }
        }
        if ladder.is_empty() {
            let b_frames = left_out.iter().any(|why| why.ends_with(B_FRAMES));
            let advice = match b_frames {
                true => {
                    "; WebRTC carries no B-frames: publish without them (x264: -bf 0 or -tune \
                     zerolatency) or add a ladder ([ingest] ladder), whose renditions have none"
                }
                false => "",
            };
            return Err(WhepError::Unplayable(format!(
                "{path}: no video rendition can go over WebRTC ({}){advice}",
                left_out.join("; ")
            )));
        }
        if !left_out.is_empty() {
            tracing::debug!("whep: {path}: renditions left out: {}", left_out.join("; "));
        }
        let bitrates: Vec<u64> = ladder.iter().map(|(r, _)| bitrate(r)).collect();
        let first = choose::Rungs::new(bitrates.clone()).affords(self.config.initial_bitrate);
        let names = ladder.iter().map(|(r, _)| r.name.clone()).collect();
        let sources = ladder.into_iter().map(|(_, s)| s).collect();
        Ok((Some(Video::new(codec, sources, bitrates, first)), names))
    }
}

/// `answer` with its audio sections made `a=inactive` (nothing will be sent on them).
pub fn inactive_audio(answer: &str) -> String {
    let mut out = String::with_capacity(answer.len());
    let mut audio = false;
    for line in answer.split_inclusive('\n') {
        let bare = line.trim_end();
        if let Some(m) = bare.strip_prefix("m=") {
            audio = m.starts_with("audio ");
        }
        if audio && matches!(bare, "a=sendonly" | "a=sendrecv" | "a=recvonly") {
            out.push_str("a=inactive\r\n");
            continue;
        }
        if audio && (bare.starts_with("a=ssrc:") || bare.starts_with("a=ssrc-group:")) {
            continue;
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod node_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_sections_become_inactive_and_video_stays() {
        let answer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n\
                      a=ssrc:1 cname:x\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n\
                      a=sendonly\r\na=ssrc:2 cname:x\r\n";
        let out = inactive_audio(answer);
        assert_eq!(
            out,
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=inactive\r\n\
             m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendonly\r\na=ssrc:2 cname:x\r\n"
        );
    }

    #[test]
    fn ice_server_links() {
        let s = IceServer {
            url: "turn:turn.example.net:3478?transport=udp".into(),
            username: Some("u".into()),
            credential: Some("p\"w".into()),
        };
        assert_eq!(
            s.link(),
            "<turn:turn.example.net:3478?transport=udp>; rel=\"ice-server\"; username=\"u\"; \
             credential=\"pw\"; credential-type=\"password\""
        );
    }
}
