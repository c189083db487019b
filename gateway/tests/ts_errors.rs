//! What the MPEG-TS ingest says about broken or unsupported input, and how it carries on after
//! packet loss. Streams are made here by a tiny test muxer (PAT, PMT, PES packets) or taken
//! from the fuzz corpus (made by ffmpeg).

use std::path::PathBuf;

use tern_gateway::Error;
use tern_gateway::ingest::{Event, TsIngest};
use tern_gateway::ts::psi::crc32;

const PMT_PID: u16 = 0x1000;
const VIDEO_PID: u16 = 0x100;
const AUDIO_PID: u16 = 0x101;

/// A tiny MPEG-TS writer: continuity counters per PID, PES split over packets with stuffing.
#[derive(Default)]
struct Mux {
    out: Vec<u8>,
    cc: std::collections::HashMap<u16, u8>,
}

impl Mux {
    fn packets(&mut self, pid: u16, data: &[u8]) {
        let mut first = true;
        for chunk in data.chunks(184) {
            let cc = self.cc.entry(pid).or_insert(0);
            let mut p = vec![
                0x47,
                (pid >> 8) as u8 | if first { 0x40 } else { 0 },
                pid as u8,
            ];
            if chunk.len() == 184 {
                p.push(0x10 | *cc);
            } else {
                // Adaptation field of stuffing in front of a short payload.
                p.push(0x30 | *cc);
                let af = 183 - chunk.len();
                p.push(af as u8);
                if af > 0 {
                    p.push(0);
                    p.extend(std::iter::repeat_n(0xff, af - 1));
                }
            }
            p.extend_from_slice(chunk);
            assert_eq!(p.len(), 188);
            self.out.extend_from_slice(&p);
            *cc = (*cc + 1) & 0x0f;
            first = false;
        }
    }

    fn section(&mut self, pid: u16, mut s: Vec<u8>) {
        let crc = crc32(&s);
        s.extend_from_slice(&crc.to_be_bytes());
        s.insert(0, 0); // pointer_field
        self.packets(pid, &s);
    }

    fn psi(&mut self, streams: &[(u8, u16)]) {
        self.section(
            0,
            vec![0x00, 0xb0, 0x0d, 0, 1, 0xc1, 0, 0, 0, 1, 0xf0, 0x00],
        );
        let mut pmt = vec![0x02, 0xb0, 0, 0, 1, 0xc1, 0, 0, 0xe1, 0x00, 0xf0, 0x00];
        for (t, pid) in streams {
            pmt.extend_from_slice(&[*t, 0xe0 | (pid >> 8) as u8, *pid as u8, 0xf0, 0x00]);
        }
        pmt[2] = (pmt.len() + 4 - 3) as u8;
        self.section(PMT_PID, pmt);
    }

    fn pes(&mut self, pid: u16, stream_id: u8, pts: u64, es: &[u8]) {
        let t = pts & ((1 << 33) - 1);
        let mut d = vec![0, 0, 1, stream_id, 0, 0, 0x80, 0x80, 5];
        d.extend_from_slice(&[
            0x21 | ((t >> 29) as u8 & 0x0e),
            (t >> 22) as u8,
            ((t >> 14) as u8 & 0xfe) | 1,
            (t >> 7) as u8,
            ((t << 1) as u8) | 1,
        ]);
        d.extend_from_slice(es);
        self.packets(pid, &d);
    }
}

/// Annex-B access unit: the given NAL units with start codes.
fn au(nals: &[&[u8]]) -> Vec<u8> {
    nals.iter()
        .flat_map(|n| [&[0, 0, 0, 1][..], n].concat())
        .collect()
}

/// A 1280x720 High profile SPS and a PPS.
const SPS: &[u8] = b"gd\0\x1f\xac$\x84\x01@\x16\xec\x04@\0\0\x03\0@\0\0\x0c#\xc6\x0c\x92";
const PPS: &[u8] = b"h\xee2\xc8\xb0";

fn run(data: &[u8]) -> (Result<(), Error>, Vec<Event>) {
    let mut ingest = TsIngest::default();
    let mut events = Vec::new();
    let mut result = ingest.push(data);
    if result.is_ok() {
        result = ingest.finish();
    }
    while let Some(e) = ingest.poll() {
        events.push(e);
    }
    (result, events)
}

fn video_samples(events: &[Event]) -> Vec<(u64, u32, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Sample(s) if s.track == 1 => Some((s.dts, s.duration, s.keyframe)),
            _ => None,
        })
        .collect()
}

#[test]
fn ffmpeg_seed_gives_tracks_and_samples() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/ts/av-baseline.ts");
    let (result, events) = run(&std::fs::read(path).expect("seed"));
    result.expect("a clean ffmpeg stream");
    let Some(Event::Tracks(tracks)) = events.first() else {
        panic!("tracks first: {:?}", events.first());
    };
    assert_eq!(tracks[0].codec, "avc1.42C00A");
    assert_eq!((tracks[0].width, tracks[0].height), (64, 48));
    assert_eq!(
        (tracks[1].codec.as_str(), tracks[1].sample_rate),
        ("mp4a.40.2", 8000)
    );
    assert_eq!(video_samples(&events).len(), 10, "1 s at 10 fps");
}

