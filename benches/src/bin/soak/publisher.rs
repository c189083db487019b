//! The publishers: one per broadcast, writing one track (`video`) at a fixed object rate, one
//! group per second, into the roots through `tern-peer` (PUBLISH_NAMESPACE, SUBSCRIBEs and
//! FETCHes answered from a 20 s history), as `tern origin` does.
//!
//! One [`TrackWriter`] lives for the whole run, so group IDs keep increasing across
//! reconnects; each session to a root (a *feed*) serves it. A feed reconnects on its own every
//! `reconnect` on average (uniform in ½–1½ of it): it stops counting objects as published,
//! lets 300 ms of objects in flight land, closes the session without ending the track (what a
//! dropped publisher looks like) and connects again to the same root. A feed whose session
//! dies (its root was killed) reconnects at once: with `--feed spread` to the other root, with
//! `--feed both` to its own.
//!
//! Every object written while at least one feed is up is logged with its time: those are the
//! locations the viewers are expected to get.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use tern_moq::TrackNamespace;
use tern_peer::{ConnectOptions, History, Session, TrackWriter};
use tern_sims::rng::Rng;

use crate::Counters;

/// The track every broadcast carries.
pub const TRACK: &str = "video";
/// Bytes at the start of each payload naming its broadcast and location (see [`payload`]).
pub const HEADER: usize = 20;
/// Objects written while this long before a feed closes are let land first.
const LAND: Duration = Duration::from_millis(300);

/// How broadcasts are fed into the roots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Feed {
    /// Each broadcast at one root (alternating), moving to the other when its root dies.
    Spread,
    /// Each broadcast at both roots, the same objects at the same locations.
    Both,
}

/// A location: (group, object).
pub type Loc = (u64, u64);

/// What a broadcast did, for the minute reports.
#[derive(Debug, Default)]
pub struct Log {
    /// Locations written while a feed was up, with their time, oldest first.
    pub published: VecDeque<(Loc, Instant)>,
    /// Feeds: (root relay index, up since, down at).
    pub feeds: Vec<(usize, Instant, Option<Instant>)>,
    /// Feed reconnections: (down at, up again at).
    pub reconnects: Vec<(Instant, Option<Instant>)>,
}

/// One broadcast (`soak/bNN`, track `video`).
#[derive(Debug)]
pub struct Broadcast {
    /// Its index.
    pub index: usize,
    log: Mutex<Log>,
    up: AtomicUsize,
}

impl Broadcast {
    /// Broadcast `index`.
    pub fn new(index: usize) -> Self {
        Self {
            index,
            log: Mutex::new(Log::default()),
            up: AtomicUsize::new(0),
        }
    }

    /// Its namespace path.
    pub fn path(&self) -> String {
        path(self.index)
    }

    /// Its log.
    pub fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a feed is up.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst) > 0
    }

    /// Whether the feeds up now all go into root relay `root` (and one does).
    pub fn fed_only_at(&self, root: usize) -> bool {
        let log = self.log();
        let mut up = log.feeds.iter().filter(|f| f.2.is_none()).peekable();
        up.peek().is_some() && up.all(|f| f.0 == root)
    }

    fn feed_up(&self, root: usize) {
        let now = Instant::now();
        let mut log = self.log();
        log.feeds.push((root, now, None));
        if let Some(r) = log.reconnects.iter_mut().rev().find(|r| r.1.is_none()) {
            r.1 = Some(now);
        }
        self.up.fetch_add(1, Ordering::SeqCst);
    }

    fn feed_down(&self, root: usize) {
        self.up.fetch_sub(1, Ordering::SeqCst);
        let now = Instant::now();
        let mut log = self.log();
        if let Some(f) = log
            .feeds
            .iter_mut()
            .rev()
            .find(|f| f.0 == root && f.2.is_none())
        {
            f.2 = Some(now);
        }
        log.reconnects.push((now, None));
    }

    /// Forget what happened before `before`.
    pub fn prune(&self, before: Instant) {
        let mut log = self.log();
        while log.published.front().is_some_and(|p| p.1 < before) {
            log.published.pop_front();
        }
        log.feeds.retain(|f| f.2.is_none_or(|d| d >= before));
        log.reconnects.retain(|r| r.1.is_none_or(|u| u >= before));
    }
}

/// The namespace path of broadcast `index`.
pub fn path(index: usize) -> String {
    format!("soak/b{index:03}")
}

/// The broadcast index of a namespace path made by [`path`].
pub fn index_of(path: &str) -> Option<usize> {
    path.strip_prefix("soak/b")?.parse().ok()
}

/// A payload of `size` bytes (at least [`HEADER`]) starting with the broadcast index and the
/// location, so that a viewer can check what it got.
pub fn payload(broadcast: usize, loc: Loc, size: usize) -> Bytes {
    let mut p = BytesMut::with_capacity(size.max(HEADER));
    p.put_u32(broadcast as u32);
    p.put_u64(loc.0);
    p.put_u64(loc.1);
    p.resize(size.max(HEADER), 0x5a);
    p.freeze()
}

