//! The publisher side: PUBLISH_NAMESPACE, PUBLISH, and the requests a server sends us
//! (SUBSCRIBE for our tracks; FETCH and TRACK_STATUS are answered too).

use std::sync::Arc;

use tokio::sync::oneshot;

use tern_moq::message::SubscriptionFilter;
use tern_moq::message::codes::{RequestErrorCode, SessionError as Code};
use tern_moq::message::{Parameters, Publish, PublishNamespace, RequestOk, Subscribe, SubscribeOk};
use tern_moq::session::Event;
use tern_moq::{FullTrackName, Location, Message, TrackNamespace};

use super::Error;
use super::request::{Reply, RequestStream};
use super::session::Session;
use super::shared::{Inbound, Shared, read_message, request_error, request_ok};
use super::sink;
use super::track::TrackWriter;

/// A namespace published with PUBLISH_NAMESPACE. Dropping it (or [`done`](Self::done)) ends the
/// request stream, which withdraws the namespace.
#[derive(Debug)]
pub struct Announcement {
    namespace: TrackNamespace,
    cancel: Option<oneshot::Sender<()>>,
    ended: oneshot::Receiver<Error>,
}

impl Announcement {
    /// The namespace.
    pub fn namespace(&self) -> &TrackNamespace {
        &self.namespace
    }

    /// Withdraw the namespace (PUBLISH_NAMESPACE_DONE: the request stream is finished).
    pub fn done(mut self) {
        if let Some(c) = self.cancel.take() {
            let _ = c.send(());
        }
    }

    /// Wait until the server ends the announcement (REQUEST_ERROR, stream or session closed).
    pub async fn ended(&mut self) -> Error {
        match (&mut self.ended).await {
            Ok(e) => e,
            Err(_) => Error::Invalid("announcement withdrawn"),
        }
    }
}

fn ok() -> RequestOk {
    RequestOk {
        parameters: Parameters::new(),
        track_properties: Default::default(),
    }
}

impl Session {
    /// Answer SUBSCRIBEs for `track` from now on (the relay sends them after
    /// [`publish_namespace`](Self::publish_namespace) of its namespace, or a prefix of it).
    pub fn serve_track(&self, track: &TrackWriter) {
        self.shared.add_track(track.shared.clone());
    }

    /// Send PUBLISH_NAMESPACE and wait for REQUEST_OK; a REQUEST_ERROR becomes
    /// [`Error::Refused`] (or [`Error::NotFound`]).
    pub async fn publish_namespace(
        &self,
        namespace: TrackNamespace,
    ) -> Result<Announcement, Error> {
        let shared = &self.shared;
        let ns = namespace.clone();
        let make = |request_id| {
            PublishNamespace {
                request_id,
                track_namespace: ns,
                parameters: Parameters::new(),
            }
            .into()
        };
        let (mut send, mut inbound) = request_ok(shared, make, "PUBLISH_NAMESPACE").await?;
        let (cancel_tx, mut cancel_rx) = oneshot::channel();
        let (ended_tx, ended_rx) = oneshot::channel();
        let shared = shared.clone();
        tokio::spawn(async move {
            let why = tokio::select! {
                _ = &mut cancel_rx => {
                    let _ = send.finish();
                    return;
                }
                m = read_message(&shared, &mut inbound) => match m {
                    Ok(Some(Message::RequestError(e))) => Error::from_request_error(&e),
                    Ok(Some(other)) => Error::Protocol(format!("{} on a PUBLISH_NAMESPACE stream", other.name())),
                    Ok(None) => Error::Protocol("PUBLISH_NAMESPACE stream closed by the server".into()),
                    Err(e) => e,
                },
            };
            tracing::debug!("announcement ended: {why}");
            let _ = ended_tx.send(why);
        });
        Ok(Announcement {
            namespace,
            cancel: Some(cancel_tx),
            ended: ended_rx,
        })
    }

