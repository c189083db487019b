//! The writer of one subscriber (a SUBSCRIBE we answered, or our own PUBLISH): one subgroup
//! stream per group on the subscriber's session, payloads written as the shared `Bytes`.
//!
//! Bounded: the queue in front of it is the only buffer (see [`super::track`]); a write that
//! cannot progress within [`WRITE_TIMEOUT`] resets that group's stream, and the rest of the
//! group is skipped.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;

use tern_moq::data::encode_subgroup_object_header;
use tern_moq::data::{SubgroupHeader, SubgroupId, SubgroupObject, encode_subgroup_header};
use tern_moq::message::codes::{PublishDoneCode, SessionError as Code, StreamResetCode};
use tern_moq::message::{Parameters, PublishDone, RequestOk};
use tern_moq::{ControlReader, Message, ReasonPhrase};
use tern_quic::{RecvStream, SendStream};

use super::session::{Shared, read_message, write_message};
use super::track::{Attached, SinkCmd};

/// Longest a single write (or stream open) may wait on flow control.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest the end of a track waits for the subscriber to acknowledge its last streams.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);
/// Finished streams remembered so that the end of the track can wait for their delivery.
const REMEMBER_FINISHED: usize = 16;

struct Open {
    group: u64,
    header: SubgroupHeader,
    stream: SendStream,
    previous: Option<u64>,
}

struct Writer {
    shared: Arc<Shared>,
    alias: u64,
    open: Option<Open>,
    /// A group whose stream failed: its remaining objects are skipped.
    failed: Option<u64>,
    finished: VecDeque<SendStream>,
    opened: u64,
    /// Publisher priority written in every subgroup header.
    priority: u8,
}

impl Writer {
    fn finish_current(&mut self) {
        if let Some(mut o) = self.open.take() {
            let _ = o.stream.finish();
            if self.finished.len() == REMEMBER_FINISHED {
                self.finished.pop_front();
            }
            self.finished.push_back(o.stream);
        }
    }

    fn reset_current(&mut self, code: StreamResetCode) {
        if let Some(mut o) = self.open.take() {
            let _ = o.stream.reset(code.0 as u32);
            self.failed = Some(o.group);
        }
    }

    async fn open(&mut self, group: u64, first: u64) -> Option<Open> {
        let opened = tokio::time::timeout(WRITE_TIMEOUT, self.shared.quic.open_uni()).await;
        let Ok(Ok(mut stream)) = opened else {
            tracing::debug!(group, "no stream credit in time: group skipped");
            return None;
        };
        // More important tracks (lower publisher priority) are sent first.
        let _ = stream.set_priority(255 - i32::from(self.priority));
        let header = SubgroupHeader {
            track_alias: self.alias,
            group_id: group,
            subgroup_id: SubgroupId::Zero,
            publisher_priority: Some(self.priority),
            has_properties: false,
            end_of_group: false,
            // A group's stream here carries its objects from the first one written.
            first_object: first == 0,
        };
        if !write(&mut stream, encode_subgroup_header(&header)).await {
            let _ = stream.reset(StreamResetCode::DELIVERY_TIMEOUT.0 as u32);
            return None;
        }
        self.opened += 1;
        Some(Open {
            group,
            header,
            stream,
            previous: None,
        })
    }

    async fn object(&mut self, group: u64, object: u64, payload: Bytes) {
        if self.failed == Some(group) {
            return;
        }
        if self.open.as_ref().is_some_and(|o| o.group != group) {
            self.finish_current();
        }
        if self.open.is_none() {
            match self.open(group, object).await {
                Some(o) => self.open = Some(o),
                None => {
                    self.failed = Some(group);
                    return;
                }
            }
        }
        let Some(o) = self.open.as_mut() else { return };
        let fields = SubgroupObject {
            object_id: object,
            payload_length: payload.len() as u64,
            ..SubgroupObject::default()
        };
        let Ok(head) = encode_subgroup_object_header(&o.header, o.previous, &fields) else {
            return; // an object ID that does not increase: the track writer never makes one
        };
        o.previous = Some(object);
        let ok = write(&mut o.stream, head).await
            && (payload.is_empty() || write(&mut o.stream, payload).await);
        if !ok {
            tracing::debug!(group, "subscriber not reading: group stream reset");
            self.reset_current(StreamResetCode::DELIVERY_TIMEOUT);
        }
    }
}

/// Write one chunk within [`WRITE_TIMEOUT`]; false when it could not.
pub(crate) async fn write(stream: &mut SendStream, chunk: Bytes) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, stream.write_chunk(chunk)).await,
        Ok(Ok(()))
    )
}

enum Outcome {
    TrackEnded,
    Unsubscribed,
}

/// Serve one subscriber until the track ends or it leaves; `send`/`recv` is its request stream.
pub(crate) async fn run(
    shared: Arc<Shared>,
    alias: u64,
    attached: Attached,
    mut send: SendStream,
    mut recv: RecvStream,
    mut reader: ControlReader,
) {
    let Attached {
        mut rx,
        skip_below,
        priority,
        ..
    } = attached;
    let _active = shared.sink_started();
    let mut w = Writer {
        shared: shared.clone(),
        alias,
        open: None,
        failed: None,
        finished: VecDeque::new(),
        opened: 0,
        priority,
    };
    let outcome = loop {
        tokio::select! {
            cmd = rx.recv() => {
                let skip = skip_below.load(Ordering::Relaxed);
                if w.open.as_ref().is_some_and(|o| o.group < skip) {
                    w.reset_current(StreamResetCode::TOO_FAR_BEHIND);
                }
                match cmd {
                    Some(SinkCmd::Group(g)) => {
                        if w.open.as_ref().is_some_and(|o| o.group != g) {
                            w.finish_current();
                        }
                    }
                    Some(SinkCmd::Object { group, object, payload }) => {
                        if group >= skip {
                            w.object(group, object, payload).await;
                        }
                    }
                    Some(SinkCmd::End) | None => break Outcome::TrackEnded,
                }
            }
            msg = read_message(&shared, &mut recv, &mut reader) => match msg {
                Ok(Some(Message::RequestUpdate(_))) => {
                    let ok = RequestOk { parameters: Parameters::new(), track_properties: Default::default() };
                    if write_message(&mut send, ok).await.is_err() {
                        break Outcome::Unsubscribed;
                    }
                }
                Ok(Some(Message::RequestOk(_) | Message::PublishOk(_))) => {}
                Ok(Some(other)) => {
                    let why = format!("unexpected {} on a subscription stream", other.name());
                    shared.violation(Code::PROTOCOL_VIOLATION, &why);
                    break Outcome::Unsubscribed;
                }
                Ok(None) | Err(_) => break Outcome::Unsubscribed,
            },
        }
    };
    match outcome {
        Outcome::Unsubscribed => {
            tracing::debug!(alias, "subscriber left");
            w.reset_current(StreamResetCode::CANCELLED);
            let _ = send.finish();
        }
        Outcome::TrackEnded => {
            w.finish_current();
            let done = PublishDone {
                status_code: PublishDoneCode::TRACK_ENDED,
                stream_count: w.opened,
                error_reason: ReasonPhrase::new("track ended"),
            };
            if write_message(&mut send, done).await.is_ok() {
                let _ = send.finish();
            }
            // Linger until the subscriber has what we sent, so that closing right after
            // the track ends loses nothing.
            let drain = async {
                for s in &w.finished {
                    let _ = s.stopped().await;
                }
                let _ = send.stopped().await;
            };
            let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
        }
    }
}
