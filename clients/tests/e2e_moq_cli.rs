//! moq-dev's `moq` CLI (moq-cli 0.14.10, installed by `.ci/install-peers.sh`) against
//! `tern relay` over raw QUIC: a CMAF broadcast (H.264 + AAC) imported on draft 22 is exported
//! again on drafts 18 and 22 and read with tern's own subscriber on draft 20, and `/metrics`
//! counts the sessions by draft; one imported on draft 14 (ALPN `moq-00`, the version chosen
//! in SETUP, every request on one control stream) is exported on drafts 14 and 16; a relay
//! whose `relay.drafts` leaves 14 out refuses a draft-14 client at the TLS handshake.
//!
//! moq-cli publishes its own catalog (`catalog.json`, hang's format: renditions named `0.m4s`,
//! `1.m4s`, …, each with its CMAF init segment in base64) and one track per media track, one
//! object per moof + mdat.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    ChildGuard, Lines, Relay, TempDir, ZERO_LATENCY, admin_address, ffmpeg_live, ffprobe_streams,
    frames, http_get, length_records, peer, plain, sample, stream_of, tern, wait_exit,
};

/// Seconds of media the publisher sends (in real time).
const SECONDS: u64 = 10;
const BROADCAST: &str = "live/moq-cli";

/// A `tern relay` whose log is read (the admin address, refusals): the relay, its log and
/// its admin address.
fn relay() -> (Relay, Lines, String) {
    relay_speaking(None)
}

/// [`relay`] speaking only `drafts` (`relay.drafts`), when given.
fn relay_speaking(drafts: Option<&str>) -> (Relay, Lines, String) {
    let mut cmd = Command::new(tern());
    cmd.args(["relay", "--bind", "127.0.0.1:0"])
        .env("TERN_LOG_LEVEL", "info,tern_relay::node::fill=debug");
    if let Some(drafts) = drafts {
        cmd.env("TERN_RELAY_DRAFTS", drafts);
    }
    let mut relay = Relay::start_cmd_with_stderr(cmd, &[], Stdio::piped());
    let mut log = Lines::new(relay.guard.child.stderr.take().expect("stderr"));
    let admin = admin_address(&mut log);
    (relay, log, admin)
}

/// `moq` dialling `relay` once over raw QUIC, offering only MoQ Transport `draft`, the
/// relay's certificate pinned by the fingerprint it printed.
fn moq(relay: &Relay, draft: u32) -> Command {
    let mut cmd = Command::new(peer("moq"));
    cmd.args(["--connect", &relay.moqt_url()])
        .args(["--connect-version", &format!("moq-transport-{draft}")])
        .args(["--connect-tls-fingerprint", &relay.fingerprint])
        .args(["--connect-once", "--connect-timeout", "5s"])
        .env("MOQ_LOG_LEVEL", "info")
        .env("RUST_BACKTRACE", "0");
    cmd
}

/// Run `cmd` (its stdout captured) for at most `timeout`: its status and stdout; `None` when
/// it did not exit by then (it is killed).
fn run_bounded(mut cmd: Command, timeout: Duration) -> Option<(std::process::ExitStatus, Vec<u8>)> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = ChildGuard::spawn("bounded command", &mut cmd);
    let mut stdout = child.child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let status = wait_exit(&mut child, timeout)?;
    Some((status, reader.join().expect("reader")))
}

/// `tern subscribe` on `draft` of `track` in the broadcast, objects as length records.
fn tern_subscribe(relay: &Relay, draft: u32, track: &str) -> Command {
    let mut cmd = Command::new(tern());
    cmd.args([
        "subscribe",
        &relay.moqt_url(),
        "--cert-hash",
        &relay.fingerprint,
    ])
    .args(["--draft", &draft.to_string(), "--namespace", BROADCAST])
    .args(["--track", track, "--framing", "length"]);
    cmd
}

/// Standard base64 (the catalog's init segments), padding optional.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c:?} in {text}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=').map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &d)| n | u32::from(d) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// The video and the audio rendition of moq-cli's catalog: `(track name, codec, init)`.
fn renditions(catalog: &serde_json::Value) -> [(String, String, Vec<u8>); 2] {
    ["video", "audio"].map(|kind| {
        let all = catalog[kind]["renditions"]
            .as_object()
            .unwrap_or_else(|| panic!("no {kind} renditions in {catalog}"));
        let (name, r) = all.iter().next().expect("a rendition");
        let codec = r["codec"].as_str().expect("codec").to_owned();
        assert_eq!(r["container"]["kind"], "cmaf", "{kind}: {r}");
        let init = base64_decode(r["container"]["init"].as_str().expect("init segment"));
        (name.clone(), codec, init)
    })
}

