//! LL-HLS served from a real relay node of this process (with its edge plugin when a test
//! needs one) over HTTP/1.1 on 127.0.0.1, fed by an origin publishing through the node's local
//! API: what viewers get, checked against what the node decides for MoQ viewers.
//!
//! The media is a synthetic 640x360 VP8 track at 30 fps whose frames say which variant and
//! frame they are (`A00000042…`), so that a segment's bytes tell its group and variant.

mod auth;
mod dvr;
pub(crate) mod http;
mod marked;
mod metrics;
mod reports;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tern_cmaf::Sample;
use tern_model::local::{Credentials, LocalApi};
use tern_moq::TrackNamespace;
use tern_origin::{Broadcast, Options, Target};
use tern_relay::config::Config;
use tern_relay::node::Node;
use tokio::task::JoinHandle;

pub(crate) use http::Answer;

use super::{Hls, HlsConfig, router};
use crate::ingest::trak;

/// Every wait of these tests.
pub(crate) const STEP: Duration = Duration::from_secs(10);
/// Frames per second of the synthetic video, at 90 kHz.
pub(crate) const FPS: u64 = 30;
const FRAME_TICKS: u64 = 90_000 / FPS;
/// Group IDs start here (then media time in milliseconds).
pub(crate) const GROUP_BASE: u64 = 1_000_000;

/// A node, its LL-HLS egress on an HTTP listener, and the origin publishing into it.
pub(crate) struct Setup {
    pub node: Node,
    pub hls: Hls,
    pub http: SocketAddr,
    server: JoinHandle<()>,
    origin: Option<JoinHandle<()>>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.server.abort();
        if let Some(o) = &self.origin {
            o.abort();
        }
    }
}

/// A plugin for the node: the crate's name (`token`, `watermark`) and its configuration.
pub(crate) struct Plugin {
    pub name: &'static str,
    pub config: String,
}

/// A node (with `plugin`) serving LL-HLS with `config` (a 1 s target duration unless told).
pub(crate) async fn start(plugin: Option<Plugin>, config: HlsConfig) -> Setup {
    // The process's metrics recorder, before anything is counted (as the node's admin port
    // installs it at start): the counts of every test of the process add up in it.
    tern_relay::admin::prometheus().expect("a metrics recorder");
    let mut c = Config::default();
    c.relay.bind = "127.0.0.1:0".parse().expect("address");
    c.admin.enabled = false;
    if let Some(p) = plugin {
        let file = temp_file(&format!("{}.json", p.name));
        std::fs::write(&file, p.config).expect("plugin config");
        c.plugin.file = Some(tern_edge_wasm::testing::plugin(p.name));
        c.plugin.config_file = Some(file);
        c.plugin.reload_interval = Duration::ZERO;
    }
    let node = tern_relay::run::start(&c).await.expect("node").0;
    let hls = Hls::new(node.local(), config);
    let (http, server) = serve(&hls).await;
    Setup {
        node,
        hls,
        http,
        server,
        origin: None,
    }
}

/// `hls`'s routes on an HTTP listener of 127.0.0.1: its address and task.
pub(crate) async fn serve(hls: &Hls) -> (SocketAddr, JoinHandle<()>) {
    let app = router(hls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let http = listener.local_addr().expect("address");
    let server = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    (http, server)
}

/// The HLS config of these tests: 1 s segments at most, a window of 3 s.
pub(crate) fn config() -> HlsConfig {
    HlsConfig {
        target_duration: 1,
        window: 3,
        idle_timeout: Duration::from_secs(2),
        ..HlsConfig::default()
    }
}

fn temp_file(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("tern-hls-{}-{n}-{name}", std::process::id()))
}

/// What the origin publishes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stream {
    /// Two variants (A and B) of the video, watermarked.
    pub watermark: bool,
    /// Frames per group.
    pub gop: u64,
    /// Heights of the renditions (ignored when watermarked: one 360p).
    pub heights: &'static [u16],
}

/// The payload of frame `n` of variant `letter` (`A`, `B`; `V` unmarked).
pub(crate) fn frame_data(letter: char, n: u64) -> Bytes {
    Bytes::from(format!("{letter}{n:08}").repeat(8))
}

/// The variant letter (`A`, `B`) the watermark plugin configured with `key` and `group_ms`
/// picks for `viewer` (its token) and a group.
pub(crate) fn watermark_rule(key: &str, group_ms: u64) -> impl Fn(&str, u64) -> char {
    let code = tern_watermark::Code::new(tern_watermark::Params {
        key: key.into(),
        id_bits: 16,
        length: 64,
        group_ms,
    })
    .expect("code");
    move |viewer, group| match code.variant(code.viewer_id(viewer), group) {
        0 => 'A',
        _ => 'B',
    }
}

/// The group of frame `n` (a GOP's first frame).
pub(crate) fn group_of_frame(n: u64) -> u64 {
    GROUP_BASE + n * FRAME_TICKS * 1000 / 90_000
}

/// The frames a segment or part holds, by the marks in their payloads: (variant letter,
/// frame), in order.
pub(crate) fn frames_in(bytes: &[u8]) -> Vec<(char, u64)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 9 <= bytes.len() {
        let letter = bytes[at] as char;
        let digits = &bytes[at + 1..at + 9];
        if matches!(letter, 'A' | 'B' | 'V') && digits.iter().all(u8::is_ascii_digit) {
            let n: u64 = std::str::from_utf8(digits)
                .ok()
                .and_then(|d| d.parse().ok())
                .unwrap_or(u64::MAX);
            if out.last() != Some(&(letter, n)) {
                out.push((letter, n));
            }
            at += 9;
        } else {
            at += 1;
        }
    }
    out
}

