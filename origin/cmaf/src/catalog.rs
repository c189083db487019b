//! The two catalogs of a broadcast.
//!
//! - **MSF** (draft-ietf-moq-msf, CMSF packaging), track [`MSF_TRACK`]: what tern's player,
//!   shaka-player and other MSF players read. Each track carries its own init segment
//!   (`ftyp` and a `moov` with that one `trak`) base64 in `initData`; renditions of one kind
//!   share an `altGroup`, everything shares `renderGroup` 1.
//! - **catalogformat-01** (Cloudflare's moq-catalog 0.2), track [`CF_TRACK`]: what `moq-sub
//!   --catalog` reads. It lists the tracks in the order of the `trak`s of [`INIT_TRACK`], which
//!   every track names as its `initTrack`.

use base64::Engine;
use serde_json::{Value, json};

use crate::TrackKind;
use crate::mux::init_segment;
use crate::packager::PackagedTrack;

/// Track name of the MSF catalog.
pub const MSF_TRACK: &str = "catalog";
/// Track name of the catalogformat-01 catalog.
pub const CF_TRACK: &str = ".catalog";
/// Track name of the init segment with every track.
pub const INIT_TRACK: &str = "0.mp4";

fn mime(kind: TrackKind) -> &'static str {
    match kind {
        TrackKind::Video => "video/mp4",
        TrackKind::Audio => "audio/mp4",
    }
}

/// The MSF catalog for `tracks` of the broadcast `namespace` (fields joined by `/`), generated
/// at `unix_millis`.
pub fn msf(namespace: &str, tracks: &[PackagedTrack], unix_millis: u64) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    let list: Vec<Value> = tracks
        .iter()
        .map(|t| {
            let i = &t.info;
            let mut v = json!({
                "name": t.name,
                "namespace": namespace,
                "packaging": "cmaf",
                "isLive": true,
                "role": i.kind.as_str(),
                "renderGroup": 1,
                "altGroup": match i.kind { TrackKind::Video => 1, TrackKind::Audio => 2 },
                "codec": i.codec,
                "mimeType": mime(i.kind),
                "timescale": i.timescale,
                "initData": b64.encode(init_segment(&[i])),
            });
            if let Some(b) = t.bitrate() {
                v["bitrate"] = json!(b);
            }
            match i.kind {
                TrackKind::Video => {
                    v["width"] = json!(i.width);
                    v["height"] = json!(i.height);
                    if let Some(f) = t.framerate() {
                        v["framerate"] = json!((f * 1000.0).round() / 1000.0);
                    }
                }
                TrackKind::Audio => {
                    v["samplerate"] = json!(i.sample_rate);
                    v["channelConfig"] = json!(i.channels.to_string());
                }
            }
            v
        })
        .collect();
    json!({
        "version": 1,
        "generatedAt": unix_millis,
        "tracks": list,
    })
}

/// The catalogformat-01 catalog: every track with `initTrack` [`INIT_TRACK`], in `trak` order.
pub fn catalogformat01(namespace: &str, tracks: &[PackagedTrack]) -> Value {
    let list: Vec<Value> = tracks
        .iter()
        .map(|t| {
            let i = &t.info;
            let mut params = json!({ "codec": i.codec, "mimeType": mime(i.kind) });
            if let Some(b) = t.bitrate() {
                params["bitrate"] = json!(b);
            }
            match i.kind {
                TrackKind::Video => {
                    params["width"] = json!(i.width);
                    params["height"] = json!(i.height);
                    if let Some(f) = t.framerate() {
                        params["framerate"] = json!(f.round() as u64);
                    }
                }
                TrackKind::Audio => {
                    params["samplerate"] = json!(i.sample_rate);
                    params["channelConfig"] = json!(i.channels.to_string());
                }
            }
            json!({ "name": t.name, "initTrack": INIT_TRACK, "selectionParams": params })
        })
        .collect();
    json!({
        "version": 1,
        "streamingFormat": 1,
        "streamingFormatVersion": "0.2",
        "supportsDeltaUpdates": false,
        "commonTrackFields": { "namespace": namespace, "packaging": "cmaf", "renderGroup": 1 },
        "tracks": list,
    })
}
