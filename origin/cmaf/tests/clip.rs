//! The CMAF mapping on real media: the sample clip ffmpeg made (`origin/assets/ladder.mp4`,
//! three H.264 renditions, AAC and Opus, one fragment per frame), demuxed, packaged into one
//! object per frame and one group per GOP, and written back as CMAF that ffprobe reads.

use std::collections::BTreeMap;
use std::process::Command;

use tern_cmaf::demux::{Demuxer, Event, Limits};
use tern_cmaf::mux::{init_segment, read_prft};
use tern_cmaf::packager::{MediaObject, Packager};
use tern_cmaf::{Error, Sample, TrackInfo, TrackKind, catalog};

const CLIP: &[u8] = include_bytes!("../../assets/ladder.mp4");

/// Demux `data` fed in pieces of `step` bytes; the input must be complete.
fn demux(data: &[u8], step: usize) -> (Vec<TrackInfo>, Vec<Sample>) {
    let (mut d, tracks, mut samples) = demux_prefix(data, step);
    d.finish().expect("complete input");
    while let Some(e) = d.poll() {
        if let Event::Sample(s) = e {
            samples.push(s);
        }
    }
    (tracks, samples)
}

/// Demux `data` (possibly cut short) fed in pieces of `step` bytes.
fn demux_prefix(data: &[u8], step: usize) -> (Demuxer, Vec<TrackInfo>, Vec<Sample>) {
    let mut d = Demuxer::new(Limits::default());
    let (mut tracks, mut samples) = (Vec::new(), Vec::new());
    for piece in data.chunks(step) {
        d.push(piece).expect("valid input");
        while let Some(e) = d.poll() {
            match e {
                Event::Init(t) => tracks = t,
                Event::Sample(s) => samples.push(s),
            }
        }
    }
    (d, tracks, samples)
}

#[test]
fn clip_tracks_and_samples() {
    let (tracks, samples) = demux(CLIP, 4096);
    let summary: Vec<(TrackKind, String, u16, u16)> = tracks
        .iter()
        .map(|t| (t.kind, t.codec.clone(), t.width, t.height))
        .collect();
    assert_eq!(summary.len(), 5, "{summary:?}");
    assert_eq!((summary[0].2, summary[0].3), (640, 360));
    assert_eq!((summary[1].2, summary[1].3), (426, 240));
    assert_eq!((summary[2].2, summary[2].3), (256, 144));
    assert!(
        summary[..3]
            .iter()
            .all(|t| t.0 == TrackKind::Video && t.1.starts_with("avc1."))
    );
    assert_eq!(summary[3].1, "mp4a.40.2");
    assert_eq!(summary[4].1, "opus");
    assert_eq!(tracks[3].sample_rate, 48_000);
    // 4 s at 30 fps per rendition, keyframes exactly every 30 frames.
    for t in &tracks[..3] {
        let frames: Vec<&Sample> = samples.iter().filter(|s| s.track == t.id).collect();
        assert_eq!(frames.len(), 120, "track {}", t.id);
        let keys: Vec<usize> = frames
            .iter()
            .enumerate()
            .filter(|(_, s)| s.keyframe)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(keys, vec![0, 30, 60, 90], "track {}", t.id);
    }
    // The byte-by-byte and the all-at-once reads agree.
    let (_, whole) = demux(CLIP, CLIP.len());
    assert_eq!(whole, samples);
    let (_, _, bytewise) = demux_prefix(&CLIP[..200_000], 1);
    assert_eq!(bytewise[..], samples[..bytewise.len()]);
}

fn package(tracks: &[TrackInfo], samples: &[Sample], base: u64) -> Vec<MediaObject> {
    let mut p = Packager::new(tracks.to_vec())
        .expect("tracks")
        .with_group_base(base);
    samples
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            p.push(s, 1_764_000_000_000_000 + i as u64)
                .expect("packaged")
        })
        .collect()
}

#[test]
fn one_group_per_gop_one_object_per_frame_audio_cut_with_video() {
    let (tracks, samples) = demux(CLIP, 65536);
    let objects = package(&tracks, &samples, 1000);
    assert_eq!(
        objects.len(),
        samples.len(),
        "one object per frame, none dropped"
    );
    // Groups per track: (group ID → object count).
    let mut groups: BTreeMap<usize, BTreeMap<u64, u64>> = BTreeMap::new();
    for o in &objects {
        let g = groups
            .entry(o.track)
            .or_default()
            .entry(o.group)
            .or_default();
        assert_eq!(o.object, *g, "objects numbered from 0 within a group");
        *g += 1;
    }
    // Every rendition: groups at 0, 1, 2, 3 s (plus the base), 30 frames each.
    for v in 0..3 {
        assert_eq!(
            groups[&v],
            BTreeMap::from([(1000, 30), (2000, 30), (3000, 30), (4000, 30)]),
            "rendition {v}"
        );
    }
    // Audio groups carry the same IDs as the video's GOPs.
    for a in 3..5 {
        let ids: Vec<u64> = groups[&a].keys().copied().collect();
        assert_eq!(ids, vec![1000, 2000, 3000, 4000], "audio track {a}");
    }
    // Each object is prft + one-frame CMAF chunk, stamped with its publish time.
    let first = &objects[0];
    let (track, micros, media) = read_prft(&first.payload).expect("prft first");
    assert_eq!(track, tracks[first.track].id);
    assert_eq!(micros, 1_764_000_000_000_000);
    assert_eq!(media, 0);
}