    /// Push `track` with PUBLISH: wait for the server's REQUEST_OK (PUBLISH_OK), then send it
    /// every group from the next one on (the current group too when its start is kept).
    /// Returns when the track is accepted; the data flows in the background until the track
    /// ends or the server stops it.
    pub async fn publish(&self, track: &TrackWriter) -> Result<(), Error> {
        let shared = self.shared.clone();
        let alias = shared.next_alias();
        let (send, mut inbound) = shared
            .open_request(|request_id| {
                Publish {
                    request_id,
                    track_namespace: track.namespace().clone(),
                    track_name: track.name().clone(),
                    track_alias: alias,
                    parameters: Parameters::new(),
                    track_properties: Default::default(),
                }
                .into()
            })
            .await?;
        match read_message(&shared, &mut inbound).await? {
            Some(Message::RequestOk(_) | Message::PublishOk(_)) => {}
            Some(Message::RequestError(e)) => return Err(Error::from_request_error(&e)),
            Some(other) => {
                let why = format!("{} in answer to PUBLISH", other.name());
                shared.violation(Code::PROTOCOL_VIOLATION, &why);
                return Err(Error::Protocol(why));
            }
            None => return Err(Error::Protocol("PUBLISH stream closed".into())),
        }
        // From the start of the current group (what the writer keeps of the past is for FETCH).
        let start = track
            .largest()
            .map_or(Location::new(0, 0), |l| Location::new(l.group, 0));
        let filter = SubscriptionFilter::AbsoluteStart(start);
        let (_, attached) = track.shared.attach(Some(filter));
        let Some(attached) = attached else {
            return Err(Error::Invalid("the track has nothing to send"));
        };
        tokio::spawn(sink::run(shared, alias, attached, send, inbound));
        Ok(())
    }
}

/// A request stream the server opened.
pub(crate) async fn request(shared: Arc<Shared>, send: Reply, mut inbound: Inbound) {
    let (request, first) = loop {
        match inbound.next(&shared).await {
            Some(Event::Request {
                request, message, ..
            }) => break (request, message),
            Some(_) => {}
            None => return,
        }
    };
    let mut send = inbound.answer(&shared, request, send, shared.timeouts.peer_stall);
    let refuse = |code, why: &str| request_error(code, why);
    let answer = match first {
        Message::Subscribe(m) => return subscribe(shared, m, send, inbound).await,
        Message::TrackStatus(m) => {
            let name = FullTrackName::new(m.track_namespace, m.track_name);
            match shared.track(&name) {
                Some(track) => {
                    let mut ok = ok();
                    if let Some(l) = track.largest() {
                        ok.parameters.set_largest_object(l);
                    }
                    Message::RequestOk(ok)
                }
                None => refuse(RequestErrorCode::DOES_NOT_EXIST, "no such track").into(),
            }
        }
        Message::Fetch(m) => return super::fetch::serve(shared, m, send).await,
        Message::SubscribeNamespace(_) | Message::SubscribeTracks(_) | Message::Publish(_) => {
            refuse(
                RequestErrorCode::NOT_SUPPORTED,
                "not supported by this client",
            )
            .into()
        }
        Message::PublishNamespace(_) => ok().into(),
        other => {
            let why = format!("request stream opened with {}", other.name());
            shared.violation(Code::PROTOCOL_VIOLATION, &why);
            return;
        }
    };
    let _ = send.send_last(answer).await;
}

/// SUBSCRIBE for one of our tracks: SUBSCRIBE_OK with a fresh alias, then the sink runs.
async fn subscribe(shared: Arc<Shared>, m: Subscribe, mut send: RequestStream, inbound: Inbound) {
    let name = FullTrackName::new(m.track_namespace, m.track_name);
    let Some(track) = shared.track(&name) else {
        tracing::debug!(track = %name, "SUBSCRIBE for an unknown track");
        let e = request_error(RequestErrorCode::DOES_NOT_EXIST, "no such track");
        let _ = send.send_last(e).await;
        return;
    };
    let alias = shared.next_alias();
    let (largest, attached) = track.attach(m.parameters.subscription_filter());
    let Some(attached) = attached else {
        let e = request_error(
            RequestErrorCode::INVALID_RANGE,
            "the filter selects nothing",
        );
        let _ = send.send_last(e).await;
        return;
    };
    let mut parameters = Parameters::new();
    if let Some(l) = largest {
        parameters.set_largest_object(l);
    }
    // A Joining FETCH may follow SUBSCRIBE_OK at once: the Joining Location is known before.
    let _served = shared.add_served(m.request_id, track.clone(), largest);
    let ok = SubscribeOk {
        track_alias: alias,
        parameters,
        track_properties: Default::default(),
    };
    if send.send(ok).await.is_err() {
        return;
    }
    tracing::debug!(track = %name, alias, "subscriber attached");
    sink::run(shared, alias, attached, send, inbound).await;
}
