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
//!   instead of `public` when the viewer's URI carries a query of its own (a token).
//! - CORS: `Access-Control-Allow-Origin: *` on every answer.
//! - The viewer's query, Delivery Directives (`_HLS_*`) removed, rides on every URI the
//!   playlists name; its `token` goes to the node as the viewer's credentials.

use std::net::SocketAddr;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use tern_model::local::Credentials;

use super::catalog::multivariant;
use super::feed::Feed;
use super::path::{self, File, RenditionUris, Resource};
use super::reload::{Answer, PartAnswer, ReloadRequest, decide, decide_part};
use super::render::{RenderOptions, RenditionReport};
use super::serve::{Failure, Hls};
use super::text::QuerySuffix;

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

/// What one request carries besides its path.
pub(super) struct Viewer {
    pub credentials: Credentials,
    pub query: QuerySuffix,
    pub reload: ReloadRequest,
    pub private: bool,
    pub received: Instant,
}

async fn serve(State(hls): State<Hls>, request: Request) -> Response {
    let received = Instant::now();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)), |c| c.0);
    let uri = request.uri();
    let Some(rest) = uri.path().strip_prefix("/hls/") else {
        return failure(&Failure::new(404, "not an HLS path"));
    };
    let resource = match path::parse(rest) {
        Ok(r) => r,
        Err(e) => return failure(&Failure::new(404, e.0)),
    };
    let viewer = match viewer(uri.query().unwrap_or(""), peer, received) {
        Ok(v) => v,
        Err(f) => return failure(&f),
    };
    let answer = match resource {
        Resource::Multivariant { namespace } => {
            multivariant_playlist(&hls, &namespace, &viewer).await
        }
        Resource::Rendition {
            namespace,
            track,
            file,
        } => rendition(&hls, &namespace, &track, file, &viewer).await,
    };
    answer.unwrap_or_else(|f| failure(&f))
}

/// The viewer's query: its Delivery Directives, the rest to carry on, its token.
pub(super) fn viewer(query: &str, peer: SocketAddr, received: Instant) -> Result<Viewer, Failure> {
    let reload = ReloadRequest::parse(query).map_err(|e| Failure::new(400, e.to_string()))?;
    let mut token = None;
    let carried: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("_HLS_"))
        .inspect(|pair| {
            if let Some(value) = pair.strip_prefix("token=") {
                token = Some(value.to_owned());
            }
        })
        .collect();
    let query =
        QuerySuffix::new(&carried.join("&")).map_err(|e| Failure::new(400, e.to_string()))?;
    Ok(Viewer {
        credentials: Credentials {
            peer,
            token,
            via: "hls",
            member: false,
        },
        private: !query.is_empty(),
        query,
        reload,
        received,
    })
}

async fn multivariant_playlist(
    hls: &Hls,
    namespace: &str,
    viewer: &Viewer,
) -> Result<Response, Failure> {
    let list = hls.catalog(namespace, &viewer.credentials).await?;
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
    let feed = hls.feed(namespace, track, &viewer.credentials).await?;
    let deadline = viewer.received + hls.config().wait();
    let media_type = if feed.audio { "audio/mp4" } else { "video/mp4" };
    let bytes = match file {
        File::Media => return media_playlist(hls, namespace, track, &feed, viewer).await,
        File::CurrentInit => {
            let init = wait_for(&feed, deadline, |s| Ok(s.current_init().map(|(_, b)| b))).await?;
            return Ok(media(init, media_type, "max-age=2", viewer.private));
        }
        File::Init(id) => {
            let init = with(&feed, |s| s.init(id))?;
            init.ok_or_else(|| Failure::new(404, "no such init section"))?
        }
        File::Segment(msn) => with(&feed, |s| s.segment(msn))?
            .ok_or_else(|| Failure::new(404, "no such segment in the window"))?,
        File::Part(msn, index) => {
            wait_for(&feed, deadline, |s| {
                match decide_part(s.playlist(), msn, index) {
                    PartAnswer::Ready => s
                        .part(msn, index)
                        .map(Some)
                        .ok_or_else(|| Failure::new(404, "the part is no longer kept")),
                    PartAnswer::Hold => Ok(None),
                    PartAnswer::NotFound => Err(Failure::new(404, "no such part in the window")),
                }
            })
            .await?
        }
    };
    let cache = match file {
        File::Init(_) => "max-age=86400, immutable",
        _ => "max-age=300",
    };
    Ok(media(bytes, media_type, cache, viewer.private))
}

