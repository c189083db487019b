//! One track as RTP payloads, shared by every WHEP viewer of it on this node: the task that
//! reads the track through the node's local API (one subscription however many viewers),
//! demuxes its CMAF chunks and packetises each sample once ([`Packetizer`]).
//!
//! Viewers take the current group from its keyframe ([`Source::join`], for a start without
//! waiting for the next keyframe) and then every frame as it comes, through a bounded
//! broadcast channel: a viewer that falls behind it loses frames and waits for the next
//! keyframe, never holding the source or another viewer back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tern_cmaf::demux::{Demuxer, Event, Limits};
use tern_model::fetch::Entry;
use tern_model::local::{CATALOG_TRACK, Credentials, LocalApi, ReadOptions, Reading, Start};
use tern_model::{Delivery, Next, ObjectStatus, TrackName};
use tokio::sync::{broadcast, watch};

use super::packetize::Packetizer;
use crate::hls::catalog::renditions;

/// Frames a viewer may fall behind the source before it loses some.
const CHANNEL: usize = 256;
/// The most frames of one group kept for joining viewers (10 s at 25 fps; a longer group is
/// joined at its next keyframe).
const MAX_GROUP_FRAMES: usize = 256;
/// The most bytes of one group kept for joining viewers.
const MAX_GROUP_BYTES: usize = 16 << 20;
/// Frames looked at before a track is said to have no B-frames.
const REORDER_PROBE: usize = 8;
/// A source without viewers stops after this long.
const IDLE: Duration = Duration::from_secs(10);
/// Deliveries taken at once.
const BATCH: usize = 64;

/// One coded frame, packetised.
#[derive(Debug)]
pub struct Frame {
    /// Its group.
    pub group: u64,
    /// A keyframe (a decoder can start here).
    pub keyframe: bool,
    /// Its presentation time in the RTP clock ([`Source::clock`]), unwrapped.
    pub time: u64,
    /// Its duration in the RTP clock.
    pub duration: u64,
    /// Its RTP payloads; the last carries the marker bit.
    pub payloads: Vec<Arc<[u8]>>,
    /// The bytes of its payloads.
    pub bytes: usize,
}

/// What is known of a source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Reading its first frames.
    Starting,
    /// Frames flow; `reorders`: its frames come out of presentation order (B-frames).
    Running {
        /// Whether the track has B-frames.
        reorders: bool,
    },
    /// It ended or could not be read, and why.
    Over(String),
}

#[derive(Default)]
struct Group {
    frames: Vec<Arc<Frame>>,
    bytes: usize,
    /// Frames past the bounds were dropped: a joiner waits for the next keyframe.
    overflowed: bool,
}

/// A track being read and packetised for viewers.
pub struct Source {
    /// Its RTP clock rate (90 kHz for video, 48 kHz for Opus).
    pub clock: u32,
    /// Its track name.
    pub track: String,
    group: Mutex<Group>,
    frames: broadcast::Sender<Arc<Frame>>,
    status: watch::Sender<Status>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("track", &self.track)
            .finish()
    }
}

/// A viewer's start on a source: the current group's frames from its keyframe, then the
/// channel of what comes after them.
pub struct Joined {
    /// The current group from its keyframe (empty when there is none to start from).
    pub group: Vec<Arc<Frame>>,
    /// Every frame after them.
    pub rx: broadcast::Receiver<Arc<Frame>>,
}

impl Source {
    pub(super) fn new(track: &str, clock: u32) -> Self {
        Self {
            clock,
            track: track.to_owned(),
            group: Mutex::new(Group::default()),
            frames: broadcast::channel(CHANNEL).0,
            status: watch::Sender::new(Status::Starting),
        }
    }

    /// The current group from its keyframe and a receiver of the frames after it, with no gap
    /// and no frame twice between them.
    pub fn join(&self) -> Joined {
        let Ok(group) = self.group.lock() else {
            return Joined {
                group: Vec::new(),
                rx: self.frames.subscribe(),
            };
        };
        let frames = if group.overflowed {
            Vec::new()
        } else {
            group.frames.clone()
        };
        let rx = self.frames.subscribe();
        drop(group);
        Joined { group: frames, rx }
    }

    /// Its status, waiting up to `wait` for it to be known.
    pub async fn status(&self, wait: Duration) -> Status {
        let mut rx = self.status.subscribe();
        let known = tokio::time::timeout(wait, rx.wait_for(|s| *s != Status::Starting)).await;
        match known {
            Ok(Ok(s)) => s.clone(),
            _ => self.status.borrow().clone(),
        }
    }

    /// Whether it ended or failed.
    pub fn is_over(&self) -> bool {
        matches!(*self.status.borrow(), Status::Over(_))
    }

