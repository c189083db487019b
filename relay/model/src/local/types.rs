//! What a local publisher or reader says about itself and what the node answers.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tern_relay_core::types::Namespace;

/// Who is behind a local publisher or reader, as a front-end (RTMP, SRT, WHIP, HLS, WHEP)
/// learned it from its own protocol. The node judges it as it judges a MoQ session: the
/// edge plugin's session-open phase gets the token, and without a plugin the source address is
/// an anonymous publisher's identity (and decides whether it is on this host).
#[derive(Clone)]
pub struct Credentials {
    /// The address the remote peer connects from (for an in-process producer, a loopback
    /// address).
    pub peer: SocketAddr,
    /// The token it carried (`?jwt=`, `Authorization: Bearer`, an SRT streamid key). Never
    /// logged: `Debug` shows only whether there is one.
    pub token: Option<String>,
    /// What it came in over (`"rtmp"`, `"srt"`, `"whip"`, `"hls"`, ...), for logs.
    pub via: &'static str,
    /// Code of this process that the operator set up (a demo broadcast, a configured source,
    /// a front-end's own reading shared by viewers it judged itself), not a remote peer behind
    /// a front-end: it publishes as a member of the cluster, whose broadcasts only members take
    /// over, and its readings are not judged by the plugin (as a cluster member's requests are
    /// not). A front-end never sets it for its peers.
    pub member: bool,
}

impl Credentials {
    /// Credentials of code in this process (a demo broadcast, a test): a loopback peer with no
    /// token.
    pub fn in_process(via: &'static str) -> Self {
        Self {
            peer: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: None,
            via,
            member: false,
        }
    }

    /// Credentials of code in this process that publishes as a cluster member (see
    /// [`member`](Self::member)).
    pub fn member(via: &'static str) -> Self {
        Self {
            member: true,
            ..Self::in_process(via)
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("peer", &self.peer)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("via", &self.via)
            .field("member", &self.member)
            .finish()
    }
}

/// A publisher a front-end admitted itself before asking the node (a static stream key the
/// RTMP or SRT listener matched): the identity it proved. The node takes it as an authorised
/// publisher's identity (the same identity always takes its broadcast back), from any host,
/// without the plugin's phases. It may be a secret (a stream key without a name): `Debug`
/// never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Vouched(pub String);

impl fmt::Debug for Vouched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Vouched(<redacted>)")
    }
}

/// What kind of refusal a [`Refused`] is: what a front-end maps to its own protocol's answer
/// (RTMP `NetStream.Publish.BadName` or `Unauthorized`, an SRT reject code, an HTTP status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefusedKind {
    /// No such broadcast or track is reachable from this node (HTTP 404).
    NotFound,
    /// The edge plugin or the relay's trust rules refused (HTTP 403).
    Unauthorized,
    /// Another publisher holds the track and the take-over policy keeps it (HTTP 409).
    Conflict,
    /// A limit of the node was reached (HTTP 503, retry later).
    Overloaded,
    /// No publisher appeared within the wait asked for (HTTP 404 after the wait).
    Timeout,
    /// The name is malformed or reserved (HTTP 400).
    Invalid,
    /// The node is shutting down or gone (HTTP 503).
    Unavailable,
    /// The node cannot serve this to a local reader (HTTP 501): a track watermarked for each
    /// viewer, which a front-end must read per viewer from its variants.
    Unsupported,
}

/// A refusal from the node, with a reason meant for the user behind the front-end (never a
/// token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// What kind of refusal.
    pub kind: RefusedKind,
    /// Why, in words.
    pub reason: String,
}

impl Refused {
    /// A refusal of `kind` for `reason`.
    pub fn new(kind: RefusedKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
        }
    }

    /// The node is gone.
    pub fn unavailable() -> Self {
        Self::new(RefusedKind::Unavailable, "the relay node is shutting down")
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.reason)
    }
}

impl std::error::Error for Refused {}

/// Where a local reader starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Start {
    /// At the start of the group being published now: the objects of the current group the
    /// node holds come first ([`Reading::joined`](super::Reading::joined)), then everything
    /// after them as it arrives. What a player joining a live stream wants.
    #[default]
    CurrentGroup,
    /// At the next group to begin (nothing of the current one).
    NextGroup,
}

/// How a local reader subscribes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Where it starts.
    pub start: Start,
    /// How long to wait for a publisher of a track nobody publishes yet (zero: refuse at once).
    pub rendezvous: Duration,
    /// Its priority among the node's subscribers (lower is more urgent, as in MoQ).
    pub priority: u8,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            start: Start::CurrentGroup,
            rendezvous: Duration::ZERO,
            priority: 128,
        }
    }
}

/// What the node decided about a reader's credentials (see
/// [`LocalApi::authorize`](super::LocalApi::authorize)): who the reader is and what it is to
/// read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    /// The subject the edge plugin's session-open phase named (`None` without a plugin): the
    /// viewer's identity for watermarking.
    pub subject: Option<String>,
    /// The track to read: the one asked for, another the plugin's subscribe phase pointed the
    /// reader at, or, when [`marked`](Self::marked), variant A of the track asked for. `None`
    /// for a broadcast as a whole.
    pub track: Option<Bytes>,
    /// The track is watermarked for this viewer: its groups are to be served from its
    /// variants, each chosen by [`LocalApi::variant`](super::LocalApi::variant).
    pub marked: bool,
    /// When the reader's token expires (Unix milliseconds), if it does.
    pub expires_at_ms: Option<u64>,
}

/// What the node knows of a broadcast: that it is reachable and the tracks it holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastInfo {
    /// The broadcast's namespace.
    pub namespace: Namespace,
    /// Names of its tracks the node holds or is fetching now (others may exist: its catalog
    /// lists them all).
    pub tracks: Vec<Bytes>,
}
