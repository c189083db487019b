//! The paths LL-HLS is served under, after `/hls/`. Pure.
//!
//! - `{namespace}/index.m3u8`: the multivariant playlist of the broadcast `namespace`
//!   (`live/cam1`).
//! - `{namespace}/.t/{track}/{file}`: one rendition (a track of the broadcast), behind the
//!   reserved separator [`SEPARATOR`]: `media.m3u8`, `init.mp4` (the init section in effect),
//!   `init-{id}.mp4`, `seg-{msn}.m4s`, `part-{msn}.{index}.m4s`.
//!
//! No namespace field served over HLS starts with `.`: `.` and `..` are dot-segments that
//! every URL resolver removes (and the relay reserves namespaces starting with `.`), and the
//! rest of them are reserved here, so the separator can never be part of a namespace and no
//! rendition path collides with a longer namespace's multivariant playlist.

use std::fmt::Write as _;

use super::text::Uris;

/// The path segment between a broadcast's namespace and a rendition.
pub const SEPARATOR: &str = ".t";
/// The multivariant playlist's file name.
pub const MULTIVARIANT: &str = "index.m3u8";
/// A rendition's media playlist's file name.
pub const MEDIA: &str = "media.m3u8";
/// The longest path taken.
pub const MAX_PATH: usize = 1024;
/// The most namespace fields taken.
pub const MAX_FIELDS: usize = 32;

/// What a path under `/hls/` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resource {
    /// The multivariant playlist.
    Multivariant {
        /// The broadcast, fields joined with `/`.
        namespace: String,
    },
    /// A file of one rendition.
    Rendition {
        /// The broadcast, fields joined with `/`.
        namespace: String,
        /// The track.
        track: String,
        /// Which file.
        file: File,
    },
}

/// A file of one rendition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum File {
    /// The media playlist.
    Media,
    /// The init section in effect (`init.mp4`).
    CurrentInit,
    /// Init section `id` (`init-{id}.mp4`).
    Init(u64),
    /// Media Segment `msn` (`seg-{msn}.m4s`).
    Segment(u64),
    /// Part `index` of segment `msn` (`part-{msn}.{index}.m4s`).
    Part(u64, u32),
}

/// Why a path names nothing (HTTP 404, with the reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadPath(pub &'static str);

/// Reads a path after `/hls/` (percent-encoded, as it came).
pub fn parse(path: &str) -> Result<Resource, BadPath> {
    if path.len() > MAX_PATH {
        return Err(BadPath("path too long"));
    }
    let segments = path
        .split('/')
        .map(decode)
        .collect::<Option<Vec<String>>>()
        .ok_or(BadPath("bad percent-encoding"))?;
    if segments.iter().any(String::is_empty) {
        return Err(BadPath("empty path segment"));
    }
    let (namespace, rest) = match segments.iter().position(|s| s == SEPARATOR) {
        Some(at) => (&segments[..at], &segments[at + 1..]),
        None => (
            &segments[..segments.len().saturating_sub(1)],
            &segments[..0],
        ),
    };
    if namespace.is_empty() {
        return Err(BadPath("no broadcast named"));
    }
    if namespace.len() > MAX_FIELDS {
        return Err(BadPath("too many namespace fields"));
    }
    if namespace.iter().any(|f| f.starts_with('.')) {
        return Err(BadPath("namespace fields starting with '.' are reserved"));
    }
    let namespace = namespace.join("/");
    if rest.is_empty() {
        return match segments.last().map(String::as_str) {
            Some(MULTIVARIANT) => Ok(Resource::Multivariant { namespace }),
            _ => Err(BadPath("a broadcast's playlist is .../index.m3u8")),
        };
    }
    let [track, file] = rest else {
        return Err(BadPath("a rendition's file is .../.t/TRACK/FILE"));
    };
    let file = parse_file(file).ok_or(BadPath("no such file"))?;
    Ok(Resource::Rendition {
        namespace,
        track: track.clone(),
        file,
    })
}

fn parse_file(name: &str) -> Option<File> {
    if name == MEDIA {
        return Some(File::Media);
    }
    if name == "init.mp4" {
        return Some(File::CurrentInit);
    }
    if let Some(id) = name
        .strip_prefix("init-")
        .and_then(|n| n.strip_suffix(".mp4"))
    {
        return Some(File::Init(number(id)?));
    }
    if let Some(msn) = name
        .strip_prefix("seg-")
        .and_then(|n| n.strip_suffix(".m4s"))
    {
        return Some(File::Segment(number(msn)?));
    }
    let (msn, index) = name
        .strip_prefix("part-")?
        .strip_suffix(".m4s")?
        .split_once('.')?;
    Some(File::Part(
        number(msn)?,
        u32::try_from(number(index)?).ok()?,
    ))
}

/// A decimal number without sign or leading zeros.
fn number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if text.len() > 1 && text.starts_with('0') {
        return None;
    }
    text.parse().ok()
}

/// A percent-decoded path segment, if it is UTF-8 without control characters.
fn decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = std::str::from_utf8(bytes.get(at + 1..at + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    let text = String::from_utf8(out).ok()?;
    (!text.contains(|c: char| c.is_control() || c == '/')).then_some(text)
}

/// The URIs of a rendition's files, relative to its media playlist.
#[derive(Clone, Copy, Debug, Default)]
pub struct RenditionUris;

impl Uris for RenditionUris {
    fn segment(&self, msn: u64) -> String {
        format!("seg-{msn}.m4s")
    }
    fn part(&self, msn: u64, index: u32) -> String {
        format!("part-{msn}.{index}.m4s")
    }
    fn init(&self, init: u64) -> String {
        format!("init-{init}.mp4")
    }
}

/// The URI of track `track`'s media playlist, relative to the multivariant playlist.
pub fn media_from_multivariant(track: &str) -> String {
    let mut out = String::new();
    let _ = write!(out, "{SEPARATOR}/{track}/{MEDIA}");
    out
}

/// The URI of track `track`'s media playlist, relative to another rendition's.
pub fn media_from_media(track: &str) -> String {
    format!("../{track}/{MEDIA}")
}

/// The track name of variant `variant` (0 is A) of a marked rendition.
pub fn variant_track(rendition: &str, variant: u32) -> Option<String> {
    let name = tern_watermark::variant_track(rendition.as_bytes(), variant)?;
    String::from_utf8(name).ok()
}

/// The URIs of a marked rendition's files for one viewer, relative to its media playlist: each
/// segment and part whose variant is known (`variants`, by Media Sequence Number) under that
/// variant's track (`../T.wm-b/seg-{msn}.m4s`), the others (a part hinted before its group is
/// known) under the rendition's own, served as the viewer's variant.
#[derive(Clone, Copy, Debug)]
pub struct MarkedUris<'a> {
    /// The rendition.
    pub rendition: &'a str,
    /// The viewer's variant of each segment it is known for.
    pub variants: &'a std::collections::HashMap<u64, u32>,
}

impl MarkedUris<'_> {
    fn dir(&self, msn: u64) -> Option<String> {
        let variant = self.variants.get(&msn)?;
        variant_track(self.rendition, *variant).map(|t| format!("../{t}/"))
    }
}

impl Uris for MarkedUris<'_> {
    fn segment(&self, msn: u64) -> String {
        self.dir(msn).unwrap_or_default() + &RenditionUris.segment(msn)
    }
    fn part(&self, msn: u64, index: u32) -> String {
        self.dir(msn).unwrap_or_default() + &RenditionUris.part(msn, index)
    }
    fn init(&self, init: u64) -> String {
        RenditionUris.init(init)
    }
}
