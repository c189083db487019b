//! Two roots fed the same track, an edge with both as upstreams behind kill switches, and
//! subscribers at the edge that record every object they get. Shared by several test
//! binaries, each using part of it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tern_moq::TrackNamespace;
use tern_moq::message::SubscriptionFilter;
use tern_peer::{ConnectOptions, History, Session, TrackWriter};
use tern_relay::core::types::TrackName;
use tern_relay::node::Node;

use crate::support::{default_settings, start_relay, url};

/// Time between objects (30 objects/s).
pub const INTERVAL: Duration = Duration::from_millis(33);
/// Objects per group (one group a second).
const PER_GROUP: u64 = 30;

pub const NAMESPACE: &str = "live/failover";
pub const TRACK: &str = "video";

/// A UDP forwarder to a relay that can be cut: cut, it drops every packet both ways, which is
/// what a killed process (or a pulled cable) looks like from the other side.
pub struct Cut {
    /// Where clients connect.
    pub addr: SocketAddr,
    dead: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Cut {
    /// Start forwarding to `relay`.
    pub async fn start(relay: SocketAddr) -> Cut {
        use tokio::net::UdpSocket;
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
        let addr = front.local_addr().expect("addr");
        let dead = Arc::new(AtomicBool::new(false));
        let d = dead.clone();
        let task = tokio::spawn(async move {
            let mut upstream: std::collections::HashMap<SocketAddr, Arc<UdpSocket>> =
                Default::default();
            let mut readers = tokio::task::JoinSet::new();
            let mut buf = vec![0u8; 65536];
            while let Ok((n, client)) = front.recv_from(&mut buf).await {
                if d.load(Ordering::SeqCst) {
                    continue;
                }
                let up = match upstream.get(&client) {
                    Some(up) => up.clone(),
                    None => {
                        let up = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
                        up.connect(relay).await.expect("connect");
                        upstream.insert(client, up.clone());
                        let (front, up2, d) = (front.clone(), up.clone(), d.clone());
                        readers.spawn(async move {
                            let mut buf = vec![0u8; 65536];
                            while let Ok(n) = up2.recv(&mut buf).await {
                                if !d.load(Ordering::SeqCst) {
                                    let _ = front.send_to(&buf[..n], client).await;
                                }
                            }
                        });
                        up
                    }
                };
                let _ = up.send(&buf[..n]).await;
            }
        });
        Cut { addr, dead, task }
    }

    /// Drop everything from now on.
    pub fn kill(&self) {
        self.dead.store(true, Ordering::SeqCst);
    }

    /// Forward again.
    pub fn revive(&self) {
        self.dead.store(false, Ordering::SeqCst);
    }

    /// `moqt://` URL through the cut.
    pub fn url(&self) -> String {
        format!("moqt://127.0.0.1:{}", self.addr.port())
    }
}

impl Drop for Cut {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The payload of an object: its location, so that content and place can be checked.
pub fn payload(group: u64, object: u64) -> Bytes {
    let mut p = format!("{group}/{object}/").into_bytes();
    p.resize(600, b'.');
    Bytes::from(p)
}

/// A publisher of the track (PUBLISH_NAMESPACE, answering SUBSCRIBE and FETCH from 30 s of
/// history), as `tern origin` publishes.
pub struct Origin {
    pub session: Session,
    pub writer: TrackWriter,
    _announcement: tern_peer::Announcement,
}

impl Origin {
    pub async fn start(relay_url: &str) -> Origin {
        let session = connect(relay_url).await;
        let writer = TrackWriter::new(ns(), TRACK)
            .with_history(History::new(Duration::from_secs(30), 16 << 20));
        session.serve_track(&writer);
        let announcement = session
            .publish_namespace(ns())
            .await
            .expect("PUBLISH_NAMESPACE");
        Origin {
            session,
            writer,
            _announcement: announcement,
        }
    }
}

/// One root relay with a publisher of the track.
pub struct Root {
    pub node: Option<Node>,
    pub cut: Cut,
    pub origin: Origin,
}

impl Root {
    pub async fn start() -> Root {
        let (router, settings) = default_settings();
        let node = start_relay(router, settings);
        let cut = Cut::start(node.addr).await;
        let origin = Origin::start(&url(&node)).await;
        Root {
            node: Some(node),
            cut,
            origin,
        }
    }
}

pub fn ns() -> TrackNamespace {
    TrackNamespace::new(
        NAMESPACE
            .split('/')
            .map(|f| Bytes::copy_from_slice(f.as_bytes()))
            .collect(),
    )
}

pub fn name() -> TrackName {
    TrackName::from_path(NAMESPACE, TRACK)
}

pub async fn connect(url: &str) -> Session {
    let opts = ConnectOptions {
        disable_verify: true,
        ..ConnectOptions::default()
    };
    Session::connect(url, &opts).await.expect("connect")
}

/// What one subscriber got: each object's location and arrival time; `ended` when its
/// subscription ended (it never should).
#[derive(Default)]
pub struct Seen {
    pub objects: Vec<((u64, u64), Instant)>,
    pub ended: Option<String>,
}

impl Seen {
    /// The locations got, in order.
    pub fn locations(&self) -> Vec<(u64, u64)> {
        self.objects.iter().map(|o| o.0).collect()
    }
}

/// Both roots, the edge and `subscribers` viewers at it, with the track flowing.
pub struct Tree {
    pub roots: [Root; 2],
    pub edge: Node,
    pub seen: Vec<Arc<Mutex<Seen>>>,
    /// Every location written (to both roots, same bytes), in order.
    pub written: Written,
    producer: tokio::task::JoinHandle<()>,
    _viewers: Vec<Session>,
}

/// Failover decisions are logged: shown with the output of a failing test.
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("tern_relay=info")
        .try_init();
}

impl Tree {
    pub async fn start(subscribers: usize) -> Tree {
        Self::start_with(subscribers, &[0, 1]).await
    }

