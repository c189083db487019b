//! LL-HLS's HTTP side: an axum router for the node's HTTP listener, `GET /hls/...` (paths in
//! [`super::path`]).
//!
//! - Playlists are `application/vnd.apple.mpegurl`; init sections, segments and parts
//!   `video/mp4` (`audio/mp4` for an audio rendition).
//! - `Cache-Control`: segments and parts `max-age=300` (their URIs name one content: Media
//!   Sequence Numbers follow the broadcast's group IDs, see [`super::segmenter`]), numbered init
//!   sections a day (named by a hash of their bytes), `init.mp4` and the multivariant
//!   playlist 2 s, a media playlist without Delivery Directives 1 s, and an answered blocking
//!   reload one Target Duration (its query names the state it waited for, so a cache can only
//!   hand out a playlist at least that recent); refusals and 503s `no-store`. `private`
//!   instead of `public` when the viewer's URI carries a query of its own (a token), and for
//!   every answer of a rendition watermarked per viewer.
//! - CORS: `Access-Control-Allow-Origin: *` on every answer.
//! - The viewer's query, Delivery Directives (`_HLS_*`) removed, rides on every URI the
//!   playlists name; its `token` goes to the node as the viewer's credentials, and every
//!   request is judged by them ([`Hls::admit`]): 401 without a token, 403 with one the node
//!   refuses.
//! - A watermarked rendition `T` (see `watermark`): the viewer's playlist names, for
//!   each segment and its parts, the variant of its group the viewer gets
//!   (`../T.wm-b/seg-{msn}.m4s`); a variant's URI asked for by a viewer whose variant of that
//!   group is another is 403.

use std::net::SocketAddr;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use tern_watermark::split_variant;

use super::catalog::multivariant;
use super::files;
use super::metrics;
use super::path::{self, File, Resource};
use super::request::{Viewer, viewer};
use super::serve::{Failure, Hls};

/// The playlists' content type.
pub const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";

/// The routes, for the node's HTTP listener (served with or without connect info: the
/// viewer's address is part of its credentials when known).
pub fn router(hls: Hls) -> Router {
    Router::new()
        .route("/hls/{*path}", get(serve).options(options))
        .with_state(hls)
}

async fn options() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, OPTIONS"),
    );
    finish(r, "no-store", false)
}

async fn serve(State(hls): State<Hls>, request: Request) -> Response {
    let received = Instant::now();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)), |c| c.0);
    let (kind, response) = answer(&hls, request.uri(), peer, received).await;
    metrics::answered(kind, response.status().as_u16());
    response
}

/// The answer to a request for `uri`, and the request's kind (for `/metrics`).
async fn answer(
    hls: &Hls,
    uri: &Uri,
    peer: SocketAddr,
    received: Instant,
) -> (&'static str, Response) {
    let resource = match uri.path().strip_prefix("/hls/").map(path::parse) {
        Some(Ok(r)) => r,
        Some(Err(e)) => return ("other", failure(&Failure::new(404, e.0))),
        None => return ("other", failure(&Failure::new(404, "not an HLS path"))),
    };
    let query = uri.query().unwrap_or("");
    let kind = match &resource {
        Resource::Rendition { file, .. } => match file {
            File::Media if query.contains("_HLS_msn=") => "blocking_playlist",
            File::Media => "playlist",
            File::CurrentInit | File::Init(_) => "init",
            File::Segment(_) => "segment",
            File::Part(..) => "part",
        },
        Resource::Multivariant { .. } => "playlist",
    };
    let viewer = match viewer(query, peer, received) {
        Ok(v) => v,
        Err(f) => return (kind, failure(&f)),
    };
    let answer = match resource {
        Resource::Multivariant { namespace } => {
            multivariant_playlist(hls, &namespace, &viewer).await
        }
        Resource::Rendition {
            namespace,
            track,
            file,
        } => rendition(hls, &namespace, &track, file, &viewer).await,
    };
    match answer {
        Ok(response) => {
            hls.seen(&viewer.credentials, Instant::now());
            (kind, response)
        }
        Err(f) => (kind, failure(&f)),
    }
}

async fn multivariant_playlist(
    hls: &Hls,
    namespace: &str,
    viewer: &Viewer,
) -> Result<Response, Failure> {
    hls.admit(namespace, None, &viewer.credentials).await?;
    let list = hls.catalog(namespace).await?;
    let playlist = multivariant(&list, path::media_from_multivariant)
        .ok_or_else(|| Failure::new(404, "the broadcast has no audio or video track"))?;
    let text = playlist
        .render(&viewer.query)
        .map_err(|e| Failure::new(502, e.to_string()))?;
    Ok(playlist_response(text, "max-age=2", viewer.private))
}

async fn rendition(
    hls: &Hls,
    namespace: &str,
    track: &str,
    file: File,
    viewer: &Viewer,
) -> Result<Response, Failure> {
    // A watermark variant's segments and parts are named by its track (`T.wm-b`).
    let (rendition, named) = match split_variant(track.as_bytes()) {
        Some((base, v)) => (String::from_utf8_lossy(base).into_owned(), Some(v)),
        None => (track.to_owned(), None),
    };
    let admitted = hls
        .admit(namespace, Some(&rendition), &viewer.credentials)
        .await?;
    if named.is_some() {
        if !admitted.marked {
            return Err(Failure::new(
                403,
                format!("{track} is a watermark variant: viewers play {rendition} itself"),
            ));
        }
        if !matches!(file, File::Segment(_) | File::Part(..)) {
            return Err(Failure::new(
                404,
                "a watermark variant has segments and parts only",
            ));
        }
    }
    let feed = hls.feed(namespace, &rendition, &admitted).await?;
    // A marked rendition's answers are this viewer's alone.
    let private = viewer.private || feed.marked();
    if file == File::Media {
        let (text, cache) = files::media_playlist(hls, namespace, &feed, viewer, &admitted).await?;
        return Ok(playlist_response(text, &cache, private));
    }
    let deadline = viewer.received + hls.config().wait();
    let (bytes, cache) =
        files::media(hls, namespace, &feed, &admitted, named, file, deadline).await?;
    let media_type = if feed.audio { "audio/mp4" } else { "video/mp4" };
    Ok(media(bytes, media_type, cache, private))
}

fn playlist_response(text: String, cache: &str, private: bool) -> Response {
    let r = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, PLAYLIST_TYPE)],
        text,
    )
        .into_response();
    finish(r, cache, private)
}

fn media(bytes: Bytes, media_type: &'static str, cache: &str, private: bool) -> Response {
    let r = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, media_type)],
        Body::from(bytes),
    )
        .into_response();
    finish(r, cache, private)
}

fn failure(f: &Failure) -> Response {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", f.reason),
    )
        .into_response();
    if f.status == 401 {
        // The token rides in the query (`?token=`), as a bearer token.
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"tern\""),
        );
    }
    finish(r, "no-store", false)
}

/// Adds `Cache-Control` (with `public` or `private` unless `no-store`) and CORS.
pub(super) fn finish(mut r: Response, cache: &str, private: bool) -> Response {
    let cache = match cache {
        "no-store" => cache.to_owned(),
        _ if private => format!("private, {cache}"),
        _ => format!("public, {cache}"),
    };
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&cache) {
        h.insert(header::CACHE_CONTROL, v);
    }
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}
