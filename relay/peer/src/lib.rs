//! The MoQ peer every tern role shares, over `tern-quic` (sockets) and `tern-moq` (the codec):
//! a draft-18 client, and the subgroup writer ([`writer`]), FETCH writer ([`fetch_writer`]) and
//! [`Timeouts`] that the relay node uses too.
//!
//! - [`Session::connect`]: QUIC or WebTransport, the SETUP exchange, and background tasks that
//!   accept the server's streams (its control stream, SUBSCRIBEs for our tracks, data streams
//!   for our subscriptions, datagrams).
//! - Publishing: [`TrackWriter`] holds a track's current group; [`Session::publish_namespace`]
//!   and [`Session::serve_track`] let the relay SUBSCRIBE to it, [`Session::publish`] pushes it
//!   with PUBLISH. Each subscriber is a fan-out reader of the track's cache and gets one subgroup
//!   stream per group, written without copying the payloads: a subscriber that cannot keep up
//!   skips to the newest group (whole groups dropped), it is never buffered without bound.
//! - Subscribing: [`Session::subscribe`] returns a [`Subscription`] yielding [`Object`]s in
//!   group order until PUBLISH_DONE, or a typed [`Error`].
//! - Discovery: [`Session::subscribe_namespace`] returns a [`NamespaceSubscription`] yielding
//!   the namespaces published under a prefix as they come and go.
//! - The past: a [`TrackWriter`] given a [`History`] keeps completed groups (within a duration
//!   and a byte budget) and answers FETCH from them; [`Session::fetch`] and
//!   [`Session::joining_fetch`] ask for a range and return a [`Fetch`] yielding its entries.
//!
//! Every stream is read through the sans-IO protocol session ([`inbound`]) and every control
//! message written through it ([`request`]), by the relay and the client alike, and every session
//! of both is run by one [`driver`] over any transport. The client's files: `connect.rs` (the
//! transport), `client.rs` (what the driver hands the client),
//! `shared.rs` (what the session's tasks share), `publisher.rs` and `sink.rs` (our tracks),
//! `subscriber.rs`, `fetch.rs` and `namespaces.rs` (what we ask for).
//!
//! Protocol decisions that need no I/O live in sans-IO pieces ([`Reorder`], the track state
//! behind [`TrackWriter`] and the groups its [`History`] keeps); the async code around them
//! only moves bytes.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ask;
mod client;
mod connect;
mod control;
pub mod driver;
mod fetch;
pub mod fetch_writer;
mod history;
pub mod inbound;
pub mod mux;
mod namespaces;
mod publisher;
mod reorder;
pub mod request;
mod session;
mod shared;
mod sink;
mod subscriber;
mod timeouts;
mod track;
pub mod writer;

pub use control::Control;
pub use fetch::{Fetch, FetchEntry, JoiningStart};
pub use history::History;
pub use namespaces::{NamespaceEvent, NamespaceSubscription};
pub use publisher::Announcement;
pub use reorder::Reorder;
pub use session::{ConnectOptions, Session};
pub use subscriber::Subscription;
pub use timeouts::Timeouts;
pub use track::TrackWriter;

use bytes::Bytes;
use tern_moq::message::codes::{PublishDoneCode, RequestErrorCode};

/// One object as a subscriber sees it: the model's object (its payload a slice of the
/// received buffer, not a copy). End-of-group and end-of-track markers are not handed out as
/// objects: what a subscriber gets is always [`ObjectStatus::Normal`](tern_model::ObjectStatus).
pub use tern_model::Object;

/// An object received at `location` with its properties and payload.
pub(crate) fn received(
    location: tern_model::Location,
    properties: Bytes,
    payload: Bytes,
) -> Object {
    Object {
        location,
        status: tern_model::ObjectStatus::Normal,
        properties,
        payload,
        end_of_group: false,
    }
}

/// Why a session or a request failed, with the blame where it is known.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The transport could not be established (unreachable, TLS, refused, bad URL).
    #[error(transparent)]
    Connect(#[from] tern_quic::ConnectError),
    /// The server did not complete the SETUP exchange.
    #[error("no SETUP from the server: {0}")]
    Setup(String),
    /// The session ended.
    #[error("session ended: {0}")]
    Session(#[from] tern_quic::SessionError),
    /// A stream failed.
    #[error("stream failed: {0}")]
    Stream(#[from] tern_quic::StreamError),
    /// The peer broke the protocol; the session was closed with PROTOCOL_VIOLATION.
    #[error("protocol violation by the peer: {0}")]
    Protocol(String),
    /// REQUEST_ERROR with DOES_NOT_EXIST: nobody publishes this track (or namespace).
    #[error("not found: {reason}")]
    NotFound {
        /// The server's reason phrase.
        reason: String,
    },
    /// REQUEST_ERROR with another code.
    #[error("refused ({}): {reason}", request_code_name(*.code))]
    Refused {
        /// The REQUEST_ERROR code.
        code: u64,
        /// The server's reason phrase.
        reason: String,
    },
    /// PUBLISH_DONE with a status other than TRACK_ENDED / SUBSCRIPTION_ENDED.
    #[error("ended by the publisher ({}): {reason}", done_code_name(*.code))]
    Ended {
        /// The PUBLISH_DONE status code.
        code: u64,
        /// The publisher's reason phrase.
        reason: String,
    },
    /// A local misuse of the API (for example a group ID that does not increase).
    #[error("{0}")]
    Invalid(&'static str),
    /// A message could not be sent on a request stream (the peer gave it no credit in time,
    /// or the request was over).
    #[error("cannot send: {0}")]
    Write(String),
}

impl Error {
    /// REQUEST_ERROR as a typed error.
    pub(crate) fn from_request_error(e: &tern_moq::message::RequestError) -> Self {
        let reason = e.error_reason.to_string_lossy();
        if e.error_code == RequestErrorCode::DOES_NOT_EXIST {
            Self::NotFound { reason }
        } else {
            Self::Refused {
                code: e.error_code.0,
                reason,
            }
        }
    }
}

fn request_code_name(code: u64) -> String {
    match RequestErrorCode(code).name() {
        Some(name) => format!("{name}, {code:#x}"),
        None => format!("{code:#x}"),
    }
}

fn done_code_name(code: u64) -> String {
    match PublishDoneCode(code).name() {
        Some(name) => format!("{name}, {code:#x}"),
        None => format!("{code:#x}"),
    }
}
