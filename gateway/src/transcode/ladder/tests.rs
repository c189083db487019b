use std::process::Command;
use std::time::{Duration, Instant};

use super::*;

/// 4 s of 640x360 at 30 fps, a keyframe every second, as ffmpeg's fragmented MP4: its video
/// track and samples.
fn source() -> (TrackInfo, Vec<Sample>) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30:duration=4",
        ])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            "-bf",
            "0",
        ])
        .args(["-video_track_timescale", "90000"])
        .args([
            "-movflags",
            "cmaf+frag_keyframe+empty_moov+default_base_moof",
        ])
        .args(["-f", "mp4", "pipe:1"])
        .output()
        .expect("ffmpeg");
    assert!(out.status.success());
    let mut d = Demuxer::new(demux::Limits::default());
    d.push(&out.stdout).unwrap();
    d.finish().unwrap();
    let mut track = None;
    let mut samples = Vec::new();
    while let Some(e) = d.poll() {
        match e {
            demux::Event::Init(t) => track = t.into_iter().next(),
            demux::Event::Sample(s) => samples.push(s),
        }
    }
    (track.expect("a video track"), samples)
}

/// Feed `samples` (moved `shift` ticks later on the time line) at a steady pace from `t0`,
/// collecting what comes out; `kill_at`: the index of a sample before which the transcoder is
/// killed.
fn run(l: &mut Ladder, samples: &[Sample], shift: u64, kill_at: Option<usize>) -> Vec<Sample> {
    let t0 = Instant::now();
    let mut out = Vec::new();
    for (i, s) in samples.iter().enumerate() {
        if Some(i) == kill_at
            && let Some(p) = &mut l.process
        {
            p.child.kill().unwrap();
            p.child.wait().unwrap();
        }
        let mut s = s.clone();
        s.dts += shift;
        // The media's own clock: the backoff counts in it.
        let now = t0 + Duration::from_micros(s.dts.saturating_sub(shift) * 1_000_000 / 90_000);
        l.push(&s, now);
        out.extend(l.poll());
        std::thread::sleep(Duration::from_millis(4));
    }
    // Until nothing more comes for a second (at most 20 s).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = Instant::now();
    while Instant::now() < deadline && last.elapsed() < Duration::from_secs(1) {
        let more = l.poll();
        if !more.is_empty() {
            last = Instant::now();
        }
        out.extend(more);
        std::thread::sleep(Duration::from_millis(20));
    }
    out
}

#[test]
fn renditions_are_gop_aligned_with_the_source_on_its_time_line() {
    assert!(
        super::super::set_ffmpeg(Some("ffmpeg".into())),
        "transcoding on"
    );
    let (track, samples) = source();
    let shift = 90_000 * 1000;
    let rungs = vec![
        Rung {
            height: 240,
            bitrate: 400_000,
        },
        Rung {
            height: 120,
            bitrate: 150_000,
        },
    ];
    let mut l = Ladder::new(track, rungs, 10);
    let out = run(&mut l, &samples, shift, None);
    let tracks = l.take_tracks().expect("the renditions' tracks");
    assert!(l.take_tracks().is_none(), "told once");
    let sizes: Vec<(u32, u16, u16)> = tracks.iter().map(|t| (t.id, t.width, t.height)).collect();
    assert_eq!(sizes, [(10, 426, 240), (11, 214, 120)]);
    assert!(tracks.iter().all(|t| t.codec.starts_with("avc1.")));
    let source_keys: Vec<u64> = samples
        .iter()
        .filter(|s| s.keyframe)
        .map(|s| s.dts + shift)
        .collect();
    let source_times: Vec<u64> = samples.iter().map(|s| s.dts + shift).collect();
    for id in [10, 11] {
        let r: Vec<&Sample> = out.iter().filter(|s| s.track == id).collect();
        assert!(
            r.len() + 2 >= samples.len(),
            "rendition {id}: {} of {} frames",
            r.len(),
            samples.len()
        );
        assert!(
            r.iter().all(|s| source_times.contains(&s.dts)),
            "rendition {id} on the source's times"
        );
        let keys: Vec<u64> = r.iter().filter(|s| s.keyframe).map(|s| s.dts).collect();
        assert_eq!(
            keys, source_keys,
            "rendition {id}: a keyframe exactly where the source has one"
        );
    }
}

#[test]
fn a_killed_transcoder_is_restarted_and_its_renditions_resume_at_a_keyframe() {
    assert!(
        super::super::set_ffmpeg(Some("ffmpeg".into())),
        "transcoding on"
    );
    let (track, samples) = source();
    let rungs = vec![Rung {
        height: 180,
        bitrate: 200_000,
    }];
    let mut l = Ladder::new(track, rungs, 5);
    // Killed 1.5 s in: the restart waits 0.5 s, then for the keyframe at 2 s.
    let out = run(&mut l, &samples, 0, Some(45));
    assert_eq!(l.restarts(), 1);
    let times: Vec<u64> = out.iter().map(|s| s.dts).collect();
    assert!(
        times.iter().any(|t| *t < 90_000 * 3 / 2),
        "frames before the kill"
    );
    let after: Vec<&Sample> = out.iter().filter(|s| s.dts >= 90_000 * 3 / 2).collect();
    let first = after.first().expect("frames after the restart");
    assert!(
        first.keyframe && first.dts == 90_000 * 2,
        "resumes at the 2 s keyframe: {}",
        first.dts
    );
    assert!(
        after.len() >= 55,
        "{} frames after the restart",
        after.len()
    );
}
