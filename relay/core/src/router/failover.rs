//! Moving a track to another upstream without its subscribers noticing.
//!
//! When a track's upstream dies (its session closes, its subscription stream ends without
//! PUBLISH_DONE), sends GOAWAY, refuses a moved subscription or ends it with GOING_AWAY, the
//! router picks the next session publishing a namespace that covers the track and subscribes
//! there with [`Command::SubscribeUpstream`] `resume: true` (the driver then backfills the gap
//! with FETCH). Downstream subscriptions are untouched: same request, same reader. With no other
//! upstream, the track is *lost*: its subscribers are held for the linger window, and a publisher
//! that comes back within it (PUBLISH of the track, or PUBLISH_NAMESPACE covering it) carries on
//! where the old one stopped. Past the window the subscribers get PUBLISH_DONE.

use std::time::Instant;

use super::{Command, Ended, Refusal, RequestId, Router, SessionId, TrackId, Upstream};
use crate::types::{Filter, Namespace};

/// Upstreams remembered as failed per track (more are forgotten oldest first): bounds the
/// state a flapping tree can make the router keep.
const MAX_TRIED: usize = 16;

/// PUBLISH_DONE status GOING_AWAY: the upstream is leaving, the track is not over.
const GOING_AWAY: u64 = 0x4;

impl Router {
    /// Upstream subscriptions moved to another upstream so far.
    pub fn failovers(&self) -> u64 {
        self.failovers
    }

    /// Sessions a new subscription to `name` could go to (publishers of a namespace covering
    /// it, none going away).
    pub fn routes(&self, name: &crate::types::TrackName) -> usize {
        let mut sessions: Vec<SessionId> = self
            .routes_to(&name.namespace)
            .flat_map(|(_, pubs)| pubs.iter().map(|(s, _)| *s))
            .filter(|s| !self.going_away.contains(s))
            .collect();
        sessions.sort_unstable();
        sessions.dedup();
        sessions.len()
    }

    /// Tracks held without a live upstream, waiting for a publisher to return.
    pub fn lost_tracks(&self) -> usize {
        self.tracks
            .values()
            .filter(|t| t.lost_since.is_some())
            .count()
    }

    /// The upstream subscription for `track` on `session` ended: `status` is the PUBLISH_DONE
    /// status, `None` when its stream or session went away without one. A clean end ends the
    /// downstream subscriptions; GOING_AWAY or a loss moves the track to the next upstream.
    pub fn handle_upstream_ended(
        &mut self,
        track: TrackId,
        session: SessionId,
        status: Option<u64>,
        now: Instant,
    ) {
        let Some(entry) = self.tracks.get_mut(&track) else {
            return;
        };
        if entry.replacing == Some(session) {
            // The upstream we were moving away from finished first: nothing is lost.
            entry.replacing = None;
            return;
        }
        if entry.upstream.session() != session || matches!(entry.upstream, Upstream::Published(..))
        {
            return; // a subscription the track has already moved away from
        }
        match status {
            Some(s) if s != GOING_AWAY => self.handle_upstream_done(track, s),
            Some(_) => {
                self.fail_over(
                    track,
                    session,
                    "upstream ended the subscription with GOING_AWAY",
                    now,
                );
            }
            None => {
                self.fail_over(track, session, "upstream subscription lost", now);
            }
        }
    }

    /// PUBLISH_DONE (or a PUBLISH's) arrived from `session` for `track`; the driver reports
    /// the end itself after letting the last data land. Until then the session closing is not
    /// a loss.
    pub fn handle_upstream_done_received(&mut self, track: TrackId, session: SessionId) {
        if let Some(entry) = self.tracks.get_mut(&track)
            && entry.upstream.session() == session
        {
            entry.done_from = Some(session);
        }
    }

    /// [`Self::handle_upstream_done_received`] for a PUBLISHed track, by its request.
    pub fn handle_publish_done_received(&mut self, session: SessionId, request: RequestId) {
        if let Some(track) = self.published_track(session, request) {
            self.handle_upstream_done_received(track, session);
        }
    }

