//! FLV audio and video tags in (the payloads of RTMP audio and video messages), the tracks and
//! samples of a broadcast out: what `tern_origin::Broadcast` publishes. Sans-IO.
//!
//! - Video: H.264 in the legacy tag (codec ID 7: an `AVCDecoderConfigurationRecord`, then
//!   length-prefixed NAL units with a signed 24-bit composition time), and Enhanced RTMP's
//!   extended video header (FourCC `avc1`, `hvc1` or `av01`: SequenceStart with the codec's
//!   configuration record, CodedFrames with a composition time for `avc1` and `hvc1` and
//!   without for `av01`, whose frames are OBUs; CodedFramesX without), whether or not the
//!   client negotiated `fourCcList`. Keyframes are the ones the header's frame type says.
//! - Audio: AAC (sound format 10: an AudioSpecificConfig, then raw frames), and Enhanced
//!   RTMP's extended audio header (sound format 9, FourCC `Opus`: SequenceStart with the
//!   `OpusHead`, CodedFrames of one Opus packet each; or `mp4a`, AAC as in the legacy tag).
//!   Modifier extensions (`ModEx`) are read past; multitrack tags are refused.
//! - Time: RTMP's 32-bit millisecond timestamps unwrapped past 2^32, video at 90 kHz (decode
//!   time and composition offset, so B-frames keep their order), AAC at its sample rate on a
//!   1024-sample grid, Opus at 48 kHz, each packet as long as its TOC byte says.
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
use crate::codec::opus::{self, OpusHead};
use crate::codec::{av1, h264, h265};
use crate::ingest::{Event, VIDEO_TIMESCALE, trak};

#[cfg(test)]
mod tests;

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
    Av1,
}

impl VideoCodec {
    fn name(self) -> &'static str {
        match self {
            Self::H264 => "H.264",
            Self::H265 => "H.265",
            Self::Av1 => "AV1",
        }
    }
}

#[derive(Debug)]
struct Video {
    codec: VideoCodec,
    /// The NAL length size of the publisher's samples (from its configuration record; H.264
    /// and H.265).
    length_size: usize,
    info: TrackInfo,
    /// The sample waiting for the next decode time to know its duration.
    held: Option<Sample>,
    last_duration: u32,
}

/// An audio track's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AudioConfig {
    Aac(AdtsHeader),
    Opus(OpusHead),
}

impl AudioConfig {
    fn name(self) -> &'static str {
        match self {
            Self::Aac(_) => "AAC",
            Self::Opus(_) => "Opus",
        }
    }

    /// Whether `other` configures the same track (a publisher may repeat its configuration).
    fn same(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Aac(a), Self::Aac(b)) => {
                (a.object_type, a.frequency_index, a.channels)
                    == (b.object_type, b.frequency_index, b.channels)
            }
            (Self::Opus(a), Self::Opus(b)) => (a.channels, a.pre_skip) == (b.channels, b.pre_skip),
            _ => false,
        }
    }

    fn rate(&self) -> u32 {
        match self {
            Self::Aac(h) => h.sample_rate(),
            Self::Opus(_) => opus::RATE,
        }
    }
}

/// An audio codec an FLV tag names, before its configuration is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AudioCodec {
    Aac,
    Opus,
}

#[derive(Debug)]
struct Audio {
    config: AudioConfig,
    info: TrackInfo,
    next: Option<u64>,
}

/// Enhanced RTMP's packet type that announces modifier extensions (audio and video alike).
const MOD_EX: u8 = 7;

