//! The rules an LL-HLS viewer relies on, checked on the playlists it receives, one after
//! another: each text on its own (RFC 8216bis §4.4) and each rendition's reloads against the
//! ones before (§6.2.1, §6.2.2, §6.2.5). It reads the text only, never the writer's types, so
//! that tests and fuzz targets can hold any served playlist to the spec.
//!
//! Each text: a Target Duration that every `EXTINF`, rounded, is within; parts within the Part
//! Target Duration and, unless independent or their segment's last, at least 85% of it;
//! `PART-HOLD-BACK` at least three Part Target Durations and `CAN-SKIP-UNTIL` six Target
//! Durations; an `EXT-X-SKIP` only when asked for, with the version it needs, leaving the Skip
//! Boundary listed; program date-times that increase; `EXT-X-INDEPENDENT-SEGMENTS` (here or in
//! the multivariant playlist) only when every listed segment's first part is independent; a
//! preload hint that names no listed part; and a blocking reload answered only once the
//! playlist has what `_HLS_msn` and `_HLS_part` asked for (§6.2.5.2).
//!
//! Across a rendition's reloads: the Target Duration, Part Target Duration, `PART-HOLD-BACK`
//! and `CAN-SKIP-UNTIL` never change; the Media and Discontinuity Sequence Numbers never go
//! back; a segment keeps its URI, Media Sequence Number, duration and date; a part keeps its
//! URI, Media Sequence Number and Part Index, and a hinted part comes where it was hinted.

use std::collections::HashMap;

mod read;
#[cfg(test)]
mod tests;

use read::{Media, Micros, Playlist, attribute};

/// A rule a playlist breaks: the rule (its section of RFC 8216bis first) and what broke it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rule}: {detail}")]
pub struct Violation {
    /// The rule.
    pub rule: &'static str,
    /// What in the playlist breaks it.
    pub detail: String,
}

fn violation(rule: &'static str, detail: impl Into<String>) -> Violation {
    Violation {
        rule,
        detail: detail.into(),
    }
}

/// How many playlists of each kind were checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Multivariant playlists.
    pub multivariant: usize,
    /// Media playlists.
    pub media: usize,
    /// Media playlists answering a blocking reload (`_HLS_msn`).
    pub blocking: usize,
    /// Playlist Delta Updates (an `EXT-X-SKIP` that skipped segments).
    pub delta: usize,
}

/// What one rendition's reloads established.
#[derive(Debug, Default)]
struct Rendition {
    header: Option<Header>,
    media_sequence: u64,
    discontinuity_sequence: u64,
    /// Segment URI: its Media Sequence Number, duration and date.
    segments: HashMap<String, (u64, Micros, Option<i64>)>,
    /// Media Sequence Number: its segment's URI.
    uris: HashMap<u64, String>,
    /// Part URI (listed or hinted): its Media Sequence Number and Part Index.
    parts: HashMap<String, (u64, u32)>,
}

/// What must not change across reloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    target: Option<u64>,
    part_target: Option<Micros>,
    part_hold_back: Option<Micros>,
    can_skip_until: Option<Micros>,
}

/// Checks the playlists one viewer receives, in the order it receives them. See the
/// [module](self) documentation.
#[derive(Debug, Default)]
pub struct Checker {
    renditions: HashMap<String, Rendition>,
    /// A multivariant playlist said every segment is independent.
    independent: bool,
    tally: Tally,
}

impl Checker {
    /// A checker that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many playlists were checked.
    pub fn tally(&self) -> Tally {
        self.tally
    }

