//! SRT stream IDs: which broadcast an SRT caller publishes, in the three forms encoders send.
//!
//! - The access-control form of SRT's own guidelines (`docs/features/access-control.md` in
//!   libsrt): `#!::r=live/cam1,m=publish`, comma-separated `key=value` pairs. `r` is the
//!   resource (the broadcast's path), `m` the mode (`request` when absent, as the guidelines
//!   say), `u` the user, `h` the host, `s` a session ID, `t` the type (`stream` only here).
//!   Single-letter keys are reserved by the guidelines, so tern's credentials ride in custom
//!   keys with tern's prefix: [`TOKEN_KEY`] (`tern_token=…`, for the edge plugin) and
//!   [`STREAM_KEY`] (`tern_key=…`, a static stream key, see [`crate::keys`]). Unknown keys are
//!   ignored, as the guidelines allow; a key given twice is refused (which one would the
//!   plugin judge?).
//! - `publish:live/cam1` (and `read:live/cam1`, refused with BAD_MODE), the form MediaMTX
//!   documents.
//! - A plain path, `live/cam1`: a publish.
//!
//! A stream ID is at most 512 bytes (libsrt's `SRTO_STREAMID` limit). With
//! `#!::r=live/cam1,m=publish,tern_token=` taking 38 of them, a token of up to about 470 bytes
//! fits: an HS256 JWT with a few claims does, an RS256 one usually does not. Encoders that
//! cannot carry a token that long use a static stream key per path instead.
//!
//! Parsing is pure; every refusal names what is wrong and the SRT reject code it is sent with.

use std::fmt;

use super::RejectCode;

/// The longest stream ID libsrt sends, in bytes.
pub const MAX_LEN: usize = 512;

/// The custom access-control key that carries a tern credential (for the edge plugin's
/// publish phase).
pub const TOKEN_KEY: &str = "tern_token";

/// The custom access-control key that carries a static stream key ([`crate::keys`]).
pub const STREAM_KEY: &str = "tern_key";

/// The most path segments a broadcast's name may have (MoQ's namespace limit).
pub const MAX_SEGMENTS: usize = 32;

/// What the caller wants to do (the access-control `m` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Receive the stream (`m=request`, the default of the access-control form).
    Request,
    /// Send the stream (`m=publish`).
    Publish,
    /// Both (`m=bidirectional`).
    Bidirectional,
}

