//! The publish stage every ingest protocol ends in: a publisher's tracks and samples into a
//! broadcast of the relay node this process runs, through the node's local API.
//!
//! A [`Feed`] is announced first, when the protocol admits its publisher (an SRT handshake, an
//! RTMP `publish`, a WHIP offer), so that the node's refusal (the plugin, the trust rules, a
//! conflict with another publisher) is said in the protocol's own terms before any media
//! flows. Its tracks follow when the media has told them, then its samples, every decode time
//! mapped onto the broadcast's time line ([`Timeline`]) so that media time and group IDs keep
//! running forward across the publisher's reconnects ([`Resumes`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tern_cmaf::{Sample, TrackInfo};
use tern_model::local::{Credentials, LocalApi, Refused};
use tern_moq::TrackNamespace;
use tern_origin::{Announced, Broadcast, Options, Target};

use crate::ingest::Event;
use crate::ingest::timeline::{Resume, Timeline};
use crate::transcode::ladder::{self, Ladder};
use crate::transcode::{self, Companion};

/// How many broadcasts' resume points a gateway remembers (the oldest are forgotten first).
pub const MAX_RESUMES: usize = 10_000;

/// Where each broadcast's media time stood when its publisher last fed it: shared by every
/// session of a gateway, so that a publisher that reconnects (or another that takes over)
/// continues the broadcast's time line. Bounded by [`MAX_RESUMES`].
#[derive(Debug, Clone, Default)]
pub struct Resumes(Arc<Mutex<HashMap<String, Resume>>>);

impl Resumes {
    fn get(&self, path: &str) -> Option<Resume> {
        self.0.lock().ok()?.get(path).copied()
    }

    fn put(&self, path: &str, resume: Resume) {
        let Ok(mut map) = self.0.lock() else {
            return;
        };
        if map.len() >= MAX_RESUMES && !map.contains_key(path) {
            let oldest = map.iter().min_by_key(|(_, r)| r.at).map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        map.insert(path.to_owned(), resume);
    }
}

/// Why a feed stopped.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The node refused the broadcast or one of its tracks.
    #[error("{0}")]
    Refused(Refused),
    /// The broadcast could not take what the publisher sent (or another publisher took it).
    #[error("{0}")]
    Origin(tern_origin::Error),
    /// Samples came before the tracks.
    #[error("a sample arrived before the tracks were known")]
    NoTracks,
}

impl From<tern_origin::Error> for FeedError {
    fn from(e: tern_origin::Error) -> Self {
        match e {
            tern_origin::Error::Refused { refused, .. } => FeedError::Refused(refused),
            e => FeedError::Origin(e),
        }
    }
}

enum State<'a> {
    Announced(Announced<'a>),
    Live(Broadcast),
    /// Between the two (a start that failed).
    Gone,
}

/// One publisher session feeding one broadcast.
pub struct Feed<'a> {
    path: String,
    state: State<'a>,
    timeline: Timeline,
    group_base: u64,
    resumes: Resumes,
    /// The publisher's tracks, as last told.
    sources: Vec<TrackInfo>,
    /// The audio tracks transcoded from the publisher's ([`transcode`]).
    companions: Vec<Companion>,
    /// The lower renditions of the publisher's video ([`ladder`]), and their tracks as last
    /// published (kept while a new transcoder starts).
    ladder: Option<Ladder>,
    rungs: Vec<TrackInfo>,
}

