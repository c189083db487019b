//! A rendition's files as one viewer gets them: its media playlist (held for a blocking
//! reload, with the other renditions' reports, naming the viewer's watermark variant of each
//! segment of a marked rendition), its init sections, and its segments and parts, from the
//! feed's memory or, for a segment whose bytes it no longer holds, fetched from the node.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tern_model::Location;
use tern_model::fetch::Entry;

use super::feed::Feed;
use super::path::{self, File, MarkedUris, RenditionUris};
use super::reload::{Answer, PartAnswer, decide, decide_part};
use super::render::{RenderOptions, RenditionReport};
use super::request::Viewer;
use super::segmenter::Segmenter;
use super::serve::{Admitted, Failure, Hls};
use super::store::Span;

/// The bytes of `file` (an init section, a segment or a part) of `feed` for a viewer
/// `admitted` for it (`named`: the watermark variant its URI names), with their
/// `Cache-Control` directive. What is not there yet is waited for until `deadline`.
pub(super) async fn media(
    hls: &Hls,
    namespace: &str,
    feed: &Feed,
    admitted: &Admitted,
    named: Option<u32>,
    file: File,
    deadline: Instant,
) -> Result<(Bytes, &'static str), Failure> {
    let bytes = match file {
        File::Media => return Err(Failure::new(404, "a playlist is not media")),
        File::CurrentInit => {
            let init = wait_for(feed, deadline, |s| Ok(s.current_init().map(|(_, b)| b))).await?;
            return Ok((init, "max-age=2"));
        }
        File::Init(id) => {
            let init = with(feed, |s| s.init(id))?;
            return Ok((
                init.ok_or_else(|| Failure::new(404, "no such init section"))?,
                "max-age=86400, immutable",
            ));
        }
        File::Segment(_) | File::Part(..) if feed.marked() => {
            marked(hls, namespace, feed, admitted, named, file, deadline).await?
        }
        File::Segment(msn) => match with(feed, |s| (s.segment(msn), s.known_span(msn)))? {
            (Some(bytes), _) => bytes,
            // Out of the feed's memory (the window passed it, or its byte budget): fetched.
            (None, Some(span)) => fetched(feed, 0, span).await?,
            (None, None) => return Err(Failure::new(404, "no such segment")),
        },
        File::Part(msn, index) => {
            wait_for(feed, deadline, |s| {
                part_ready(s, msn, index).map(|ready| ready.and_then(|_| s.part(msn, index)))
            })
            .await?
        }
    };
    Ok((bytes, "max-age=300"))
}

/// Whether part `index` of segment `msn` is listed (`Some`: its objects), not yet (`None`:
/// the preload hint, held) or not in the window.
fn part_ready(s: &Segmenter, msn: u64, index: u32) -> Result<Option<Span>, Failure> {
    match decide_part(s.playlist(), msn, index) {
        PartAnswer::Ready => s
            .part_span(msn, index)
            .map(Some)
            .ok_or_else(|| Failure::new(404, "the part is no longer kept")),
        PartAnswer::Hold => Ok(None),
        PartAnswer::NotFound => Err(Failure::new(404, "no such part in the window")),
    }
}

/// A segment or part of a marked rendition, in the variant of its group the viewer gets
/// (asked for by that variant's URI, `named`, or by the rendition's own).
async fn marked(
    hls: &Hls,
    namespace: &str,
    feed: &Feed,
    admitted: &Admitted,
    named: Option<u32>,
    file: File,
    deadline: Instant,
) -> Result<Bytes, Failure> {
    let span = match file {
        File::Segment(msn) => with(feed, |s| s.known_span(msn))?
            .ok_or_else(|| Failure::new(404, "no such segment"))?,
        File::Part(msn, index) => wait_for(feed, deadline, |s| part_ready(s, msn, index)).await?,
        _ => return Err(Failure::new(404, "no such file")),
    };
    let viewer = admitted
        .subject
        .as_deref()
        .ok_or_else(|| Failure::new(500, "a marked rendition without the viewer's identity"))?;
    let variant = hls
        .choices(viewer, namespace, feed, &[span.group])
        .await
        .get(&span.group)
        .copied()
        .flatten()
        .ok_or_else(|| {
            Failure::new(
                503,
                "the watermark of this segment could not be chosen for this viewer",
            )
        })?;
    if named.is_some_and(|v| v != variant) {
        return Err(Failure::new(
            403,
            "not this viewer's variant of the segment: use the playlist's URIs",
        ));
    }
    let held = |feed: &Feed| match variant {
        0 => with(feed, |s| match file {
            File::Segment(msn) => s.segment(msn),
            File::Part(msn, index) => s.part(msn, index),
            _ => None,
        })
        .ok()
        .flatten(),
        v => feed
            .variants
            .as_ref()
            .and_then(|store| store.lock().ok()?.bytes(v, span)),
    };
    // Held by the feed, else fetched from the node; variant B's objects may also trail A's a
    // little.
    let mut changed = feed.changed.subscribe();
    let mut why = None;
    loop {
        if let Some(bytes) = held(feed) {
            return Ok(bytes);
        }
        if why.is_none() {
            match fetched(feed, variant, span).await {
                Ok(bytes) => return Ok(bytes),
                Err(f) => why = Some(f),
            }
        }
        if Instant::now() >= deadline {
            return Err(why.unwrap_or_else(|| Failure::new(503, "not there in time")));
        }
        let deadline = tokio::time::Instant::from_std(deadline);
        let _ = tokio::time::timeout_at(deadline, changed.changed()).await;
    }
}

