//! Whether an SRT caller may publish, decided from its stream ID, the listener's
//! configuration and the stream keys in force before the node is asked (sans-IO).

use std::time::Duration;

use super::RejectCode;
use super::streamid::{self, Mode, STREAM_KEY, StreamId};
use crate::keys::{self, SharedKeys, StreamKeys};

/// A passphrase required of the callers publishing under `path`.
#[derive(Clone, PartialEq, Eq)]
pub struct PathKey {
    /// A broadcast path (`live/cam1`), a prefix of paths ending in `/` (`live/`), or empty for
    /// every path. The longest match wins.
    pub path: String,
    /// The SRT passphrase, 10 to 79 characters (libsrt's bounds).
    pub passphrase: String,
    /// The AES key length in bytes (16, 24 or 32) the callers must use; `None` takes the
    /// caller's (libsrt's `pbkeylen` on the listener side).
    pub key_length: Option<u16>,
}

impl std::fmt::Debug for PathKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PathKey")
            .field("path", &self.path)
            .field("passphrase", &"<redacted>")
            .field("key_length", &self.key_length)
            .finish()
    }
}

impl PathKey {
    /// Whether the passphrase and key length are ones SRT accepts; the error says which is not.
    pub fn check(&self) -> Result<(), String> {
        if !(10..=79).contains(&self.passphrase.len()) {
            return Err(format!(
                "the passphrase for path {:?} is {} characters; SRT takes 10 to 79",
                self.path,
                self.passphrase.len()
            ));
        }
        if let Some(k) = self.key_length
            && ![16, 24, 32].contains(&k)
        {
            return Err(format!(
                "key_length {k} for path {:?}: SRT's AES keys are 16, 24 or 32 bytes",
                self.path
            ));
        }
        Ok(())
    }
}

/// The SRT listener's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The UDP address it listens on.
    pub bind: std::net::SocketAddr,
    /// The receive latency (TSBPD) it offers; a caller asking for more gets more.
    pub latency: Duration,
    /// Passphrases by path.
    pub keys: Vec<PathKey>,
    /// Publishers at most at once; the next is refused with `SRT_REJX_OVERLOAD`.
    pub max_publishers: usize,
    /// The stream keys in force (`[ingest] keys_file`).
    pub stream_keys: SharedKeys,
}

impl Config {
    /// Listen on `bind` with libsrt's default latency (120 ms), no passphrase and at most
    /// 1,000 publishers.
    pub fn new(bind: std::net::SocketAddr) -> Self {
        Self {
            bind,
            latency: Duration::from_millis(120),
            keys: Vec::new(),
            max_publishers: 1000,
            stream_keys: SharedKeys::default(),
        }
    }

    /// The passphrase rule for `resource`, if any.
    pub fn key_for(&self, resource: &str) -> Option<&PathKey> {
        self.keys
            .iter()
            .filter(|k| crate::keys::covers(&k.path, resource))
            .max_by_key(|k| k.path.len())
    }
}

/// Read a passphrases file: a TOML table of broadcast paths, each a passphrase or
/// `{ passphrase = "...", key_length = 16 | 24 | 32 }`. Errors name the file and the path.
pub fn parse_keys(file: &std::path::Path, text: &str) -> Result<Vec<PathKey>, String> {
    let at = |path: &str, message: String| format!("{}: {path:?}: {message}", file.display());
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("{}: {}", file.display(), e.message()))?;
    let mut keys = Vec::new();
    for (path, value) in table {
        let key = match value {
            toml::Value::String(passphrase) => PathKey {
                path: path.clone(),
                passphrase,
                key_length: None,
            },
            toml::Value::Table(t) => {
                let mut passphrase = None;
                let mut key_length = None;
                for (k, v) in t {
                    match (k.as_str(), v) {
                        ("passphrase", toml::Value::String(p)) => passphrase = Some(p),
                        ("key_length", toml::Value::Integer(n)) => {
                            key_length = Some(u16::try_from(n).unwrap_or(0));
                        }
                        (other, _) => {
                            return Err(at(
                                &path,
                                format!(
                                    "unknown key or wrong type {other:?} (passphrase is a string,                                      key_length 16, 24 or 32)"
                                ),
                            ));
                        }
                    }
                }
                PathKey {
                    passphrase: passphrase.ok_or_else(|| at(&path, "no passphrase".to_owned()))?,
                    path: path.clone(),
                    key_length,
                }
            }
            _ => {
                return Err(at(
                    &path,
                    "a passphrase string or a table with passphrase and key_length".to_owned(),
                ));
            }
        };
        key.check().map_err(|e| at(&path, e))?;
        keys.push(key);
    }
    Ok(keys)
}

/// A caller refused before the node is asked: the code it gets and why, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The reject code.
    pub code: RejectCode,
    /// Why, in words (never a credential).
    pub reason: String,
}

/// A caller that may go on to the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// What it asked for.
    pub stream_id: StreamId,
    /// The passphrase its connection must be encrypted with.
    pub key: Option<PathKey>,
    /// The stream key that admitted it, when its path is keyed.
    pub stream_key: Option<keys::Admitted>,
}

/// How a caller gives a stream key, for a refusal.
fn key_hint() -> String {
    format!("add {STREAM_KEY}=KEY to the stream ID (#!::r=PATH,m=publish,{STREAM_KEY}=KEY)")
}

