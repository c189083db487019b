//! FLV tags built by hand, as FFmpeg (8.1 for Enhanced RTMP) and x265/SVT-AV1/libopus make
//! them, through the ingest.

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
    0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03,
    0x00, 0x00, 0x03, 0x00, 0x3c, 0x92, 0x80, 0x90,
];
const SPS: &[u8] = &[
    0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03,
    0x00, 0x3c, 0xa0, 0x0a, 0x08, 0x0f, 0x16, 0x59, 0x2a, 0x49, 0x32, 0xbc, 0x05, 0xa0, 0x20, 0x00,
    0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x03, 0x03, 0xc1,
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
    video_tag(b"hvc1", keyframe, packet_type, body)
}

fn video_tag(fourcc: &[u8; 4], keyframe: bool, packet_type: u8, body: &[u8]) -> Vec<u8> {
    let mut t = vec![0x80 | (if keyframe { 1 } else { 2 } << 4) | packet_type];
    t.extend(fourcc);
    t.extend(body);
    t
}

/// An Enhanced RTMP audio tag: [SoundFormat 9 | AudioPacketType] FourCC body.
fn audio_tag(fourcc: &[u8; 4], packet_type: u8, body: &[u8]) -> Vec<u8> {
    let mut t = vec![0x90 | packet_type];
    t.extend(fourcc);
    t.extend(body);
    t
}

/// Everything the ingest made once the publisher finished: its tracks (which came first) and
/// its samples.
fn drain(flv: &mut FlvIngest) -> (Vec<TrackInfo>, Vec<Sample>) {
    flv.finish().unwrap();
    let mut events = std::iter::from_fn(|| flv.poll());
    let Some(Event::Tracks(tracks)) = events.next() else {
        panic!("tracks first");
    };
    let samples = events
        .map(|e| match e {
            Event::Sample(s) => s,
            other => panic!("a sample: {other:?}"),
        })
        .collect();
    (tracks, samples)
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
    let (tracks, samples) = drain(&mut flv);
    assert_eq!(tracks.len(), 1);
    assert_eq!(tracks[0].codec, "hvc1.1.6.L60.90");
    assert_eq!((tracks[0].width, tracks[0].height), (320, 240));
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
    tag.extend(b"vp09");
    let err = flv.video(0, &tag).unwrap_err().to_string();
    assert!(err.contains("vp09") && err.contains("av01"), "{err}");
    let mut tag = vec![0x80 | 6];
    tag.extend(b"av01");
    let err = flv.video(0, &tag).unwrap_err().to_string();
    assert!(err.contains("multitrack"), "{err}");
}

#[test]
fn lengths_are_split_and_bounds_checked() {
    let nals = split_lengths(&[0, 0, 0, 2, 9, 9, 0, 0, 0, 1, 7], 4).unwrap();
    assert_eq!(nals, [&[9, 9][..], &[7][..]]);
    assert!(split_lengths(&[0, 0, 0, 9, 1], 4).is_err());
    assert!(split_lengths(&[0, 0], 4).is_err());
}

/// FFmpeg 8.1's `OpusHead` (libopus, stereo, pre-skip 312).
const OPUS_HEAD: &[u8] = &[
    b'O', b'p', b'u', b's', b'H', b'e', b'a', b'd', 1, 2, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0,
];

/// A temporal unit: a temporal delimiter, SVT-AV1's sequence header (in the keyframe's), and a
/// frame OBU with `frame`.
fn temporal_unit(keyframe: bool, frame: &[u8]) -> Vec<u8> {
    let mut tu = vec![0x12, 0x00];
    if keyframe {
        tu.extend(&crate::codec::av1::tests::SVT_AV1C[4..]);
    }
    tu.extend([0x32, frame.len() as u8]);
    tu.extend(frame);
    tu
}

