//! Trust between the relays of one cluster.
//!
//! With a cluster configured ([`RouterConfig::cluster`]), a session is a *member* when the
//! driver says so (its peer proved membership, by mutual TLS with the cluster's CA) or when it
//! is one of this relay's own links to an upstream. Members publish freely. Other sessions:
//!
//! - publish nothing under [`Publishers::Cluster`] (a root or mid relay): their
//!   PUBLISH_NAMESPACE and PUBLISH are refused with UNAUTHORIZED;
//! - under [`Publishers::Any`] (an ingest edge) publish, but never take over a track a member
//!   feeds, and a track a member fed never fails over to them: an outsider cannot hijack a
//!   broadcast of the tree.
//!
//! Without a cluster every session is trusted, as before.
//!
//! Publishing itself has three classes of publisher: members, *vouched* sessions (the driver
//! says a plugin authorises each of their publishes, or that they come from this host), and
//! anonymous ones, which publish only when
//! [`RouterConfig::open_publishing`](super::RouterConfig::open_publishing) is set.

use super::{Refusal, RequestId, Router, SessionId, TrackId};

/// Who may publish on a relay of a cluster besides its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Publishers {
    /// Only cluster members (root and mid tiers).
    #[default]
    Cluster,
    /// Anyone the edge plugin admits too (an ingest edge); members' broadcasts stay theirs.
    Any,
}

impl Router {
    /// The peer on `session` proved it is a member of this relay's cluster.
    pub fn handle_member(&mut self, session: SessionId) {
        self.members.insert(session);
    }

    /// `session` may publish even though publishing is not open: a plugin authorises each of
    /// its publishes, or its peer is on this host.
    pub fn handle_vouched(&mut self, session: SessionId) {
        self.vouched.insert(session);
    }

    /// Whether `session` is trusted: no cluster is configured, or it is a member or one of
    /// this relay's upstream links.
    pub fn is_trusted(&self, session: SessionId) -> bool {
        self.config.cluster.is_none()
            || self.members.contains(&session)
            || self.links.contains_key(&session)
    }

    /// Announcements and PUBLISHes refused so far for lack of trust.
    pub fn untrusted_refusals(&self) -> u64 {
        self.untrusted_refusals
    }

    /// Whether `session` may publish here at all; refuses `request` when not.
    pub(super) fn admit_publisher(&mut self, session: SessionId, request: RequestId) -> bool {
        let member = self.members.contains(&session) || self.links.contains_key(&session);
        if member {
            return true;
        }
        if self.config.cluster == Some(Publishers::Cluster) {
            self.untrusted_refusals += 1;
            tracing::warn!(
                session,
                "refused a publisher that is not a member of the cluster"
            );
            self.refuse(session, request, Refusal::Unauthorized);
            return false;
        }
        if self.config.open_publishing || self.vouched.contains(&session) {
            return true;
        }
        self.untrusted_refusals += 1;
        tracing::warn!(
            session,
            "refused an anonymous publisher from another host (relay.open_publishing is off)"
        );
        self.refuse(session, request, Refusal::NotOpen);
        false
    }

    /// Whether `session` may take `track` over from its current upstream; refuses `request`
    /// when not (an outsider and a track a member feeds).
    pub(super) fn admit_takeover(
        &mut self,
        track: TrackId,
        session: SessionId,
        request: RequestId,
    ) -> bool {
        let Some(entry) = self.tracks.get(&track) else {
            return true;
        };
        let current = entry.upstream.session();
        if current == session || self.is_trusted(session) || !entry.member_fed {
            return true;
        }
        self.untrusted_refusals += 1;
        tracing::warn!(
            track = %entry.name,
            session,
            member = current,
            "refused a takeover: a publisher outside the cluster cannot replace a member's track"
        );
        self.refuse(session, request, Refusal::Unauthorized);
        false
    }

    /// Sessions `track` must not move to: outsiders, once a member has fed it.
    pub(super) fn untrusted_for(&self, track: TrackId) -> Vec<SessionId> {
        if !self.tracks.get(&track).is_some_and(|t| t.member_fed) {
            return Vec::new();
        }
        self.namespaces
            .values()
            .flat_map(|pubs| pubs.iter().map(|(s, _)| *s))
            .filter(|s| !self.is_trusted(*s))
            .collect()
    }
}

#[cfg(test)]
mod tests;
