//! A running ingest listener, whatever its protocol: where it listens, and its task.

use std::net::SocketAddr;

use tokio::task::JoinHandle;

/// A running listener (SRT, RTMP). Dropping it stops the listener and closes its publishers.
#[derive(Debug)]
pub struct Listening {
    local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Listening {
    pub(crate) fn new(local_addr: SocketAddr, task: JoinHandle<()>) -> Self {
        Self { local_addr, task }
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.task.abort();
    }
}
