//! Watermark detection from decoded pixels: which variant (A or B) each group of a capture
//! shows, measured against the origin's reference recording of both variants.
//!
//! Frames are decoded by ffmpeg (a child process) to small gray images, the same size for
//! capture and reference, so scaling and re-encoding of the capture do not matter beyond the
//! noise they add. The capture is placed in time on the reference by content (the offset that
//! makes its first frames look most like the reference's), then each capture frame is projected
//! onto the difference between the two variants at that instant: about −½ for A, +½ for B.
//! Frames of one group are averaged into one [`Observation`].

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use tern_watermark::Observation;

/// Width and height of the gray images compared.
pub const WIDTH: usize = 96;
/// See [`WIDTH`].
pub const HEIGHT: usize = 54;
/// Capture frames used to place the capture on the reference.
const ALIGN_FRAMES: usize = 12;

/// Decoded frames of one video stream: presentation times (seconds) and gray pixels.
#[derive(Debug, Default)]
pub struct Frames {
    /// Presentation time of each frame.
    pub pts: Vec<f64>,
    /// `WIDTH * HEIGHT` luma values per frame.
    pub pixels: Vec<Vec<f32>>,
}

impl Frames {
    /// Index of the frame shown at `t` (the nearest one).
    fn at(&self, t: f64) -> Option<usize> {
        if self.pts.is_empty() {
            return None;
        }
        let i = self.pts.partition_point(|p| *p < t);
        let candidates = [i.saturating_sub(1), i.min(self.pts.len() - 1)];
        candidates.into_iter().min_by(|a, b| {
            (self.pts[*a] - t)
                .abs()
                .total_cmp(&(self.pts[*b] - t).abs())
        })
    }
}

/// Why a capture could not be read or matched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DetectError {
    /// ffmpeg could not be run.
    #[error("cannot run ffmpeg ({0}); install it (apt-get install ffmpeg)")]
    Ffmpeg(#[source] std::io::Error),
    /// A capture or reference file could not be decoded.
    #[error("{path}: {reason}")]
    Capture {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The capture and the reference do not line up.
    #[error("{0}")]
    Unmatched(String),
}

/// Decode video stream `stream` (0 first) of `path` with ffmpeg.
pub fn decode(path: &Path, stream: usize) -> Result<Frames, DetectError> {
    let capture = |reason: String| DetectError::Capture {
        path: path.display().to_string(),
        reason,
    };
    if !path.is_file() {
        return Err(capture("not a file".into()));
    }
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-loglevel", "info", "-i"])
        .arg(path)
        .args([
            "-map",
            &format!("0:v:{stream}"),
            "-an",
            "-fps_mode",
            "passthrough",
        ])
        .args([
            "-vf",
            &format!("scale={WIDTH}:{HEIGHT},format=gray,showinfo"),
        ])
        .args(["-f", "rawvideo", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(DetectError::Ffmpeg)?;
    let mut stderr = child.stderr.take().expect("piped");
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut raw = Vec::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_end(&mut raw)
        .map_err(DetectError::Ffmpeg)?;
    let status = child.wait().map_err(DetectError::Ffmpeg)?;
    let log = log.join().unwrap_or_default();
    if !status.success() {
        let last = log
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(capture(format!(
            "ffmpeg could not decode video stream {stream}: {last}"
        )));
    }
    let pts: Vec<f64> = log
        .lines()
        .filter(|l| l.contains("Parsed_showinfo"))
        .filter_map(|l| l.split("pts_time:").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect();
    let size = WIDTH * HEIGHT;
    if raw.is_empty() {
        return Err(capture(format!("no frames in video stream {stream}")));
    }
    if raw.len() % size != 0 || raw.len() / size != pts.len() {
        return Err(capture(format!(
            "ffmpeg gave {} bytes of frames and {} timestamps",
            raw.len(),
            pts.len()
        )));
    }
    let pixels = raw
        .chunks_exact(size)
        .map(|f| f.iter().map(|p| f32::from(*p)).collect())
        .collect();
    Ok(Frames { pts, pixels })
}

fn mean_abs_diff(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from((x - y).abs()))
        .sum::<f64>()
        / a.len() as f64
}

/// The offset (seconds) that maps capture times onto reference times, found by content: the
/// one under which the capture's first frames differ least from the reference's.
pub fn align(capture: &Frames, reference: &Frames) -> Result<f64, DetectError> {
    let unmatched = |reason: String| DetectError::Unmatched(reason);
    let first = *capture
        .pts
        .first()
        .ok_or_else(|| unmatched("the capture has no frames".into()))?;
    let used = capture.pts.len().min(ALIGN_FRAMES);
    let mut best: Option<(f64, f64)> = None;
    for start in &reference.pts {
        let offset = start - first;
        let cost: f64 = (0..used)
            .map(|i| match reference.at(capture.pts[i] + offset) {
                Some(r) => mean_abs_diff(&capture.pixels[i], &reference.pixels[r]),
                None => f64::MAX,
            })
            .sum::<f64>()
            / used as f64;
        if best.is_none_or(|(c, _)| cost < c) {
            best = Some((cost, offset));
        }
    }
    let (cost, offset) = best.ok_or_else(|| unmatched("the reference has no frames".into()))?;
    if cost >= 40.0 {
        return Err(unmatched(format!(
            "the capture does not match the reference anywhere (mean difference {cost:.1} \
             levels): wrong reference file?"
        )));
    }
    Ok(offset)
}

/// Per-group evidence of a capture placed at `offset` on the reference variants `a` and `b`:
/// group IDs in media milliseconds (without the broadcast's base), `group_ms` apart.
pub fn observe(
    capture: &Frames,
    a: &Frames,
    b: &Frames,
    offset: f64,
    group_ms: u64,
) -> Vec<Observation> {
    let mut groups: BTreeMap<u64, (f64, usize)> = BTreeMap::new();
    for (t, pixels) in capture.pts.iter().zip(&capture.pixels) {
        let Some(r) = a.at(t + offset) else { continue };
        let Some(rb) = b.at(a.pts[r]) else { continue };
        if (b.pts[rb] - a.pts[r]).abs() > 1e-3 {
            continue;
        }
        let (pa, pb) = (&a.pixels[r], &b.pixels[rb]);
        let (mut dot, mut norm) = (0.0f64, 0.0f64);
        for ((c, x), y) in pixels.iter().zip(pa).zip(pb) {
            let d = f64::from(y - x);
            dot += (f64::from(*c) - f64::from(x + y) / 2.0) * d;
            norm += d * d;
        }
        if norm <= f64::EPSILON {
            continue;
        }
        let ms = (a.pts[r] * 1000.0).round().max(0.0) as u64;
        let entry = groups.entry(ms / group_ms * group_ms).or_default();
        entry.0 += dot / norm;
        entry.1 += 1;
    }
    groups
        .into_iter()
        .map(|(group, (sum, n))| Observation {
            group,
            soft: (sum / n as f64).clamp(-1.0, 1.0),
        })
        .collect()
}
