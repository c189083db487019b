//! A userspace UDP delay line (the kernel here has no netem): datagrams a downstream peer sends
//! to [`DelayProxy::addr`] reach `upstream` `delay` later, from a socket bound where the proxy
//! was told, and the upstream's answers reach the downstream peer `delay` later. One downstream
//! peer at a time (the last that sent). Each direction queues at most [`MAX_QUEUED`] datagrams
//! (more are dropped, like a full router queue). The threads stop when the proxy is dropped.
//! [`DelayProxy::start_filtered`] also drops the downstream peer's datagrams a filter refuses
//! (a loss that no retransmission repairs, when the filter refuses every copy).

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Datagrams held per direction.
pub const MAX_QUEUED: usize = 8192;
/// How often a blocked thread looks at the stop flag.
const POLL: Duration = Duration::from_millis(50);

type Queued = (Instant, Vec<u8>);

/// Whether a datagram from the downstream peer goes on (false: dropped).
pub type Keep = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

pub struct DelayProxy {
    /// Where the downstream peer sends.
    pub addr: SocketAddr,
    /// The proxy's address as the upstream sees it.
    pub upstream_side: SocketAddr,
    /// UDP payload bytes received from the downstream peer and from the upstream.
    pub from_down: Arc<AtomicU64>,
    pub from_up: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl DelayProxy {
    /// Listen on `listen` (port 0 for any), talk to `upstream` from `upstream_bind`, and delay
    /// each direction by `delay` (the round trip grows by twice that).
    pub fn start(
        listen: SocketAddr,
        upstream_bind: SocketAddr,
        upstream: SocketAddr,
        delay: Duration,
    ) -> std::io::Result<Self> {
        Self::start_filtered(listen, upstream_bind, upstream, delay, Arc::new(|_| true))
    }

    /// [`DelayProxy::start`], dropping the downstream peer's datagrams that `keep` refuses.
    pub fn start_filtered(
        listen: SocketAddr,
        upstream_bind: SocketAddr,
        upstream: SocketAddr,
        delay: Duration,
        keep: Keep,
    ) -> std::io::Result<Self> {
        let down = Arc::new(UdpSocket::bind(listen)?);
        let up = Arc::new(UdpSocket::bind(upstream_bind)?);
        down.set_read_timeout(Some(POLL))?;
        up.set_read_timeout(Some(POLL))?;
        let addr = down.local_addr()?;
        let upstream_side = up.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let peer: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
        let (to_up, for_up) = mpsc::sync_channel::<Queued>(MAX_QUEUED);
        let (to_down, for_down) = mpsc::sync_channel::<Queued>(MAX_QUEUED);
        let from_down = Arc::new(AtomicU64::new(0));
        let from_up = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        {
            let (sock, stop, peer, n) =
                (down.clone(), stop.clone(), peer.clone(), from_down.clone());
            threads.push(std::thread::spawn(move || {
                receive(&sock, &stop, delay, &to_up, &n, &*keep, |from| {
                    *peer.lock().unwrap_or_else(|e| e.into_inner()) = Some(from);
                })
            }));
        }
        {
            let (sock, stop, n) = (up.clone(), stop.clone(), from_up.clone());
            threads.push(std::thread::spawn(move || {
                receive(&sock, &stop, delay, &to_down, &n, &|_| true, |_| {})
            }));
        }
        {
            let (sock, stop) = (up, stop.clone());
            threads.push(std::thread::spawn(move || {
                send(&sock, &stop, &for_up, || Some(upstream))
            }));
        }
        {
            let (sock, stop) = (down, stop.clone());
            threads.push(std::thread::spawn(move || {
                send(&sock, &stop, &for_down, || {
                    *peer.lock().unwrap_or_else(|e| e.into_inner())
                })
            }));
        }
        Ok(Self {
            addr,
            upstream_side,
            from_down,
            from_up,
            stop,
            threads,
        })
    }
}

/// Read datagrams and queue each to leave `delay` from now.
fn receive(
    sock: &UdpSocket,
    stop: &AtomicBool,
    delay: Duration,
    queue: &SyncSender<Queued>,
    bytes: &AtomicU64,
    keep: &(dyn Fn(&[u8]) -> bool + Send + Sync),
    mut seen: impl FnMut(SocketAddr),
) {
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                seen(from);
                bytes.fetch_add(n as u64, Ordering::Relaxed);
                if !keep(&buf[..n]) {
                    continue;
                }
                // A full queue drops the datagram.
                let _ = queue.try_send((Instant::now() + delay, buf[..n].to_vec()));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

/// Send queued datagrams when their time comes, in order.
fn send(
    sock: &UdpSocket,
    stop: &AtomicBool,
    queue: &Receiver<Queued>,
    to: impl Fn() -> Option<SocketAddr>,
) {
    while !stop.load(Ordering::Relaxed) {
        let (at, data) = match queue.recv_timeout(POLL) {
            Ok(q) => q,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let now = Instant::now();
        if at > now {
            std::thread::sleep(at - now);
        }
        if let Some(dest) = to() {
            let _ = sock.send_to(&data, dest);
        }
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
