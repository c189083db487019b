//! Forensic A/B variants of a rendition, made in one ffmpeg run and published as two tracks.
//!
//! ffmpeg splits one source into two branches that differ only by a faint luma pattern (a
//! checkerboard of large cells, `+amplitude` in A and `−amplitude` in B), encodes both with the
//! same settings (fixed `-g`/`-keyint_min`, `-sc_threshold 0`, no B-frames) and writes them as
//! two video tracks of one fragmented MP4: same codec configuration, timestamps and GOPs. The
//! broadcast publishes them as `T.wm-a` and `T.wm-b` with one init segment and lists `T` in its
//! catalogs; the last relay serves each viewer's `T` from them, one variant per group.
//!
//! The same output can be kept in a reference file ([`Recording`]): the detector compares a
//! capture against it.

use std::io::Write;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use tern_cmaf::TrackKind;
use tern_cmaf::packager::{PackagedTrack, Packager};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::process::{Child, ChildStdout, Command};

/// The marked test pattern's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marked {
    /// Height in pixels (width follows 16:9, rounded to even).
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Frames per GOP (one MoQ group): a GOP lasts `gop * 1000 / fps` ms, the `group_ms` of the
    /// watermark plugin's configuration.
    pub gop: u32,
    /// Luma offset of the pattern, in 8-bit levels.
    pub amplitude: u32,
}

impl Default for Marked {
    /// 360p at 25 fps, a GOP of 25 frames (1 s), amplitude 3.
    fn default() -> Self {
        Self {
            height: 360,
            fps: 25,
            gop: 25,
            amplitude: 3,
        }
    }
}

impl Marked {
    /// Duration of a group in milliseconds (when `gop * 1000` is a multiple of `fps`).
    pub fn group_ms(&self) -> Option<u64> {
        let ms = u64::from(self.gop) * 1000;
        (self.fps > 0 && ms % u64::from(self.fps) == 0).then(|| ms / u64::from(self.fps))
    }

    /// The luma expression of one variant: `sign` +1 for A, −1 for B.
    fn pattern(&self, sign: i32) -> String {
        let a = sign * self.amplitude as i32;
        format!(
            "geq=lum='clip(lum(X,Y)+({a})*(1-2*mod(floor(X*4/W)+floor(Y*4/H),2)),0,255)':\
             cb='cb(X,Y)':cr='cr(X,Y)'"
        )
    }

    /// The ffmpeg command: a test pattern split into A and B, fragmented MP4 on stdout.
    pub fn command(&self) -> Command {
        let width = (self.height * 16 / 9 + 1) & !1;
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
            .args(["-f", "lavfi", "-i"])
            .arg(format!(
                "testsrc2=size={width}x{}:rate={}",
                self.height, self.fps
            ));
        let graph = format!(
            "[0:v]format=yuv420p,split=2[a][b];[a]{}[va];[b]{}[vb]",
            self.pattern(1),
            self.pattern(-1)
        );
        cmd.args(["-filter_complex", &graph])
            .args(["-map", "[va]", "-map", "[vb]"])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-tune",
                "zerolatency",
            ])
            .args(["-bf", "0", "-pix_fmt", "yuv420p", "-sc_threshold", "0"])
            .args([
                "-g",
                &self.gop.to_string(),
                "-keyint_min",
                &self.gop.to_string(),
            ])
            .args(["-crf", "18"]);
        cmd.args(["-f", "mp4", "-movflags"])
            .arg("cmaf+frag_every_frame+empty_moov+default_base_moof")
            .arg("-");
        cmd
    }

    /// Start ffmpeg; it is killed when the child is dropped.
    pub fn spawn(&self) -> crate::Result<(Child, ChildStdout)> {
        if self.group_ms().is_none() {
            return Err(crate::Error::Options(format!(
                "a GOP of {} frames at {} fps is not a whole number of milliseconds",
                self.gop, self.fps
            )));
        }
        crate::ladder::start(self.command())
    }
}

/// Make the first two video tracks of `packager` variants A and B of one rendition and return
/// the MoQ names of every track: `T.wm-a`, `T.wm-b` (T: the first one's name), the others as
/// they are.
pub(crate) fn variant_names(packager: &mut Packager) -> crate::Result<Vec<String>> {
    let video: Vec<usize> = packager
        .tracks()
        .iter()
        .enumerate()
        .filter(|(_, t)| t.info.kind == TrackKind::Video)
        .map(|(i, _)| i)
        .take(2)
        .collect();
    let [a, b] = video[..] else {
        return Err(crate::Error::Options(format!(
            "watermarking needs two video tracks (variants A and B); the input has {}",
            video.len()
        )));
    };
    let (ta, tb) = (&packager.tracks()[a].info, &packager.tracks()[b].info);
    if (ta.codec.as_str(), ta.width, ta.height, ta.timescale)
        != (tb.codec.as_str(), tb.width, tb.height, tb.timescale)
    {
        return Err(crate::Error::Options(format!(
            "variants A and B differ ({} {}x{} vs {} {}x{}): they must come from one encoder run",
            ta.codec, ta.width, ta.height, tb.codec, tb.width, tb.height
        )));
    }
    packager
        .variant_of(b, a)
        .map_err(|e| crate::Error::Options(format!("watermark variants: {e}")))?;
    let base = packager.tracks()[a].name.clone();
    let variant = |n: u32| {
        tern_watermark::variant_track(base.as_bytes(), n)
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default()
    };
    Ok(packager
        .tracks()
        .iter()
        .enumerate()
        .map(|(i, t)| match i {
            i if i == a => variant(tern_watermark::VARIANT_A),
            i if i == b => variant(tern_watermark::VARIANT_B),
            _ => t.name.clone(),
        })
        .collect())
}

/// The tracks the catalogs list: a variant set once, under the name viewers subscribe to.
pub(crate) fn catalog_tracks(packager: &Packager, names: &[String]) -> Vec<PackagedTrack> {
    packager
        .tracks()
        .iter()
        .zip(names)
        .filter_map(|(t, name)| {
            let mut t = t.clone();
            match tern_watermark::split_variant(name.as_bytes()) {
                Some((_, v)) if v > 0 => return None,
                Some((base, _)) => t.name = String::from_utf8_lossy(base).into_owned(),
                None => t.name = name.clone(),
            }
            Some(t)
        })
        .collect()
}

/// A reader that also writes everything it reads to a file: the origin's reference copy of
/// the variants for `tern watermark detect`.
pub struct Recording<R> {
    inner: R,
    file: std::fs::File,
}

impl<R> Recording<R> {
    /// Read `inner`, keeping a copy in a new file at `path`.
    pub fn create(inner: R, path: &Path) -> crate::Result<Self> {
        let file = std::fs::File::create(path)
            .map_err(|e| crate::Error::read(format!("cannot create {}", path.display()), e))?;
        Ok(Self { inner, file })
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Recording<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            // Small writes to a local file: blocking is brief, and flushed per chunk so that a
            // killed origin leaves a readable reference.
            this.file.write_all(&buf.filled()[before..])?;
        }
        polled
    }
}
