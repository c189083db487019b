//! [`MemLimits`]: the stream, window and datagram limits of an in-memory pair.

/// The limits of an in-memory session pair made by
/// [`Session::pair_with`](crate::Session::pair_with).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemLimits {
    /// Streams opened but not yet accepted, per direction and kind (bidirectional,
    /// unidirectional); opening another waits until the peer accepts one. At least 1.
    pub max_streams: usize,
    /// Unread bytes per stream before writes wait (the stream's flow-control window). At
    /// least 1.
    pub stream_window: usize,
    /// Datagrams queued per direction; beyond that the oldest is dropped. 0 drops every
    /// datagram.
    pub datagrams: usize,
    /// The largest datagram payload accepted; 0 means datagrams are not supported.
    pub max_datagram_size: usize,
    /// What the server side's [`Session::peer_name`](crate::Session::peer_name) returns, as
    /// for a client certificate that verified.
    pub client_name: Option<String>,
}

impl Default for MemLimits {
    /// 256 streams, a 1 MiB window, 256 datagrams of up to 1200 bytes, no client name.
    fn default() -> Self {
        Self {
            max_streams: 256,
            stream_window: 1 << 20,
            datagrams: 256,
            max_datagram_size: 1200,
            client_name: None,
        }
    }
}
