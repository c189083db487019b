//! FETCH: past objects of a track served from the relay's cache.
//!
//! A standalone FETCH whose whole range the cache holds is answered here: FETCH_OK on the request
//! stream, then one fetch data stream carrying the objects in order. A range the cache cannot
//! vouch for gets REQUEST_ERROR INVALID_RANGE naming what is missing.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;

use tern_moq::ReasonPhrase;
use tern_moq::coding::MAX_REASON_PHRASE_LEN;
use tern_moq::data::{FetchHeader, FetchObject, FetchObjectState};
use tern_moq::message::codes::{RequestErrorCode, StreamResetCode};
use tern_moq::message::{
    Fetch, FetchOk, FetchType, GroupOrder, Parameters, RequestError, SubscriptionFilter,
};
use tern_peer::request::RequestStream;

use crate::core::track::Track;
use crate::core::types::{Location, TrackName};

use super::hub::Hub;
use super::session::{Inbound, SessionShared};
use super::wire::track_name;
use tern_peer::fetch_writer::{FetchRange, write_fetch};

fn error(code: RequestErrorCode, reason: String) -> RequestError {
    RequestError {
        error_code: code,
        retry_interval: 0,
        error_reason: ReasonPhrase::new(reason),
        redirect: None,
    }
}

/// Answer a FETCH with REQUEST_ERROR `code` saying `reason`, and end its stream.
async fn refuse(
    send: &mut RequestStream,
    code: RequestErrorCode,
    reason: String,
) -> super::error::Result<()> {
    send.send(error(code, reason)).await?;
    send.finish()?;
    Ok(())
}

/// Why the cache cannot answer for a range from `start_group`: evicted, or never held.
fn missing(name: &TrackName, track: &Track, start_group: u64) -> String {
    let oldest = track.group_ids().next();
    match oldest {
        Some(oldest) if track.evicted_groups() > 0 && start_group < oldest => {
            format!("{name}: groups before {oldest} were evicted from this relay's cache")
        }
        _ => format!("{name}: this relay's cache does not hold the whole range"),
    }
}

/// A Reason Phrase from `text`, cut to the 1024 bytes the wire allows.
fn phrase(mut text: String) -> ReasonPhrase {
    if text.len() > MAX_REASON_PHRASE_LEN {
        let mut at = MAX_REASON_PHRASE_LEN;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
    }
    ReasonPhrase::new(text)
}

/// A draft-20 FETCH whose range depends on the track's Largest Object, as the standalone
/// FETCH it names here: resolved against this relay's cache; an absolute start of a track not
/// cached here runs to the end of what upstream has.
async fn standalone(hub: &Arc<Hub>, fetch: &FetchType) -> Result<FetchType, String> {
    let FetchType::Ranged {
        track_namespace,
        track_name: name,
        filter,
    } = fetch
    else {
        return Ok(fetch.clone());
    };
    let full = track_name(track_namespace, name);
    let largest = match hub.locate(&full).await.0 {
        Some(h) => h
            .read(|t| t.largest())
            .map(|l| tern_moq::Location::new(l.group, l.object)),
        None => None,
    };
    let (start, end) = match SubscriptionFilter::fetch_range(*filter, largest) {
        Some((start, end)) if start <= end => (start, end),
        Some((start, end)) => {
            return Err(format!(
                "{full}: the range starts at {start:?}, after the Largest Object {end:?}"
            ));
        }
        None => match filter.map_or(Some(tern_moq::Location::new(0, 0)), |f| f.absolute_start()) {
            Some(start) => (start, tern_moq::Location::new(u64::MAX, u64::MAX)),
            None => {
                return Err(format!(
                    "{full} has no Largest Object here to start a relative FETCH from"
                ));
            }
        },
    };
    Ok(FetchType::Standalone {
        track_namespace: track_namespace.clone(),
        track_name: name.clone(),
        start_location: start,
        // One past the last object; past the last possible object, the whole group.
        end_location: tern_moq::Location::new(end.group, end.object.checked_add(1).unwrap_or(0)),
    })
}

