//! Serving one subscriber of our track (a SUBSCRIBE we answered, or our own PUBLISH): its
//! fan-out reader, written by the shared [`SubgroupWriter`], until the track ends (then
//! PUBLISH_DONE) or the subscriber leaves; REQUEST_UPDATE on the request stream is answered.

use std::sync::Arc;
use tern_model::{DoneReason, Next, Subscription};
use tern_moq::message::codes::{PublishDoneCode, SessionError as Code, StreamResetCode};
use tern_moq::message::{Parameters, PublishDone, RequestOk};
use tern_moq::{Message, ReasonPhrase};

use super::request::RequestStream;
use super::shared::{Inbound, Shared, read_message};
use super::writer::SubgroupWriter;

/// Deliveries taken from the cache per lock.
const BATCH: usize = 64;

enum Outcome {
    Done(PublishDoneCode, &'static str),
    Unsubscribed,
}

/// Serve one subscriber until the track ends or it leaves; `send`/`recv` is its request stream.
pub(crate) async fn run(
    shared: Arc<Shared>,
    alias: u64,
    mut reader: Subscription,
    mut send: RequestStream,
    mut inbound: Inbound,
) {
    let _active = shared.sink_started();
    let version = {
        use crate::inbound::Feed as _;
        crate::request::lock(shared.proto()).version()
    };
    let mut w = SubgroupWriter::new(shared.quic.clone(), alias, shared.timeouts.write)
        .with_version(version);
    let mut batch = Vec::with_capacity(BATCH);
    let outcome = 'serve: loop {
        batch.clear();
        tokio::select! {
            next = reader.next(BATCH, &mut batch) => {
                if next == Next::Closed {
                    break Outcome::Done(PublishDoneCode::TRACK_ENDED, "track ended");
                }
                for d in batch.drain(..) {
                    match w.apply(d).await {
                        None => {}
                        Some(DoneReason::TooFarBehind) => break 'serve Outcome::Done(
                            PublishDoneCode::TOO_FAR_BEHIND,
                            "subscriber too far behind",
                        ),
                        Some(DoneReason::RangeComplete) => break 'serve Outcome::Done(
                            PublishDoneCode::SUBSCRIPTION_ENDED,
                            "range complete",
                        ),
                        Some(DoneReason::TrackEnded | DoneReason::Restarted) => {
                            break 'serve Outcome::Done(PublishDoneCode::TRACK_ENDED, "track ended")
                        }
                    }
                }
            }
            msg = read_message(&shared, &mut inbound) => match msg {
                Ok(Some(Message::RequestUpdate(_))) => {
                    let ok = RequestOk { parameters: Parameters::new(), track_properties: Default::default() };
                    if send.send(ok).await.is_err() {
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
            w.reset_all(StreamResetCode::CANCELLED);
            let _ = send.finish();
        }
        Outcome::Done(code, why) => {
            w.finish_all();
            let done = PublishDone {
                status_code: code,
                stream_count: w.opened(),
                error_reason: ReasonPhrase::new(why),
            };
            let _ = send.send_last(done).await;
            // Linger until the subscriber has what we sent, so that closing right after
            // the track ends loses nothing.
            let drain = async {
                w.drain(shared.timeouts.drain).await;
                let _ = send.stopped().await;
            };
            let _ = tokio::time::timeout(shared.timeouts.drain, drain).await;
        }
    }
}
