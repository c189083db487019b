//! Static stream keys: who may publish under which broadcast paths without a token, for the
//! encoders that cannot carry one (hardware encoders, OBS without a plugin). Sans-IO: the
//! file's text in, [`StreamKeys`] out, and a judgement per publisher; [`watch`] is the driver
//! that reloads the file when it changes.
//!
//! The file (`[ingest] keys_file`) is TOML, one `[[key]]` table per key:
//!
//! ```toml
//! [[key]]
//! path = "live/cam1"       # a broadcast path, a prefix ending in "/" ("live/"), or "" for all
//! key = "s3cret-long-key"  # 12 to 256 characters: A-Z a-z 0-9 - . _ ~
//! name = "studio encoder"  # optional: who it is, in logs and for take-over
//! ```
//!
//! - A broadcast is *keyed* when a rule's path is its path or a prefix of it; the rules with
//!   the longest such path decide (`live/cam1` over `live/`), and any of their keys admits the
//!   publisher: several `[[key]]` tables with one path let an operator roll a key over.
//! - A keyed broadcast refuses a publisher without one of those keys, in its protocol's terms
//!   (RTMP `NetStream.Publish.Unauthorized`, SRT `SRT_REJX_UNAUTHORIZED`); a matching key
//!   admits it as an authorised publisher from any host, without the edge plugin, under the
//!   key's `name` (or the key itself): the same key coming back takes its broadcast over
//!   whatever `relay.takeover` says. Broadcasts no rule covers are judged as before (plugin,
//!   anonymous rules); a key given for one is ignored.
//! - RTMP carries the key in the stream name's query (`rtmp://HOST/live/cam1?key=KEY`; OBS:
//!   stream key `cam1?key=KEY`), SRT in the stream ID (`#!::r=live/cam1,m=publish,tern_key=KEY`),
//!   WHIP as the bearer token (`Authorization: Bearer KEY`).
//! - Keys never reach a log line or an error: refusals say which path wanted one, mistakes in
//!   the file name the file and line.

mod watch;

#[cfg(test)]
mod tests;

pub use watch::{KeysWatch, RELOAD_EVERY, watch};

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tern_model::local::Vouched;
use toml::de::{DeTable, DeValue};

use crate::srt::streamid::MAX_SEGMENTS;

/// The shortest key taken.
pub const MIN_KEY_LEN: usize = 12;
/// The longest key taken (an SRT stream ID holds 512 bytes).
pub const MAX_KEY_LEN: usize = 256;
/// The longest name taken.
pub const MAX_NAME_LEN: usize = 64;

/// Whether a rule's `path` covers the broadcast `path`: the same path, a prefix of it ending
/// in `/`, or the empty rule that covers every path.
pub fn covers(rule: &str, path: &str) -> bool {
    rule.is_empty() || rule == path || (rule.ends_with('/') && path.starts_with(rule))
}

/// One `[[key]]` of the file.
#[derive(Clone, PartialEq, Eq)]
pub struct StreamKey {
    /// The broadcast path or prefix it covers.
    pub path: String,
    key: String,
    /// Who it is, if the file says.
    pub name: Option<String>,
    /// Its line in the file.
    pub line: usize,
}

impl fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamKey")
            .field("path", &self.path)
            .field("key", &"<redacted>")
            .field("name", &self.name)
            .field("line", &self.line)
            .finish()
    }
}

/// A publisher a key admitted.
#[derive(Clone, PartialEq, Eq)]
pub struct Admitted {
    /// The identity it publishes under (the key's name, or the key: never logged).
    pub identity: Vouched,
    /// The key's name, for logs.
    pub name: Option<String>,
}

impl fmt::Debug for Admitted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admitted")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Admitted {
    /// The tail of a log line saying how the publisher was admitted.
    pub fn describe(&self) -> String {
        match &self.name {
            Some(name) => format!(" with stream key {name:?}"),
            None => " with a stream key".to_owned(),
        }
    }
}

