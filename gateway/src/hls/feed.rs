//! One rendition's feed: the task that reads a track through the node's local API into its
//! [`Segmenter`], shared by every HLS viewer of the rendition on this node (one subscription
//! per track however many viewers), and stopped after an idle time without requests.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tern_model::fetch::Entry;
use tern_model::local::{CATALOG_TRACK, Credentials, LocalApi, ReadOptions, Reading, Start};
use tern_model::{Delivery, Next, ObjectStatus, TrackName};
use tokio::sync::watch;

use super::catalog::renditions;
use super::segmenter::Segmenter;

/// Deliveries taken at once.
const BATCH: usize = 64;
/// How often an idle feed looks at the time without deliveries.
const TICK: Duration = Duration::from_millis(500);
/// How long the playlist of a track that ended is served before its feed stops.
const ENDED_LINGER: Duration = Duration::from_secs(10);

/// A running rendition: its segmenter, the version waiters watch, the last request's time.
#[derive(Debug)]
pub struct Feed {
    /// The segmenter, locked briefly by the task and each request.
    pub state: Mutex<Segmenter>,
    /// The segmenter's [`version`](Segmenter::version), sent after every change.
    pub changed: watch::Sender<u64>,
    /// When a request last asked for this rendition.
    used: Mutex<Instant>,
    /// Why the track could not be read, once it could not.
    pub failed: Mutex<Option<String>>,
    /// An audio track (its files are `audio/mp4`).
    pub audio: bool,
}

impl Feed {
    pub(super) fn new(segmenter: Segmenter, audio: bool, now: Instant) -> Self {
        Self {
            state: Mutex::new(segmenter),
            changed: watch::Sender::new(0),
            used: Mutex::new(now),
            failed: Mutex::new(None),
            audio,
        }
    }

    /// A request asked for it at `now`.
    pub fn touch(&self, now: Instant) {
        if let Ok(mut used) = self.used.lock() {
            *used = now;
        }
    }

    fn idle_since(&self) -> Instant {
        self.used.lock().map_or_else(|_| Instant::now(), |u| *u)
    }

    /// Runs `f` on the segmenter, then wakes the waiters if the playlist changed.
    fn update(&self, f: impl FnOnce(&mut Segmenter)) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let before = state.version();
        f(&mut state);
        let after = state.version();
        drop(state);
        if after != before {
            self.changed.send_replace(after);
        }
    }

    fn fail(&self, reason: String) {
        tracing::debug!("hls: {reason}");
        if let Ok(mut failed) = self.failed.lock() {
            *failed = Some(reason);
        }
        self.update(Segmenter::handle_end);
    }
}

/// What a feed task reads, and for how long.
pub(super) struct Source {
    pub api: LocalApi,
    pub namespace: String,
    pub track: String,
    pub credentials: Credentials,
    /// How long the node may take to find the track's publisher.
    pub wait: Duration,
    /// Stop after this long without a request.
    pub idle: Duration,
}

/// Reads the track into `feed` until no request came for the idle timeout, or `alive` says
/// the egress is gone.
pub(super) async fn run(feed: Arc<Feed>, source: Source, alive: impl Fn() -> bool) {
    let (api, idle, wait) = (source.api.clone(), source.idle, source.wait);
    let options = ReadOptions {
        rendezvous: wait,
        ..ReadOptions::default()
    };
    let name = TrackName::from_path(&source.namespace, &source.track);
    let mut media = match api
        .subscribe(name, source.credentials.clone(), options)
        .await
    {
        Ok(reading) => Some(reading),
        Err(refused) => {
            // Requests in flight see why; the next ones start a feed again.
            feed.fail(format!("{}/{}: {refused}", source.namespace, source.track));
            return;
        }
    };
    let catalog_options = ReadOptions {
        start: Start::NextGroup,
        ..ReadOptions::default()
    };
    let catalog_name = TrackName::from_path(&source.namespace, CATALOG_TRACK);
    let mut catalog = api
        .subscribe(catalog_name, source.credentials.clone(), catalog_options)
        .await
        .ok();
    if let Some(reading) = &mut media {
        let joined = reading.joined();
        let now = Instant::now();
        feed.update(|s| {
            for entry in joined {
                if let Entry::Object {
                    location, payload, ..
                } = entry
                {
                    s.handle_object(location.group, location.object, payload, now);
                }
            }
        });
    }
    let (mut batch, mut catalog_batch) = (Vec::new(), Vec::new());
    // When the track ended: the ended playlist is served a while, then the feed stops (a
    // broadcast published again under the name gets a new one).
    let mut ended: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if now.duration_since(feed.idle_since()) > idle
            || ended.is_some_and(|at| now.duration_since(at) > idle.min(ENDED_LINGER))
            || !alive()
        {
            break;
        }
        let timeout = feed.state.lock().ok().and_then(|s| s.poll_timeout());
        let wake = timeout.map_or(TICK, |at| {
            at.saturating_duration_since(Instant::now()).min(TICK)
        });
        tokio::select! {
            next = next_of(&mut media, &mut batch) => {
                let now = Instant::now();
                feed.update(|s| {
                    for delivery in batch.drain(..) {
                        handle(s, delivery, now);
                    }
                    if next == Next::Closed {
                        s.handle_end();
                    }
                });
                if next == Next::Closed {
                    media = None;
                    ended = Some(now);
                }
            }
            next = next_of(&mut catalog, &mut catalog_batch) => {
                for delivery in catalog_batch.drain(..) {
                    if let Delivery::Object { object, .. } = delivery
                        && object.location.object == 0
                    {
                        init_from(&feed, &source.track, &object.payload);
                    }
                }
                if next == Next::Closed {
                    catalog = None;
                }
            }
            () = tokio::time::sleep(wake) => {
                feed.update(|s| s.handle_timeout(Instant::now()));
            }
        }
    }
}

/// The next deliveries of `reading`; never, without one.
async fn next_of(reading: &mut Option<Reading>, batch: &mut Vec<Delivery>) -> Next {
    match reading {
        Some(r) => r.next(BATCH, batch).await,
        None => std::future::pending().await,
    }
}

fn handle(s: &mut Segmenter, delivery: Delivery, now: Instant) {
    match delivery {
        Delivery::Object { group, object, .. } => match object.status {
            ObjectStatus::Normal => {
                s.handle_object(group, object.location.object, object.payload, now)
            }
            ObjectStatus::EndOfGroup => s.handle_finish(group),
            ObjectStatus::EndOfTrack => s.handle_end(),
            ObjectStatus::DoesNotExist => s.handle_reset(group),
        },
        Delivery::Finish { group, .. } => s.handle_finish(group),
        Delivery::Reset { group, .. } => s.handle_reset(group),
        Delivery::Open { .. } | Delivery::Done(_) => {}
    }
}

/// A new catalog: the track's init section, if it changed.
fn init_from(feed: &Feed, track: &str, catalog: &Bytes) {
    let Some(list) = renditions(catalog) else {
        return;
    };
    if let Some(r) = list.into_iter().find(|r| r.name == track) {
        feed.update(|s| s.handle_init(r.init, r.timescale));
    }
}