    /// The upstream on `session` refused our SUBSCRIBE for `track` with `code`. A track that
    /// was moving tries the next upstream; a new one refuses its waiting subscribers.
    pub fn handle_upstream_refused(
        &mut self,
        track: TrackId,
        session: SessionId,
        code: u64,
        now: Instant,
    ) {
        let Some(entry) = self.tracks.get(&track) else {
            return;
        };
        if entry.upstream.session() != session {
            return;
        }
        if matches!(entry.upstream, Upstream::Published(..)) {
            // The same publisher PUBLISHed the track since our SUBSCRIBE left (it may refuse
            // that SUBSCRIBE as a duplicate of its PUBLISH): its PUBLISH feeds the track now.
            return;
        }
        let moving = !entry.tried.is_empty();
        if moving
            && self.fail_over(
                track,
                session,
                "upstream refused the moved subscription",
                now,
            )
        {
            return;
        }
        if moving
            && self
                .tracks
                .get(&track)
                .is_some_and(|t| t.lost_since.is_some())
        {
            return; // held for the linger window
        }
        self.handle_upstream_error(track, code);
    }

    /// A PUBLISHed track's request stream went away without PUBLISH_DONE (the publisher
    /// dropped): keep its subscribers while a publisher may return.
    pub fn handle_publish_lost(&mut self, session: SessionId, request: RequestId, now: Instant) {
        let Some(track) = self.published_track(session, request) else {
            return;
        };
        let idle = self
            .tracks
            .get(&track)
            .is_some_and(|t| t.subscribers.is_empty() && t.waiting.is_empty());
        if idle {
            self.handle_upstream_done(track, 0x2);
            return;
        }
        self.fail_over(track, session, "publisher dropped", now);
    }

    /// The peer on `session` sent GOAWAY: new subscriptions avoid it, and each track it feeds
    /// moves to another upstream where one offers it (the old subscription keeps feeding the
    /// track until the new one answers). Tracks with nowhere else to go stay until the session
    /// ends or a new route appears.
    pub fn handle_goaway(&mut self, session: SessionId, now: Instant) {
        if !self.going_away.insert(session) {
            return;
        }
        let fed: Vec<TrackId> = self
            .fed_by_session(session)
            .into_iter()
            .filter(|id| {
                self.tracks
                    .get(id)
                    .is_some_and(|t| matches!(t.upstream, Upstream::Subscribed(s) if s == session))
            })
            .collect();
        for track in fed {
            self.move_from(track, session, "upstream sent GOAWAY", now);
        }
    }

    /// A new publisher of `namespace` appeared: lost tracks under it come back, and tracks fed
    /// by a session going away move to it.
    pub(super) fn recover(&mut self, namespace: &Namespace, now: Instant) {
        let covered: Vec<(TrackId, SessionId, bool)> = self
            .tracks_under(namespace)
            .filter_map(|(_, id)| self.tracks.get(&id).map(|t| (id, t)))
            .filter(|(_, t)| {
                t.lost_since.is_some()
                    || (t.replacing.is_none() && self.going_away.contains(&t.upstream.session()))
            })
            .map(|(id, t)| (id, t.upstream.session(), t.lost_since.is_some()))
            .collect();
        for (track, from, lost) in covered {
            if lost {
                self.fail_over(track, from, "a publisher of the track returned", now);
            } else {
                self.move_from(
                    track,
                    from,
                    "a route away from an upstream going away appeared",
                    now,
                );
            }
        }
    }

    /// A PUBLISH of a track the relay already has: the new publisher takes over.
    pub(super) fn take_over(&mut self, track: TrackId, session: SessionId, request: RequestId) {
        let trusted = self.is_trusted(session);
        let Some(entry) = self.tracks.get_mut(&track) else {
            return;
        };
        let old = entry.upstream;
        entry.upstream = Upstream::Published(session, request);
        self.note_feed(track, session);
        let Some(entry) = self.tracks.get_mut(&track) else {
            return;
        };
        entry.member_fed |= trusted;
        entry.lost_since = None;
        entry.tried.clear();
        if let Some(r) = entry.replacing.take() {
            self.commands
                .push_back(Command::UnsubscribeUpstream { session: r, track });
        }
        // Our SUBSCRIBE is cancelled even at the publisher itself: its PUBLISH feeds the track
        // now, and the subscription would run on untracked.
        if let Upstream::Pending(s) | Upstream::Subscribed(s) = old {
            self.commands
                .push_back(Command::UnsubscribeUpstream { session: s, track });
        }
        if old.session() != session {
            self.failovers += 1;
            tracing::info!(
                track = %self.tracks[&track].name,
                from = old.session(),
                to = session,
                "a new publisher took the track over"
            );
        }
    }