    pub(super) fn push(&self, frame: Arc<Frame>) {
        let Ok(mut group) = self.group.lock() else {
            return;
        };
        if frame.keyframe {
            *group = Group::default();
        }
        if group.frames.len() < MAX_GROUP_FRAMES && group.bytes + frame.bytes <= MAX_GROUP_BYTES {
            group.bytes += frame.bytes;
            group.frames.push(frame.clone());
        } else {
            group.overflowed = true;
        }
        // Sent under the lock: a joiner sees each frame either in the group or on the channel.
        let _ = self.frames.send(frame);
    }

    pub(super) fn set(&self, status: Status) {
        self.status.send_if_modified(|s| {
            if *s == status || matches!(s, Status::Over(_)) {
                return false;
            }
            *s = status;
            true
        });
    }
}

/// A source's broadcast and track.
type SourceKey = (String, String);

/// The running sources of a node, by (broadcast, track).
#[derive(Clone, Default)]
pub struct Sources {
    map: Arc<Mutex<HashMap<SourceKey, Arc<Source>>>>,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("running", &self.len())
            .finish()
    }
}

/// The most sources a node runs (tracks watched over WHEP at once).
pub const MAX_SOURCES: usize = 1024;

impl Sources {
    /// How many run.
    pub fn len(&self) -> usize {
        self.map.lock().map_or(0, |m| m.len())
    }

    /// Whether none runs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The running source of `track` in `namespace`, started if needed with `init` (its CMAF
    /// init section, from the catalog) read as `credentials`. `None` when the node runs
    /// [`MAX_SOURCES`] already.
    pub fn get(
        &self,
        api: &LocalApi,
        namespace: &str,
        track: &str,
        init: Bytes,
        credentials: &Credentials,
    ) -> Option<Arc<Source>> {
        let key = (namespace.to_owned(), track.to_owned());
        let mut map = self.map.lock().ok()?;
        if let Some(s) = map.get(&key)
            && !s.is_over()
        {
            return Some(s.clone());
        }
        if map.len() >= MAX_SOURCES && !map.contains_key(&key) {
            return None;
        }
        let (packetizer, clock, timescale) = match packetizer_of(&init) {
            Ok(p) => p,
            Err(reason) => {
                let s = Arc::new(Source::new(track, 90_000));
                s.set(Status::Over(reason));
                return Some(s);
            }
        };
        let source = Arc::new(Source::new(track, clock));
        map.insert(key.clone(), source.clone());
        super::metrics::sources(map.len());
        drop(map);
        let reader = Reader {
            api: api.clone(),
            namespace: namespace.to_owned(),
            credentials: credentials.clone(),
            source: source.clone(),
            demuxer: Demuxer::new(Limits::default()),
            init,
            packetizer,
            timescale,
            group: 0,
            seen: 0,
            last_pts: None,
            reorders: false,
        };
        let sources = self.clone();
        tokio::spawn(async move {
            let source = reader.source.clone();
            let reason = reader.run().await;
            tracing::debug!("whep: {}/{}: {reason}", key.0, key.1);
            source.set(Status::Over(reason));
            if let Ok(mut map) = sources.map.lock()
                && map.get(&key).is_some_and(|s| Arc::ptr_eq(s, &source))
            {
                map.remove(&key);
                super::metrics::sources(map.len());
            }
        });
        Some(source)
    }
}

/// The packetiser, RTP clock and timescale of the one track of a CMAF init section.
fn packetizer_of(init: &[u8]) -> Result<(Packetizer, u32, u32), String> {
    let mut d = Demuxer::new(Limits::default());
    d.push(init).map_err(|e| format!("its init section: {e}"))?;
    let Some(track) = d.tracks().first() else {
        return Err("its init section has no track".into());
    };
    let timescale = track.timescale.max(1);
    let codec = track
        .trak
        .mdia
        .minf
        .stbl
        .stsd
        .codecs
        .first()
        .ok_or("its init section has no sample entry")?;
    match codec {
        mp4_atom::Codec::Avc1(c) => Ok((
            Packetizer::H264 {
                length_size: c.avcc.length_size,
                parameter_sets: c
                    .avcc
                    .sequence_parameter_sets
                    .iter()
                    .chain(&c.avcc.picture_parameter_sets)
                    .cloned()
                    .collect(),
            },
            90_000,
            timescale,
        )),
        mp4_atom::Codec::Vp08(_) => Ok((Packetizer::Vp8, 90_000, timescale)),
        mp4_atom::Codec::Opus(_) => Ok((Packetizer::Opus, 48_000, timescale)),
        _ => Err(format!(
            "its codec ({}) cannot go over WebRTC here",
            track.codec
        )),
    }
}

struct Reader {
    api: LocalApi,
    namespace: String,
    credentials: Credentials,
    source: Arc<Source>,
    demuxer: Demuxer,
    init: Bytes,
    packetizer: Packetizer,
    timescale: u32,
    /// The group of the objects being demuxed.
    group: u64,
    /// Frames seen (for the B-frame probe).
    seen: usize,
    last_pts: Option<u64>,
    reorders: bool,
}

