//! Delivery Directives (RFC 8216bis §6.2.5): a media playlist request's `_HLS_msn`, `_HLS_part`
//! and `_HLS_skip`, and the Blocking Playlist Reload decision (§6.2.5.2): answer now, hold the
//! request until the playlist reaches what it asks for, refuse it (400), or give up (503). And
//! the requests for parts that `EXT-X-PRELOAD-HINT` invites (§6.2.6): serve, hold, or 404.
//!
//! Pure: the driver passes the time the request came in and the time now, and asks again
//! whenever the playlist changes or the deadline passes.

use std::cmp::Ordering;
use std::time::{Duration, Instant};

use super::playlist::MediaPlaylist;

/// The `_HLS_skip` directive: a Playlist Delta Update is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// `_HLS_skip=YES`: older segments are skipped.
    Yes,
    /// `_HLS_skip=v2`: older `EXT-X-DATERANGE` tags are skipped too.
    V2,
}

/// The Delivery Directives of a media playlist request. Other query parameters (a viewer's
/// token) are not this module's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReloadRequest {
    /// `_HLS_msn`: hold the answer until the playlist has this Media Sequence Number.
    pub msn: Option<u64>,
    /// `_HLS_part`: and this Part Index of it.
    pub part: Option<u64>,
    /// `_HLS_skip`.
    pub skip: Option<Skip>,
}

/// A Delivery Directive that cannot be read (HTTP 400), naming the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{parameter}: {reason}")]
pub struct DirectiveError {
    /// The query parameter.
    pub parameter: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl ReloadRequest {
    /// Reads the directives from a request's query (with or without its leading `?`).
    pub fn parse(query: &str) -> Result<Self, DirectiveError> {
        let mut request = Self::default();
        let query = query.strip_prefix('?').unwrap_or(query);
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let fail = |reason| DirectiveError {
                parameter: directive(name),
                reason,
            };
            match name {
                "_HLS_msn" | "_HLS_part" => {
                    let slot = if name == "_HLS_msn" {
                        &mut request.msn
                    } else {
                        &mut request.part
                    };
                    if slot.is_some() {
                        return Err(fail("given twice"));
                    }
                    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(fail("not a decimal-integer"));
                    }
                    *slot = Some(value.parse().map_err(|_| fail("out of range"))?);
                }
                "_HLS_skip" => {
                    if request.skip.is_some() {
                        return Err(fail("given twice"));
                    }
                    request.skip = Some(match value {
                        "YES" => Skip::Yes,
                        "v2" => Skip::V2,
                        _ => return Err(fail("must be YES or v2")),
                    });
                }
                _ => {}
            }
        }
        Ok(request)
    }
}

/// The parameter's name, as a `'static` string for the error.
fn directive(name: &str) -> &'static str {
    match name {
        "_HLS_msn" => "_HLS_msn",
        "_HLS_part" => "_HLS_part",
        _ => "_HLS_skip",
    }
}

/// What to do with a media playlist request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Send the playlist now.
    Now,
    /// Hold the request: decide again when the playlist changes, or at the deadline.
    Wait {
        /// Three Target Durations after the request came in (§6.2.5.2).
        deadline: Instant,
    },
    /// HTTP 400 Bad Request.
    BadRequest(Refusal),
    /// HTTP 503 Service Unavailable: held three Target Durations, still not there.
    Unavailable,
}

/// Why a request is refused (§6.2.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `_HLS_part` without `_HLS_msn`.
    #[error("_HLS_part without _HLS_msn")]
    PartWithoutMsn,
    /// `_HLS_msn` beyond the last segment's Media Sequence Number plus two.
    #[error("_HLS_msn {msn} is beyond {limit}, the last segment's plus two")]
    MsnTooFar {
        /// The request's `_HLS_msn`.
        msn: u64,
        /// The highest `_HLS_msn` held.
        limit: u64,
    },
    /// `_HLS_part` beyond the last part by more than the Advance Part Limit.
    #[error("_HLS_part is {ahead} parts past the last, beyond the advance part limit")]
    PartTooFar {
        /// How many parts past the last listed one the request is, at least.
        ahead: u64,
    },
}

