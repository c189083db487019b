//! Forensic A/B watermarking at the last hop.
//!
//! The origin publishes two marked variants of a track `T` as `T.wm-a` and `T.wm-b` (see
//! `tern_watermark`'s names). Between relays they are two ordinary tracks, cached and forwarded
//! unmarked. When the edge plugin points a viewer's request for `T` at `T.wm-a`, the relay serves
//! it from both: a [`Marking`] asks the plugin's object phase once per group which variant this
//! viewer gets and hands out that variant's cached object (a `Bytes` clone, never a copy). The
//! result is never cached nor forwarded as a track: it exists only on the viewer's streams.
//!
//! A group the plugin fails on (trap, timeout, full queue), or whose chosen variant the cache
//! lacks, ends for that viewer alone and is counted in [`WATERMARK_FAILURES`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tern_moq::Message;
use tern_moq::message::codes::RequestErrorCode;
use tern_watermark::{split_variant, variant_track};

use crate::core::types::TrackName;

use super::session::SessionShared;

pub mod marking;
pub use marking::{Marking, Markings, VARIANTS, Variants, WATERMARK_FAILURES};
use tern_model::TrackConsumer;

/// The variant-set decision for one request: `Ok(None)` when the request is not marked,
/// `Err` with the REQUEST_ERROR when it must be refused.
pub type Verdict = Result<Option<Variants>, (RequestErrorCode, String)>;

/// The track a SUBSCRIBE or standalone FETCH names.
pub fn requested_track(message: &Message) -> Option<&Bytes> {
    match message {
        Message::Subscribe(m) => Some(&m.track_name),
        Message::Fetch(m) => m.fetch_type.track().map(|(_, name)| name),
        _ => None,
    }
}

/// Whether the session is another relay (a link to an upstream, or a cluster member; a hop
/// list naming its sender counts only from a member): it gets variant tracks as they are,
/// never a marked mix.
pub fn is_relay(s: &SessionShared) -> bool {
    s.proto(|p| p.role()) != tern_moq::session::Role::Server || s.is_member() || s.auth.is_relay()
}

/// Decide whether a request is served from a variant set. `original` is the track the peer
/// asked for, `message` the request after the plugin (`variants`: the plugin pointed it at
/// variant A of `original`).
///
/// - A viewer asking for a variant by name is refused: it would get one variant unmarked.
/// - A relay asking for a marked track is refused: the mark is made at the last hop only, and a
///   relay would cache one viewer's mix for all of its viewers. Relays take the variants.
pub fn verdict(
    s: &SessionShared,
    original: Option<&Bytes>,
    message: &Message,
    variants: Option<Variants>,
) -> Verdict {
    let relay = is_relay(s);
    let refuse = |why: String| Err((RequestErrorCode::UNAUTHORIZED, why));
    match (variants, original) {
        (Some(_), Some(name)) if relay => refuse(format!(
            "{} is watermarked at the last hop; relays subscribe to its variants",
            String::from_utf8_lossy(name)
        )),
        (Some(v), _) => Ok(Some(v)),
        (None, _) => match requested_track(message) {
            Some(name) if !relay && split_variant(name).is_some() => refuse(format!(
                "{} is a watermark variant: viewers subscribe to the track itself",
                String::from_utf8_lossy(name)
            )),
            _ => Ok(None),
        },
    }
}

/// The other variants' names of variant A's track `name`.
pub fn other_variants(name: &TrackName) -> Vec<TrackName> {
    let Some((base, _)) = split_variant(&name.name) else {
        return Vec::new();
    };
    (1..VARIANTS)
        .filter_map(|v| variant_track(base, v))
        .map(|n| TrackName {
            namespace: name.namespace.clone(),
            name: Bytes::from(n),
        })
        .collect()
}

/// Request ID of the companion subscription to variant `variant` of a viewer's request
/// `request`: far above the IDs a peer uses, so it never collides with one of its own.
fn companion_id(request: u64, variant: u32) -> u64 {
    (1 << 61) | (u64::from(variant) << 56) | request
}

/// The relay's own subscriptions to the other variants of a marked request, for as long as it
/// lives; dropping it unsubscribes them.
pub struct Companions {
    hub: Arc<super::hub::Hub>,
    session: crate::core::router::SessionId,
    requests: Vec<u64>,
    /// Their request channels, kept open so the router's later commands have somewhere to go.
    _rx: Vec<tokio::sync::mpsc::Receiver<super::hub::ToRequest>>,
}

impl Drop for Companions {
    fn drop(&mut self) {
        let (sid, requests) = (self.session, std::mem::take(&mut self.requests));
        self.hub.post(move |l, now| {
            for rid in requests {
                l.remove_request(sid, rid);
                l.router.handle_unsubscribe(sid, rid, now);
            }
        });
    }
}

/// Subscribe (through the router, as any subscriber would) to the other variants of variant
/// A's `name` for the viewer's request `request`, and wait until each is accepted. Their
/// objects land in the relay's cache, where [`Marking`] finds them.
pub async fn subscribe_companions(
    hub: &Arc<super::hub::Hub>,
    s: &SessionShared,
    request: u64,
    name: &TrackName,
    filter: crate::core::types::Filter,
    rendezvous: Duration,
) -> Result<(Vec<TrackConsumer>, Companions), crate::core::router::Refusal> {
    use crate::core::router::{Command, Refusal};
    let mut companions = Companions {
        hub: hub.clone(),
        session: s.id,
        requests: Vec::new(),
        _rx: Vec::new(),
    };
    let mut handles = Vec::new();
    for (i, other) in other_variants(name).into_iter().enumerate() {
        let rid = companion_id(request, i as u32 + 1);
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        companions.requests.push(rid);
        let sid = s.id;
        hub.on_loop(move |l, now| {
            l.add_request(sid, rid, tx, None);
            l.router
                .handle_subscribe(sid, rid, other, filter, rendezvous, now);
        })
        .await;
        // The rendezvous, then as long as an upstream's answer may take.
        let wait = rendezvous + hub.settings.upstream_answer_timeout;
        let answer = tokio::time::timeout(wait, rx.recv()).await;
        match answer {
            Ok(Some(super::hub::ToRequest {
                command: Command::SubscribeOk { .. },
                accepted: Some((_, _, handle)),
            })) => handles.push(handle.consumer()),
            Ok(Some(super::hub::ToRequest {
                command: Command::Refuse { reason, .. },
                ..
            })) => return Err(reason),
            Ok(_) => return Err(Refusal::DoesNotExist),
            Err(_) => return Err(Refusal::Timeout),
        }
        companions._rx.push(rx);
    }
    Ok((handles, companions))
}

/// A marking of variant A's `name` from what this relay already caches (a standalone FETCH):
/// `None` when a variant is not cached here.
pub async fn cached_marking(
    hub: &super::hub::Hub,
    variants: Variants,
    name: &TrackName,
) -> Option<Arc<Marking>> {
    let plugin = hub.settings.plugin.clone()?;
    let mut names = vec![name.clone()];
    names.extend(other_variants(name));
    let ids = hub
        .read(move |r| names.iter().map(|n| r.track_id(n)).collect::<Vec<_>>())
        .await;
    let handles = ids
        .into_iter()
        .map(|id| id.and_then(|id| hub.track(id)).map(|t| t.consumer()))
        .collect::<Option<Vec<_>>>()?;
    Some(Arc::new(Marking::new(
        plugin,
        variants.viewer,
        handles,
        hub.settings.timeouts.variant_wait,
    )))
}
