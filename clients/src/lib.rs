//! tern's client side: a MoQ Transport draft-18 client library and the pieces the `tern`
//! command line is built from.
//!
//! - [`client`]: sessions, publishers ([`client::TrackWriter`]) and subscribers
//!   ([`client::Subscription`]): the `tern-peer` crate, re-exported.
//! - [`framing`]: how `tern publish` / `tern subscribe` cut stdin into objects and write them
//!   back (sans-IO).
//! - [`detect`]: which watermark variant each group of a capture shows, from decoded pixels.
//! - [`clock`]: the clock track of Cloudflare's `moq-clock-ietf` (time ↔ groups and objects).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use tern_peer as client;
pub mod clock;
pub mod detect;
pub mod framing;
#[doc(hidden)]
pub mod fuzz;
pub mod web;
