//! tern-sims: a deterministic simulator of a tern relay tree.
//!
//! The real sans-IO relay core (`tern_relay_core`: router, track cache, fan-out, cache budget)
//! runs in every simulated relay, driven in virtual time over a seeded simulated network. Same
//! scenario and seed → byte-identical report. See README.md for what is real and what is
//! modelled.
//!
//! - [`net`]: links (latency, loss, bandwidth), node failures, the viewers' last mile.
//! - [`node`]: the node driver around one relay's core, with upstream failover.
//! - [`sim`]: the event loop, the tree, the viewers.
//! - [`scenario`]: the scenarios and their parameters.
//! - [`report`]: figures, text and JSON; [`plot`]: the PNG plot.

pub mod msg;
pub mod net;
pub mod node;
pub mod plot;
pub mod queue;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod sim;
