//! Real media through `tern relay`: ffmpeg (H.264 CMAF, one fragment per frame) → Cloudflare's
//! `moq-pub` → `tern relay` → Cloudflare's `moq-sub --catalog` → an MP4 file checked with
//! ffprobe and byte for byte against what ffmpeg produced.
//!
//! Four cases: moq-pub in PUBLISH_NAMESPACE mode and in `--publish` (PUBLISH per track) mode,
//! each with the subscriber arriving before any media exists and ~1 s into the stream.
//!
//! What the steps prove:
//! - moq-sub first reads the `.catalog` track, then subscribes to the init track (`0.mp4`, a
//!   one-object track: ftyp+moov) and the video track (`1.m4s`, one group per GOP, one object
//!   per moof+mdat). A late subscriber gets the init object only if the relay kept it: it was
//!   published seconds before (the relay caches the newest group of every track).
//! - The output is byte for byte ffmpeg's init segment and all its fragments (moof + mdat),
//!   in order, for the late subscriber too (unfiltered SUBSCRIBE, served from the relay's
//!   cache of recent groups): nothing lost, reordered or altered on the way (except the
//!   tail moq-sub itself never flushes; see step 5).
//! - ffprobe decodes it as H.264 320x240 with the expected number of frames.
//!
//! Every wait is bounded; children are killed on drop; only 127.0.0.1 and port 0 are used.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{ChildGuard, Relay, peer, peer16};

const FPS: usize = 30;
/// GOP length in frames: one MoQ group per GOP.
const GOP: usize = 30;
const SECONDS: usize = 6;
/// Frames ffmpeg encodes.
const FRAMES: usize = FPS * SECONDS;

/// How moq-pub announces its tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PubMode {
    /// PUBLISH_NAMESPACE only; the relay subscribes upstream on demand.
    Namespace,
    /// `--publish`: PUBLISH_NAMESPACE, then a PUBLISH per track as it is created.
    Publish,
}

/// When the subscriber starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Join {
    /// After moq-pub has connected and announced the namespace but before ffmpeg wrote a
    /// byte: the catalog, init and video tracks do not exist yet.
    BeforeMedia,
    /// When moq-pub starts its second group (≥ 1 s of media published, init long gone).
    Late,
}

