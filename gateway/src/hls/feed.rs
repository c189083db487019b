//! One rendition's feed: the task that reads a track through the node's local API into its
//! [`Segmenter`], shared by every HLS viewer of the rendition on this node (one subscription
//! per track however many viewers), and stopped after an idle time without requests.
//!
//! The feed reads as the node's own code ([`Credentials::member`]): every viewer's request is
//! judged on its own before it is served from the feed (see [`super::serve`]). A rendition
//! watermarked for its viewers is read from both variants: variant A into the segmenter, which
//! cuts the segments and parts every viewer is listed, variant B's objects beside it
//! (`Variants`), so that a viewer's segment of a group is either variant's objects of it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tern_model::fetch::Entry;
use tern_model::local::{
    CATALOG_TRACK, Credentials, Fetcher, LocalApi, ReadOptions, Reading, Start,
};
use tern_model::{Delivery, Next, ObjectStatus, TrackName};
use tokio::sync::watch;

use super::catalog::renditions;
use super::segmenter::Segmenter;
use super::variants::Variants;

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
    /// The rendition (the catalog's track name, what the URIs name).
    pub rendition: String,
    /// The track read: the rendition's, another the node pointed its viewers at, or variant A
    /// of a marked rendition.
    pub track: String,
    /// The other variants' objects, for a marked rendition.
    pub(super) variants: Option<Mutex<Variants>>,
    /// What fetches past objects of each variant read (0 is the track read), once read.
    fetchers: Mutex<Vec<(u32, Fetcher)>>,
}

impl Feed {
    /// A feed of `rendition` read from `track` into `segmenter` (with the other variants'
    /// objects in `variants` when it is marked), asked for at `now`.
    pub(super) fn new(
        segmenter: Segmenter,
        audio: bool,
        rendition: String,
        track: String,
        variants: Option<Variants>,
        now: Instant,
    ) -> Self {
        Self {
            state: Mutex::new(segmenter),
            changed: watch::Sender::new(0),
            used: Mutex::new(now),
            failed: Mutex::new(None),
            audio,
            rendition,
            track,
            variants: variants.map(Mutex::new),
            fetchers: Mutex::new(Vec::new()),
        }
    }

    /// What fetches past objects of variant `variant` (0: the track read), once it is read.
    pub fn fetcher(&self, variant: u32) -> Option<Fetcher> {
        let fetchers = self.fetchers.lock().ok()?;
        fetchers
            .iter()
            .find(|(v, _)| *v == variant)
            .map(|(_, f)| f.clone())
    }

    fn add_fetcher(&self, variant: u32, fetcher: Fetcher) {
        if let Ok(mut fetchers) = self.fetchers.lock() {
            fetchers.push((variant, fetcher));
        }
    }

    /// Whether its viewers get their own variant of each group.
    pub fn marked(&self) -> bool {
        self.variants.is_some()
    }

    /// Runs `f` on the other variants' objects, then wakes the waiters.
    fn update_variants(&self, f: impl FnOnce(&mut Variants)) {
        let Some(Ok(mut variants)) = self.variants.as_ref().map(Mutex::lock) else {
            return;
        };
        f(&mut variants);
        drop(variants);
        self.changed.send_modify(|_| {});
    }

    /// Forgets the other variants' groups that variant A no longer keeps.
    fn trim_variants(&self) {
        let oldest = self.state.lock().ok().and_then(|s| s.oldest_group());
        if let (Some(oldest), Some(Ok(mut variants))) =
            (oldest, self.variants.as_ref().map(Mutex::lock))
        {
            variants.trim(oldest);
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
    /// The rendition (its catalog entry gives the init section).
    pub rendition: String,
    /// The track read into the segmenter.
    pub track: String,
    /// The other variants read beside it (a marked rendition): their index and track.
    pub variants: Vec<(u32, String)>,
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
    let credentials = Credentials::member("hls");
    let name = TrackName::from_path(&source.namespace, &source.track);
    let mut media = match api.subscribe(name, credentials.clone(), options).await {
        Ok(reading) => {
            feed.add_fetcher(0, reading.fetcher());
            Some(reading)
        }
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
        .subscribe(catalog_name, credentials.clone(), catalog_options)
        .await
        .ok();
    // A marked rendition's other variant (B), read as A is.
    let mut companion = None;
    if let Some((variant, track)) = source.variants.first() {
        let name = TrackName::from_path(&source.namespace, track);
        match api.subscribe(name, credentials.clone(), options).await {
            Ok(mut reading) => {
                feed.add_fetcher(*variant, reading.fetcher());
                let joined = reading.joined();
                feed.update_variants(|v| {
                    for entry in joined {
                        if let Entry::Object {
                            location, payload, ..
                        } = entry
                        {
                            v.handle_object(*variant, location.group, location.object, payload);
                        }
                    }
                });
                companion = Some((*variant, reading));
            }
            Err(refused) => {
                feed.fail(format!("{}/{track}: {refused}", source.namespace));
                return;
            }
        }
    }
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
    let (mut batch, mut catalog_batch, mut variant_batch) = (Vec::new(), Vec::new(), Vec::new());
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
                feed.trim_variants();
            }
            next = next_of_companion(&mut companion, &mut variant_batch) => {
                feed.update_variants(|v| {
                    for delivery in variant_batch.drain(..) {
                        if let (Some((variant, _)), Delivery::Object { group, object, .. }) =
                            (&companion, delivery)
                            && object.status == ObjectStatus::Normal
                        {
                            v.handle_object(*variant, group, object.location.object, object.payload);
                        }
                    }
                });
                if next == Next::Closed {
                    companion = None;
                }
            }
            next = next_of(&mut catalog, &mut catalog_batch) => {
                for delivery in catalog_batch.drain(..) {
                    if let Delivery::Object { object, .. } = delivery
                        && object.location.object == 0
                    {
                        init_from(&feed, &source.rendition, &object.payload);
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

/// The next deliveries of the other variant's reading; never, without one.
async fn next_of_companion(
    reading: &mut Option<(u32, Reading)>,
    batch: &mut Vec<Delivery>,
) -> Next {
    match reading {
        Some((_, r)) => r.next(BATCH, batch).await,
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