impl Reader {
    /// Read until the track ends or no viewer is left; why it stopped.
    async fn run(mut self) -> String {
        let options = ReadOptions {
            start: Start::CurrentGroup,
            rendezvous: Duration::from_secs(5),
            ..ReadOptions::default()
        };
        let name = TrackName::from_path(&self.namespace, &self.source.track);
        let mut reading = match self
            .api
            .subscribe(name, self.credentials.clone(), options)
            .await
        {
            Ok(r) => r,
            Err(refused) => return format!("cannot be read: {refused}"),
        };
        if let Err(e) = self.demuxer.push(&self.init.clone()) {
            return format!("its init section: {e}");
        }
        let catalog_options = ReadOptions {
            start: Start::NextGroup,
            ..ReadOptions::default()
        };
        let catalog_name = TrackName::from_path(&self.namespace, CATALOG_TRACK);
        let mut catalog = self
            .api
            .subscribe(catalog_name, self.credentials.clone(), catalog_options)
            .await
            .ok();
        for entry in reading.joined() {
            if let Entry::Object {
                location, payload, ..
            } = entry
            {
                self.object(location.group, &payload);
            }
        }
        let (mut batch, mut catalog_batch) = (Vec::new(), Vec::new());
        let mut lonely_since: Option<Instant> = None;
        loop {
            if self.source.frames.receiver_count() == 0 {
                let since = *lonely_since.get_or_insert_with(Instant::now);
                if since.elapsed() > IDLE {
                    return "no viewer left".into();
                }
            } else {
                lonely_since = None;
            }
            tokio::select! {
                next = reading.next(BATCH, &mut batch) => {
                    for delivery in batch.drain(..) {
                        if let Delivery::Object { group, object, .. } = delivery {
                            match object.status {
                                ObjectStatus::Normal => self.object(group, &object.payload),
                                ObjectStatus::EndOfTrack => return "the track ended".into(),
                                _ => {}
                            }
                        }
                    }
                    if next == Next::Closed {
                        return "the track ended".into();
                    }
                }
                next = next_of(&mut catalog, &mut catalog_batch) => {
                    for delivery in catalog_batch.drain(..) {
                        if let Delivery::Object { object, .. } = delivery
                            && object.location.object == 0
                            && let Some(reason) = self.catalog(&object.payload)
                        {
                            return reason;
                        }
                    }
                    if next == Next::Closed {
                        catalog = None;
                    }
                }
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// A new catalog: a new init section for the track restarts the demuxer (a publisher that
    /// reconnected); a packetiser that changes (another codec) ends the source.
    fn catalog(&mut self, catalog: &[u8]) -> Option<String> {
        let list = renditions(catalog)?;
        let r = list.into_iter().find(|r| r.name == self.source.track)?;
        if r.init == self.init {
            return None;
        }
        match packetizer_of(&r.init) {
            Ok((p, clock, timescale)) if clock == self.source.clock => {
                self.packetizer = p;
                self.timescale = timescale;
                self.demuxer = Demuxer::new(Limits::default());
                let _ = self.demuxer.push(&r.init);
                self.init = r.init;
                self.last_pts = None;
                None
            }
            Ok(_) => Some("the track changed its codec".into()),
            Err(e) => Some(e),
        }
    }

    fn object(&mut self, group: u64, payload: &[u8]) {
        self.group = group;
        if let Err(e) = self.demuxer.push(payload) {
            // A chunk that does not parse costs its frames; the demuxer starts over.
            tracing::debug!("whep: {}: {e}", self.source.track);
            self.demuxer = Demuxer::new(Limits::default());
            let _ = self.demuxer.push(&self.init);
            return;
        }
        while let Some(event) = self.demuxer.poll() {
            let Event::Sample(s) = event else { continue };
            let pts = s.dts.saturating_add_signed(i64::from(s.cts_offset));
            if let Some(last) = self.last_pts
                && pts < last
                && !s.keyframe
            {
                self.reorders = true;
            }
            self.last_pts = Some(pts);
            self.seen += 1;
            if self.seen >= REORDER_PROBE || self.reorders {
                self.source.set(Status::Running {
                    reorders: self.reorders,
                });
            }
            let payloads = match self.packetizer.packetize(&s.data, s.keyframe) {
                Ok(p) => p,
                Err(e) => {
                    tracing::debug!("whep: {}: a frame left out: {e}", self.source.track);
                    continue;
                }
            };
            let clock = u64::from(self.source.clock);
            let scale = |t: u64| u128::from(t) * u128::from(clock) / u128::from(self.timescale);
            let frame = Frame {
                group: self.group,
                keyframe: s.keyframe,
                time: u64::try_from(scale(pts)).unwrap_or(u64::MAX),
                duration: u64::try_from(scale(u64::from(s.duration))).unwrap_or(0),
                bytes: payloads.iter().map(|p| p.len()).sum(),
                payloads,
            };
            self.source.push(Arc::new(frame));
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
