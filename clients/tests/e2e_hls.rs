//! `tern relay` serves LL-HLS on its HTTP listener (`[hls]`, on by default): a broadcast
//! pushed over RTMP by ffmpeg is listed in `/hls/NAME/index.m3u8`, and its rendition's media
//! playlist lists parts. (The LL-HLS behaviour itself is tested in `gateway/tests/hls_e2e.rs`
//! and the gateway's unit tests; this checks the wiring into the binary.)
//!
//! Every wait is bounded; children are killed on drop; only 127.0.0.1 and port 0 are used.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{ChildGuard, Relay, http_get};

/// GET `path` until the answer is a 200 (at most `within`): its body.
fn get_ok(addr: &str, path: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let answer = http_get(addr, path);
        if let Some((head, body)) = answer.split_once("\r\n\r\n")
            && head.lines().next().is_some_and(|l| l.contains(" 200 "))
        {
            return body.to_owned();
        }
        assert!(Instant::now() < deadline, "GET {path}: {answer}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn the_relay_serves_ll_hls_of_an_rtmp_broadcast() {
    let relay = Relay::start_with_stderr(
        &["--rtmp", "127.0.0.1:0", "--http", "127.0.0.1:0"],
        Stdio::null(),
    );
    let rtmp = relay.rtmp.expect("rtmp address");
    let http = relay.http.clone().expect("http address");
    let addr = http
        .strip_prefix("http://")
        .expect("plain HTTP on loopback");

    let mut cmd = common::ffmpeg_live("320x240", 30, false);
    cmd.args(["-pix_fmt", "yuv420p", "-f", "flv"])
        .arg(format!("rtmp://{rtmp}/live/hls"))
        .stderr(Stdio::null());
    let _ffmpeg = ChildGuard::spawn("ffmpeg", &mut cmd);

    let multivariant = get_ok(addr, "/hls/live/hls/index.m3u8", Duration::from_secs(20));
    let variant = multivariant
        .lines()
        .skip_while(|l| !l.starts_with("#EXT-X-STREAM-INF:"))
        .nth(1)
        .unwrap_or_else(|| panic!("a variant: {multivariant}"));
    assert!(variant.starts_with(".t/video-240p/"), "{multivariant}");
    let media = get_ok(
        addr,
        &format!("/hls/live/hls/{variant}"),
        Duration::from_secs(10),
    );
    assert!(media.contains("#EXT-X-TARGETDURATION:4"), "{media}");
    assert!(media.contains("#EXT-X-PART:"), "{media}");
    assert!(media.contains("#EXT-X-PRELOAD-HINT:"), "{media}");
}
