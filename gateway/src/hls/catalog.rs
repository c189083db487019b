//! A broadcast's MSF catalog (its `catalog` track, as `tern_cmaf::catalog::msf` writes it)
//! read for HLS: each CMAF track's name, kind, codec, size, rate and init section, and the
//! multivariant playlist they make. Pure.

use base64::Engine;
use bytes::Bytes;
use serde_json::Value;

use super::multivariant::{AudioRendition, FrameRate, Multivariant, Resolution, Variant};

/// The largest catalog read.
pub const MAX_CATALOG: usize = 1 << 20;
/// The most tracks read from one catalog.
pub const MAX_TRACKS: usize = 32;

/// One CMAF track of a catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendition {
    /// Its track name.
    pub name: String,
    /// Video (else audio).
    pub video: bool,
    /// Its RFC 6381 codec.
    pub codec: String,
    /// Its timescale (ticks per second).
    pub timescale: u32,
    /// Its init section (`ftyp` + `moov` with its one `trak`).
    pub init: Bytes,
    /// Its bit rate, bits per second, when the catalog gives one.
    pub bitrate: Option<u64>,
    /// Its size (video).
    pub resolution: Option<Resolution>,
    /// Its frame rate, thousandths of a frame per second (video).
    pub frame_rate_milli: Option<u32>,
    /// Its channel count (audio).
    pub channels: Option<u32>,
}

/// Whether a track name can be a path segment of an HLS URI as it is (RFC 3986 unreserved
/// characters, not starting with `.`).
pub fn uri_safe(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The CMAF audio and video tracks of a catalog whose names are [`uri_safe`]; others (and
/// anything malformed) are left out. `None`: not a catalog.
pub fn renditions(catalog: &[u8]) -> Option<Vec<Rendition>> {
    if catalog.len() > MAX_CATALOG {
        return None;
    }
    let value: Value = serde_json::from_slice(catalog).ok()?;
    let tracks = value.get("tracks")?.as_array()?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let text = |t: &Value, key: &str| t.get(key).and_then(Value::as_str).map(str::to_owned);
    let number = |t: &Value, key: &str| {
        t.get(key).and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
    };
    let mut out = Vec::new();
    for t in tracks.iter().take(MAX_TRACKS) {
        if t.get("packaging").and_then(Value::as_str) != Some("cmaf") {
            continue;
        }
        let video = match t.get("role").and_then(Value::as_str) {
            Some("video") => true,
            Some("audio") => false,
            _ => continue,
        };
        let (Some(name), Some(codec), Some(init)) =
            (text(t, "name"), text(t, "codec"), text(t, "initData"))
        else {
            continue;
        };
        let Ok(init) = b64.decode(init) else {
            continue;
        };
        let Some(timescale) = number(t, "timescale").and_then(|n| u32::try_from(n).ok()) else {
            continue;
        };
        if !uri_safe(&name) || timescale == 0 {
            continue;
        }
        let dimension = |key| number(t, key).and_then(|n| u32::try_from(n).ok());
        let resolution = match (dimension("width"), dimension("height")) {
            (Some(width), Some(height)) if video && width > 0 && height > 0 => {
                Some(Resolution { width, height })
            }
            _ => None,
        };
        let frame_rate_milli = t
            .get("framerate")
            .and_then(Value::as_f64)
            .filter(|f| video && f.is_finite() && *f > 0.0 && *f < 1000.0)
            .map(|f| (f * 1000.0).round() as u32);
        let channels = (!video)
            .then(|| dimension("channelConfig"))
            .flatten()
            .filter(|c| *c > 0);
        out.push(Rendition {
            name,
            video,
            codec,
            timescale,
            init: Bytes::from(init),
            bitrate: number(t, "bitrate").filter(|b| *b > 0),
            resolution,
            frame_rate_milli,
            channels,
        });
    }
    Some(out)
}

/// The `GROUP-ID` of the audio renditions.
pub const AUDIO_GROUP: &str = "audio";

/// The multivariant playlist of `renditions`; `uri` names a track's media playlist. Every
/// video track is a variant; the audio tracks are one group (only the AAC ones when there are
/// any: a variant's `CODECS` names every codec of its group, and players refuse a variant
/// with a codec they lack). An audio-only broadcast's variants are its audio tracks. `None`:
/// nothing to list.
pub fn multivariant(
    renditions: &[Rendition],
    uri: impl Fn(&str) -> String,
) -> Option<Multivariant> {
    let audio: Vec<&Rendition> = {
        let all: Vec<&Rendition> = renditions.iter().filter(|r| !r.video).collect();
        let aac: Vec<&Rendition> = all
            .iter()
            .copied()
            .filter(|r| r.codec.starts_with("mp4a"))
            .collect();
        if aac.is_empty() { all } else { aac }
    };
    let audio_bitrate = audio
        .iter()
        .filter_map(|r| r.bitrate)
        .max()
        .unwrap_or(128_000);
    let video: Vec<&Rendition> = renditions.iter().filter(|r| r.video).collect();
    let mut playlist = Multivariant::default();
    if video.is_empty() {
        playlist.variants = audio
            .iter()
            .map(|r| Variant {
                uri: uri(&r.name),
                bandwidth: r.bitrate.unwrap_or(128_000),
                average_bandwidth: None,
                codecs: r.codec.clone(),
                resolution: None,
                frame_rate: None,
                audio: None,
            })
            .collect();
        return (!playlist.variants.is_empty()).then_some(playlist);
    }
    playlist.audio = audio
        .iter()
        .enumerate()
        .map(|(at, r)| AudioRendition {
            group_id: AUDIO_GROUP.into(),
            name: r.name.clone(),
            language: None,
            default: at == 0,
            autoselect: true,
            channels: r.channels,
            codecs: r.codec.clone(),
            uri: uri(&r.name),
        })
        .collect();
    let mut variants: Vec<(u64, Variant)> = video
        .iter()
        .map(|r| {
            let pixels = r
                .resolution
                .map_or(0, |s| u64::from(s.width) * u64::from(s.height));
            // Without a measured rate, about 3 bits per pixel per second.
            let own = r.bitrate.unwrap_or((pixels * 3).max(300_000));
            let bandwidth = own + if audio.is_empty() { 0 } else { audio_bitrate };
            let variant = Variant {
                uri: uri(&r.name),
                bandwidth,
                average_bandwidth: None,
                codecs: r.codec.clone(),
                resolution: r.resolution,
                frame_rate: r.frame_rate_milli.map(|num| FrameRate { num, den: 1000 }),
                audio: (!audio.is_empty()).then(|| AUDIO_GROUP.to_owned()),
            };
            (pixels, variant)
        })
        .collect();
    // The largest first: players start with the first listed unless told otherwise.
    variants.sort_by_key(|(pixels, _)| std::cmp::Reverse(*pixels));
    playlist.variants = variants.into_iter().map(|(_, v)| v).collect();
    Some(playlist)
}
