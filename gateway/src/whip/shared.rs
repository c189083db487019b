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

/// A session's side of the shared port: the ICE-TCP connections its peer reached it over, and
/// what came in last. WHIP's publishers and WHEP's viewers each have one.
#[derive(Default)]
pub(crate) struct Link {
    /// The ICE-TCP connections, by the peer's address.
    tcp: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    /// Whether the last packet in came over ICE-TCP.
    pub last_tcp: bool,
}

impl Link {
    /// `input` as str0m's input, remembering the ICE-TCP connection it came over; `None` for
    /// what is not STUN, DTLS, RTP or RTCP (ignored, as a browser would).
    pub fn receive<'a>(
        &mut self,
        shared: &Shared,
        input: &'a Datagram,
    ) -> Option<str0m::net::Receive<'a>> {
        use str0m::net::{Protocol, Receive};
        self.last_tcp = input.tcp.is_some();
        let (proto, local) = match &input.tcp {
            Some(back) => {
                if self.tcp.len() < super::route::MAX_ADDRS || self.tcp.contains_key(&input.source)
                {
                    self.tcp.insert(input.source, back.clone());
                }
                (Protocol::Tcp, shared.tcp_addr.unwrap_or(shared.local_addr))
            }
            None => (Protocol::Udp, shared.local_addr),
        };
        Receive::new(proto, input.source, local, &input.data).ok()
    }

    /// Send `t` on the shared port or the ICE-TCP connection it is for. A full socket buffer or
    /// queue loses it, as the network might.
    pub fn transmit(&self, shared: &Shared, t: &str0m::net::Transmit) {
        if t.proto == str0m::net::Protocol::Tcp {
            if let Some(back) = self.tcp.get(&t.destination) {
                let _ = back.try_send(t.contents.to_vec());
            }
        } else {
            let _ = shared.socket.try_send_to(&t.contents, t.destination);
        }
    }

    /// "UDP" or "ICE-TCP": what the last packet came over.
    pub fn over(&self) -> &'static str {
        if self.last_tcp { "ICE-TCP" } else { "UDP" }
    }
}

impl Shared {
    /// Add the host candidates every answer carries to `rtc` ([`add_candidates`]).
    pub fn add_candidates(&self, rtc: &mut str0m::Rtc) {
        add_candidates(rtc, &self.candidates, self.tcp_addr.map(|a| a.port()));
    }
}

/// Add host candidates to `rtc`: UDP on each of `candidates`, and passive ICE-TCP on `tcp_port`
/// of each address when that listener runs.
pub(crate) fn add_candidates(
    rtc: &mut str0m::Rtc,
    candidates: &[SocketAddr],
    tcp_port: Option<u16>,
) {
    use str0m::Candidate;
    use str0m::net::TcpType;
    for addr in candidates {
        if let Ok(c) = Candidate::host(*addr, "udp") {
            rtc.add_local_candidate(c);
        }
        if let Some(port) = tcp_port {
            let tcp = Candidate::builder()
                .tcp()
                .host(SocketAddr::new(addr.ip(), port))
                .tcptype(TcpType::Passive)
                .build();
            if let Ok(c) = tcp {
                rtc.add_local_candidate(c);
            }
        }
    }
}
