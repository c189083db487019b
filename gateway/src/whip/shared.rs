//! What the listener and its sessions share: the node's API, the UDP socket, the routes and
//! the sessions' stop signals.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tern_model::local::LocalApi;
use tern_origin::Options;
use tokio::net::UdpSocket;
use tokio::sync::{Notify, mpsc};

use super::Config;
use super::route::Routes;
use crate::publish::Resumes;
use crate::refusals::RefusalLog;

/// Datagrams queued per session before the newest are dropped.
pub(crate) const SESSION_QUEUE: usize = 512;

/// What a WHIP offer is answered with.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The session's ID (its resource is `/whip-session/<id>`).
    pub id: String,
    /// The SDP answer.
    pub sdp: String,
}

/// A datagram for a session, from the shared port.
#[derive(Debug)]
pub(crate) struct Datagram {
    pub source: std::net::SocketAddr,
    pub at: Instant,
    pub data: Vec<u8>,
    /// The ICE-TCP connection it came over, which answers go back on; `None` for UDP.
    pub tcp: Option<mpsc::Sender<Vec<u8>>>,
}

pub(crate) struct Shared {
    pub config: Config,
    pub api: LocalApi,
    pub options: Options,
    pub resumes: Resumes,
    pub socket: Arc<UdpSocket>,
    pub local_addr: SocketAddr,
    /// The ICE-TCP listener's address, when there is one.
    pub tcp_addr: Option<SocketAddr>,
    /// The host candidates every answer carries.
    pub candidates: Vec<SocketAddr>,
    pub routes: Mutex<Routes<mpsc::Sender<Datagram>>>,
    /// Each session's stop signal, by ID (DELETE).
    pub sessions: Mutex<HashMap<String, Arc<Notify>>>,
    pub active: Arc<AtomicUsize>,
    pub refusals: RefusalLog,
}

/// Random letters and digits (ICE credentials, session IDs).
pub(crate) fn random_token(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}