    /// [`Tree::start`] with only the roots `upstreams` configured at the edge.
    pub async fn start_with(subscribers: usize, upstreams: &[usize]) -> Tree {
        let idle = default_settings().1.link_idle_timeout;
        Self::start_idle(subscribers, upstreams, idle).await
    }

    /// [`Tree::start_with`] with the edge's `upstream.idle_timeout` set to `idle`.
    pub async fn start_idle(subscribers: usize, upstreams: &[usize], idle: Duration) -> Tree {
        logs();
        let roots = [Root::start().await, Root::start().await];
        let (mut router, mut settings) = default_settings();
        settings.link_idle_timeout = idle;
        router.linger = Duration::from_secs(2);
        settings.upstreams = upstreams.iter().map(|&i| roots[i].cut.url()).collect();
        settings.upstream_tls.disable_verify = true;
        let edge = start_relay(router, settings);
        // The same objects at the same locations at both roots.
        let writers = Arc::new(Mutex::new(vec![
            roots[0].origin.writer.clone(),
            roots[1].origin.writer.clone(),
        ]));
        let (producer, written) = produce(writers);
        wait_for(
            Duration::from_secs(10),
            "the edge learns the track from its upstreams",
            async || edge.hub.read(move |r| r.routes(&name())).await == upstreams.len(),
        )
        .await;
        let mut seen = Vec::new();
        let mut viewers = Vec::new();
        for _ in 0..subscribers {
            let (viewer, s) = watch(&url(&edge)).await;
            seen.push(s);
            viewers.push(viewer);
        }
        let tree = Tree {
            roots,
            edge,
            seen,
            written,
            producer,
            _viewers: viewers,
        };
        tree.wait_flowing(Duration::from_secs(10)).await;
        tree
    }

    /// Which root the edge takes the track from now.
    pub async fn in_use(&self) -> usize {
        let remote = upstream_address(&self.edge).await.port();
        self.roots
            .iter()
            .position(|r| r.cut.addr.port() == remote)
            .expect("the upstream is one of the roots")
    }

    /// Wait until every subscriber got an object newer than now.
    pub async fn wait_flowing(&self, limit: Duration) -> Vec<Duration> {
        wait_flowing(&self.seen, limit).await
    }

