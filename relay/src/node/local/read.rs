//! Local readers: a subscription to a track, its join at the start of the current group and
//! its FETCHes of past groups (from the cache, or forwarded upstream as a standalone FETCH),
//! broadcast look-ups with a fast "not found", and readers judged without reading (a viewer
//! of a front-end, and its watermark variant per group).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tern_edge_wasm::ObjectDecision;
use tern_model::fetch::{self, Entry, Plan};
use tern_model::local::{
    Authorized, BroadcastInfo, Credentials, ReadGrant, ReadOptions, Refused, RefusedKind, Start,
};

use crate::core::router::{Command, SessionId};
use crate::core::track::DATAGRAM_SUBGROUP;
use crate::core::types::{Filter, Location, Namespace, TrackName};
use crate::node::hub::{Hub, ToRequest};
use tern_watermark::split_variant;

use super::ask::{FIRST, ask, refused};

pub(super) async fn subscribe(
    hub: &Arc<Hub>,
    mut track: TrackName,
    credentials: Credentials,
    options: ReadOptions,
) -> Result<ReadGrant, Refused> {
    // A local reader is a last-hop viewer (unless operator code of this process): as for a MoQ
    // viewer, one watermark variant by name would be an unmarked copy.
    if !credentials.member && split_variant(&track.name).is_some() {
        return Err(Refused::new(
            RefusedKind::Unauthorized,
            format!("{track} is a watermark variant: viewers read the track itself"),
        ));
    }
    // Operator code is not judged by the plugin, as a cluster member's requests are not (a
    // front-end that reads for many viewers judges each of them with `authorize`).
    if let Some(plugin) = hub.settings.plugin.as_ref().filter(|_| !credentials.member) {
        let decision = crate::node::plugin::judge_local(
            plugin,
            &credentials,
            false,
            &track.namespace,
            Some(&track.name),
        )
        .await?;
        if let Some(other) = decision.track {
            // Pointed at variant A of the track asked for: marked for this viewer, group by
            // group, which a MoQ viewer's writer does at the last hop; a local reader would
            // get variant A whole, unmarked.
            let marked = split_variant(&other)
                .is_some_and(|(base, variant)| variant == 0 && base == &track.name[..]);
            if marked {
                return Err(Refused::new(
                    RefusedKind::Unsupported,
                    format!(
                        "{track} is watermarked for each viewer; a local reader cannot be served \
                         its marked mix"
                    ),
                ));
            }
            track.name = other;
        }
    }
    let filter = match options.start {
        Start::CurrentGroup => Filter::LargestObject,
        _ => Filter::NextGroupStart,
    };
    let sid = hub.next_session_id();
    let (t, rendezvous) = (track.clone(), options.rendezvous);
    let (_, mut rx) = ask(hub, sid, FIRST, move |r, now| {
        r.handle_subscribe(sid, FIRST, t, filter, rendezvous, now)
    })
    .await;
    // The rendezvous, then the upstream's answer (each bounded by the router's timers).
    let wait = options.rendezvous + hub.settings.upstream_answer_timeout + Duration::from_secs(1);
    let answer = tokio::time::timeout(wait, rx.recv()).await;
    hub.on_loop(move |l, _| l.remove_request(sid, FIRST)).await;
    match answer {
        Ok(Some(ToRequest {
            command: Command::SubscribeOk { .. },
            accepted: Some((largest, subscription, _)),
        })) => {
            // Joining at the current group: its start, from the cache or from upstream.
            let joined = match (options.start, largest) {
                (Start::CurrentGroup, Some(l)) => fetch(hub, &track, Location::new(l.group, 0), l)
                    .await
                    .map(|p| p.entries)
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            Ok(ReadGrant {
                id: sid,
                track,
                largest,
                joined,
                subscription,
            })
        }
        other => {
            hub.apply(move |r, now| {
                r.handle_unsubscribe(sid, FIRST, now);
                r.handle_session_closed(sid, now);
            })
            .await;
            Err(match other {
                Ok(Some(ToRequest {
                    command: Command::Refuse { reason, .. },
                    ..
                })) => refused(reason),
                Err(_) => {
                    Refused::new(RefusedKind::Timeout, "no answer from the track's publisher")
                }
                _ => Refused::new(RefusedKind::NotFound, "the track ended"),
            })
        }
    }
}

/// Bytes of objects one local FETCH answered from upstream hands out at once: a range with
/// more ends early ([`Plan::last`]) and its reader fetches the rest from there.
pub(super) fn pull_bound(hub: &Hub) -> usize {
    hub.settings.cache.max_group_bytes.saturating_mul(2)
}

/// Past objects `start..=end` of `name` for a local reader: from the cache when it holds the
/// whole range, else from the track's upstream (a standalone FETCH, as a downstream FETCH is
/// forwarded), else what the cache holds of it.
pub(super) async fn fetch(
    hub: &Arc<Hub>,
    name: &TrackName,
    start: Location,
    end: Location,
) -> Result<Plan, Refused> {
    let not_found = |r: fetch::Refusal| Refused::new(RefusedKind::NotFound, format!("{name}: {r}"));
    if end < start {
        return Err(Refused::new(
            RefusedKind::Invalid,
            fetch::Refusal::Reversed.to_string(),
        ));
    }
    let (handle, upstream) = hub.locate(name).await;
    let cached = handle
        .as_ref()
        .map(|h| h.read(|t| (t.covers(start, end), fetch::plan(t, start, end))));
    if let Some((true, plan)) = cached {
        return plan.map_err(not_found);
    }
    let upstream = upstream.and_then(|id| hub.session(id));
    let mut why = None;
    if let Some(up) = upstream {
        let deadline = tokio::time::Instant::now()
            + hub.settings.upstream_answer_timeout
            + hub.settings.timeouts.fetch_data;
        let (bound, mut bytes) = (pull_bound(hub), 0);
        let mut entries = Vec::new();
        let pulled =
            crate::node::backfill::fetch_upstream(&up, name, start, end, deadline, |o, p| {
                bytes += p.len() + o.properties.raw().len();
                entries.push(Entry::Object {
                    location: Location::new(o.group_id, o.object_id),
                    subgroup: o.subgroup_id.unwrap_or(DATAGRAM_SUBGROUP),
                    priority: o.publisher_priority,
                    properties: o.properties.raw().clone(),
                    payload: p,
                });
                bytes < bound
            })
            .await;
        match (pulled, entries.last()) {
            (Ok(()), Some(last)) => {
                let last = last.location();
                return Ok(Plan {
                    start,
                    entries,
                    last,
                });
            }
            (Ok(()), None) => why = Some("the upstream holds none of it".to_string()),
            (Err(e), _) => {
                tracing::debug!(%name, ?start, ?end, error = %e, "local FETCH upstream failed");
                why = Some(e.to_string());
            }
        }
    }
    match (cached, why) {
        (Some((_, Ok(plan))), _) => Ok(plan),
        (_, Some(why)) => Err(Refused::new(
            RefusedKind::NotFound,
            format!("{name}: the range is not held here, and {why}"),
        )),
        (Some((_, Err(r))), None) => Err(not_found(r)),
        (None, None) => Err(Refused::new(
            RefusedKind::NotFound,
            format!("{name} is not held here and has no upstream"),
        )),
    }
}

/// A reader judged as [`subscribe`] judges it, nothing read: who it is and what it would read.
pub(super) async fn authorize(
    hub: &Arc<Hub>,
    namespace: Namespace,
    track: Option<Bytes>,
    credentials: Credentials,
) -> Result<Authorized, Refused> {
    if let Some(name) = &track
        && !credentials.member
        && split_variant(name).is_some()
    {
        return Err(Refused::new(
            RefusedKind::Unauthorized,
            format!(
                "{} is a watermark variant: viewers read the track itself",
                String::from_utf8_lossy(name)
            ),
        ));
    }
    let Some(plugin) = hub.settings.plugin.as_ref().filter(|_| !credentials.member) else {
        return Ok(Authorized {
            subject: None,
            track,
            marked: false,
            expires_at_ms: None,
        });
    };
    let decision =
        crate::node::plugin::judge_local(plugin, &credentials, false, &namespace, track.as_ref())
            .await?;
    // Pointed at variant A of the track asked for: marked for this viewer, group by group.
    let marked = match (&decision.track, &track) {
        (Some(other), Some(asked)) => {
            split_variant(other).is_some_and(|(base, variant)| variant == 0 && base == &asked[..])
        }
        _ => false,
    };
    Ok(Authorized {
        subject: Some(decision.subject),
        track: decision.track.or(track),
        marked,
        expires_at_ms: decision.expires_at_ms,
    })
}

/// Which variant of `group` of the marked track whose variant A is `track` `viewer` gets: the
/// plugin's object phase, as a MoQ viewer's marking asks it (and counted the same way).
pub(super) async fn variant(
    hub: &Arc<Hub>,
    viewer: String,
    track: TrackName,
    group: u64,
) -> Result<u32, Refused> {
    use crate::node::plugin::object::{PLUGIN_DECISIONS, object_phase};
    use crate::node::watermark::{VARIANTS, WATERMARK_FAILURES};
    let Some(plugin) = &hub.settings.plugin else {
        return Err(Refused::new(
            RefusedKind::Unsupported,
            "no plugin marks tracks on this node",
        ));
    };
    let failed = |why: String| {
        metrics::counter!(PLUGIN_DECISIONS, "phase" => "object", "outcome" => "error").increment(1);
        metrics::counter!(WATERMARK_FAILURES, "reason" => "plugin").increment(1);
        tracing::warn!(viewer, group, %track, "watermark choice failed: {why}");
        Err(Refused::new(
            RefusedKind::Unavailable,
            format!("no watermark variant for group {group}: {why}"),
        ))
    };
    let variant = match object_phase(plugin, &viewer, &track, group).await {
        Ok(ObjectDecision::Pass) => 0,
        Ok(ObjectDecision::UseVariant(v)) if v < VARIANTS => v,
        Ok(ObjectDecision::UseVariant(v)) => {
            return failed(format!("the plugin chose variant {v}, which the set lacks"));
        }
        Err(error) => return failed(error.to_string()),
    };
    metrics::counter!(PLUGIN_DECISIONS, "phase" => "object", "outcome" => "allow").increment(1);
    Ok(variant)
}

pub(super) async fn broadcast(
    hub: &Arc<Hub>,
    namespace: Namespace,
    credentials: Credentials,
) -> Result<BroadcastInfo, Refused> {
    if let Some(plugin) = hub.settings.plugin.as_ref().filter(|_| !credentials.member) {
        crate::node::plugin::judge_local(plugin, &credentials, false, &namespace, None).await?;
    }
    let ns = namespace.clone();
    let (reachable, tracks) = hub
        .read(move |r| (r.is_reachable(&ns), r.tracks_of(&ns)))
        .await;
    if !reachable {
        return Err(Refused::new(
            RefusedKind::NotFound,
            "no publisher and no upstream announced this broadcast",
        ));
    }
    Ok(BroadcastInfo { namespace, tracks })
}

/// A reading's handle was dropped: unsubscribe.
pub(super) fn end(hub: &Arc<Hub>, id: SessionId) {
    hub.post(move |l, now| {
        l.router.handle_unsubscribe(id, FIRST, now);
        l.router.handle_session_closed(id, now);
    });
}
