//! Operator configuration of a relay node.
//!
//! [`Config`] is plain data (serde, every table `deny_unknown_fields`). [`Config::load`] is the one
//! place that merges the layers, each overriding the one before:
//!
//! 1. built-in defaults (documented in `deploy/relay.example.toml`),
//! 2. the TOML file,
//! 3. `TERN_<TABLE>_<KEY>` environment variables (`TERN_CACHE_MAX_BYTES`, `TERN_UPSTREAMS`),
//! 4. command-line flags ([`Overrides`]).
//!
//! Every [`ConfigError`] names where the bad value came from (the file, the variable or the flag)
//! and the key (`cache.max_bytes`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

mod duration;
mod env;
mod file;
#[cfg(test)]
mod tests;

pub use duration::{format_duration, parse_duration};
pub use env::process_env;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// The largest control message the wire format can carry (a 16-bit length).
pub const MAX_CONTROL_MESSAGE_LIMIT: u32 = 65_535;
/// Draft-18 allows at most 32 fields in a track namespace tuple.
pub const MAX_NAMESPACE_FIELDS_LIMIT: u32 = 32;
/// The longest `relay.name`: a hop list carries each relay id with an 8-bit length.
pub const MAX_RELAY_NAME: usize = crate::core::hops::MAX_ID_LEN;
/// The largest value a QUIC variable-length integer holds (2^62 - 1).
pub const QUIC_VARINT_MAX: u64 = (1 << 62) - 1;

/// The whole configuration of a relay node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Upstream relays or origins (`https://` for WebTransport, `moqt://` for raw QUIC), tried in
    /// order. Empty: this node is a root.
    pub upstreams: Vec<Url>,
    /// `[relay]`: the MoQ listener.
    pub relay: RelayConfig,
    /// `[admin]`: the internal HTTP port.
    pub admin: AdminConfig,
    /// `[log]`.
    pub log: LogConfig,
    /// `[limits]`: protocol limits per session and per peer.
    pub limits: LimitsConfig,
    /// `[cache]`: the group cache, bounded per process.
    pub cache: CacheConfig,
    /// `[subscriber]`: slow-subscriber policy.
    pub subscriber: SubscriberConfig,
    /// `[quic]`: transport parameters.
    pub quic: QuicConfig,
    /// `[upstream]`: how this relay trusts its upstreams.
    pub upstream: UpstreamConfig,
    /// `[plugin]`: the edge plugin (Wasm) that admits sessions and requests.
    pub plugin: PluginConfig,
    /// `[drain]`: graceful shutdown on SIGTERM.
    pub drain: DrainConfig,
    /// `[cluster]`: trust between the relays of one tree.
    pub cluster: ClusterConfig,
    /// `[ingest]`: what the ingest listeners (SRT, RTMP) share: the stream keys.
    pub ingest: IngestConfig,
    /// `[srt]`: the SRT ingest listener (publishers of MPEG-TS over SRT).
    pub srt: SrtConfig,
    /// `[rtmp]`: the RTMP ingest listener (OBS, ffmpeg, encoders).
    pub rtmp: RtmpConfig,
    /// `[http]`: the node's one HTTP(S) listener (WHIP, the player pages).
    pub http: HttpConfig,
    /// `[whip]`: WebRTC publishers (WHIP on the HTTP listener, media on one UDP port).
    pub whip: WhipConfig,
    /// `[hls]`: LL-HLS viewers (on the HTTP listener).
    pub hls: HlsConfig,
    /// `[whep]`: WebRTC viewers (WHEP on the HTTP listener, media on WHIP's UDP port).
    pub whep: WhepConfig,
}

/// `[whep]`: WebRTC viewers: `POST /whep/NAME` on the HTTP listener, media on the `[whip]`
/// UDP port (one port for every WebRTC session of the node). The relay keeps these as data:
/// the `tern` binary serves them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WhepConfig {
    /// Whether `POST /whep/NAME` is served on the HTTP listener.
    pub enabled: bool,
    /// Viewers at most at once.
    pub max_sessions: u64,
    /// STUN/TURN server URIs viewers are given (`Link: rel="ice-server"`), e.g.
    /// `turn:turn.example.net:3478?transport=udp`.
    pub ice_servers: Vec<String>,
    /// The TURN username given with them (empty: none).
    pub ice_username: String,
    /// The TURN password given with them (empty: none).
    pub ice_credential: String,
}

impl Default for WhepConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_sessions: 1000,
            ice_servers: Vec::new(),
            ice_username: String::new(),
            ice_credential: String::new(),
        }
    }
}

/// `[hls]`: LL-HLS viewers: `GET /hls/NAME/index.m3u8` on the HTTP listener, served from the
/// node's cache (one subscription per track however many viewers). The relay keeps these as
/// data: the `tern` binary serves them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HlsConfig {
    /// Whether `/hls/` is served on the HTTP listener.
    pub enabled: bool,
    /// `EXT-X-TARGETDURATION`, whole seconds (1 to 60): the longest segment; a longer group is
    /// split. Constant for every playlist.
    #[serde(with = "duration::human")]
    pub target_duration: Duration,
    /// `EXT-X-PART-INF:PART-TARGET`: 200 ms to the target duration.
    #[serde(with = "duration::human")]
    pub part_target: Duration,
}

impl Default for HlsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            target_duration: Duration::from_secs(4),
            part_target: Duration::from_millis(333),
        }
    }
}

/// `[http]`: one TCP listener for everything HTTP the node serves: WHIP (`POST /whip/NAME`),
/// the player and publish pages. Plain HTTP on a loopback address; elsewhere HTTPS with
/// `relay.tls_cert` (or a self-signed certificate browsers refuse). The relay keeps these as
/// data: the `tern` binary runs the listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Whether the node serves HTTP at all.
    pub enabled: bool,
    /// TCP address; unset: `relay.bind`'s address and port, over TCP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<SocketAddr>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: None,
        }
    }
}

