//! MPEG-TS in, the tracks and samples of a broadcast out: what `tern_origin::Broadcast`
//! publishes.
//!
//! The program's H.264 (stream type 0x1b), H.265 (0x24) and AAC in ADTS (0x0f) streams become
//! tracks 1, 2, … in PMT order. Samples are held until every track has its configuration (a
//! keyframe with its parameter sets, an AAC frame), then [`Event::Tracks`] comes first and every sample
//! after it, in input order. Video is timed at 90 kHz (the PES clock), each sample's duration
//! being the distance to the next decode time (one frame of delay); audio is timed at its
//! sample rate, 1024 samples per frame, each PES's frames placed from its PTS and snapped to
//! the previous frame's end when within half a frame (no rounding jitter).
//!
//! Stream types that carry no audio or video (private sections, SCTE-35, ID3 metadata) are
//! ignored; other codecs are an [`Error::UnsupportedStreamType`].

pub mod timeline;
pub(crate) mod trak;

use std::collections::VecDeque;

use bytes::Bytes;
use tern_cmaf::{Sample, TrackInfo};

use crate::Error;
use crate::codec::aac::{AdtsHeader, FRAME_SAMPLES, split_adts};
use crate::codec::h264::{self, Sps, split_annexb, to_avcc};
use crate::codec::h265;
use crate::ts::{self, Demuxer, Pes};

pub use trak::VIDEO_TIMESCALE;

/// H.264 in an MPEG-TS PMT.
pub const STREAM_TYPE_H264: u8 = 0x1b;
/// H.265 in an MPEG-TS PMT.
pub const STREAM_TYPE_H265: u8 = 0x24;
/// AAC with ADTS headers in an MPEG-TS PMT.
pub const STREAM_TYPE_AAC: u8 = 0x0f;

/// Bounds of the ingest.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The demuxer's bounds.
    pub ts: ts::Limits,
    /// Samples held while a track waits for its configuration.
    pub max_pending: usize,
}

impl Default for Limits {
    /// The demuxer's defaults; 1,000 samples held (10 s of 30 fps video and 48 kHz AAC).
    fn default() -> Self {
        Self {
            ts: ts::Limits::default(),
            max_pending: 1000,
        }
    }
}

/// What the ingest found.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The broadcast's tracks (once, before any sample).
    Tracks(Vec<TrackInfo>),
    /// One coded frame.
    Sample(Sample),
    /// Packets were lost on `pid` (the null PID 0x1fff when lost bytes broke the packet
    /// alignment and the PID is not known): the frame they belonged to was dropped.
    Loss {
        /// The PID.
        pid: u16,
        /// What the demuxer saw.
        reason: String,
    },
}

/// Which video codec a track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VideoCodec {
    H264,
    H265,
}

#[derive(Debug)]
enum Codec {
    Video {
        codec: VideoCodec,
        /// H.265's video parameter set.
        vps: Option<Vec<u8>>,
        sps: Option<Vec<u8>>,
        pps: Option<Vec<u8>>,
        /// The SPS the track was built from.
        used_sps: Option<Vec<u8>>,
        /// The sample waiting for the next decode time to know its duration.
        held: Option<Sample>,
        /// Keyframe-less access units dropped before the first keyframe.
        skipped: u64,
    },
    Aac {
        config: Option<AdtsHeader>,
        /// Decode time of the next frame, at the sample rate.
        next: Option<u64>,
    },
}

#[derive(Debug)]
struct Track {
    pid: u16,
    id: u32,
    codec: Codec,
    info: Option<TrackInfo>,
    last_duration: u32,
}

/// MPEG-TS bytes in, [`Event`]s out. Sans-IO: push what arrives, poll what it made.
#[derive(Debug)]
pub struct TsIngest {
    demux: Demuxer,
    limits: Limits,
    tracks: Vec<Track>,
    ready: bool,
    /// A track's configuration changed mid-stream: the tracks are told again before this
    /// PES's samples (audio, whose frames go out as they come) or after them (video, whose
    /// newest frame is held, so that what goes out is of the old configuration).
    retell: Option<Retell>,
    pending: VecDeque<Sample>,
    out: VecDeque<Event>,
}

/// When the tracks are told again, relative to a PES's samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retell {
    Before,
    After,
}

