//! MPEG-TS in, a MoQ broadcast out, played by a peer nobody here wrote: ffmpeg makes an
//! MPEG-TS file (test pattern + tone, libx264 without B-frames, AAC), the gateway's
//! `TsIngest` demuxes it into tracks and samples, `tern_origin::Broadcast` publishes them to a
//! `tern relay` at the pace of their timestamps, and Cloudflare's `moq-sub --catalog` plays the
//! broadcast into an MP4 that ffprobe reads with the right codecs, size and frame count. This
//! is the path the SRT gateway takes.
//!
//! Every wait is bounded; children are killed on drop; only 127.0.0.1 and port 0 are used.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{ChildGuard, Relay, TempDir, make_test_ts, peer, stop_moq_sub, video_aac_frames};
use tern_cmaf::{Sample, TrackInfo};
use tern_gateway::ingest::{Event, TsIngest};
use tern_moq::TrackNamespace;
use tern_origin::source::Pacer;
use tern_origin::{Broadcast, Options};
use tern_peer::{ConnectOptions, Session};

const FPS: u64 = 30;
const SECONDS: u64 = 5;

fn demux(ts: &[u8]) -> (Vec<TrackInfo>, Vec<Sample>) {
    let mut ingest = TsIngest::default();
    let (mut tracks, mut samples) = (Vec::new(), Vec::new());
    // 1316 bytes: seven packets, what one SRT datagram carries.
    for piece in ts.chunks(1316) {
        ingest.push(piece).expect("demux MPEG-TS");
        while let Some(e) = ingest.poll() {
            match e {
                Event::Tracks(t) => tracks = t,
                Event::Sample(s) => samples.push(s),
                Event::Loss { pid, reason } => panic!("a file loses nothing: {pid} {reason}"),
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

#[test]
fn e2e_mpeg_ts_samples_published_through_tern_relay_play_in_moq_sub() {
    let dir = TempDir::new("ts-ingest");
    let ts = std::fs::read(make_test_ts(&dir.0, SECONDS)).expect("read the input");
    let (tracks, samples) = demux(&ts);
    assert_eq!(tracks.len(), 2);
    assert!(
        tracks[0].codec.starts_with("avc1.64"),
        "{}",
        tracks[0].codec
    );
    assert_eq!(
        (tracks[0].timescale, tracks[0].width, tracks[0].height),
        (90_000, 320, 240)
    );
    assert_eq!(tracks[1].codec, "mp4a.40.2");
    assert_eq!(
        (tracks[1].timescale, tracks[1].sample_rate),
        (48_000, 48_000)
    );
    let video = samples.iter().filter(|s| s.track == 1).count() as u64;
    assert_eq!(video, FPS * SECONDS, "every frame demuxed");

    let relay = Relay::start(&[]);
    let url = relay.moqt_url();
    let ns = "e2e/ts";
    let out = dir.0.join("out.mp4");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (session, sub) = rt.block_on(async {
        let opts = ConnectOptions {
            disable_verify: true,
            ..ConnectOptions::default()
        };
        let session = Session::connect(&url, &opts).await.expect("connect");
        let namespace = TrackNamespace::from_path(ns);
        let mut broadcast = Broadcast::start(&session, namespace, tracks, &Options::default())
            .await
            .expect("start the broadcast");
        let mut cmd = Command::new(peer("moq-sub"));
        cmd.args(["--name", ns, &relay.https_url(), "--catalog"])
            .arg("--tls-disable-verify")
            .stdout(std::fs::File::create(&out).expect("create out.mp4"))
            .stderr(Stdio::inherit());
        let sub = ChildGuard::spawn("moq-sub", &mut cmd);
        // Give moq-sub its catalog and subscriptions before the first frame goes out.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let mut pacer = Pacer::new();
        let publish = async {
            for s in &samples {
                pacer.wait(s).await;
                broadcast.push(s).expect("push");
            }
        };
        tokio::time::timeout(Duration::from_secs(SECONDS + 10), publish)
            .await
            .expect("published in time");
        // Let the tail of the last group arrive before the tracks end.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        broadcast.finish();
        (session, sub)
    });
    stop_moq_sub(sub);
    drop(session);

    // moq-sub never flushes the bytes after the last newline-like byte it wrote: every frame
    // but possibly the last.
    let (frames, audio_frames) = video_aac_frames(&out, "h264", (320, 240));
    assert!(
        frames + 1 >= FPS * SECONDS && frames <= FPS * SECONDS,
        "{frames} video frames of {}",
        FPS * SECONDS
    );
    assert!(
        audio_frames * 1024 + 2 * 1024 >= SECONDS * 48_000,
        "{audio_frames} audio frames for {SECONDS} s"
    );
}
