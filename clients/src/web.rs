//! The web pages that play MoQ in a browser: a small HTTP server for the clock page
//! `clock.html` and the media player `player.html`, both run by the bundle `player.js` (built
//! from `web/player/`, TypeScript), the relay's certificate fingerprint and the pages'
//! configuration.
//!
//! Routes: `/` (the clock page), `/player.html` and `/player.js` (the player; it
//! plays the broadcast named by the configuration's namespace, or by `?namespace=a/b`),
//! `/fingerprint` (the relay certificate's SHA-256 as hex, for WebTransport's
//! `serverCertificateHashes`) and `/config.json`
//! (`{"relay": URL, "namespace": "a/b", "track": NAME, "websocket": BOOL}`; `websocket`: this
//! server takes MoQ over WebSocket too, so the player races WebTransport against a WebSocket to
//! the page's own origin). The files are compiled in.
//!
//! The watch page, [`watch_router`]: `/watch/NAME` plays broadcast `NAME` the best way the
//! browser can (MoQ over WebTransport or a WebSocket to the page's origin, else WHEP, else
//! LL-HLS; `web/player/src/watch.ts`), for a listener that also serves MoQ over WebSocket, WHEP
//! and LL-HLS; `/watch.assets/hls.min.js` is the hls.js it uses.

use std::net::SocketAddr;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The page (`/`).
pub const CLOCK_HTML: &str = include_str!("../web/clock.html");
/// The player page (`/player.html`).
pub const PLAYER_HTML: &str = include_str!("../web/player.html");
/// The player bundle (`/player.js`), built by `npm run build` in `web/player/`.
pub const PLAYER_JS: &str = include_str!("../web/player.js");

/// The watch page (`/watch/NAME`), run by the player bundle.
pub const WATCH_HTML: &str = include_str!("../web/watch.html");
/// hls.js 1.7.4's `dist/hls.min.js` (`/watch.assets/hls.min.js`) behind a line naming its licence
/// (the file itself has none; see `web/vendor/README.md`).
pub const HLS_JS: &str = concat!(
    "/*! hls.js 1.7.4 | (c) 2017 Dailymotion | Apache-2.0 | https://github.com/video-dev/hls.js */\n",
    include_str!("../web/vendor/hls.min.js")
);
/// Where the watch page loads hls.js from.
pub const HLS_JS_PATH: &str = "/watch.assets/hls.min.js";

/// The namespace `moq-clock-ietf --publish` uses by default.
pub const DEFAULT_NAMESPACE: &str = "clock";
/// The track `moq-clock-ietf --publish` uses by default.
pub const DEFAULT_TRACK: &str = "now";

/// What the page subscribes to and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageConfig {
    /// WebTransport URL of the relay (`https://host:port`).
    pub relay_url: String,
    /// SHA-256 of the relay's certificate, hex (colons and case are accepted by the page).
    pub fingerprint_hex: String,
    /// Track namespace, fields joined by `/`.
    pub namespace: String,
    /// Track name.
    pub track: String,
    /// The server serving the page takes MoQ over WebSocket too (the relay's HTTP listener): the
    /// player races WebTransport against a WebSocket to the page's own origin.
    pub websocket: bool,
}

impl PageConfig {
    /// The clock track (`clock` / `now`) on `relay_url`.
    pub fn clock(relay_url: String, fingerprint_hex: String) -> Self {
        Self {
            relay_url,
            fingerprint_hex,
            namespace: DEFAULT_NAMESPACE.to_owned(),
            track: DEFAULT_TRACK.to_owned(),
            websocket: false,
        }
    }

    /// The body of `/config.json`.
    pub fn config_json(&self) -> String {
        serde_json::json!({
            "relay": self.relay_url,
            "namespace": self.namespace,
            "track": self.track,
            "websocket": self.websocket,
        })
        .to_string()
    }
}

/// The page server could not listen on its address.
#[derive(Debug, thiserror::Error)]
#[error("web page: cannot listen on {addr}: {source}")]
pub struct BindError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// Serve the clock page for `relay_url` on `bind` (port 0 picks one). Returns the bound
/// address and the server task (abort it to stop).
pub async fn serve(
    bind: SocketAddr,
    relay_url: String,
    fingerprint_hex: String,
) -> Result<(SocketAddr, JoinHandle<()>), BindError> {
    serve_page(bind, PageConfig::clock(relay_url, fingerprint_hex)).await
}