/// `[whip]`: WebRTC publishers. Every session's media arrives on one UDP port (ICE-lite);
/// publishers are told the `advertise` addresses (a NAT's or a container host's) with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WhipConfig {
    /// Whether `POST /whip/NAME` is served on the HTTP listener.
    pub enabled: bool,
    /// UDP address of the media port; unset: `relay.bind`'s address, any free port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub udp: Option<SocketAddr>,
    /// IP addresses publishers reach this host at (each with the media port); empty: the
    /// bound address.
    pub advertise: Vec<String>,
    /// Ask the publisher for a keyframe when the last is this old: the groups' length.
    #[serde(with = "duration::human")]
    pub keyframe_interval: Duration,
    /// Sessions at most at once.
    pub max_sessions: u64,
}

impl Default for WhipConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            udp: None,
            advertise: Vec::new(),
            keyframe_interval: Duration::from_secs(2),
            max_sessions: 1000,
        }
    }
}

/// `[rtmp]`: the RTMP listener of the node. Publishers push `rtmp://HOST:PORT/APP/NAME`
/// (broadcast `APP/NAME`; a `?jwt=TOKEN` on the name goes to the edge plugin). The relay keeps
/// these as data: the `tern` binary runs the listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtmpConfig {
    /// TCP address of the listener; unset: no RTMP listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<SocketAddr>,
    /// TCP address of the RTMPS listener (TLS with `relay.tls_cert`, or a self-signed
    /// certificate that verifying encoders refuse, said at start), the conventional port being
    /// 443; unset: no RTMPS listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_bind: Option<SocketAddr>,
    /// Publishers at most at once (RTMP and RTMPS each).
    pub max_publishers: u64,
}

impl Default for RtmpConfig {
    fn default() -> Self {
        Self {
            bind: None,
            tls_bind: None,
            max_publishers: 1000,
        }
    }
}

/// `[ingest]`: what the node's ingest listeners share. The relay keeps these as data: the
/// `tern` binary reads the file and runs the listeners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// A TOML file of static stream keys by broadcast path (`[[key]]` tables with `path`,
    /// `key` and an optional `name`), for encoders that cannot carry a token: a path a key
    /// covers takes only publishers that give one of its keys (RTMP `?key=`, SRT `tern_key=`).
    /// Reloaded when it changes (or on SIGHUP); a file that no longer parses keeps the keys in
    /// force. Unset: no stream keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_file: Option<PathBuf>,
    /// Give every AAC track an Opus companion and every Opus track an AAC one (WebRTC players
    /// need Opus; HLS on TVs and older Safari need AAC), transcoded by `ffmpeg`.
    pub transcode_audio: bool,
    /// The ffmpeg the transcoders run (a name on PATH or a path); it needs the libopus and aac
    /// encoders (and libx264 for a ladder). When it cannot run, the relay says so at start and
    /// publishes without companions or ladder.
    pub ffmpeg: String,
    /// Lower renditions made of every ingested broadcast's video, each `"<height>p@<bitrate>"`
    /// (`["360p@800k", "180p@300k"]`; the bitrate in bits per second with `k` or `M`): H.264,
    /// GOP-aligned with the source (a keyframe where the source has one, no B-frames) under the
    /// same group numbering, one supervised ffmpeg per broadcast. A rung at or above the
    /// source's height is left out. Empty: no ladder.
    pub ladder: Vec<String>,
}

/// One rung of `[ingest] ladder`, `"<height>p@<bitrate>"`: (height in pixels, bits per second).
pub fn ladder_rung(rung: &str) -> Result<(u16, u32), String> {
    let bad = || format!("{rung:?} is not a rung like \"360p@800k\" (height, then the bitrate)");
    let (height, bitrate) = rung.trim().split_once('@').ok_or_else(bad)?;
    let height: u16 = height
        .strip_suffix('p')
        .and_then(|h| h.parse().ok())
        .filter(|h| (16..=4320).contains(h) && h % 2 == 0)
        .ok_or_else(|| {
            format!("{rung:?}: the height is an even number of pixels, 16 to 4320, then 'p'")
        })?;
    let (number, scale) = match bitrate.as_bytes().last() {
        Some(b'k' | b'K') => (&bitrate[..bitrate.len() - 1], 1e3),
        Some(b'M' | b'm') => (&bitrate[..bitrate.len() - 1], 1e6),
        _ => (bitrate, 1.0),
    };
    let bps = number.parse::<f64>().map_err(|_| bad())? * scale;
    if !(50e3..=100e6).contains(&bps) {
        return Err(format!("{rung:?}: the bitrate is 50k to 100M"));
    }
    Ok((height, bps as u32))
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            keys_file: None,
            transcode_audio: true,
            ffmpeg: "ffmpeg".to_owned(),
            ladder: Vec::new(),
        }
    }
}

/// `[srt]`: the SRT listener of the node. Callers publish MPEG-TS (H.264, AAC) with a stream
/// ID naming the broadcast (`#!::r=live/cam1,m=publish`, `publish:live/cam1` or `live/cam1`);
/// the node judges them as it judges any publisher (the edge plugin gets the stream ID's
/// `tern_token`). The relay keeps these as data: the `tern` binary runs the listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SrtConfig {
    /// UDP address of the listener; unset: no SRT listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<SocketAddr>,
    /// Receive latency (TSBPD) offered to callers; a caller asking for more gets more.
    #[serde(with = "duration::human")]
    pub latency: Duration,
    /// Publishers at most at once.
    pub max_publishers: u64,
    /// A TOML file of passphrases by broadcast path (`"live/" = "passphrase"`, or
    /// `"live/cam1" = { passphrase = "...", key_length = 32 }`); unset: no encryption.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passphrases_file: Option<PathBuf>,
}

impl Default for SrtConfig {
    fn default() -> Self {
        Self {
            bind: None,
            latency: Duration::from_millis(120),
            max_publishers: 1000,
            passphrases_file: None,
        }
    }
}

/// `[cluster]`: trust between the relays of one tree, by mutual TLS with a private CA
/// (`tern cluster ca`, `tern cluster cert`). With `ca` set, a peer whose client certificate
/// that CA signed is a member; others publish only as `publish` allows, and can never take over
/// or capture a broadcast a member feeds. Without `ca` every peer is trusted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// PEM certificate of the cluster CA. It also verifies upstreams' server certificates,
    /// alone: the system's roots are not consulted (pinned `upstream.cert_hashes` still are).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// PEM certificate the CA issued to this relay, shown to its upstreams.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// Who besides members may publish here: `"cluster"` (nobody; a root or mid relay) or
    /// `"any"` (an ingest edge; the edge plugin still admits each publisher).
    pub publish: ClusterPublish,
}