/// An ingest told to expect video (and `audio`) that has SVT-AV1's sequence start.
fn av1_ingest(audio: bool) -> FlvIngest {
    let mut flv = FlvIngest::new();
    flv.metadata(audio, true);
    let av1c = crate::codec::av1::tests::SVT_AV1C;
    flv.video(0, &video_tag(b"av01", true, 0, av1c)).unwrap();
    flv
}

#[test]
fn enhanced_rtmp_av1_is_read_as_obus_without_a_composition_time() {
    let mut flv = av1_ingest(false);
    // FFmpeg's colour metadata: a command frame type with packet type Metadata.
    let mut meta = vec![0x80 | (5 << 4) | 4];
    meta.extend(b"av01\x02\x00\x09colorInfo");
    flv.video(0, &meta).unwrap();
    // A video command (no FourCC at all) is passed over.
    flv.video(0, &[0x80 | (5 << 4) | 1, 0]).unwrap();
    let key = temporal_unit(true, &[0xaa, 0xbb, 0xcc]);
    flv.video(0, &video_tag(b"av01", true, 1, &key)).unwrap();
    let inter = temporal_unit(false, &[0xdd, 0xee]);
    flv.video(33, &video_tag(b"av01", false, 1, &inter))
        .unwrap();
    // A modifier extension (two bytes of data) before the packet type CodedFrames.
    let mut modex = vec![0x80 | (2 << 4) | MOD_EX, 1, 0xab, 0xcd, 1];
    modex.extend(b"av01");
    modex.extend(temporal_unit(false, &[0xff]));
    flv.video(67, &modex).unwrap();
    let (tracks, samples) = drain(&mut flv);
    assert_eq!(tracks.len(), 1);
    assert_eq!(tracks[0].codec, "av01.0.00M.08");
    assert_eq!((tracks[0].width, tracks[0].height), (320, 240));
    assert_eq!(samples.len(), 3);
    assert!(samples[0].keyframe && !samples[1].keyframe && !samples[2].keyframe);
    assert_eq!(
        samples
            .iter()
            .map(|s| (s.dts, s.cts_offset))
            .collect::<Vec<_>>(),
        [(0, 0), (33 * 90, 0), (67 * 90, 0)]
    );
    // The samples are the OBUs less the temporal delimiter.
    assert_eq!(&samples[0].data[..], &key[2..]);
    assert_eq!(&samples[1].data[..], &[0x32, 2, 0xdd, 0xee]);
}

#[test]
fn a_bad_av1_configuration_or_frame_is_named() {
    let mut flv = FlvIngest::new();
    let err = flv.video(0, &video_tag(b"av01", true, 0, &[0x81, 0, 0x0c, 0]));
    assert!(err.unwrap_err().to_string().contains("AV1"));
    let av1c = crate::codec::av1::tests::SVT_AV1C;
    flv.video(0, &video_tag(b"av01", true, 0, av1c)).unwrap();
    let err = flv.video(0, &video_tag(b"av01", true, 1, &[0x32, 9, 1]));
    assert!(err.unwrap_err().to_string().contains("runs past"));
    let mut modex = vec![0x80 | (1 << 4) | MOD_EX, 200, 0];
    modex.extend(b"av01");
    assert!(
        flv.video(0, &modex)
            .unwrap_err()
            .to_string()
            .contains("ModEx")
    );
}

