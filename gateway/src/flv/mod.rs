//! FLV audio and video tags in (the payloads of RTMP audio and video messages), the tracks and
//! samples of a broadcast out: what `tern_origin::Broadcast` publishes. Sans-IO.
//!
//! - Video: H.264 in the legacy tag (codec ID 7: an `AVCDecoderConfigurationRecord`, then
//!   length-prefixed NAL units with a signed 24-bit composition time), and Enhanced RTMP's
//!   extended header (FourCC `avc1` or `hvc1`: SequenceStart, CodedFrames with a composition
//!   time, CodedFramesX without), whether or not the client negotiated `fourCcList`.
//! - Audio: AAC (sound format 10: an AudioSpecificConfig, then raw frames).
//! - Time: RTMP's 32-bit millisecond timestamps unwrapped past 2^32, video at 90 kHz (decode
//!   time and composition offset, so B-frames keep their order), audio at its sample rate on a
//!   1024-sample grid.
//!
//! Events are [`crate::ingest::Event`]s, as MPEG-TS ingest makes them: the tracks once, when
//! every expected track has its configuration (`onMetaData` says which are expected; without
//! it, the ones configured when the first video keyframe arrives, audio being waited for a
//! little), then every sample in arrival order.

use std::collections::VecDeque;

use bytes::Bytes;
use tern_cmaf::{Sample, TrackInfo};

use crate::Error;
use crate::codec::aac::{AdtsHeader, FRAME_SAMPLES};
use crate::codec::{h264, h265};
use crate::ingest::{Event, VIDEO_TIMESCALE, trak};

/// Samples held at most while a track waits for its configuration.
pub const MAX_PENDING: usize = 1000;

/// Unwraps a 32-bit millisecond clock.
#[derive(Debug, Default)]
struct Clock {
    last: Option<u32>,
    high: u64,
}

