//! The relay offering tracks to SUBSCRIBE_TRACKS subscribers: a PUBLISH on a new request stream,
//! then the same fan-out writer a SUBSCRIBE gets once the subscriber answers PUBLISH_OK.

use std::sync::Arc;

use tern_moq::message::codes::PublishDoneCode;
use tern_moq::message::{Parameters, Publish, PublishDone};
use tern_moq::{Message, ReasonPhrase, TrackNamespace};

use crate::core::router::TrackId;
use crate::core::types::Filter;

use super::hub::Hub;
use super::session::SessionShared;
use super::wire::next_message;

/// Offer `track` to session `s` with PUBLISH.
pub fn spawn(hub: Arc<Hub>, s: Arc<SessionShared>, track: TrackId) {
    tokio::spawn(async move {
        if let Err(e) = offer(&hub, &s, track).await {
            tracing::debug!(session = s.id, track, "PUBLISH offer ended: {e:#}");
        }
    });
}

async fn offer(hub: &Arc<Hub>, s: &Arc<SessionShared>, track: TrackId) -> super::error::Result<()> {
    let Some(handle) = hub.track(track).map(|t| t.consumer()) else {
        return Ok(());
    };
    // Watermark variants are handed out by SUBSCRIBE alone, marked for the viewer the plugin
    // names; offering one would hand out an unmarked copy.
    if tern_watermark::split_variant(&handle.name().name).is_some() {
        return Ok(());
    }
    let alias = s.next_alias();
    let largest = handle.largest();
    let name = handle.name().clone();
    let (mut send, mut inbound) = s
        .request(|request_id| {
            let mut parameters = Parameters::new();
            if let Some(l) = largest.filter(|_| s.sends_largest_object()) {
                parameters.set_largest_object(l);
            }
            Publish {
                request_id,
                track_namespace: TrackNamespace::new(name.namespace.clone()),
                track_name: name.name.clone(),
                track_alias: alias,
                parameters,
                track_properties: Default::default(),
            }
            .into()
        })
        .await?;
    let answer = tokio::time::timeout(s.timeouts.peer_stall, next_message(&mut inbound, s)).await?;
    let (forward, priority) = match answer {
        Some(Message::RequestOk(ok)) => (
            ok.parameters.forward().unwrap_or(true),
            ok.parameters.subscriber_priority().unwrap_or(128),
        ),
        Some(Message::PublishOk(ok)) => (
            ok.parameters.forward().unwrap_or(true),
            ok.parameters.subscriber_priority().unwrap_or(128),
        ),
        Some(Message::RequestError(e)) => {
            tracing::debug!(session = s.id, code = e.error_code.0, "PUBLISH declined");
            return Ok(());
        }
        other => {
            return Err(super::error::NodeError::Upstream(format!(
                "PUBLISH answered with {other:?}"
            )));
        }
    };
    let (_, reader) = handle.subscribe(Filter::LargestObject, priority, hub.settings.lag, forward);
    let Some(reader) = reader else { return Ok(()) };
    let mut serving = super::serve::spawn(s.clone(), reader, alias);
    tokio::select! {
        (code, text, count) = serving.done() => {
            let done = PublishDone { status_code: code, stream_count: count, error_reason: ReasonPhrase::new(text.to_owned()) };
            send.send(done).await?;
            send.finish()?;
        }
        _ = async { while next_message(&mut inbound, s).await.is_some() {} } => {
            // The subscriber cancelled (STOP_SENDING / FIN): stop writing.
            serving.stop();
            let done = PublishDone {
                status_code: PublishDoneCode::SUBSCRIPTION_ENDED,
                stream_count: 0,
                error_reason: ReasonPhrase::new("cancelled by subscriber".to_owned()),
            };
            let _ = send.send(done).await;
            let _ = send.finish();
        }
    }
    Ok(())
}
