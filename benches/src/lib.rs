//! Benchmark harnesses, run by hand (never in CI): see `benches/README.md`.
//!
//! - `fanout`: one publisher, N subscribers through a relay (tern, Cloudflare's `moq-relay-ietf`,
//!   moq-dev's `moq-relay`), measuring relay CPU per delivered Gbit, memory per subscriber and
//!   objects lost.
//! - `edge-plugins`: the cost of each edge plugin phase and of the watermark plugin per
//!   delivered Gbit.
//! - `soak`: a tree of `tern relay` processes (two roots, two mids, four edges) for half an hour
//!   under churning viewers, reconnecting publishers and a relay killed every two minutes:
//!   RSS per relay, viewers receiving, objects lost on surviving paths, stuck SUBSCRIBEs.
