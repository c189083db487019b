//! A live ffmpeg encoding ladder: a test pattern and a tone, encoded to three H.264 renditions
//! (360p, 240p, 144p; no B-frames, a keyframe every second), AAC and Opus, as fragmented MP4
//! with one fragment per frame on ffmpeg's stdout. `-preset ultrafast` keeps it within what two
//! cores sustain in real time.

use std::process::Stdio;

use tokio::process::{Child, ChildStdout, Command};

/// One video rendition of the ladder.
#[derive(Debug, Clone, Copy)]
pub struct Rendition {
    /// Height in pixels (width follows 16:9, rounded to even).
    pub height: u32,
    /// Target bitrate in kbit/s.
    pub kbps: u32,
}

/// The default ladder.
pub const LADDER: [Rendition; 3] = [
    Rendition {
        height: 360,
        kbps: 500,
    },
    Rendition {
        height: 240,
        kbps: 250,
    },
    Rendition {
        height: 144,
        kbps: 120,
    },
];

/// Frames per second of the ladder.
pub const FPS: u32 = 30;

/// The ffmpeg command line for `renditions` (first one is the source size).
pub fn command(renditions: &[Rendition]) -> Command {
    let width = |h: u32| (h * 16 / 9 + 1) & !1;
    let top = renditions.first().map_or(360, |r| r.height);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={}x{top}:rate={FPS}", width(top)))
        .args(["-f", "lavfi", "-i"])
        .arg("sine=frequency=440:beep_factor=4:sample_rate=48000");
    let n = renditions.len();
    let mut graph = format!("[0:v]split={n}");
    for i in 0..n {
        graph.push_str(&format!("[s{i}]"));
    }
    for (i, r) in renditions.iter().enumerate() {
        graph.push_str(&format!(
            ";[s{i}]scale={}:{}[v{i}]",
            width(r.height),
            r.height
        ));
    }
    cmd.args(["-filter_complex", &graph]);
    for i in 0..n {
        cmd.args(["-map", &format!("[v{i}]")]);
    }
    cmd.args(["-map", "1:a", "-map", "1:a"]);
    cmd.args([
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
    ])
    .args(["-bf", "0", "-pix_fmt", "yuv420p", "-sc_threshold", "0"])
    .args(["-g", &FPS.to_string(), "-keyint_min", &FPS.to_string()]);
    for (i, r) in renditions.iter().enumerate() {
        cmd.args([
            format!("-b:v:{i}"),
            format!("{}k", r.kbps),
            format!("-maxrate:v:{i}"),
            format!("{}k", r.kbps * 11 / 10),
            format!("-bufsize:v:{i}"),
            format!("{}k", r.kbps),
        ]);
    }
    cmd.args([
        "-c:a:0", "aac", "-b:a:0", "64k", "-c:a:1", "libopus", "-b:a:1", "64k",
    ])
    .args(["-f", "mp4", "-movflags"])
    .arg("cmaf+frag_every_frame+empty_moov+default_base_moof")
    .arg("-");
    cmd
}

/// Start the ladder; ffmpeg is killed when the child is dropped.
pub fn spawn(renditions: &[Rendition]) -> crate::Result<(Child, ChildStdout)> {
    start(command(renditions))
}

/// Start an ffmpeg command that writes media to stdout; it is killed when the child is dropped.
pub(crate) fn start(mut cmd: Command) -> crate::Result<(Child, ChildStdout)> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| crate::Error::Program {
            program: "ffmpeg",
            source,
        })?;
    let stdout = child.stdout.take().ok_or_else(|| crate::Error::Program {
        program: "ffmpeg",
        source: std::io::Error::other("no stdout"),
    })?;
    Ok((child, stdout))
}
