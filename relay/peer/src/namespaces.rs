//! SUBSCRIBE_NAMESPACE: learn the namespaces published under a prefix, now and as they come
//! and go (NAMESPACE / NAMESPACE_DONE on the request stream).

use tern_moq::message::codes::SessionError as Code;
use tern_moq::message::codes::StreamResetCode;
use tern_moq::message::{Parameters, SubscribeNamespace};
use tern_moq::{Message, TrackNamespace};

use super::Error;
use super::request::RequestStream;
use super::session::Session;
use super::shared::{Inbound, read_message, request_ok};

/// A change in the namespaces under a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NamespaceEvent {
    /// A namespace is published (the full namespace: prefix and suffix).
    Published(TrackNamespace),
    /// It was withdrawn.
    Withdrawn(TrackNamespace),
}

/// An active SUBSCRIBE_NAMESPACE. Dropping it cancels the request (its stream is finished).
#[derive(Debug)]
pub struct NamespaceSubscription {
    session: Session,
    prefix: TrackNamespace,
    send: RequestStream,
    inbound: Inbound,
}

impl Session {
    /// Send SUBSCRIBE_NAMESPACE for `prefix` and wait for REQUEST_OK; a REQUEST_ERROR becomes
    /// [`Error::Refused`] (or [`Error::NotFound`]). The namespaces already published under the
    /// prefix, and those to come, are read with [`NamespaceSubscription::next`].
    pub async fn subscribe_namespace(
        &self,
        prefix: TrackNamespace,
    ) -> Result<NamespaceSubscription, Error> {
        let shared = &self.shared;
        let p = prefix.clone();
        let make = |request_id| {
            SubscribeNamespace {
                request_id,
                track_namespace_prefix: p,
                parameters: Parameters::new(),
            }
            .into()
        };
        let (send, inbound) = request_ok(shared, make, "SUBSCRIBE_NAMESPACE").await?;
        Ok(NamespaceSubscription {
            session: self.clone(),
            prefix,
            send,
            inbound,
        })
    }
}

impl NamespaceSubscription {
    /// The prefix subscribed to.
    pub fn prefix(&self) -> &TrackNamespace {
        &self.prefix
    }

    /// The next change; `Ok(None)` when the server ended the subscription cleanly. Cancel-safe:
    /// it may be raced in `select!` (a partly read message stays buffered).
    pub async fn next(&mut self) -> Result<Option<NamespaceEvent>, Error> {
        let shared = &self.session.shared;
        let msg = read_message(shared, &mut self.inbound).await?;
        Ok(Some(match msg {
            None => return Ok(None),
            Some(Message::Namespace(n)) => {
                NamespaceEvent::Published(self.full(&n.track_namespace_suffix))
            }
            Some(Message::NamespaceDone(n)) => {
                NamespaceEvent::Withdrawn(self.full(&n.track_namespace_suffix))
            }
            Some(Message::RequestError(e)) => return Err(Error::from_request_error(&e)),
            Some(other) => {
                let why = format!("{} on a SUBSCRIBE_NAMESPACE stream", other.name());
                shared.violation(Code::PROTOCOL_VIOLATION, &why);
                return Err(Error::Protocol(why));
            }
        }))
    }

    /// NAMESPACE carries the fields after the prefix.
    fn full(&self, suffix: &TrackNamespace) -> TrackNamespace {
        let mut fields = self.prefix.fields().to_vec();
        fields.extend_from_slice(suffix.fields());
        TrackNamespace::new(fields)
    }
}

impl Drop for NamespaceSubscription {
    fn drop(&mut self) {
        let _ = self.send.finish();
        self.inbound.stop(StreamResetCode::CANCELLED);
    }
}