/// The decoded video and audio frames of an exported fMP4, checked to be H.264 and AAC.
fn h264_aac_frames(path: &Path) -> (u64, u64) {
    let streams = ffprobe_streams(path);
    let v = stream_of(&streams, "video");
    assert_eq!(v["codec_name"], "h264", "{}: {streams:?}", path.display());
    let a = stream_of(&streams, "audio");
    assert_eq!(a["codec_name"], "aac", "{}: {streams:?}", path.display());
    (frames(v), frames(a))
}

/// `(series, value)` of every `tern_sessions` sample on a `/metrics` page.
fn sessions(page: &str) -> Vec<(String, f64)> {
    page.lines()
        .filter(|l| l.starts_with("tern_sessions{"))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// Wait (at most 5 s) until `/metrics` at `admin` counts `want` raw QUIC sessions per draft
/// (`moqt-N`), and assert it.
fn expect_sessions(admin: &str, want: &[(&str, f64)]) {
    let series = |draft: &str| format!("tern_sessions{{draft=\"{draft}\",transport=\"quic\"}}");
    let deadline = Instant::now() + Duration::from_secs(5);
    let page = loop {
        let page = http_get(admin, "/metrics");
        if want
            .iter()
            .all(|(d, n)| sample(&page, &series(d)) == Some(*n))
            || Instant::now() > deadline
        {
            break page;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for (draft, n) in want {
        assert_eq!(
            sample(&page, &series(draft)),
            Some(*n),
            "{draft} sessions: {:?}",
            sessions(&page)
        );
    }
}

/// `moq export` on `draft` of the broadcast into `path`: the child and its log, once it is
/// connected.
fn export(relay: &Relay, draft: u32, path: &Path) -> (ChildGuard, Lines) {
    let out = std::fs::File::create(path).expect("create the export file");
    let mut cmd = moq(relay, draft);
    cmd.args(["export", "--broadcast", BROADCAST, "fmp4"])
        .stdout(out)
        .stderr(Stdio::piped());
    let mut guard = ChildGuard::spawn(&format!("moq export (draft {draft})"), &mut cmd);
    let mut log = Lines::new(guard.child.stderr.take().expect("stderr"));
    connected(&mut log, draft);
    (guard, log)
}

/// Wait (at most 10 s) for moq's log to say it connected on `draft`.
fn connected(log: &mut Lines, draft: u32) {
    let version = format!("connected version=moq-transport-{draft}");
    log.expect(
        Duration::from_secs(10),
        &format!("moq on draft {draft}"),
        |l| plain(l).contains(&version),
    );
}

/// ffmpeg's CMAF (H.264 + AAC, a fragment per keyframe, one a second) piped into
/// `moq import` on draft 22: ffmpeg, the importer and its log, once it is connected.
fn import(relay: &Relay) -> (ChildGuard, ChildGuard, Lines) {
    import_on(relay, 22)
}

/// [`import`] on `draft`.
fn import_on(relay: &Relay, draft: u32) -> (ChildGuard, ChildGuard, Lines) {
    let mut encode = ffmpeg_live("320x240", SECONDS, true, ZERO_LATENCY);
    encode
        .args(["-pix_fmt", "yuv420p", "-f", "mp4"])
        .args([
            "-movflags",
            "cmaf+frag_keyframe+empty_moov+default_base_moof",
            "-",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut ffmpeg = ChildGuard::spawn("ffmpeg", &mut encode);
    let fmp4 = ffmpeg.child.stdout.take().expect("ffmpeg stdout");
    let mut cmd = moq(relay, draft);
    cmd.args(["import", "--broadcast", BROADCAST, "fmp4"])
        .stdin(Stdio::from(fmp4))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut importer = ChildGuard::spawn(&format!("moq import (draft {draft})"), &mut cmd);
    let mut log = Lines::new(importer.child.stderr.take().expect("stderr"));
    connected(&mut log, draft);
    (ffmpeg, importer, log)
}

/// Wait for `moq export` to end with the broadcast (at most `timeout`), then check its fMP4
/// holds H.264 and AAC, at least 2 s of each: 30 fps video, AAC at 44.1 kHz (about 43
/// frames a second).
fn check_export(draft: u32, mut guard: ChildGuard, log: &Lines, path: &Path, timeout: Duration) {
    let status = wait_exit(&mut guard, timeout);
    assert!(
        status.is_some_and(|s| s.success()),
        "moq export on draft {draft} ends with the broadcast: {status:?}\n{:?}",
        log.seen
    );
    let (v, a) = h264_aac_frames(path);
    eprintln!("moq export on draft {draft}: {v} video frames, {a} audio frames");
    assert!(v >= 60, "draft {draft}: {v} video frames");
    assert!(a >= 86, "draft {draft}: {a} audio frames");
}

/// A moq-cli publisher on draft 22; moq-cli viewers on drafts 22 (there before the broadcast)
/// and 18 (a live join, after moq-cli's last catalog update: a joining FETCH brings the
/// current catalog and group), and tern's own subscriber on draft 20 (the catalog, then the
/// video track read back as an fMP4 with the catalog's init segment).
#[test]
fn moq_cli_publishes_on_draft_22_and_every_draft_watches() {
    let (relay, _log, admin) = relay();
    let dir = TempDir::new("moq-cli");

    // The draft-22 viewer is there first and takes every object as it comes (the late-joining
    // case is the next test).
    let late_path = dir.0.join("draft-18.mp4");
    let early_path = dir.0.join("draft-22.mp4");
    let (early, early_log) = export(&relay, 22, &early_path);
    let (_ffmpeg, mut importer, import_log) = import(&relay);
    let published = Instant::now();

    // The catalog through tern's own subscriber on draft 20, once the broadcast is there.
    let deadline = Instant::now() + Duration::from_secs(15);
    let catalog: serde_json::Value = loop {
        let mut latest = tern_subscribe(&relay, 20, "catalog.json");
        latest.args(["--latest", "--max-objects", "1"]);
        if let Some((status, out)) = run_bounded(latest, Duration::from_secs(5))
            && status.success()
            && let Some(object) = length_records(&out).into_iter().next()
        {
            break serde_json::from_slice(&object).expect("the catalog is JSON");
        }
        assert!(Instant::now() < deadline, "no catalog.json from moq import");
        std::thread::sleep(Duration::from_millis(200));
    };
    let [(video, video_codec, video_init), (_, audio_codec, _)] = renditions(&catalog);
    assert!(video_codec.starts_with("avc1."), "{catalog}");
    assert_eq!(audio_codec, "mp4a.40.2", "{catalog}");

    // tern reads the video track on draft 20, from the oldest group the relay holds.
    let mut read = tern_subscribe(&relay, 20, &video);
    read.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut reader = ChildGuard::spawn("tern subscribe (draft 20)", &mut read);
    let mut stdout = reader.child.stdout.take().expect("stdout");
    let objects = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });

    // moq-cli rewrites its catalog in its first two seconds or so (as the bitrates settle),
    // then not again: the draft-18 viewer joins after that.
    std::thread::sleep(Duration::from_secs(4).saturating_sub(published.elapsed()));
    let (late, late_log) = export(&relay, 18, &late_path);

    // While the publisher is on: a session per client, by draft (the publisher and one
    // viewer on 22).
    expect_sessions(
        &admin,
        &[("moqt-18", 1.0), ("moqt-20", 1.0), ("moqt-22", 2.0)],
    );
    assert!(
        importer.child.try_wait().expect("moq import").is_none(),
        "the publisher is still on"
    );

    // The publisher ends with its input; so do the viewers.
    let status = wait_exit(&mut importer, Duration::from_secs(SECONDS + 15))
        .expect("moq import ends with ffmpeg's output");
    assert!(
        status.success(),
        "moq import: {status}\n{:?}",
        import_log.seen
    );
    let timeout = Duration::from_secs(10);
    check_export(22, early, &early_log, &early_path, timeout);
    check_export(18, late, &late_log, &late_path, timeout);

    // tern's draft-20 read: the catalog's init segment and the track's objects make an fMP4
    // (the track ends when the relay stops holding it for a returning publisher, 5 s).
    let status = wait_exit(&mut reader, Duration::from_secs(15))
        .expect("tern subscribe ends with the track");
    assert!(status.success(), "tern subscribe: {status}");
    let mut file = video_init;
    assert_eq!(&file[4..8], b"ftyp", "the catalog's init segment");
    for object in length_records(&objects.join().expect("reader")) {
        assert_eq!(&object[4..8], b"moof", "an object is moof + mdat");
        file.extend_from_slice(&object);
    }
    let path = dir.0.join("draft-20.mp4");
    std::fs::write(&path, &file).expect("write");
    let streams = ffprobe_streams(&path);
    let v = stream_of(&streams, "video");
    assert_eq!(v["codec_name"], "h264", "{streams:?}");
    eprintln!(
        "tern subscribe on draft 20 ({video}): {} video frames",
        frames(v)
    );
    assert!(frames(v) >= 60, "{streams:?}");
}

/// moq-cli viewers joining live on drafts 18 and 22 at the same moment start at the same
/// group. On 18 moq-cli follows its SUBSCRIBE with a joining FETCH of the current group. On 20
/// and 22 it sends a Next Object SUBSCRIBE with FILL_PARAMETERS (a backfill of the current
/// group, the drafts' replacement for joining FETCH), which the relay serves from its cache
/// on a fill fetch stream; without it the draft-22 viewer waited for the next catalog object
/// (moq-cli writes one only when its catalog changes: it never started) and the next group.
#[test]
fn moq_cli_joins_live_on_draft_22_as_on_draft_18() {
    let (relay, mut log, _admin) = relay();
    let dir = TempDir::new("moq-cli-join");
    let (_ffmpeg, mut importer, _import_log) = import(&relay);
    std::thread::sleep(Duration::from_secs(5));
    let viewers: Vec<_> = [18, 22]
        .into_iter()
        .map(|draft| {
            let path = dir.0.join(format!("draft-{draft}.mp4"));
            let (guard, log) = export(&relay, draft, &path);
            (draft, guard, log, path)
        })
        .collect();
    log.expect(
        Duration::from_secs(10),
        "the relay fills the draft-22 viewer's current group",
        |l| plain(l).contains("FILL from cache"),
    );
    wait_exit(&mut importer, Duration::from_secs(SECONDS + 15))
        .expect("moq import ends with ffmpeg's output");
    let mut video = Vec::new();
    for (draft, mut guard, log, path) in viewers {
        let status = wait_exit(&mut guard, Duration::from_secs(10));
        assert!(
            status.is_some_and(|s| s.success()),
            "draft {draft}: {:?}",
            log.seen
        );
        let (v, a) = h264_aac_frames(&path);
        eprintln!("moq export on draft {draft}: {v} video frames, {a} audio frames");
        video.push(v);
    }
    // At most a group (30 frames) apart: they joined together.
    assert!(
        video[1] + 30 >= video[0],
        "joined together, draft 18 read {} video frames and draft 22 {}",
        video[0],
        video[1]
    );
}

/// moq-cli on the drafts with one control stream: it publishes on draft 14 (`moq-00`, the
/// version in CLIENT_SETUP) and viewers on drafts 14 and 16 export the broadcast whole, and
/// `/metrics` counts each session under its draft.
#[test]
fn moq_cli_publishes_on_draft_14_and_drafts_14_and_16_watch() {
    let (relay, _log, admin) = relay();
    let dir = TempDir::new("moq-cli-14");
    let viewers: Vec<_> = [14, 16]
        .into_iter()
        .map(|draft| {
            let path = dir.0.join(format!("draft-{draft}.mp4"));
            let (guard, log) = export(&relay, draft, &path);
            (draft, guard, log, path)
        })
        .collect();
    let (_ffmpeg, mut importer, import_log) = import_on(&relay, 14);
    expect_sessions(&admin, &[("moqt-14", 2.0), ("moqt-16", 1.0)]);
    let status = wait_exit(&mut importer, Duration::from_secs(SECONDS + 15))
        .expect("moq import ends with ffmpeg's output");
    assert!(
        status.success(),
        "moq import on draft 14: {status}\n{:?}",
        import_log.seen
    );
    for (draft, guard, log, path) in viewers {
        check_export(draft, guard, &log, &path, Duration::from_secs(10));
    }
}

#[test]
fn moq_cli_on_draft_14_is_refused_by_a_relay_that_leaves_it_out() {
    let (relay, mut log, admin) = relay_speaking(Some("22,20,18"));
    let mut export = moq(&relay, 14);
    export
        .args(["export", "--broadcast", BROADCAST, "fmp4"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut client = ChildGuard::spawn("moq export (draft 14)", &mut export);
    let mut output = Lines::new(client.child.stderr.take().expect("stderr"));
    let status = wait_exit(&mut client, Duration::from_secs(10)).expect("moq gives up at once");
    assert!(!status.success(), "moq on draft 14 connected");
    // TLS alert 120 (no_application_protocol): tern offers no ALPN that moq-00 matches.
    output.expect(Duration::from_secs(2), "moq names the refusal", |l| {
        plain(l).contains("doesn't support any known protocol")
    });
    log.expect(Duration::from_secs(5), "the relay logs the refusal", |l| {
        let l = plain(l);
        l.contains("handshake failed") && l.contains("known protocol")
    });
    // Counted as a refusal for the version (the endpoint's counts reach /metrics each second).
    let refused = "tern_sessions_refused_total{reason=\"version\"}";
    let deadline = Instant::now() + Duration::from_secs(5);
    let page = loop {
        let page = http_get(&admin, "/metrics");
        if sample(&page, refused).is_some() || Instant::now() > deadline {
            break page;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(sample(&page, refused), Some(1.0), "{refused} in\n{page}");
    assert!(
        sessions(&page).iter().all(|(_, n)| *n == 0.0),
        "no session opened: {:?}",
        sessions(&page)
    );
}