impl Clock {
    fn unwrap(&mut self, ms: u32) -> u64 {
        if let Some(last) = self.last
            && ms < last
            && last - ms > 1 << 31
        {
            self.high += 1 << 32;
        }
        self.last = Some(ms);
        self.high + u64::from(ms)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VideoCodec {
    H264,
    H265,
}

#[derive(Debug)]
struct Video {
    codec: VideoCodec,
    /// The NAL length size of the publisher's samples (from its configuration record).
    length_size: usize,
    info: TrackInfo,
    /// The sample waiting for the next decode time to know its duration.
    held: Option<Sample>,
    last_duration: u32,
}

#[derive(Debug)]
struct Audio {
    config: AdtsHeader,
    info: TrackInfo,
    next: Option<u64>,
}

/// FLV tags in, [`Event`]s out.
#[derive(Debug, Default)]
pub struct FlvIngest {
    video: Option<Video>,
    audio: Option<Audio>,
    video_clock: Clock,
    audio_clock: Clock,
    /// What `onMetaData` announced: (audio, video).
    expected: Option<(bool, bool)>,
    ready: bool,
    /// Media time (ms) of the first video keyframe, while waiting for audio without metadata.
    first_key_ms: Option<u64>,
    pending: VecDeque<Sample>,
    out: VecDeque<Event>,
}

/// Read a big-endian 16-bit length and that many bytes.
fn take16<'a>(data: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (len, rest) = data.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    let (out, rest) = (rest.get(..len)?, &rest[len..]);
    *data = rest;
    Some(out)
}

fn bad(codec: &'static str, reason: impl Into<String>) -> Error {
    Error::Flv(format!("{codec}: {}", reason.into()))
}

/// The first SPS and PPS of an `AVCDecoderConfigurationRecord`, and its NAL length size.
fn parse_avcc(record: &[u8]) -> Result<(usize, Vec<u8>, Vec<u8>), Error> {
    let err = |r: &str| bad("H.264", format!("AVC sequence header: {r}"));
    if record.len() < 7 {
        return Err(err("shorter than its fixed fields"));
    }
    let length_size = usize::from(record[4] & 3) + 1;
    let mut rest = &record[5..];
    let (&n, r) = rest.split_first().ok_or_else(|| err("no SPS count"))?;
    rest = r;
    let mut sps = None;
    for _ in 0..(n & 0x1f) {
        let s = take16(&mut rest).ok_or_else(|| err("an SPS runs past the record"))?;
        sps.get_or_insert_with(|| s.to_vec());
    }
    let (&n, r) = rest.split_first().ok_or_else(|| err("no PPS count"))?;
    rest = r;
    let mut pps = None;
    for _ in 0..n {
        let p = take16(&mut rest).ok_or_else(|| err("a PPS runs past the record"))?;
        pps.get_or_insert_with(|| p.to_vec());
    }
    match (sps, pps) {
        (Some(s), Some(p)) => Ok((length_size, s, p)),
        _ => Err(err("no SPS or no PPS")),
    }
}

/// The first VPS, SPS and PPS of an `HEVCDecoderConfigurationRecord`, and its NAL length size.
fn parse_hvcc(record: &[u8]) -> Result<(usize, [Vec<u8>; 3]), Error> {
    let err = |r: &str| bad("H.265", format!("HEVC sequence start: {r}"));
    if record.len() < 23 {
        return Err(err("shorter than its fixed fields"));
    }
    let length_size = usize::from(record[21] & 3) + 1;
    let arrays = record[22];
    let mut rest = &record[23..];
    let mut found: [Option<Vec<u8>>; 3] = [None, None, None];
    for _ in 0..arrays {
        let (&kind, r) = rest
            .split_first()
            .ok_or_else(|| err("an array runs past the record"))?;
        let (count, r) = r
            .split_first_chunk::<2>()
            .ok_or_else(|| err("an array runs past the record"))?;
        rest = r;
        for _ in 0..u16::from_be_bytes(*count) {
            let nal = take16(&mut rest).ok_or_else(|| err("a NAL unit runs past the record"))?;
            let slot = match kind & 0x3f {
                h265::nal::VPS => 0,
                h265::nal::SPS => 1,
                h265::nal::PPS => 2,
                _ => continue,
            };
            found[slot].get_or_insert_with(|| nal.to_vec());
        }
    }
    match found {
        [Some(v), Some(s), Some(p)] => Ok((length_size, [v, s, p])),
        _ => Err(err("no VPS, SPS or PPS")),
    }
}

/// The NAL units of a sample with `size`-byte lengths.
fn split_lengths(mut data: &[u8], size: usize) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.len() < size {
            return Err(format!(
                "{} bytes left, short of a {size}-byte length",
                data.len()
            ));
        }
        let len = data[..size]
            .iter()
            .fold(0usize, |n, b| (n << 8) | usize::from(*b));
        let Some(nal) = data.get(size..size + len) else {
            return Err(format!("a {len}-byte NAL unit runs past the sample"));
        };
        out.push(nal);
        data = &data[size + len..];
    }
    Ok(out)
}

/// An AudioSpecificConfig as the ADTS fields the AAC track is built from.
fn asc_header(asc: &[u8]) -> Result<AdtsHeader, Error> {
    let err = |reason: String| Error::Flv(format!("AAC: {reason}"));
    if asc.len() < 2 {
        return Err(err(format!("AudioSpecificConfig of {} bytes", asc.len())));
    }
    let object_type = asc[0] >> 3;
    let frequency_index = ((asc[0] & 7) << 1) | (asc[1] >> 7);
    let channels = (asc[1] >> 3) & 0xf;
    if object_type == 0 || object_type == 31 || frequency_index > 12 || channels == 0 {
        return Err(err(format!(
            "AudioSpecificConfig with object type {object_type}, frequency index \
             {frequency_index}, channels {channels}: tern takes AAC with a standard sample rate \
             and channel layout"
        )));
    }
    Ok(AdtsHeader {
        object_type,
        frequency_index,
        channels,
        header_len: 7,
        frame_len: 0,
    })
}

