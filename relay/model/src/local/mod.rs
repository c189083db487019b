//! The local API of a running node: code in the node's process (the RTMP, SRT and WHIP
//! ingest, the LL-HLS and WHEP egress, `tern demo`'s broadcast) publishes broadcasts into the
//! node and reads any track it can reach, with no network hop and no serialisation.
//!
//! The contract every front-end relies on:
//!
//! - **Who.** A publisher or reader brings [`Credentials`] (its peer's address and token); the
//!   node judges them as it judges a MoQ session: the edge plugin's session-open, publish and
//!   subscribe phases, in that order, when the node has a plugin; else an anonymous publisher
//!   whose identity is its source address, admitted from this host only unless publishing is
//!   open. A front-end that admitted its publisher itself (a static stream key) publishes
//!   through [`LocalApi::vouched`]: an authorised publisher under the identity it proved, from
//!   any host, without the plugin. The trust class that results (anonymous, authorised,
//!   member) and the node's one
//!   take-over policy decide who keeps a track two publishers publish: the same identity always
//!   takes its track back; a publisher that loses its track gets [`TrackLost`] on its next
//!   append. A publisher that goes away without [`BroadcastProducer::finish`] leaves its
//!   tracks lingering, with their viewers, for one that comes back.
//! - **Budgets.** Objects are charged at append to the node's live budget and to the
//!   publisher's share, as a MoQ publisher's are: [`Appended::OverBudget`](crate::Appended) is
//!   the push-back (drop the rest of the group); refusals are [`Refused`] with a
//!   [`RefusedKind`] each front-end maps to its own protocol.
//! - **Reading.** [`LocalApi::broadcast`] answers "not found" at once for a name no publisher
//!   and no upstream announced (no upstream subscription per unknown name);
//!   [`LocalApi::catalog`] reads a broadcast's catalog; a [`Reading`] joins at the start of the
//!   current group ([`Reading::joined`]) and fetches past groups ([`Reading::fetch`]), from the
//!   node's cache or, where the cache does not hold them (a cold edge), from the track's
//!   upstream as a MoQ subscriber's joining FETCH and FETCH are; it sees the end of the track (an object with status End of Track,
//!   then [`Next::Closed`](crate::Next)) and incomplete groups (a subgroup reset, a group
//!   skipped for lag) as a MoQ subscriber does.
//!
//! - **Watermarks.** A reader is a last-hop viewer: a watermark variant asked for by name is
//!   refused, and a track the plugin marks for the reader (per-viewer A/B) is refused with
//!   [`RefusedKind::Unsupported`] rather than handed out as one unmarked variant; code of the
//!   operator's ([`Credentials::member`]) reads variants by name, as a relay does.
//! - **Front-ends that judge their own viewers.** A front-end serving many viewers from one
//!   reading (LL-HLS) asks [`LocalApi::authorize`] about each viewer: the plugin's session-open
//!   and subscribe phases, nothing read. It reads the tracks as operator code: a member's
//!   readings are not judged by the plugin, as a cluster member's requests are not. For a track
//!   marked for a viewer it reads every variant and picks the viewer's one per group with
//!   [`LocalApi::variant`] (the plugin's object phase, as for a MoQ viewer).
//!
//! The node's side is [`Calls`]: one bounded channel of [`Call`]s and the [`Release`]s that
//! dropped handles leave.

mod api;
mod node;
mod publish;
mod read;
mod types;

pub use api::{CATALOG_TRACK, LocalApi};
pub use node::{Call, Calls, Input, ReadGrant, Release, TrackGrant};
pub use publish::{AppendStats, BroadcastProducer, PublishedTrack, TrackLost};
pub use read::{Fetcher, Reading};
pub use tern_relay_core::types::namespace_path as path;
pub use types::{
    Authorized, BroadcastInfo, Credentials, ReadOptions, Refused, RefusedKind, Start, Vouched,
};
