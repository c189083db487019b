//! Hosts WebAssembly edge plugins for tern relays.
//!
//! A plugin is a WebAssembly component of the `tern:edge/plugin` world (`wit/edge.wit`). It
//! exports named phases that each return a plain decision: session open, subscribe, publish,
//! object and log. The relay calls them through a [`PluginHost`], which runs the calls on a small
//! pool of worker threads behind a bounded queue, so a plugin never holds the relay's loop:
//! each call has an epoch deadline, each instance a memory cap and a stack limit, and a caller
//! that waits too long gets [`PluginError::Timeout`]. With no plugin configured the relay makes
//! no [`PluginHost`]: no engine, no threads, no cost.

mod bindings;
mod config;
mod engine;
mod error;
mod host;
mod mint;
pub mod record;
pub mod testing;
mod worker;

pub use bindings::tern::edge::types::{
    Claims, Deny, Level, LogEvent, Namespace, ObjectDecision, ObjectRequest, Request,
    RequestDecision, SessionDecision, SessionRequest,
};
pub use config::{ConfigError, HostConfig};
pub use error::PluginError;
pub use host::PluginHost;
pub use mint::{Alg, Mint, MintError, mint};

/// Deny codes a plugin returns in [`Deny::code`].
pub mod deny_code {
    /// Not authorized (no token, wrong audience, out of scope).
    pub const UNAUTHORIZED: u32 = 1;
    /// The token could not be parsed or verified.
    pub const MALFORMED_TOKEN: u32 = 2;
    /// The token expired (or is not valid yet).
    pub const EXPIRED_TOKEN: u32 = 3;
    /// The request breaks the protocol (for example an empty namespace field).
    pub const PROTOCOL_VIOLATION: u32 = 4;
}