/// `cluster.publish`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterPublish {
    /// Only members publish.
    #[default]
    Cluster,
    /// Anyone admitted publishes; members' broadcasts stay theirs.
    Any,
}

impl FromStr for ClusterPublish {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        env::from_serde_str(s)
    }
}

/// `[plugin]`: an edge plugin, a WebAssembly component of the `tern:edge` world. Without `file`
/// there is no plugin at all (no engine, no threads) and every session is admitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginConfig {
    /// The component (`.wasm`); reloaded when it changes, without dropping sessions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// A JSON file handed to the plugin's `configure` (its keys, audience, ...); none: `{}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_file: Option<PathBuf>,
    /// Longest run of one call before the plugin is interrupted (1 ms to 10 s).
    #[serde(with = "duration::human")]
    pub deadline: Duration,
    /// Linear memory of one plugin instance, in bytes (1 MiB to 1 GiB).
    pub max_memory: u64,
    /// Worker threads calling the plugin, each with its own instance (1 to 16).
    pub workers: u32,
    /// Calls waiting for a worker; more are refused (and so are their sessions).
    pub queue: u32,
    /// How often `file` is checked for a new version; `"0s"` never reloads.
    #[serde(with = "duration::human")]
    pub reload_interval: Duration,
    /// Record the plugin's calls and decisions to this JSON-lines file, for
    /// `tern plugin replay` (it holds the sessions' tokens: keep it as secret as they are).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<PathBuf>,
    /// Calls recorded at most (1 to 10,000,000); later ones are not.
    pub record_max_calls: u64,
}

impl Default for PluginConfig {
    fn default() -> Self {
        Self {
            file: None,
            config_file: None,
            deadline: Duration::from_millis(20),
            max_memory: 16 * MIB,
            workers: 2,
            queue: 256,
            reload_interval: Duration::from_secs(1),
            record: None,
            record_max_calls: 100_000,
        }
    }
}

/// `[drain]`: what the relay does on SIGTERM. `/health` answers 503 at once, every session
/// gets GOAWAY naming `goaway_uri`, and the process exits once the sessions left or `timeout`
/// passed (whichever comes first). Give the orchestrator a grace period longer than `timeout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DrainConfig {
    /// Where sessions should reconnect (`https://` or `moqt://`), e.g. the relay tier's service
    /// name; empty: the same URI (a load balancer picks another node).
    pub goaway_uri: String,
    /// How long sessions get to leave before they are closed and the process exits.
    #[serde(with = "duration::human")]
    pub timeout: Duration,
}

impl Default for DrainConfig {
    fn default() -> Self {
        Self {
            goaway_uri: String::new(),
            timeout: Duration::from_secs(2),
        }
    }
}

/// `[upstream]`: trust in the relays in `upstreams`, and how the tree behaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Accept exactly the certificates with these SHA-256 hashes (64 hex digits, as `tern relay`
    /// prints); empty: the system's trusted roots.
    pub cert_hashes: Vec<String>,
    /// Accept any upstream certificate (local test trees only).
    pub disable_verify: bool,
    /// Longest hop list a namespace announcement may arrive with (relays it passed through);
    /// longer ones are refused, as are those that already passed through this relay.
    pub max_depth: u32,
    /// How long an upstream subscription stays after its last downstream subscriber leaves
    /// (`"5s"`), so that a viewer who comes straight back does not re-subscribe upstream.
    #[serde(with = "duration::human")]
    pub linger: Duration,
    /// How long an upstream link may stay silent before it counts as dead and its tracks fail
    /// over (keep-alives go every third of it): the detection time of a silently killed
    /// upstream (100ms to 60s).
    #[serde(with = "duration::human")]
    pub idle_timeout: Duration,
    /// DNS servers (`ip:port`, UDP) for upstream URLs that name a host: SRV
    /// `_moqt._udp.<host>` first, then A/AAAA. Empty: the system's resolver configuration.
    pub dns_servers: Vec<String>,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            cert_hashes: Vec::new(),
            disable_verify: false,
            max_depth: 8,
            linger: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(3),
            dns_servers: Vec::new(),
        }
    }
}

/// `[relay]`: the MoQ listener (raw QUIC and WebTransport on one UDP port).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayConfig {
    /// UDP address to listen on.
    pub bind: SocketAddr,
    /// PEM certificate chain. Neither this nor `tls_key`: a self-signed development certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// This node's name in logs and metrics, and its id in the hop lists of the relay tree
    /// (unique per relay). The default `tern-relay` picks a random id at start instead.
    pub name: String,
    /// Take anonymous publishers from anywhere. Off: a publisher that is neither a cluster
    /// member nor admitted by a `[plugin]` (which checks each publish) may publish only from
    /// this host (loopback, or the address it connected to). On: anyone who reaches the
    /// listener may publish, and take over a broadcast that is not a member's.
    pub open_publishing: bool,
    /// When a new publisher of a live track takes it over from the one feeding it: `"class"`
    /// (a publisher of the same trust class or a higher one: cluster member > authorised by
    /// the plugin > anonymous), `"newest"` (any publisher admitted) or `"first"` (nobody: the
    /// first keeps it until it ends). The same publisher (certificate name, plugin subject,
    /// anonymous source address) always takes over its own track, and only members take over
    /// a member's.
    pub takeover: TakeOverPolicy,
    /// The MoQ Transport drafts spoken, on every transport (ALPN `moqt-N`, `moq-00` for
    /// draft-14; WebTransport protocol; WebSocket `qmux-01.moqt-N` for 18 on), and offered to
    /// upstreams: a peer gets the newest both speak. Default `[22, 20, 18, 16, 14]`.
    pub drafts: Vec<u32>,
}

/// `relay.takeover`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TakeOverPolicy {
    /// The same class or a higher one takes over.
    #[default]
    Class,
    /// Any publisher admitted takes over.
    Newest,
    /// The first publisher keeps the track.
    First,
}

impl FromStr for TakeOverPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        env::from_serde_str(s)
    }
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 4443),
            tls_cert: None,
            tls_key: None,
            name: "tern-relay".to_owned(),
            open_publishing: false,
            takeover: TakeOverPolicy::default(),
            drafts: tern_moq::Version::ALL.iter().map(|v| v.number()).collect(),
        }
    }
}

