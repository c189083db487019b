//! The subscriber side: SUBSCRIBE, the subgroup streams and datagrams it brings, and
//! [`Subscription`], which yields them in group order until PUBLISH_DONE.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use tern_moq::data::{DatagramPayload, ObjectStatus, SubgroupHeader};
use tern_moq::message::codes::{PublishDoneCode, SessionError as Code, StreamResetCode};
use tern_moq::message::{Parameters, Subscribe, SubscriptionFilter};
use tern_moq::session::Event;
use tern_moq::{Location, Message, TrackNamespace};

use super::session::Session;
use super::shared::{Arrival, Inbound, Shared, read_message};
use super::{Error, Object, Reorder};

/// Objects (and stream events) queued for one subscription; a full queue slows its streams
/// down through QUIC flow control instead of growing.
const INBOX: usize = 1024;

/// An active subscription. Dropping it unsubscribes (the request stream is finished).
#[derive(Debug)]
pub struct Subscription {
    shared: Arc<Shared>,
    request_id: u64,
    alias: u64,
    track: (TrackNamespace, Bytes),
    largest: Option<Location>,
    rx: mpsc::Receiver<Arrival>,
    reorder: Reorder,
    streams_seen: u64,
    done: Option<(Result<(), Error>, Option<u64>, Instant)>,
    finished: bool,
    _cancel: oneshot::Sender<()>,
}

impl Session {
    /// SUBSCRIBE to `track` in `namespace`; `filter` `None` sends no filter (the publisher
    /// starts from the oldest object it has). Waits for SUBSCRIBE_OK; a REQUEST_ERROR becomes
    /// [`Error::NotFound`] or [`Error::Refused`].
    pub async fn subscribe(
        &self,
        namespace: TrackNamespace,
        track: impl Into<Bytes>,
        filter: Option<SubscriptionFilter>,
    ) -> Result<Subscription, Error> {
        let shared = self.shared.clone();
        let mut parameters = Parameters::new();
        if let Some(f) = &filter {
            parameters.set_subscription_filter(f);
        }
        let track_name = track.into();
        let track = (namespace.clone(), track_name.clone());
        let (mut send, mut inbound) = shared
            .open_request(|request_id| {
                Subscribe {
                    request_id,
                    track_namespace: namespace,
                    track_name,
                    parameters,
                }
                .into()
            })
            .await?;
        let request_id = send.request_id();
        let ok = match read_message(&shared, &mut inbound).await? {
            Some(Message::SubscribeOk(ok)) => ok,
            Some(Message::RequestError(e)) => return Err(Error::from_request_error(&e)),
            Some(other) => {
                let why = format!("{} in answer to SUBSCRIBE", other.name());
                shared.violation(Code::PROTOCOL_VIOLATION, &why);
                return Err(Error::Protocol(why));
            }
            None => return Err(Error::Protocol("SUBSCRIBE stream closed".into())),
        };
        let alias = ok.track_alias;
        let (tx, rx) = mpsc::channel(INBOX);
        if !shared.add_subscription(alias, tx.clone()) {
            shared.violation(Code::DUPLICATE_TRACK_ALIAS, "track alias already in use");
            return Err(Error::Protocol("duplicate track alias".into()));
        }
        let (cancel, mut cancelled) = oneshot::channel::<()>();
        let control_shared = shared.clone();
        tokio::spawn(async move {
            let shared = control_shared;
            let (result, streams) = loop {
                tokio::select! {
                    _ = &mut cancelled => {
                        let _ = send.finish();
                        inbound.stop(StreamResetCode::CANCELLED);
                        return;
                    }
                    m = read_message(&shared, &mut inbound) => match m {
                        Ok(Some(Message::PublishDone(d))) => {
                            let code = d.status_code;
                            let clean = code == PublishDoneCode::TRACK_ENDED
                                || code == PublishDoneCode::SUBSCRIPTION_ENDED;
                            let result = if clean {
                                Ok(())
                            } else {
                                Err(Error::Ended { code: code.0, reason: d.error_reason.to_string_lossy() })
                            };
                            break (result, Some(d.stream_count));
                        }
                        Ok(Some(Message::RequestOk(_))) => {}
                        Ok(Some(Message::PublishStateNotify(n))) => {
                            tracing::debug!(parameters = ?n.parameters, "PUBLISH_STATE_NOTIFY");
                        }
                        Ok(Some(Message::RequestError(e))) => break (Err(Error::from_request_error(&e)), None),
                        Ok(Some(other)) => {
                            let why = format!("unexpected {} on a SUBSCRIBE stream", other.name());
                            shared.violation(Code::PROTOCOL_VIOLATION, &why);
                            break (Err(Error::Protocol(why)), None);
                        }
                        Ok(None) => break (Err(Error::Protocol("subscription closed without PUBLISH_DONE".into())), None),
                        Err(e) => break (Err(e), None),
                    },
                }
            };
            let _ = tx.send(Arrival::Done { result, streams }).await;
            // Keep the stream open until the subscription is dropped.
            let _ = cancelled.await;
            let _ = send.finish();
        });
        let largest = ok.parameters.largest_object();
        let mut reorder = Reorder::default();
        let start = match (&filter, largest) {
            (None, _) => 0,
            (Some(SubscriptionFilter::AbsoluteStart(l)), _) => l.group,
            (
                Some(
                    SubscriptionFilter::AbsoluteRange { start, .. }
                    | SubscriptionFilter::AbsoluteRangeToObject { start, .. },
                ),
                _,
            ) => start.group,
            (Some(SubscriptionFilter::RelativeStart { groups }), Some(l)) => {
                l.group.saturating_add(1).saturating_sub(*groups)
            }
            (Some(SubscriptionFilter::LargestObject), Some(l)) => l.group,
            (Some(SubscriptionFilter::NextGroupStart), Some(l)) => l.group.saturating_add(1),
            // Nothing published yet: the subscription covers the track from its start, so the
            // first groups may arrive in any order (the first is not dropped as late when the
            // second's stream is accepted before it).
            (
                Some(
                    SubscriptionFilter::LargestObject
                    | SubscriptionFilter::NextGroupStart
                    | SubscriptionFilter::RelativeStart { .. },
                ),
                None,
            ) => 0,
        };
        reorder.expect_from(start);
        Ok(Subscription {
            shared,
            request_id,
            alias,
            track,
            largest,
            rx,
            reorder,
            streams_seen: 0,
            done: None,
            finished: false,
            _cancel: cancel,
        })
    }
}

