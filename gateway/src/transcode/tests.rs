//! The transcoders with the real ffmpeg (the test command installs it).

use std::process::Command;
use std::time::Duration;

use super::*;
use crate::ingest::trak;

fn on() {
    assert!(set_ffmpeg(Some(PathBuf::from("ffmpeg"))), "transcoding on");
    check_ffmpeg(std::path::Path::new("ffmpeg"), true)
        .expect("ffmpeg with libopus, aac and libx264");
}

/// `seconds` of a 440 Hz tone from ffmpeg as `codec` in `format`.
fn tone(codec: &str, format: &str, seconds: u32) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency=440:sample_rate=48000:duration={seconds}"
        ))
        .args(["-ac", "2", "-c:a", codec, "-f", format, "pipe:1"])
        .output()
        .expect("ffmpeg (apt-get install ffmpeg)");
    assert!(out.status.success());
    out.stdout
}

/// Push `samples`, paced a little, and collect what the companion makes.
fn run(c: &mut Companion, samples: &[Sample]) -> Vec<Sample> {
    let mut out = Vec::new();
    let now = Instant::now();
    for s in samples {
        c.push(s, now);
        out.extend(c.poll());
        std::thread::sleep(Duration::from_millis(2));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut quiet = 0;
    while Instant::now() < deadline && quiet < 20 {
        let got = c.poll();
        quiet = if got.is_empty() { quiet + 1 } else { 0 };
        out.extend(got);
        std::thread::sleep(Duration::from_millis(50));
    }
    out
}

#[test]
fn aac_gets_an_opus_companion_on_its_time_line() {
    on();
    let adts = tone("aac", "adts", 2);
    let frames = split_adts(&adts).expect("adts");
    let h = frames[0].0;
    let source = trak::aac(2, &h);
    let video = trak::vp8(1, 640, 360);
    let mut companions = companions(&[video, source]);
    assert_eq!(companions.len(), 1);
    let c = &mut companions[0];
    assert_eq!(
        (c.source(), c.info().id, c.info().codec.as_str()),
        (2, 3, "opus")
    );
    // Starting 10 s into the broadcast's time line.
    let samples: Vec<Sample> = frames
        .iter()
        .enumerate()
        .map(|(i, (_, raw))| Sample {
            track: 2,
            dts: 480_000 + i as u64 * 1024,
            duration: 1024,
            cts_offset: 0,
            keyframe: true,
            timescale: 48_000,
            data: Bytes::copy_from_slice(raw),
        })
        .collect();
    let out = run(c, &samples);
    // 2 s of audio is 100 Opus frames of 20 ms; the encoder may hold back its last few.
    assert!(
        out.len() >= 90 && out.len() <= 101,
        "{} Opus frames",
        out.len()
    );
    assert!(
        out.iter()
            .all(|s| s.track == 3 && s.timescale == 48_000 && s.duration == 960)
    );
    assert_eq!(
        out[0].dts, 480_000,
        "the companion starts where its source did"
    );
    assert!(out.windows(2).all(|w| w[1].dts == w[0].dts + 960));
    // Each is an Opus packet: a TOC byte of a 20 ms stereo CELT or hybrid frame.
    assert!(
        out.iter()
            .all(|s| !s.data.is_empty() && s.data[0] & 0x04 != 0)
    );
}

#[test]
fn opus_gets_an_aac_companion() {
    on();
    let ogg = tone("libopus", "ogg", 2);
    let packets: Vec<Vec<u8>> = ogg::Reader::default()
        .push(&ogg)
        .expect("ogg")
        .into_iter()
        .filter(|p| !p.starts_with(b"OpusHead") && !p.starts_with(b"OpusTags"))
        .collect();
    assert!(packets.len() >= 99, "{} packets", packets.len());
    let source = trak::opus(1, 2, 312);
    let mut companions = companions(&[source]);
    assert_eq!(companions.len(), 1);
    let c = &mut companions[0];
    assert!(
        c.info().codec.starts_with("mp4a.40.2"),
        "{}",
        c.info().codec
    );
    let samples: Vec<Sample> = packets
        .iter()
        .enumerate()
        .map(|(i, p)| Sample {
            track: 1,
            dts: i as u64 * 960,
            duration: 960,
            cts_offset: 0,
            keyframe: true,
            timescale: 48_000,
            data: Bytes::copy_from_slice(p),
        })
        .collect();
    let out = run(c, &samples);
    // 2 s at 48 kHz is about 94 AAC frames of 1024 samples.
    assert!(
        out.len() >= 85 && out.len() <= 96,
        "{} AAC frames",
        out.len()
    );
    assert!(out.iter().all(|s| s.track == 2 && s.duration == 1024));
    assert_eq!(out[0].dts, 0);
}

#[test]
fn a_broadcast_with_both_gets_no_companions() {
    on();
    let aac = trak::aac(1, &crate::codec::aac::AdtsHeader::lc(48_000, 2));
    let opus = trak::opus(2, 2, 312);
    assert!(companions(&[aac, opus]).is_empty());
}

#[test]
fn adts_frames_are_cut_whole() {
    let h = AdtsHeader::lc(48_000, 2);
    let mut data = h.frame(&[1; 10]);
    data.extend(h.frame(&[2; 20]));
    let cut = data.len() - 5;
    let (frames, used) = whole_adts(&data[..cut]);
    assert_eq!(frames, vec![vec![1u8; 10]]);
    assert_eq!(used, 17);
    let (frames, used) = whole_adts(&data);
    assert_eq!(frames.len(), 2);
    assert_eq!(used, data.len());
}