/// `[admin]`: the internal HTTP port (`/metrics`, `/health`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// TCP address of the admin HTTP server. Keep it internal.
    pub bind: SocketAddr,
    /// Whether to serve it at all.
    pub enabled: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9464),
            enabled: true,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Human-readable lines or one JSON object per line.
    pub format: LogFormat,
    /// A `tracing` env-filter directive, e.g. `info` or `info,tern_relay=debug`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[limits]`: protocol limits. Exceeding one closes that session alone (or refuses the request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest object payload accepted, in bytes; refused before allocating.
    pub max_object_size: u64,
    /// Largest control message, in bytes (at most 65535).
    pub max_control_message: u32,
    /// Requests a session may have open at once; more get REQUEST_ERROR (EXCESSIVE_LOAD).
    pub max_requests_per_session: u32,
    /// Live subscriptions per session.
    pub max_subscriptions_per_session: u32,
    /// Fields in a track namespace tuple (at most 32).
    pub max_namespace_fields: u32,
    /// Concurrent sessions from one source: an IPv4 address, or an IPv6 /64.
    pub max_sessions_per_ip: u32,
    /// New sessions a second from one source (an IPv4 address, or an IPv6 /64), in bursts of
    /// as many; faster ones are refused.
    pub new_sessions_per_ip: u32,
    /// Concurrent sessions in all; more are refused.
    pub max_sessions: u32,
    /// Bytes of partly received objects one session may hold (each object's declared length
    /// is reserved at its header); an object that does not fit is refused, its stream stopped.
    pub receive_per_session: u64,
    /// Bytes of partly received objects all sessions together may hold.
    pub receive_total: u64,
    /// Once more handshakes than this are in flight, new clients must prove their address with a
    /// QUIC Retry. 0: always.
    pub retry_above_handshakes: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_object_size: 16 * MIB,
            max_control_message: 16 * KIB as u32,
            max_requests_per_session: 1000,
            max_subscriptions_per_session: 1000,
            max_namespace_fields: 32,
            max_sessions_per_ip: 64,
            new_sessions_per_ip: 20,
            max_sessions: 10_000,
            receive_per_session: 32 * MIB,
            receive_total: 256 * MIB,
            retry_above_handshakes: 64,
        }
    }
}

/// `[cache]`: recent groups per track, bounded per process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Bytes of object payload the whole process may cache.
    pub max_bytes: u64,
    /// How long a group stays cached after it ends (`"30s"`, `"500ms"`, `"2m"`).
    #[serde(with = "duration::human")]
    pub max_duration: Duration,
    /// Bytes one group may hold (a publisher that never ends its group loses the oldest objects
    /// of it from the cache past this; live delivery goes on).
    pub max_group_bytes: u64,
    /// Bytes of open groups (each track's newest, which no eviction frees) one publishing
    /// session may hold; past it the session's new objects are refused. Cluster members are
    /// held by `max_bytes` alone. Default: a quarter of `max_bytes`, at least one group.
    pub max_live_per_session: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_bytes: 256 * MIB,
            max_duration: Duration::from_secs(30),
            max_group_bytes: 32 * MIB,
            max_live_per_session: 64 * MIB,
        }
    }
}

/// `[subscriber]`: what happens to a subscriber that falls behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubscriberConfig {
    /// Bytes of older groups queued for one subscriber (cached, not yet sent to it) before it
    /// skips to the newest group.
    pub max_queued_bytes: u64,
    /// Groups a subscriber may lag before it skips to the newest group.
    pub max_lag_groups: u64,
    /// A subscriber still behind after this long is ended as too far behind.
    #[serde(with = "duration::human")]
    pub too_far_behind_after: Duration,
}

impl Default for SubscriberConfig {
    fn default() -> Self {
        Self {
            max_queued_bytes: 4 * MIB,
            max_lag_groups: 2,
            too_far_behind_after: Duration::from_secs(10),
        }
    }
}

/// `[quic]`: transport parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuicConfig {
    /// Congestion controller.
    pub congestion: Congestion,
    /// A connection silent for this long is closed.
    #[serde(with = "duration::human")]
    pub idle_timeout: Duration,
    /// Interval of keep-alive packets; `"0s"` disables them. Must be below `idle_timeout`.
    #[serde(with = "duration::human")]
    pub keep_alive: Duration,
    /// Flow-control window per stream, in bytes.
    pub stream_receive_window: u64,
    /// Flow-control window per connection, in bytes.
    pub receive_window: u64,
    /// Bytes buffered for sending per connection.
    pub send_window: u64,
    /// Bidirectional streams a peer may open at once (draft-18 carries requests on them).
    pub max_concurrent_bidi_streams: u64,
    /// Unidirectional streams a peer may open at once (one per subgroup).
    pub max_concurrent_uni_streams: u64,
}

impl Default for QuicConfig {
    fn default() -> Self {
        Self {
            congestion: Congestion::Bbr,
            idle_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(2),
            stream_receive_window: MIB,
            receive_window: 8 * MIB,
            send_window: 8 * MIB,
            max_concurrent_bidi_streams: 1000,
            max_concurrent_uni_streams: 1000,
        }
    }
}

/// QUIC congestion controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Congestion {
    /// BBR.
    #[default]
    Bbr,
    /// CUBIC (quinn's default).
    Cubic,
    /// NewReno.
    NewReno,
}

/// Values given on the command line; `None` leaves the lower layers alone.
///
/// The binary fills it from clap; the library knows nothing of clap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--bind`: `relay.bind`.
    pub bind: Option<SocketAddr>,
    /// `--tls-cert`: `relay.tls_cert`.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`: `relay.tls_key`.
    pub tls_key: Option<PathBuf>,
    /// `--admin-bind`: `admin.bind`.
    pub admin_bind: Option<SocketAddr>,
    /// `--log-format`: `log.format`.
    pub log_format: Option<LogFormat>,
    /// `--srt`: `srt.bind`.
    pub srt: Option<SocketAddr>,
    /// `--rtmp`: `rtmp.bind`.
    pub rtmp: Option<SocketAddr>,
    /// `--rtmps`: `rtmp.tls_bind`.
    pub rtmps: Option<SocketAddr>,
    /// `--http`: `http.bind`.
    pub http: Option<SocketAddr>,
}

