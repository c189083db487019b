//! The MPEG-TS ingest against ffmpeg: an ffmpeg-made MPEG-TS file is read by `TsIngest`, and
//! the same file remuxed by ffmpeg into fragmented MP4 (`-c copy`) is read by
//! `tern_cmaf::demux`. Tracks (codec strings, sizes, rates, `avcC`) and
//! samples (count, keyframes, decode times, durations, bytes) must be the same: the gateway
//! publishes what the fMP4 path would.
//!
//! Needs ffmpeg with libx264 and the native AAC encoder (`apt-get install ffmpeg`).

use std::path::{Path, PathBuf};
use std::process::Command;

use tern_cmaf::demux::{self, Demuxer};
use tern_cmaf::{Sample, TrackInfo, TrackKind};
use tern_gateway::ingest::{Event, TsIngest};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tern-gw-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(args)
        .status()
        .expect("run ffmpeg (apt-get install ffmpeg)");
    assert!(status.success(), "ffmpeg {args:?}: {status}");
}

/// 3 s of test pattern and a tone as MPEG-TS, and the same packets remuxed to fMP4 (`hvc1`
/// for H.265).
fn make(dir: &Path, size: &str, video: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let hevc = video.contains(&"libx265");
    let ts = dir.join("in.ts");
    let mp4 = dir.join("remux.mp4");
    let src = format!("testsrc=size={size}:rate=30:duration=3");
    let mut args = vec!["-f", "lavfi", "-i", &src];
    args.extend([
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=44100:duration=3",
    ]);
    args.extend(["-pix_fmt", "yuv420p"]);
    args.extend(video);
    args.extend(["-c:a", "aac", "-ac", "2", "-b:a", "64k", "-f", "mpegts"]);
    let ts_arg = ts.to_str().expect("utf-8");
    args.push(ts_arg);
    ffmpeg(&args);
    let mut remux = vec!["-i", ts_arg, "-c", "copy", "-bsf:a", "aac_adtstoasc"];
    if hevc {
        remux.extend(["-tag:v", "hvc1"]);
    }
    remux.extend([
        "-f",
        "mp4",
        "-movflags",
        "cmaf+frag_every_frame+empty_moov+default_base_moof",
        mp4.to_str().expect("utf-8"),
    ]);
    ffmpeg(&remux);
    (
        std::fs::read(ts).expect("ts"),
        std::fs::read(mp4).expect("mp4"),
    )
}

fn read_ts(data: &[u8]) -> (Vec<TrackInfo>, Vec<Sample>) {
    let mut ingest = TsIngest::default();
    let (mut tracks, mut samples) = (Vec::new(), Vec::new());
    // Odd-sized pieces: packets split across pushes.
    for piece in data.chunks(1000) {
        ingest.push(piece).expect("ts");
        while let Some(e) = ingest.poll() {
            match e {
                Event::Tracks(t) => tracks = t,
                Event::Sample(s) => samples.push(s),
                Event::Loss { pid, reason } => panic!("loss on {pid}: {reason}"),
            }
        }
    }
    ingest.finish().expect("finish");
    while let Some(e) = ingest.poll() {
        if let Event::Sample(s) = e {
            samples.push(s);
        }
    }
    (tracks, samples)
}

fn read_mp4(data: &[u8]) -> (Vec<TrackInfo>, Vec<Sample>) {
    let mut d = Demuxer::default();
    d.push(data).expect("mp4");
    d.finish().expect("finish");
    let (mut tracks, mut samples) = (Vec::new(), Vec::new());
    while let Some(e) = d.poll() {
        match e {
            demux::Event::Init(t) => tracks = t,
            demux::Event::Sample(s) => samples.push(s),
        }
    }
    (tracks, samples)
}

/// The NAL units of a length-prefixed sample without parameter sets and delimiters (ffmpeg's
/// remux keeps them in-band; tern puts them only in `avcC` or `hvcC`), and for H.265 without
/// SEI (x265's encoder-info SEI goes into ffmpeg's `hvcC` but stays in tern's first sample;
/// decoders need neither), each NAL unit without trailing zero bytes.
fn without_parameter_sets(mut data: &[u8], hevc: bool) -> Vec<u8> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let n = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let nal = &data[4..4 + n];
        let parameter_set = match hevc {
            false => matches!(nal[0] & 0x1f, 7..=9),
            true => matches!((nal[0] >> 1) & 0x3f, 32..=35 | 39 | 40),
        };
        if !parameter_set {
            // A NAL unit never ends in a zero byte (its RBSP ends with a stop bit); ffmpeg's
            // Annex-B conversion keeps the first zero of a following 4-byte start code.
            let mut nal = nal;
            while let [rest @ .., 0] = nal {
                nal = rest;
            }
            out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            out.extend_from_slice(nal);
        }
        data = &data[4 + n..];
    }
    out
}

