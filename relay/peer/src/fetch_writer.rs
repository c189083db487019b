//! The one FETCH server's data stream, shared by the relay (a FETCH answered from its cache)
//! and a client (a FETCH of its own track's history): FETCH_HEADER, then the range's objects
//! read from the track's cache page by page as the peer takes them (a peer that stalls pins one
//! page, never a snapshot of the range), in the order asked for, with an End of Unknown Range
//! for what the cache dropped. Below every live subgroup stream in priority.

use std::time::Duration;

use bytes::BytesMut;

use tern_model::{Location, TrackConsumer};
use tern_moq::Version;
use tern_moq::data::{FetchHeader, FetchObject, FetchObjectHeader, FetchObjectState, Properties};
use tern_moq::message::GroupOrder;
use tern_moq::message::codes::StreamResetCode;
use tern_quic::{SendStream, Session};

use super::writer::Variants;

/// Objects read from the track at a time, and the payload bytes after which a page ends early:
/// what one stalled FETCH can keep from being freed.
const PAGE_OBJECTS: usize = 16;
const PAGE_BYTES: usize = 64 << 10;

/// A range to send on one fetch data stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchRange {
    /// The first Location asked for.
    pub start: Location,
    /// The last Location sent (FETCH_OK's End Location minus one).
    pub last: Location,
    /// Newest group first (each group's objects still in order).
    pub descending: bool,
    /// What the cache dropped at the start of the range, up to this Location: sent as an End
    /// of Unknown Range (first when ascending, last when descending).
    pub unknown: Option<Location>,
}

/// Why a fetch data stream ended short.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchWriteError {
    /// The peer gave no stream credit, or did not read, within the timeout.
    #[error("the peer did not take the fetch stream within {0:?}")]
    Stalled(Duration),
    /// An object could not be encoded (out of order: a bug).
    #[error("fetch object not encodable: {0}")]
    Encode(String),
}

/// Send `range` of `track` as the fetch data stream of request `request_id`, in the shape
/// `version` gives it: each stream opening and write waits at most `timeout`; with `variants`,
/// each object comes from the viewer's variant (an object whose variant is missing is left
/// out). After the FIN, waits up to `drain` for the peer to have read it all. Draft-14 has no
/// End of Unknown Range: there, what the cache dropped is simply not sent.
#[allow(clippy::too_many_arguments)]
pub async fn write_fetch(
    session: &Session,
    version: Version,
    request_id: u64,
    track: &TrackConsumer,
    range: FetchRange,
    publisher_priority: u8,
    timeout: Duration,
    variants: Option<&dyn Variants>,
    drain: Duration,
) -> Result<(), FetchWriteError> {
    let opened = tokio::time::timeout(timeout, session.open_uni()).await;
    let Ok(Ok(stream)) = opened else {
        return Err(FetchWriteError::Stalled(timeout));
    };
    // Below every live subgroup stream (those use 0..=255): the past never delays the present.
    let _ = stream.set_priority(-1 - i32::from(publisher_priority));
    let mut out = Out {
        stream,
        timeout,
        version,
        state: FetchObjectState::new(if range.descending {
            GroupOrder::Descending
        } else {
            GroupOrder::Ascending
        }),
    };
    let mut head = BytesMut::new();
    if let Err(e) = (FetchHeader { request_id }).encode_as(&mut head, version) {
        let _ = out.stream.reset(StreamResetCode::INTERNAL_ERROR.0 as u32);
        return Err(FetchWriteError::Encode(e.to_string()));
    }
    out.write(head.freeze()).await?;
    if range.descending {
        let groups: Vec<u64> = track.read(|t| {
            t.group_ids_in(range.start.group..=range.last.group)
                .collect()
        });
        for g in groups.into_iter().rev() {
            let from = range.start.max(Location::new(g, 0));
            let to = range.last.min(Location::new(g, u64::MAX));
            out.objects(track, from, to, variants).await?;
        }
        if range.unknown.is_some() {
            out.entry(&FetchObject::EndOfUnknownRange(range.start), None)
                .await?;
        }
    } else {
        if let Some(u) = range.unknown {
            out.entry(&FetchObject::EndOfUnknownRange(u), None).await?;
        }
        out.objects(track, range.start, range.last, variants)
            .await?;
    }
    let _ = out.stream.finish();
    if !drain.is_zero() {
        let _ = tokio::time::timeout(drain, out.stream.stopped()).await;
    }
    Ok(())
}

struct Out {
    stream: SendStream,
    timeout: Duration,
    version: Version,
    state: FetchObjectState,
}

impl Out {
    async fn write(&mut self, chunk: bytes::Bytes) -> Result<(), FetchWriteError> {
        match tokio::time::timeout(self.timeout, self.stream.write_chunk(chunk)).await {
            Ok(Ok(())) => Ok(()),
            _ => {
                let _ = self
                    .stream
                    .reset(StreamResetCode::DELIVERY_TIMEOUT.0 as u32);
                Err(FetchWriteError::Stalled(self.timeout))
            }
        }
    }

    async fn entry(
        &mut self,
        entry: &FetchObject,
        payload: Option<bytes::Bytes>,
    ) -> Result<(), FetchWriteError> {
        if self.version == Version::Draft14 && matches!(entry, FetchObject::EndOfUnknownRange(_)) {
            return Ok(());
        }
        let head = self.state.encode_as(entry, self.version).map_err(|e| {
            let _ = self.stream.reset(StreamResetCode::INTERNAL_ERROR.0 as u32);
            FetchWriteError::Encode(e.to_string())
        })?;
        if !head.is_empty() {
            self.write(head).await?;
        }
        match payload {
            Some(p) if !p.is_empty() => self.write(p).await,
            _ => Ok(()),
        }
    }

    /// The cached objects of `from..=to`, page by page.
    async fn objects(
        &mut self,
        track: &TrackConsumer,
        from: Location,
        to: Location,
        variants: Option<&dyn Variants>,
    ) -> Result<(), FetchWriteError> {
        let mut at = Some(from);
        while let Some(from) = at {
            let page = track.read(|t| t.page(from, to, PAGE_OBJECTS, PAGE_BYTES));
            let Some((next, _, _)) = page.last() else {
                return Ok(()); // evicted meanwhile: the stream ends short
            };
            at = after(next.location).filter(|l| *l <= to);
            for (object, subgroup, priority) in page {
                let object = match variants {
                    None => object,
                    Some(v) => match v.object(object.location.group, object).await {
                        Some(chosen) => chosen,
                        None => continue, // the group ends here for this viewer
                    },
                };
                let header = FetchObject::Object(FetchObjectHeader {
                    group_id: object.location.group,
                    subgroup_id: Some(subgroup),
                    object_id: object.location.object,
                    publisher_priority: priority,
                    properties: Properties::from_raw(object.properties.clone()).unwrap_or_default(),
                    payload_length: object.payload.len() as u64,
                });
                self.entry(&header, Some(object.payload)).await?;
            }
        }
        Ok(())
    }
}

/// The location right after `l` (`None`: nothing can follow it).
fn after(l: Location) -> Option<Location> {
    match l.object.checked_add(1) {
        Some(object) => Some(Location::new(l.group, object)),
        None => Some(Location::new(l.group.checked_add(1)?, 0)),
    }
}
