//! In-memory sessions: two connected [`Session`](crate::Session)s in one process, with no
//! socket, TLS or packet in between.
//!
//! They are for in-process peers and for tests of the MoQ session without a network:
//! [`Session::pair`](crate::Session::pair) returns a client side and a server side that
//! behave like the two ends of a raw QUIC connection wherever a MoQ peer can tell the
//! difference:
//!
//! - A stream opened on one side is accepted on the other in opening order, once its opener
//!   has written to it, finished, reset or dropped it (quinn sends nothing for a stream that
//!   was only opened; a later stream that is written makes the earlier ones acceptable too).
//!   At most [`MemLimits::max_streams`] streams of each kind wait to be accepted; opening
//!   more waits.
//! - Each stream has a flow-control window of [`MemLimits::stream_window`] unread bytes:
//!   writes wait while it is full and resume as the reader reads.
//! - Finish, reset, stop and their implicit forms on drop, session close and the implicit
//!   close with code 0 when the last handle to a side goes (every
//!   [`Session`](crate::Session) clone and every stream of that side, as quinn counts them)
//!   all show up as they do with quinn, with the same
//!   [`SessionError`](crate::SessionError) and [`StreamError`](crate::StreamError) values.
//! - Datagrams wait in a queue of [`MemLimits::datagrams`] per direction that drops the
//!   oldest when full.
//!
//! The modules build on one another, leaves first: `limits` ([`MemLimits`]) and `pipe` (one
//! direction of a stream), then `pair` (what both sides share), `stream` ([`MemSend`],
//! [`MemRecv`]) and `session` ([`MemSession`], which opens and accepts the streams). This
//! module only declares them and re-exports what the rest of the crate uses.

mod limits;
mod pair;
mod pipe;
mod session;
mod stream;
#[cfg(test)]
mod tests;

pub use self::limits::MemLimits;
pub(crate) use self::session::MemSession;
pub(crate) use self::stream::{MemRecv, MemSend};