/// Why a publisher of a keyed broadcast is refused. Never quotes what it sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// It sent no key.
    Missing {
        /// The rule's path (`live/`).
        rule: String,
    },
    /// Its key is not one of the path's.
    Wrong {
        /// The rule's path.
        rule: String,
    },
}

impl Refusal {
    /// The reason to send the publisher: `how` says how its protocol carries a key (sent when
    /// it gave none).
    pub fn reason(&self, how: &str) -> String {
        match self {
            Self::Missing { rule } => format!(
                "a stream key is required to publish here ({}); {how}",
                shown_rule(rule)
            ),
            Self::Wrong { rule } => {
                format!("the stream key is not one of {}", shown_rule(rule))
            }
        }
    }
}

fn shown_rule(rule: &str) -> String {
    match rule {
        "" => "the keys for every path".to_owned(),
        rule => format!("the keys for {rule:?}"),
    }
}

/// A mistake in a keys file: its file and line, and what is wrong (never a key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {message}", file.display())]
pub struct KeysError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// The rules of a keys file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamKeys {
    rules: Vec<StreamKey>,
}

/// Whether two keys are equal, in a time that depends on their length only.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

impl StreamKeys {
    /// The rules of `text`, the keys file `file`.
    pub fn parse(file: &Path, text: &str) -> Result<Self, KeysError> {
        let line_of = |offset: usize| {
            let before = &text.as_bytes()[..offset.min(text.len())];
            before.iter().filter(|b| **b == b'\n').count() + 1
        };
        let at = |offset: usize, message: String| KeysError {
            file: file.to_owned(),
            line: line_of(offset),
            message,
        };
        let document = DeTable::parse(text)
            .map_err(|e| at(e.span().map_or(0, |s| s.start), e.message().to_owned()))?;
        let mut top: Vec<_> = document.get_ref().iter().collect();
        top.sort_by_key(|(k, _)| k.span().start);
        let mut rules: Vec<StreamKey> = Vec::new();
        for (name, value) in top {
            let tables = "a keys file holds [[key]] tables (path, key, name)";
            if name.get_ref() != "key" {
                return Err(at(
                    name.span().start,
                    format!("unknown setting {:?}: {tables}", name.get_ref()),
                ));
            }
            let DeValue::Array(items) = value.get_ref() else {
                return Err(at(
                    name.span().start,
                    format!("key is not a table: {tables}"),
                ));
            };
            for item in items.iter() {
                let start = item.span().start;
                let DeValue::Table(table) = item.get_ref() else {
                    return Err(at(start, "a key is a [[key]] table".into()));
                };
                let rule = rule(table, &at, start)?;
                let line = line_of(start);
                if let Some(twin) = rules
                    .iter()
                    .find(|r| r.path == rule.path && same(r.key.as_bytes(), rule.key.as_bytes()))
                {
                    return Err(at(
                        start,
                        format!(
                            "the same key for {:?} again (line {})",
                            rule.path, twin.line
                        ),
                    ));
                }
                rules.push(StreamKey { line, ..rule });
            }
        }
        Ok(Self { rules })
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are none (every broadcast is judged as without a keys file).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Judge a publisher of the broadcast `path` that sent `key`: `Ok(None)` when no rule
    /// covers `path`, `Ok(Some(_))` when one of its keys matches.
    pub fn judge(&self, path: &str, key: Option<&str>) -> Result<Option<Admitted>, Refusal> {
        let Some(longest) = self
            .rules
            .iter()
            .filter(|r| covers(&r.path, path))
            .map(|r| r.path.len())
            .max()
        else {
            return Ok(None);
        };
        let mut rules = self
            .rules
            .iter()
            .filter(|r| r.path.len() == longest && covers(&r.path, path))
            .peekable();
        let rule = rules.peek().map(|r| r.path.clone()).unwrap_or_default();
        let Some(key) = key.filter(|k| !k.is_empty()) else {
            return Err(Refusal::Missing { rule });
        };
        // Every candidate is compared, the first match kept: the time taken does not say which.
        let mut found = None;
        for r in rules {
            if same(r.key.as_bytes(), key.as_bytes()) && found.is_none() {
                found = Some(r);
            }
        }
        let r = found.ok_or(Refusal::Wrong { rule })?;
        let identity = match &r.name {
            Some(name) => format!("name {name}"),
            None => format!("key {}", r.key),
        };
        Ok(Some(Admitted {
            identity: Vouched(identity),
            name: r.name.clone(),
        }))
    }
}

/// One `[[key]]` table; errors at `at(offset, message)`.
fn rule(
    table: &DeTable<'_>,
    at: &impl Fn(usize, String) -> KeysError,
    start: usize,
) -> Result<StreamKey, KeysError> {
    let mut path = None;
    let mut key = None;
    let mut name = None;
    for (field, value) in table {
        let offset = field.span().start;
        let slot = match field.get_ref().as_ref() {
            "path" => &mut path,
            "key" => &mut key,
            "name" => &mut name,
            other => {
                return Err(at(
                    offset,
                    format!("unknown field {other:?} (a key has path, key and name)"),
                ));
            }
        };
        let DeValue::String(s) = value.get_ref() else {
            return Err(at(offset, format!("{} must be a string", field.get_ref())));
        };
        *slot = Some((s.to_string(), offset));
    }
    let (path, offset) = path.ok_or_else(|| at(start, "a key without a path".into()))?;
    check_path(&path).map_err(|m| at(offset, format!("path {path:?}: {m}")))?;
    let (key, offset) = key.ok_or_else(|| at(start, format!("no key for {path:?}")))?;
    check_key(&key).map_err(|m| at(offset, format!("the key for {path:?} {m}")))?;
    let name = match name {
        Some((name, offset)) => {
            if name.is_empty()
                || name.chars().count() > MAX_NAME_LEN
                || name.chars().any(char::is_control)
            {
                return Err(at(
                    offset,
                    format!(
                        "the name for {path:?} must be 1 to {MAX_NAME_LEN} characters without \
                         control characters"
                    ),
                ));
            }
            Some(name)
        }
        None => None,
    };
    Ok(StreamKey {
        path,
        key,
        name,
        line: 0,
    })
}

/// A rule's path: empty, or a broadcast path, or one ending in `/`.
fn check_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Ok(());
    }
    let segments: Vec<&str> = path.strip_suffix('/').unwrap_or(path).split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err("has an empty segment (a leading or double '/')");
    }
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return Err("has a '.' or '..' segment");
    }
    if segments.len() > MAX_SEGMENTS {
        return Err("has more than 32 segments");
    }
    if path
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '?' | ',' | '#'))
    {
        return Err("holds a space, a control character, '?', ',' or '#'");
    }
    Ok(())
}