#[test]
fn enhanced_rtmp_opus_is_timed_by_its_toc_at_48_khz() {
    let mut flv = FlvIngest::new();
    flv.metadata(true, false);
    flv.audio(0, &audio_tag(b"Opus", 0, OPUS_HEAD)).unwrap();
    // FFmpeg's multichannel configuration (native order, stereo): nothing to publish.
    flv.audio(0, &audio_tag(b"Opus", 4, &[1, 2, 0, 0, 0, 3]))
        .unwrap();
    // Three 20 ms CELT packets, the third a millisecond late; then a 10 ms one.
    for ms in [0, 20, 41] {
        flv.audio(ms, &audio_tag(b"Opus", 1, &[0xfc, 0x01, 0x02]))
            .unwrap();
    }
    flv.audio(60, &audio_tag(b"Opus", 1, &[0xf4, 0x03]))
        .unwrap();
    let (tracks, samples) = drain(&mut flv);
    assert_eq!(tracks.len(), 1);
    assert_eq!(tracks[0].codec, "opus");
    assert_eq!(tracks[0].timescale, 48_000);
    let times: Vec<(u64, u32)> = samples.iter().map(|s| (s.dts, s.duration)).collect();
    assert_eq!(times, [(0, 960), (960, 960), (1920, 960), (2880, 480)]);
    assert!(samples.iter().all(|s| s.keyframe && s.timescale == 48_000));
    assert_eq!(&samples[3].data[..], &[0xf4, 0x03]);
}

#[test]
fn av1_and_opus_make_one_broadcast_as_ffmpeg_sends_them() {
    let mut flv = av1_ingest(true);
    flv.audio(0, &audio_tag(b"Opus", 0, OPUS_HEAD)).unwrap();
    let key = temporal_unit(true, &[1]);
    flv.video(0, &video_tag(b"av01", true, 1, &key)).unwrap();
    flv.audio(0, &audio_tag(b"Opus", 1, &[0xfc, 0])).unwrap();
    flv.video(
        33,
        &video_tag(b"av01", false, 1, &temporal_unit(false, &[2])),
    )
    .unwrap();
    let (tracks, samples) = drain(&mut flv);
    let codecs: Vec<&str> = tracks.iter().map(|t| t.codec.as_str()).collect();
    assert_eq!(codecs, ["av01.0.00M.08", "opus"]);
    assert_eq!(samples.len(), 3);
}

#[test]
fn aac_in_the_extended_audio_header_is_aac() {
    let mut flv = FlvIngest::new();
    flv.metadata(true, false);
    flv.audio(0, &audio_tag(b"mp4a", 0, &[0x12, 0x10])).unwrap();
    flv.audio(0, &audio_tag(b"mp4a", 1, &[0x21, 0x00])).unwrap();
    let (tracks, samples) = drain(&mut flv);
    assert_eq!(tracks[0].codec, "mp4a.40.2");
    assert_eq!((samples[0].duration, samples[0].timescale), (1024, 44_100));
}

#[test]
fn audio_tern_does_not_ingest_is_named() {
    let mut flv = FlvIngest::new();
    let err = flv.audio(0, &[0x2f, 0xff]).unwrap_err().to_string();
    assert!(
        err.contains("sound format 2") && err.contains("Opus"),
        "{err}"
    );
    let err = flv.audio(0, &audio_tag(b"fLaC", 0, &[])).unwrap_err();
    assert!(err.to_string().contains("fLaC"), "{err}");
    let err = flv.audio(0, &audio_tag(b"Opus", 5, &[])).unwrap_err();
    assert!(err.to_string().contains("multitrack"), "{err}");
    // Six channels (mapping family 1): not what tern's Opus sample entry describes.
    let mut surround = OPUS_HEAD.to_vec();
    surround[9] = 6;
    surround[18] = 1;
    surround.extend([4, 2, 0, 4, 1, 2, 3, 5]);
    let err = flv.audio(0, &audio_tag(b"Opus", 0, &surround)).unwrap_err();
    assert!(err.to_string().contains("mono or stereo"), "{err}");
    // A packet whose TOC says nothing valid (code 3 with no frames).
    flv.audio(0, &audio_tag(b"Opus", 0, OPUS_HEAD)).unwrap();
    let err = flv
        .audio(0, &audio_tag(b"Opus", 1, &[0xfb, 0]))
        .unwrap_err();
    assert!(err.to_string().contains("TOC"), "{err}");
    // AAC frames on the Opus track.
    let err = flv.audio(0, &[0xaf, 1, 0x21]).unwrap_err();
    assert!(err.to_string().contains("changed"), "{err}");
}

