//! Priorities on a link too thin for the video: the relay sits in a network namespace of the
//! test's own, joined to the host by a veth pair whose namespace end is capped with `tc tbf`
//! below the 360p rendition's bitrate. One viewer session on the host subscribes to the audio
//! (publisher priority 1) and the 360p video (priority 2) of `tern origin`'s sample clip. The
//! audio keeps flowing (the relay sends higher-priority streams first), while the video falls
//! behind and the relay drops its old groups to jump to the newest (counted in `/metrics`).
//!
//! Needs root (`ip netns`, `tc`); every child is killed and the namespace deleted on drop.

mod common;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{ChildGuard, Lines, NetNs, tern};
use tern::client::{ConnectOptions, Session};
use tern_moq::TrackNamespace;

/// The cap: below the 360p video (~400 kbit/s) plus audio (~64 kbit/s).
const CAP_KBIT: u32 = 250;
/// How long the viewer watches under the cap.
const WATCH: Duration = Duration::from_secs(12);

/// Objects of `sub` as (group, object, arrival since `start`) until [`WATCH`] is over.
async fn collect(mut sub: tern::client::Subscription, start: Instant) -> Vec<(u64, u64, Duration)> {
    let mut got = Vec::new();
    while let Ok(Ok(Some(o))) =
        tokio::time::timeout(WATCH.saturating_sub(start.elapsed()), sub.next()).await
    {
        got.push((o.location.group, o.location.object, start.elapsed()));
    }
    got
}

#[test]
fn e2e_priority_audio_flows_while_video_drops_groups() {
    let netns = NetNs::create().unwrap_or_else(|e| panic!("network namespace: {e}"));
    // The relay and the origin both inside the namespace: only the viewer's link is capped.
    let mut relay_cmd = netns.command(&tern());
    relay_cmd
        .args(["relay", "--bind", &format!("{}:0", netns.ns_ip)])
        .args(["--admin-bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut relay = ChildGuard::spawn("tern relay", &mut relay_cmd);
    let mut out = Lines::new(relay.child.stdout.take().expect("stdout"));
    let banner = out.wait_for(1, Duration::from_secs(30), |l| {
        l.starts_with("tern relay listening on ")
    });
    let addr = banner
        .first()
        .and_then(|l| l.split_whitespace().nth(4))
        .unwrap_or_else(|| panic!("relay banner: {:?}", out.seen))
        .to_owned();
    let url = format!("moqt://{addr}");
    let mut origin_cmd = netns.command(&tern());
    origin_cmd
        .args([
            "origin",
            &url,
            "--tls-disable-verify",
            "--namespace",
            "live/prio",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut origin = ChildGuard::spawn("tern origin", &mut origin_cmd);
    let mut err = Lines::new(origin.child.stderr.take().expect("stderr"));
    let started = err.wait_for(1, Duration::from_secs(20), |l| {
        l.contains("tern: publishing")
    });
    assert!(!started.is_empty(), "origin did not start: {:?}", err.seen);
    netns.cap(CAP_KBIT).unwrap_or_else(|e| panic!("{e}"));

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (audio, video) = rt.block_on(async {
        let opts = ConnectOptions {
            disable_verify: true,
            ..ConnectOptions::default()
        };
        // Every step is bounded: a stall says which one.
        let step = Duration::from_secs(20);
        let session = tokio::time::timeout(step, Session::connect(&url, &opts))
            .await
            .expect("the viewer connects through the capped link within 20 s")
            .expect("viewer connects");
        let ns = TrackNamespace::from_path("live/prio");
        let a = tokio::time::timeout(step, session.subscribe(ns.clone(), "audio-aac", None))
            .await
            .expect("SUBSCRIBE_OK for the audio within 20 s")
            .expect("audio subscription");
        let v = tokio::time::timeout(step, session.subscribe(ns, "video-360p", None))
            .await
            .expect("SUBSCRIBE_OK for the video within 20 s")
            .expect("video subscription");
        let start = Instant::now();
        tokio::join!(collect(a, start), collect(v, start))
    });
    drop(origin);
    drop(relay);

    // Audio: about 47 frames a second arrive throughout, with no long silence after the start.
    let late: Vec<Duration> = audio
        .iter()
        .map(|(_, _, t)| *t)
        .filter(|t| *t > Duration::from_secs(3))
        .collect();
    let seconds = (WATCH - Duration::from_secs(3)).as_secs_f64();
    let rate = late.len() as f64 / seconds;
    assert!(
        rate > 40.0,
        "audio under the cap: {rate:.1} frames/s ({} in total)",
        audio.len()
    );
    let longest_gap = late
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    assert!(
        longest_gap < Duration::from_millis(1000),
        "audio stalled for {longest_gap:?}"
    );

    // Video: it cannot fit, so it falls behind and whole groups are skipped.
    let frames = video.len() as f64 / WATCH.as_secs_f64();
    let groups: BTreeSet<u64> = video.iter().map(|(g, _, _)| *g).collect();
    eprintln!(
        "audio {:.1} frames/s, longest gap {longest_gap:?}; video {frames:.1} frames/s in {} groups",
        rate,
        groups.len()
    );
    assert!(
        frames < 27.0,
        "video at {frames:.1} frames/s fit through {CAP_KBIT} kbit/s"
    );
    assert!(!video.is_empty(), "the video is not starved outright");
}