/// Lines of a child's pipe, collected by a thread, with bounded waits for a match.
struct Lines {
    rx: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    fn watch(pipe: impl Read + Send + 'static, echo: &'static str) -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if !echo.is_empty() {
                    eprintln!("[{echo}] {line}");
                }
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            rx,
            seen: Vec::new(),
        }
    }

    /// Wait until a line contains `needle`; panics after `timeout`.
    fn wait_for(&mut self, needle: &str, timeout: Duration, what: &str) {
        if self.seen.iter().any(|l| l.contains(needle)) {
            return;
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    let hit = line.contains(needle);
                    self.seen.push(line);
                    if hit {
                        return;
                    }
                }
                Err(_) => panic!(
                    "{what}: no line with {needle:?} within {timeout:?}; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

/// Top-level ISO-BMFF boxes of `data`: (type, whole box). Stops at a truncated box.
fn boxes(data: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while data.len() - at >= 8 {
        let size32 = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
        let kind = [data[at + 4], data[at + 5], data[at + 6], data[at + 7]];
        let size = match size32 {
            0 => data.len() - at,
            1 => {
                if data.len() - at < 16 {
                    break;
                }
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[at + 8..at + 16]);
                usize::try_from(u64::from_be_bytes(b)).unwrap_or(usize::MAX)
            }
            n => n as usize,
        };
        if size < 8 || size > data.len() - at {
            break;
        }
        out.push((kind, &data[at..at + size]));
        at += size;
    }
    out
}

/// The init segment (the leading ftyp and moov boxes) of a fragmented MP4.
fn init_segment(data: &[u8]) -> &[u8] {
    let b = boxes(data);
    assert!(
        b.len() >= 2 && &b[0].0 == b"ftyp" && &b[1].0 == b"moov",
        "ffmpeg output does not start with ftyp, moov"
    );
    &data[..b[0].1.len() + b[1].1.len()]
}

/// Each fragment (moof + mdat, one per frame here) of a fragmented MP4, in order.
fn fragments(data: &[u8]) -> Vec<Vec<u8>> {
    let b = boxes(data);
    b.windows(2)
        .filter(|w| &w[0].0 == b"moof" && &w[1].0 == b"mdat")
        .map(|w| [w[0].1, w[1].1].concat())
        .collect()
}

/// The groups (GOPs) a subscriber's output `got` holds, in the order it wrote them, and what
/// it should have written given that order: the init segment, then each group's fragments
/// whole and in order. `None` until `got` holds the init segment and a known fragment, or
/// when a complete fragment in `got` is none of the reference's.
fn expected_output(
    got: &[u8],
    init: &[u8],
    fragments: &[Vec<u8>],
) -> Option<(Vec<usize>, Vec<u8>)> {
    let mut rest = got.strip_prefix(init)?;
    let mut groups: Vec<usize> = Vec::new();
    while !rest.is_empty() {
        let known = fragments.iter().position(|f| rest.starts_with(f));
        let index = match known {
            Some(i) => i,
            // The unflushed tail: the start of a fragment (a group's first one when it opens
            // a new group).
            None => fragments
                .iter()
                .position(|f| f.starts_with(rest))
                .filter(|i| groups.last() == Some(&(i / GOP)) || i % GOP == 0)?,
        };
        if groups.last() != Some(&(index / GOP)) {
            groups.push(index / GOP);
        }
        let Some(i) = known else { break };
        rest = &rest[fragments[i].len()..];
    }
    groups.first()?;
    let mut out = init.to_vec();
    for g in &groups {
        for f in &fragments[g * GOP..((g + 1) * GOP).min(fragments.len())] {
            out.extend_from_slice(f);
        }
    }
    Some((groups, out))
}

/// The received bytes `got` (init segment, then whole groups of fragments in arrival order, the
/// last one possibly cut short) with the groups in ascending order. `None` when a group other
/// than the last one written is incomplete (the reordered file would be broken in the middle).
fn in_group_order(got: &[u8], init: &[u8], fragments: &[Vec<u8>]) -> Option<Vec<u8>> {
    let mut rest = got.strip_prefix(init)?;
    // (group, its bytes as received, complete)
    let mut parts: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut cut_short = None;
    while !rest.is_empty() {
        let (index, len) = match fragments.iter().position(|f| rest.starts_with(f)) {
            Some(i) => (i, fragments[i].len()),
            None => {
                let i = fragments.iter().position(|f| f.starts_with(rest))?;
                cut_short = Some(i / GOP);
                (i, rest.len())
            }
        };
        let group = index / GOP;
        match parts.last_mut() {
            Some((g, bytes)) if *g == group => bytes.extend_from_slice(&rest[..len]),
            _ => parts.push((group, rest[..len].to_vec())),
        }
        rest = &rest[len..];
    }
    parts.sort_by_key(|(g, _)| *g);
    if cut_short.is_some_and(|g| parts.last().is_some_and(|(last, _)| *last != g)) {
        return None;
    }
    let mut out = init.to_vec();
    for (_, bytes) in parts {
        out.extend_from_slice(&bytes);
    }
    Some(out)
}

fn ffmpeg_command() -> Command {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i"])
        .arg(format!(
            "testsrc=size=320x240:rate={FPS}:duration={SECONDS}"
        ))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
        ])
        .args(["-pix_fmt", "yuv420p", "-bf", "0"])
        // Exactly one keyframe every GOP frames: no scene-cut keyframes in between.
        .args(["-g", &GOP.to_string(), "-keyint_min", &GOP.to_string()])
        .args(["-sc_threshold", "0"])
        .args(["-f", "mp4", "-movflags"])
        .arg("cmaf+frag_every_frame+empty_moov+default_base_moof")
        .arg("-");
    cmd
}

/// ffprobe's view of the first video stream: (codec, width, height, packets, frames).
fn ffprobe(path: &Path) -> (String, u64, u64, u64, u64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-count_packets"])
        .args(["-show_streams", "-of", "json"])
        .arg(path)
        .output()
        .expect("run ffprobe (apt-get install ffmpeg)");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "ffprobe printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let stream = json["streams"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["codec_type"] == "video"))
        .unwrap_or_else(|| panic!("no video stream in {}: {json}", path.display()));
    let num = |k: &str| {
        stream[k]
            .as_u64()
            .or_else(|| stream[k].as_str().and_then(|s| s.parse().ok()))
            .unwrap_or_else(|| panic!("ffprobe {k} missing: {stream}"))
    };
    (
        stream["codec_name"].as_str().unwrap_or("").to_owned(),
        num("width"),
        num("height"),
        num("nb_read_packets"),
        num("nb_read_frames"),
    )
}