#[test]
fn timestamps_continue_across_the_33_bit_wrap() {
    let mut m = Mux::default();
    m.psi(&[(0x1b, VIDEO_PID)]);
    let start = (1u64 << 33) - 6000;
    for n in 0..4u64 {
        let idr: &[u8] = if n == 0 {
            &[0x65, 0x88, 0x84]
        } else {
            &[0x41, 0x9a, 0x02]
        };
        m.pes(VIDEO_PID, 0xe0, start + n * 3000, &au(&[SPS, PPS, idr]));
    }
    let (result, events) = run(&m.out);
    result.expect("stream");
    assert_eq!(
        video_samples(&events),
        [
            (start, 3000, true),
            (start + 3000, 3000, false),
            (start + 6000, 3000, false),
            (start + 9000, 3000, false),
        ],
        "decode times keep growing past 2^33 and durations stay one frame"
    );
}

#[test]
fn a_keyframe_without_sps_is_named() {
    let mut m = Mux::default();
    m.psi(&[(0x1b, VIDEO_PID)]);
    m.pes(VIDEO_PID, 0xe0, 9000, &au(&[PPS, &[0x65, 0x88]]));
    let (result, _) = run(&m.out);
    let err = result.unwrap_err();
    assert!(
        matches!(err, Error::MissingParameterSets { missing: "SPS", .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("SPS missing before the first keyframe"),
        "{err}"
    );
}

#[test]
fn unsupported_codecs_and_missing_tables_are_named() {
    let mut m = Mux::default();
    m.psi(&[(0x33, VIDEO_PID), (0x0f, AUDIO_PID)]);
    let err = run(&m.out).0.unwrap_err();
    assert!(err.to_string().contains("0x33 (H.266) on PID 256"), "{err}");

    // Only elementary stream packets: no PAT.
    let mut m = Mux::default();
    for n in 0..5000 {
        m.pes(VIDEO_PID, 0xe0, n * 3000, &[0, 0, 1, 0x41]);
    }
    let err = run(&m.out).0.unwrap_err();
    assert!(matches!(err, Error::NoPat { .. }), "{err}");

    let err = run(b"RIFF\x24\x00\x00\x00WAVEfmt ").0.unwrap_err();
    assert!(err.to_string().contains("not MPEG-TS"), "{err}");
    let mut junk = vec![0x47; 188];
    junk.extend(std::iter::repeat_n(0x00, 188));
    let err = run(&junk).0.unwrap_err();
    assert!(err.to_string().contains("at byte 188"), "{err}");
}

/// A video stream of six frames at 30 fps (a keyframe, then 1 kB frames), from 1 s.
fn six_frames() -> Mux {
    let mut m = Mux::default();
    m.psi(&[(0x1b, VIDEO_PID)]);
    let big = vec![0x41u8; 1000];
    for n in 0..6u64 {
        let data = if n == 0 {
            au(&[SPS, PPS, &[0x65, 0x88]])
        } else {
            au(&[&[0x41, 0x9a], &big])
        };
        m.pes(VIDEO_PID, 0xe0, 90_000 + n * 3000, &data);
    }
    m
}

#[test]
fn a_lost_packet_is_reported_and_the_stream_goes_on() {
    let m = six_frames();
    // Drop the second packet of the third frame's PES.
    let packets: Vec<&[u8]> = m.out.chunks(188).collect();
    let third = packets
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            p[1] & 0x40 != 0 && (u16::from(p[1] & 0x1f) << 8 | u16::from(p[2])) == VIDEO_PID
        })
        .nth(2)
        .map(|(i, _)| i)
        .expect("third PES");
    let mut lossy = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        if i != third + 1 {
            lossy.extend_from_slice(p);
        }
    }
    let (result, events) = run(&lossy);
    result.expect("loss is not fatal");
    assert!(
        events.iter().any(
            |e| matches!(e, Event::Loss { pid: VIDEO_PID, reason } if reason.contains("continuity"))
        ),
        "the loss is reported: {events:?}"
    );
    let frames = video_samples(&events);
    assert_eq!(
        frames.len(),
        5,
        "the broken frame alone is dropped: {frames:?}"
    );
    // The frame before the broken one went out when the broken one's PES began (before the
    // loss was known), with its own duration; the frame after keeps its own time: the broken
    // frame's slot stays empty.
    assert_eq!(
        (frames[1].0, frames[1].1),
        (93_000, 3000),
        "the frame before the gap: {frames:?}"
    );
    assert_eq!(frames[2].0, 99_000, "the frame after the gap: {frames:?}");
}

