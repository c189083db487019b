//! WHEP's HTTP side: an axum router for the node's HTTP listener, which must serve it with
//! `into_make_service_with_connect_info::<SocketAddr>()` (the viewer's address is part of its
//! credentials).
//!
//! - `POST /whep/{path}` with `Content-Type: application/sdp`: `201 Created`, the answer,
//!   `Location: /whep-session/{id}`, and a `Link: <...>; rel="ice-server"` per configured
//!   STUN/TURN server. `Authorization: Bearer TOKEN` goes to the node's subscribe checks. An
//!   inactive audio section is explained in `Tern-Audio-Inactive`; the renditions the viewer may
//!   be moved between are listed in `Tern-Video-Ladder`. Refusals are statuses with the reason
//!   as text: 403 (not allowed), 404 (no such broadcast), 422 (nothing in it WebRTC can carry
//!   to this offer: B-frames, codecs), 400 (a bad offer), 503 (full).
//! - `DELETE /whep-session/{id}`: the session ends.
//! - `PATCH /whep-session/{id}`: `405` (ICE-lite: every candidate is in the answer).
//! - `OPTIONS`: `Accept-Post: application/sdp`, the `Link` headers, and CORS.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use tern_model::local::Credentials;

use super::{WhepError, WhepServer};
use crate::whip::http::{bearer, cors, created, read_offer, text};

/// The session resource's path prefix.
pub const SESSION_PREFIX: &str = "/whep-session/";
/// The header explaining an inactive audio section.
pub const AUDIO_INACTIVE: &str = "tern-audio-inactive";
/// The header listing the video renditions a viewer may be moved between.
pub const VIDEO_LADDER: &str = "tern-video-ladder";

/// The routes, for the node's HTTP listener.
pub fn router(whep: Arc<WhepServer>) -> Router {
    Router::new()
        .route("/whep/{*path}", post(watch).options(options))
        .route("/whep-session/{id}", any(session))
        .with_state(whep)
}

fn links(whep: &WhepServer, r: &mut Response) {
    for s in whep.ice_servers() {
        if let Ok(v) = HeaderValue::from_str(&s.link()) {
            r.headers_mut().append(header::LINK, v);
        }
    }
}

fn error(e: &WhepError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    text(status, e.to_string())
}

async fn options(State(whep): State<Arc<WhepServer>>) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut()
        .insert("accept-post", HeaderValue::from_static("application/sdp"));
    links(&whep, &mut r);
    cors(r)
}

async fn watch(
    State(whep): State<Arc<WhepServer>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (offer, path) = match read_offer("whep", &headers, &body, &path) {
        Ok(r) => r,
        Err(refusal) => return *refusal,
    };
    let credentials = Credentials {
        peer,
        token: bearer(&headers),
        via: "whep",
        member: false,
    };
    match whep.offer(path, credentials, offer).await {
        Ok(answer) => {
            let location = format!("{SESSION_PREFIX}{}", answer.id);
            let mut r = created(answer.sdp, &location);
            let h = r.headers_mut();
            if let Some(why) = &answer.audio_inactive
                && let Ok(v) = HeaderValue::from_str(why)
            {
                h.insert(AUDIO_INACTIVE, v);
            }
            if let Ok(v) = HeaderValue::from_str(&answer.ladder.join(", ")) {
                h.insert(VIDEO_LADDER, v);
            }
            links(&whep, &mut r);
            cors(r)
        }
        Err(e) => {
            if e.status() >= 500 || e.status() == 422 {
                tracing::warn!(%peer, "whep: {peer} watching {path}: {e}");
            } else {
                tracing::info!(%peer, "whep: refused {peer} watching {path}: {e}");
            }
            error(&e)
        }
    }
}

async fn session(
    State(whep): State<Arc<WhepServer>>,
    Path(id): Path<String>,
    method: Method,
) -> Response {
    match method {
        Method::DELETE => match whep.delete(&id) {
            Ok(()) => cors(StatusCode::OK.into_response()),
            Err(e) => error(&e),
        },
        Method::OPTIONS => options(State(whep)).await,
        _ if !whep.exists(&id) => error(&WhepError::NoSession),
        _ => {
            let mut r = text(
                StatusCode::METHOD_NOT_ALLOWED,
                "this endpoint offers neither trickle ICE nor ICE restarts".into(),
            );
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("DELETE, OPTIONS"));
            r
        }
    }
}
