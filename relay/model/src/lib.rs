//! The track model every tern role shares: the relay's sessions, the client library, the
//! origin and `tern demo` publish into and read from the same handles.
//!
//! A track is one cache ([`tern_relay_core::track::Track`]: its recent groups as a log) behind
//! one lock. A [`TrackProducer`] appends to it and ends it; a [`TrackConsumer`] is a read view
//! (FETCH, lookups) that makes [`Subscription`]s: fan-out readers with their own cursor, which
//! get every object as the shared `Bytes` the cache holds (no copy per reader). A reader that
//! falls behind loses whole groups, counted, as its [`LagPolicy`] says; the cache's bytes are
//! charged at append to the process's gauge and paid for by the writer (see
//! [`tern_relay_core::cache`]). Nothing here does I/O: the handles wake their readers, and the
//! drivers (a relay session, a client's subscriber) move the bytes.

pub mod fetch;
pub mod local;
pub mod track;

pub use tern_relay_core::cache::{CacheBudget, CacheGauge, LiveBudget};
pub use tern_relay_core::fanout::{Delivery, DoneReason, LagPolicy};
pub use tern_relay_core::track::Appended;
pub use tern_relay_core::track::SubgroupEnd;
pub use tern_relay_core::types::{Filter, Location, Object, ObjectStatus, TrackName};
pub use track::{Next, Subscription, TrackConsumer, TrackProducer};
