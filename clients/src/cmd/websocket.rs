//! MoQ over WebSocket on the node's HTTP listener: a request to any path that asks to upgrade
//! to a WebSocket with a QMux subprotocol naming a MoQ draft (`qmux-01.moqt-22`, `-20`, `-18`) becomes a MoQ
//! session of the node, with the same limits, plugin and routing as one over QUIC; its path and
//! query carry the broadcast and any `?jwt=`, as a WebTransport URL's do. Browsers whose
//! WebTransport does not work (Safari, older Firefox) reach the relay this way. Every other
//! request goes on to the listener's routes.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use tern_quic::websocket::{SUBPROTOCOLS, accept, choose_subprotocol};
use tern_relay::node::Acceptor;

/// Whether `headers` ask for a WebSocket upgrade (RFC 6455 §4.2.1).
fn is_upgrade(headers: &HeaderMap) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "websocket")
}

/// The `Sec-WebSocket-Protocol` values offered.
fn offered(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

/// A refused upgrade: `status` with the reason, logged, and the connection closed after it.
fn refuse(status: StatusCode, why: String) -> Response {
    tracing::info!("websocket: refused: {why}");
    (status, [(header::CONNECTION, "close")], why).into_response()
}

/// The middleware: a MoQ WebSocket upgrade is answered here, anything else goes on.
pub async fn upgrade(
    State(node): State<Acceptor>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    if !is_upgrade(req.headers()) {
        return next.run(req).await;
    }
    let offered = offered(req.headers());
    if !offered.iter().any(|p| p.starts_with("qmux-")) {
        // Not a MoQ WebSocket: the routes decide.
        return next.run(req).await;
    }
    let Some(subprotocol) =
        choose_subprotocol(offered.iter().map(String::as_str), node.protocols())
    else {
        let speaks: Vec<&str> = SUBPROTOCOLS
            .iter()
            .copied()
            .filter(|s| choose_subprotocol([*s], node.protocols()).is_some())
            .collect();
        return refuse(
            StatusCode::BAD_REQUEST,
            format!(
                "{peer}: no WebSocket subprotocol in common: offered {}; this relay speaks {}",
                offered.join(", "),
                speaks.join(", ")
            ),
        );
    };
    if req.headers().get(header::SEC_WEBSOCKET_VERSION) != Some(&HeaderValue::from_static("13")) {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("{peer}: WebSocket version 13 only (Sec-WebSocket-Version)"),
        );
    }
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("{peer}: a WebSocket upgrade without Sec-WebSocket-Key"),
        );
    };
    // The QUIC listener's caps, counted together with its sessions.
    let slot = match node.admit(peer) {
        Ok(slot) => slot,
        Err(why) => return refuse(StatusCode::SERVICE_UNAVAILABLE, format!("{peer}: {why}")),
    };
    let accept_key = tern_quic::qmux::ws::tungstenite::handshake::derive_accept_key(key.as_bytes());
    // The session's URL, as a WebTransport CONNECT names it: its path and query matter.
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let url = url::Url::parse(&format!("https://{host}{path}")).ok();
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let session = accept(TokioIo::new(upgraded), subprotocol, peer, Some(slot)).await;
                tracing::debug!(%peer, path, "websocket: MoQ session over {subprotocol}");
                node.serve(session, url);
            }
            Err(e) => tracing::debug!(%peer, "websocket: the upgrade failed: {e}"),
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept_key)
        .header(header::SEC_WEBSOCKET_PROTOCOL, subprotocol)
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
