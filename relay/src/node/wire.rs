//! Between the wire and the core: reading a request stream's next message, the wire's
//! REQUEST_ERROR for each refusal of the router, and the core's names and filters for the
//! wire's.

use tern_moq::message::codes::RequestErrorCode;
use tern_moq::message::{Parameters, RequestError};
use tern_moq::session::Event;
use tern_moq::{Message, ReasonPhrase, TrackNamespace};

use crate::core::router::{Refusal, TakeOver};
use crate::core::types::{Filter, TrackName};

use super::session::{Inbound, SessionShared};

/// The next message on a request stream; `None` once the peer finished or reset it (or the
/// session broke: the protocol state already closed it with the reason).
pub async fn next_message(inbound: &mut Inbound, s: &SessionShared) -> Option<Message> {
    loop {
        match inbound.next(s).await? {
            Event::Request { message, .. } | Event::Message { message, .. } => {
                return Some(message);
            }
            Event::RequestClosed { .. } => return None,
            _ => {}
        }
    }
}

/// REQUEST_ERROR with `code` and `reason`.
pub fn error(code: RequestErrorCode, reason: &str) -> RequestError {
    RequestError {
        error_code: code,
        retry_interval: 0,
        error_reason: ReasonPhrase::new(reason.to_owned()),
        redirect: None,
    }
}

/// The REQUEST_ERROR a peer gets for the router's refusal.
pub fn refusal(reason: Refusal) -> RequestError {
    match reason {
        Refusal::DoesNotExist => error(
            RequestErrorCode::DOES_NOT_EXIST,
            "no publisher for this track",
        ),
        Refusal::Timeout => error(
            RequestErrorCode::TIMEOUT,
            "no publisher within the rendezvous timeout",
        ),
        Refusal::ExcessiveLoad => error(RequestErrorCode::EXCESSIVE_LOAD, "too many subscriptions"),
        Refusal::DuplicateSubscription => error(
            RequestErrorCode::DUPLICATE_SUBSCRIPTION,
            "already subscribed",
        ),
        Refusal::Upstream(code) => RequestError {
            error_code: RequestErrorCode(code),
            ..error(RequestErrorCode(code), "refused upstream")
        },
        Refusal::Invalid => error(RequestErrorCode::DOES_NOT_EXIST, "reserved namespace"),
        Refusal::EmptyNamespace => error(
            RequestErrorCode::NOT_SUPPORTED,
            "a published namespace needs at least one field",
        ),
        Refusal::PrefixOverlap => error(
            RequestErrorCode::PREFIX_OVERLAP,
            "prefix overlaps another subscription of this session",
        ),
        Refusal::Loop => error(
            RequestErrorCode::NOT_SUPPORTED,
            "announcement loop: the hop list already contains this relay",
        ),
        Refusal::TooDeep => error(
            RequestErrorCode::NOT_SUPPORTED,
            "announcement too deep: the hop list reached the maximum depth",
        ),
        Refusal::Unauthorized => error(
            RequestErrorCode::UNAUTHORIZED,
            "not a member of this relay's cluster",
        ),
        Refusal::Published { class, policy } => {
            let who = match policy {
                TakeOver::First => "only the same publisher takes it over",
                _ => "a publisher of the same class or a higher one takes it over",
            };
            RequestError {
                error_code: RequestErrorCode::UNAUTHORIZED,
                retry_interval: 0,
                error_reason: ReasonPhrase::new(format!(
                    "another {class} publisher publishes this track and relay.takeover = \"{}\" \
                     keeps it: {who} (the same identity always does)",
                    policy.key_value()
                )),
                redirect: None,
            }
        }
        Refusal::NotOpen => error(
            RequestErrorCode::UNAUTHORIZED,
            "this relay takes anonymous publishers from its own host only: \
             set relay.open_publishing = true, or admit publishers with a [plugin]",
        ),
    }
}

/// Convert a wire namespace and name into the core's track name.
pub fn track_name(ns: &TrackNamespace, name: &bytes::Bytes) -> TrackName {
    TrackName {
        namespace: ns.fields().to_vec(),
        name: name.clone(),
    }
}

/// The core's filter for a SUBSCRIBE's parameters (absent: unfiltered, i.e. from {0,0}).
pub fn filter(params: &Parameters) -> Filter {
    Filter::of(params.subscription_filter())
}
