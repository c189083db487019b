//! Forensic A/B watermarking end to end: an origin publishes two marked variants of a 180p
//! rendition from one ffmpeg run to a root relay; an edge relay linked to it runs the watermark
//! plugin. Two viewers with different ids subscribe at the edge; each capture is re-assembled
//! with 10 % of its groups missing, re-encoded by ffmpeg to 360p at CRF 35, and
//! `tern watermark detect` must name the viewer from its decoded pixels.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{ChildGuard, Relay, TempDir, pki, tern};
use tern::client::{ConnectOptions, Session};

const NAMESPACE: &str = "live/wm";
const TRACK: &str = "video-180p";
/// 5 frames per GOP at 25 fps: groups of 200 ms, a 64-bit codeword every 12.8 s.
const GROUP_MS: u64 = 200;
const CAPTURE: Duration = Duration::from_secs(14);
const VIEWERS: [&str; 2] = ["viewer-alice", "viewer-bob"];

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

/// What a viewer received: the init segment and each group's objects, in order.
struct Capture {
    init: bytes::Bytes,
    groups: Vec<(u64, Vec<bytes::Bytes>)>,
}

async fn watch(url: String, viewer: &str) -> Capture {
    let opts = ConnectOptions {
        disable_verify: true,
        ..ConnectOptions::default()
    };
    // The watermark plugin takes the session's token as the viewer's id.
    let session = Session::connect(&format!("{url}/live?jwt={viewer}"), &opts)
        .await
        .unwrap_or_else(|e| panic!("{viewer}: connect: {e}"));
    let ns = tern_moq::TrackNamespace::new(
        NAMESPACE
            .split('/')
            .map(|f| bytes::Bytes::copy_from_slice(f.as_bytes()))
            .collect(),
    );
    let mut init = session
        .subscribe(ns.clone(), b"0.mp4".to_vec(), None)
        .await
        .unwrap_or_else(|e| panic!("{viewer}: init track: {e}"));
    let init = tokio::time::timeout(Duration::from_secs(10), init.next())
        .await
        .expect("init segment in time")
        .expect("init track")
        .expect("an init object")
        .payload;
    let mut video = session
        .subscribe(ns, TRACK.as_bytes().to_vec(), None)
        .await
        .unwrap_or_else(|e| panic!("{viewer}: {TRACK}: {e}"));
    let mut groups: Vec<(u64, Vec<bytes::Bytes>)> = Vec::new();
    let deadline = tokio::time::Instant::now() + CAPTURE;
    while let Ok(next) = tokio::time::timeout_at(deadline, video.next()).await {
        let o = next.expect("video track").expect("the track does not end");
        match groups.last_mut() {
            Some((g, objects)) if *g == o.location.group => objects.push(o.payload),
            _ => groups.push((o.location.group, vec![o.payload])),
        }
    }
    session.close(0, "done");
    Capture { init, groups }
}

/// Re-assemble a capture without every tenth group (starting with the fifth: not the first,
/// which may be partial), then re-encode it as a pirate would: 360p, CRF 35.
fn pirate_copy(dir: &Path, name: &str, capture: &Capture) -> (PathBuf, usize) {
    let raw = dir.join(format!("{name}-raw.mp4"));
    let mut bytes = capture.init.to_vec();
    let mut dropped = 0;
    // The first group may start mid-GOP (the subscription joined late): it is left out.
    for (i, (_, objects)) in capture.groups.iter().enumerate().skip(1) {
        if i % 10 == 5 {
            dropped += 1;
            continue;
        }
        for o in objects {
            bytes.extend_from_slice(o);
        }
    }
    std::fs::write(&raw, bytes).expect("write capture");
    let out = dir.join(format!("{name}-360p-crf35.mp4"));
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i"])
        .arg(&raw)
        .args(["-vf", "scale=-2:360", "-c:v", "libx264", "-crf", "35"])
        .args(["-preset", "veryfast", "-fps_mode", "passthrough"])
        .arg(&out)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg re-encode of {name} failed");
    (out, dropped)
}