/// Video track ID 1, audio 2 (their order in the broadcast).
const VIDEO_ID: u32 = 1;
const AUDIO_ID: u32 = 2;

impl FlvIngest {
    /// An ingest waiting for its first tags.
    pub fn new() -> Self {
        Self::default()
    }

    /// `onMetaData` said whether the stream has audio and video.
    pub fn metadata(&mut self, audio: bool, video: bool) {
        if !self.ready && (audio || video) {
            self.expected = Some((audio, video));
            self.check_ready();
        }
    }

    /// The next event.
    pub fn poll(&mut self) -> Option<Event> {
        self.out.pop_front()
    }

    /// A video tag's payload at `timestamp` (RTMP milliseconds).
    pub fn video(&mut self, timestamp: u32, data: &[u8]) -> Result<(), Error> {
        let Some((&b0, rest)) = data.split_first() else {
            return Ok(());
        };
        let ms = self.video_clock.unwrap(timestamp);
        if b0 & 0x80 != 0 {
            // Enhanced RTMP: [IsExHeader | FrameType:3 | PacketType:4] FourCC ...
            let frame_type = (b0 >> 4) & 7;
            let packet_type = b0 & 0x0f;
            let (fourcc, body) = rest
                .split_first_chunk::<4>()
                .ok_or_else(|| bad("video", "an extended video header without its FourCC"))?;
            let codec = match fourcc {
                b"avc1" => VideoCodec::H264,
                b"hvc1" => VideoCodec::H265,
                other => {
                    return Err(bad(
                        "video",
                        format!(
                            "Enhanced RTMP codec {:?}: tern ingests avc1 and hvc1 over RTMP",
                            String::from_utf8_lossy(other)
                        ),
                    ));
                }
            };
            return match packet_type {
                0 => self.sequence_start(codec, body),
                1 => {
                    let (ct, frame) = body
                        .split_first_chunk::<3>()
                        .ok_or_else(|| bad("video", "coded frames without a composition time"))?;
                    self.frame(ms, si24(*ct), frame_type == 1, frame)
                }
                3 => self.frame(ms, 0, frame_type == 1, body),
                // SequenceEnd, metadata (HDR), MPEG-2 TS sequence start: nothing to publish.
                _ => Ok(()),
            };
        }
        let frame_type = b0 >> 4;
        let codec_id = b0 & 0x0f;
        if frame_type == 5 {
            // Video info/command frame: no picture.
            return Ok(());
        }
        if codec_id != 7 {
            return Err(bad(
                "video",
                format!(
                    "FLV video codec ID {codec_id}: tern ingests H.264 (7), and H.265 over \
                     Enhanced RTMP"
                ),
            ));
        }
        let Some((head, body)) = rest.split_first_chunk::<4>() else {
            return Err(bad("H.264", "an AVC video tag shorter than its header"));
        };
        match head[0] {
            0 => self.sequence_start(VideoCodec::H264, body),
            1 => self.frame(ms, si24([head[1], head[2], head[3]]), frame_type == 1, body),
            _ => Ok(()),
        }
    }

