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
//! Publishing itself has three classes of publisher ([`Class`]): members, sessions a plugin
//! authorised, and anonymous ones (which publish only from this host, or when
//! [`RouterConfig::open_publishing`](super::RouterConfig::open_publishing) is set). Each
//! publisher has an identity ([`Publisher`]: a member's certificate name, the subject a plugin
//! admitted, an anonymous peer's source address), and one policy ([`TakeOver`]) decides when a
//! new publisher of a live track takes it over from the one feeding it. Whatever the policy, the
//! same identity always takes over its own track at once (a reconnecting encoder is never
//! refused as already publishing), and a track a member fed stays with members.

use bytes::Bytes;

use super::{Refusal, RequestId, Router, SessionId, TrackId};

/// A publisher's trust class, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Neither a member nor authorised by a plugin.
    Anonymous,
    /// A plugin authorised its publishing.
    Authorised,
    /// A member of the cluster (or one of this relay's links to its upstreams).
    Member,
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Class::Anonymous => "anonymous",
            Class::Authorised => "authorised",
            Class::Member => "member",
        })
    }
}

/// Who publishes: the class and the identity it proved.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Publisher {
    /// The trust class.
    pub class: Class,
    /// The identity within the class: a member's certificate name, a plugin's subject, an
    /// anonymous peer's source address.
    pub identity: Bytes,
}

/// When a new publisher of a live track takes it over (`relay.takeover`). The same identity
/// always does, and only members take over a track a member fed, whatever the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TakeOver {
    /// A publisher of the same class or a higher one takes over (the newest wins among
    /// equals); a lower class is refused.
    #[default]
    Class,
    /// Any publisher the relay admits takes over (the newest wins).
    Newest,
    /// The first publisher keeps the track until it ends; others are refused.
    First,
}

impl TakeOver {
    /// The value of `relay.takeover` that selects this policy.
    pub fn key_value(self) -> &'static str {
        match self {
            TakeOver::Class => "class",
            TakeOver::Newest => "newest",
            TakeOver::First => "first",
        }
    }
}

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

    /// Who publishes on `session` from now on (the driver learns it from the session's
    /// certificate, a plugin's decision or its source address). Without it a session is a
    /// member (if [`Router::is_trusted`] under a cluster) or anonymous, with an identity of
    /// its own that matches no other session's.
    pub fn handle_identity(&mut self, session: SessionId, publisher: Publisher) {
        self.identities.insert(session, publisher);
    }

    /// The publisher on `session`.
    pub fn publisher(&self, session: SessionId) -> Publisher {
        if let Some(p) = self.identities.get(&session) {
            return p.clone();
        }
        let member = self.members.contains(&session) || self.links.contains_key(&session);
        Publisher {
            class: if member {
                Class::Member
            } else {
                Class::Anonymous
            },
            identity: Bytes::from(format!("session {session}")),
        }
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

    /// Whether `session` may take `track` over from whoever feeds it now, under the take-over
    /// policy; refuses `request` when not.
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
        if current == session {
            return true;
        }
        let new = self.publisher(session);
        let old = entry
            .fed_by
            .clone()
            .unwrap_or_else(|| self.publisher(current));
        if new.identity == old.identity && new.class == old.class {
            return true; // its own track (a reconnecting encoder)
        }
        let refusal = if entry.member_fed && !self.is_trusted(session) {
            self.untrusted_refusals += 1;
            tracing::warn!(
                track = %entry.name,
                session,
                member = current,
                "refused a takeover: a publisher outside the cluster cannot replace a member's track"
            );
            Refusal::Unauthorized
        } else {
            let policy = self.config.takeover;
            let allowed = match policy {
                TakeOver::Newest => true,
                TakeOver::Class => new.class >= old.class,
                TakeOver::First => false,
            };
            if allowed {
                return true;
            }
            tracing::info!(
                track = %entry.name,
                session,
                class = %new.class,
                publishing = %old.class,
                policy = policy.key_value(),
                "refused a takeover"
            );
            Refusal::Published {
                class: old.class,
                policy,
            }
        };
        self.refuse(session, request, refusal);
        false
    }

    /// The track's publisher is now `session`: who it is, for later take-overs.
    pub(super) fn note_feeder(&mut self, track: TrackId, session: SessionId) {
        let publisher = self.publisher(session);
        if let Some(entry) = self.tracks.get_mut(&track) {
            entry.fed_by = Some(publisher);
        }
    }

    /// Sessions `track` must not move to: outsiders among its routes, once a member has fed it.
    pub(super) fn untrusted_for(&self, track: TrackId) -> Vec<SessionId> {
        let Some(entry) = self.tracks.get(&track).filter(|t| t.member_fed) else {
            return Vec::new();
        };
        self.routes_to(&entry.name.namespace)
            .flat_map(|(_, pubs)| pubs.iter().map(|(s, _)| *s))
            .filter(|s| !self.is_trusted(*s))
            .collect()
    }
}

#[cfg(test)]
mod tests;