impl Default for TsIngest {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

/// What an unsupported stream type is, for the error.
fn stream_type_name(t: u8) -> Option<&'static str> {
    Some(match t {
        0x01 => "MPEG-1 video",
        0x02 => "MPEG-2 video",
        0x03 => "MPEG-1 audio",
        0x04 => "MPEG-2 audio",
        0x10 => "MPEG-4 Part 2 video",
        0x11 => "AAC in LATM",
        0x1c => "MPEG-4 audio without ADTS",
        0x20 => "H.264 SVC/MVC sub-bitstream",
        0x33 => "H.266",
        0x42 => "AVS video",
        0x81 => "AC-3",
        0x82 => "DTS",
        0x87 => "E-AC-3",
        0xd1 => "Dirac",
        0xea => "VC-1",
        _ => return None,
    })
}

impl TsIngest {
    /// An ingest with these bounds.
    pub fn new(limits: Limits) -> Self {
        Self {
            demux: Demuxer::new(limits.ts),
            limits,
            tracks: Vec::new(),
            ready: false,
            retell: None,
            pending: VecDeque::new(),
            out: VecDeque::new(),
        }
    }

    /// Feed bytes (any split). An error ends the input.
    pub fn push(&mut self, data: &[u8]) -> Result<(), Error> {
        self.demux.push(data)?;
        self.drain()
    }

    /// The input ended: the last samples get their durations.
    pub fn finish(&mut self) -> Result<(), Error> {
        self.demux.finish()?;
        self.drain()?;
        for i in 0..self.tracks.len() {
            let t = &mut self.tracks[i];
            let last = t.last_duration;
            if let Codec::Video { held, .. } = &mut t.codec
                && let Some(mut s) = held.take()
            {
                // One frame at 30 fps when the stream had a single frame.
                s.duration = if last > 0 { last } else { 3000 };
                self.emit(s)?;
            }
        }
        if !self.ready {
            return Err(match self.tracks.iter().find(|t| t.info.is_none()) {
                Some(t) => Error::NoConfig {
                    what: match t.codec {
                        Codec::Video {
                            codec: VideoCodec::H264,
                            ..
                        } => "the input ended before an H.264 keyframe",
                        Codec::Video { .. } => "the input ended before an H.265 keyframe",
                        Codec::Aac { .. } => "the input ended before an AAC frame",
                    },
                    pid: t.pid,
                    waited: self.pending.len(),
                },
                None => Error::Truncated("a program with H.264 or AAC streams"),
            });
        }
        Ok(())
    }

    /// The next event.
    pub fn poll(&mut self) -> Option<Event> {
        self.out.pop_front()
    }

    fn drain(&mut self) -> Result<(), Error> {
        while let Some(e) = self.demux.poll() {
            match e {
                ts::Event::Program(streams) => self.on_program(&streams)?,
                ts::Event::Pes(pes) => self.on_pes(pes)?,
                ts::Event::ContinuityError {
                    pid,
                    expected,
                    found,
                } => self.out.push_back(Event::Loss {
                    pid,
                    reason: format!("continuity counter {found}, expected {expected}"),
                }),
                ts::Event::Damaged { pid } => self.out.push_back(Event::Loss {
                    pid,
                    reason: "a packet marked damaged (transport_error_indicator)".into(),
                }),
                ts::Event::Resync { skipped } => self.out.push_back(Event::Loss {
                    pid: ts::packet::NULL_PID,
                    reason: format!("lost packet alignment: {skipped} bytes passed over"),
                }),
            }
        }
        Ok(())
    }

    fn on_program(&mut self, streams: &[ts::Stream]) -> Result<(), Error> {
        for s in streams {
            let codec = match s.stream_type {
                STREAM_TYPE_H264 | STREAM_TYPE_H265 => Codec::Video {
                    codec: if s.stream_type == STREAM_TYPE_H264 {
                        VideoCodec::H264
                    } else {
                        VideoCodec::H265
                    },
                    vps: None,
                    sps: None,
                    pps: None,
                    used_sps: None,
                    held: None,
                    skipped: 0,
                },
                STREAM_TYPE_AAC => Codec::Aac {
                    config: None,
                    next: None,
                },
                t => match stream_type_name(t) {
                    Some(name) => {
                        return Err(Error::UnsupportedStreamType {
                            stream_type: t,
                            name,
                            pid: s.pid,
                        });
                    }
                    None => continue,
                },
            };
            self.tracks.push(Track {
                pid: s.pid,
                id: self.tracks.len() as u32 + 1,
                codec,
                info: None,
                last_duration: 0,
            });
        }
        if self.tracks.is_empty() {
            return Err(Error::NoStreams);
        }
        Ok(())
    }

