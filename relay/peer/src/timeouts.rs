//! [`Timeouts`]: every wait of a MoQ peer on another, in one place. The relay node carries one
//! in its settings and in each session, a client in its [`ConnectOptions`](super::ConnectOptions);
//! the same name means the same wait in both.

use std::time::Duration;

/// How long a peer waits for another, by what it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// The peer's SETUP once the session is up (a relay's sessions and links, a client's
    /// connection).
    pub setup: Duration,
    /// A peer that gives no flow-control or stream credit, or no answer, to a request of ours
    /// (opening or writing a request or fetch stream, a PUBLISH's answer, a FETCH's place).
    pub peer_stall: Duration,
    /// One write of a subscriber's data, and the opening of its stream: past it the stream is
    /// reset and the subscriber skips (a relay caps each subscription's delivery timeout at it).
    pub write: Duration,
    /// Data that arrived before the control message naming its Track Alias.
    pub alias_wait: Duration,
    /// After PUBLISH_DONE, the most a subscriber waits for the data streams it counts.
    pub done_grace: Duration,
    /// After an upstream's PUBLISH_DONE, how long a relay lets the last data streams land
    /// before it ends the track (it does not count them).
    pub done_linger: Duration,
    /// At the end of a track, how long a relay's subscription writer may take to deliver what is
    /// cached before it is stopped.
    pub finish: Duration,
    /// At the end of a track or a fetch stream, how long a publisher waits for the subscriber
    /// to have read its last streams (closing right after loses nothing).
    pub drain: Duration,
    /// How long a closed session's stream tasks may read what arrived before the close.
    pub close_drain: Duration,
    /// How long a peer that finished its control stream has to close the session itself.
    pub leave_grace: Duration,
    /// How long a downstream request waits for a place among those forwarded to one upstream.
    pub forward_wait: Duration,
    /// How long a request waits for the edge plugin's admission.
    pub admission: Duration,
    /// How long a relay's backfill of a failed-over track may take.
    pub backfill: Duration,
    /// How long a relay watches a track for the group a dead upstream left open to be passed.
    pub group_pass: Duration,
    /// How long a watermarked viewer's object waits for its variant's copy.
    pub variant_wait: Duration,
    /// How long a FETCH waits for its data stream after FETCH_OK.
    pub fetch_data: Duration,
    /// How long one session's GOAWAY may take to write at a relay's shutdown (a peer that
    /// grants no stream credit holds up its own GOAWAY only).
    pub goaway_write: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Timeouts {
    /// The defaults: what [`Timeouts::default`] gives.
    pub const DEFAULT: Timeouts = Timeouts {
        setup: Duration::from_secs(10),
        peer_stall: Duration::from_secs(10),
        write: Duration::from_secs(2),
        alias_wait: Duration::from_secs(2),
        done_grace: Duration::from_secs(2),
        done_linger: Duration::from_millis(300),
        finish: Duration::from_secs(5),
        drain: Duration::from_secs(3),
        close_drain: Duration::from_millis(500),
        leave_grace: Duration::from_secs(2),
        forward_wait: Duration::from_secs(2),
        admission: Duration::from_secs(10),
        backfill: Duration::from_millis(1500),
        group_pass: Duration::from_secs(10),
        variant_wait: Duration::from_millis(500),
        fetch_data: Duration::from_secs(5),
        goaway_write: Duration::from_secs(1),
    };
}