/// Where a setting's value came from; errors name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// The TOML file at this path.
    File(PathBuf),
    /// This environment variable.
    Env(String),
    /// This command-line flag (without the dashes).
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Env(var) => write!(f, "environment {var}"),
            Self::Flag(flag) => write!(f, "flag --{flag}"),
        }
    }
}

/// A configuration that cannot be used. Each variant names its source and its key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{}:{line}:{column}: {message}", file.display())]
    Syntax {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// The file has a key that is not a setting.
    #[error("{}: unknown key '{key}'{}", file.display(), did_you_mean(suggestion))]
    UnknownKey {
        /// The file.
        file: PathBuf,
        /// Dotted path of the unknown key.
        key: String,
        /// The closest known key, if one is close.
        suggestion: Option<String>,
    },
    /// A value in the file has the wrong type or form.
    #[error("{}: {key}: {message} (line {line}, column {column})", file.display())]
    InvalidValue {
        /// The file.
        file: PathBuf,
        /// Dotted path of the key (empty if the error is not at a key).
        key: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A `TERN_<TABLE>_<KEY>` variable names no setting.
    #[error("environment {var}: unknown setting{}", did_you_mean(suggestion))]
    UnknownEnv {
        /// The variable.
        var: String,
        /// The closest known variable, if one is close.
        suggestion: Option<String>,
    },
    /// A `TERN_*` variable's value does not parse as the setting's type.
    #[error("environment {var}: invalid value '{value}': {message}")]
    InvalidEnv {
        /// The variable.
        var: String,
        /// Its value.
        value: String,
        /// What is wrong.
        message: String,
    },
    /// A value parsed but breaks a rule (a zero size, a limit, a missing companion setting).
    #[error("{origin}: {key}: {message}")]
    Invalid {
        /// Where the offending value came from.
        origin: Origin,
        /// Dotted path of the key.
        key: &'static str,
        /// The rule broken.
        message: String,
    },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean '{s}'?)"),
        None => String::new(),
    }
}

/// Every setting as a dotted key, in file order, with a setter that parses an environment value
/// with the setting's own type. One list, so the environment cannot forget a setting.
macro_rules! settings {
    ($($table:ident . $field:ident),* $(,)?) => {
        /// Every setting, as `table.key` (`upstreams` is top-level).
        pub const KEYS: &[&str] = &[
            "upstreams",
            $(concat!(stringify!($table), ".", stringify!($field)),)*
        ];

        /// Parses `value` as the type of setting `key` and stores it. `None`: no such key.
        fn set_from_str(config: &mut Config, key: &str, value: &str) -> Option<Result<(), String>> {
            let result = match key {
                "upstreams" => env::FromEnv::from_env(value).map(|v| config.upstreams = v),
                $(concat!(stringify!($table), ".", stringify!($field)) => {
                    env::FromEnv::from_env(value).map(|v| config.$table.$field = v)
                })*
                _ => return None,
            };
            Some(result)
        }
    };
}

settings! {
    relay.bind, relay.tls_cert, relay.tls_key, relay.name, relay.open_publishing, relay.takeover,
    relay.drafts,
    admin.bind, admin.enabled,
    log.format, log.level,
    limits.max_object_size, limits.max_control_message, limits.max_requests_per_session,
    limits.max_subscriptions_per_session, limits.max_namespace_fields, limits.max_sessions_per_ip,
    limits.new_sessions_per_ip, limits.max_sessions, limits.receive_per_session,
    limits.receive_total, limits.retry_above_handshakes,
    cache.max_bytes, cache.max_duration, cache.max_group_bytes, cache.max_live_per_session,
    subscriber.max_queued_bytes, subscriber.max_lag_groups, subscriber.too_far_behind_after,
    quic.congestion, quic.idle_timeout, quic.keep_alive, quic.stream_receive_window,
    quic.receive_window, quic.send_window, quic.max_concurrent_bidi_streams,
    quic.max_concurrent_uni_streams,
    upstream.cert_hashes, upstream.disable_verify, upstream.max_depth, upstream.linger,
    upstream.idle_timeout,
    upstream.dns_servers,
    plugin.file, plugin.config_file, plugin.deadline, plugin.max_memory, plugin.workers,
    plugin.queue, plugin.reload_interval, plugin.record, plugin.record_max_calls,
    drain.goaway_uri, drain.timeout,
    cluster.ca, cluster.cert, cluster.key, cluster.publish,
    ingest.keys_file, ingest.transcode_audio, ingest.ffmpeg, ingest.ladder,
    srt.bind, srt.latency, srt.max_publishers, srt.passphrases_file,
    rtmp.bind, rtmp.tls_bind, rtmp.max_publishers,
    http.enabled, http.bind,
    whip.enabled, whip.udp, whip.advertise, whip.keyframe_interval, whip.max_sessions,
    hls.enabled, hls.target_duration, hls.part_target,
    whep.enabled, whep.max_sessions, whep.ice_servers, whep.ice_username, whep.ice_credential,
}

/// Which layer last set each key; keys absent here are defaults.
type Origins = BTreeMap<&'static str, Origin>;