    fn on_pes(&mut self, pes: Pes) -> Result<(), Error> {
        let Some(i) = self.tracks.iter().position(|t| t.pid == pes.pid) else {
            return Ok(());
        };
        let pts = pes.pts.ok_or(Error::NoTimestamp { pid: pes.pid })?;
        let samples = match self.tracks[i].codec {
            Codec::Video { .. } => {
                let dts = pes.dts.unwrap_or(pts);
                self.on_video(i, (pts, dts, pes.next_dts), &pes.data)?
            }
            Codec::Aac { .. } => self.on_aac(i, pts, &pes.data)?,
        };
        let retell = self.retell.take();
        if retell == Some(Retell::Before) {
            self.retell_tracks();
        }
        for s in samples {
            self.emit(s)?;
        }
        if retell == Some(Retell::After) {
            self.retell_tracks();
        }
        Ok(())
    }

    /// The tracks again, after a configuration changed (once they were told at all).
    fn retell_tracks(&mut self) {
        if self.ready {
            let infos = self.tracks.iter().filter_map(|t| t.info.clone()).collect();
            self.out.push_back(Event::Tracks(infos));
        }
    }

    /// One video PES: its frame, and the previous one if it was held. A frame whose next
    /// decode time is known (`next`, from the next PES packet's header) goes out at once with
    /// its duration; otherwise it is held until the next frame tells it.
    fn on_video(
        &mut self,
        i: usize,
        (pts, dts, next): (u64, u64, Option<u64>),
        data: &[u8],
    ) -> Result<Vec<Sample>, Error> {
        let t = &mut self.tracks[i];
        let pid = t.pid;
        let Codec::Video {
            codec,
            vps,
            sps,
            pps,
            used_sps,
            held,
            skipped,
        } = &mut t.codec
        else {
            unreachable!("a video track");
        };
        let codec = *codec;
        let nals = split_annexb(data);
        let mut keyframe = false;
        for n in &nals {
            match codec {
                VideoCodec::H264 => match h264::nal_type(n) {
                    h264::nal::SPS => *sps = Some(n.to_vec()),
                    h264::nal::PPS => *pps = Some(n.to_vec()),
                    h264::nal::IDR => keyframe = true,
                    _ => {}
                },
                VideoCodec::H265 => match h265::nal_type(n) {
                    h265::nal::VPS => *vps = Some(n.to_vec()),
                    h265::nal::SPS => *sps = Some(n.to_vec()),
                    h265::nal::PPS => *pps = Some(n.to_vec()),
                    _ => keyframe |= h265::is_irap(n),
                },
            }
        }
        // A new SPS takes effect at the keyframe that carries it: a new init segment.
        let changed = keyframe && t.info.is_some() && used_sps.as_ref() != sps.as_ref();
        if t.info.is_none() || changed {
            if !keyframe {
                *skipped += 1;
                return Ok(Vec::new());
            }
            let (s, p) = match (sps.as_ref(), pps.as_ref()) {
                (Some(s), Some(p)) => (s, p),
                (None, None) => return Err(missing(pid, "SPS and PPS")),
                (None, _) => return Err(missing(pid, "SPS")),
                (_, None) => return Err(missing(pid, "PPS")),
            };
            t.info = Some(match codec {
                VideoCodec::H264 => trak::h264(t.id, &Sps::parse(s)?, s, p),
                VideoCodec::H265 => {
                    let v = vps.as_ref().ok_or_else(|| missing(pid, "VPS"))?;
                    trak::h265(t.id, &h265::Sps::parse(s)?, [v, s, p])
                }
            });
            *used_sps = Some(s.clone());
        }
        let payload = match codec {
            VideoCodec::H264 => to_avcc(&nals),
            VideoCodec::H265 => h265::to_hvcc_sample(&nals),
        };
        if payload.is_empty() {
            return Ok(Vec::new());
        }
        // A clock that goes back (an encoder's restart) is the publish stage's to cut out
        // ([`crate::ingest::timeline`]); here it only ends the previous frame's duration.
        let mut sample = Sample {
            track: t.id,
            dts,
            duration: 0,
            cts_offset: i32::try_from(pts as i64 - dts as i64).unwrap_or(0),
            keyframe,
            timescale: VIDEO_TIMESCALE,
            data: Bytes::from(payload),
        };
        let mut out = Vec::new();
        if let Some(mut prev) = held.take() {
            prev.duration = match dts.checked_sub(prev.dts).map(u32::try_from) {
                Some(Ok(d)) if d > 0 => d,
                // Two frames at one decode time, a clock that went back, or a jump of hours:
                // keep the last duration.
                _ => t.last_duration.max(1),
            };
            t.last_duration = prev.duration;
            out.push(prev);
        }
        // Up to 10 s ahead: a plausible next frame, not a jump of the clock. A frame with a new
        // configuration is held, so that the tracks are told again between the old and the new.
        let known = next
            .and_then(|n| n.checked_sub(dts))
            .and_then(|d| u32::try_from(d).ok())
            .filter(|d| *d > 0 && *d <= 10 * VIDEO_TIMESCALE);
        match known {
            Some(d) if !changed => {
                sample.duration = d;
                t.last_duration = d;
                out.push(sample);
            }
            _ => *held = Some(sample),
        }
        if changed {
            self.retell = Some(Retell::After);
        }
        Ok(out)
    }

