//! WHIP's HTTP side (RFC 9725 §4): an axum router for the node's HTTP listener, which must
//! serve it with `into_make_service_with_connect_info::<SocketAddr>()` (the publisher's address
//! is part of its credentials).
//!
//! - `POST /whip/{path}` with `Content-Type: application/sdp`: `201 Created`, the answer, and
//!   `Location: /whip-session/{id}`; `Authorization: Bearer TOKEN` goes to the edge plugin's
//!   publish phase. Refusals are the node's, as statuses: 403 (not allowed), 409 (another
//!   publisher holds the broadcast), 400 (a bad name or offer), 503 (full), each with the reason
//!   as text.
//! - `DELETE /whip-session/{id}`: the broadcast ends.
//! - `PATCH /whip-session/{id}`: `405` (neither trickle ICE nor ICE restarts are offered, so no
//!   `Accept-Patch` either; an ICE-lite endpoint's candidates are all in its answer).
//! - `OPTIONS`: `Accept-Post: application/sdp` and CORS, so a page on another origin publishes.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use tern_model::local::Credentials;

use super::{WhipError, WhipServer};

/// The largest offer accepted (a browser's offer with simulcast is a few KiB).
pub const MAX_OFFER: usize = 64 * 1024;

/// The session resource's path prefix.
pub const SESSION_PREFIX: &str = "/whip-session/";

/// The routes, for the node's HTTP listener.
pub fn router(whip: Arc<WhipServer>) -> Router {
    Router::new()
        .route("/whip/{*path}", post(publish).options(options))
        .route("/whip-session/{id}", any(session))
        .with_state(whip)
}

/// `r` with the CORS headers a page on another origin needs (WHIP's and WHEP's).
pub(crate) fn cors(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, DELETE, PATCH, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type, If-Match"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Location, ETag, Link, Tern-Audio-Inactive, Tern-Video-Ladder"),
    );
    r
}

/// A plain-text answer (a reason), with CORS.
pub(crate) fn text(status: StatusCode, body: String) -> Response {
    cors(
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            body + "\n",
        )
            .into_response(),
    )
}

fn error(e: &WhipError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    text(status, e.to_string())
}

async fn options() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut()
        .insert("accept-post", HeaderValue::from_static("application/sdp"));
    cors(r)
}

/// The bearer token of `Authorization`, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// The SDP offer and broadcast path of a `POST /{kind}/{path}` (`kind`: `whip`, `whep`), or
/// the answer refusing it (415, 413, 400).
pub(crate) fn read_offer<'a>(
    kind: &str,
    headers: &HeaderMap,
    body: &'a [u8],
    path: &'a str,
) -> Result<(&'a str, &'a str), Box<Response>> {
    let sdp_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().unwrap_or("").trim() == "application/sdp");
    if !sdp_type {
        return Err(Box::new(text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "a {} offer is Content-Type: application/sdp",
                kind.to_uppercase()
            ),
        )));
    }
    if body.len() > MAX_OFFER {
        return Err(Box::new(text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("an offer is at most {MAX_OFFER} bytes"),
        )));
    }
    let Ok(offer) = std::str::from_utf8(body) else {
        return Err(Box::new(text(
            StatusCode::BAD_REQUEST,
            "the offer is not UTF-8".into(),
        )));
    };
    let path = path.trim_matches('/');
    if path.is_empty() {
        return Err(Box::new(text(
            StatusCode::BAD_REQUEST,
            format!("POST /{kind}/NAME: the path names the broadcast"),
        )));
    }
    Ok((offer, path))
}

/// `201 Created` with an SDP answer and the session's `Location` (no CORS yet).
pub(crate) fn created(sdp: String, location: &str) -> Response {
    let mut r = (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/sdp")],
        sdp,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

async fn publish(
    State(whip): State<Arc<WhipServer>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (offer, path) = match read_offer("whip", &headers, &body, &path) {
        Ok(r) => r,
        Err(refusal) => return *refusal,
    };
    let credentials = Credentials {
        peer,
        token: bearer(&headers),
        via: "whip",
        member: false,
    };
    match whip.offer(path, credentials, offer).await {
        Ok(answer) => {
            let location = format!("{SESSION_PREFIX}{}", answer.id);
            cors(created(answer.sdp, &location))
        }
        Err(e) => error(&e),
    }
}

async fn session(
    State(whip): State<Arc<WhipServer>>,
    Path(id): Path<String>,
    method: axum::http::Method,
) -> Response {
    use axum::http::Method;
    match method {
        Method::DELETE => match whip.delete(&id) {
            Ok(()) => cors(StatusCode::OK.into_response()),
            Err(e) => error(&e),
        },
        Method::OPTIONS => options().await,
        _ if !whip.exists(&id) => error(&WhipError::NoSession),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc.def"),
        );
        assert_eq!(bearer(&h).as_deref(), Some("abc.def"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  x "),
        );
        assert_eq!(bearer(&h).as_deref(), Some("x"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic Zm9v"),
        );
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&h), None);
    }
}