/// A key: [`MIN_KEY_LEN`] to [`MAX_KEY_LEN`] characters that an RTMP URL's query and an SRT
/// stream ID both carry as they are (RFC 3986's unreserved characters). The error never
/// quotes it.
fn check_key(key: &str) -> Result<(), String> {
    if !(MIN_KEY_LEN..=MAX_KEY_LEN).contains(&key.len()) {
        return Err(format!(
            "is {} characters: {MIN_KEY_LEN} to {MAX_KEY_LEN} are taken",
            key.len()
        ));
    }
    if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    {
        return Err("holds a character other than A-Z a-z 0-9 - . _ ~".into());
    }
    Ok(())
}

/// The keys in force, shared by the listeners and swapped whole when the file is reloaded
/// (a publisher is judged by the keys of the moment it asks).
#[derive(Debug, Clone, Default)]
pub struct SharedKeys(Arc<RwLock<Arc<StreamKeys>>>);

impl SharedKeys {
    /// Share `keys`.
    pub fn new(keys: StreamKeys) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(keys))))
    }

    /// The keys in force now.
    pub fn current(&self) -> Arc<StreamKeys> {
        match self.0.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Put `keys` in force.
    pub fn replace(&self, keys: StreamKeys) {
        let keys = Arc::new(keys);
        match self.0.write() {
            Ok(mut k) => *k = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
    }
}