    fn on_aac(&mut self, i: usize, pts: u64, data: &[u8]) -> Result<Vec<Sample>, Error> {
        let t = &mut self.tracks[i];
        let pid = t.pid;
        let Codec::Aac { config, next } = &mut t.codec else {
            unreachable!("an AAC track");
        };
        let frames = split_adts(data).map_err(|reason| Error::BadAdts { pid, reason })?;
        let mut out = Vec::with_capacity(frames.len());
        let mut retold = false;
        for (n, (h, raw)) in frames.into_iter().enumerate() {
            let c = *config.get_or_insert(h);
            if (c.object_type, c.frequency_index, c.channels)
                != (h.object_type, h.frequency_index, h.channels)
            {
                if n > 0 {
                    return Err(Error::BadAdts {
                        pid,
                        reason: "the audio configuration (profile, sample rate or channels) \
                                 changed inside one PES packet"
                            .into(),
                    });
                }
                // A new configuration at a PES boundary: a new init segment.
                *config = Some(h);
                t.info = Some(trak::aac(t.id, &h));
                *next = None;
                retold = true;
            }
            if t.info.is_none() {
                t.info = Some(trak::aac(t.id, &h));
            }
            let rate = h.sample_rate();
            let frame = u64::from(FRAME_SAMPLES);
            let mut at = (u128::from(pts) * u128::from(rate) / 90_000) as u64 + n as u64 * frame;
            if let Some(expected) = *next
                && at.abs_diff(expected) < frame / 2
            {
                at = expected;
            }
            t.last_duration = FRAME_SAMPLES;
            *next = Some(at + frame);
            out.push(Sample {
                track: t.id,
                dts: at,
                duration: FRAME_SAMPLES,
                cts_offset: 0,
                keyframe: true,
                timescale: rate,
                data: Bytes::copy_from_slice(raw),
            });
        }
        if retold {
            self.retell = Some(Retell::Before);
        }
        Ok(out)
    }

    /// Out once every track is configured; held (bounded) until then.
    fn emit(&mut self, sample: Sample) -> Result<(), Error> {
        if self.ready {
            self.out.push_back(Event::Sample(sample));
            return Ok(());
        }
        self.pending.push_back(sample);
        if self.tracks.iter().all(|t| t.info.is_some()) {
            self.ready = true;
            let infos = self.tracks.iter().filter_map(|t| t.info.clone()).collect();
            self.out.push_back(Event::Tracks(infos));
            self.out.extend(self.pending.drain(..).map(Event::Sample));
            return Ok(());
        }
        if self.pending.len() > self.limits.max_pending {
            let waiting = self
                .tracks
                .iter()
                .find(|t| t.info.is_none())
                .expect("a track without its configuration");
            return Err(Error::NoConfig {
                what: match waiting.codec {
                    Codec::Video {
                        codec: VideoCodec::H264,
                        ..
                    } => "no H.264 keyframe with SPS and PPS",
                    Codec::Video { .. } => "no H.265 keyframe with VPS, SPS and PPS",
                    Codec::Aac { .. } => "no AAC frame",
                },
                pid: waiting.pid,
                waited: self.pending.len(),
            });
        }
        Ok(())
    }
}

fn missing(pid: u16, what: &'static str) -> Error {
    Error::MissingParameterSets { pid, missing: what }
}