impl Subscription {
    /// The Request ID of the SUBSCRIBE (what a Joining FETCH names).
    pub fn request_id(&self) -> u64 {
        self.request_id
    }

    /// The Track Alias the publisher chose.
    pub fn alias(&self) -> u64 {
        self.alias
    }

    /// The Largest Object announced in SUBSCRIBE_OK.
    pub fn largest(&self) -> Option<Location> {
        self.largest
    }

    /// The namespace and name of the track.
    pub fn track(&self) -> (TrackNamespace, Bytes) {
        self.track.clone()
    }

    fn handle(&mut self, m: Arrival, now: std::time::Instant) -> Option<Object> {
        match m {
            Arrival::Open { group } => {
                self.streams_seen += 1;
                if !self.reorder.handle_open(group, now) {
                    tracing::debug!(group, "stream for a group already passed: ignored");
                }
            }
            Arrival::Object(o) => self.reorder.handle_object(o, now),
            Arrival::End { group } => self.reorder.handle_end(group, now),
            Arrival::Datagram(o) => return Some(o),
            Arrival::Done { result, streams } => {
                tracing::debug!(?result, ?streams, seen = self.streams_seen, "PUBLISH_DONE");
                self.done = Some((
                    result,
                    streams,
                    Instant::now() + self.shared.timeouts.done_grace,
                ));
            }
        }
        None
    }

