//! LL-HLS: what a publisher's objects and catalog, and a viewer's request, reach.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::hls::catalog::{self, MAX_TRACKS};
use crate::hls::chunk::read_chunk;
use crate::hls::invariants::Checker;
use crate::hls::multivariant::MultivariantError;
use crate::hls::path::{self, File, RenditionUris, Resource};
use crate::hls::playlist::fits_target;
use crate::hls::{
    MediaPlaylist, Part, PlaylistConfig, QuerySuffix, ReloadRequest, RenderOptions, SegmentStart,
    Segmenter, Skip, Uris, decide, decide_part,
};

/// The timescales a fuzzed track or playlist runs at: video, audio, milliseconds, CD audio.
const TIMESCALES: [u32; 4] = [90_000, 48_000, 1000, 44_100];

/// A track's objects through the HLS segmenter, from `data`: a set-up byte (bits 0-1: Target
/// Duration − 1 s; 2-3: the playlist's timescale; 4-5: the track's), then records of an
/// operation byte, a big-endian `u16` length and that many bytes. The operation's low three bits
/// pick: 0 the next object of the group, 1 the first object of a new group (IDs jump by the
/// high bits × 7), 2 an object numbered by the high bits, 3 the group finished, 4 reset, 5 a
/// new init section (the bytes; its timescale picked by the high bits), 6 time passing (high
/// bits × 40 ms), 7 the track's end. Every object is read as a CMAF chunk first. Never panics;
/// whatever comes, the playlist keeps its segments within the Target Duration and its parts
/// within the Part Target Duration, its sequence numbers never go back, and its texts, full and
/// delta, keep the rules [`Checker`] holds a viewer's reloads to.
pub fn hls_objects(data: &[u8]) {
    let Some((&setup, mut rest)) = data.split_first() else {
        return;
    };
    let timescale = TIMESCALES[usize::from(setup >> 2) % 4];
    let config = PlaylistConfig::new(u32::from(setup % 4) + 1, timescale);
    let Ok(mut segmenter) = Segmenter::new(config, 1 << 20) else {
        return;
    };
    segmenter.handle_init(
        Bytes::from_static(b"init"),
        TIMESCALES[usize::from(setup >> 4) % 4],
    );
    let mut now = Instant::now();
    let (mut group, mut object) = (0u64, 0u64);
    let mut seen = Seen::default();
    while rest.len() >= 3 {
        let op = rest[0];
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        let payload = Bytes::copy_from_slice(&rest[3..3 + len]);
        rest = &rest[3 + len..];
        let high = u64::from(op >> 3);
        match op & 7 {
            op @ 0..=2 => {
                let _ = read_chunk(&payload);
                match op {
                    0 => {}
                    1 => (group, object) = (group + 1 + high * 7, 0),
                    _ => object = high,
                }
                now += Duration::from_millis(10);
                segmenter.handle_object(group, object, payload, now);
                object += 1;
            }
            3 => segmenter.handle_finish(group),
            4 => segmenter.handle_reset(group),
            5 => segmenter.handle_init(payload, TIMESCALES[high as usize % 4]),
            6 => {
                now += Duration::from_millis(high * 40);
                segmenter.handle_timeout(now);
            }
            _ => segmenter.handle_end(),
        }
        seen.check(&segmenter);
    }
}

/// What the segmenter's playlist showed last, and its texts as a viewer reloading it would
/// have read them.
#[derive(Default)]
struct Seen {
    checker: Checker,
    version: u64,
    first_msn: u64,
    last_part: Option<(u64, u32)>,
}

impl Seen {
    fn check(&mut self, segmenter: &Segmenter) {
        let playlist = segmenter.playlist();
        let config = playlist.config();
        let part_target = u64::from(config.part_target_ms) * u64::from(config.timescale);
        for segment in playlist.segments().chain(playlist.in_progress()) {
            assert!(fits_target(segment.duration, config), "{segment:?}");
            for part in &segment.parts {
                assert!(part.duration > 0 && part.duration * 1000 <= part_target);
            }
        }
        assert!(segmenter.version() >= self.version);
        assert!(playlist.first_msn() >= self.first_msn);
        assert!(
            playlist.last_part() >= self.last_part,
            "the last part went back"
        );
        self.version = segmenter.version();
        self.first_msn = playlist.first_msn();
        self.last_part = playlist.last_part();
        let query = QuerySuffix::new("token=x").expect("a query");
        for (skip, url) in [
            (None, "media.m3u8"),
            (Some(Skip::Yes), "media.m3u8?_HLS_skip=YES"),
        ] {
            let options = RenderOptions {
                skip,
                reports: &[],
                query: &query,
            };
            let text = playlist.render(&RenditionUris, &options);
            if let Err(violation) = self.checker.check(url, &text) {
                panic!("{violation}\n{text}");
            }
        }
    }
}

