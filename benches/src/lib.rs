//! Benchmark harnesses, run by hand (never in CI): see `benches/README.md`.
//!
//! - `fanout`: one publisher, N subscribers through a relay (tern, Cloudflare's `moq-relay-ietf`,
//!   moq-dev's `moq-relay`), measuring relay CPU per delivered Gbit, memory per subscriber and
//!   objects lost.