    /// The next object in group order; `Ok(None)` once the publisher ended the track
    /// (PUBLISH_DONE TRACK_ENDED or SUBSCRIPTION_ENDED) and everything it sent was read.
    pub async fn next(&mut self) -> Result<Option<Object>, Error> {
        loop {
            if self.finished {
                return Ok(None);
            }
            let now = Instant::now();
            if let Some(o) = self.reorder.poll(now.into_std()) {
                return Ok(Some(o));
            }
            if let Some((_, streams, deadline)) = &self.done {
                let all = streams.is_none_or(|n| self.streams_seen >= n);
                if (all && self.reorder.is_idle()) || now >= *deadline {
                    self.reorder.close();
                    if let Some(o) = self.reorder.poll(now.into_std()) {
                        return Ok(Some(o));
                    }
                    self.finished = true;
                    let (result, _, _) = self.done.take().unwrap_or((Ok(()), None, now));
                    return result.map(|()| None);
                }
            }
            let wake = [
                self.reorder.poll_timeout().map(Instant::from_std),
                self.done.as_ref().map(|d| d.2),
            ]
            .into_iter()
            .flatten()
            .min();
            tokio::select! {
                m = self.rx.recv() => match m {
                    Some(m) => {
                        if let Some(o) = self.handle(m, std::time::Instant::now()) {
                            return Ok(Some(o));
                        }
                    }
                    None => {
                        let e = match self.shared.quic.close_reason() {
                            Some(e) => Error::Session(e),
                            None => Error::Protocol("subscription lost".into()),
                        };
                        self.done.get_or_insert((Err(e), None, Instant::now()));
                    }
                },
                _ = tokio::time::sleep_until(wake.unwrap_or(now)), if wake.is_some() => {}
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.shared.remove_subscription(self.alias);
    }
}

async fn wait_alias(shared: &Shared, alias: u64) -> Option<mpsc::Sender<Arrival>> {
    let deadline = Instant::now() + shared.timeouts.alias_wait;
    loop {
        let added = shared.alias_added.notified();
        tokio::pin!(added);
        added.as_mut().enable();
        if let Some(tx) = shared.subscription(alias) {
            return Some(tx);
        }
        if tokio::time::timeout_at(deadline, added).await.is_err() {
            return None;
        }
    }
}

/// A subgroup stream from the server (its header read): its objects go to the subscription
/// of its Track Alias.
pub(crate) async fn data_stream(shared: &Shared, mut inbound: Inbound, header: SubgroupHeader) {
    let Some(tx) = wait_alias(shared, header.track_alias).await else {
        inbound.stop(StreamResetCode::CANCELLED); // not (or no longer) subscribed
        return;
    };
    let group = header.group_id;
    if tx.send(Arrival::Open { group }).await.is_err() {
        return;
    }
    while let Some(event) = inbound.next(shared).await {
        match event {
            Event::Object {
                object, payload, ..
            } => {
                if object.object_status != ObjectStatus::Normal {
                    continue; // end-of-group / end-of-track markers carry no payload
                }
                let location = tern_model::Location::new(group, object.object_id);
                let o = super::received(location, object.properties.raw().clone(), payload);
                if tx.send(Arrival::Object(o)).await.is_err() {
                    inbound.stop(StreamResetCode::CANCELLED);
                    return;
                }
            }
            // FIN or reset: the group ends here.
            Event::DataEnd { .. } => break,
            _ => {}
        }
    }
    let _ = tx.send(Arrival::End { group }).await;
}

/// A datagram from the server: an object outside any stream (unordered, may be lost).
pub(crate) fn datagram(shared: &Shared, d: tern_moq::data::ObjectDatagram) {
    let DatagramPayload::Payload(payload) = d.payload else {
        return;
    };
    if let Some(tx) = shared.subscription(d.track_alias) {
        let location = tern_model::Location::new(d.group_id, d.object_id);
        let o = super::received(location, d.properties.raw().clone(), payload);
        let _ = tx.try_send(Arrival::Datagram(o)); // unreliable by nature: dropped when full
    }
}