    /// An audio tag's payload at `timestamp` (RTMP milliseconds).
    pub fn audio(&mut self, timestamp: u32, data: &[u8]) -> Result<(), Error> {
        let Some((&b0, rest)) = data.split_first() else {
            return Ok(());
        };
        let format = b0 >> 4;
        if format != 10 {
            return Err(Error::Flv(format!(
                "sound format {format}: tern ingests AAC (10) over RTMP"
            )));
        }
        let Some((&packet_type, body)) = rest.split_first() else {
            return Ok(());
        };
        let ms = self.audio_clock.unwrap(timestamp);
        if packet_type == 0 {
            let config = asc_header(body)?;
            if let Some(a) = &self.audio
                && (
                    a.config.object_type,
                    a.config.frequency_index,
                    a.config.channels,
                ) != (config.object_type, config.frequency_index, config.channels)
            {
                return Err(Error::Flv(
                    "AAC: the audio configuration changed mid-stream".into(),
                ));
            }
            if self.audio.is_none() {
                self.audio = Some(Audio {
                    config,
                    info: trak::aac(AUDIO_ID, &config),
                    next: None,
                });
                self.check_ready();
            }
            return Ok(());
        }
        let Some(a) = self.audio.as_mut() else {
            // Frames before the configuration cannot be decoded.
            return Ok(());
        };
        let rate = a.config.sample_rate();
        let frame = u64::from(FRAME_SAMPLES);
        let mut at = ms * u64::from(rate) / 1000;
        if let Some(expected) = a.next
            && at.abs_diff(expected) < frame / 2
        {
            at = expected;
        }
        a.next = Some(at + frame);
        let sample = Sample {
            track: AUDIO_ID,
            dts: at,
            duration: FRAME_SAMPLES,
            cts_offset: 0,
            keyframe: true,
            timescale: rate,
            data: Bytes::copy_from_slice(body),
        };
        self.emit(sample)
    }

    /// The publisher is done: the held video frame goes out with its predecessor's duration.
    pub fn finish(&mut self) -> Result<(), Error> {
        if let Some(v) = self.video.as_mut()
            && let Some(mut s) = v.held.take()
        {
            s.duration = v.last_duration.max(1);
            self.emit(s)?;
        }
        Ok(())
    }

    fn sequence_start(&mut self, codec: VideoCodec, record: &[u8]) -> Result<(), Error> {
        let (length_size, info) = match codec {
            VideoCodec::H264 => {
                let (size, sps, pps) = parse_avcc(record)?;
                let parsed = h264::Sps::parse(&sps)?;
                (size, trak::h264(VIDEO_ID, &parsed, &sps, &pps))
            }
            VideoCodec::H265 => {
                let (size, [vps, sps, pps]) = parse_hvcc(record)?;
                let parsed = h265::Sps::parse(&sps)?;
                (size, trak::h265(VIDEO_ID, &parsed, [&vps, &sps, &pps]))
            }
        };
        match &self.video {
            Some(v) if v.info.codec != info.codec || v.info.width != info.width => {
                return Err(bad(
                    if codec == VideoCodec::H264 {
                        "H.264"
                    } else {
                        "H.265"
                    },
                    "the video configuration changed mid-stream (a new codec or size needs a new \
                     broadcast)",
                ));
            }
            Some(_) => {}
            None => {
                self.video = Some(Video {
                    codec,
                    length_size,
                    info,
                    held: None,
                    last_duration: 0,
                });
                self.check_ready();
            }
        }
        Ok(())
    }

    fn frame(&mut self, ms: u64, cts_ms: i32, keyframe: bool, body: &[u8]) -> Result<(), Error> {
        let Some(v) = self.video.as_mut() else {
            // Frames before the configuration cannot be decoded.
            return Ok(());
        };
        let name = if v.codec == VideoCodec::H264 {
            "H.264"
        } else {
            "H.265"
        };
        let nals = split_lengths(body, v.length_size).map_err(|r| bad(name, r))?;
        let payload = match v.codec {
            VideoCodec::H264 => h264::to_avcc(&nals),
            VideoCodec::H265 => h265::to_hvcc_sample(&nals),
        };
        if payload.is_empty() {
            return Ok(());
        }
        let dts = ms * 90;
        let sample = Sample {
            track: VIDEO_ID,
            dts,
            duration: 0,
            cts_offset: cts_ms.saturating_mul(90),
            keyframe,
            timescale: VIDEO_TIMESCALE,
            data: Bytes::from(payload),
        };
        if keyframe && self.first_key_ms.is_none() {
            self.first_key_ms = Some(ms);
        }
        let v = self.video.as_mut().expect("configured above");
        let prev = v.held.replace(sample);
        let Some(mut prev) = prev else {
            self.check_ready();
            return Ok(());
        };
        prev.duration = match u32::try_from(dts.saturating_sub(prev.dts)) {
            Ok(d) if d > 0 => d,
            // Two frames at one time (a millisecond clock at high frame rates), or a jump.
            _ => v.last_duration.max(1),
        };
        v.last_duration = prev.duration;
        self.emit(prev)?;
        self.check_ready();
        Ok(())
    }