    /// Checks `text`, the answer to a GET of `url` (its path names the rendition; its query's
    /// Delivery Directives say what a blocking reload waited for).
    pub fn check(&mut self, url: &str, text: &str) -> Result<(), Violation> {
        let media = match read::playlist(text)? {
            Playlist::Multivariant(m) => return self.check_multivariant(&m),
            Playlist::Media(media) => media,
        };
        let query = url.split_once('?').map_or("", |(_, q)| q);
        let directive = |name: &str| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        };
        let msn = directive("_HLS_msn").and_then(|v| v.parse::<u64>().ok());
        let part = directive("_HLS_part").and_then(|v| v.parse::<u64>().ok());
        if media.skipped > 0 && directive("_HLS_skip").is_none() {
            return Err(violation(
                "6.2.5.1 a Playlist Delta Update only when _HLS_skip asks for one",
                format!("{} segments skipped", media.skipped),
            ));
        }
        check_text(&media, self.independent)?;
        if let (Some(msn), false) = (msn, media.ended)
            && !reached(&media, msn, part)
        {
            return Err(violation(
                "6.2.5.2 a blocking reload is answered once the playlist has what it asks for",
                format!("_HLS_msn={msn}, _HLS_part={part:?}"),
            ));
        }
        let key = read::without_query(url).to_owned();
        self.renditions.entry(key).or_default().check(&media)?;
        self.tally.media += 1;
        self.tally.blocking += usize::from(msn.is_some());
        self.tally.delta += usize::from(media.skipped > 0);
        Ok(())
    }

    fn check_multivariant(&mut self, m: &read::Multivariant) -> Result<(), Violation> {
        for media in &m.media {
            for name in ["TYPE", "GROUP-ID", "NAME"] {
                if attribute(media, name).is_none() {
                    return Err(violation(
                        "4.4.6.1 EXT-X-MEDIA has TYPE, GROUP-ID and NAME",
                        format!("{media:?}"),
                    ));
                }
            }
        }
        if m.variants.is_empty() {
            return Err(violation("4.4.6.2 a variant stream", "none"));
        }
        for variant in &m.variants {
            let list = &variant.attributes;
            if attribute(list, "BANDWIDTH").is_none_or(|b| b.parse::<u64>().is_err()) {
                return Err(violation(
                    "4.4.6.2 BANDWIDTH is required",
                    variant.uri.clone(),
                ));
            }
            if attribute(list, "CODECS").is_none() {
                return Err(violation("4.4.6.2 CODECS is given", variant.uri.clone()));
            }
            if let Some(group) = attribute(list, "AUDIO")
                && !m.media.iter().any(|media| {
                    attribute(media, "TYPE") == Some("AUDIO")
                        && attribute(media, "GROUP-ID") == Some(group)
                })
            {
                return Err(violation(
                    "4.4.6.2.1 AUDIO names a group of EXT-X-MEDIA:TYPE=AUDIO",
                    group.to_owned(),
                ));
            }
        }
        self.independent |= m.independent_segments;
        self.tally.multivariant += 1;
        Ok(())
    }
}