#[test]
fn chunks_decode_back_to_the_same_samples() {
    let (tracks, samples) = demux(CLIP, 65536);
    let objects = package(&tracks, &samples, 0);
    // Per track: its own init segment followed by its chunks is a valid fMP4 stream.
    for (i, t) in tracks.iter().enumerate() {
        let mut stream = init_segment(&[t]).to_vec();
        for o in objects.iter().filter(|o| o.track == i) {
            stream.extend_from_slice(&o.payload);
        }
        let (back_tracks, back) = demux(&stream, 1000);
        assert_eq!(back_tracks.len(), 1);
        assert_eq!(back_tracks[0].codec, t.codec);
        let want: Vec<&Sample> = samples.iter().filter(|s| s.track == t.id).collect();
        assert_eq!(back.len(), want.len());
        for (b, w) in back.iter().zip(want) {
            assert_eq!(b, w, "track {}", t.id);
        }
    }
}

/// ffprobe's view of a file: per stream, codec, size, packets and decoded frames.
fn ffprobe(path: &std::path::Path) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-count_packets",
            "-show_entries",
        ])
        .args(["stream=codec_name,width,height,nb_read_packets,nb_read_frames"])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("run ffprobe (apt-get install ffmpeg)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn ffprobe_reads_the_packaged_broadcast_as_the_original() {
    let (tracks, samples) = demux(CLIP, 65536);
    let objects = package(&tracks, &samples, 0);
    let refs: Vec<&TrackInfo> = tracks.iter().collect();
    let mut file = init_segment(&refs).to_vec();
    for o in &objects {
        file.extend_from_slice(&o.payload);
    }
    let dir = std::env::temp_dir().join(format!("tern-cmaf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let (original, packaged) = (dir.join("original.mp4"), dir.join("packaged.mp4"));
    std::fs::write(&original, CLIP).expect("write");
    std::fs::write(&packaged, &file).expect("write");
    let (want, got) = (ffprobe(&original), ffprobe(&packaged));
    let _ = std::fs::remove_dir_all(&dir);
    // Same codecs, sizes, packet and decoded-frame counts as the file ffmpeg wrote: every
    // frame survived the trip through one-frame chunks.
    assert_eq!(got, want);
    let kinds: Vec<&str> = got
        .iter()
        .map(|l| l.split(',').next().unwrap_or(""))
        .collect();
    assert_eq!(kinds, ["h264", "h264", "h264", "aac", "opus"]);
    assert!(got[0].starts_with("h264,640,360,"), "{got:?}");
    assert!(got.iter().all(|l| !l.ends_with(",0")), "{got:?}");
}

#[test]
fn catalogs_list_every_track() {
    let (tracks, samples) = demux(CLIP, 65536);
    let mut p = Packager::new(tracks.clone()).expect("tracks");
    for s in &samples {
        p.push(s, 0).expect("push");
    }
    let msf = catalog::msf("live/demo", p.tracks(), 5);
    let names: Vec<&str> = msf["tracks"]
        .as_array()
        .expect("tracks")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "video-360p",
            "video-240p",
            "video-144p",
            "audio-aac",
            "audio-opus"
        ]
    );
    let v = &msf["tracks"][0];
    assert_eq!(v["altGroup"], 1);
    assert_eq!(v["framerate"], 30.0);
    let kbps = v["bitrate"].as_u64().expect("bitrate") / 1000;
    assert!((300..=500).contains(&kbps), "{kbps} kbit/s");
    use base64::Engine;
    let init = base64::engine::general_purpose::STANDARD
        .decode(v["initData"].as_str().expect("initData"))
        .expect("base64");
    assert_eq!(&init[4..8], b"ftyp");
    let cf = catalog::catalogformat01("live/demo", p.tracks());
    assert_eq!(cf["tracks"][0]["initTrack"], "0.mp4");
    assert_eq!(cf["tracks"][3]["selectionParams"]["codec"], "mp4a.40.2");
}

#[test]
fn bad_input_names_the_problem() {
    // Truncated: cut inside the moov.
    let mut d = Demuxer::default();
    d.push(&CLIP[..600]).expect("a prefix is fine");
    assert!(matches!(d.finish(), Err(Error::Truncated(k)) if k == "moov"));
    // A file without keyframes: every frame marked non-sync.
    let (tracks, samples) = demux(CLIP, 65536);
    let mut p = Packager::new(tracks.clone()).expect("tracks");
    let err = samples
        .iter()
        .filter(|s| s.track == tracks[0].id)
        .map(|s| Sample {
            keyframe: false,
            ..s.clone()
        })
        .cycle()
        .take(400)
        .find_map(|s| p.push(&s, 0).err())
        .expect("refused");
    assert!(matches!(err, Error::NoKeyframe { .. }), "{err}");
    assert!(err.to_string().contains("keyframe"));
}