/// (type, length) of each NAL unit of a length-prefixed sample.
fn nal_units(mut data: &[u8], hevc: bool) -> Vec<(u8, usize)> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let n = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let nal = &data[4..(4 + n).min(data.len())];
        let t = nal
            .first()
            .map_or(0, |b| if hevc { (b >> 1) & 0x3f } else { b & 0x1f });
        out.push((t, n));
        data = &data[(4 + n).min(data.len())..];
    }
    out
}

fn compare(case: &str, size: &str, video: &[&str], codec: &str, wh: (u16, u16)) {
    let d = dir(case);
    let (ts, mp4) = make(&d, size, video);
    let (ours, our_samples) = read_ts(&ts);
    let (theirs, their_samples) = read_mp4(&mp4);
    assert_eq!(ours.len(), 2, "{case}: video and audio");
    assert_eq!(ours[0].codec, codec, "{case}");
    assert_eq!((ours[0].width, ours[0].height), wh, "{case}");
    assert_eq!(ours[1].codec, "mp4a.40.2", "{case}");
    assert_eq!((ours[1].sample_rate, ours[1].channels), (44_100, 2));
    for (o, t) in ours.iter().zip(&theirs) {
        let fields = |x: &TrackInfo| {
            (
                x.id,
                x.kind,
                x.codec.clone(),
                x.timescale,
                x.width,
                x.height,
                x.sample_rate,
                x.channels,
            )
        };
        // ffmpeg's MP4 muxer names H.265 hev1 unless told; the rest of the string is the same.
        let hvc1 = |c: String| c.replacen("hev1.", "hvc1.", 1);
        assert_eq!(
            (
                fields(o).0,
                fields(o).1,
                fields(o).3,
                fields(o).4,
                fields(o).5
            ),
            (
                fields(t).0,
                fields(t).1,
                fields(t).3,
                fields(t).4,
                fields(t).5
            ),
            "{case}"
        );
        assert_eq!(hvc1(o.codec.clone()), hvc1(t.codec.clone()), "{case}");
        assert_eq!((o.sample_rate, o.channels), (t.sample_rate, t.channels));
        let entry = |x: &TrackInfo| x.trak.mdia.minf.stbl.stsd.codecs[0].clone();
        match (entry(o), entry(t)) {
            (mp4_atom::Codec::Avc1(a), mp4_atom::Codec::Avc1(b)) => {
                assert_eq!(a.avcc, b.avcc, "{case}: avcC");
                assert_eq!(
                    (a.visual.width, a.visual.height),
                    (b.visual.width, b.visual.height)
                );
            }
            (mp4_atom::Codec::Hvc1(a), mp4_atom::Codec::Hvc1(b)) => {
                let (x, y) = (&a.hvcc, &b.hvcc);
                let general = |h: &mp4_atom::Hvcc| {
                    (
                        h.general_profile_space,
                        h.general_tier_flag,
                        h.general_profile_idc,
                        h.general_profile_compatibility_flags,
                        h.general_constraint_indicator_flags,
                        h.general_level_idc,
                        h.chroma_format_idc,
                        h.bit_depth_luma_minus8,
                        h.bit_depth_chroma_minus8,
                        h.num_temporal_layers,
                        h.temporal_id_nested,
                        h.length_size_minus_one,
                    )
                };
                assert_eq!(general(x), general(y), "{case}: hvcC");
                // The parameter sets, by type (ffmpeg may add SEI arrays).
                for t in [32u8, 33, 34] {
                    let nalus = |h: &mp4_atom::Hvcc| {
                        h.arrays
                            .iter()
                            .find(|a| a.nal_unit_type == t)
                            .map(|a| a.nalus.clone())
                    };
                    assert_eq!(nalus(x), nalus(y), "{case}: hvcC array {t}");
                }
                assert_eq!(
                    (a.visual.width, a.visual.height),
                    (b.visual.width, b.visual.height)
                );
            }
            (mp4_atom::Codec::Mp4a(a), mp4_atom::Codec::Mp4a(b)) => {
                let dsi = |m: &mp4_atom::Mp4a| m.esds.es_desc.dec_config.dec_specific.clone();
                // AAC-LC (2), 44.1 kHz (index 4), stereo: 0x12 0x10. ffmpeg's remux of ADTS
                // into an fMP4 with an empty moov writes no AudioSpecificConfig at all (its
                // bitstream filter makes one only with the first packet, after the moov).
                let ours = dsi(&a).expect("an AudioSpecificConfig");
                assert_eq!(ours.raw, [0x12, 0x10], "{case}: AudioSpecificConfig");
                if let Some(theirs) = dsi(&b) {
                    assert_eq!(ours, theirs, "{case}: AudioSpecificConfig");
                }
                assert_eq!(a.audio.channel_count, b.audio.channel_count);
            }
            (a, b) => panic!("{case}: sample entries {a:?} vs {b:?}"),
        }
    }
    for track in [1u32, 2] {
        let mine: Vec<&Sample> = our_samples.iter().filter(|s| s.track == track).collect();
        let other: Vec<&Sample> = their_samples.iter().filter(|s| s.track == track).collect();
        assert_eq!(mine.len(), other.len(), "{case}: samples of track {track}");
        assert!(mine.len() >= 90, "{case}: {} samples", mine.len());
        let video = ours[track as usize - 1].kind == TrackKind::Video;
        for (n, (a, b)) in mine.iter().zip(&other).enumerate() {
            let at = format!("{case}: track {track} sample {n}");
            assert_eq!(a.keyframe, b.keyframe, "{at}");
            assert_eq!(a.timescale, b.timescale, "{at}");
            assert_eq!(a.cts_offset, b.cts_offset, "{at}");
            // ffmpeg gives the last sample of the stream a guessed duration.
            if n + 1 < mine.len() {
                assert_eq!(a.duration, b.duration, "{at}");
            }
            // Decode times follow from the durations (ffmpeg's fMP4 writer moves its first
            // fragments' times about, so its decode times are not compared).
            if let Some(next) = mine.get(n + 1) {
                assert_eq!(next.dts - a.dts, u64::from(a.duration), "{at}: timeline");
            }
            let hevc = codec.starts_with("hvc1");
            let (got, expected) = if video {
                (
                    without_parameter_sets(&a.data, hevc),
                    without_parameter_sets(&b.data, hevc),
                )
            } else {
                (a.data.to_vec(), b.data.to_vec())
            };
            assert!(
                got == expected,
                "{at}: bytes differ: NAL units {:?} vs {:?}",
                nal_units(&got, hevc),
                nal_units(&expected, hevc)
            );
        }
        assert!(mine[0].keyframe, "{case}: starts with a keyframe");
    }
    let _ = std::fs::remove_dir_all(d);
}