/// Decides a media playlist request that came in at `received`; `now` is the time of asking.
///
/// - With `EXT-X-ENDLIST`, the directives are ignored (§6.2.5.2).
/// - `_HLS_part` without `_HLS_msn` is refused, as is an `_HLS_msn` past the last segment's
///   plus two, and an `_HLS_part` more than the Advance Part Limit (three seconds' worth of
///   parts, or three parts if the Part Target Duration is a second or more) past the last
///   listed part. A part past a segment's last is part 0 of the next (§6.2.5.2); past the
///   segment in progress, its count is taken as final, so the distance is a lower bound.
/// - `_HLS_msn=M` is answered once segment M or a later one is complete; with `_HLS_part=N`,
///   once part N of segment M or a later part is listed.
/// - Otherwise the request waits, for three Target Durations at most; then 503.
/// - Without `_HLS_msn`, it is answered now once the playlist has a complete segment; until
///   then it waits for one (three Target Durations at most, then it is answered as it is): a
///   client that reads segments only has nothing to play in a playlist of parts.
pub fn decide(
    request: &ReloadRequest,
    playlist: &MediaPlaylist,
    received: Instant,
    now: Instant,
) -> Answer {
    if playlist.is_ended() {
        return Answer::Now;
    }
    let hold = Duration::from_secs(u64::from(playlist.config().target_duration) * 3);
    let Some(msn) = request.msn else {
        if request.part.is_some() {
            return Answer::BadRequest(Refusal::PartWithoutMsn);
        }
        // A playlist without a complete Media Segment has nothing for a client that does not
        // read parts (ffmpeg takes the rendition as empty and drops it): held until the first
        // segment is complete, or for the hold, then answered as it is.
        return match received.checked_add(hold) {
            Some(deadline) if playlist.last_msn().is_none() && now < deadline => {
                Answer::Wait { deadline }
            }
            _ => Answer::Now,
        };
    };
    let next = playlist.next_msn();
    let limit = next.saturating_add(1);
    if msn > limit {
        return Answer::BadRequest(Refusal::MsnTooFar { msn, limit });
    }
    if let Some(part) = request.part {
        let ahead = parts_ahead(playlist, msn, part);
        if beyond_advance_limit(ahead, playlist.config().part_target_ms) {
            let ahead = u64::try_from(ahead).unwrap_or(u64::MAX);
            return Answer::BadRequest(Refusal::PartTooFar { ahead });
        }
    }
    if reached(playlist, msn, request.part) {
        return Answer::Now;
    }
    match received.checked_add(hold) {
        Some(deadline) if now < deadline => Answer::Wait { deadline },
        _ => Answer::Unavailable,
    }
}

/// How many parts past the last listed one part `part` of segment `msn` is, at least.
fn parts_ahead(playlist: &MediaPlaylist, msn: u64, part: u64) -> u128 {
    let next = playlist.next_msn();
    let listed = playlist
        .in_progress()
        .map_or(0, |open| open.parts.len() as u128);
    match msn.cmp(&next) {
        Ordering::Less => 0,
        Ordering::Equal => (u128::from(part) + 1).saturating_sub(listed),
        Ordering::Greater => u128::from(part) + 1,
    }
}

/// Whether `ahead` parts exceed the Advance Part Limit: 3 ÷ Part Target Duration if that is
/// under a second, 3 otherwise.
fn beyond_advance_limit(ahead: u128, part_target_ms: u32) -> bool {
    if part_target_ms < 1000 {
        ahead.saturating_mul(u128::from(part_target_ms)) > 3000
    } else {
        ahead > 3
    }
}

/// Whether the playlist holds segment `msn` (or a later one), or part `part` of it (or a later
/// part).
fn reached(playlist: &MediaPlaylist, msn: u64, part: Option<u64>) -> bool {
    let Some(last) = playlist.last_msn() else {
        // Nothing complete yet: only a part of the segment in progress can be there.
        return part.is_some_and(|part| {
            playlist
                .in_progress()
                .is_some_and(|open| open.msn == msn && part < open.parts.len() as u64)
        });
    };
    let Some(mut part) = part else {
        return msn <= last;
    };
    let mut msn = msn;
    if msn < playlist.first_msn() {
        // Older than the window: the playlist is past it.
        return true;
    }
    while let Some(segment) = playlist.segment(msn) {
        if part < segment.parts.len() as u64 {
            return true;
        }
        if msn > last {
            // The segment in progress: its last part is not known yet.
            return false;
        }
        // Past a complete segment's last part: part 0 of the next segment.
        let Some(next) = msn.checked_add(1) else {
            return false;
        };
        msn = next;
        part = 0;
    }
    false
}

/// What to do with a request for a part (as `EXT-X-PART` or `EXT-X-PRELOAD-HINT` names it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartAnswer {
    /// The part is complete: serve it.
    Ready,
    /// It is the hinted next part: hold the request until it is complete, then ask again.
    Hold,
    /// Neither in the window nor hinted (§6.2.6): HTTP 404.
    NotFound,
}

/// Decides a request for part `index` of segment `msn`.
pub fn decide_part(playlist: &MediaPlaylist, msn: u64, index: u32) -> PartAnswer {
    if playlist.part(msn, index).is_some() {
        PartAnswer::Ready
    } else if playlist.preload_hint() == Some((msn, index)) {
        PartAnswer::Hold
    } else {
        PartAnswer::NotFound
    }
}