/// The most FETCHes one segment's objects take.
const MAX_FETCHES: usize = 16;

/// The objects of `span` of variant `variant` (0: the track read) fetched from the node (its
/// cache, or upstream: the origin's DVR), concatenated: a segment whose bytes the feed no
/// longer holds.
async fn fetched(feed: &Feed, variant: u32, span: Span) -> Result<Bytes, Failure> {
    let gone = |why: &str| Failure::new(404, format!("the segment is no longer held: {why}"));
    let fetcher = feed.fetcher(variant).ok_or_else(|| gone("not read"))?;
    let end = span.first + span.count.max(1) - 1;
    let mut next = span.first;
    let mut out = BytesMut::new();
    for _ in 0..MAX_FETCHES {
        let plan = fetcher
            .fetch(
                Location::new(span.group, next),
                Location::new(span.group, end),
            )
            .await
            .map_err(|r| gone(&r.reason))?;
        for entry in plan.entries {
            match entry {
                Entry::Object {
                    location, payload, ..
                } if location == Location::new(span.group, next) => {
                    out.extend_from_slice(&payload);
                    next += 1;
                }
                Entry::Object { .. } => {}
                Entry::Unknown(_) => return Err(gone("part of it is not held")),
            }
        }
        if next > end {
            return Ok(out.freeze());
        }
        if plan.last < Location::new(span.group, next) {
            break;
        }
    }
    Err(gone("objects of it are missing"))
}