    /// Make-before-break: subscribe `track` at another upstream while `from` keeps feeding it.
    /// Returns whether one was found.
    fn move_from(&mut self, track: TrackId, from: SessionId, why: &str, _now: Instant) -> bool {
        let Some(next) = self.next_upstream(track, from) else {
            if let Some(entry) = self.tracks.get(&track) {
                tracing::info!(
                    track = %entry.name,
                    from,
                    why,
                    "no other upstream offers the track yet: staying"
                );
            }
            return false;
        };
        if let Some(entry) = self.tracks.get_mut(&track) {
            entry.replacing = Some(from);
        }
        self.note_feed(track, from);
        self.resubscribe(track, from, next, why);
        true
    }

    /// Break-then-make: `from` no longer feeds `track`; subscribe at the next upstream, or hold
    /// the subscribers for the linger window. Returns whether an upstream was found.
    pub(super) fn fail_over(
        &mut self,
        track: TrackId,
        from: SessionId,
        why: &str,
        now: Instant,
    ) -> bool {
        let Some(next) = self.next_upstream(track, from) else {
            // An upstream the track was moving away from stays until the track ends or finds
            // a new one (it is cancelled then), never forgotten while it runs.
            let mut newly = false;
            if let Some(entry) = self.tracks.get_mut(&track)
                && entry.lost_since.is_none()
            {
                tracing::warn!(
                    track = %entry.name,
                    from,
                    why,
                    linger = ?self.config.linger,
                    "no other upstream offers the track: holding its subscribers"
                );
                entry.lost_since = Some(now);
                newly = true;
            }
            if newly {
                self.linger_from(track, now);
            }
            return false;
        };
        self.resubscribe(track, from, next, why);
        true
    }

    /// The session to move `track` to from `from`: not `from`, not one that failed it already,
    /// not one of its own subscribers (that would loop).
    fn next_upstream(&self, track: TrackId, from: SessionId) -> Option<SessionId> {
        let entry = self.tracks.get(&track)?;
        let mut avoid = entry.tried.clone();
        avoid.push(from);
        avoid.extend(entry.subscribers.iter().map(|(s, _)| *s));
        avoid.extend(entry.waiting.iter().map(|(s, _, _)| *s));
        avoid.extend(self.untrusted_for(track));
        // A track a member fed moves only to another member route.
        self.publisher_for(&entry.name, &avoid, entry.member_fed)
    }

    fn resubscribe(&mut self, track: TrackId, from: SessionId, to: SessionId, why: &str) {
        let trusted = self.is_trusted(to);
        let Some(entry) = self.tracks.get_mut(&track) else {
            return;
        };
        entry.member_fed |= trusted;
        tracing::info!(track = %entry.name, from, to, why, "moving the track to another upstream");
        if entry.tried.len() >= MAX_TRIED {
            entry.tried.remove(0);
        }
        entry.tried.push(from);
        entry.upstream = Upstream::Pending(to);
        self.note_feed(track, to);
        let Some(entry) = self.tracks.get_mut(&track) else {
            return;
        };
        entry.fed_by = None;
        entry.lost_since = None;
        let name = entry.name.clone();
        self.failovers += 1;
        self.upstream_subscribes += 1;
        self.commands.push_back(Command::SubscribeUpstream {
            session: to,
            track,
            name,
            filter: Filter::LargestObject,
            resume: true,
        });
    }

    /// Lost tracks whose publisher did not return within the linger window end.
    /// `due`: the tracks whose linger deadline has come.
    pub(super) fn expire_lost(&mut self, due: &[TrackId], now: Instant) {
        let linger = self.config.linger;
        let expired: Vec<TrackId> = due
            .iter()
            .copied()
            .filter(|id| {
                self.tracks
                    .get(id)
                    .is_some_and(|t| t.lost_since.is_some_and(|i| now >= i + linger))
            })
            .collect();
        for id in expired {
            let Some(entry) = self.remove_track(id) else {
                continue;
            };
            tracing::info!(track = %entry.name, ?linger, "no publisher returned within the linger window: track ended");
            self.end_track(entry, Refusal::DoesNotExist, Ended::PublisherGone);
        }
    }
}

#[cfg(test)]
mod tests;