#[test]
fn bytes_lost_mid_packet_cost_the_packets_they_hit_once_the_stream_is_known() {
    // An SRT message dropped too late, or a datagram lost: a stretch of bytes that does not end
    // on a packet boundary. The demuxer finds the next packet and goes on.
    let m = six_frames();
    // Lose 300 bytes from inside the third frame, then feed in SRT-sized pieces.
    let at = m.out.len() / 2 + 17;
    let mut lossy = m.out[..at].to_vec();
    lossy.extend_from_slice(&m.out[at + 300..]);
    let mut ingest = TsIngest::default();
    for piece in lossy.chunks(1316) {
        ingest.push(piece).expect("loss mid-stream is not fatal");
    }
    ingest.finish().expect("finish");
    let events: Vec<Event> = std::iter::from_fn(|| ingest.poll()).collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Loss { reason, .. } if reason.contains("passed over"))),
        "the lost alignment is reported: {events:?}"
    );
    let frames = video_samples(&events);
    assert!(
        (4..=5).contains(&frames.len()),
        "only the frames that lost bytes are dropped: {frames:?}"
    );
    assert_eq!(frames.last().map(|f| f.0), Some(90_000 + 5 * 3000));

    // Before the stream showed itself to be MPEG-TS, a wrong byte is still an error.
    let mut junk = m.out[..188].to_vec();
    junk[0] = 0x46;
    let err = run(&junk).0.unwrap_err();
    assert!(err.to_string().contains("sync byte"), "{err}");
}

/// A 320x240 High profile SPS and its PPS (x264's).
const SPS_240: &[u8] =
    b"gd\x00\r\xac\xb2\x02\x83\xf6\x02 \x00\x00\x03\x00 \x00\x00\x07\x81\xe2\x85I";
const PPS_240: &[u8] = b"h\xeb\xc3\xcb\"\xc0";

/// An encoder that restarts at a new size on the same stream (a new SPS at a keyframe): the
/// tracks are told again, after the old size's last frame and before the new size's first, and
/// the stream goes on.
#[test]
fn a_new_sps_at_a_keyframe_retells_the_tracks() {
    let mut m = Mux::default();
    m.psi(&[(0x1b, VIDEO_PID)]);
    m.pes(VIDEO_PID, 0xe0, 90_000, &au(&[SPS, PPS, &[0x65, 0x88]]));
    m.pes(VIDEO_PID, 0xe0, 93_000, &au(&[&[0x41, 0x9a]]));
    // The same SPS again at a keyframe changes nothing.
    m.pes(VIDEO_PID, 0xe0, 96_000, &au(&[SPS, PPS, &[0x65, 0x88]]));
    m.pes(
        VIDEO_PID,
        0xe0,
        99_000,
        &au(&[SPS_240, PPS_240, &[0x65, 0x88]]),
    );
    m.pes(VIDEO_PID, 0xe0, 102_000, &au(&[&[0x41, 0x9a]]));
    let (result, events) = run(&m.out);
    result.expect("a stream whose size changes is still a stream");
    let seen: Vec<String> = events
        .iter()
        .map(|e| match e {
            Event::Tracks(t) => format!("tracks {}x{}", t[0].width, t[0].height),
            Event::Sample(s) => format!("sample {}", s.dts),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        seen,
        [
            "tracks 1280x720",
            "sample 90000",
            "sample 93000",
            "sample 96000",
            "tracks 320x240",
            "sample 99000",
            "sample 102000"
        ]
    );
}

/// An encoder that restarts its clock on the same stream (a hardware encoder's restart, a
/// looped file): the stream goes on, decode times as the source gave them (the publish stage's
/// time line cuts the jump out), every duration a plausible frame.
#[test]
fn a_clock_that_starts_again_is_not_an_error() {
    let mut m = Mux::default();
    m.psi(&[(0x1b, VIDEO_PID)]);
    for (n, pts) in [900_000u64, 903_000, 906_000, 90_000, 93_000]
        .into_iter()
        .enumerate()
    {
        let data = if n == 0 || n == 3 {
            au(&[SPS, PPS, &[0x65, 0x88]])
        } else {
            au(&[&[0x41, 0x9a]])
        };
        m.pes(VIDEO_PID, 0xe0, pts, &data);
    }
    let (result, events) = run(&m.out);
    result.expect("a clock that starts again is still a stream");
    assert_eq!(
        video_samples(&events),
        [
            (900_000, 3000, true),
            (903_000, 3000, false),
            (906_000, 3000, false),
            (90_000, 3000, true),
            (93_000, 3000, false),
        ]
    );
}

/// A video frame goes out as soon as the next PES packet starts (its header says the next
/// decode time, so the frame's duration): one frame sooner than waiting for the next frame
/// to end.
#[test]
fn a_frame_goes_out_when_the_next_one_starts() {
    let mut m = Mux::default();
    m.psi(&[(0x1b, VIDEO_PID)]);
    m.pes(VIDEO_PID, 0xe0, 90_000, &au(&[SPS, PPS, &[0x65, 0x88]]));
    m.pes(VIDEO_PID, 0xe0, 93_000, &au(&[&[0x41, 0x9a]]));
    // PAT, PMT, the first frame's packet, the second frame's first (and only) packet.
    assert_eq!(m.out.len(), 4 * 188);
    let mut ingest = TsIngest::default();
    ingest.push(&m.out).expect("push");
    let events: Vec<Event> = std::iter::from_fn(|| ingest.poll()).collect();
    assert_eq!(video_samples(&events), [(90_000, 3000, true)]);
}
