//! A FETCH this relay asks of one of its upstreams, for a downstream FETCH it forwards
//! ([`super::fetch`]), a local reader's past groups and a failover's backfill
//! ([`super::backfill`]): sent through the session, registered for its data stream before it
//! leaves (the data may race the FETCH_OK), and forgotten however it ends.

use std::sync::Arc;

use tokio::sync::mpsc;

use tern_moq::Message;
use tern_moq::message::{Fetch, FetchType, Parameters};
use tern_moq::session::Event;
use tern_peer::request::RequestStream;

use super::error::NodeError;
use super::session::{Inbound, SessionShared};
use super::wire::next_message;

/// A FETCH sent upstream: its request stream, and the events of its data stream.
pub struct AskedFetch {
    up: Arc<SessionShared>,
    /// Our side of the request stream.
    pub send: RequestStream,
    inbound: Inbound,
    request: u64,
    /// The events of the fetch data stream the upstream answers on.
    pub data: mpsc::Receiver<Event>,
}

impl AskedFetch {
    /// Send FETCH `fetch_type` to upstream `up`.
    pub async fn send(up: &Arc<SessionShared>, fetch_type: FetchType) -> Result<Self, NodeError> {
        let mut data = None;
        let sent = up
            .request(|request_id| {
                data = Some((request_id, up.expect_fetch(request_id)));
                Fetch {
                    request_id,
                    fetch_type,
                    parameters: Parameters::new(),
                }
                .into()
            })
            .await;
        match (sent, data) {
            (Ok((send, inbound)), Some((request, data))) => Ok(Self {
                up: up.clone(),
                send,
                inbound,
                request,
                data,
            }),
            (sent, data) => {
                if let Some((request, _)) = data {
                    up.forget_fetch(request);
                }
                Err(match sent {
                    Err(e) => e.into(),
                    Ok(_) => NodeError::Upstream("FETCH not sent".into()),
                })
            }
        }
    }

    /// The upstream's answer on the request stream: FETCH_OK, REQUEST_ERROR, or whatever else
    /// came (`None`: the stream ended first).
    pub async fn answer(&mut self) -> Option<Message> {
        next_message(&mut self.inbound, &self.up).await
    }
}

impl Drop for AskedFetch {
    fn drop(&mut self) {
        self.up.forget_fetch(self.request);
    }
}
