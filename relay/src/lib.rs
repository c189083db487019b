//! The tern relay node.
//!
//! - [`core`]: the sans-IO relay logic (routing, one upstream subscription per track, fan-out,
//!   the group cache, slow-subscriber policy), the crate `tern-relay-core` (`relay/core/`). No
//!   sockets, no runtime, no clock: `now` is passed in.
//! - [`config`]: the operator's configuration (TOML file + `TERN_*` environment + flags).
//! - [`admin`]: the internal HTTP port (`/metrics`, `/health`).

pub mod admin;
pub mod config;
pub use tern_relay_core as core;
#[doc(hidden)]
pub mod fuzz;
pub mod logging;
pub mod metrics;
pub mod node;
pub mod run;
