//! Samples → MoQ objects: the CMAF-over-MoQ mapping.
//!
//! - One group per GOP: a video track opens a group at each keyframe; frames before the first
//!   keyframe are dropped (a decoder could not start there).
//! - Audio is cut at the first video track's GOP boundaries (its group opens with the first
//!   audio frame at or after the boundary); without video, every second of audio.
//! - One object per frame: a CMAF chunk with a `prft` publish stamp ([`crate::mux::chunk`]).
//! - Group IDs are a base plus the group's start in milliseconds of media time, so renditions
//!   and audio share IDs for the same instant, and two origins fed the same media with the same
//!   base agree on locations. The base (by default 0) lets a restarted origin, whose media
//!   time starts again at 0, number its groups above those of its previous run.

use bytes::Bytes;

use crate::{Error, Sample, TrackInfo, TrackKind, mux};

/// Video frames tolerated before the first keyframe of a track.
pub const MAX_FRAMES_BEFORE_KEYFRAME: u64 = 300;
/// Audio group length when the broadcast has no video, in milliseconds.
const AUDIO_ONLY_GROUP_MS: u64 = 1000;

/// One packaged track.
#[derive(Debug, Clone)]
pub struct PackagedTrack {
    /// The track as the input declared it.
    pub info: TrackInfo,
    /// Its MoQ track name (`video-360p`, `audio-aac`, …).
    pub name: String,
    group: Option<u64>,
    next_object: u64,
    sequence: u32,
    dropped: u64,
    /// Payload bytes, frames and the span of decode times seen, for bitrate and frame rate.
    bytes: u64,
    frames: u64,
    first_dts: Option<u64>,
    end_dts: u64,
    /// Written as this track ID, and left out of the init segment: the track is a variant of
    /// the track with that ID (same init segment, see [`Packager::variant_of`]).
    variant_of: Option<u32>,
    /// The track's configuration changed ([`Packager::retrack`]): its next object opens a
    /// group (for video, the next keyframe; frames before it are dropped), so that no group
    /// mixes two configurations.
    reopen: bool,
}

impl PackagedTrack {
    /// Average bitrate so far (bits per second), or what the input declared.
    pub fn bitrate(&self) -> Option<u32> {
        let span = self.span();
        if span > 0 {
            let bps =
                u128::from(self.bytes) * 8 * u128::from(self.info.timescale) / u128::from(span);
            return u32::try_from(bps).ok();
        }
        self.info.bitrate
    }

    /// Frames per second measured so far (video).
    pub fn framerate(&self) -> Option<f64> {
        let span = self.span();
        (span > 0 && self.frames > 1)
            .then(|| self.frames as f64 * f64::from(self.info.timescale) / span as f64)
    }

    /// Decode time from the first sample to the end of the last one, in ticks.
    fn span(&self) -> u64 {
        self.first_dts
            .map_or(0, |first| self.end_dts.saturating_sub(first))
    }
}

/// One object for a track: where it goes and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaObject {
    /// Index of the track in [`Packager::tracks`].
    pub track: usize,
    /// Group ID.
    pub group: u64,
    /// Object ID within the group.
    pub object: u64,
    /// The object opens a new group.
    pub new_group: bool,
    /// The CMAF chunk.
    pub payload: Bytes,
}

/// The mapping state of one broadcast.
#[derive(Debug, Clone)]
pub struct Packager {
    tracks: Vec<PackagedTrack>,
    /// Index of the video track whose keyframes cut the audio.
    reference: Option<usize>,
    /// Start (ms) of the reference track's newest group.
    boundary: Option<u64>,
    /// Added to every group ID.
    base: u64,
}

/// Track names for a set of tracks: `video-<height>p` (with `-2`, `-3` … when two renditions
/// share a height) and `audio-<codec>`.
fn names(tracks: &[TrackInfo]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in tracks {
        let name = name(t, &out);
        out.push(name);
    }
    out
}

