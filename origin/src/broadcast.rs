//! A broadcast on a relay session, or in a relay node of this process: the media tracks,
//! `0.mp4`, `catalog` and `.catalog`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tern_cmaf::catalog::{self, CF_TRACK, INIT_TRACK, MSF_TRACK};
use tern_cmaf::packager::Packager;
use tern_cmaf::{Sample, TrackInfo, TrackKind};
use tern_model::local::{BroadcastProducer, Credentials, LocalApi};
use tern_moq::TrackNamespace;
use tern_peer::{Announcement, History, Session, TrackWriter};

use crate::Error;

/// When the catalogs are published again with bitrates and frame rates measured from the media.
const MEASURED_CATALOG_AFTER: Duration = Duration::from_secs(2);

/// Publisher priorities (lower is more important, as in MoQ).
#[derive(Debug, Clone, Copy)]
pub struct Priorities {
    /// Catalogs and the init track.
    pub metadata: u8,
    /// Audio tracks.
    pub audio: u8,
    /// Video tracks.
    pub video: u8,
}

impl Default for Priorities {
    fn default() -> Self {
        Self {
            metadata: 0,
            audio: 1,
            video: 2,
        }
    }
}

/// How much of its media tracks' past a broadcast keeps in memory for FETCH (DVR): groups that
/// ended less than `window` ago, within `max_bytes` of payload for the whole broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dvr {
    /// How long a completed group is kept.
    pub window: Duration,
    /// Payload bytes kept at most, all media tracks together.
    pub max_bytes: usize,
}

impl Default for Dvr {
    /// 5 minutes within 256 MiB.
    fn default() -> Self {
        Self {
            window: Duration::from_secs(5 * 60),
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

/// How a broadcast is published.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Publisher priorities of the tracks.
    pub priorities: Priorities,
    /// Group ID base (see [`Broadcast::start`]); `None`: the Unix time in milliseconds.
    pub group_base: Option<u64>,
    /// The media tracks' history for FETCH; `None` keeps only each current group.
    pub dvr: Option<Dvr>,
    /// The first two video tracks are the A and B variants of one rendition `T` (forensic
    /// watermarking): published as `T.wm-a` and `T.wm-b`, listed in the catalogs as `T`.
    pub watermark: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            priorities: Priorities::default(),
            group_base: None,
            dvr: Some(Dvr::default()),
            watermark: false,
        }
    }
}

/// Wall-clock time now, in Unix microseconds (the publish stamp).
fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Where a broadcast is published.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// To a relay over a MoQ session: announced with PUBLISH_NAMESPACE, each track served to
    /// the relay's SUBSCRIBE from this process's own cache (with its DVR history).
    Session(&'a Session),
    /// Into a relay node running in this process, through its local API: the node's cache
    /// holds the objects and serves them (the node's budgets apply; no DVR history of its own).
    Node(&'a LocalApi, &'a Credentials),
}

impl<'a> From<&'a Session> for Target<'a> {
    fn from(session: &'a Session) -> Self {
        Target::Session(session)
    }
}

/// How a started broadcast is announced.
enum Published {
    Session(Announcement),
    Node,
}

/// Where a broadcast's tracks are made: served on a session, or in the broadcast published
/// into a node.
enum Tracks {
    Session(Session),
    Node(BroadcastProducer),
}

/// A writer of track `name`.
async fn writer(
    at: &Tracks,
    namespace: &TrackNamespace,
    name: &str,
    priority: u8,
) -> crate::Result<TrackWriter> {
    let bytes = Bytes::copy_from_slice(name.as_bytes());
    let w = match at {
        Tracks::Node(b) => TrackWriter::in_node(
            b.track(bytes)
                .await
                .map_err(|e| Error::refused(format!("track {name}"), e))?,
        ),
        Tracks::Session(session) => {
            let w = TrackWriter::new(namespace.clone(), bytes);
            session.serve_track(&w);
            w
        }
    };
    w.set_priority(priority);
    Ok(w)
}

