//! Sans-IO relay core: no sockets, no runtime, no clock (every input carries `now`).
//!
//! - [`router`]: the control plane (publishers, subscribers, one upstream subscription per track).
//! - [`track`]: one track's cached groups as a log that readers follow with cursors.
//! - [`dispatch`]: what a node does with each of the router's commands (node loop and simulator).
//! - [`fanout`]: one downstream subscriber reading a track: **the fan-out**.
//! - [`hops`]: the hop-list extension between tern relays (loop prevention).
//! - [`cache`]: the process-wide byte and age budget.
//! - [`types`]: names, locations, objects, filters.

pub mod cache;
pub mod dispatch;
pub mod fanout;
pub mod hops;
pub mod live;
pub mod router;
pub mod track;
pub mod types;

#[cfg(test)]
mod tests;