fn out_dir(case: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("e2e_media")
        .join(case);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create output dir");
    dir
}

fn run_case(mode: PubMode, join: Join) {
    run_case_with(mode, join, &peer("moq-pub"), &peer("moq-sub"), "");
}

/// [`run_case`] with these moq-pub and moq-sub binaries (`tag` names the case's files).
fn run_case_with(mode: PubMode, join: Join, moq_pub: &Path, moq_sub: &Path, tag: &str) {
    let case = format!("{mode:?}-{join:?}{tag}").to_lowercase();
    let dir = out_dir(&case);
    let name = format!("e2e/{case}");
    let relay = Relay::start(&[]);
    let url = relay.https_url();
    let started = Instant::now();

    // 1. moq-pub connects and sends PUBLISH_NAMESPACE at once; it reads media from stdin,
    //    which this test feeds (a copy of ffmpeg's output is kept as the reference).
    let mut pub_cmd = Command::new(moq_pub);
    pub_cmd
        .args(["--name", &name, &url, "--tls-disable-verify"])
        .args(if mode == PubMode::Publish {
            &["--publish"][..]
        } else {
            &[]
        })
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut publisher = ChildGuard::spawn("moq-pub", &mut pub_cmd);
    let mut pub_stdin = publisher.child.stdin.take().expect("moq-pub stdin");
    let mut pub_out = Lines::watch(publisher.child.stdout.take().expect("stdout"), "");
    let mut pub_err = Lines::watch(publisher.child.stderr.take().expect("stderr"), "");
    pub_err.wait_for("connected", Duration::from_secs(15), "moq-pub");

    let out_path = dir.join("out.mp4");
    let start_subscriber = || {
        let mut cmd = Command::new(moq_sub);
        cmd.args(["--name", &name, &url, "--catalog", "--tls-disable-verify"])
            .env("RUST_LOG", "info")
            .stdout(std::fs::File::create(&out_path).expect("create out.mp4"))
            .stderr(Stdio::piped());
        let mut sub = ChildGuard::spawn("moq-sub", &mut cmd);
        let mut err = Lines::watch(sub.child.stderr.take().expect("stderr"), "");
        err.wait_for("connected", Duration::from_secs(15), "moq-sub");
        (sub, err)
    };

    // 2a. Subscriber before any media: moq-sub asks for `.catalog`, which moq-pub creates
    //     only when it has parsed ffmpeg's init segment. (moq-sub sends no RENDEZVOUS_TIMEOUT,
    //     so a subscriber arriving before PUBLISH_NAMESPACE is refused at once, as draft-18
    //     allows: "before the publisher" therefore means before its first media byte.)
    let mut subscriber = None;
    if join == Join::BeforeMedia {
        // Give PUBLISH_NAMESPACE time to reach the relay before the SUBSCRIBE.
        std::thread::sleep(Duration::from_millis(500));
        let s = start_subscriber();
        // Let the SUBSCRIBE for `.catalog` reach the relay and be routed upstream.
        std::thread::sleep(Duration::from_millis(700));
        subscriber = Some(s);
    }

    // 3. ffmpeg at real-time pace (-re), its output teed into moq-pub and the reference.
    let mut ff_cmd = ffmpeg_command();
    ff_cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut ffmpeg = ChildGuard::spawn("ffmpeg", &mut ff_cmd);
    let mut ff_out = ffmpeg.child.stdout.take().expect("ffmpeg stdout");
    let reference = Arc::new(Mutex::new(Vec::<u8>::new()));
    let tee = {
        let reference = reference.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match ff_out.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        reference.lock().expect("lock").extend_from_slice(&buf[..n]);
                        if pub_stdin.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            // moq-pub's stdin stays open (it keeps serving the cached groups); it is killed
            // at the end of the test.
            pub_stdin
        })
    };

    // 2b. Late subscriber: moq-pub prints `segment: 1:0` when it opens group 1, one GOP
    //     (1 s) after the init object and group 0 were published.
    if join == Join::Late {
        pub_out.wait_for("segment: 1:0", Duration::from_secs(20), "moq-pub");
        subscriber = Some(start_subscriber());
    }
    let (mut subscriber, _sub_err) = subscriber.expect("subscriber started");

    // 4. ffmpeg ends after SECONDS of real time; bounded.
    let deadline = Instant::now() + Duration::from_secs(SECONDS as u64 + 30);
    let status = loop {
        if let Some(status) = ffmpeg.child.try_wait().expect("ffmpeg wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "ffmpeg did not finish in time");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "ffmpeg failed: {status}");
    let _pub_stdin = tee.join().expect("tee thread");
    let reference = std::mem::take(&mut *reference.lock().expect("lock"));
    std::fs::write(dir.join("reference.mp4"), &reference).expect("write reference");

    // 5. Wait (bounded) until the subscriber wrote everything it can, then SIGINT it so it
    //    exits. moq-sub writes each object with `tokio::io::stdout()`, which goes through
    //    std's line-buffered stdout and is never flushed: the bytes after the last 0x0A of
    //    the stream stay in its buffer and are lost on exit, whatever the relay (the same
    //    happens through Cloudflare's moq-relay-ietf). So "everything" is up to and
    //    including the last 0x0A byte of what the subscriber should get.
    let reference_init = init_segment(&reference);
    let fragments = fragments(&reference);
    assert_eq!(
        fragments.len(),
        FRAMES,
        "ffmpeg wrote one fragment per frame"
    );
    let last_group = (FRAMES - 1) / GOP;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = std::fs::read(&out_path).unwrap_or_default();
        if let Some((groups, expected)) = expected_output(&got, reference_init, &fragments) {
            let flushable = expected
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            if groups.contains(&last_group) && got.len() >= flushable {
                break;
            }
        }
        if let Ok(Some(status)) = subscriber.child.try_wait() {
            panic!("{case}: moq-sub exited early: {status}");
        }
        if Instant::now() > deadline {
            break; // The assertions below say what is missing.
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        subscriber.interrupt(Duration::from_secs(10)).is_some(),
        "moq-sub did not exit on SIGINT"
    );
    let elapsed = started.elapsed();

    // 6. Byte-exact media: the output is the init segment (ftyp + moov: the init object, even
    //    for the late subscriber) followed by whole groups of ffmpeg's fragments, each group
    //    complete and in order, unaltered; only the unflushed tail (see 5) may be missing.
    let out = std::fs::read(&out_path).expect("read out.mp4");
    assert!(
        out.starts_with(reference_init),
        "{case}: output does not start with ffmpeg's init segment (ftyp + moov); first boxes: {:?}",
        boxes(&out)
            .iter()
            .take(3)
            .map(|(k, b)| (String::from_utf8_lossy(k).into_owned(), b.len()))
            .collect::<Vec<_>>()
    );
    let (groups, expected) = expected_output(&out, reference_init, &fragments)
        .unwrap_or_else(|| panic!("{case}: the output holds fragments ffmpeg did not produce"));
    assert!(
        expected.starts_with(&out),
        "{case}: received bytes differ from ffmpeg's (groups in arrival order: {groups:?})"
    );
    let flushable = expected
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    assert!(
        out.len() >= flushable,
        "{case}: {} of {} bytes received; frames were lost before the end (groups {groups:?})",
        out.len(),
        expected.len()
    );
    let mut sorted = groups.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        groups.len(),
        "{case}: a group came twice: {groups:?}"
    );
    let first_group = sorted[0];
    assert_eq!(
        sorted,
        (first_group..=last_group).collect::<Vec<_>>(),
        "{case}: groups missing: {groups:?}"
    );
    match join {
        // Present before the first object: every group, in order.
        Join::BeforeMedia => assert_eq!(
            groups,
            (0..=last_group).collect::<Vec<_>>(),
            "{case}: groups"
        ),
        // Arrived in group 1 (after init and group 0 were published). moq-sub's SUBSCRIBEs
        // carry no SUBSCRIPTION_FILTER, which draft-18 reads as unfiltered (from {0, 0}), so
        // it gets every group still held upstream: from the relay's cache (ended groups stay
        // 30 s by default) in `--publish` mode, and from moq-pub, which the relay subscribes
        // to on demand, in PUBLISH_NAMESPACE mode. Group 0 may arrive after group 1 (it is
        // not live; moq-sub writes groups in arrival order), so the order is not asserted;
        // the join group and every later one must be there.
        Join::Late => assert!(
            first_group <= 2,
            "{case}: the subscriber started in group 1 but got only groups {groups:?}"
        ),
    }
    let received = sorted.len() * GOP;
    let skipped = FRAMES - received;

    // 7. ffprobe: H.264 320x240, one packet per frame received; every frame decodes except
    //    the last when its tail was lost (see 5). A player orders groups by ID before decoding;
    //    moq-sub writes them in arrival order, and a decoder handed an older GOP after a newer
    //    one drops a frame at the seam. So when groups arrived out of order, the decode check
    //    runs on the received bytes with their groups put back in order.
    let decodable = if groups.windows(2).all(|w| w[0] < w[1]) {
        out_path.clone()
    } else {
        let path = dir.join("out-in-group-order.mp4");
        let ordered = in_group_order(&out, reference_init, &fragments)
            .unwrap_or_else(|| panic!("{case}: only the last group written may be cut short"));
        assert_eq!(
            ordered.len(),
            out.len(),
            "{case}: reordering keeps every byte"
        );
        std::fs::write(&path, ordered).expect("write reordered output");
        path
    };
    let (codec, width, height, packets, frames) = ffprobe(&decodable);
    assert_eq!(codec, "h264", "{case}: codec");
    assert_eq!((width, height), (320, 240), "{case}: size");
    assert_eq!(packets, received as u64, "{case}: ffprobe packets");
    let complete = out.len() == expected.len();
    assert!(
        frames == packets || (!complete && frames + 1 == packets),
        "{case}: ffprobe decoded {frames} frames of {packets} packets"
    );
    eprintln!(
        "{case}: {received} of {FRAMES} frames ({skipped} skipped at join), groups {groups:?}, \
         {frames} decoded, {} of {} bytes, {:.1} s",
        out.len(),
        expected.len(),
        elapsed.as_secs_f64()
    );
    drop(publisher);
    drop(relay);
}

