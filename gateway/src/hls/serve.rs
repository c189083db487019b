//! LL-HLS on the node's HTTP listener: the state behind the routes ([`Hls`]): the broadcasts'
//! catalogs, read briefly cached, and the running renditions ([`Feed`]s), bounded in number,
//! each started by its first request and stopped after [`HlsConfig::idle_timeout`] without
//! one. The routes themselves are in [`super::routes`].
//!
//! Every request is judged by its own credentials before anything is served ([`Hls::admit`],
//! verdicts kept briefly: `admission`); the feeds read as the node's own code, one
//! subscription per track whatever the number of viewers. A viewer of a rendition the node
//! watermarks for it gets its own variant of each group ([`Hls::choices`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tern_model::TrackName;
use tern_model::local::{Credentials, LocalApi, Refused, RefusedKind};

use super::admission::{Key, MAX_VERDICTS, VERDICT_TTL, Verdicts};
use super::catalog::{Rendition, renditions};
use super::feed::{self, Feed, Source};
use super::metrics::{FEEDS, Viewers};
use super::path::variant_track;
use super::playlist::{DEFAULT_PART_TARGET_MS, PlaylistConfig};
use super::segmenter::Segmenter;
use super::variants::Variants;
use super::watermark::{Choice, Choices};

/// How long a catalog read is reused.
const CATALOG_TTL: Duration = Duration::from_secs(1);
/// How often the viewers are reported to `/metrics`.
const REPORT_EVERY: Duration = Duration::from_secs(1);
/// How long a rendition whose track could not be read answers why before it is tried again.
const FAILED_LINGER: Duration = Duration::from_secs(3);

/// How the LL-HLS egress runs.
#[derive(Debug, Clone)]
pub struct HlsConfig {
    /// `EXT-X-TARGETDURATION`, seconds: constant for every playlist.
    pub target_duration: u32,
    /// `EXT-X-PART-INF:PART-TARGET`, milliseconds (at least 200).
    pub part_target_ms: u32,
    /// The media a playlist's window lists, seconds (at least three target durations).
    pub window: u32,
    /// A rendition nobody asked for this long is stopped (its subscription ends).
    pub idle_timeout: Duration,
    /// Broadcasts served at once; more are answered 503.
    pub max_broadcasts: usize,
    /// Renditions per broadcast served at once.
    pub max_tracks: usize,
    /// Media bytes one rendition keeps at most (of each variant, when watermarked): the
    /// oldest segments' leave first, and are fetched from the node when asked for.
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

/// A viewer the node admitted for a broadcast or one of its renditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// Who it is (the plugin's subject), when the node has a plugin.
    pub subject: Option<String>,
    /// The track its rendition is read from (the rendition's own, another the node pointed it
    /// at, or variant A of a marked rendition); `None` for a broadcast.
    pub track: Option<String>,
    /// It gets its own variant of each group of the rendition.
    pub marked: bool,
}

