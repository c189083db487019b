//! FETCH both ways: answering a peer's FETCH for one of our tracks from what its
//! [`TrackWriter`](super::TrackWriter) keeps, and sending one ([`Session::fetch`]).
//!
//! Answering: FETCH_OK with the End Location of what will be sent, then one fetch data stream
//! (FETCH_HEADER, the objects in order); a range that begins before the history starts with an
//! End of Unknown Range; a range none of which is held gets REQUEST_ERROR INVALID_RANGE naming
//! the window. The data stream is sent below every live subgroup stream.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;

use tern_moq::data::{FetchHeader, FetchObject};
use tern_moq::message::codes::{RequestErrorCode, SessionError as Code, StreamResetCode};
use tern_moq::message::{
    Fetch as FetchMsg, FetchOk, FetchType, GroupOrder, Parameters, SubscriptionFilter,
};
use tern_moq::session::Event;
use tern_moq::{FullTrackName, Location, Message, TrackNamespace};

use super::fetch_writer::{FetchRange, write_fetch};
use super::request::RequestStream;
use super::session::Session;
use super::shared::request_error;
use super::shared::{Inbound, Shared, read_message};
use super::subscriber::Subscription;
use super::track::TrackShared;
use super::{Error, Object};
use tern_model::fetch::{Entry, Plan, plan};

/// A FETCH for one of our tracks, on the request stream `send`.
pub(crate) async fn serve(shared: Arc<Shared>, m: FetchMsg, mut send: RequestStream) {
    let order = m.parameters.group_order().unwrap_or(GroupOrder::Ascending);
    let (track, plan, end_of_track) = match resolve(&shared, &m.fetch_type) {
        Ok(answer) => answer,
        Err((code, why)) => {
            tracing::debug!(request = m.request_id, %why, "FETCH refused");
            let _ = send.send_last(request_error(code, &why)).await;
            return;
        }
    };
    let end_location = match plan.last {
        // The whole of a group (a range that ends in a gap between groups).
        l if l.object == u64::MAX => Location::new(l.group, 0),
        l => Location::new(l.group, l.object + 1),
    };
    let ok = FetchOk {
        end_of_track,
        end_location,
        parameters: Parameters::new(),
        track_properties: Default::default(),
    };
    if send.send_last(ok).await.is_err() {
        return;
    }
    tracing::debug!(
        request = m.request_id,
        entries = plan.entries.len(),
        ?end_location,
        "FETCH answered from history"
    );
    let priority = track.priority.load(std::sync::atomic::Ordering::Relaxed);
    let range = FetchRange {
        start: plan.start,
        last: plan.last,
        descending: order == GroupOrder::Descending,
        unknown: match plan.entries.first() {
            Some(Entry::Unknown(u)) => Some(*u),
            _ => None,
        },
    };
    let _active = shared.sink_started();
    let consumer = track.reader.clone();
    let version = {
        use crate::inbound::Feed as _;
        crate::request::lock(shared.proto()).version()
    };
    let written = write_fetch(
        &shared.quic,
        version,
        m.request_id,
        &consumer,
        range,
        priority,
        shared.timeouts.write,
        None,
        shared.timeouts.drain,
    )
    .await;
    if let Err(e) = written {
        tracing::debug!(request = m.request_id, "fetch stream ended short: {e}");
    }
}

type Refused = (RequestErrorCode, String);

/// The track and what a FETCH gets from it.
fn resolve(
    shared: &Shared,
    fetch_type: &FetchType,
) -> Result<(Arc<TrackShared>, Plan, bool), Refused> {
    let (track, start, end) = match fetch_type {
        FetchType::Standalone {
            track_namespace,
            track_name,
            start_location,
            end_location,
        } => {
            let name = FullTrackName::new(track_namespace.clone(), track_name.clone());
            let Some(track) = shared.track(&name) else {
                return Err((RequestErrorCode::DOES_NOT_EXIST, "no such track".into()));
            };
            // End Location is the last object plus one; object 0 is the whole group.
            let end = match end_location.object {
                0 => Location::new(end_location.group, u64::MAX),
                o => Location::new(end_location.group, o - 1),
            };
            (track, *start_location, end)
        }
        FetchType::Ranged {
            track_namespace,
            track_name,
            filter,
        } => {
            let name = FullTrackName::new(track_namespace.clone(), track_name.clone());
            let Some(track) = shared.track(&name) else {
                return Err((RequestErrorCode::DOES_NOT_EXIST, "no such track".into()));
            };
            let Some((start, end)) = SubscriptionFilter::fetch_range(*filter, track.largest())
            else {
                let why = "nothing is published on the track yet";
                return Err((RequestErrorCode::INVALID_RANGE, why.into()));
            };
            (track, start, end)
        }
        FetchType::RelativeJoining {
            joining_request_id: id,
            joining_start,
        }
        | FetchType::AbsoluteJoining {
            joining_request_id: id,
            joining_start,
        } => {
            let Some((track, joining)) = shared.served(*id) else {
                let why = format!("request {id} is not a subscription of this session");
                return Err((RequestErrorCode::INVALID_JOINING_REQUEST_ID, why));
            };
            let Some(joining) = joining else {
                let why = "nothing was published when the subscription began";
                return Err((RequestErrorCode::INVALID_RANGE, why.into()));
            };
            let start = match fetch_type {
                FetchType::RelativeJoining { .. } => joining.group.saturating_sub(*joining_start),
                _ => *joining_start,
            };
            (track, Location::new(start, 0), joining)
        }
    };
    let name = FullTrackName::new(track.namespace.clone(), track.name.clone());
    // Whether the track ended is read first: an end seen then covers every object planned.
    let ended = track.ended();
    match track.reader.read(|t| plan(t, start, end)) {
        Ok(p) => {
            let end_of_track = ended && Some(p.last) == track.largest();
            Ok((track, p, end_of_track))
        }
        Err(refusal) => Err((
            RequestErrorCode::INVALID_RANGE,
            format!("{name}: {refusal}"),
        )),
    }
}

