//! The client's side of a session as the shared driver ([`crate::driver`]) sees it: the
//! server's requests go to `publisher.rs` (SUBSCRIBE, FETCH and TRACK_STATUS for our tracks),
//! its data streams and datagrams to `subscriber.rs` and `fetch.rs`; our SETUP is sent first.

use std::sync::Arc;

use tern_moq::data::ObjectDatagram;
use tern_moq::message::Setup;
use tern_moq::session::Event;

use super::driver::{DriveError, Peer};
use super::request::Reply;
use super::shared::{Inbound, Shared, lock};
use super::{Error, Timeouts};

impl From<DriveError> for Error {
    fn from(e: DriveError) -> Self {
        match e {
            DriveError::Transport(e) => Error::Session(e),
            DriveError::Write(e) => Error::from(e),
            DriveError::Peer(why) => Error::Protocol(why),
            other => Error::Write(other.to_string()),
        }
    }
}

impl Peer for Shared {
    type Error = Error;

    fn transport(&self) -> &tern_quic::Session {
        &self.quic
    }

    fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    async fn setup(self: &Arc<Self>, _peer: Option<Arc<Setup>>) -> Result<Setup, Error> {
        Ok(lock(&self.our_setup).take().unwrap_or_default())
    }

    fn on_request(
        self: &Arc<Self>,
        reply: Reply,
        inbound: Inbound,
    ) -> impl Future<Output = ()> + Send + 'static {
        super::publisher::request(self.clone(), reply, inbound)
    }

    fn on_data_stream(
        self: &Arc<Self>,
        inbound: Inbound,
        first: Event,
    ) -> impl Future<Output = ()> + Send + 'static {
        let shared = self.clone();
        async move {
            match first {
                Event::Subgroup { header, .. } => {
                    super::subscriber::data_stream(&shared, inbound, header).await;
                }
                Event::Fetch { header, .. } => super::fetch::data_stream(&shared, inbound, header),
                _ => {}
            }
        }
    }

    fn on_datagram(&self, datagram: ObjectDatagram) {
        super::subscriber::datagram(self, datagram);
    }
}