/// Judge a caller by its stream ID (`None`: it sent none) and the stream keys in force.
pub fn admit(raw: Option<&str>, config: &Config, keys: &StreamKeys) -> Result<Admitted, Refusal> {
    let raw = raw.unwrap_or("");
    let stream_id = streamid::parse(raw).map_err(|e| Refusal {
        code: e.reject_code(),
        reason: e.to_string(),
    })?;
    if stream_id.mode != Mode::Publish {
        return Err(Refusal {
            code: RejectCode::BadMode,
            reason: format!(
                "{} asks to play over SRT ({}); SRT here is for publishing (m=publish); \
                 play over MoQ, LL-HLS or WHEP",
                stream_id.resource,
                match stream_id.mode {
                    Mode::Request => "m=request, the default of #!::",
                    _ => "m=bidirectional",
                }
            ),
        });
    }
    let path = &stream_id.resource;
    let stream_key = keys
        .judge(path, stream_id.key.as_deref())
        .map_err(|r| Refusal {
            code: RejectCode::Unauthorized,
            reason: format!("{path}: {}", r.reason(&key_hint())),
        })?;
    let key = config.key_for(path).cloned();
    Ok(Admitted {
        stream_id,
        key,
        stream_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> StreamKeys {
        StreamKeys::default()
    }

    fn config() -> Config {
        let mut c = Config::new("127.0.0.1:0".parse().unwrap());
        c.keys = vec![
            PathKey {
                path: "live/".into(),
                passphrase: "every live path".into(),
                key_length: None,
            },
            PathKey {
                path: "live/secret".into(),
                passphrase: "the secret one".into(),
                key_length: Some(32),
            },
        ];
        c
    }

    #[test]
    fn each_form_of_the_stream_id_publishes_and_the_longest_key_rule_wins() {
        let c = config();
        for raw in [
            "#!::r=live/cam1,m=publish",
            "publish:live/cam1",
            "live/cam1",
        ] {
            let a = admit(Some(raw), &c, &none()).unwrap();
            assert_eq!(a.stream_id.resource, "live/cam1");
            assert_eq!(a.key.unwrap().passphrase, "every live path");
        }
        let a = admit(Some("live/secret"), &c, &none()).unwrap();
        assert_eq!(a.key.unwrap().key_length, Some(32));
        assert!(admit(Some("other/x"), &c, &none()).unwrap().key.is_none());
    }

    #[test]
    fn playing_is_a_bad_mode_and_a_missing_stream_id_a_bad_request() {
        let c = config();
        for raw in [
            "#!::r=live/cam1",
            "#!::r=live/cam1,m=request",
            "read:live/cam1",
        ] {
            let r = admit(Some(raw), &c, &none()).unwrap_err();
            assert_eq!(r.code, RejectCode::BadMode, "{raw}");
            assert!(r.reason.contains("publishing"), "{}", r.reason);
        }
        assert_eq!(
            admit(None, &c, &none()).unwrap_err().code,
            RejectCode::BadRequest
        );
        let r = admit(
            Some("#!::r=live/a,m=publish,tern_token=SECRET,t=file"),
            &c,
            &none(),
        )
        .unwrap_err();
        assert_eq!(r.code, RejectCode::NotSupportedMedia);
        assert!(!r.reason.contains("SECRET"));
    }

    #[test]
    fn a_keyed_path_takes_callers_with_one_of_its_keys_only() {
        let c = config();
        let keys = StreamKeys::parse(
            std::path::Path::new("keys.toml"),
            "[[key]]\npath = \"live/\"\nkey = \"the-live-key-1\"\nname = \"cam\"\n",
        )
        .unwrap();
        let r = admit(Some("#!::r=live/cam1,m=publish"), &c, &keys).unwrap_err();
        assert_eq!(r.code, RejectCode::Unauthorized);
        assert!(r.reason.contains("tern_key=KEY"), "{}", r.reason);
        let r = admit(
            Some("#!::r=live/cam1,m=publish,tern_key=not-the-key-1"),
            &c,
            &keys,
        );
        let r = r.unwrap_err();
        assert_eq!(r.code, RejectCode::Unauthorized);
        assert!(!r.reason.contains("not-the-key-1"), "{}", r.reason);
        let a = admit(
            Some("#!::r=live/cam1,m=publish,tern_key=the-live-key-1"),
            &c,
            &keys,
        );
        let a = a.unwrap();
        assert_eq!(a.stream_key.unwrap().name.as_deref(), Some("cam"));
        // The passphrase rules still apply to a keyed path.
        assert_eq!(a.key.unwrap().passphrase, "every live path");
        // A path no rule covers is judged without a key.
        assert!(
            admit(Some("other/x"), &c, &keys)
                .unwrap()
                .stream_key
                .is_none()
        );
    }

    #[test]
    fn a_passphrases_file_names_the_file_and_path_of_a_mistake() {
        let f = std::path::Path::new("srt.toml");
        let keys = parse_keys(
            f,
            r#""live/" = "every live path"
"live/cam1" = { passphrase = "only cam one", key_length = 32 }"#,
        )
        .unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[1].key_length, Some(32));
        let e = parse_keys(f, r#""live/x" = "short""#).unwrap_err();
        assert!(
            e.starts_with("srt.toml: \"live/x\"") && e.contains("10 to 79"),
            "{e}"
        );
        assert!(!e.contains("short"), "{e}");
        let e = parse_keys(
            f,
            r#""live/x" = { passphrase = "long enough", key_len = 32 }"#,
        );
        assert!(e.unwrap_err().contains("key_len"));
    }

    #[test]
    fn passphrases_and_key_lengths_are_checked() {
        let mut k = PathKey {
            path: "live/a".into(),
            passphrase: "short".into(),
            key_length: None,
        };
        assert!(k.check().unwrap_err().contains("10 to 79"));
        k.passphrase = "long enough now".into();
        k.key_length = Some(20);
        assert!(k.check().unwrap_err().contains("16, 24 or 32"));
        k.key_length = Some(24);
        k.check().unwrap();
        assert!(!format!("{k:?}").contains("long enough"));
    }
}