/// Where a Joining FETCH starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoiningStart {
    /// This many groups before the subscription's Joining Location (0: its group only).
    Relative(u64),
    /// This group.
    Absolute(u64),
}

/// One entry of a FETCH answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchEntry {
    /// An object.
    Object(Object),
    /// Every object after the previous entry (or the start of the range) up to this Location,
    /// inclusive, is of unknown status at the publisher (no longer held).
    Unknown(Location),
}

enum DataStream {
    Waiting(oneshot::Receiver<Inbound>),
    Reading(Box<Inbound>),
    Done,
}

/// An accepted FETCH: its End Location and the entries of its data stream. Dropping it cancels
/// the FETCH (the data stream is stopped).
pub struct Fetch {
    shared: Arc<Shared>,
    request_id: u64,
    end_location: Location,
    end_of_track: bool,
    data: DataStream,
}

impl std::fmt::Debug for Fetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetch")
            .field("request_id", &self.request_id)
            .field("end_location", &self.end_location)
            .finish()
    }
}

impl Drop for Fetch {
    fn drop(&mut self) {
        self.shared.forget_fetch(self.request_id);
        if let DataStream::Reading(inbound) = &mut self.data {
            inbound.stop(StreamResetCode::CANCELLED);
        }
    }
}

impl Session {
    /// Standalone FETCH of `track` from `start` to `end`; `end` is draft-18's End Location
    /// (the last object plus one; object 0 asks for the whole group). Waits for FETCH_OK; a
    /// REQUEST_ERROR becomes [`Error::Refused`] (INVALID_RANGE when the range is not held) or
    /// [`Error::NotFound`].
    pub async fn fetch(
        &self,
        namespace: TrackNamespace,
        track: impl Into<Bytes>,
        start: Location,
        end: Location,
    ) -> Result<Fetch, Error> {
        let fetch_type = FetchType::Standalone {
            track_namespace: namespace,
            track_name: track.into(),
            start_location: start,
            end_location: end,
        };
        request(&self.shared, fetch_type).await
    }

    /// FETCH of `track` by a Location Filter (draft-20 on): `None` asks for the track from
    /// `{0, 0}` to its Largest Object; a relative start (`RelativeStart { groups: 1 }`: the
    /// current group), the Next Object or an open absolute start run to the Largest Object
    /// at the publisher. Draft-18 has absolute ranges only: there any other filter is
    /// [`Error::Invalid`].
    pub async fn fetch_filtered(
        &self,
        namespace: TrackNamespace,
        track: impl Into<Bytes>,
        filter: Option<SubscriptionFilter>,
    ) -> Result<Fetch, Error> {
        use crate::inbound::Feed as _;
        let fetch_type = FetchType::from_filter(namespace, track.into(), filter);
        let version = crate::request::lock(self.shared.proto()).version();
        if matches!(fetch_type, FetchType::Ranged { .. }) && !version.has_location_fields() {
            return Err(Error::Invalid(
                "draft-18 FETCHes absolute ranges only: this filter needs draft-20 or later",
            ));
        }
        request(&self.shared, fetch_type).await
    }

    /// Joining FETCH: the objects before `subscription`'s first, from `start` up to its
    /// Joining Location (the Largest Object in SUBSCRIBE_OK). Draft-20 and later have no
    /// joining FETCH: there it is the standalone FETCH of the same range.
    pub async fn joining_fetch(
        &self,
        subscription: &Subscription,
        start: JoiningStart,
    ) -> Result<Fetch, Error> {
        use crate::inbound::Feed as _;
        let version = crate::request::lock(self.shared.proto()).version();
        if version.has_location_fields() {
            let Some(joining) = subscription.largest() else {
                return Err(Error::Invalid(
                    "nothing was published when the subscription began",
                ));
            };
            let start_group = match start {
                JoiningStart::Relative(n) => joining.group.saturating_sub(n),
                JoiningStart::Absolute(g) => g,
            };
            let (namespace, track) = subscription.track();
            let end = Location::new(joining.group, joining.object.saturating_add(1));
            return self
                .fetch(namespace, track, Location::new(start_group, 0), end)
                .await;
        }
        let joining_request_id = subscription.request_id();
        let fetch_type = match start {
            JoiningStart::Relative(n) => FetchType::RelativeJoining {
                joining_request_id,
                joining_start: n,
            },
            JoiningStart::Absolute(g) => FetchType::AbsoluteJoining {
                joining_request_id,
                joining_start: g,
            },
        };
        request(&self.shared, fetch_type).await
    }
}