/// Serve a FETCH request stream.
pub async fn serve(
    hub: &Arc<Hub>,
    s: &Arc<SessionShared>,
    m: Fetch,
    mut send: RequestStream,
    _inbound: Inbound,
    variants: Option<super::watermark::Variants>,
) -> super::error::Result<()> {
    let Some(_slot) = s.fetch_slot().await else {
        return refuse(
            &mut send,
            RequestErrorCode::EXCESSIVE_LOAD,
            format!(
                "{} FETCHes of this session are still being written",
                super::session::FETCHES_PER_SESSION
            ),
        )
        .await;
    };
    let mut m = m;
    if let FetchType::Ranged { .. } = &m.fetch_type {
        match standalone(hub, &m.fetch_type).await {
            Ok(fetch_type) => m.fetch_type = fetch_type,
            Err(why) => return refuse(&mut send, RequestErrorCode::INVALID_RANGE, why).await,
        }
    }
    let joining = !matches!(m.fetch_type, FetchType::Standalone { .. });
    // A marked FETCH (standalone, or joining a marked subscription) is answered from the
    // cached variants only: forwarded upstream it would come back as one variant, unmarked.
    let marking = match &m.fetch_type {
        FetchType::Standalone {
            track_namespace,
            track_name: name,
            ..
        } => match variants {
            Some(v) => {
                let name = track_name(track_namespace, name);
                let Some(marking) = super::watermark::cached_marking(hub, v, &name).await else {
                    return refuse(
                        &mut send,
                        RequestErrorCode::DOES_NOT_EXIST,
                        format!("{name} is watermarked and its variants are not cached here"),
                    )
                    .await;
                };
                Some(marking)
            }
            None => None,
        },
        FetchType::RelativeJoining {
            joining_request_id, ..
        }
        | FetchType::AbsoluteJoining {
            joining_request_id, ..
        } => s.auth.markings.get(*joining_request_id),
        FetchType::Ranged { .. } => None,
    };
    let original = m.fetch_type.clone();
    let resolved = match m.fetch_type {
        FetchType::Standalone {
            track_namespace,
            track_name: name,
            start_location,
            end_location,
        } => {
            let name = track_name(&track_namespace, &name);
            let (handle, upstream) = hub.locate(&name).await;
            let upstream = upstream
                .filter(|id| *id != s.id)
                .and_then(|id| hub.session(id));
            let cached = handle.as_ref().is_some_and(|h| {
                let end = match end_location.object {
                    0 => Location::new(end_location.group, u64::MAX),
                    o => Location::new(end_location.group, o - 1),
                };
                h.read(|t| {
                    t.covers(
                        Location::new(start_location.group, start_location.object),
                        end,
                    )
                })
            });
            if !cached
                && marking.is_none()
                && let Some(up) = upstream
            {
                let why = match &handle {
                    None => format!("{name} is not cached here"),
                    Some(h) => h.read(|t| missing(&name, t, start_location.group)),
                };
                return forward(hub, s, up, m.request_id, original, send, handle, why).await;
            }
            let Some(handle) = handle else {
                return refuse(
                    &mut send,
                    RequestErrorCode::DOES_NOT_EXIST,
                    format!("{name} is not cached here"),
                )
                .await;
            };
            // End Location is exclusive in its object (0: the whole end group).
            let end = if end_location.object == 0 {
                Location::new(end_location.group, u64::MAX)
            } else {
                Location::new(end_location.group, end_location.object - 1)
            };
            (
                handle,
                Location::new(start_location.group, start_location.object),
                end,
            )
        }
        FetchType::RelativeJoining {
            joining_request_id: id,
            joining_start,
        }
        | FetchType::AbsoluteJoining {
            joining_request_id: id,
            joining_start,
        } => {
            let relative = matches!(m.fetch_type, FetchType::RelativeJoining { .. });
            let Some((handle, joining)) = s.subscription(id) else {
                return refuse(
                    &mut send,
                    RequestErrorCode::INVALID_JOINING_REQUEST_ID,
                    format!("request {id} is not an established subscription"),
                )
                .await;
            };
            // Up to and including the Joining Location; nothing when the track was empty.
            let end = joining.unwrap_or(Location::new(0, 0));
            let start_group = if relative {
                end.group.saturating_sub(joining_start)
            } else {
                joining_start
            };
            if joining.is_none() {
                (handle, Location::new(1, 0), Location::new(0, 0))
            } else {
                let start = Location::new(start_group, 0);
                let cached = handle.read(|t| t.covers(start, end));
                let n = handle.name().clone();
                let upstream = hub
                    .read(move |r| r.upstream_for(&n))
                    .await
                    .filter(|id| *id != s.id)
                    .and_then(|id| hub.session(id));
                if !cached
                    && marking.is_none()
                    && let Some(up) = upstream
                {
                    // Ask upstream for the same range as a standalone FETCH.
                    let fetch = FetchType::Standalone {
                        track_namespace: tern_moq::TrackNamespace::new(
                            handle.name().namespace.clone(),
                        ),
                        track_name: handle.name().name.clone(),
                        start_location: tern_moq::Location::new(start.group, 0),
                        end_location: tern_moq::Location::new(
                            end.group,
                            end.object.saturating_add(1),
                        ),
                    };
                    let why = handle.read(|t| missing(handle.name(), t, start.group));
                    return forward(hub, s, up, m.request_id, fetch, send, Some(handle), why).await;
                }
                (handle, start, end)
            }
        }
        FetchType::Ranged { .. } => {
            let why = "a draft-20 FETCH left unresolved".to_string();
            return refuse(&mut send, RequestErrorCode::INTERNAL_ERROR, why).await;
        }
    };
    let (handle, start, end) = resolved;
    let name = handle.name().clone();
    let joining_empty = end < start;
    // Only where the range ends is read now; its objects are read page by page as the peer
    // takes them, so a peer that stalls pins one page, never a snapshot of the range.
    let (last, complete, largest) = handle.read(|t| {
        let last = if joining_empty {
            None
        } else {
            t.last_in(start, end)
        };
        (last, joining_empty || t.covers(start, end), t.largest())
    });
    if (!joining && end < start)
        || ((!complete && largest.is_none_or(|l| l < end)) && last.is_none() && !joining_empty)
    {
        return refuse(
            &mut send,
            RequestErrorCode::INVALID_RANGE,
            format!("{name}: {start:?}..{end:?} is not in this relay's cache"),
        )
        .await;
    }
    tracing::debug!(session = s.id, %name, ?start, ?end, ?last, "FETCH from cache");
    let last_sent = last.unwrap_or(start);
    let ok = FetchOk {
        end_of_track: false,
        end_location: tern_moq::Location::new(last_sent.group, last_sent.object.saturating_add(1)),
        parameters: Parameters::new(),
        track_properties: Default::default(),
    };
    send.send(ok).await?;
    send.finish()?;
    let Some(last) = last else {
        // Nothing to send (an empty Joining FETCH): an empty fetch stream.
        let mut data = s
            .bounded("open a fetch stream", s.session.open_uni())
            .await?;
        let mut head = BytesMut::new();
        FetchHeader {
            request_id: m.request_id,
        }
        .encode_as(&mut head, s.proto(|p| p.version()))?;
        s.bounded("write a fetch stream", data.write_chunk(head.freeze()))
            .await?;
        data.finish()?;
        return Ok(());
    };
    let range = FetchRange {
        start,
        last,
        descending: m.parameters.group_order() == Some(GroupOrder::Descending),
        unknown: None,
    };
    let variants = marking
        .as_deref()
        .map(|m| m as &dyn tern_peer::writer::Variants);
    // The stream goes below every live one; among fetches, by its first object's priority.
    let priority = handle
        .read(|t| t.page(start, last, 1, 0).first().map(|(_, _, p)| *p))
        .unwrap_or(128);
    write_fetch(
        &s.session,
        s.proto(|p| p.version()),
        m.request_id,
        &handle.consumer(),
        range,
        priority,
        s.timeouts.peer_stall,
        variants,
        Duration::ZERO,
    )
    .await?;
    Ok(())
}

