//! RTMP in: what a publisher asks for (the app and stream key of `rtmp://HOST/APP/KEY`), the
//! answers it gets in RTMP's own terms, and the listener that feeds its FLV tags into the node
//! ([`serve`]).
//!
//! The broadcast is `APP/KEY` without the key's query: `rtmp://host/live/cam1?jwt=TOKEN` (OBS:
//! server `rtmp://host/live`, stream key `cam1?jwt=TOKEN`) publishes `live/cam1` with `TOKEN`
//! for the edge plugin; `?key=KEY` carries a static stream key ([`crate::keys`]). Refusals are
//! `onStatus` errors OBS and ffmpeg show: `NetStream.Publish.Unauthorized` when a keyed path
//! gets no key or a wrong one, or the plugin or the trust rules refuse,
//! `NetStream.Publish.BadName` otherwise (a name in use, a bad name, a full node), each with
//! its reason; playback (`play`) is refused with `NetStream.Play.Failed`: tern plays over MoQ,
//! LL-HLS and WHEP.

mod listener;

pub use listener::{RtmpServer, serve};

use std::net::SocketAddr;

use crate::keys::SharedKeys;
use crate::srt::streamid::MAX_SEGMENTS;

/// The query keys a token may ride in (`?jwt=`, `?token=`).
pub const TOKEN_KEYS: [&str; 2] = ["jwt", "token"];

/// The query key a static stream key rides in (`?key=`).
pub const STREAM_KEY: &str = "key";

/// How a publisher gives a stream key, for a refusal.
pub const KEY_HINT: &str = "publish to rtmp://HOST/APP/NAME?key=KEY (OBS: stream key NAME?key=KEY)";

/// The RTMP listener's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The TCP address it listens on.
    pub bind: SocketAddr,
    /// Publishers at most at once.
    pub max_publishers: usize,
    /// The stream keys in force (`[ingest] keys_file`).
    pub stream_keys: SharedKeys,
    /// RTMPS: TLS with this configuration before RTMP (`None`: plain RTMP).
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
}

impl Config {
    /// Listen on `bind` for at most 1,000 publishers, with no stream keys.
    pub fn new(bind: SocketAddr) -> Self {
        Self {
            bind,
            max_publishers: 1000,
            stream_keys: SharedKeys::default(),
            tls: None,
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
    /// The static stream key from its query ([`STREAM_KEY`]), if any.
    pub key: Option<String>,
}

impl std::fmt::Debug for Publish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publish")
            .field("path", &self.path)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Read `app` and `stream_key` as a broadcast path, a token and a static stream key; the
/// error is the reason for a `NetStream.Publish.BadName` (never quoting a token or a key).
pub fn publish_request(app: &str, stream_key: &str) -> Result<Publish, String> {
    let (key, query) = stream_key.split_once('?').unwrap_or((stream_key, ""));
    let (app, app_query) = app.split_once('?').unwrap_or((app, ""));
    let mut token = None;
    let mut static_key = None;
    for pair in query.split('&').chain(app_query.split('&')) {
        let Some((k, v)) = pair.split_once('=').filter(|(_, v)| !v.is_empty()) else {
            continue;
        };
        if TOKEN_KEYS.contains(&k) {
            token = Some(v.to_owned());
        } else if k == STREAM_KEY {
            static_key = Some(v.to_owned());
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
    Ok(Publish {
        path,
        token,
        key: static_key,
    })
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
        // OBS's stream key `cam1?key=K`, a token beside it.
        let p = publish_request("live", "cam1?key=S3CRET-KEY&jwt=T").unwrap();
        assert_eq!(
            (p.path.as_str(), p.key.as_deref()),
            ("live/cam1", Some("S3CRET-KEY"))
        );
        assert_eq!(p.token.as_deref(), Some("T"));
        assert!(!format!("{p:?}").contains("S3CRET"));
    }

    /// An Enhanced RTMP client's `connect`: the usual command object plus `fourCcList`, the
    /// codecs it offers (an AMF0 strict array), as FFmpeg's `-rtmp_enhanced_codecs` and OBS
    /// send it.
    #[test]
    fn a_connect_that_offers_enhanced_rtmp_codecs_is_taken() {
        use rml_rtmp::chunk_io::ChunkSerializer;
        use rml_rtmp::messages::RtmpMessage;
        use rml_rtmp::rml_amf0::Amf0Value;
        use rml_rtmp::sessions::ServerSessionResult as R;
        use rml_rtmp::sessions::{ServerSession, ServerSessionConfig, ServerSessionEvent};
        use rml_rtmp::time::RtmpTimestamp;

        let fourccs = ["av01", "hvc1", "Opus"].map(|c| Amf0Value::Utf8String(c.into()));
        let object = [
            ("app", Amf0Value::Utf8String("live".into())),
            (
                "tcUrl",
                Amf0Value::Utf8String("rtmp://127.0.0.1/live".into()),
            ),
            ("fourCcList", Amf0Value::StrictArray(fourccs.to_vec())),
        ];
        let connect = RtmpMessage::Amf0Command {
            command_name: "connect".into(),
            transaction_id: 1.0,
            command_object: Amf0Value::Object(
                object.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            ),
            additional_arguments: Vec::new(),
        };
        let payload = connect
            .into_message_payload(RtmpTimestamp::new(0), 0)
            .expect("payload");
        let packet = ChunkSerializer::new()
            .serialize(&payload, true, false)
            .expect("chunks");
        let (mut session, _) = ServerSession::new(ServerSessionConfig::new()).expect("session");
        let results = session
            .handle_input(&packet.bytes)
            .expect("a connect with fourCcList");
        let app = results.into_iter().find_map(|r| match r {
            R::RaisedEvent(ServerSessionEvent::ConnectionRequested { app_name, .. }) => {
                Some(app_name)
            }
            _ => None,
        });
        assert_eq!(app.as_deref(), Some("live"));
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