async fn request(shared: &Arc<Shared>, fetch_type: FetchType) -> Result<Fetch, Error> {
    // Registered before the FETCH leaves: the data stream may overtake FETCH_OK.
    let mut data = None;
    let opened = shared
        .open_request(|request_id| {
            let (tx, rx) = oneshot::channel();
            shared.expect_fetch(request_id, tx);
            data = Some(rx);
            FetchMsg {
                request_id,
                fetch_type,
                parameters: Parameters::new(),
            }
            .into()
        })
        .await;
    let (mut send, mut inbound) = opened?;
    let request_id = send.request_id();
    let Some(rx) = data else {
        return Err(Error::Invalid("FETCH not sent"));
    };
    let mut fetch = Fetch {
        shared: shared.clone(),
        request_id,
        end_location: Location::default(),
        end_of_track: false,
        data: DataStream::Waiting(rx),
    };
    let ok = match read_message(shared, &mut inbound).await? {
        Some(Message::FetchOk(ok)) => ok,
        Some(Message::RequestError(e)) => return Err(Error::from_request_error(&e)),
        Some(other) => {
            let why = format!("{} in answer to FETCH", other.name());
            shared.violation(Code::PROTOCOL_VIOLATION, &why);
            return Err(Error::Protocol(why));
        }
        None => return Err(Error::Protocol("FETCH stream closed".into())),
    };
    let _ = send.finish();
    fetch.end_location = ok.end_location;
    fetch.end_of_track = ok.end_of_track;
    Ok(fetch)
}

impl Fetch {
    /// The Request ID of the FETCH.
    pub fn request_id(&self) -> u64 {
        self.request_id
    }

    /// FETCH_OK's End Location: the last object the answer covers, plus one (object 0: the
    /// whole group).
    pub fn end_location(&self) -> Location {
        self.end_location
    }

    /// FETCH_OK's End Of Track: the answer reaches the track's final object.
    pub fn end_of_track(&self) -> bool {
        self.end_of_track
    }

    /// The next entry of the answer, in order; `Ok(None)` when the data stream ended with FIN.
    /// A reset stream is an [`Error::Stream`].
    pub async fn next(&mut self) -> Result<Option<FetchEntry>, Error> {
        loop {
            match &mut self.data {
                DataStream::Done => return Ok(None),
                DataStream::Waiting(rx) => {
                    match tokio::time::timeout(self.shared.timeouts.fetch_data, rx).await {
                        Ok(Ok(inbound)) => self.data = DataStream::Reading(Box::new(inbound)),
                        Ok(Err(_)) => return Err(Error::Protocol("fetch data stream lost".into())),
                        Err(_) => {
                            return Err(Error::Protocol(format!(
                                "no fetch data stream within {:?}",
                                self.shared.timeouts.fetch_data
                            )));
                        }
                    }
                }
                DataStream::Reading(inbound) => match inbound.next(&*self.shared).await {
                    Some(Event::FetchObject {
                        object, payload, ..
                    }) => match object {
                        FetchObject::Object(h) => {
                            let location = tern_model::Location::new(h.group_id, h.object_id);
                            let properties = h.properties.raw().clone();
                            let object = crate::received(location, properties, payload);
                            return Ok(Some(FetchEntry::Object(object)));
                        }
                        FetchObject::EndOfUnknownRange(l) => {
                            return Ok(Some(FetchEntry::Unknown(l)));
                        }
                        // Gaps already say that objects do not exist.
                        FetchObject::EndOfNonExistentRange(_) => {}
                    },
                    Some(Event::DataEnd { reset: None, .. }) => self.data = DataStream::Done,
                    Some(Event::DataEnd {
                        reset: Some(code), ..
                    }) => {
                        self.data = DataStream::Done;
                        let code = u32::try_from(code).unwrap_or(u32::MAX);
                        return Err(Error::Stream(tern_quic::StreamError::Reset(code)));
                    }
                    Some(_) => {}
                    None => {
                        self.data = DataStream::Done;
                        return Err(match self.shared.quic.close_reason() {
                            Some(e) => Error::Session(e),
                            None => Error::Protocol("fetch data stream failed".into()),
                        });
                    }
                },
            }
        }
    }
}

/// A fetch data stream from the server: handed to the FETCH that waits for it, or stopped.
pub(crate) fn data_stream(shared: &Shared, mut inbound: Inbound, header: FetchHeader) {
    match shared.take_fetch(header.request_id) {
        Some(tx) => {
            if let Err(mut inbound) = tx.send(inbound) {
                inbound.stop(StreamResetCode::CANCELLED);
            }
        }
        None => {
            tracing::debug!(request = header.request_id, "fetch stream for no FETCH");
            inbound.stop(StreamResetCode::CANCELLED);
        }
    }
}