/// Serves a media playlist, holding a blocking reload until the playlist has what it asks.
async fn media_playlist(
    hls: &Hls,
    namespace: &str,
    track: &str,
    feed: &Feed,
    viewer: &Viewer,
) -> Result<Response, Failure> {
    let reports: Vec<RenditionReport> = hls
        .others(namespace, track)
        .iter()
        .filter_map(|(name, other)| {
            let state = other.state.lock().ok()?;
            RenditionReport::of(state.playlist(), path::media_from_media(name))
        })
        .collect();
    let first_wait = viewer.received + hls.config().wait();
    let mut changed = feed.changed.subscribe();
    loop {
        if let Some(reason) = feed.failed.lock().ok().and_then(|f| f.clone()) {
            return Err(Failure::new(404, reason));
        }
        let now = Instant::now();
        let (answer, text) = {
            let state = feed
                .state
                .lock()
                .map_err(|_| Failure::new(500, "hls state poisoned"))?;
            let playlist = state.playlist();
            let answer = if playlist.last_part().is_none() && !playlist.is_ended() {
                // Nothing to list yet: wait for the first part as for a blocking reload.
                if now < first_wait {
                    Answer::Wait {
                        deadline: first_wait,
                    }
                } else {
                    Answer::Unavailable
                }
            } else {
                decide(&viewer.reload, playlist, viewer.received, now)
            };
            let text = (answer == Answer::Now).then(|| {
                playlist.render(
                    &RenditionUris,
                    &RenderOptions {
                        skip: viewer.reload.skip,
                        reports: &reports,
                        query: &viewer.query,
                    },
                )
            });
            (answer, text)
        };
        match (answer, text) {
            (Answer::Now, Some(text)) => {
                let cache = if viewer.reload.msn.is_some() {
                    format!("max-age={}", hls.config().target_duration)
                } else {
                    "max-age=1".to_owned()
                };
                return Ok(playlist_response(text, &cache, viewer.private));
            }
            (Answer::Wait { deadline }, _) => {
                let deadline = tokio::time::Instant::from_std(deadline);
                // A change or the deadline: decide again either way.
                let _ = tokio::time::timeout_at(deadline, changed.changed()).await;
            }
            (Answer::BadRequest(refusal), _) => return Err(Failure::new(400, refusal.to_string())),
            _ => return Err(Failure::new(503, "the playlist did not get there in time")),
        }
    }
}

/// Runs `f` on the segmenter.
fn with<T>(feed: &Feed, f: impl FnOnce(&super::segmenter::Segmenter) -> T) -> Result<T, Failure> {
    let state = feed
        .state
        .lock()
        .map_err(|_| Failure::new(500, "hls state poisoned"))?;
    Ok(f(&state))
}

/// Asks `f` until it has an answer (`Ok(None)`: not yet), after every change, until `deadline`
/// (then 503).
async fn wait_for<T>(
    feed: &Feed,
    deadline: Instant,
    f: impl Fn(&super::segmenter::Segmenter) -> Result<Option<T>, Failure>,
) -> Result<T, Failure> {
    let mut changed = feed.changed.subscribe();
    loop {
        if let Some(found) = with(feed, &f)?? {
            return Ok(found);
        }
        if Instant::now() >= deadline {
            return Err(Failure::new(503, "not there in time"));
        }
        let deadline = tokio::time::Instant::from_std(deadline);
        let _ = tokio::time::timeout_at(deadline, changed.changed()).await;
    }
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
    let r = (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", f.reason),
    )
        .into_response();
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