impl Setup {
    /// Publish `stream` as `namespace` from the node's own process, at 30 frames a second.
    pub fn publish(&mut self, namespace: &str, stream: Stream) {
        let api = self.node.local();
        let ns = TrackNamespace::from_path(namespace);
        self.origin = Some(tokio::spawn(origin(api, ns, stream)));
    }

    /// `GET path` (its whole answer within [`STEP`]).
    pub async fn get(&self, path: &str) -> Answer {
        get(self.http, path).await
    }

    /// `GET path` until it answers 200 (within [`STEP`]).
    pub async fn get_ok(&self, path: &str) -> Answer {
        let deadline = Instant::now() + STEP;
        loop {
            let a = self.get(path).await;
            if a.status == 200 {
                return a;
            }
            assert!(
                Instant::now() < deadline,
                "GET {path}: {} {}",
                a.status,
                a.text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The media playlist at `path` once it lists at least `segments` complete segments.
    pub async fn playlist_with(&self, path: &str, segments: usize) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let text = self.get_ok(path).await.text();
            if segment_uris(&text).len() >= segments {
                return text;
            }
            assert!(Instant::now() < deadline, "{segments} segments: {text}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn origin(api: LocalApi, ns: TrackNamespace, stream: Stream) {
    let credentials = Credentials::member("test-origin");
    let tracks = if stream.watermark {
        vec![trak::vp8(1, 640, 360), trak::vp8(2, 640, 360)]
    } else {
        stream
            .heights
            .iter()
            .enumerate()
            .map(|(i, h)| trak::vp8(i as u32 + 1, h * 16 / 9, *h))
            .collect()
    };
    let letters: Vec<char> = match stream.watermark {
        true => vec!['A', 'B'],
        false => vec!['V'; tracks.len()],
    };
    let options = Options {
        group_base: Some(GROUP_BASE),
        watermark: stream.watermark,
        ..Options::default()
    };
    let mut broadcast = Broadcast::start(Target::Node(&api, &credentials), ns, tracks, &options)
        .await
        .expect("the origin publishes");
    let start = tokio::time::Instant::now();
    for n in 0.. {
        for (i, letter) in letters.iter().enumerate() {
            let sample = Sample {
                track: i as u32 + 1,
                dts: n * FRAME_TICKS,
                duration: FRAME_TICKS as u32,
                cts_offset: 0,
                keyframe: n % stream.gop == 0,
                timescale: 90_000,
                data: frame_data(*letter, n),
            };
            broadcast.push(&sample).expect("a sample");
        }
        tokio::time::sleep_until(start + Duration::from_millis((n + 1) * 1000 / FPS)).await;
    }
}

/// `GET path` over HTTP/1.1.
pub(crate) async fn get(addr: SocketAddr, path: &str) -> Answer {
    http::get(addr, path, STEP).await
}

/// The complete segments' URIs of a media playlist, in order.
pub(crate) fn segment_uris(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The `URI` attributes of the lines starting with `tag`, in order.
pub(crate) fn tag_uris(playlist: &str, tag: &str) -> Vec<String> {
    playlist
        .lines()
        .filter(|l| l.starts_with(tag))
        .filter_map(|l| {
            let from = l.find("URI=\"")? + 5;
            let len = l[from..].find('"')?;
            Some(l[from..from + len].to_owned())
        })
        .collect()
}

/// The first variant's media playlist path of the multivariant playlist at `index` (a path
/// with its query).
pub(crate) fn first_variant(index: &str, multivariant: &str) -> String {
    let uri = multivariant
        .lines()
        .skip_while(|l| !l.starts_with("#EXT-X-STREAM-INF:"))
        .nth(1)
        .unwrap_or_else(|| panic!("a variant: {multivariant}"));
    resolve(index, uri)
}

/// `uri` relative to `base` (a path, with or without a query).
pub(crate) fn resolve(base: &str, uri: &str) -> String {
    let base = base.split('?').next().unwrap_or(base);
    let mut dir: Vec<&str> = base.split('/').collect();
    dir.pop();
    let (path, query) = match uri.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (uri, None),
    };
    for seg in path.split('/') {
        match seg {
            ".." => {
                dir.pop();
            }
            "." => {}
            s => dir.push(s),
        }
    }
    let joined = dir.join("/");
    match query {
        Some(q) => format!("{joined}?{q}"),
        None => joined,
    }
}

/// Log lines of this process's LL-HLS egress (`tern_gateway::hls` at info), captured once
/// for every test of the crate.
pub(crate) fn logs() -> Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("tern_gateway::hls=info"))
            .with_ansi(false)
            .with_writer(logs.clone())
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        logs
    })
    .clone()
}

/// Captured log lines.
#[derive(Clone, Default)]
pub(crate) struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// The lines captured so far that contain every one of `words`.
    pub fn lines_with(&self, words: &[&str]) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.0.lock().expect("logs")).into_owned();
        text.lines()
            .filter(|l| words.iter().all(|w| l.contains(w)))
            .map(str::to_owned)
            .collect()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}
