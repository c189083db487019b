//! Sending a request of ours, the relay's and the client's alike: the stream it goes on, its
//! message written through the protocol session (which picks the Request ID and learns the
//! request), and the reader of its answers. On draft-18 each request is a new bidirectional
//! stream; that shape is decided here, not by the tasks that ask.

use std::time::Duration;

use tern_moq::Message;
use tern_quic::StreamError;

use crate::inbound::{Feed, Inbound};
use crate::request::{RequestStream, WriteError, lock};

/// Send the request `make` builds (given its Request ID) in `feed`'s session over `transport`:
/// opening its stream and each write are given up after `stall` without the peer's credit.
/// Returns the request's writer and the reader of its answers.
pub async fn ask<F: Feed>(
    feed: &F,
    transport: &tern_quic::Session,
    stall: Duration,
    make: impl FnOnce(u64) -> Message,
) -> Result<(RequestStream, Inbound<F::Hold>), WriteError> {
    let Some(mux) = feed.control().mux() else {
        let (send, recv) = open_bi(transport, stall).await?;
        let id = feed.new_stream_id();
        let request = RequestStream::open(feed.proto().clone(), id, send, stall, make).await?;
        let inbound = Inbound::of(&request, recv);
        return Ok((request, inbound));
    };
    // Drafts 14 and 16: on the control stream, in Request ID order.
    let proto = feed.proto().clone();
    let message = {
        let mut p = lock(&proto);
        let message = make(p.next_request_id());
        if p.on_control_stream(&message) {
            let (request, route) =
                RequestStream::open_on_control(proto.clone(), &mut p, &mux, message, stall)?;
            drop(p);
            let inbound = Inbound::muxed(feed, request.request(), None, route, mux);
            return Ok((request, inbound));
        }
        message
    };
    // Draft-16's SUBSCRIBE_NAMESPACE: a stream of its own.
    let (send, recv) = open_bi(transport, stall).await?;
    let id = feed.new_stream_id();
    let request = RequestStream::open_with(proto, id, send, stall, message).await?;
    let inbound = Inbound::of(&request, recv);
    Ok((request, inbound))
}

async fn open_bi(
    transport: &tern_quic::Session,
    stall: Duration,
) -> Result<(tern_quic::SendStream, tern_quic::RecvStream), WriteError> {
    let (send, recv) = match tokio::time::timeout(stall, transport.open_bi()).await {
        Ok(opened) => opened.map_err(StreamError::from)?,
        Err(_) => {
            return Err(WriteError::Stalled {
                what: "open a request stream",
                after: stall,
            });
        }
    };
    Ok((send, recv))
}