/// Serve the page with any track configuration.
pub async fn serve_page(
    bind: SocketAddr,
    config: PageConfig,
) -> Result<(SocketAddr, JoinHandle<()>), BindError> {
    let bound = |source| BindError { addr: bind, source };
    let listener = TcpListener::bind(bind).await.map_err(bound)?;
    let addr = listener.local_addr().map_err(bound)?;
    let app = router(&config);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "web page server stopped");
        }
    });
    Ok((addr, task))
}

/// The routes, for embedding in another server.
pub fn router(config: &PageConfig) -> Router {
    let fingerprint = format!("{}\n", config.fingerprint_hex);
    let config_json = config.config_json();
    Router::new()
        .route(
            "/",
            get(|| async { respond("text/html; charset=utf-8", CLOCK_HTML.to_owned()) }),
        )
        .route(
            "/clock.html",
            get(|| async { respond("text/html; charset=utf-8", CLOCK_HTML.to_owned()) }),
        )
        .route(
            "/player.html",
            get(|| async { respond("text/html; charset=utf-8", PLAYER_HTML.to_owned()) }),
        )
        .route(
            "/player.js",
            // Module scripts need a JavaScript MIME type.
            get(|| async { respond("text/javascript; charset=utf-8", PLAYER_JS.to_owned()) }),
        )
        .route(
            "/fingerprint",
            get(move || async move { respond("text/plain; charset=utf-8", fingerprint) }),
        )
        .route(
            "/config.json",
            get(move || async move { respond("application/json", config_json) }),
        )
}

/// The watch page's routes: `/watch/{*name}` (one page for every broadcast; it reads the name
/// from its URL) and hls.js. The page also needs [`router`]'s `/player.js`, `/config.json` and
/// `/fingerprint`, and the listener's `/whep/` and `/hls/`.
pub fn watch_router() -> Router {
    Router::new()
        .route(
            "/watch/{*name}",
            get(|| async { respond("text/html; charset=utf-8", WATCH_HTML.to_owned()) }),
        )
        .route(
            HLS_JS_PATH,
            get(|| async {
                (
                    [
                        (
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("text/javascript; charset=utf-8"),
                        ),
                        // Fixed for the binary's lifetime.
                        (
                            header::CACHE_CONTROL,
                            HeaderValue::from_static("public, max-age=3600"),
                        ),
                    ],
                    HLS_JS,
                )
            }),
        )
}

fn respond(content_type: &'static str, body: String) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // The fingerprint changes when the relay's certificate is renewed.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_json_is_escaped_json() {
        let c = PageConfig {
            relay_url: "https://127.0.0.1:4443".into(),
            fingerprint_hex: "ab".into(),
            namespace: "live/\"x\"".into(),
            track: "now".into(),
            websocket: true,
        };
        let v: serde_json::Value = serde_json::from_str(&c.config_json()).expect("json");
        assert_eq!(v["relay"], "https://127.0.0.1:4443");
        assert_eq!(v["namespace"], "live/\"x\"");
        assert_eq!(v["track"], "now");
        assert_eq!(v["websocket"], true);
    }

    #[test]
    fn assets_are_embedded() {
        assert!(CLOCK_HTML.contains("./player.js"));
        assert!(CLOCK_HTML.contains(r#"data-page="clock""#));
        assert!(PLAYER_HTML.contains("./player.js"));
        assert!(PLAYER_JS.contains("moqt-18"));
        // MoQ over a WebSocket: @moq/qmux is bundled.
        assert!(PLAYER_JS.contains("qmux-01"));
        // The watch page runs the bundle, which knows it and where hls.js is.
        assert!(WATCH_HTML.contains(r#"data-page="watch""#));
        assert!(WATCH_HTML.contains(r#"src="/player.js""#));
        assert!(PLAYER_JS.contains(r#"dataset.page === "watch""#));
        assert!(PLAYER_JS.contains(HLS_JS_PATH));
        assert!(HLS_JS.starts_with("/*! hls.js 1.7.4 |"));
        assert!(HLS_JS.contains(r#""1.7.4""#));
    }
}