impl Config {
    /// Merges defaults < `file` < `TERN_*` variables in `env` < `flags`, then validates.
    ///
    /// Pass [`process_env()`] as `env` in a binary and a literal list in tests. Variables that do
    /// not start with `TERN_<TABLE>_` for a known table are ignored (`TERN_CACHE` is not a
    /// setting); others must name a setting.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &Overrides,
    ) -> Result<Self, ConfigError> {
        let text = match file {
            Some(path) => {
                Some(
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                        file: path.to_owned(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        Self::load_str(file.zip(text.as_deref()), env, flags)
    }

    /// [`Config::load`] with the file's text already read: `file` is `(name for errors, text)`.
    pub fn load_str(
        file: Option<(&Path, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut origins = Origins::new();
        let mut config = match file {
            Some((path, text)) => file::parse(path, text, &mut origins)?,
            None => Self::default(),
        };
        env::apply(&mut config, env, &mut origins)?;
        config.apply_flags(flags, &mut origins);
        config.fit_unset_sizes(&origins);
        config.validate_with(&origins)?;
        Ok(config)
    }

    /// Parses a TOML document (no environment, no flags) and validates it.
    pub fn from_toml(file: &Path, text: &str) -> Result<Self, ConfigError> {
        Self::load_str(Some((file, text)), [], &Overrides::default())
    }

    /// Renders the configuration as a TOML document that [`Config::from_toml`] reads back.
    ///
    /// Fails only for a TLS path that is not UTF-8.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }

    /// Sizes left at their defaults shrink to fit the ones the operator set: a group no larger
    /// than the cache (`cache.max_group_bytes` ≤ `cache.max_bytes`), an object no larger than
    /// a group (`limits.max_object_size` ≤ `cache.max_group_bytes`), a session's share of open
    /// groups a quarter of the cache and at least a group (`cache.max_live_per_session`); a
    /// receive budget that
    /// takes the largest object. Sizes set on both sides are checked by [`Config::validate`]
    /// instead.
    fn fit_unset_sizes(&mut self, origins: &Origins) {
        // A zero is left for validation to name.
        if !origins.contains_key("cache.max_group_bytes") && self.cache.max_bytes > 0 {
            self.cache.max_group_bytes = self.cache.max_group_bytes.min(self.cache.max_bytes);
        }
        if !origins.contains_key("cache.max_live_per_session") {
            self.cache.max_live_per_session = (self.cache.max_bytes / 4)
                .max(self.cache.max_group_bytes)
                .min(self.cache.max_bytes);
        }
        if !origins.contains_key("limits.max_object_size") && self.cache.max_group_bytes > 0 {
            self.limits.max_object_size =
                self.limits.max_object_size.min(self.cache.max_group_bytes);
        }
        // The receive budget grows, where left at its default, to take the largest object.
        if !origins.contains_key("limits.receive_per_session") {
            self.limits.receive_per_session = self
                .limits
                .receive_per_session
                .max(self.limits.max_object_size);
        }
        if !origins.contains_key("limits.receive_total") {
            self.limits.receive_total = self
                .limits
                .receive_total
                .max(self.limits.receive_per_session);
        }
    }

    fn apply_flags(&mut self, flags: &Overrides, origins: &mut Origins) {
        let mut set = |key: &'static str, flag: &'static str| {
            origins.insert(key, Origin::Flag(flag));
        };
        if let Some(bind) = flags.bind {
            self.relay.bind = bind;
            set("relay.bind", "bind");
        }
        if let Some(path) = &flags.tls_cert {
            self.relay.tls_cert = Some(path.clone());
            set("relay.tls_cert", "tls-cert");
        }
        if let Some(path) = &flags.tls_key {
            self.relay.tls_key = Some(path.clone());
            set("relay.tls_key", "tls-key");
        }
        if let Some(bind) = flags.admin_bind {
            self.admin.bind = bind;
            set("admin.bind", "admin-bind");
        }
        if let Some(format) = flags.log_format {
            self.log.format = format;
            set("log.format", "log-format");
        }
        if let Some(bind) = flags.srt {
            self.srt.bind = Some(bind);
            set("srt.bind", "srt");
        }
        if let Some(bind) = flags.rtmp {
            self.rtmp.bind = Some(bind);
            set("rtmp.bind", "rtmp");
        }
        if let Some(bind) = flags.rtmps {
            self.rtmp.tls_bind = Some(bind);
            set("rtmp.tls_bind", "rtmps");
        }
        if let Some(bind) = flags.http {
            self.http.bind = Some(bind);
            set("http.bind", "http");
        }
    }

    /// Checks the rules that types cannot: limits, zero sizes, settings that need each other.
    /// Errors name the key; [`Config::load`] also names where the value came from.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_with(&Origins::new())
    }

    fn validate_with(&self, origins: &Origins) -> Result<(), ConfigError> {
        let fail = |key: &'static str, message: String| {
            let origin = origins.get(key).cloned().unwrap_or(Origin::Default);
            Err(ConfigError::Invalid {
                origin,
                key,
                message,
            })
        };

        let spoken = || {
            let all: Vec<String> = tern_moq::Version::ALL
                .iter()
                .map(|v| v.number().to_string())
                .collect();
            all.join(", ")
        };
        if self.relay.drafts.is_empty() {
            return fail(
                "relay.drafts",
                format!("empty: name one or more of {}", spoken()),
            );
        }
        if let Some(n) = self
            .relay
            .drafts
            .iter()
            .find(|n| tern_moq::Version::from_number(**n).is_none())
        {
            return fail(
                "relay.drafts",
                format!(
                    "draft {n} is not spoken here: name one or more of {}",
                    spoken()
                ),
            );
        }
        match (&self.relay.tls_cert, &self.relay.tls_key) {
            (Some(_), None) => {
                return fail("relay.tls_cert", "set without relay.tls_key".into());
            }
            (None, Some(_)) => {
                return fail("relay.tls_key", "set without relay.tls_cert".into());
            }
            _ => {}
        }
        for (key, path) in [
            ("relay.tls_cert", &self.relay.tls_cert),
            ("relay.tls_key", &self.relay.tls_key),
        ] {
            if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                return fail(
                    key,
                    "empty path (leave it out for a self-signed certificate)".into(),
                );
            }
        }
        match (&self.cluster.cert, &self.cluster.key) {
            (Some(_), None) => return fail("cluster.cert", "set without cluster.key".into()),
            (None, Some(_)) => return fail("cluster.key", "set without cluster.cert".into()),
            _ => {}
        }
        if self.cluster.cert.is_some() && self.cluster.ca.is_none() {
            return fail(
                "cluster.cert",
                "set without cluster.ca (the CA that makes peers members)".into(),
            );
        }
        if self.relay.name.trim().is_empty() {
            return fail("relay.name", "must not be empty".into());
        }
        if self
            .ingest
            .keys_file
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return fail(
                "ingest.keys_file",
                "empty path (leave it out for no stream keys)".into(),
            );
        }
        if self.rtmp.max_publishers == 0 {
            return fail(
                "rtmp.max_publishers",
                "must be at least 1 (leave rtmp.bind unset for no RTMP listener)".into(),
            );
        }
        if self.srt.max_publishers == 0 {
            return fail(
                "srt.max_publishers",
                "must be at least 1 (leave srt.bind unset for no SRT listener)".into(),
            );
        }
        if self.whip.max_sessions == 0 {
            return fail(
                "whip.max_sessions",
                "must be at least 1 (set whip.enabled = false for no WHIP)".into(),
            );
        }
        if let Some(bad) = self
            .whip
            .advertise
            .iter()
            .find(|a| a.parse::<std::net::IpAddr>().is_err())
        {
            return fail(
                "whip.advertise",
                format!("{bad:?} is not an IP address (the media port is added to each)"),
            );
        }
        if let Some(e) = self.ingest.ladder.iter().find_map(|r| ladder_rung(r).err()) {
            return fail("ingest.ladder", e);
        }
        if self.whep.max_sessions == 0 {
            return fail(
                "whep.max_sessions",
                "must be at least 1 (set whep.enabled = false for no WHEP)".into(),
            );
        }
        if let Some(bad) = self.whep.ice_servers.iter().find(|u| {
            !["stun:", "stuns:", "turn:", "turns:"]
                .iter()
                .any(|scheme| u.starts_with(scheme))
                || u.contains(['<', '>', '"', ' '])
        }) {
            return fail(
                "whep.ice_servers",
                format!("{bad:?} is not a stun:, stuns:, turn: or turns: URI"),
            );
        }
        if self.whip.keyframe_interval < Duration::from_millis(200) {
            return fail(
                "whip.keyframe_interval",
                "under 200 ms: every frame would be a keyframe".into(),
            );
        }
        let target = self.hls.target_duration;
        if target.subsec_nanos() != 0 || !(1..=60).contains(&target.as_secs()) {
            return fail(
                "hls.target_duration",
                "must be whole seconds, 1 s to 60 s".into(),
            );
        }
        if self.hls.part_target < Duration::from_millis(200) || self.hls.part_target > target {
            return fail(
                "hls.part_target",
                "must be at least 200 ms and at most hls.target_duration".into(),
            );
        }
        if self.srt.latency > Duration::from_secs(60) {
            return fail(
                "srt.latency",
                "over 60 s: SRT carries the latency in 16-bit milliseconds".into(),
            );
        }
        if self.relay.name.starts_with('!') {
            return fail(
                "relay.name",
                "must not start with '!' (reserved in hop lists)".into(),
            );
        }
        if self.relay.name.len() > MAX_RELAY_NAME {
            return fail(
                "relay.name",
                format!(
                    "{} bytes: at most {MAX_RELAY_NAME} (it is this relay's id in hop lists)",
                    self.relay.name.len()
                ),
            );
        }
        if self.upstream.disable_verify && self.cluster.ca.is_some() {
            return fail(
                "upstream.disable_verify",
                "true together with cluster.ca: upstream links of a cluster are verified \
                 against the cluster CA; remove one of the two"
                    .into(),
            );
        }
        if self.relay.open_publishing
            && self.cluster.ca.is_some()
            && self.cluster.publish == ClusterPublish::Cluster
        {
            return fail(
                "relay.open_publishing",
                "true with cluster.publish = \"cluster\" (only members publish): set \
                 cluster.publish = \"any\" to take other publishers too"
                    .into(),
            );
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return fail("log.level", format!("not a tracing env-filter: {e}"));
        }
        if !self.drain.goaway_uri.is_empty() {
            match Url::parse(&self.drain.goaway_uri) {
                Ok(u) if matches!(u.scheme(), "https" | "moqt") && u.host().is_some() => {}
                Ok(u) => {
                    return fail(
                        "drain.goaway_uri",
                        format!("{u}: must be https:// or moqt:// with a host"),
                    );
                }
                Err(e) => return fail("drain.goaway_uri", format!("not a URI: {e}")),
            }
            // GOAWAY's New Session URI is at most 8,192 bytes (draft-18).
            if self.drain.goaway_uri.len() > 8192 {
                return fail("drain.goaway_uri", "longer than 8192 bytes".into());
            }
        }
        if self.drain.timeout.is_zero() || self.drain.timeout > Duration::from_secs(3600) {
            return fail(
                "drain.timeout",
                "must be more than 0s and at most 1h".into(),
            );
        }

        let limits = &self.limits;
        let nonzero: [(&'static str, u64); 24] = [
            ("limits.max_object_size", limits.max_object_size),
            (
                "limits.max_control_message",
                limits.max_control_message.into(),
            ),
            (
                "limits.max_requests_per_session",
                limits.max_requests_per_session.into(),
            ),
            (
                "limits.max_subscriptions_per_session",
                limits.max_subscriptions_per_session.into(),
            ),
            (
                "limits.max_namespace_fields",
                limits.max_namespace_fields.into(),
            ),
            (
                "limits.max_sessions_per_ip",
                limits.max_sessions_per_ip.into(),
            ),
            (
                "limits.new_sessions_per_ip",
                limits.new_sessions_per_ip.into(),
            ),
            ("limits.max_sessions", limits.max_sessions.into()),
            ("limits.receive_per_session", limits.receive_per_session),
            ("limits.receive_total", limits.receive_total),
            ("upstream.max_depth", self.upstream.max_depth.into()),
            ("cache.max_bytes", self.cache.max_bytes),
            ("cache.max_duration", nanos(self.cache.max_duration)),
            ("cache.max_group_bytes", self.cache.max_group_bytes),
            (
                "cache.max_live_per_session",
                self.cache.max_live_per_session,
            ),
            (
                "subscriber.max_queued_bytes",
                self.subscriber.max_queued_bytes,
            ),
            ("subscriber.max_lag_groups", self.subscriber.max_lag_groups),
            (
                "subscriber.too_far_behind_after",
                nanos(self.subscriber.too_far_behind_after),
            ),
            ("quic.idle_timeout", nanos(self.quic.idle_timeout)),
            (
                "quic.stream_receive_window",
                self.quic.stream_receive_window,
            ),
            ("quic.receive_window", self.quic.receive_window),
            ("quic.send_window", self.quic.send_window),
            (
                "quic.max_concurrent_bidi_streams",
                self.quic.max_concurrent_bidi_streams,
            ),
            (
                "quic.max_concurrent_uni_streams",
                self.quic.max_concurrent_uni_streams,
            ),
        ];
        for (key, value) in nonzero {
            if value == 0 {
                return fail(key, "must be greater than 0".into());
            }
        }
        if self.cache.max_group_bytes > self.cache.max_bytes {
            return fail(
                "cache.max_group_bytes",
                format!(
                    "{} exceeds cache.max_bytes ({}): one group could not fit in the cache",
                    self.cache.max_group_bytes, self.cache.max_bytes
                ),
            );
        }
        if self.cache.max_live_per_session > self.cache.max_bytes {
            return fail(
                "cache.max_live_per_session",
                format!(
                    "{} exceeds cache.max_bytes ({}): a session's share is part of the cache",
                    self.cache.max_live_per_session, self.cache.max_bytes
                ),
            );
        }
        if self.limits.receive_per_session < self.limits.max_object_size {
            return fail(
                "limits.receive_per_session",
                format!(
                    "{} is less than limits.max_object_size ({}): such objects could never be \
                     received",
                    self.limits.receive_per_session, self.limits.max_object_size
                ),
            );
        }
        if self.limits.receive_total < self.limits.receive_per_session {
            return fail(
                "limits.receive_total",
                format!(
                    "{} is less than limits.receive_per_session ({})",
                    self.limits.receive_total, self.limits.receive_per_session
                ),
            );
        }
        if self.limits.max_object_size > self.cache.max_group_bytes {
            return fail(
                "limits.max_object_size",
                format!(
                    "{} exceeds cache.max_group_bytes ({}): such an object could never be cached",
                    self.limits.max_object_size, self.cache.max_group_bytes
                ),
            );
        }
        if limits.max_control_message > MAX_CONTROL_MESSAGE_LIMIT {
            return fail(
                "limits.max_control_message",
                format!(
                    "{} exceeds {MAX_CONTROL_MESSAGE_LIMIT} (a control message length is 16 bits)",
                    limits.max_control_message
                ),
            );
        }
        if limits.max_namespace_fields > MAX_NAMESPACE_FIELDS_LIMIT {
            return fail(
                "limits.max_namespace_fields",
                format!(
                    "{} exceeds {MAX_NAMESPACE_FIELDS_LIMIT} (the draft-18 maximum)",
                    limits.max_namespace_fields
                ),
            );
        }

        let quic = &self.quic;
        for (key, value) in [
            ("quic.stream_receive_window", quic.stream_receive_window),
            ("quic.receive_window", quic.receive_window),
            ("quic.send_window", quic.send_window),
            (
                "quic.max_concurrent_bidi_streams",
                quic.max_concurrent_bidi_streams,
            ),
            (
                "quic.max_concurrent_uni_streams",
                quic.max_concurrent_uni_streams,
            ),
        ] {
            if value > QUIC_VARINT_MAX {
                return fail(
                    key,
                    format!("{value} exceeds the QUIC maximum {QUIC_VARINT_MAX}"),
                );
            }
        }
        if !quic.keep_alive.is_zero() && quic.keep_alive >= quic.idle_timeout {
            let (keep_alive, idle_timeout) = (
                format_duration(quic.keep_alive),
                format_duration(quic.idle_timeout),
            );
            // Blame the one the operator set, the keep-alive when both were.
            return if origins.contains_key("quic.keep_alive")
                || !origins.contains_key("quic.idle_timeout")
            {
                fail(
                    "quic.keep_alive",
                    format!(
                        "{keep_alive} must be below quic.idle_timeout ({idle_timeout}) or the \
                         connection idles out; \"0s\" disables keep-alives"
                    ),
                )
            } else {
                fail(
                    "quic.idle_timeout",
                    format!(
                        "{idle_timeout} must be above quic.keep_alive ({keep_alive}) or the \
                         connection idles out"
                    ),
                )
            };
        }

        for url in &self.upstreams {
            if !matches!(url.scheme(), "https" | "moqt") {
                return fail(
                    "upstreams",
                    format!("{url}: scheme must be https (WebTransport) or moqt (raw QUIC)"),
                );
            }
            if url.host().is_none() {
                return fail("upstreams", format!("{url}: no host"));
            }
        }
        let plugin = &self.plugin;
        if plugin.file.is_none() && plugin.config_file.is_some() {
            return fail("plugin.config_file", "set without plugin.file".into());
        }
        if !(Duration::from_millis(100)..=Duration::from_secs(60))
            .contains(&self.upstream.idle_timeout)
        {
            return fail("upstream.idle_timeout", "must be 100ms to 60s".into());
        }
        if !(Duration::from_millis(1)..=Duration::from_secs(10)).contains(&plugin.deadline) {
            return fail("plugin.deadline", "must be 1ms to 10s".into());
        }
        if !(MIB..=1024 * MIB).contains(&plugin.max_memory) {
            return fail("plugin.max_memory", "must be 1 MiB to 1 GiB".into());
        }
        if !(1..=16).contains(&plugin.workers) {
            return fail("plugin.workers", "must be 1 to 16".into());
        }
        if !(1..=65_536).contains(&plugin.queue) {
            return fail("plugin.queue", "must be 1 to 65536".into());
        }
        if !(1..=10_000_000).contains(&plugin.record_max_calls) {
            return fail("plugin.record_max_calls", "must be 1 to 10000000".into());
        }
        for server in &self.upstream.dns_servers {
            if server.parse::<SocketAddr>().is_err() {
                return fail(
                    "upstream.dns_servers",
                    format!("{server:?} is not an address and port such as 10.0.0.2:53"),
                );
            }
        }
        for hash in &self.upstream.cert_hashes {
            if tern_quic::Fingerprint::from_hex(hash).is_none() {
                return fail(
                    "upstream.cert_hashes",
                    format!("{hash:?} is not a SHA-256 (64 hex digits, colons allowed)"),
                );
            }
        }
        Ok(())
    }
}

/// A duration's nanoseconds for the zero check (saturating; only zero matters).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl LogFormat {
    /// The name used in TOML, the environment and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LogFormat {
    type Err = String;

    /// Accepts exactly what the TOML file accepts (for clap's `value_parser` and the environment).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        env::from_serde_str(s)
    }
}

impl Congestion {
    /// The name used in TOML and the environment.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bbr => "bbr",
            Self::Cubic => "cubic",
            Self::NewReno => "newreno",
        }
    }
}

impl fmt::Display for Congestion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Congestion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        env::from_serde_str(s)
    }
}

/// The known key or table name closest to `unknown`, if it is a likely typo.
fn closest<'a>(unknown: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(unknown, c), c))
        .filter(|&(d, c)| d <= 3 && d < c.len().max(unknown.len()) / 2 + 1)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over bytes (keys are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}