    /// Whether the tracks can be announced, and announce them.
    fn check_ready(&mut self) {
        if self.ready {
            return;
        }
        let (want_audio, want_video) = match self.expected {
            Some(e) => e,
            // Without metadata: video, and audio if it is configured within half a second of
            // media after the first video keyframe.
            None => {
                let waited = match (self.first_key_ms, self.video.as_ref()) {
                    (Some(first), Some(v)) => {
                        v.held.as_ref().is_some_and(|h| h.dts / 90 >= first + 500)
                    }
                    _ => false,
                };
                (self.audio.is_some() || !waited, true)
            }
        };
        let video_ok = !want_video || self.video.is_some();
        let audio_ok = !want_audio || self.audio.is_some();
        if !(video_ok && audio_ok) || (self.video.is_none() && self.audio.is_none()) {
            return;
        }
        self.ready = true;
        let mut tracks = Vec::new();
        if let Some(v) = &self.video {
            tracks.push(v.info.clone());
        }
        if let Some(a) = &self.audio {
            tracks.push(a.info.clone());
        }
        // A track the metadata promised but that never came is left out of the pending samples.
        let keep: Vec<u32> = tracks.iter().map(|t| t.id).collect();
        self.out.push_back(Event::Tracks(tracks));
        let pending: Vec<Sample> = self.pending.drain(..).collect();
        self.out.extend(
            pending
                .into_iter()
                .filter(|s| keep.contains(&s.track))
                .map(Event::Sample),
        );
    }

    fn emit(&mut self, sample: Sample) -> Result<(), Error> {
        if self.ready {
            let known = (sample.track == VIDEO_ID && self.video.is_some())
                || (sample.track == AUDIO_ID && self.audio.is_some());
            if known {
                self.out.push_back(Event::Sample(sample));
            }
            return Ok(());
        }
        self.pending.push_back(sample);
        if self.pending.len() > MAX_PENDING {
            return Err(Error::Flv(format!(
                "{} after {} samples of the other track",
                if self.video.is_none() {
                    "no video sequence header (AVC or HEVC configuration)"
                } else {
                    "no AAC sequence header"
                },
                self.pending.len()
            )));
        }
        Ok(())
    }
}