/// Read past Enhanced RTMP's modifier extensions (`ModEx`: a size, that many bytes, then a
/// byte whose low nibble is the next packet type): the packet type they lead to and what
/// follows. tern uses none of them (a nanosecond timestamp offset is below its clocks).
fn past_mod_ex(mut packet_type: u8, mut rest: &[u8]) -> Result<(u8, &[u8]), Error> {
    let short = || Error::Flv("an Enhanced RTMP ModEx runs past the tag".into());
    while packet_type == MOD_EX {
        let (&n, r) = rest.split_first().ok_or_else(short)?;
        let (size, r) = match usize::from(n) + 1 {
            256 => {
                let (n, r) = r.split_first_chunk::<2>().ok_or_else(short)?;
                (usize::from(u16::from_be_bytes(*n)) + 1, r)
            }
            size => (size, r),
        };
        let (&next, r) = r
            .get(size..)
            .and_then(|r| r.split_first())
            .ok_or_else(short)?;
        packet_type = next & 0x0f;
        rest = r;
    }
    Ok((packet_type, rest))
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

/// An `OpusHead` as the configuration of an Opus track: mono or stereo (channel mapping
/// family 0), which is what the `Opus` sample entry tern writes describes.
fn opus_head(data: &[u8]) -> Result<OpusHead, Error> {
    let head = OpusHead::parse(data).map_err(|r| Error::Flv(format!("Opus: {r}")))?;
    if head.mapping_family != 0 || head.channels > 2 {
        return Err(Error::Flv(format!(
            "Opus: {} channels with channel mapping family {}: tern takes mono or stereo Opus \
             (family 0)",
            head.channels, head.mapping_family
        )));
    }
    Ok(head)
}

/// An AV1 track from an `AV1CodecConfigurationRecord`.
fn av1_track(record: &[u8]) -> Result<TrackInfo, Error> {
    let (av1c, seq) = av1::parse_av1c(record).map_err(|r| bad("AV1", r))?;
    let (Ok(width), Ok(height)) = (u16::try_from(seq.width), u16::try_from(seq.height)) else {
        return Err(bad(
            "AV1",
            format!(
                "a {}x{} frame is larger than MP4 describes",
                seq.width, seq.height
            ),
        ));
    };
    Ok(trak::av1(VIDEO_ID, width, height, av1c))
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
            // Enhanced RTMP: [IsExHeader | FrameType:3 | PacketType:4] (ModEx) FourCC ...
            let frame_type = (b0 >> 4) & 7;
            let (packet_type, rest) = past_mod_ex(b0 & 0x0f, rest)?;
            if frame_type == 5 && packet_type != 4 {
                // A video command (seek start or end): one byte, no FourCC, no picture.
                return Ok(());
            }
            if packet_type == 6 {
                return Err(bad(
                    "video",
                    "Enhanced RTMP multitrack video: tern ingests one video track per RTMP \
                     stream",
                ));
            }
            let (fourcc, body) = rest
                .split_first_chunk::<4>()
                .ok_or_else(|| bad("video", "an extended video header without its FourCC"))?;
            let codec = match fourcc {
                b"avc1" => VideoCodec::H264,
                b"hvc1" => VideoCodec::H265,
                b"av01" => VideoCodec::Av1,
                other => {
                    return Err(bad(
                        "video",
                        format!(
                            "Enhanced RTMP codec {:?}: tern ingests avc1, hvc1 and av01 over RTMP",
                            String::from_utf8_lossy(other)
                        ),
                    ));
                }
            };
            let key = frame_type == 1;
            return match packet_type {
                0 => self.sequence_start(codec, body),
                // AV1's coded frames carry no composition time: its frames are in order.
                1 if codec == VideoCodec::Av1 => self.frame(ms, 0, key, body),
                1 => {
                    let (ct, frame) = body
                        .split_first_chunk::<3>()
                        .ok_or_else(|| bad("video", "coded frames without a composition time"))?;
                    self.frame(ms, si24(*ct), key, frame)
                }
                3 => self.frame(ms, 0, key, body),
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
                    "FLV video codec ID {codec_id}: tern ingests H.264 (7), and H.265 or AV1 \
                     over Enhanced RTMP"
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
        let ms = self.audio_clock.unwrap(timestamp);
        match b0 >> 4 {
            10 => {
                // [SoundFormat | rate | size | type] AACPacketType body
                let Some((&packet_type, body)) = rest.split_first() else {
                    return Ok(());
                };
                self.audio_packet(ms, AudioCodec::Aac, packet_type, body)
            }
            9 => {
                // Enhanced RTMP: [SoundFormat 9 | AudioPacketType:4] (ModEx) FourCC body
                let (packet_type, rest) = past_mod_ex(b0 & 0x0f, rest)?;
                if packet_type == 5 {
                    return Err(Error::Flv(
                        "Enhanced RTMP multitrack audio: tern ingests one audio track per RTMP \
                         stream"
                            .into(),
                    ));
                }
                let (fourcc, body) = rest.split_first_chunk::<4>().ok_or_else(|| {
                    Error::Flv("an extended audio header without its FourCC".into())
                })?;
                let codec = match fourcc {
                    b"Opus" => AudioCodec::Opus,
                    b"mp4a" => AudioCodec::Aac,
                    other => {
                        return Err(Error::Flv(format!(
                            "Enhanced RTMP audio codec {:?}: tern ingests Opus and mp4a (AAC) \
                             over RTMP",
                            String::from_utf8_lossy(other)
                        )));
                    }
                };
                match packet_type {
                    0 | 1 => self.audio_packet(ms, codec, packet_type, body),
                    // SequenceEnd, the multichannel configuration (a channel order tern keeps
                    // as the codec's own): nothing to publish.
                    _ => Ok(()),
                }
            }
            format => Err(Error::Flv(format!(
                "sound format {format}: tern ingests AAC (10), and Opus over Enhanced RTMP (9)"
            ))),
        }
    }

    /// An audio configuration (`packet_type` 0) or coded frame (1) of `codec`.
    fn audio_packet(
        &mut self,
        ms: u64,
        codec: AudioCodec,
        packet_type: u8,
        body: &[u8],
    ) -> Result<(), Error> {
        if packet_type == 0 {
            let config = match codec {
                AudioCodec::Aac => AudioConfig::Aac(asc_header(body)?),
                AudioCodec::Opus => AudioConfig::Opus(opus_head(body)?),
            };
            if let Some(a) = self.audio.as_mut()
                && !a.config.same(&config)
            {
                // A new configuration (codec, rate or channels): a new init segment before the
                // frames that follow.
                a.info = match config {
                    AudioConfig::Aac(h) => trak::aac(AUDIO_ID, &h),
                    AudioConfig::Opus(h) => trak::opus(AUDIO_ID, h.channels, h.pre_skip),
                };
                a.config = config;
                a.next = None;
                self.retell();
                return Ok(());
            }
            if self.audio.is_none() {
                let info = match config {
                    AudioConfig::Aac(h) => trak::aac(AUDIO_ID, &h),
                    AudioConfig::Opus(h) => trak::opus(AUDIO_ID, h.channels, h.pre_skip),
                };
                self.audio = Some(Audio {
                    config,
                    info,
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
        if body.is_empty() {
            return Ok(());
        }
        let duration = match a.config {
            AudioConfig::Aac(_) if codec == AudioCodec::Aac => FRAME_SAMPLES,
            AudioConfig::Opus(_) if codec == AudioCodec::Opus => opus::packet_samples(body)
                .ok_or_else(|| {
                    Error::Flv("Opus: a packet whose TOC byte says no valid duration".into())
                })?,
            config => {
                return Err(Error::Flv(format!(
                    "{}: the audio codec changed mid-stream",
                    config.name()
                )));
            }
        };
        let rate = a.config.rate();
        let mut at = ms * u64::from(rate) / 1000;
        // Snapped to the previous frame's end when within half a frame: no rounding jitter
        // from the millisecond clock.
        if let Some(expected) = a.next
            && at.abs_diff(expected) < u64::from(duration / 2)
        {
            at = expected;
        }
        a.next = Some(at + u64::from(duration));
        let sample = Sample {
            track: AUDIO_ID,
            dts: at,
            duration,
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
            VideoCodec::Av1 => (0, av1_track(record)?),
        };
        match &mut self.video {
            Some(v) if v.info != info => {
                // A new codec or size (an encoder's new settings): the last frame of the old
                // configuration goes out, then the tracks again, then the new configuration's
                // frames.
                if let Some(mut s) = v.held.take() {
                    s.duration = v.last_duration.max(1);
                    self.emit(s)?;
                }
                let v = self.video.as_mut().expect("matched above");
                v.codec = codec;
                v.length_size = length_size;
                v.info = info;
                self.retell();
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
        let name = v.codec.name();
        let payload = match v.codec {
            VideoCodec::H264 | VideoCodec::H265 => {
                let nals = split_lengths(body, v.length_size).map_err(|r| bad(name, r))?;
                match v.codec {
                    VideoCodec::H264 => h264::to_avcc(&nals),
                    _ => h265::to_hvcc_sample(&nals),
                }
            }
            VideoCodec::Av1 => av1::to_sample(&av1::split_obus(body).map_err(|r| bad(name, r))?),
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

    /// The tracks again, after a configuration changed (once they were told at all).
    fn retell(&mut self) {
        if !self.ready {
            return;
        }
        let mut tracks = Vec::new();
        if let Some(v) = &self.video {
            tracks.push(v.info.clone());
        }
        if let Some(a) = &self.audio {
            tracks.push(a.info.clone());
        }
        self.out.push_back(Event::Tracks(tracks));
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
                    "no video sequence header (AVC, HEVC or AV1 configuration)"
                } else {
                    "no audio sequence header (AAC or Opus configuration)"
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