/// A fetch data stream from upstream: its events go to the FETCH we forwarded, or it is
/// stopped.
pub async fn upstream_fetch_stream(
    _hub: &Arc<Hub>,
    s: &Arc<SessionShared>,
    mut inbound: Inbound,
    header: FetchHeader,
) {
    let Some(sink) = s.fetch_sink(header.request_id) else {
        tracing::debug!(
            session = s.id,
            request = header.request_id,
            "unexpected fetch stream stopped"
        );
        inbound.stop(StreamResetCode::CANCELLED);
        return;
    };
    while let Some(event) = inbound.next(s).await {
        if sink.send(event).await.is_err() {
            inbound.stop(StreamResetCode::CANCELLED);
            return;
        }
    }
}

/// Forward a FETCH the cache cannot answer (`why`) to the track's upstream, relaying its
/// response and objects downstream (and caching them where they fit). A refusal keeps the
/// upstream's code, and its reason says why the relay could not answer either.
#[allow(clippy::too_many_arguments)]
async fn forward(
    _hub: &Arc<Hub>,
    s: &Arc<SessionShared>,
    up: Arc<SessionShared>,
    request_id: u64,
    fetch_type: FetchType,
    mut send: RequestStream,
    handle: Option<tern_model::TrackProducer>,
    why: String,
) -> super::error::Result<()> {
    use tern_moq::Message;
    use tern_moq::session::Event;

    let Some(_slot) = up.forward_slot().await else {
        return refuse(
            &mut send,
            RequestErrorCode::EXCESSIVE_LOAD,
            format!("{why}; this relay's upstream is busy with other FETCHes"),
        )
        .await;
    };
    let mut asked = super::ask_fetch::AskedFetch::send(&up, fetch_type).await?;
    let reply = tokio::time::timeout(up.timeouts.peer_stall, asked.answer()).await;
    match reply {
        Ok(Some(Message::FetchOk(ok))) => {
            tracing::debug!(session = s.id, end = ?ok.end_location, "upstream FETCH_OK");
            send.send(ok).await?;
            send.finish()?;
        }
        Ok(Some(Message::RequestError(mut e))) => {
            let theirs = e.error_reason.to_string_lossy();
            e.error_reason = phrase(format!("{why}; upstream refused: {theirs}"));
            send.send(e).await?;
            send.finish()?;
            return Ok(());
        }
        other => {
            tracing::debug!(session = s.id, ?other, "upstream FETCH failed");
            return refuse(
                &mut send,
                RequestErrorCode::TIMEOUT,
                format!("{why}; upstream did not answer the FETCH"),
            )
            .await;
        }
    }
    let mut down = s
        .bounded("open a fetch stream", s.session.open_uni())
        .await?;
    let version = s.proto(|p| p.version());
    let mut head = BytesMut::new();
    FetchHeader { request_id }.encode_as(&mut head, version)?;
    s.bounded("write a fetch stream", down.write_chunk(head.freeze()))
        .await?;
    let mut state = FetchObjectState::new(GroupOrder::Ascending);
    loop {
        let event = tokio::time::timeout(up.timeouts.peer_stall, asked.data.recv()).await?;
        match event {
            Some(Event::FetchObject {
                object, payload, ..
            }) => {
                // Draft-14 has no End of Unknown Range (nor of Non-Existent Range, sent as
                // nothing): what upstream did not know is not sent.
                let unsendable = version == tern_moq::Version::Draft14
                    && matches!(object, FetchObject::EndOfUnknownRange(_));
                let head = if unsendable {
                    bytes::Bytes::new()
                } else {
                    state.encode_as(&object, version)?
                };
                if !head.is_empty() {
                    s.bounded("write a fetch stream", down.write_chunk(head))
                        .await?;
                }
                if !payload.is_empty() {
                    s.bounded("write a fetch stream", down.write_chunk(payload.clone()))
                        .await?;
                }
                if let (Some(h), FetchObject::Object(o)) = (&handle, &object) {
                    let obj = crate::core::types::Object {
                        location: Location::new(o.group_id, o.object_id),
                        status: crate::core::types::ObjectStatus::Normal,
                        properties: o.properties.raw().clone(),
                        payload,
                        end_of_group: false,
                    };
                    let sg = o
                        .subgroup_id
                        .unwrap_or(crate::core::track::DATAGRAM_SUBGROUP);
                    let _ = h.append(
                        obj,
                        sg,
                        o.publisher_priority,
                        std::time::Instant::now(),
                        &[],
                    );
                }
            }
            Some(Event::DataEnd { reset: None, .. }) | None => {
                down.finish()?;
                return Ok(());
            }
            Some(Event::DataEnd {
                reset: Some(code), ..
            }) => {
                let _ = down.reset(code as u32);
                return Ok(());
            }
            Some(_) => {
                return Err(super::error::NodeError::Upstream(
                    "unexpected item on an upstream fetch stream".into(),
                ));
            }
        }
    }
}