/// A signed 24-bit big-endian integer.
fn si24(b: [u8; 3]) -> i32 {
    let v = (i32::from(b[0]) << 16) | (i32::from(b[1]) << 8) | i32::from(b[2]);
    (v << 8) >> 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composition_times_are_signed_and_clocks_unwrap() {
        assert_eq!(si24([0xff, 0xff, 0xfe]), -2);
        assert_eq!(si24([0x00, 0x00, 0x21]), 33);
        let mut c = Clock::default();
        assert_eq!(c.unwrap(u32::MAX - 10), u64::from(u32::MAX - 10));
        assert_eq!(c.unwrap(5), (1u64 << 32) + 5);
        assert_eq!(
            c.unwrap(3),
            (1u64 << 32) + 3,
            "a small step back is not a wrap"
        );
    }

    #[test]
    fn an_aac_configuration_is_read_and_a_bad_one_named() {
        let h = asc_header(&[0x12, 0x10]).unwrap();
        assert_eq!((h.object_type, h.frequency_index, h.channels), (2, 4, 2));
        assert!(asc_header(&[0xf8, 0x00]).is_err());
        assert!(asc_header(&[0x12]).is_err());
    }

    /// x265's parameter sets for 320x240 Main (as in `codec::h265`'s tests).
    const VPS: &[u8] = &[
        0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00,
        0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x92, 0x80, 0x90,
    ];
    const SPS: &[u8] = &[
        0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x3c, 0xa0, 0x0a, 0x08, 0x0f, 0x16, 0x59, 0x2a, 0x49, 0x32, 0xbc, 0x05, 0xa0,
        0x20, 0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x03, 0x03, 0xc1,
    ];
    const PPS: &[u8] = &[0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40];

    fn hvcc_record() -> Vec<u8> {
        let mut r = vec![1, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 60];
        r.extend([0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0, 0x0f, 3]);
        for nal in [VPS, SPS, PPS] {
            r.push(0x80 | ((nal[0] >> 1) & 0x3f));
            r.extend([0, 1]);
            r.extend((nal.len() as u16).to_be_bytes());
            r.extend(nal);
        }
        r
    }

    /// An Enhanced RTMP video tag: [IsExHeader | FrameType | PacketType] FourCC body.
    fn ex_tag(keyframe: bool, packet_type: u8, body: &[u8]) -> Vec<u8> {
        let mut t = vec![0x80 | (if keyframe { 1 } else { 2 } << 4) | packet_type];
        t.extend(b"hvc1");
        t.extend(body);
        t
    }

    #[test]
    fn enhanced_rtmp_hevc_is_read_with_its_composition_times() {
        let mut flv = FlvIngest::new();
        flv.metadata(false, true);
        flv.video(0, &ex_tag(true, 0, &hvcc_record())).unwrap();
        // CodedFrames: a composition time of 33 ms, then an IDR slice with a 4-byte length.
        let idr = [0x26, 0x01, 0xaf, 0x09];
        let mut coded = vec![0, 0, 33, 0, 0, 0, 4];
        coded.extend(idr);
        flv.video(1000, &ex_tag(true, 1, &coded)).unwrap();
        // CodedFramesX: no composition time.
        let trail = [0x02, 0x01, 0xd0, 0x01];
        let mut x = vec![0, 0, 0, 4];
        x.extend(trail);
        flv.video(1033, &ex_tag(false, 3, &x)).unwrap();
        flv.finish().unwrap();
        let events: Vec<Event> = std::iter::from_fn(|| flv.poll()).collect();
        let Some(Event::Tracks(tracks)) = events.first() else {
            panic!("tracks first: {events:?}");
        };
        assert_eq!(tracks.len(), 1);
        assert_eq!(tracks[0].codec, "hvc1.1.6.L60.90");
        assert_eq!((tracks[0].width, tracks[0].height), (320, 240));
        let samples: Vec<&Sample> = events
            .iter()
            .filter_map(|e| match e {
                Event::Sample(s) => Some(s),
                _ => None,
            })
            .collect();
        assert_eq!(samples.len(), 2);
        assert!(samples[0].keyframe && !samples[1].keyframe);
        assert_eq!((samples[0].dts, samples[0].cts_offset), (90_000, 33 * 90));
        assert_eq!(samples[0].duration, 33 * 90);
        assert_eq!(samples[1].cts_offset, 0);
        assert_eq!(&samples[0].data[4..], &idr);
    }

    #[test]
    fn an_enhanced_rtmp_codec_tern_does_not_ingest_is_named() {
        let mut flv = FlvIngest::new();
        let mut tag = vec![0x80 | (1 << 4)];
        tag.extend(b"av01");
        let err = flv.video(0, &tag).unwrap_err().to_string();
        assert!(err.contains("av01"), "{err}");
    }

    #[test]
    fn lengths_are_split_and_bounds_checked() {
        let nals = split_lengths(&[0, 0, 0, 2, 9, 9, 0, 0, 0, 1, 7], 4).unwrap();
        assert_eq!(nals, [&[9, 9][..], &[7][..]]);
        assert!(split_lengths(&[0, 0, 0, 9, 1], 4).is_err());
        assert!(split_lengths(&[0, 0], 4).is_err());
    }
}