    /// Wait until every subscriber got the object written `index`th (or a later one); returns
    /// for each the time from `at` to the arrival of the first such object.
    pub async fn wait_written(&self, at: Instant, index: usize, limit: Duration) -> Vec<Duration> {
        let deadline = at + limit;
        loop {
            assert!(
                Instant::now() < deadline,
                "object {index} not delivered within {limit:?}"
            );
            let due = self.written.lock().expect("lock").get(index).copied();
            if let Some(due) = due {
                let arrivals: Vec<Option<Instant>> = self
                    .seen
                    .iter()
                    .map(|s| {
                        let s = s.lock().expect("lock");
                        assert!(s.ended.is_none(), "a subscription ended: {:?}", s.ended);
                        s.objects.iter().find(|o| o.0 >= due).map(|o| o.1)
                    })
                    .collect();
                if arrivals.iter().all(Option::is_some) {
                    return arrivals.into_iter().flatten().map(|t| t - at).collect();
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Every subscriber got a contiguous run of what was written: no gap, no duplicate.
    pub fn assert_contiguous(&self) {
        assert_contiguous(&self.written.lock().expect("lock"), &self.seen);
    }

    pub fn stop(&self) {
        self.producer.abort();
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        self.producer.abort();
    }
}

/// The address of the session `relay` takes the track from.
pub async fn upstream_address(relay: &Node) -> SocketAddr {
    let session = relay
        .hub
        .read(move |r| r.upstream_for(&name()))
        .await
        .expect("the relay has an upstream for the track");
    relay
        .hub
        .session(session)
        .expect("live session")
        .session
        .remote_address()
}

/// Every location written, in order.
pub type Written = Arc<Mutex<Vec<(u64, u64)>>>;

/// Write the same objects at the same locations to every writer in `writers` (which the
/// caller may change), 30 a second, group IDs from the clock; returns the task and the list of
/// locations written.
pub fn produce(writers: Arc<Mutex<Vec<TrackWriter>>>) -> (tokio::task::JoinHandle<()>, Written) {
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    produce_from(writers, base)
}

/// [`produce`] with group IDs from `base` on (a publisher that numbers its groups from 0).
pub fn produce_from(
    writers: Arc<Mutex<Vec<TrackWriter>>>,
    base: u64,
) -> (tokio::task::JoinHandle<()>, Written) {
    let written = Arc::new(Mutex::new(Vec::new()));
    let w = written.clone();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        for i in 0u64.. {
            tick.tick().await;
            let (group, object) = (base + i / PER_GROUP, i % PER_GROUP);
            for writer in writers.lock().expect("lock").iter() {
                if object == 0 {
                    writer.new_group(group).expect("new group");
                } else if writer.largest().is_none_or(|l| l.group != group) {
                    continue; // a writer added mid-group starts with the next group
                }
                writer
                    .write_object(payload(group, object))
                    .expect("write object");
            }
            w.lock().expect("lock").push((group, object));
        }
    });
    (task, written)
}

/// A viewer at `relay_url` subscribed to the track (Largest Object), recording what it gets.
pub async fn watch(relay_url: &str) -> (Session, Arc<Mutex<Seen>>) {
    let viewer = connect(relay_url).await;
    let mut sub = viewer
        .subscribe(ns(), TRACK, Some(SubscriptionFilter::LargestObject))
        .await
        .expect("SUBSCRIBE");
    let s = Arc::new(Mutex::new(Seen::default()));
    let s2 = s.clone();
    tokio::spawn(async move {
        loop {
            let next = sub.next().await;
            let mut seen = s2.lock().expect("lock");
            match next {
                Ok(Some(o)) => {
                    assert_eq!(
                        o.payload,
                        payload(o.location.group, o.location.object),
                        "object content"
                    );
                    seen.objects
                        .push(((o.location.group, o.location.object), Instant::now()));
                }
                Ok(None) => {
                    seen.ended = Some("ended".into());
                    return;
                }
                Err(e) => {
                    seen.ended = Some(e.to_string());
                    return;
                }
            }
        }
    });
    (viewer, s)
}

/// Wait until every subscriber in `seen` got an object newer than now; returns how long each
/// waited. Panics if a subscription ended.
pub async fn wait_flowing(seen: &[Arc<Mutex<Seen>>], limit: Duration) -> Vec<Duration> {
    let from = Instant::now();
    let deadline = from + limit;
    let mut firsts = vec![None; seen.len()];
    while firsts.iter().any(Option::is_none) {
        assert!(
            Instant::now() < deadline,
            "subscribers got nothing new within {limit:?}"
        );
        for (i, s) in seen.iter().enumerate() {
            let s = s.lock().expect("lock");
            assert!(s.ended.is_none(), "subscription {i} ended: {:?}", s.ended);
            if firsts[i].is_none()
                && let Some((_, at)) = s.objects.iter().find(|(_, at)| *at > from)
            {
                firsts[i] = Some(*at - from);
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    firsts.into_iter().flatten().collect()
}

/// Every subscriber in `seen` got a contiguous run of `written`: no gap, no duplicate.
pub fn assert_contiguous(written: &[(u64, u64)], seen: &[Arc<Mutex<Seen>>]) {
    for (i, s) in seen.iter().enumerate() {
        let got = s.lock().expect("lock").locations();
        let first = got.first().expect("objects");
        let start = written
            .iter()
            .position(|l| l == first)
            .expect("first object was written");
        let want = &written[start..(start + got.len()).min(written.len())];
        if let Some(at) = got.iter().zip(want).position(|(g, w)| g != w) {
            panic!(
                "subscriber {i}: object {at} is {:?} where {:?} was due (around: got {:?})",
                got[at],
                want[at],
                &got[at.saturating_sub(3)..(at + 3).min(got.len())]
            );
        }
        assert_eq!(
            got.len(),
            want.len(),
            "subscriber {i} got more than was written"
        );
    }
}

/// Poll `done` every 20 ms until it holds; panic with `what` after `limit`.
pub async fn wait_for(limit: Duration, what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done().await {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