/// The node's refusal of a viewer: 401 without a token, 403 with one.
fn viewer_refusal(refused: Refused, namespace: &str, token: bool) -> Failure {
    match (refused.kind, token) {
        (RefusedKind::Unauthorized, false) => Failure::new(
            401,
            format!(
                "{namespace}: a token is needed (add ?token=... to the playlist's URI): {}",
                refused.reason
            ),
        ),
        (RefusedKind::Unauthorized, true) => Failure::new(
            403,
            format!(
                "{namespace}: the token does not admit this viewer: {}",
                refused.reason
            ),
        ),
        _ => refusal(refused),
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One broadcast's entry: its catalog read and its running renditions, by the track they
/// read.
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
    verdicts: Mutex<Verdicts<Result<Admitted, Failure>>>,
    choices: Mutex<Choices>,
    viewers: Mutex<Viewers>,
    /// The task that reports the viewers to `/metrics`, once started.
    reporting: OnceLock<()>,
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
                verdicts: Mutex::new(Verdicts::new(MAX_VERDICTS)),
                choices: Mutex::new(Choices::new()),
                viewers: Mutex::new(Viewers::default()),
                reporting: OnceLock::new(),
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

    /// Distinct viewers (token and address) served within the last
    /// [`VIEWER_WINDOW`](super::metrics::VIEWER_WINDOW).
    pub fn viewers(&self) -> usize {
        lock(&self.inner.viewers).active(Instant::now())
    }

    /// A viewer with `credentials` was served at `now`. The [`VIEWERS`](super::metrics::VIEWERS)
    /// gauge follows every second from the first (while this egress lives).
    pub(super) fn seen(&self, credentials: &Credentials, now: Instant) {
        lock(&self.inner.viewers).seen(credentials.token.as_deref(), credentials.peer.ip(), now);
        self.inner.reporting.get_or_init(|| {
            let weak = Arc::downgrade(&self.inner);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(REPORT_EVERY);
                loop {
                    tick.tick().await;
                    let Some(inner) = weak.upgrade() else {
                        break;
                    };
                    lock(&inner.viewers).report(Instant::now());
                }
            });
        });
    }

    /// Judge `credentials` as a viewer of rendition `track` of `namespace` (of the broadcast
    /// when `None`), as the node judges a MoQ subscriber (its plugin's session-open and
    /// subscribe phases). The verdict on the same token, address and name is reused for
    /// a few seconds (never past the token's expiry); a refusal is logged when it is made.
    pub async fn admit(
        &self,
        namespace: &str,
        track: Option<&str>,
        credentials: &Credentials,
    ) -> Result<Admitted, Failure> {
        let key = Key::new(
            credentials.token.as_deref(),
            credentials.peer.ip(),
            namespace,
            track,
        );
        let now = Instant::now();
        if let Some(verdict) = lock(&self.inner.verdicts).get(&key, now) {
            return verdict;
        }
        let ns = TrackName::from_path(namespace, "").namespace;
        let name = track.map(|t| Bytes::copy_from_slice(t.as_bytes()));
        let answer = self
            .inner
            .api
            .authorize(ns, name, credentials.clone())
            .await;
        let mut until = now + VERDICT_TTL;
        let verdict = match answer {
            Ok(a) => {
                if let Some(expires) = a.expires_at_ms {
                    let left = Duration::from_millis(expires.saturating_sub(unix_ms()));
                    until = until.min(now + left);
                }
                Ok(Admitted {
                    subject: a.subject,
                    track: a.track.map(|t| String::from_utf8_lossy(&t).into_owned()),
                    marked: a.marked,
                })
            }
            Err(refused) => Err(viewer_refusal(
                refused,
                namespace,
                credentials.token.is_some(),
            )),
        };
        // A node that is going away or overloaded is asked again next time.
        let keep = match &verdict {
            Ok(_) => true,
            Err(f) => matches!(f.status, 401 | 403),
        };
        let first = {
            let mut verdicts = lock(&self.inner.verdicts);
            // Requests that came together were judged together: the first to finish says so.
            let first = verdicts.get(&key, now).is_none();
            if keep && first {
                verdicts.put(key, verdict.clone(), now, until);
            }
            first
        };
        if let (Err(failure), true) = (&verdict, first) {
            tracing::info!(
                namespace,
                track = track.unwrap_or(""),
                peer = %credentials.peer,
                status = failure.status,
                reason = failure.reason,
                "hls: viewer refused"
            );
        }
        verdict
    }

    /// The renditions of broadcast `namespace`, from its catalog (read at most once a second,
    /// by the node's own code: the viewer asking was admitted first).
    pub async fn catalog(&self, namespace: &str) -> Result<Arc<Vec<Rendition>>, Failure> {
        let now = Instant::now();
        if let Ok(map) = self.inner.broadcasts.lock()
            && let Some((at, list)) = map.get(namespace).and_then(|b| b.catalog.as_ref())
            && now.duration_since(*at) < CATALOG_TTL
        {
            return Ok(list.clone());
        }
        let ns = TrackName::from_path(namespace, "").namespace;
        let api = &self.inner.api;
        let credentials = Credentials::member("hls");
        // An unknown name is refused at once (no upstream asked, no wait).
        api.broadcast(ns.clone(), credentials.clone())
            .await
            .map_err(refusal)?;
        let bytes = api
            .catalog(ns, credentials, self.inner.config.wait())
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

    /// The running feed of rendition `rendition` of `namespace` for a viewer `admitted` for it
    /// (reading the track the node named), started if it is not running.
    pub async fn feed(
        &self,
        namespace: &str,
        rendition: &str,
        admitted: &Admitted,
    ) -> Result<Arc<Feed>, Failure> {
        let now = Instant::now();
        let track = admitted.track.as_deref().unwrap_or(rendition);
        if let Some(feed) = self.running_feed(namespace, track) {
            feed.touch(now);
            return Ok(feed);
        }
        let list = self.catalog(namespace).await?;
        let entry = list
            .iter()
            .find(|r| r.name == rendition)
            .ok_or_else(|| Failure::new(404, "no such track in the broadcast's catalog"))?;
        let config = &self.inner.config;
        let mut segmenter = Segmenter::new(config.playlist(entry.timescale), config.max_bytes)
            .map_err(|e| Failure::new(500, format!("hls config: {e}")))?;
        segmenter.handle_init(entry.init.clone(), entry.timescale);
        // A marked rendition's variant B is read beside A.
        let variants: Vec<(u32, String)> = match admitted.marked {
            true => (1..VARIANTS)
                .filter_map(|v| Some((v, variant_track(rendition, v)?)))
                .collect(),
            false => Vec::new(),
        };
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
            let entry_of = map.entry(namespace.to_owned()).or_default();
            if let Some(feed) = entry_of.tracks.get(track) {
                feed.touch(now);
                return Ok(feed.clone());
            }
            if entry_of.tracks.len() >= config.max_tracks {
                return Err(Failure::new(
                    503,
                    "too many HLS renditions of this broadcast",
                ));
            }
            let feed = Arc::new(Feed::new(
                segmenter,
                !entry.video,
                rendition.to_owned(),
                track.to_owned(),
                admitted.marked.then(|| Variants::new(config.max_bytes)),
                now,
            ));
            entry_of.tracks.insert(track.to_owned(), feed.clone());
            feed
        };
        let source = Source {
            api: self.inner.api.clone(),
            namespace: namespace.to_owned(),
            rendition: rendition.to_owned(),
            track: track.to_owned(),
            variants,
            wait: config.wait(),
            idle: config.idle_timeout,
        };
        let weak = Arc::downgrade(&self.inner);
        let running = feed.clone();
        let (ns, name) = (namespace.to_owned(), track.to_owned());
        let feeds = metrics::gauge!(FEEDS);
        feeds.increment(1.0);
        tokio::spawn(async move {
            let alive = {
                let weak = weak.clone();
                move || weak.strong_count() > 0
            };
            feed::run(running.clone(), source, alive).await;
            feeds.decrement(1.0);
            if running.failed.lock().is_ok_and(|f| f.is_some()) {
                // Requests meanwhile are told why; the next after it starts it again.
                tokio::time::sleep(FAILED_LINGER).await;
            }
            if let Some(inner) = weak.upgrade() {
                inner.remove(&ns, &name, &running);
            }
        });
        Ok(feed)
    }

    /// The variant `viewer` gets of each of `groups` of the marked `feed`: remembered, or
    /// asked of the node (all at once) and remembered.
    pub async fn choices(
        &self,
        viewer: &str,
        namespace: &str,
        feed: &Feed,
        groups: &[u64],
    ) -> HashMap<u64, Choice> {
        let mut out = HashMap::new();
        let mut missing = Vec::new();
        {
            let mut choices = lock(&self.inner.choices);
            for &g in groups {
                match choices.get(viewer, &feed.track, g) {
                    Some(choice) => {
                        out.insert(g, choice);
                    }
                    None if !missing.contains(&g) => missing.push(g),
                    None => {}
                }
            }
        }
        if missing.is_empty() {
            return out;
        }
        let track = TrackName::from_path(namespace, &feed.track);
        let asked = futures::future::join_all(
            missing
                .iter()
                .map(|&g| self.inner.api.variant(viewer.to_owned(), track.clone(), g)),
        )
        .await;
        let mut choices = lock(&self.inner.choices);
        for (g, answer) in missing.into_iter().zip(asked) {
            let choice = answer.ok();
            choices.put(viewer, &feed.track, g, choice);
            out.insert(g, choice);
        }
        out
    }

    /// The running feed reading `track` of `namespace`, if any.
    pub(super) fn running_feed(&self, namespace: &str, track: &str) -> Option<Arc<Feed>> {
        let map = self.inner.broadcasts.lock().ok()?;
        map.get(namespace)?.tracks.get(track).cloned()
    }
}

/// Variants of a marked rendition: A and B.
const VARIANTS: u32 = 2;