/// A viewer's request target after `/hls/` (lossily decoded), `path?query`: the path is read
/// as the routes read it, the query's Delivery Directives and the rest as the suffix every URI
/// of its playlists carries; a rendition's request is then decided against a small live
/// playlist. Never panics; what is accepted names the same thing when written back, and a
/// query suffix never adds a line to a playlist nor ends a quoted-string.
pub fn hls_request(data: &[u8]) {
    let target = String::from_utf8_lossy(data);
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let resource = path::parse(path);
    if let Ok(resource) = &resource {
        check_resource(resource);
    }
    let Ok(request) = ReloadRequest::parse(query) else {
        return;
    };
    let mut again = Vec::new();
    if let Some(msn) = request.msn {
        again.push(format!("_HLS_msn={msn}"));
    }
    if let Some(part) = request.part {
        again.push(format!("_HLS_part={part}"));
    }
    match request.skip {
        Some(Skip::Yes) => again.push("_HLS_skip=YES".into()),
        Some(Skip::V2) => again.push("_HLS_skip=v2".into()),
        None => {}
    }
    assert_eq!(ReloadRequest::parse(&again.join("&")), Ok(request));

    let carried: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("_HLS_"))
        .collect();
    let suffix = QuerySuffix::new(&carried.join("&")).unwrap_or_default();
    let playlist = live();
    let t0 = Instant::now();
    match resource {
        Ok(Resource::Rendition {
            file: File::Part(msn, index),
            ..
        }) => {
            let _ = decide_part(&playlist, msn, index);
        }
        Ok(Resource::Rendition {
            file: File::Media, ..
        }) => {
            let _ = decide(&request, &playlist, t0, t0);
            let _ = decide(&request, &playlist, t0, t0 + Duration::from_secs(7));
        }
        _ => {}
    }
    let options = RenderOptions {
        skip: request.skip,
        reports: &[],
        query: &suffix,
    };
    let plain = playlist.render(
        &RenditionUris,
        &RenderOptions {
            query: &QuerySuffix::none(),
            ..options
        },
    );
    let text = playlist.render(&RenditionUris, &options);
    assert_eq!(text.lines().count(), plain.lines().count(), "{text}");
    assert_eq!(
        text.matches('"').count(),
        plain.matches('"').count(),
        "{text}"
    );
}

/// An accepted path's fields are what a namespace and a track can be, and its file written
/// back names the same file.
fn check_resource(resource: &Resource) {
    let (namespace, file) = match resource {
        Resource::Multivariant { namespace } => (namespace, None),
        Resource::Rendition {
            namespace,
            track,
            file,
        } => {
            assert!(!track.is_empty() && !track.contains(['/', '\n']));
            (namespace, Some(*file))
        }
    };
    let fields: Vec<&str> = namespace.split('/').collect();
    assert!(fields.len() <= path::MAX_FIELDS);
    for field in fields {
        assert!(
            !field.is_empty() && !field.starts_with('.'),
            "{namespace:?}"
        );
        assert!(!field.contains(char::is_control), "{namespace:?}");
    }
    let name = match file {
        None | Some(File::Media) | Some(File::CurrentInit) => return,
        Some(File::Init(id)) => RenditionUris.init(id),
        Some(File::Segment(msn)) => RenditionUris.segment(msn),
        Some(File::Part(msn, index)) => RenditionUris.part(msn, index),
    };
    let again = path::parse(&format!("a/{}/t/{name}", path::SEPARATOR));
    assert!(
        matches!(again, Ok(Resource::Rendition { file: f, .. }) if Some(f) == file),
        "{name}: {again:?}"
    );
}

/// Segments 10 to 13 of 0.9 s (three parts each) and segment 14 in progress with one part.
fn live() -> MediaPlaylist {
    let config = PlaylistConfig {
        first_msn: 10,
        ..PlaylistConfig::new(1, 1000)
    };
    let mut playlist = MediaPlaylist::new(config).expect("config");
    let part = |independent| Part {
        duration: 300,
        independent,
    };
    let start = SegmentStart::default();
    for _ in 0..4 {
        let pushed = playlist.push(start, &[part(true), part(false), part(false)]);
        assert!(pushed.is_ok(), "{pushed:?}");
    }
    assert!(playlist.open(start).is_ok() && playlist.push_part(part(true)).is_ok());
    playlist
}

/// A broadcast's catalog from `data`, as the HLS side reads it, and the multivariant playlist
/// made of it. Never panics; every rendition read can be a path segment, and the playlist is
/// written unless a codec cannot be a quoted-string.
pub fn hls_catalog(data: &[u8]) {
    let Some(list) = catalog::renditions(data) else {
        return;
    };
    assert!(list.len() <= MAX_TRACKS);
    for rendition in &list {
        assert!(catalog::uri_safe(&rendition.name), "{:?}", rendition.name);
        assert!(rendition.timescale > 0);
    }
    let Some(presentation) = catalog::multivariant(&list, path::media_from_multivariant) else {
        return;
    };
    match presentation.render(&QuerySuffix::new("token=x").expect("a query")) {
        Ok(text) => {
            let lines = text.lines().count();
            assert_eq!(
                lines,
                1 + presentation.audio.len() + 2 * presentation.variants.len(),
                "{text}"
            );
        }
        Err(MultivariantError::Unquotable { what: "CODECS", .. }) => {}
        Err(e) => panic!("a catalog's playlist is always written: {e}"),
    }
}