/// A writer of media track `name` of `kind`: its kind's priority, and the DVR `history` when
/// there is one.
async fn media_writer(
    at: &Tracks,
    namespace: &TrackNamespace,
    name: &str,
    kind: TrackKind,
    priorities: Priorities,
    history: Option<&History>,
) -> crate::Result<TrackWriter> {
    let p = match kind {
        TrackKind::Video => priorities.video,
        TrackKind::Audio => priorities.audio,
    };
    let w = writer(at, namespace, name, p).await?;
    Ok(match history {
        Some(h) => w.with_history(h.clone()),
        None => w,
    })
}

/// A broadcast being published.
pub struct Broadcast {
    namespace: TrackNamespace,
    path: String,
    packager: Packager,
    media: Vec<TrackWriter>,
    msf: TrackWriter,
    cf: TrackWriter,
    init: TrackWriter,
    at: Tracks,
    priorities: Priorities,
    history: Option<History>,
    published: Option<Published>,
    /// Media time (ms) of the first sample, and whether the measured catalog went out.
    first_ms: Option<u64>,
    measured: bool,
    /// Group ID base of the media tracks (the catalog and init groups are at least this).
    base: u64,
    /// The last catalog group and the last init group.
    catalog_group: Option<u64>,
    init_group: Option<u64>,
    /// MoQ names of the media tracks, in input order.
    names: Vec<String>,
}

impl std::fmt::Debug for Broadcast {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broadcast")
            .field("namespace", &self.path)
            .field("tracks", &self.track_names())
            .finish()
    }
}

impl Broadcast {
    /// Announce `namespace` at `target` (a MoQ session's PUBLISH_NAMESPACE, or a node's local
    /// API) with `tracks`, publish the init track and both catalogs, and serve every track:
    /// [`Broadcast::announce`] and [`Announced::start`] in one step.
    ///
    /// Group IDs are `options.group_base` plus media time in milliseconds; `None` takes the
    /// Unix time in milliseconds now, so a restarted origin's groups are newer than its last
    /// run's. The catalogs' and the init track's groups count up from the later of the base and
    /// the Unix time in milliseconds (a returning publisher's are newer than its last session's).
    /// With `options.dvr` the media tracks keep their recent groups (one byte budget for the
    /// broadcast) and FETCH is answered from them, on a session as in a node.
    pub async fn start(
        target: impl Into<Target<'_>>,
        namespace: TrackNamespace,
        tracks: Vec<TrackInfo>,
        options: &Options,
    ) -> crate::Result<Self> {
        // The tracks are checked before anything is announced.
        Packager::new(tracks.clone()).map_err(|e| Error::media("the input's tracks", e))?;
        Self::announce(target, namespace, options)
            .await?
            .start(tracks)
            .await
    }

