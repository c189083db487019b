//! RTMP in: what a publisher asks for (the app and stream key of `rtmp://HOST/APP/KEY`), the
//! answers it gets in RTMP's own terms, and the listener that feeds its FLV tags into the node
//! ([`serve`]).
//!
//! The broadcast is `APP/KEY` without the key's query: `rtmp://host/live/cam1?jwt=TOKEN` (OBS:
//! server `rtmp://host/live`, stream key `cam1?jwt=TOKEN`) publishes `live/cam1` with `TOKEN`
//! for the edge plugin. Refusals are `onStatus` errors OBS and ffmpeg show:
//! `NetStream.Publish.Unauthorized` when the plugin or the trust rules refuse,
//! `NetStream.Publish.BadName` otherwise (a name in use, a bad name, a full node), each with
//! its reason; playback (`play`) is refused with `NetStream.Play.Failed`: tern plays over MoQ,
//! LL-HLS and WHEP.

mod listener;

pub use listener::{RtmpServer, serve};

use std::net::SocketAddr;

use crate::srt::streamid::MAX_SEGMENTS;

/// The query keys a token may ride in (`?jwt=`, `?token=`).
pub const TOKEN_KEYS: [&str; 2] = ["jwt", "token"];

/// The RTMP listener's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The TCP address it listens on.
    pub bind: SocketAddr,
    /// Publishers at most at once.
    pub max_publishers: usize,
}

impl Config {
    /// Listen on `bind` for at most 1,000 publishers.
    pub fn new(bind: SocketAddr) -> Self {
        Self {
            bind,
            max_publishers: 1000,
        }
    }
}

/// What a publish request asks for.
#[derive(Clone, PartialEq, Eq)]
pub struct Publish {
    /// The broadcast's path, `live/cam1`.
    pub path: String,
    /// The token from the stream key's query, if any.
    pub token: Option<String>,
}

impl std::fmt::Debug for Publish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publish")
            .field("path", &self.path)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Read `app` and `stream_key` as a broadcast path and a token; the error is the reason for a
/// `NetStream.Publish.BadName` (never quoting a token).
pub fn publish_request(app: &str, stream_key: &str) -> Result<Publish, String> {
    let (key, query) = stream_key.split_once('?').unwrap_or((stream_key, ""));
    let (app, app_query) = app.split_once('?').unwrap_or((app, ""));
    let mut token = None;
    for pair in query.split('&').chain(app_query.split('&')) {
        if let Some((k, v)) = pair.split_once('=')
            && TOKEN_KEYS.contains(&k)
            && !v.is_empty()
        {
            token = Some(v.to_owned());
        }
    }
    let path = format!("{}/{}", app.trim_matches('/'), key.trim_matches('/'));
    let fields: Vec<&str> = path.split('/').collect();
    if app.trim_matches('/').is_empty() || key.trim_matches('/').is_empty() {
        return Err(
            "the URL names no broadcast: publish to rtmp://HOST/APP/NAME (OBS: server \
                    rtmp://HOST/APP, stream key NAME)"
                .into(),
        );
    }
    if fields.iter().any(|f| f.is_empty()) {
        return Err("the broadcast path has an empty segment".into());
    }
    if fields.len() > MAX_SEGMENTS {
        return Err(format!(
            "the broadcast path has over {MAX_SEGMENTS} segments"
        ));
    }
    if path.len() > 1024 || path.bytes().any(|b| b.is_ascii_control()) {
        return Err("the broadcast path is too long or holds a control character".into());
    }
    Ok(Publish { path, token })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_and_key_name_the_broadcast_and_the_query_carries_the_token() {
        let p = publish_request("live", "cam1?jwt=SECRET").unwrap();
        assert_eq!(p.path, "live/cam1");
        assert_eq!(p.token.as_deref(), Some("SECRET"));
        assert!(!format!("{p:?}").contains("SECRET"));
        let p = publish_request("live/", "/studio/cam2").unwrap();
        assert_eq!(p.path, "live/studio/cam2");
        assert_eq!(p.token, None);
        let p = publish_request("live?token=T", "cam1").unwrap();
        assert_eq!(p.token.as_deref(), Some("T"));
    }

    #[test]
    fn a_url_without_a_name_is_a_bad_name_that_says_what_to_do() {
        let e = publish_request("live", "").unwrap_err();
        assert!(e.contains("rtmp://HOST/APP/NAME"), "{e}");
        assert!(publish_request("", "cam1").is_err());
        assert!(publish_request("live", "a//b").is_err());
        let e = publish_request("live", "x\u{1}?jwt=SECRET").unwrap_err();
        assert!(!e.contains("SECRET"));
    }
}