/// The name of track `t` among the names `taken`.
fn name(t: &TrackInfo, taken: &[String]) -> String {
    {
        let base = match t.kind {
            TrackKind::Video => format!("video-{}p", t.height),
            TrackKind::Audio => {
                let codec = if t.codec.starts_with("mp4a") {
                    "aac"
                } else {
                    t.codec.as_str()
                };
                format!("audio-{codec}")
            }
        };
        let mut name = base.clone();
        let mut n = 2;
        while taken.contains(&name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        name
    }
}

impl PackagedTrack {
    fn new(info: TrackInfo, name: String) -> Self {
        Self {
            info,
            name,
            group: None,
            next_object: 0,
            sequence: 0,
            dropped: 0,
            bytes: 0,
            frames: 0,
            first_dts: None,
            end_dts: 0,
            variant_of: None,
            reopen: false,
        }
    }
}

impl Packager {
    /// Package these tracks (from [`crate::demux::Event::Init`] or a gateway).
    pub fn new(tracks: Vec<TrackInfo>) -> Result<Self, Error> {
        if tracks.is_empty() {
            return Err(Error::NoTracks);
        }
        let names = names(&tracks);
        let tracks: Vec<PackagedTrack> = tracks
            .into_iter()
            .zip(names)
            .map(|(info, name)| PackagedTrack::new(info, name))
            .collect();
        let reference = tracks.iter().position(|t| t.info.kind == TrackKind::Video);
        Ok(Self {
            tracks,
            reference,
            boundary: None,
            base: 0,
        })
    }

    /// Add `base` to every group ID (for example the Unix time in milliseconds when the
    /// broadcast started).
    pub fn with_group_base(mut self, base: u64) -> Self {
        self.base = base;
        self
    }

    /// Make track `variant` (an index in [`Packager::tracks`]) a variant of track `of`: its
    /// chunks name `of`'s track ID and the init segment leaves it out, so that a player given
    /// either track's objects under one init segment plays them (forensic A/B variants made in
    /// one encoder run: same codec configuration, timestamps and GOPs).
    pub fn variant_of(&mut self, variant: usize, of: usize) -> Result<(), Error> {
        let id = self.tracks.get(of).map(|t| t.info.id);
        match (id, self.tracks.get_mut(variant)) {
            (Some(id), Some(t)) if variant != of => {
                t.variant_of = Some(id);
                Ok(())
            }
            _ => Err(Error::UnknownTrack(variant as u32)),
        }
    }

    /// The input's tracks changed mid-stream (a publisher's new codec or size, a simulcast
    /// layer that started late): package `tracks` from now on. A track whose ID was there keeps
    /// its name, group numbering and objects; if its configuration changed, its next object
    /// opens a group (for video, at the next keyframe), so that every group has one
    /// configuration. New IDs get new names; tracks whose ID is gone are dropped. Group IDs
    /// keep increasing. Returns whether anything changed (a new init segment is then due).
    pub fn retrack(&mut self, tracks: Vec<TrackInfo>) -> Result<bool, Error> {
        if tracks.is_empty() {
            return Err(Error::NoTracks);
        }
        let mut old = std::mem::take(&mut self.tracks);
        let before: Vec<(u32, TrackInfo)> =
            old.iter().map(|t| (t.info.id, t.info.clone())).collect();
        let mut next = Vec::with_capacity(tracks.len());
        for info in tracks {
            match old.iter().position(|t| t.info.id == info.id) {
                Some(i) => {
                    let mut t = old.swap_remove(i);
                    if t.info != info {
                        t.reopen = true;
                        t.dropped = 0;
                        t.bytes = 0;
                        t.frames = 0;
                        t.first_dts = None;
                        t.end_dts = 0;
                        t.info = info;
                    }
                    next.push(t);
                }
                None => next.push(PackagedTrack::new(info, String::new())),
            }
        }
        let mut taken: Vec<String> = next.iter().map(|t| t.name.clone()).collect();
        for t in next.iter_mut().filter(|t| t.name.is_empty()) {
            t.name = name(&t.info, &taken);
            taken.push(t.name.clone());
        }
        let after: Vec<(u32, TrackInfo)> =
            next.iter().map(|t| (t.info.id, t.info.clone())).collect();
        self.reference = next.iter().position(|t| t.info.kind == TrackKind::Video);
        self.tracks = next;
        Ok(before != after)
    }

    /// The packaged tracks, in input order.
    pub fn tracks(&self) -> &[PackagedTrack] {
        &self.tracks
    }

    /// Package one sample published at `unix_micros` (wall clock, for the `prft` stamp).
    /// `Ok(None)`: the sample was dropped (a video frame before its track's first keyframe).
    pub fn push(
        &mut self,
        sample: &Sample,
        unix_micros: u64,
    ) -> Result<Option<MediaObject>, Error> {
        let index = self
            .tracks
            .iter()
            .position(|t| t.info.id == sample.track)
            .ok_or(Error::UnknownTrack(sample.track))?;
        let ms = self.base.saturating_add(sample.decode_time().as_millis());
        let kind = self.tracks[index].info.kind;
        let current = self.tracks[index].group;
        let reopen = self.tracks[index].reopen;
        let opens = match kind {
            TrackKind::Video => sample.keyframe,
            TrackKind::Audio if reopen => true,
            TrackKind::Audio => match (current, self.reference, self.boundary) {
                (None, _, _) => true,
                (Some(g), Some(_), Some(b)) => b > g && ms >= b,
                (Some(_), Some(_), None) => false,
                (Some(g), None, _) => ms >= g.saturating_add(AUDIO_ONLY_GROUP_MS),
            },
        };
        let track = &mut self.tracks[index];
        if !opens && (current.is_none() || reopen) {
            track.dropped += 1;
            if track.dropped > MAX_FRAMES_BEFORE_KEYFRAME {
                return Err(Error::NoKeyframe {
                    track: track.info.id,
                    samples: track.dropped,
                });
            }
            return Ok(None);
        }
        if opens {
            let id = match (kind, self.boundary) {
                // Audio joins the video's group ID when the boundary is what opened it.
                (TrackKind::Audio, Some(b)) if current.is_none_or(|g| b > g) && ms >= b => b,
                _ => ms,
            };
            // IDs only increase, whatever the timestamps do.
            let id = match current {
                Some(g) if id <= g => g + 1,
                _ => id,
            };
            track.group = Some(id);
            track.next_object = 0;
            track.reopen = false;
            if Some(index) == self.reference {
                self.boundary = Some(id);
            }
        }
        let track = &mut self.tracks[index];
        let group = track.group.unwrap_or(ms);
        let object = track.next_object;
        track.next_object += 1;
        track.sequence = track.sequence.wrapping_add(1);
        track.bytes += sample.data.len() as u64;
        track.frames += 1;
        track.first_dts.get_or_insert(sample.dts);
        track.end_dts = track
            .end_dts
            .max(sample.dts.saturating_add(u64::from(sample.duration)));
        Ok(Some(MediaObject {
            track: index,
            group,
            object,
            new_group: opens,
            payload: match track.variant_of {
                Some(id) => mux::chunk(
                    &Sample {
                        track: id,
                        ..sample.clone()
                    },
                    track.sequence,
                    unix_micros,
                ),
                None => mux::chunk(sample, track.sequence, unix_micros),
            },
        }))
    }

    /// The init segment with every track (`0.mp4`), in input order.
    pub fn init_segment(&self) -> Bytes {
        let all: Vec<&TrackInfo> = self
            .tracks
            .iter()
            .filter(|t| t.variant_of.is_none())
            .map(|t| &t.info)
            .collect();
        mux::init_segment(&all)
    }
}