fn viewer_id(config: &Path, subject: &str) -> String {
    let out = Command::new(tern())
        .args(["watermark", "id", "--config"])
        .arg(config)
        .arg(subject)
        .output()
        .expect("tern watermark id");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("an id")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_watermark_two_viewers_two_ids() {
    let dir = TempDir::new("watermark");
    let config = write(
        &dir.0,
        "watermark.json",
        &format!(
            r#"{{"key": "e2e watermark key", "tracks": ["{TRACK}"], "group_ms": {GROUP_MS}}}"#
        ),
    );
    let plugin = tern_edge_wasm::testing::plugin("watermark");
    let edge_toml = write(
        &dir.0,
        "edge.toml",
        &format!(
            "[plugin]\nfile = \"{}\"\nconfig_file = \"{}\"\n",
            plugin.display(),
            config.display()
        ),
    );
    // A throwaway cluster: the edge is a member of the root's cluster, so it takes the
    // variants unmarked (a relay's privilege) and marks them for its own viewers.
    pki(&dir.0, "e2e", &["127.0.0.1", "edge"]);
    let pem = |name: &str| dir.0.join(name).display().to_string();
    let mut root_cmd = Command::new(tern());
    root_cmd
        .args(["relay", "--bind", "127.0.0.1:0"])
        .args([
            "--tls-cert",
            &pem("127.0.0.1.pem"),
            "--tls-key",
            &pem("127.0.0.1.key"),
        ])
        .env("TERN_CLUSTER_CA", pem("cluster-ca.pem"))
        .env("TERN_CLUSTER_PUBLISH", "any");
    let root = Relay::start_cmd(root_cmd, &[]);
    let mut edge_cmd = Command::new(tern());
    edge_cmd
        .args(["relay", "--bind", "127.0.0.1:0", "--config"])
        .arg(&edge_toml)
        .env("TERN_UPSTREAMS", root.moqt_url())
        .env("TERN_CLUSTER_CA", pem("cluster-ca.pem"))
        .env("TERN_CLUSTER_CERT", pem("edge.pem"))
        .env("TERN_CLUSTER_KEY", pem("edge.key"))
        .env("TERN_CLUSTER_PUBLISH", "any");
    let edge = Relay::start_cmd(edge_cmd, &[]);

    let reference = dir.0.join("reference.mp4");
    let mut origin_cmd = Command::new(tern());
    origin_cmd
        .args(["origin", &root.moqt_url(), "--tls-disable-verify"])
        .args(["--namespace", NAMESPACE, "--events", "false", "--watermark"])
        .args(["--wm-height", "180", "--wm-fps", "25", "--wm-gop", "5"])
        .arg("--record")
        .arg(&reference)
        .stdout(Stdio::null());
    let _origin = ChildGuard::spawn("tern origin", &mut origin_cmd);
    // Let the namespace reach the edge over its link.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let url = edge.moqt_url();
    let (alice, bob) = tokio::join!(watch(url.clone(), VIEWERS[0]), watch(url, VIEWERS[1]));
    for (viewer, c) in VIEWERS.iter().zip([&alice, &bob]) {
        assert!(
            c.groups.len() >= 60,
            "{viewer}: only {} groups",
            c.groups.len()
        );
    }
    // Same locations, different payloads in some groups: the edge marked each viewer.
    let differing = alice
        .groups
        .iter()
        .filter(|(g, objects)| {
            bob.groups
                .iter()
                .any(|(h, other)| h == g && other.first() != objects.first())
        })
        .count();
    assert!(
        differing > 5,
        "only {differing} groups differ between the viewers"
    );

    for (viewer, c) in VIEWERS.iter().zip([&alice, &bob]) {
        let (copy, dropped) = pirate_copy(&dir.0, viewer, c);
        assert!(
            dropped * 10 >= c.groups.len() - 10,
            "{viewer}: {dropped} groups dropped"
        );
        let out = Command::new(tern())
            .args(["watermark", "detect"])
            .arg(&copy)
            .arg("--reference")
            .arg(&reference)
            .arg("--config")
            .arg(&config)
            .args(VIEWERS.iter().flat_map(|v| ["--viewer", v]))
            .output()
            .expect("tern watermark detect");
        let stdout = String::from_utf8_lossy(&out.stdout);
        eprintln!(
            "{viewer}:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{viewer}: detection failed");
        let id = viewer_id(&config, viewer);
        assert!(
            stdout.contains(&format!("id: {id} ")),
            "{viewer}: expected id {id}"
        );
        assert!(stdout.contains(&format!("viewer: {viewer}\n")));
        let others: Vec<_> = VIEWERS.iter().filter(|v| *v != viewer).collect();
        for other in others {
            assert!(!stdout.contains(&format!("viewer: {other}\n")));
        }
    }
    assert_ne!(
        viewer_id(&config, VIEWERS[0]),
        viewer_id(&config, VIEWERS[1])
    );
    drop(edge);
    drop(root);
}
