//! The source: pictures made by this process at their frame rate, each stamped with the wall
//! clock the moment it is made ([`crate::stamp`]), piped raw into ffmpeg, which encodes them
//! (libx264 `-tune zerolatency`, no B-frames, a silent AAC track beside unless left out) and publishes over
//! RTMP or SRT as an encoder would.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::stamp;

/// The picture and its rate.
#[derive(Debug, Clone, Copy)]
pub struct Picture {
    /// Width, pixels.
    pub width: usize,
    /// Height, pixels.
    pub height: usize,
    /// Frames per second.
    pub fps: u32,
    /// Video bitrate, kbit/s.
    pub kbps: u32,
    /// Frames between keyframes.
    pub gop: u32,
    /// A silent AAC track beside the video (as an encoder's microphone would be).
    pub audio: bool,
}

/// A running source; ffmpeg is killed and the picture thread stopped on drop.
pub struct Source {
    ffmpeg: Child,
    stop: Arc<AtomicBool>,
}

impl Source {
    /// Start publishing to `url` in `format` (`flv` for RTMP, `mpegts` for SRT).
    pub fn start(picture: Picture, format: &str, url: &str) -> anyhow::Result<Self> {
        let Picture {
            width,
            height,
            fps,
            kbps,
            gop,
            audio,
        } = picture;
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin"])
            .args(["-f", "rawvideo", "-pix_fmt", "yuv420p"])
            .args(["-video_size", &format!("{width}x{height}")])
            .args(["-framerate", &fps.to_string(), "-i", "pipe:0"]);
        if audio {
            cmd.args(["-re", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo"])
                .args(["-c:a", "aac", "-b:a", "64k"]);
        }
        let mut ffmpeg = cmd
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-tune",
                "zerolatency",
            ])
            .args([
                "-bf",
                "0",
                "-g",
                &gop.to_string(),
                "-keyint_min",
                &gop.to_string(),
            ])
            .args(["-sc_threshold", "0", "-pix_fmt", "yuv420p"])
            .args(["-b:v", &format!("{kbps}k"), "-maxrate", &format!("{kbps}k")])
            .args(["-bufsize", &format!("{}k", kbps / 2)])
            .args(["-muxdelay", "0", "-muxpreload", "0", "-flush_packets", "1"])
            .args(["-max_interleave_delta", "0"])
            .args(["-f", format, url])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("run ffmpeg (with libx264 and libsrt)")?;
        let mut stdin = ffmpeg.stdin.take().context("ffmpeg's stdin")?;
        let stop = Arc::new(AtomicBool::new(false));
        std::thread::spawn({
            let stop = stop.clone();
            move || {
                let (luma, chroma) = (width * height, width * height / 4);
                let mut frame = vec![0u8; luma + 2 * chroma];
                let every = Duration::from_secs(1) / fps;
                let start = Instant::now();
                for i in 0u32.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let due = start + every * i;
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    paint(&mut frame, width, height, i);
                    let (y, uv) = frame.split_at_mut(luma);
                    let (u, v) = uv.split_at_mut(chroma);
                    stamp::draw(y, u, v, width, unix_ms());
                    if stdin.write_all(&frame).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Self { ffmpeg, stop })
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.ffmpeg.kill();
        let _ = self.ffmpeg.wait();
    }
}

/// A moving diagonal gradient in luma, colour bands in chroma: something for the encoder to
/// code in every frame.
fn paint(frame: &mut [u8], width: usize, height: usize, i: u32) {
    let shift = i as usize * 4;
    let (y, uv) = frame.split_at_mut(width * height);
    for (row, line) in y.chunks_exact_mut(width).enumerate() {
        for (x, p) in line.iter_mut().enumerate() {
            *p = ((x + row + shift) & 0xff) as u8;
        }
    }
    let chroma_width = width / 2;
    for (n, p) in uv.iter_mut().enumerate() {
        *p = (((n % chroma_width) / 40 * 30 + shift / 2) & 0xff) as u8;
    }
}

/// The wall clock, Unix milliseconds.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
