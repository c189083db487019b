//! What travels on the event tracks, as JSON: a viewer's [`ViewerEvent`] on its own track, the
//! origin's [`Record`] on the ordered `events` track.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The kind of an event nobody named.
pub const DEFAULT_KIND: &str = "chat";

/// One event as a viewer publishes it on `<broadcast>/viewers/<id>`, track `events`: one object
/// of JSON. Who sent it is not in the payload: the origin takes it from the namespace the event
/// arrived on, so a viewer cannot speak for another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ViewerEvent {
    /// `chat`, `reaction`, `bid`, `gift`, …: 1 to 16 of `a-z 0-9 _ -` (default `chat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The text (a chat message, a reaction's emoji, a bid's amount).
    pub body: String,
    /// When the viewer sent it: Unix milliseconds on the viewer's clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<u64>,
}

impl ViewerEvent {
    /// The object payload.
    pub fn encode(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }
}

/// One event on the ordered `events` track: an object of JSON. Every viewer reads the same
/// records in the same order (`seq`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// Position in the broadcast's total order of events, from 0 (per origin run).
    pub seq: u64,
    /// The viewer ID: the last field of the namespace the event arrived on.
    pub viewer: String,
    /// The event's kind.
    pub kind: String,
    /// The event's text.
    pub body: String,
    /// When the viewer sent it (Unix ms, the viewer's clock), if it said.
    pub sent_at: Option<u64>,
    /// When the origin put it in order (Unix ms, the origin's clock; never decreasing).
    pub sequenced_at: u64,
}

impl Record {
    /// Parse an object of the `events` track.
    pub fn parse(payload: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(payload)
    }

    /// The object payload.
    pub fn encode(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }
}

/// Whether `viewer` is a usable viewer ID: 1 to 32 of `A-Z a-z 0-9 _ - .`.
pub fn valid_viewer(viewer: &str) -> bool {
    (1..=32).contains(&viewer.len())
        && viewer
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Whether `kind` is a usable event kind: 1 to 16 of `a-z 0-9 _ -`.
pub fn valid_kind(kind: &str) -> bool {
    (1..=16).contains(&kind.len())
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'))
}
