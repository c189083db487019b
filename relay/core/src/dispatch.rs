//! What a node does with each of the router's commands: the one mapping from a [`Command`] to
//! its [`Effect`], called by the relay's node loop (`relay/src/node/dispatch.rs`) and by the
//! simulator (`sims/src/node.rs`) alike, so both carry out the router's decisions the same way
//! and in the router's order.
//!
//! The mapping depends on one fact the router does not hold: where the session a command names
//! is ([`Presence`]). A subscription upstream to a publisher that is gone becomes the router's
//! own refusal ([`Effect::UpstreamGone`]); one to a broadcast published in this process that
//! has not made the track yet waits for it ([`Effect::AwaitLocalTrack`]); a command to an
//! upstream session that is gone has no effect.

use crate::router::{Command, RequestId, SessionId, TrackId};
use crate::types::{Filter, Namespace, TrackName};

/// Where a session the router names is, as the node knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// A MoQ session of this node, connected.
    Connected,
    /// A broadcast published in this process (the node's local API).
    InProcess,
    /// Not (or no longer) a session of this node.
    Gone,
}

/// What a node does for one of the router's commands.
#[derive(Debug)]
pub enum Effect {
    /// Subscribe upstream at `session` (the node makes the track's cache first).
    SubscribeUpstream {
        /// The publisher's session.
        session: SessionId,
        /// The track.
        track: TrackId,
        /// Its name.
        name: TrackName,
        /// Where to start.
        filter: Filter,
        /// The track moves here from another upstream: backfill the gap first.
        resume: bool,
    },
    /// The track's publisher is a broadcast in this process that has not made the track (yet):
    /// wait for it as long as a publisher's answer may take, then refuse its subscribers as a
    /// publisher without the track does (the router's `handle_upstream_refused` with
    /// DOES_NOT_EXIST).
    AwaitLocalTrack {
        /// The publication's session.
        session: SessionId,
        /// The track.
        track: TrackId,
    },
    /// The track's publisher is gone: tell the router at once, as a refusal with
    /// DOES_NOT_EXIST (its subscribers move on or are refused).
    UpstreamGone {
        /// The session that is gone.
        session: SessionId,
        /// The track.
        track: TrackId,
    },
    /// Cancel the upstream subscription of `track` at `session`.
    UnsubscribeUpstream {
        /// The publisher's session.
        session: SessionId,
        /// The track.
        track: TrackId,
    },
    /// Offer `track` to a SUBSCRIBE_TRACKS subscriber (PUBLISH).
    Offer {
        /// The subscriber's session.
        session: SessionId,
        /// The track.
        track: TrackId,
    },
    /// Announce `namespace` on a link (PUBLISH_NAMESPACE upstream), with its hop list.
    Announce {
        /// The link's session.
        session: SessionId,
        /// The namespace.
        namespace: Namespace,
        /// Its path so far, ending with this relay.
        hops: crate::hops::Hops,
    },
    /// Withdraw an announcement made on a link.
    Withdraw {
        /// The link's session.
        session: SessionId,
        /// The namespace.
        namespace: Namespace,
    },
    /// A listing's change: `namespace` is now announced (or withdrawn) for a
    /// SUBSCRIBE_NAMESPACE subscriber.
    Listing {
        /// The subscriber's session.
        session: SessionId,
        /// Its SUBSCRIBE_NAMESPACE request.
        request: RequestId,
        /// The full namespace.
        namespace: Namespace,
        /// Announced (`true`) or withdrawn.
        announced: bool,
    },
    /// An answer for a downstream request's task (SUBSCRIBE_OK, REQUEST_OK, REQUEST_ERROR,
    /// PUBLISH_DONE): the command as the router gave it.
    Answer(Command),
}

/// The effect of `cmd`, given where each session is (`presence`); `None` when it has none (a
/// command to an upstream session that is gone).
pub fn effect(cmd: Command, presence: impl Fn(SessionId) -> Presence) -> Option<Effect> {
    let connected = |s: SessionId| presence(s) == Presence::Connected;
    Some(match cmd {
        Command::SubscribeUpstream {
            session,
            track,
            name,
            filter,
            resume,
        } => match presence(session) {
            Presence::Connected => Effect::SubscribeUpstream {
                session,
                track,
                name,
                filter,
                resume,
            },
            Presence::InProcess => Effect::AwaitLocalTrack { session, track },
            Presence::Gone => Effect::UpstreamGone { session, track },
        },
        Command::UnsubscribeUpstream { session, track } if connected(session) => {
            Effect::UnsubscribeUpstream { session, track }
        }
        Command::PublishDownstream { session, track, .. } if connected(session) => {
            Effect::Offer { session, track }
        }
        Command::AnnounceUpstream {
            session,
            namespace,
            hops,
        } if connected(session) => Effect::Announce {
            session,
            namespace,
            hops,
        },
        Command::WithdrawUpstream { session, namespace } if connected(session) => {
            Effect::Withdraw { session, namespace }
        }
        Command::UnsubscribeUpstream { .. }
        | Command::PublishDownstream { .. }
        | Command::AnnounceUpstream { .. }
        | Command::WithdrawUpstream { .. } => return None,
        Command::Namespace {
            session,
            request,
            namespace,
        } => Effect::Listing {
            session,
            request,
            namespace,
            announced: true,
        },
        Command::NamespaceDone {
            session,
            request,
            namespace,
        } => Effect::Listing {
            session,
            request,
            namespace,
            announced: false,
        },
        Command::SubscribeOk { .. }
        | Command::Refuse { .. }
        | Command::Ok { .. }
        | Command::PublishDone { .. } => Effect::Answer(cmd),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Location;

    fn subscribe_upstream(session: SessionId) -> Command {
        Command::SubscribeUpstream {
            session,
            track: 7,
            name: TrackName::from_path("live/a", "video"),
            filter: Filter::AbsoluteStart(Location::new(3, 0)),
            resume: true,
        }
    }

    #[test]
    fn an_upstream_subscription_depends_on_where_its_publisher_is() {
        let at = |p: Presence| effect(subscribe_upstream(1), move |_| p);
        assert!(matches!(
            at(Presence::Connected),
            Some(Effect::SubscribeUpstream {
                session: 1,
                track: 7,
                resume: true,
                ..
            })
        ));
        assert!(matches!(
            at(Presence::InProcess),
            Some(Effect::AwaitLocalTrack {
                session: 1,
                track: 7
            })
        ));
        assert!(matches!(
            at(Presence::Gone),
            Some(Effect::UpstreamGone {
                session: 1,
                track: 7
            })
        ));
    }

    #[test]
    fn commands_to_a_gone_upstream_have_no_effect_and_answers_always_go_to_their_request() {
        let gone = |_| Presence::Gone;
        let unsubscribe = Command::UnsubscribeUpstream {
            session: 2,
            track: 7,
        };
        assert!(effect(unsubscribe, gone).is_none());
        let ok = Command::Ok {
            session: 2,
            request: 4,
        };
        assert!(matches!(
            effect(ok, gone),
            Some(Effect::Answer(Command::Ok {
                session: 2,
                request: 4
            }))
        ));
        let listed = Command::NamespaceDone {
            session: 2,
            request: 4,
            namespace: vec![bytes::Bytes::from_static(b"live")],
        };
        assert!(matches!(
            effect(listed, gone),
            Some(Effect::Listing {
                announced: false,
                ..
            })
        ));
    }
}