/// libx264 without B-frames, a keyframe a second.
const X264: &[&str] = &["-c:v", "libx264", "-bf", "0", "-g", "30"];

#[test]
fn high_profile_with_cropping_and_scaling_lists_matches_ffmpeg_fmp4() {
    // 426 is not a multiple of 16: the SPS crops; cqm=jvt puts scaling lists in the SPS.
    compare(
        "high",
        "426x240",
        &[
            X264,
            &[
                "-profile:v",
                "high",
                "-level",
                "3.1",
                "-x264-params",
                "cqm=jvt:keyint=30:min-keyint=30:scenecut=0",
            ],
        ]
        .concat(),
        "avc1.64001F",
        (426, 240),
    );
}

#[test]
fn constrained_baseline_matches_ffmpeg_fmp4() {
    compare(
        "baseline",
        "320x240",
        &[X264, &["-preset", "ultrafast", "-sc_threshold", "0"]].concat(),
        "avc1.42C00D",
        (320, 240),
    );
}

#[test]
fn hevc_main_matches_ffmpeg_fmp4() {
    // 426 is not a multiple of 8: the SPS has a conformance window.
    compare(
        "hevc",
        "426x240",
        &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error:keyint=30:min-keyint=30:scenecut=0:bframes=0",
        ],
        "hvc1.1.6.L60.90",
        (426, 240),
    );
}