/// The text of a media playlist of `feed` for `viewer` and its `Cache-Control` directive,
/// once the playlist has what a blocking reload asks. A marked rendition's names the viewer's
/// variant of every segment and part.
pub(super) async fn media_playlist(
    hls: &Hls,
    namespace: &str,
    feed: &Feed,
    viewer: &Viewer,
    admitted: &Admitted,
) -> Result<(String, String), Failure> {
    let siblings = siblings(hls, namespace, feed, viewer).await;
    let subject = admitted.subject.as_deref().filter(|_| feed.marked());
    let first_wait = viewer.received + hls.config().wait();
    let mut changed = feed.changed.subscribe();
    let mut variants: HashMap<u64, u32> = HashMap::new();
    let mut tries = 0;
    loop {
        if let Some(reason) = feed.failed.lock().ok().and_then(|f| f.clone()) {
            return Err(Failure::new(404, reason));
        }
        let now = Instant::now();
        // The others' state as it is now (each locked on its own, before this one).
        let reports = reports(&siblings);
        let (answer, text, unknown) = {
            let state = feed
                .state
                .lock()
                .map_err(|_| Failure::new(500, "hls state poisoned"))?;
            let playlist = state.playlist();
            let answer = if playlist.last_part().is_none() && !playlist.is_ended() {
                // Nothing to list yet: wait for the first part as for a blocking reload.
                if now < first_wait {
                    Answer::Wait {
                        deadline: first_wait,
                    }
                } else {
                    Answer::Unavailable
                }
            } else {
                decide(&viewer.reload, playlist, viewer.received, now)
            };
            // The groups of the segments whose variant this viewer's playlist does not name
            // yet (a few tries: new segments may come meanwhile).
            let unknown: Vec<(u64, u64)> = match (subject, answer == Answer::Now) {
                (Some(_), true) if tries < 3 => playlist
                    .segments()
                    .chain(playlist.in_progress())
                    .filter(|s| !variants.contains_key(&s.msn))
                    .filter_map(|s| {
                        let span = state.known_span(s.msn).or(state.segment_span(s.msn))?;
                        Some((s.msn, span.group))
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let options = RenderOptions {
                skip: viewer.reload.skip,
                reports: &reports,
                query: &viewer.query,
            };
            let text = (answer == Answer::Now && unknown.is_empty()).then(|| match subject {
                Some(_) => playlist.render(
                    &MarkedUris {
                        rendition: &feed.rendition,
                        variants: &variants,
                    },
                    &options,
                ),
                None => playlist.render(&RenditionUris, &options),
            });
            (answer, text, unknown)
        };
        match (answer, text, subject) {
            (Answer::Now, Some(text), _) => {
                let cache = if viewer.reload.msn.is_some() {
                    format!("max-age={}", hls.config().target_duration)
                } else {
                    "max-age=1".to_owned()
                };
                return Ok((text, cache));
            }
            (Answer::Now, None, Some(subject)) => {
                tries += 1;
                let groups: Vec<u64> = unknown.iter().map(|(_, g)| *g).collect();
                let choices = hls.choices(subject, namespace, feed, &groups).await;
                for (msn, group) in unknown {
                    // A group without a choice is named by the rendition's own URIs.
                    if let Some(Some(v)) = choices.get(&group) {
                        variants.insert(msn, *v);
                    }
                }
                if variants.is_empty() {
                    tries = 3;
                }
            }
            (Answer::Wait { deadline }, _, _) => {
                let deadline = tokio::time::Instant::from_std(deadline);
                // A change or the deadline: decide again either way.
                let _ = tokio::time::timeout_at(deadline, changed.changed()).await;
            }
            (Answer::BadRequest(refusal), _, _) => {
                return Err(Failure::new(400, refusal.to_string()));
            }
            _ => return Err(Failure::new(503, "the playlist did not get there in time")),
        }
    }
}

/// How long a playlist request waits for the first part of the other renditions' feeds it
/// started.
const REPORT_WAIT: Duration = Duration::from_secs(1);

/// The other renditions a playlist of `feed` reports: every other rendition of the
/// broadcast's catalog this viewer may play, with its feed (started if it is not running, and
/// kept running while it is reported). A feed this request started is waited for a little
/// ([`REPORT_WAIT`]) to have a part to report; a rendition left out is logged with the reason.
async fn siblings(
    hls: &Hls,
    namespace: &str,
    feed: &Feed,
    viewer: &Viewer,
) -> Vec<(String, Arc<Feed>)> {
    let list = match hls.catalog(namespace).await {
        Ok(list) => list,
        Err(f) => {
            left_out(namespace, "*", &f.reason);
            return Vec::new();
        }
    };
    let mut siblings = Vec::new();
    for r in list.iter().filter(|r| r.name != feed.rendition) {
        let admitted = match hls
            .admit(namespace, Some(&r.name), &viewer.credentials)
            .await
        {
            Ok(a) => a,
            Err(f) => {
                left_out(namespace, &r.name, &f.reason);
                continue;
            }
        };
        match hls.feed(namespace, &r.name, &admitted).await {
            Ok(f) => siblings.push((r.name.clone(), f)),
            Err(f) => left_out(namespace, &r.name, &f.reason),
        }
    }
    // Feeds that have nothing yet (just started): their first part, a little while.
    let deadline = tokio::time::Instant::from_std(viewer.received + REPORT_WAIT);
    futures::future::join_all(siblings.iter().map(|(_, f)| async move {
        let mut changed = f.changed.subscribe();
        loop {
            let listed = f.state.lock().map_or(true, |s| {
                s.playlist().last_part().is_some() || s.playlist().is_ended()
            });
            let failed = f.failed.lock().map_or(true, |r| r.is_some());
            if listed || failed {
                return;
            }
            if tokio::time::timeout_at(deadline, changed.changed())
                .await
                .is_err()
            {
                return;
            }
        }
    }))
    .await;
    for (name, f) in &siblings {
        if f.state
            .lock()
            .is_ok_and(|s| s.playlist().last_part().is_none())
        {
            left_out(namespace, name, "its feed has no part yet");
        }
    }
    siblings
}

fn left_out(namespace: &str, rendition: &str, why: &str) {
    tracing::debug!(namespace, rendition, "hls: no rendition report: {why}");
}

/// The rendition reports of `siblings` as they are now.
fn reports(siblings: &[(String, Arc<Feed>)]) -> Vec<RenditionReport> {
    siblings
        .iter()
        .filter_map(|(name, other)| {
            let state = other.state.lock().ok()?;
            RenditionReport::of(state.playlist(), path::media_from_media(name))
        })
        .collect()
}

/// Runs `f` on the segmenter.
fn with<T>(feed: &Feed, f: impl FnOnce(&Segmenter) -> T) -> Result<T, Failure> {
    let state = feed
        .state
        .lock()
        .map_err(|_| Failure::new(500, "hls state poisoned"))?;
    Ok(f(&state))
}

/// Asks `f` until it has an answer (`Ok(None)`: not yet), after every change, until `deadline`
/// (then 503).
async fn wait_for<T>(
    feed: &Feed,
    deadline: Instant,
    f: impl Fn(&Segmenter) -> Result<Option<T>, Failure>,
) -> Result<T, Failure> {
    let mut changed = feed.changed.subscribe();
    loop {
        if let Some(found) = with(feed, &f)?? {
            return Ok(found);
        }
        if Instant::now() >= deadline {
            return Err(Failure::new(503, "not there in time"));
        }
        let deadline = tokio::time::Instant::from_std(deadline);
        let _ = tokio::time::timeout_at(deadline, changed.changed()).await;
    }
}