#[test]
fn e2e_media_publish_namespace_subscriber_first() {
    run_case(PubMode::Namespace, Join::BeforeMedia);
}

#[test]
fn e2e_media_publish_namespace_subscriber_late() {
    run_case(PubMode::Namespace, Join::Late);
}

#[test]
fn e2e_media_publish_mode_subscriber_first() {
    run_case(PubMode::Publish, Join::BeforeMedia);
}

#[test]
fn e2e_media_publish_mode_subscriber_late() {
    run_case(PubMode::Publish, Join::Late);
}

/// Cloudflare's draft-16 moq-pub (0.9.7, `moqt-16` over WebTransport) reaches its draft-18
/// moq-sub (0.5.0) through the relay: every object of the late subscriber's groups intact.
#[test]
fn e2e_media_draft_16_publisher_draft_18_subscriber() {
    let (moq_pub, moq_sub) = (peer16("moq-pub"), peer("moq-sub"));
    run_case_with(
        PubMode::Namespace,
        Join::Late,
        &moq_pub,
        &moq_sub,
        "-16-to-18",
    );
}

/// Cloudflare's draft-18 moq-pub reaches its draft-16 moq-sub (0.4.18) through the relay.
/// Open defect: in 2 runs of 3 here moq-sub 0.4.18 stops at once with "media error" after its
/// third SUBSCRIBE_OK ("stream processing error for track_alias=3: Cancel"); the same relay
/// path to moq-sub 0.5.0 (draft 18) and to moq-clock-ietf 0.6.24 (draft 16) passes.
#[test]
#[ignore = "open defect: moq-sub 0.4.18 (draft 16) cancels the media track's first stream"]
fn e2e_media_draft_18_publisher_draft_16_subscriber() {
    let (moq_pub, moq_sub) = (peer("moq-pub"), peer16("moq-sub"));
    run_case_with(
        PubMode::Namespace,
        Join::Late,
        &moq_pub,
        &moq_sub,
        "-18-to-16",
    );
}