/// The rules of one media playlist's text.
fn check_text(media: &Media, independent: bool) -> Result<(), Violation> {
    let target = media.target.ok_or_else(|| {
        violation(
            "4.4.3.1 EXT-X-TARGETDURATION is required",
            "no Target Duration",
        )
    })?;
    for segment in &media.segments {
        if segment.duration.saturating_add(500_000) / 1_000_000 > target {
            return Err(violation(
                "4.4.3.1 every EXTINF, rounded to the nearest second, is at most the Target Duration",
                format!("{} lasts {} µs", segment.uri, segment.duration),
            ));
        }
    }
    let has_parts =
        !media.trailing.is_empty() || media.segments.iter().any(|s| !s.parts.is_empty());
    if let (true, None) = (has_parts, media.part_target) {
        return Err(violation(
            "4.4.3.7 EXT-X-PART-INF is required with parts",
            "no PART-TARGET",
        ));
    }
    if let Some(part_target) = media.part_target {
        match media.part_hold_back {
            Some(hold) if hold >= part_target.saturating_mul(3) => {}
            hold => {
                return Err(violation(
                    "4.4.3.8 PART-HOLD-BACK is at least three Part Target Durations",
                    format!("{hold:?} µs for a {part_target} µs Part Target"),
                ));
            }
        }
        let lists = media
            .segments
            .iter()
            .map(|s| s.parts.as_slice())
            .chain([media.trailing.as_slice()]);
        for parts in lists {
            for (index, part) in parts.iter().enumerate() {
                if part.duration > part_target {
                    return Err(violation(
                        "4.4.4.9 a Partial Segment is at most the Part Target Duration",
                        format!("{} lasts {} µs", part.uri, part.duration),
                    ));
                }
                let last = index + 1 == parts.len();
                if !part.independent
                    && !last
                    && part.duration.saturating_mul(100) < part_target.saturating_mul(85)
                {
                    return Err(violation(
                        "4.4.4.9 a Partial Segment, unless independent or its segment's last, \
                         is at least 85% of the Part Target Duration",
                        format!("{} lasts {} µs", part.uri, part.duration),
                    ));
                }
            }
        }
    }
    if let Some(skip) = media.can_skip_until
        && skip < target.saturating_mul(6_000_000)
    {
        return Err(violation(
            "4.4.3.8 CAN-SKIP-UNTIL is at least six Target Durations",
            format!("{skip} µs"),
        ));
    }
    let version = media.version.unwrap_or(1);
    if media.has_map && version < 6 {
        return Err(violation(
            "4.4.4.5 EXT-X-MAP needs version 6",
            format!("version {version}"),
        ));
    }
    if media.skipped > 0 {
        if version < 9 {
            return Err(violation(
                "4.4.5.2 EXT-X-SKIP needs version 9",
                format!("version {version}"),
            ));
        }
        let listed = media
            .segments
            .iter()
            .fold(0, |sum: Micros, s| sum.saturating_add(s.duration));
        let boundary = media.can_skip_until.ok_or_else(|| {
            violation(
                "6.2.5.1 a Playlist Delta Update only with CAN-SKIP-UNTIL",
                "no Skip Boundary",
            )
        })?;
        if listed < boundary {
            return Err(violation(
                "6.2.5.1 a Playlist Delta Update lists the segments within the Skip Boundary",
                format!("{listed} µs listed, the boundary is {boundary} µs"),
            ));
        }
    }
    let mut date = None;
    for segment in &media.segments {
        if let Some(at) = segment.program_date_time {
            if date.is_some_and(|before| at <= before) {
                return Err(violation(
                    "4.4.4.6 program date-times increase",
                    format!("{} at {at} ms", segment.uri),
                ));
            }
            date = Some(at);
        }
    }
    if independent || media.independent_segments {
        let mut firsts = media
            .segments
            .iter()
            .filter_map(|s| s.parts.first())
            .chain(media.trailing.first());
        if let Some(part) = firsts.find(|p| !p.independent) {
            return Err(violation(
                "4.4.2.1 with EXT-X-INDEPENDENT-SEGMENTS, every segment starts independent",
                format!("{} is not INDEPENDENT=YES", part.uri),
            ));
        }
    }
    if let Some(hint) = &media.hint {
        let mut listed = media
            .segments
            .iter()
            .flat_map(|s| &s.parts)
            .chain(&media.trailing);
        if listed.any(|p| &p.uri == hint) {
            return Err(violation(
                "4.4.5.3 the preload hint names a part not yet listed",
                hint.clone(),
            ));
        }
        if media.ended {
            return Err(violation(
                "4.4.5.3 no preload hint after EXT-X-ENDLIST",
                hint.clone(),
            ));
        }
    }
    Ok(())
}