/// The broadcast and location a [`payload`] names.
pub fn parse_payload(p: &[u8]) -> Option<(usize, Loc)> {
    let word = |r: std::ops::Range<usize>| -> Option<u64> {
        Some(u64::from_be_bytes(p.get(r)?.try_into().ok()?))
    };
    let broadcast = u32::from_be_bytes(p.get(0..4)?.try_into().ok()?) as usize;
    Some((broadcast, (word(4..12)?, word(12..20)?)))
}

/// How every publisher runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Objects a second (and per group).
    pub fps: u32,
    /// Payload bytes per object.
    pub object_size: usize,
    /// Mean time between a feed's planned reconnections.
    pub reconnect: Duration,
    /// Spread or both.
    pub feed: Feed,
    /// `moqt://` URLs of the roots, by root relay index.
    pub roots: Vec<String>,
    /// How to connect (the publishers' member certificate).
    pub connect: ConnectOptions,
}

/// Publish broadcast `b` until the task is aborted.
pub async fn run(b: Arc<Broadcast>, settings: Arc<Settings>, counters: Arc<Counters>, rng: Rng) {
    let ns = TrackNamespace::from_path(&b.path());
    let writer =
        TrackWriter::new(ns, TRACK).with_history(History::new(Duration::from_secs(20), 16 << 20));
    let homes: Vec<usize> = match settings.feed {
        Feed::Spread => vec![b.index % settings.roots.len()],
        Feed::Both => (0..settings.roots.len()).collect(),
    };
    // Dropped (the task aborted) with the writer: the feeds end with it.
    let mut feeds = tokio::task::JoinSet::new();
    for (i, home) in homes.into_iter().enumerate() {
        let (b, settings, counters, writer) = (
            b.clone(),
            settings.clone(),
            counters.clone(),
            writer.clone(),
        );
        let rng = rng.fork(i as u64);
        feeds.spawn(feed(b, writer, home, settings, counters, rng));
    }
    write(&b, &writer, &settings).await;
}

/// Write the track: `fps` objects a second, a new group every `fps` objects.
async fn write(b: &Broadcast, writer: &TrackWriter, settings: &Settings) {
    let fps = u64::from(settings.fps.max(1));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / fps as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq: u64 = 0;
    loop {
        tick.tick().await;
        let loc = (seq / fps, seq % fps);
        seq += 1;
        if loc.1 == 0 && writer.new_group(loc.0).is_err() {
            return;
        }
        if writer
            .write_object(payload(b.index, loc, settings.object_size))
            .is_err()
        {
            return;
        }
        if b.is_up() {
            b.log().published.push_back((loc, Instant::now()));
        }
    }
}

/// One feed of the track into a root: connect, serve, announce; reconnect as planned or when
/// the session dies.
async fn feed(
    b: Arc<Broadcast>,
    writer: TrackWriter,
    mut root: usize,
    settings: Arc<Settings>,
    counters: Arc<Counters>,
    mut rng: Rng,
) {
    let roots = settings.roots.len();
    let mut backoff = Duration::from_millis(250);
    loop {
        let connect = async {
            let session = Session::connect(&settings.roots[root], &settings.connect).await?;
            session.serve_track(&writer);
            let announcement = session
                .publish_namespace(writer.namespace().clone())
                .await?;
            Ok::<_, tern_peer::Error>((session, announcement))
        };
        let (session, mut announcement) =
            match tokio::time::timeout(Duration::from_secs(10), connect).await {
                Ok(Ok(up)) => up,
                _ => {
                    Counters::add(&counters.publisher_connect_errors);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(4));
                    if settings.feed == Feed::Spread {
                        root = (root + 1) % roots;
                    }
                    continue;
                }
            };
        backoff = Duration::from_millis(250);
        b.feed_up(root);
        let stay = settings.reconnect.mul_f64(rng.range(0.5, 1.5));
        let planned = tokio::select! {
            _ = tokio::time::sleep(stay) => true,
            _ = session.closed() => false,
            _ = announcement.ended() => false,
        };
        b.feed_down(root);
        Counters::add(&counters.publisher_reconnects);
        if planned {
            tokio::time::sleep(LAND).await;
        } else {
            Counters::add(&counters.publisher_failures);
            if settings.feed == Feed::Spread {
                root = (root + 1) % roots;
            }
        }
        // Closed without PUBLISH_DONE: the track is not over, its publisher dropped.
        session.close(0, "reconnecting");
        drop(announcement);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_names_its_broadcast_and_location() {
        let p = payload(7, (12, 3), 2500);
        assert_eq!(p.len(), 2500);
        assert_eq!(parse_payload(&p), Some((7, (12, 3))));
        assert_eq!(index_of(&path(42)), Some(42));
    }
}
