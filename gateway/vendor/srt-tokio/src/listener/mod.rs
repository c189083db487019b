mod builder;
mod session;
mod state;

use std::{io, sync::Arc};

use futures::{channel::mpsc, prelude::*};
use srt_protocol::settings::ConnInitSettings;
use tokio::{net::UdpSocket, sync::oneshot, task::JoinHandle};

use crate::net::bind_socket;

use super::{net::PacketSocket, options::*, watch};

pub use builder::SrtListenerBuilder;
pub use session::ConnectionRequest;
pub use srt_protocol::statistics::ListenerStatistics;

#[derive(Debug)]
pub struct SrtListener {
    settings: ConnInitSettings,
    statistics_receiver: watch::Receiver<ListenerStatistics>,
    close_req: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

#[derive(Debug)]
pub struct SrtIncoming {
    request_receiver: mpsc::Receiver<ConnectionRequest>,
}

impl SrtListener {
    pub fn builder() -> SrtListenerBuilder {
        SrtListenerBuilder::default()
    }

    pub async fn bind(options: Valid<ListenerOptions>) -> Result<(Self, SrtIncoming), io::Error> {
        let socket = bind_socket(&options.socket).await?;
        Self::bind_with_socket(options, socket).await
    }

    pub async fn bind_with_socket(
        options: Valid<ListenerOptions>,
        socket: UdpSocket,
    ) -> Result<(Self, SrtIncoming), io::Error> {
        use state::SrtListenerState;
        let socket_options = options.into_value().socket;
        let local_address = socket.local_addr()?;
        let socket = PacketSocket::from_socket(Arc::new(socket), 1024 * 1024);
        let settings = ConnInitSettings::from(socket_options);
        let (close_req, close_resp) = oneshot::channel();
        let (request_sender, request_receiver) = mpsc::channel(100);
        let (statistics_sender, statistics_receiver) = watch::channel();
        let state = SrtListenerState::new(
            socket,
            local_address,
            settings.clone(),
            request_sender,
            statistics_sender,
            close_resp,
        );
        let task = tokio::spawn(async move {
            state.run_loop().await;
        });
        Ok((
            Self {
                settings,
                statistics_receiver,
                close_req: Some(close_req),
                task,
            },
            SrtIncoming { request_receiver },
        ))
    }

    pub fn settings(&self) -> &ConnInitSettings {
        &self.settings
    }

    pub fn statistics(&mut self) -> &mut (impl Stream<Item = ListenerStatistics> + Clone) {
        &mut self.statistics_receiver
    }

    pub async fn close(&mut self) {
        let _ = self.close_req.take().unwrap().send(());
        (&mut self.task).await.unwrap();
    }
}

impl SrtIncoming {
    pub fn incoming(&mut self) -> &mut impl Stream<Item = ConnectionRequest> {
        &mut self.request_receiver
    }
}

impl Drop for SrtListener {
    fn drop(&mut self) {
        // TODO: we probably need to use a std::sync primitive to block until closed
    }
}