    /// The first half of [`Broadcast::start`], before the media tracks are known: in a node,
    /// the broadcast is published and its catalog and init tracks are taken (so a refusal or a
    /// conflict with another publisher comes now, while a gateway can still refuse its
    /// publisher in its own protocol's terms); on a session, the catalog and init tracks are
    /// made, and the namespace is announced by [`Announced::start`].
    pub async fn announce<'a>(
        target: impl Into<Target<'a>>,
        namespace: TrackNamespace,
        options: &Options,
    ) -> crate::Result<Announced<'a>> {
        let path = namespace_path(&namespace);
        let at = match target.into() {
            Target::Node(api, credentials) => Tracks::Node(
                api.publish(namespace.fields().to_vec(), credentials.clone())
                    .await
                    .map_err(|e| Error::refused(format!("namespace {path}"), e))?,
            ),
            Target::Session(session) => Tracks::Session(session.clone()),
        };
        let meta = options.priorities.metadata;
        Ok(Announced {
            _target: std::marker::PhantomData,
            msf: writer(&at, &namespace, MSF_TRACK, meta).await?,
            cf: writer(&at, &namespace, CF_TRACK, meta).await?,
            init: writer(&at, &namespace, INIT_TRACK, meta).await?,
            at,
            namespace,
            path,
            options: *options,
        })
    }

    /// The namespace, fields joined by `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The namespace.
    pub fn namespace(&self) -> &TrackNamespace {
        &self.namespace
    }

    /// MoQ names of the media tracks, in input order.
    pub fn track_names(&self) -> Vec<String> {
        self.names.clone()
    }

    /// Package and publish one sample.
    pub fn push(&mut self, sample: &Sample) -> crate::Result<()> {
        let pushed = self.packager.push(sample, unix_micros());
        let Some(object) = pushed.map_err(|e| Error::media("a sample", e))? else {
            return Ok(());
        };
        let writer = &self.media[object.track];
        if object.new_group {
            writer
                .new_group(object.group)
                .map_err(track_error(writer))?;
        }
        writer
            .write_object(object.payload)
            .map_err(track_error(writer))?;
        let ms = sample.decode_time().as_millis();
        let first = *self.first_ms.get_or_insert(ms);
        if !self.measured && ms.saturating_sub(first) >= MEASURED_CATALOG_AFTER.as_millis() as u64 {
            self.measured = true;
            self.publish_catalogs()?;
        }
        Ok(())
    }

    /// The publisher went away without ending the broadcast (a connection that reset): each
    /// media track's group in progress ends as incomplete ([`TrackWriter::abandon`]); the
    /// broadcast is left to linger in the node for a publisher that comes back.
    pub fn abandon(self) {
        for w in &self.media {
            w.abandon();
        }
    }

    /// The publisher's tracks changed mid-stream (a new codec or size, a simulcast layer that
    /// started late): package `tracks` from now on (see [`Packager::retrack`]). A new init
    /// segment and both catalogs go out when anything changed; a track that is new gets a
    /// writer, a track that is gone ends (its viewers get PUBLISH_DONE). A track that stays
    /// keeps its name and its viewers, who find its next group under the new init segment.
    pub async fn retrack(&mut self, tracks: Vec<TrackInfo>) -> crate::Result<()> {
        if self.names.len() != self.packager.tracks().len() {
            return Err(Error::Options(
                "a watermarked broadcast's tracks cannot change mid-stream".into(),
            ));
        }
        let mut packager = self.packager.clone();
        let changed = packager
            .retrack(tracks)
            .map_err(|e| Error::media("the input's new tracks", e))?;
        if !changed {
            return Ok(());
        }
        let mut media = Vec::with_capacity(packager.tracks().len());
        let mut old: Vec<(String, TrackWriter)> =
            self.names.drain(..).zip(self.media.drain(..)).collect();
        for t in packager.tracks() {
            let w = match old.iter().position(|(n, _)| *n == t.name) {
                Some(i) => old.swap_remove(i).1,
                None => {
                    media_writer(
                        &self.at,
                        &self.namespace,
                        &t.name,
                        t.info.kind,
                        self.priorities,
                        self.history.as_ref(),
                    )
                    .await?
                }
            };
            media.push(w);
        }
        for (_, w) in old {
            w.finish();
        }
        self.names = packager.tracks().iter().map(|t| t.name.clone()).collect();
        self.media = media;
        self.packager = packager;
        self.publish_init()?;
        self.publish_catalogs()
    }

    /// End every track (subscribers get PUBLISH_DONE) and withdraw the namespace.
    pub fn finish(mut self) {
        for w in self.media.iter().chain([&self.msf, &self.cf, &self.init]) {
            w.finish();
        }
        match (self.published.take(), self.at) {
            (Some(Published::Session(a)), _) => a.done(),
            (Some(Published::Node), Tracks::Node(b)) => b.finish(),
            _ => {}
        }
    }

    /// The init segment of every track, in a new group of the init track.
    fn publish_init(&mut self) -> crate::Result<()> {
        let group = next_group(self.init_group, self.base);
        self.init
            .new_group(group)
            .map_err(track_error(&self.init))?;
        self.init
            .write_object(self.packager.init_segment())
            .map_err(track_error(&self.init))?;
        self.init_group = Some(group);
        Ok(())
    }

    /// Both catalogs, in a new group of each.
    fn publish_catalogs(&mut self) -> crate::Result<()> {
        let group = next_group(self.catalog_group, self.base);
        self.catalog_group = Some(group);
        let now_ms = unix_micros() / 1000;
        let tracks = crate::watermark::catalog_tracks(&self.packager, &self.names);
        let msf = catalog::msf(&self.path, &tracks, now_ms);
        let cf = catalog::catalogformat01(&self.path, &tracks);
        for (w, json) in [(&self.msf, msf), (&self.cf, cf)] {
            w.new_group(group).map_err(track_error(w))?;
            let json = serde_json::to_vec(&json).map_err(|e| Error::publish("a catalog", e))?;
            w.write_object(Bytes::from(json)).map_err(track_error(w))?;
        }
        Ok(())
    }
}

