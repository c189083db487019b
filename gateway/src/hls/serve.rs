//! LL-HLS on the node's HTTP listener: the state behind the routes ([`Hls`]): the broadcasts'
//! catalogs, read briefly cached, and the running renditions ([`Feed`]s), bounded in number,
//! each started by its first request and stopped after [`HlsConfig::idle_timeout`] without
//! one. The routes themselves are in [`super::routes`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tern_model::TrackName;
use tern_model::local::{Credentials, LocalApi, Refused, RefusedKind};

use super::catalog::{Rendition, renditions};
use super::feed::{self, Feed, Source};
use super::playlist::{DEFAULT_PART_TARGET_MS, PlaylistConfig};
use super::segmenter::Segmenter;

/// How long a catalog read is reused.
const CATALOG_TTL: Duration = Duration::from_secs(1);

/// How the LL-HLS egress runs.
#[derive(Debug, Clone)]
pub struct HlsConfig {
    /// `EXT-X-TARGETDURATION`, seconds: constant for every playlist.
    pub target_duration: u32,
    /// `EXT-X-PART-INF:PART-TARGET`, milliseconds (at least 200).
    pub part_target_ms: u32,
    /// The media a playlist's window keeps, seconds (at least three target durations).
    pub window: u32,
    /// A rendition nobody asked for this long is stopped (its subscription ends).
    pub idle_timeout: Duration,
    /// Broadcasts served at once; more are answered 503.
    pub max_broadcasts: usize,
    /// Renditions per broadcast served at once.
    pub max_tracks: usize,
    /// Media bytes one rendition keeps at most.
    pub max_bytes: usize,
}

impl Default for HlsConfig {
    /// Segments of at most 4 s, parts of 333 ms, a window of 48 s, renditions stopped after
    /// 30 s without a request, 256 broadcasts of 16 renditions, 64 MiB per rendition.
    fn default() -> Self {
        Self {
            target_duration: 4,
            part_target_ms: DEFAULT_PART_TARGET_MS,
            window: 48,
            idle_timeout: Duration::from_secs(30),
            max_broadcasts: 256,
            max_tracks: 16,
            max_bytes: 64 << 20,
        }
    }
}

impl HlsConfig {
    /// How long a request waits for what is not there yet: three target durations (the
    /// blocking reload's limit, RFC 8216bis §6.2.5.2).
    pub fn wait(&self) -> Duration {
        Duration::from_secs(u64::from(self.target_duration) * 3)
    }

    fn playlist(&self, timescale: u32) -> PlaylistConfig {
        PlaylistConfig {
            target_duration: self.target_duration,
            part_target_ms: self.part_target_ms,
            timescale,
            window: self.window,
            first_msn: 0,
        }
    }
}

/// Why a request is not served (an HTTP status and the reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The HTTP status.
    pub status: u16,
    /// Why, for the viewer.
    pub reason: String,
}

impl Failure {
    pub(super) fn new(status: u16, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
        }
    }
}

/// The node's refusal as an HTTP status.
fn refusal(refused: Refused) -> Failure {
    let status = match refused.kind {
        RefusedKind::Unauthorized => 403,
        RefusedKind::NotFound | RefusedKind::Timeout | RefusedKind::Invalid => 404,
        RefusedKind::Unsupported => 501,
        _ => 503,
    };
    Failure::new(status, refused.reason)
}

/// One broadcast's entry: its catalog read and its running renditions.
#[derive(Debug, Default)]
struct Broadcast {
    catalog: Option<(Instant, Arc<Vec<Rendition>>)>,
    tracks: HashMap<String, Arc<Feed>>,
}

#[derive(Debug)]
struct Inner {
    api: LocalApi,
    config: HlsConfig,
    broadcasts: Mutex<HashMap<String, Broadcast>>,
}

impl Inner {
    /// A feed that stopped leaves the map (if it is still the one there).
    fn remove(&self, namespace: &str, track: &str, feed: &Arc<Feed>) {
        let Ok(mut map) = self.broadcasts.lock() else {
            return;
        };
        if let Some(b) = map.get_mut(namespace) {
            if b.tracks.get(track).is_some_and(|f| Arc::ptr_eq(f, feed)) {
                b.tracks.remove(track);
            }
            if b.tracks.is_empty() {
                map.remove(namespace);
            }
        }
    }
}

/// The LL-HLS egress of a node: cheap to clone; its renditions stop when the last clone is
/// dropped (within their idle tick).
#[derive(Debug, Clone)]
pub struct Hls {
    inner: Arc<Inner>,
}