/// Whether `media` has part `part` of segment `msn` or a later one (segment `msn` complete,
/// or a later one, without `part`). A part past a complete segment's last listed part is
/// part 0 of the next segment.
fn reached(media: &Media, msn: u64, part: Option<u64>) -> bool {
    let first = media.media_sequence.saturating_add(media.skipped);
    let last_complete =
        (!media.segments.is_empty()).then(|| first.saturating_add(media.segments.len() as u64 - 1));
    let Some(mut part) = part else {
        return last_complete.is_some_and(|last| last >= msn);
    };
    let mut msn = msn;
    if let Some(at) = msn.checked_sub(first)
        && let Some(segment) = media.segments.get(at as usize)
        && !segment.parts.is_empty()
        && part >= segment.parts.len() as u64
    {
        (msn, part) = (msn.saturating_add(1), 0);
    }
    if last_complete.is_some_and(|last| last > msn) {
        return true;
    }
    let listed = media
        .segments
        .iter()
        .enumerate()
        .map(|(at, s)| (first.saturating_add(at as u64), &s.parts))
        .chain(
            last_complete
                .map_or(Some(first), |l| l.checked_add(1))
                .map(|m| (m, &media.trailing)),
        );
    listed
        .filter(|(_, parts)| !parts.is_empty())
        .any(|(m, parts)| (m, parts.len() as u64 - 1) >= (msn, part))
        || last_complete == Some(msn) && media.segments.last().is_some_and(|s| s.parts.is_empty())
}

impl Rendition {
    /// The rules across reloads, then what this text establishes.
    fn check(&mut self, media: &Media) -> Result<(), Violation> {
        let header = Header {
            target: media.target,
            part_target: media.part_target,
            part_hold_back: media.part_hold_back,
            can_skip_until: media.can_skip_until,
        };
        if let Some(before) = self.header
            && before != header
        {
            return Err(violation(
                "6.2.1 the Target Duration, Part Target Duration, PART-HOLD-BACK and \
                 CAN-SKIP-UNTIL never change",
                format!("{before:?} then {header:?}"),
            ));
        }
        self.header = Some(header);
        if media.media_sequence < self.media_sequence {
            return Err(violation(
                "6.2.2 EXT-X-MEDIA-SEQUENCE never decreases",
                format!("{} then {}", self.media_sequence, media.media_sequence),
            ));
        }
        if media.discontinuity_sequence < self.discontinuity_sequence {
            return Err(violation(
                "6.2.2 EXT-X-DISCONTINUITY-SEQUENCE never decreases",
                format!(
                    "{} then {}",
                    self.discontinuity_sequence, media.discontinuity_sequence
                ),
            ));
        }
        self.media_sequence = media.media_sequence;
        self.discontinuity_sequence = media.discontinuity_sequence;

        let first = media.media_sequence.saturating_add(media.skipped);
        for (at, segment) in media.segments.iter().enumerate() {
            let msn = first.saturating_add(at as u64);
            let now = (msn, segment.duration, segment.program_date_time);
            if let Some(before) = self.segments.insert(segment.uri.clone(), now)
                && before != now
            {
                return Err(violation(
                    "6.2.1 a segment keeps its Media Sequence Number, duration and date",
                    format!("{}: {before:?} then {now:?}", segment.uri),
                ));
            }
            if let Some(uri) = self.uris.insert(msn, segment.uri.clone())
                && uri != segment.uri
            {
                return Err(violation(
                    "6.2.1 a Media Sequence Number keeps its segment",
                    format!("{msn}: {uri} then {}", segment.uri),
                ));
            }
            self.part_indexes(msn, &segment.parts)?;
        }
        let open = first.saturating_add(media.segments.len() as u64);
        self.part_indexes(open, &media.trailing)?;
        if let Some(hint) = &media.hint {
            self.part(hint, (open, media.trailing.len() as u32))?;
        }
        Ok(())
    }

    fn part_indexes(&mut self, msn: u64, parts: &[read::Part]) -> Result<(), Violation> {
        for (index, part) in parts.iter().enumerate() {
            self.part(&part.uri, (msn, index as u32))?;
        }
        Ok(())
    }

    /// Part `uri` is part `at` (Media Sequence Number, Part Index).
    fn part(&mut self, uri: &str, at: (u64, u32)) -> Result<(), Violation> {
        match self.parts.insert(uri.to_owned(), at) {
            Some(before) if before != at => Err(violation(
                "6.2.1 a part keeps its Media Sequence Number and Part Index (a hinted part \
                 comes where it was hinted)",
                format!("{uri}: {before:?} then {at:?}"),
            )),
            _ => Ok(()),
        }
    }
}