/// The next group of the catalog or init track: after `last`, at least `base` and at least
/// the Unix time in milliseconds, so that a publisher that returns (a new [`Broadcast`] of the
/// same base) numbers its catalogs and init segments above those of its previous session.
fn next_group(last: Option<u64>, base: u64) -> u64 {
    let floor = base.max(unix_micros() / 1000);
    last.map_or(floor, |g| floor.max(g + 1))
}

/// A broadcast announced, its media tracks not yet known ([`Broadcast::announce`]).
pub struct Announced<'a> {
    at: Tracks,
    /// The target's lifetime (a node's local API and credentials).
    _target: std::marker::PhantomData<&'a ()>,
    namespace: TrackNamespace,
    path: String,
    options: Options,
    msf: TrackWriter,
    cf: TrackWriter,
    init: TrackWriter,
}

impl std::fmt::Debug for Announced<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Announced")
            .field("namespace", &self.path)
            .finish()
    }
}

impl Announced<'_> {
    /// The namespace, fields joined by `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Publish `tracks`: their init segment, both catalogs and a writer per media track (see
    /// [`Broadcast::start`] for the group IDs and the DVR history).
    pub async fn start(self, tracks: Vec<TrackInfo>) -> crate::Result<Broadcast> {
        let Announced {
            at,
            _target,
            namespace,
            path,
            options,
            msf,
            cf,
            init,
        } = self;
        let priorities = options.priorities;
        let history = options
            .dvr
            .filter(|d| !d.window.is_zero())
            .map(|d| History::new(d.window, d.max_bytes));
        let base = options.group_base.unwrap_or_else(|| unix_micros() / 1000);
        let mut packager = Packager::new(tracks)
            .map_err(|e| Error::media("the input's tracks", e))?
            .with_group_base(base);
        let names = match options.watermark {
            true => crate::watermark::variant_names(&mut packager)?,
            false => packager.tracks().iter().map(|t| t.name.clone()).collect(),
        };
        let mut media = Vec::new();
        for (t, name) in packager.tracks().iter().zip(&names) {
            media.push(
                media_writer(
                    &at,
                    &namespace,
                    name,
                    t.info.kind,
                    priorities,
                    history.as_ref(),
                )
                .await?,
            );
        }
        let mut b = Broadcast {
            msf,
            cf,
            init,
            at,
            priorities,
            history,
            catalog_group: None,
            init_group: None,
            namespace: namespace.clone(),
            path,
            packager,
            media,
            published: None,
            first_ms: None,
            measured: false,
            base,
            names,
        };
        b.publish_init()?;
        b.publish_catalogs()?;
        b.published = Some(match &b.at {
            Tracks::Node(_) => Published::Node,
            Tracks::Session(session) => Published::Session(
                session
                    .publish_namespace(namespace)
                    .await
                    .map_err(|e| Error::publish(format!("namespace {}", b.path), e))?,
            ),
        });
        Ok(b)
    }
}

/// The error of a write to track `w`, naming it.
fn track_error(w: &TrackWriter) -> impl FnOnce(tern_peer::Error) -> Error + '_ {
    move |source| Error::Track {
        track: String::from_utf8_lossy(w.name()).into_owned(),
        source,
    }
}

/// Namespace fields joined by `/` (lossy for non-UTF-8 fields).
fn namespace_path(ns: &TrackNamespace) -> String {
    tern_model::local::path(ns.fields())
}