impl std::fmt::Debug for Feed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed").field("path", &self.path).finish()
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl<'a> Feed<'a> {
    /// Publish the broadcast `path` into the node as `credentials`: refused at once if the node
    /// refuses it. `options.group_base` is the broadcast's (kept across its publishers'
    /// sessions).
    pub async fn announce(
        api: &'a LocalApi,
        credentials: &'a Credentials,
        path: &str,
        options: Options,
        resumes: &Resumes,
        now: Instant,
    ) -> Result<Feed<'a>, FeedError> {
        let resume = resumes.get(path);
        let group_base = resume.map_or_else(unix_ms, |r| r.group_base);
        let start_us = resume.map_or(0, |r| r.start_us(now));
        let options = Options {
            group_base: Some(group_base),
            ..options
        };
        let ns = TrackNamespace::from_path(path);
        let announced = Broadcast::announce(Target::Node(api, credentials), ns, &options).await?;
        Ok(Feed {
            path: path.to_owned(),
            state: State::Announced(announced),
            timeline: Timeline::new(start_us),
            group_base,
            resumes: resumes.clone(),
            sources: Vec::new(),
            companions: Vec::new(),
            ladder: None,
            rungs: Vec::new(),
        })
    }

    /// The broadcast's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The publisher's tracks are known: publish them, with the audio tracks transcoded from
    /// them ([`transcode`]). Told again with different tracks (a new codec or size mid-stream,
    /// a simulcast layer that started late), the broadcast publishes a new init segment and
    /// catalog ([`Broadcast::retrack`]); the same tracks again change nothing.
    pub async fn tracks(&mut self, tracks: Vec<TrackInfo>) -> Result<(), FeedError> {
        match std::mem::replace(&mut self.state, State::Gone) {
            State::Announced(a) => {
                let companions = transcode::companions(&tracks);
                let mut all = tracks.clone();
                all.extend(companions.iter().map(|c| c.info().clone()));
                let next_id = all.iter().map(|t| t.id).max().unwrap_or(0) + 1;
                self.ladder = ladder::ladder(&tracks, next_id);
                self.state = State::Live(a.start(all).await?);
                self.sources = tracks;
                self.companions = companions;
                Ok(())
            }
            State::Live(b) => {
                if tracks == self.sources {
                    self.state = State::Live(b);
                    return Ok(());
                }
                // A companion stays while its source is unchanged and no source took its ID.
                let sources = &self.sources;
                self.companions.retain(|c| {
                    let same = |t: &&TrackInfo| t.id == c.source();
                    tracks.iter().find(same) == sources.iter().find(same)
                        && tracks.iter().all(|t| t.id != c.info().id)
                });
                let more = transcode::more_companions(&tracks, &self.companions);
                self.companions.extend(more);
                // A ladder whose source changed starts again (its renditions' tracks stay
                // listed until the new transcoder says its own).
                if let Some(l) = &self.ladder {
                    let source = self.sources.iter().find(|t| t.id == l.source());
                    if tracks.iter().find(|t| t.id == l.source()) != source {
                        let base = l.ids().first().copied().unwrap_or(u32::MAX);
                        self.ladder = None;
                        if tracks
                            .iter()
                            .chain(self.companions.iter().map(|c| c.info()))
                            .all(|t| t.id < base)
                        {
                            self.ladder = ladder::ladder(&tracks, base);
                        }
                    }
                }
                self.state = State::Live(b);
                self.sources = tracks;
                self.retrack().await?;
                tracing::info!(
                    "{}: the publisher's tracks changed: a new init segment and catalog",
                    self.path
                );
                Ok(())
            }
            State::Gone => Err(FeedError::NoTracks),
        }
    }

    /// Publish every track: the publisher's, the audio companions' and the ladder's.
    async fn retrack(&mut self) -> Result<(), FeedError> {
        let State::Live(b) = &mut self.state else {
            return Err(FeedError::NoTracks);
        };
        let mut all = self.sources.clone();
        all.extend(self.companions.iter().map(|c| c.info().clone()));
        all.extend(self.rungs.iter().cloned());
        b.retrack(all).await?;
        Ok(())
    }

    /// Publish one sample (its decode time mapped onto the broadcast's time line), and what
    /// the transcoders made of it.
    async fn sample(&mut self, mut sample: Sample, now: Instant) -> Result<(), FeedError> {
        let State::Live(b) = &mut self.state else {
            return Err(FeedError::NoTracks);
        };
        self.timeline.map(&mut sample);
        b.push(&sample)?;
        for c in &mut self.companions {
            if c.source() == sample.track {
                c.push(&sample, now);
            }
            for s in c.poll() {
                b.push(&s)?;
            }
        }
        if let Some(l) = &mut self.ladder {
            l.push(&sample, now);
            let renditions = l.poll();
            if let Some(tracks) = l.take_tracks() {
                self.rungs = tracks;
                self.retrack().await?;
                tracing::info!("{}: the ladder's renditions are published", self.path);
            }
            if let State::Live(b) = &mut self.state {
                for s in renditions {
                    b.push(&s)?;
                }
            }
        }
        if sample.keyframe {
            self.remember(now);
        }
        Ok(())
    }

    /// Publish what an ingest made, in order (`next` is its `poll`): its tracks, then its
    /// samples; losses it reports are logged at debug level.
    pub async fn events(
        &mut self,
        mut next: impl FnMut() -> Option<Event>,
    ) -> Result<(), FeedError> {
        while let Some(event) = next() {
            match event {
                Event::Tracks(tracks) => self.tracks(tracks).await?,
                Event::Sample(sample) => self.sample(sample, Instant::now()).await?,
                Event::Loss { pid, reason } => {
                    tracing::debug!("{}: loss on PID {pid}: {reason}", self.path);
                }
            }
        }
        Ok(())
    }

    fn remember(&self, now: Instant) {
        if self.timeline.started() {
            self.resumes.put(
                &self.path,
                Resume {
                    group_base: self.group_base,
                    end_us: self.timeline.end_us(),
                    at: now,
                },
            );
        }
    }

    /// The publisher said it is done: end the broadcast (viewers see its end).
    pub fn finish(self, now: Instant) {
        self.remember(now);
        if let State::Live(b) = self.state {
            b.finish();
        }
    }

    /// The publisher went away without saying so: the groups it was in the middle of end as
    /// incomplete, and its tracks linger, with their viewers, for the node's linger window, for
    /// a publisher that comes back.
    pub fn lost(self, now: Instant) {
        self.remember(now);
        if let State::Live(b) = self.state {
            b.abandon();
        }
    }
}
