//! The node's one HTTP listener (`[http]`): WHIP (`POST /whip/NAME`, when `[whip]` is on),
//! LL-HLS (`GET /hls/NAME/index.m3u8`, when `[hls]` is on), WHEP (`POST /whep/NAME`, when
//! `[whep]` is on), the player, watch (`/watch/NAME`) and clock pages, and
//! the WHIP publish page (`/publish.html`), and MoQ sessions over WebSocket (QMux, a
//! `qmux-01.moqt-N` upgrade on any path: [`super::websocket`]). Plain HTTP on a loopback address only; elsewhere
//! HTTPS (see [`super::tls`]).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::http::{HeaderValue, header};
use axum::routing::get;
use tern::web::{self, PageConfig};
use tern_gateway::hls::{self, Hls, HlsConfig};
use tern_gateway::publish::Resumes;
use tern_gateway::whep::{self, WhepServer};
use tern_gateway::whip::{self, WhipServer};
use tern_relay::config::Config;
use tern_relay::node::Node;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The WHIP publish page (`/publish.html`).
pub const PUBLISH_HTML: &str = include_str!("../../web/publish.html");

/// The running HTTP listener; dropping it stops it and its WHIP sessions.
#[derive(Debug)]
pub struct Http {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The WebRTC listener (WHIP's UDP port), when `[whip]` or `[whep]` is on.
    pub whip: Option<Arc<WhipServer>>,
    /// WHEP, when `[whep]` is on.
    pub whep: Option<Arc<WhepServer>>,
    task: JoinHandle<()>,
}

impl Drop for Http {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Http {
    /// `scheme://addr`.
    pub fn base(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }
}

/// Start the listener `config.http` asks for in front of `node`; `None` when it is off. A
/// default address (unset `http.bind`) that is taken is a warning, not a failure.
pub async fn start(
    config: &Config,
    node: &Node,
    resumes: &Resumes,
    stream_keys: &tern_gateway::keys::SharedKeys,
) -> anyhow::Result<Option<Http>> {
    if !config.http.enabled {
        return Ok(None);
    }
    let bind = config
        .http
        .bind
        .unwrap_or_else(|| SocketAddr::new(config.relay.bind.ip(), node.addr.port()));
    let listener = match TcpListener::bind(bind).await {
        Ok(l) => l,
        Err(e) if config.http.bind.is_none() => {
            eprintln!(
                "HTTP listener not started: {bind} (the QUIC port over TCP) is taken: {e}; set \
                 [http] bind or --http"
            );
            return Ok(None);
        }
        Err(e) => return Err(e).with_context(|| format!("http.bind: cannot listen on {bind}")),
    };
    let addr = listener.local_addr()?;
    let whip = match config.whip.enabled || config.whep.enabled {
        false => None,
        true => {
            let udp = config
                .whip
                .udp
                .unwrap_or_else(|| SocketAddr::new(config.relay.bind.ip(), 0));
            let mut c = whip::Config::new(udp);
            c.advertise = config
                .whip
                .advertise
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect();
            c.keyframe_interval = config.whip.keyframe_interval;
            c.max_sessions = usize::try_from(config.whip.max_sessions).unwrap_or(usize::MAX);
            c.stream_keys = stream_keys.clone();
            let server = whip::serve(c, node.local(), Default::default(), resumes.clone())
                .await
                .with_context(|| format!("whip.udp: cannot bind {udp}"))?;
            Some(Arc::new(server))
        }
    };
    // The clock page plays the clock track; the player takes `?namespace=`. This listener takes
    // MoQ over WebSocket too: the player races it against WebTransport.
    let pages = PageConfig {
        websocket: true,
        ..PageConfig::clock(format!("https://{}", node.addr), node.fingerprint.to_hex())
    };
    let mut app = web::router(&pages).merge(web::watch_router()).route(
        "/publish.html",
        get(|| async {
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                )],
                PUBLISH_HTML,
            )
        }),
    );
    if let Some(w) = whip.as_ref().filter(|_| config.whip.enabled) {
        app = app.merge(whip::http::router(w.clone()));
    }
    let whep = match (&whip, config.whep.enabled) {
        (Some(w), true) => Some(Arc::new(WhepServer::new(w.clone(), whep_config(config)))),
        _ => None,
    };
    if let Some(w) = &whep {
        app = app.merge(whep::http::router(w.clone()));
        whep::metrics::describe();
    }
    if config.hls.enabled {
        app = app.merge(hls::router(Hls::new(node.local(), hls_config(config))));
        // Help texts of the LL-HLS metrics, beside the node's in `/metrics`.
        hls::describe();
    }
    // MoQ over WebSocket (QMux) on any path, for browsers without working WebTransport.
    let app = app.layer(axum::middleware::from_fn_with_state(
        node.acceptor(),
        super::websocket::upgrade,
    ));
    let scheme = super::tls::scheme(addr);
    let task = super::tls::serve(listener, app, config).await?;
    let http = Http {
        addr,
        scheme,
        whip,
        whep,
        task,
    };
    println!("HTTP listening on {} (pages, WHIP, LL-HLS)", http.base());
    println!("Watch: {}/watch/NAME", http.base());
    let subprotocols: Vec<String> = tern_relay::run::protocols(&config.relay.drafts)
        .iter()
        .map(|p| format!("qmux-01.{p}"))
        .filter(|s| tern_quic::websocket::moq_protocol(s).is_some())
        .collect();
    println!(
        "MoQ over WebSocket: {}/ (subprotocols {})",
        http.base().replacen("http", "ws", 1),
        subprotocols.join(", ")
    );
    if config.hls.enabled {
        println!("LL-HLS: GET {}/hls/NAME/index.m3u8", http.base());
    }
    if let Some(w) = http.whip.as_ref().filter(|_| config.whip.enabled) {
        println!(
            "WHIP ingest: POST {}/whip/NAME, media on udp {}",
            http.base(),
            w.udp_addr()
        );
    }
    if let (Some(w), Some(_)) = (&http.whip, &http.whep) {
        println!(
            "WHEP: POST {}/whep/NAME, media on udp {}",
            http.base(),
            w.udp_addr()
        );
    }
    Ok(Some(http))
}

/// WHEP's config from `[whep]` (validated by [`Config::load`]).
fn whep_config(config: &Config) -> whep::Config {
    let c = &config.whep;
    whep::Config {
        max_sessions: usize::try_from(c.max_sessions).unwrap_or(usize::MAX),
        ice_servers: c
            .ice_servers
            .iter()
            .map(|url| whep::IceServer {
                url: url.clone(),
                username: Some(c.ice_username.clone()).filter(|u| !u.is_empty()),
                credential: Some(c.ice_credential.clone()).filter(|p| !p.is_empty()),
            })
            .collect(),
        ..whep::Config::default()
    }
}

/// The LL-HLS egress's config from `[hls]` (validated by [`Config::load`]).
fn hls_config(config: &Config) -> HlsConfig {
    let defaults = HlsConfig::default();
    let target_duration = u32::try_from(config.hls.target_duration.as_secs())
        .unwrap_or(defaults.target_duration)
        .max(1);
    HlsConfig {
        target_duration,
        part_target_ms: u32::try_from(config.hls.part_target.as_millis())
            .unwrap_or(defaults.part_target_ms),
        // Twelve target durations: delta updates skip half of it.
        window: target_duration.saturating_mul(12),
        ..defaults
    }
}
