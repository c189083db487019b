//! FETCH: past objects of a track served from the relay's cache.
//!
//! A standalone FETCH whose whole range the cache holds is answered here: FETCH_OK on the request
//! stream, then one fetch data stream carrying the objects in order. A range the cache cannot
//! vouch for gets REQUEST_ERROR INVALID_RANGE naming what is missing.

use std::sync::Arc;

use bytes::BytesMut;

use tern_moq::data::{FetchHeader, FetchObject, FetchObjectHeader, FetchObjectState, Properties};
use tern_moq::message::codes::RequestErrorCode;
use tern_moq::message::{Fetch, FetchOk, FetchType, GroupOrder, Parameters, RequestError};
use tern_moq::{DataStreamReader, ReasonPhrase};
use tern_quic::{RecvStream, SendStream};

use crate::core::types::Location;

use super::hub::Hub;
use super::request::track_name;
use super::session::{SessionShared, write_message};

fn error(code: RequestErrorCode, reason: String) -> RequestError {
    RequestError {
        error_code: code,
        retry_interval: 0,
        error_reason: ReasonPhrase::new(reason),
        redirect: None,
    }
}

/// Serve a FETCH request stream.
pub async fn serve(
    hub: &Arc<Hub>,
    s: &Arc<SessionShared>,
    m: Fetch,
    mut send: SendStream,
    _recv: RecvStream,
) -> anyhow::Result<()> {
    let FetchType::Standalone {
        track_namespace,
        track_name: name,
        start_location,
        end_location,
    } = m.fetch_type
    else {
        let e = error(
            RequestErrorCode::NOT_SUPPORTED,
            "joining FETCH is not supported yet".into(),
        );
        write_message(&mut send, e).await?;
        send.finish()?;
        return Ok(());
    };
    let name = track_name(&track_namespace, &name);
    let handle = hub
        .with_router(|r| r.track_id(&name))
        .and_then(|id| hub.track(id));
    let Some(handle) = handle else {
        let e = error(
            RequestErrorCode::DOES_NOT_EXIST,
            format!("{name} is not cached here"),
        );
        write_message(&mut send, e).await?;
        send.finish()?;
        return Ok(());
    };
    // End Location is exclusive in its object (0: the whole end group).
    let end = if end_location.object == 0 {
        Location::new(end_location.group, u64::MAX)
    } else {
        Location::new(end_location.group, end_location.object - 1)
    };
    let start = Location::new(start_location.group, start_location.object);
    let (objects, complete, largest) = {
        let t = handle.lock();
        let (objects, complete) = t.range(start, end);
        (objects, complete, t.largest())
    };
    if end < start || (!complete && largest.is_none_or(|l| l < end)) && objects.is_empty() {
        let e = error(
            RequestErrorCode::INVALID_RANGE,
            format!("{name}: {start:?}..{end:?} is not in this relay's cache"),
        );
        write_message(&mut send, e).await?;
        send.finish()?;
        return Ok(());
    }
    let last = objects.last().map(|(o, _, _)| o.location).unwrap_or(start);
    let ok = FetchOk {
        end_of_track: false,
        end_location: tern_moq::Location::new(last.group, last.object + 1),
        parameters: Parameters::new(),
        track_properties: Default::default(),
    };
    write_message(&mut send, ok).await?;
    send.finish()?;
    let mut data = s.session.open_uni().await?;
    let mut head = BytesMut::new();
    FetchHeader {
        request_id: m.request_id,
    }
    .encode(&mut head);
    data.write_chunk(head.freeze()).await?;
    let mut state = FetchObjectState::new(GroupOrder::Ascending);
    for (object, subgroup, priority) in objects {
        let header = FetchObject::Object(FetchObjectHeader {
            group_id: object.location.group,
            subgroup_id: Some(subgroup),
            object_id: object.location.object,
            publisher_priority: priority,
            properties: Properties::from_raw(object.properties.clone()).unwrap_or_default(),
            payload_length: object.payload.len() as u64,
        });
        data.write_chunk(state.encode(&header)?).await?;
        if !object.payload.is_empty() {
            data.write_chunk(object.payload.clone()).await?;
        }
    }
    data.finish()?;
    Ok(())
}

/// A fetch data stream from upstream: the relay sends no FETCH upstream yet, so none is
/// expected; it is stopped.
pub async fn upstream_fetch_stream(
    _hub: &Arc<Hub>,
    s: &Arc<SessionShared>,
    _reader: DataStreamReader,
    header: FetchHeader,
    mut recv: RecvStream,
) {
    tracing::debug!(
        session = s.id,
        request = header.request_id,
        "unexpected fetch stream stopped"
    );
    let _ = recv.stop(0x1);
}
