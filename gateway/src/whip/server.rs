//! The WHIP listener of a relay node: admission, the shared UDP port, the sessions.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tern_model::local::{Credentials, LocalApi};
use tern_origin::Options;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::route::Routes;
use super::session;
use super::shared::{Answer, Datagram, Shared};
use super::{Config, WhipError};
use crate::publish::Resumes;
use crate::refusals::{RefusalLog, Slot};

/// A running WHIP listener: its UDP port and its sessions. Dropping it stops them.
pub struct WhipServer {
    shared: Arc<Shared>,
    reader: JoinHandle<()>,
    tcp: Option<JoinHandle<()>>,
    tasks: Mutex<tokio::task::JoinSet<()>>,
}

impl std::fmt::Debug for WhipServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhipServer")
            .field("udp", &self.shared.local_addr)
            .finish()
    }
}

impl Drop for WhipServer {
    fn drop(&mut self) {
        self.reader.abort();
        if let Some(t) = &self.tcp {
            t.abort();
        }
    }
}

/// Bind `config.udp` and serve WHIP sessions publishing into the node behind `api`.
pub async fn serve(
    config: Config,
    api: LocalApi,
    options: Options,
    resumes: Resumes,
) -> io::Result<WhipServer> {
    let socket = Arc::new(UdpSocket::bind(config.udp).await?);
    let local_addr = socket.local_addr()?;
    let ips = match (config.advertise.is_empty(), local_addr.ip()) {
        (false, _) => config.advertise.clone(),
        (true, ip) if ip.is_unspecified() => {
            tracing::warn!(
                "whip: media bound to {local_addr}: only loopback is advertised; set \
                 [whip] advertise to the addresses publishers reach this host at"
            );
            vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
        }
        (true, ip) => vec![ip],
    };
    let tcp = if config.tcp {
        match tokio::net::TcpListener::bind(local_addr).await {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(
                    "whip: no ICE-TCP candidate: cannot listen on {local_addr}/tcp: {e}"
                );
                None
            }
        }
    } else {
        None
    };
    let tcp_addr = tcp.as_ref().and_then(|l| l.local_addr().ok());
    let candidates = ips
        .into_iter()
        .map(|ip| SocketAddr::new(ip, local_addr.port()))
        .collect();
    let shared = Arc::new(Shared {
        config,
        api,
        options,
        resumes,
        socket: socket.clone(),
        local_addr,
        tcp_addr,
        candidates,
        routes: Mutex::new(Routes::default()),
        sessions: Mutex::new(HashMap::new()),
        active: Arc::new(AtomicUsize::new(0)),
        refusals: RefusalLog::default(),
    });
    let reader = tokio::spawn(read(shared.clone()));
    let tcp = tcp.map(|l| tokio::spawn(super::tcp::accept(l, shared.clone())));
    Ok(WhipServer {
        shared,
        reader,
        tcp,
        tasks: Mutex::new(tokio::task::JoinSet::new()),
    })
}

/// The one reader of the shared port: each datagram to its session's queue.
async fn read(shared: Arc<Shared>) {
    let mut buf = vec![0u8; 2048];
    loop {
        let (n, source) = match shared.socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                // ICMP errors for an earlier send surface here on Linux; the port lives on.
                tracing::debug!("whip: udp receive: {e}");
                continue;
            }
        };
        let data = &buf[..n];
        let to = {
            let Ok(mut routes) = shared.routes.lock() else {
                return;
            };
            routes.find(source, data).cloned()
        };
        if let Some(to) = to {
            // A session that does not keep up loses datagrams, as a network would.
            let _ = to.try_send(Datagram {
                source,
                at: Instant::now(),
                data: data.to_vec(),
                tcp: None,
            });
        }
    }
}

impl WhipServer {
    /// What its sessions share (the WebRTC port, its routes): WHEP's viewers use it too.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The UDP address media arrives on.
    pub fn udp_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// Answer `offer`, publishing `path` as `credentials`: the node's refusal, or the answer
    /// with the session started.
    pub async fn offer(
        &self,
        path: &str,
        credentials: Credentials,
        offer: &str,
    ) -> Result<Answer, WhipError> {
        let max = self.shared.config.max_sessions;
        if self.shared.active.load(Ordering::Relaxed) >= max {
            return Err(WhipError::Full(max));
        }
        let slot = Slot::take(&self.shared.active);
        let (reply, answer) = oneshot::channel();
        let start = session::Start {
            path: path.to_owned(),
            credentials,
            offer: offer.to_owned(),
            reply,
            slot,
        };
        {
            let mut tasks = self.tasks.lock().map_err(|_| lock_error())?;
            while tasks.try_join_next().is_some() {}
            tasks.spawn(session::run(self.shared.clone(), start));
        }
        answer
            .await
            .map_err(|_| WhipError::Internal("the session ended before answering".into()))?
    }

    /// End the session `id` (its broadcast ends; viewers see the end).
    pub fn delete(&self, id: &str) -> Result<(), WhipError> {
        let stop = self
            .shared
            .sessions
            .lock()
            .map_err(|_| lock_error())?
            .remove(id)
            .ok_or(WhipError::NoSession)?;
        stop.notify_one();
        Ok(())
    }

    /// Whether `id` is a running session.
    pub fn exists(&self, id: &str) -> bool {
        self.shared
            .sessions
            .lock()
            .is_ok_and(|s| s.contains_key(id))
    }
}

fn lock_error() -> WhipError {
    WhipError::Internal("a lock was poisoned".into())
}