/// The tags of a fuzz corpus seed (records of a kind byte, a `u32` timestamp, a `u16` length
/// and the tag) through a fresh ingest: its tracks and samples.
fn replay(records: &[u8]) -> (Vec<TrackInfo>, Vec<Sample>) {
    let mut flv = FlvIngest::new();
    let mut rest = records;
    while let [kind, a, b, c, d, l0, l1, tail @ ..] = rest {
        let (tag, next) = tail.split_at(usize::from(u16::from_be_bytes([*l0, *l1])));
        let ts = u32::from_be_bytes([*a, *b, *c, *d]);
        match kind {
            0 => flv.audio(ts, tag).unwrap(),
            1 => flv.video(ts, tag).unwrap(),
            _ => flv.metadata(true, true),
        }
        rest = next;
    }
    drain(&mut flv)
}

#[test]
fn ffmpeg_8_1s_own_enhanced_rtmp_tags_are_read() {
    // FFmpeg 8.1 (PyAV 18.1.0) muxing FLV: x265 or SVT-AV1 at 128x96 and libopus, the first
    // 8 kB of tags (gateway/fuzz/corpus/flv_tags).
    for (seed, codec, frames) in [
        (
            &include_bytes!("../../fuzz/corpus/flv_tags/pyav-ffmpeg8.1-hevc-opus")[..],
            "hvc1.1.6.L30.90",
            2,
        ),
        (
            &include_bytes!("../../fuzz/corpus/flv_tags/pyav-ffmpeg8.1-av1-opus")[..],
            "av01.0.00M.08",
            4,
        ),
    ] {
        let (tracks, samples) = replay(seed);
        let codecs: Vec<&str> = tracks.iter().map(|t| t.codec.as_str()).collect();
        assert_eq!(codecs, [codec, "opus"]);
        assert_eq!((tracks[0].width, tracks[0].height), (128, 96));
        let video: Vec<&Sample> = samples.iter().filter(|s| s.track == VIDEO_ID).collect();
        assert!(video.len() >= frames && video[0].keyframe, "{codec}");
        let audio: Vec<&Sample> = samples.iter().filter(|s| s.track == AUDIO_ID).collect();
        assert!(
            audio.iter().all(|s| s.duration == 960),
            "20 ms Opus packets"
        );
        assert!(audio.windows(2).all(|w| w[1].dts == w[0].dts + 960));
    }
}

/// An encoder that changes its codec or size mid-stream sends a new sequence start: the last
/// frame of the old configuration goes out, then the tracks again, then the new frames; the
/// same sequence start again changes nothing.
#[test]
fn a_new_sequence_start_retells_the_tracks_between_the_frames() {
    let mut flv = FlvIngest::new();
    flv.metadata(false, true);
    flv.video(0, &ex_tag(true, 0, &hvcc_record())).unwrap();
    let idr = [0, 0, 0, 4, 0x26, 0x01, 0xaf, 0x09];
    flv.video(0, &ex_tag(true, 3, &idr)).unwrap();
    flv.video(33, &ex_tag(false, 3, &idr)).unwrap();
    flv.video(50, &ex_tag(true, 0, &hvcc_record())).unwrap();
    let av1c = crate::codec::av1::tests::SVT_AV1C;
    flv.video(66, &video_tag(b"av01", true, 0, av1c)).unwrap();
    let key = temporal_unit(true, &[0xaa]);
    flv.video(66, &video_tag(b"av01", true, 1, &key)).unwrap();
    flv.finish().unwrap();
    let events: Vec<String> = std::iter::from_fn(|| flv.poll())
        .map(|e| match e {
            Event::Tracks(t) => format!("tracks {}", t[0].codec),
            Event::Sample(s) => format!("sample {}", s.dts / 90),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        events,
        [
            "tracks hvc1.1.6.L60.90",
            "sample 0",
            "sample 33",
            "tracks av01.0.00M.08",
            "sample 66"
        ]
    );
}