/// A parsed stream ID. Its `Debug` leaves the token out: stream IDs reach logs.
#[derive(Clone, PartialEq, Eq)]
pub struct StreamId {
    /// The broadcast's path, `live/cam1`: the namespace's fields joined by `/`.
    pub resource: String,
    /// What the caller wants to do.
    pub mode: Mode,
    /// `u`: the user name, if given.
    pub user: Option<String>,
    /// `h`: the host name, if given.
    pub host: Option<String>,
    /// `s`: a session ID, if given.
    pub session: Option<String>,
    /// [`TOKEN_KEY`]: the credential, if given.
    pub token: Option<String>,
    /// [`STREAM_KEY`]: the stream key, if given.
    pub key: Option<String>,
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamId")
            .field("resource", &self.resource)
            .field("mode", &self.mode)
            .field("user", &self.user)
            .field("host", &self.host)
            .field("session", &self.session.as_ref().map(|_| "<redacted>"))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl StreamId {
    /// The broadcast's namespace: the resource's path segments.
    pub fn namespace(&self) -> Vec<String> {
        self.resource.split('/').map(str::to_owned).collect()
    }
}

/// Why a stream ID is refused. The messages never quote a value, only keys and positions:
/// a stream ID may hold a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamIdError {
    /// Longer than libsrt sends.
    #[error("the stream ID is {0} bytes, over SRT's {MAX_LEN}")]
    TooLong(usize),
    /// Empty, or no resource in it.
    #[error("the stream ID names no broadcast (give r=live/NAME, or the path itself)")]
    NoResource,
    /// A control character (a log line must not be forged from it).
    #[error("the stream ID holds a control character at byte {0}")]
    ControlCharacter(usize),
    /// A syntax that is not `#!::`.
    #[error("only the access-control syntax #!:: is understood, not the nested form or another")]
    Syntax,
    /// An item without `=`.
    #[error("item {0} of the stream ID is not key=value")]
    NotKeyValue(usize),
    /// A key given twice.
    #[error("the key {0:?} is given twice")]
    Repeated(String),
    /// An `m` value the guidelines do not define.
    #[error("m must be publish, request or bidirectional")]
    UnknownMode,
    /// A `t` other than `stream`.
    #[error("t must be stream (a live stream); files and auth exchanges are not served")]
    Type,
    /// The resource is not a broadcast path.
    #[error("the broadcast path {0}")]
    BadPath(&'static str),
}

impl StreamIdError {
    /// The SRT reject code the caller is refused with.
    pub fn reject_code(&self) -> RejectCode {
        match self {
            Self::Type => RejectCode::NotSupportedMedia,
            _ => RejectCode::BadRequest,
        }
    }
}

/// Parse `raw`, a stream ID as the caller sent it.
pub fn parse(raw: &str) -> Result<StreamId, StreamIdError> {
    if raw.len() > MAX_LEN {
        return Err(StreamIdError::TooLong(raw.len()));
    }
    if let Some(at) = raw.bytes().position(|b| b.is_ascii_control()) {
        return Err(StreamIdError::ControlCharacter(at));
    }
    if let Some(rest) = raw.strip_prefix("#!") {
        let list = rest.strip_prefix("::").ok_or(StreamIdError::Syntax)?;
        return access_control(list);
    }
    let (mode, path) = match raw.split_once(':') {
        Some(("publish", path)) => (Mode::Publish, path),
        Some(("read", path)) => (Mode::Request, path),
        Some(_) => return Err(StreamIdError::BadPath("holds a ':'")),
        None => (Mode::Publish, raw),
    };
    Ok(StreamId {
        resource: path_of(path)?,
        mode,
        user: None,
        host: None,
        session: None,
        token: None,
        key: None,
    })
}

fn access_control(list: &str) -> Result<StreamId, StreamIdError> {
    let mut resource = None;
    let mut mode = None;
    let mut kind = None;
    let mut user = None;
    let mut host = None;
    let mut session = None;
    let mut token = None;
    let mut key_value = None;
    for (i, item) in list.split(',').enumerate() {
        if item.is_empty() {
            continue;
        }
        let (key, value) = item
            .split_once('=')
            .ok_or(StreamIdError::NotKeyValue(i + 1))?;
        let slot = match key {
            "r" => &mut resource,
            "m" => &mut mode,
            "t" => &mut kind,
            "u" => &mut user,
            "h" => &mut host,
            "s" => &mut session,
            TOKEN_KEY => &mut token,
            STREAM_KEY => &mut key_value,
            // Reserved or another application's: ignored, as the guidelines allow.
            _ => continue,
        };
        if slot.replace(value.to_owned()).is_some() {
            return Err(StreamIdError::Repeated(key.to_owned()));
        }
    }
    let mode = match mode.as_deref() {
        None | Some("request") => Mode::Request,
        Some("publish") => Mode::Publish,
        Some("bidirectional") => Mode::Bidirectional,
        Some(_) => return Err(StreamIdError::UnknownMode),
    };
    if kind.as_deref().is_some_and(|t| t != "stream") {
        return Err(StreamIdError::Type);
    }
    let resource = resource.ok_or(StreamIdError::NoResource)?;
    Ok(StreamId {
        resource: path_of(&resource)?,
        mode,
        user,
        host,
        session,
        token,
        key: key_value,
    })
}

/// A broadcast path: segments separated by `/`, none empty, none `.` or `..`, at most
/// [`MAX_SEGMENTS`].
fn path_of(path: &str) -> Result<String, StreamIdError> {
    if path.is_empty() {
        return Err(StreamIdError::NoResource);
    }
    let segments: Vec<&str> = path.split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(StreamIdError::BadPath(
            "has an empty segment (a leading, trailing or double '/')",
        ));
    }
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return Err(StreamIdError::BadPath("has a '.' or '..' segment"));
    }
    if segments.len() > MAX_SEGMENTS {
        return Err(StreamIdError::BadPath("has more than 32 segments"));
    }
    Ok(path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(resource: &str) -> StreamId {
        StreamId {
            resource: resource.to_owned(),
            mode: Mode::Publish,
            user: None,
            host: None,
            session: None,
            token: None,
            key: None,
        }
    }

    #[test]
    fn the_three_forms_name_the_same_broadcast() {
        assert_eq!(parse("#!::r=live/cam1,m=publish"), Ok(publish("live/cam1")));
        assert_eq!(parse("publish:live/cam1"), Ok(publish("live/cam1")));
        assert_eq!(parse("live/cam1"), Ok(publish("live/cam1")));
        assert_eq!(
            parse("live/cam1").map(|s| s.namespace()),
            Ok(vec!["live".to_owned(), "cam1".to_owned()])
        );
    }

    #[test]
    fn access_control_keys_in_any_order_with_a_token_and_ignored_unknown_keys() {
        let id = parse("#!::m=publish,u=alice,x=reserved,acme_k=1,tern_token=abc.def.ghi,r=a/b,t=stream,h=example.com,s=42")
            .expect("valid");
        assert_eq!(id.resource, "a/b");
        assert_eq!(id.mode, Mode::Publish);
        assert_eq!(id.user.as_deref(), Some("alice"));
        assert_eq!(id.host.as_deref(), Some("example.com"));
        assert_eq!(id.session.as_deref(), Some("42"));
        assert_eq!(id.token.as_deref(), Some("abc.def.ghi"));
        // A value may hold '=' (base64 padding).
        let id = parse("#!::r=x,m=publish,tern_token=YQ==").expect("valid");
        assert_eq!(id.token.as_deref(), Some("YQ=="));
    }

    #[test]
    fn the_mode_defaults_to_request_as_the_guidelines_say() {
        assert_eq!(parse("#!::r=live/cam1").map(|s| s.mode), Ok(Mode::Request));
        assert_eq!(parse("read:live/cam1").map(|s| s.mode), Ok(Mode::Request));
        assert_eq!(
            parse("#!::r=live/cam1,m=bidirectional").map(|s| s.mode),
            Ok(Mode::Bidirectional)
        );
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let id = parse("#!::r=live/cam1,m=publish,tern_token=SECRET,s=SESSION,tern_key=KEY1")
            .expect("valid");
        assert_eq!(id.key.as_deref(), Some("KEY1"));
        let shown = format!("{id:?}");
        assert!(
            !shown.contains("SECRET") && !shown.contains("SESSION") && !shown.contains("KEY1"),
            "{shown}"
        );
        assert!(shown.contains("live/cam1"), "{shown}");
        // Nor in a refusal's message.
        let e = parse("#!::r=live/cam1,tern_token=SECRET,tern_token=SECRET").unwrap_err();
        assert!(!e.to_string().contains("SECRET"), "{e}");
    }

    #[test]
    fn refusals_name_the_problem_and_their_reject_code() {
        let cases: &[(&str, StreamIdError)] = &[
            ("", StreamIdError::NoResource),
            ("#!::m=publish", StreamIdError::NoResource),
            ("#!::r=", StreamIdError::NoResource),
            ("#!:{r=a}", StreamIdError::Syntax),
            ("#!x", StreamIdError::Syntax),
            ("#!::r=a,junk", StreamIdError::NotKeyValue(2)),
            ("#!::r=a,r=b", StreamIdError::Repeated("r".into())),
            ("#!::r=a,m=write", StreamIdError::UnknownMode),
            (
                "live//cam1",
                StreamIdError::BadPath("has an empty segment (a leading, trailing or double '/')"),
            ),
            (
                "/live",
                StreamIdError::BadPath("has an empty segment (a leading, trailing or double '/')"),
            ),
            (
                "live/../x",
                StreamIdError::BadPath("has a '.' or '..' segment"),
            ),
            ("play:live/cam1", StreamIdError::BadPath("holds a ':'")),
            ("live\ncam", StreamIdError::ControlCharacter(4)),
        ];
        for (raw, want) in cases {
            assert_eq!(parse(raw).as_ref(), Err(want), "{raw:?}");
            assert_eq!(want.reject_code(), RejectCode::BadRequest, "{raw:?}");
        }
        let file = parse("#!::r=a.ts,t=file,m=publish").unwrap_err();
        assert_eq!(file, StreamIdError::Type);
        assert_eq!(file.reject_code(), RejectCode::NotSupportedMedia);
        assert_eq!(file.reject_code().code(), 1415);
    }

    #[test]
    fn at_most_512_bytes_and_32_segments() {
        let head = "#!::r=live/cam1,m=publish,tern_token=";
        let fits = format!("{head}{}", "t".repeat(MAX_LEN - head.len()));
        assert_eq!(
            parse(&fits).map(|s| s.token.map(|t| t.len())),
            Ok(Some(MAX_LEN - head.len()))
        );
        let over = format!("{fits}t");
        assert_eq!(parse(&over), Err(StreamIdError::TooLong(MAX_LEN + 1)));
        let deep = vec!["s"; MAX_SEGMENTS].join("/");
        assert!(parse(&deep).is_ok());
        let deeper = vec!["s"; MAX_SEGMENTS + 1].join("/");
        assert!(matches!(parse(&deeper), Err(StreamIdError::BadPath(_))));
    }
}
