//! tern-moq: a sans-IO codec for MoQ Transport draft-ietf-moq-transport-18, -20 and -22
//! (draft-18's messages in memory, each draft's shape on the wire: see [`version`]).
//!
//! Bytes in, messages and objects out: no sockets, no tasks, no clock.
//! - [`coding`]: varints, Key-Value-Pairs, Track Namespace, Location, Reason Phrase, errors.
//! - [`message`]: every control message, SETUP, parameters and error codes.
//! - [`data`]: subgroup and fetch streams, object headers, datagrams, Properties.
//! - [`reader`]: incremental bounded readers for control and data streams.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod coding;
pub mod data;
pub mod draft16;
#[doc(hidden)]
pub mod fuzz;
pub mod message;
pub mod reader;
pub mod session;
pub mod version;

pub use coding::{DecodeError, EncodeError, FullTrackName, Location, ReasonPhrase, TrackNamespace};
pub use message::Message;
pub use reader::{ControlReader, DataStreamEvent, DataStreamReader};
pub use version::Version;

/// Limits applied to peer input. Everything a peer declares is checked
/// against these before it is buffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest control message payload accepted (≤ 65535 on the wire).
    pub max_control_message: usize,
    /// Largest number of bytes a [`ControlReader`] buffers.
    pub max_control_buffer: usize,
    /// Largest object payload accepted.
    pub max_object_size: u64,
    /// Largest Properties block accepted on an object.
    pub max_properties: usize,
    /// Largest number of bytes a [`DataStreamReader`] buffers.
    pub max_stream_buffer: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_control_message: u16::MAX as usize,
            max_control_buffer: 256 * 1024,
            max_object_size: 16 * 1024 * 1024,
            max_properties: u16::MAX as usize,
            max_stream_buffer: 16 * 1024 * 1024 + 256 * 1024,
        }
    }
}