impl Hls {
    /// Serves the broadcasts `api` reaches.
    pub fn new(api: LocalApi, config: HlsConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                api,
                config,
                broadcasts: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Its config.
    pub fn config(&self) -> &HlsConfig {
        &self.inner.config
    }

    /// Renditions running now.
    pub fn running(&self) -> usize {
        self.inner
            .broadcasts
            .lock()
            .map_or(0, |m| m.values().map(|b| b.tracks.len()).sum())
    }

    /// The renditions of broadcast `namespace`, from its catalog (read at most once a second).
    pub async fn catalog(
        &self,
        namespace: &str,
        credentials: &Credentials,
    ) -> Result<Arc<Vec<Rendition>>, Failure> {
        let now = Instant::now();
        if let Ok(map) = self.inner.broadcasts.lock()
            && let Some((at, list)) = map.get(namespace).and_then(|b| b.catalog.as_ref())
            && now.duration_since(*at) < CATALOG_TTL
        {
            return Ok(list.clone());
        }
        let ns = TrackName::from_path(namespace, "").namespace;
        let api = &self.inner.api;
        // An unknown name is refused at once (no upstream asked, no wait).
        api.broadcast(ns.clone(), credentials.clone())
            .await
            .map_err(refusal)?;
        let bytes = api
            .catalog(ns, credentials.clone(), self.inner.config.wait())
            .await
            .map_err(refusal)?;
        let list = Arc::new(
            renditions(&bytes).ok_or_else(|| Failure::new(502, "the catalog cannot be read"))?,
        );
        if let Ok(mut map) = self.inner.broadcasts.lock()
            && (map.contains_key(namespace) || map.len() < self.inner.config.max_broadcasts)
        {
            map.entry(namespace.to_owned()).or_default().catalog = Some((now, list.clone()));
        }
        Ok(list)
    }

    /// The running rendition `track` of `namespace`, started if it is not running.
    pub async fn feed(
        &self,
        namespace: &str,
        track: &str,
        credentials: &Credentials,
    ) -> Result<Arc<Feed>, Failure> {
        let now = Instant::now();
        if let Some(feed) = self.running_feed(namespace, track) {
            feed.touch(now);
            return Ok(feed);
        }
        let list = self.catalog(namespace, credentials).await?;
        let rendition = list
            .iter()
            .find(|r| r.name == track)
            .ok_or_else(|| Failure::new(404, "no such track in the broadcast's catalog"))?;
        let config = &self.inner.config;
        let mut segmenter = Segmenter::new(config.playlist(rendition.timescale), config.max_bytes)
            .map_err(|e| Failure::new(500, format!("hls config: {e}")))?;
        segmenter.handle_init(rendition.init.clone(), rendition.timescale);
        let feed = {
            let mut map = self
                .inner
                .broadcasts
                .lock()
                .map_err(|_| Failure::new(500, "hls state poisoned"))?;
            if !map.contains_key(namespace) && map.len() >= config.max_broadcasts {
                // Make room by forgetting a broadcast nobody watches.
                let idle = map
                    .iter()
                    .find(|(_, b)| b.tracks.is_empty())
                    .map(|(k, _)| k.clone());
                match idle {
                    Some(k) => map.remove(&k),
                    None => return Err(Failure::new(503, "too many HLS broadcasts; try later")),
                };
            }
            let entry = map.entry(namespace.to_owned()).or_default();
            if let Some(feed) = entry.tracks.get(track) {
                feed.touch(now);
                return Ok(feed.clone());
            }
            if entry.tracks.len() >= config.max_tracks {
                return Err(Failure::new(
                    503,
                    "too many HLS renditions of this broadcast",
                ));
            }
            let feed = Arc::new(Feed::new(segmenter, !rendition.video, now));
            entry.tracks.insert(track.to_owned(), feed.clone());
            feed
        };
        let source = Source {
            api: self.inner.api.clone(),
            namespace: namespace.to_owned(),
            track: track.to_owned(),
            credentials: credentials.clone(),
            wait: config.wait(),
            idle: config.idle_timeout,
        };
        let weak = Arc::downgrade(&self.inner);
        let running = feed.clone();
        let (ns, name) = (namespace.to_owned(), track.to_owned());
        tokio::spawn(async move {
            let alive = {
                let weak = weak.clone();
                move || weak.strong_count() > 0
            };
            feed::run(running.clone(), source, alive).await;
            if let Some(inner) = weak.upgrade() {
                inner.remove(&ns, &name, &running);
            }
        });
        Ok(feed)
    }

    /// The running renditions of `namespace` other than `track`.
    pub fn others(&self, namespace: &str, track: &str) -> Vec<(String, Arc<Feed>)> {
        let Ok(map) = self.inner.broadcasts.lock() else {
            return Vec::new();
        };
        map.get(namespace).map_or_else(Vec::new, |b| {
            let mut list: Vec<(String, Arc<Feed>)> = b
                .tracks
                .iter()
                .filter(|(name, _)| name.as_str() != track)
                .map(|(name, feed)| (name.clone(), feed.clone()))
                .collect();
            list.sort_by(|a, b| a.0.cmp(&b.0));
            list
        })
    }

    fn running_feed(&self, namespace: &str, track: &str) -> Option<Arc<Feed>> {
        let map = self.inner.broadcasts.lock().ok()?;
        map.get(namespace)?.tracks.get(track).cloned()
    }
}
