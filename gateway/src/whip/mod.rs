//! WHIP in (RFC 9725): a browser or an encoder POSTs an SDP offer to `/whip/live/cam1`, gets an
//! answer and a session URL, and publishes over WebRTC; the session's media becomes the
//! broadcast `live/cam1` of the node this process runs.
//!
//! - [`http`]: the HTTP side (POST → 201 + `Location`, DELETE, PATCH → 405, OPTIONS, CORS),
//!   an axum router the node's HTTP listener serves.
//! - [`WhipServer`]: admission (the node's refusal, said as an HTTP status before any media
//!   flows), one UDP port for every session (ICE-lite: the publisher's STUN checks carry the
//!   session's ICE ufrag, which routes them; the address they come from routes the rest), and
//!   an ICE-TCP candidate on the same port number (`tcp`).
//! - `session`: one task per publisher driving str0m's sans-IO `Rtc` (DTLS, SRTP, NACK,
//!   RTCP), asking for keyframes, feeding [`media`].
//! - [`media`]: sans-IO, WebRTC frames in (H.264, VP8, Opus), tracks and samples out.

pub(crate) mod dtls;
pub mod http;
pub mod media;
pub(crate) mod route;
mod server;
pub(crate) mod session;
pub(crate) mod shared;
mod tcp;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tern_model::local::{Refused, RefusedKind};

pub use server::{WhipServer, serve};
pub use shared::Answer;

/// How a WHIP listener runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The UDP address every session's media arrives on.
    pub udp: SocketAddr,
    /// The addresses publishers are told to send to (NAT, containers): their IPs, each with
    /// the bound UDP port. Empty: the bound address, or loopback when it is unspecified.
    pub advertise: Vec<IpAddr>,
    /// Ask for a keyframe when the last one is this old (browsers' encoders send one only
    /// when asked): the broadcast's group length.
    pub keyframe_interval: Duration,
    /// Also offer a passive ICE-TCP candidate on the media port's number over TCP (for
    /// networks that block UDP).
    pub tcp: bool,
    /// Sessions at most; more are refused with 503.
    pub max_sessions: usize,
    /// Static stream keys: on a keyed path the `Authorization: Bearer` token is the key.
    pub stream_keys: crate::keys::SharedKeys,
    /// A session whose ICE and DTLS have not completed this long after its answer is closed.
    pub connect_timeout: Duration,
}

impl Config {
    /// Media on `udp` (and ICE-TCP on its port number), defaults otherwise: a keyframe every
    /// 2 s, 1,000 sessions, 15 s to connect.
    pub fn new(udp: SocketAddr) -> Self {
        Self {
            udp,
            advertise: Vec::new(),
            keyframe_interval: Duration::from_secs(2),
            tcp: true,
            max_sessions: 1000,
            stream_keys: crate::keys::SharedKeys::default(),
            connect_timeout: Duration::from_secs(15),
        }
    }
}

/// Why an offer was not answered (each an HTTP status: [`WhipError::status`]).
#[derive(Debug, thiserror::Error)]
pub enum WhipError {
    /// The offer is not an SDP this endpoint can answer.
    #[error("bad offer: {0}")]
    BadOffer(String),
    /// The node refused the broadcast.
    #[error("{0}")]
    Refused(Refused),
    /// The listener is at [`Config::max_sessions`].
    #[error("too many WHIP sessions ({0}); try later")]
    Full(usize),
    /// No such session.
    #[error("no such WHIP session")]
    NoSession,
    /// The media stage failed.
    #[error("{0}")]
    Internal(String),
}

impl WhipError {
    /// The HTTP status it is answered with.
    pub fn status(&self) -> u16 {
        match self {
            WhipError::BadOffer(_) => 400,
            WhipError::Refused(r) => match r.kind {
                RefusedKind::Unauthorized => 403,
                RefusedKind::Conflict => 409,
                RefusedKind::Invalid => 400,
                RefusedKind::NotFound | RefusedKind::Timeout => 404,
                RefusedKind::Overloaded | RefusedKind::Unavailable => 503,
                RefusedKind::Unsupported => 501,
                _ => 500,
            },
            WhipError::Full(_) => 503,
            WhipError::NoSession => 404,
            WhipError::Internal(_) => 500,
        }
    }
}
