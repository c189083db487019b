//! Audio for every viewer: each AAC track of an ingested broadcast gets an Opus companion (WebRTC
//! players need Opus) and each Opus track an AAC one (HLS on TVs and older Safari need AAC). The
//! transcoder is ffmpeg, one supervised process per companion track: frames in on its stdin
//! (AAC in ADTS, Opus in Ogg), frames out on its stdout (Opus in Ogg pages, AAC in ADTS), each
//! one placed on the broadcast's time line from the source's first frame and the count of
//! samples since (a gap in the source restarts the count). A transcoder that dies is restarted
//! at the next source frame after a backoff, and counted; the source track never waits for it.
//!
//! Off unless [`set_ffmpeg`] was called (the `tern` binary does, from `[ingest]`).

pub mod ladder;
pub mod ogg;
pub mod supervise;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Instant;

use bytes::Bytes;
use tern_cmaf::{Sample, TrackInfo, TrackKind};

use crate::codec::aac::{AdtsHeader, split_adts};
use crate::ingest::trak;
use supervise::Supervisor;

/// Frames queued towards a transcoder, and back, before the newest are dropped.
const QUEUE: usize = 256;
/// A source gap longer than this restarts the transcoder's count.
const GAP_US: u64 = 200_000;

static FFMPEG: OnceLock<Option<PathBuf>> = OnceLock::new();
static AUDIO: AtomicBool = AtomicBool::new(true);

/// Turn audio transcoding on with this ffmpeg (or off with `None`), once per process; later
/// calls change nothing. Returns whether it is on.
pub fn set_ffmpeg(ffmpeg: Option<PathBuf>) -> bool {
    FFMPEG.get_or_init(|| ffmpeg).is_some()
}

fn ffmpeg() -> Option<&'static PathBuf> {
    FFMPEG.get().and_then(Option::as_ref)
}

/// Whether audio tracks get companions (on unless turned off; needs [`set_ffmpeg`] too).
pub fn set_audio(on: bool) {
    AUDIO.store(on, Ordering::Relaxed);
}

/// Whether `ffmpeg` runs and has the encoders the companions need (libopus and aac), and
/// libx264 for a `ladder`.
pub fn check_ffmpeg(ffmpeg: &std::path::Path, ladder: bool) -> Result<(), String> {
    let out = Command::new(ffmpeg)
        .args(["-hide_banner", "-encoders"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", ffmpeg.display()))?;
    let list = String::from_utf8_lossy(&out.stdout);
    let x264 = ladder.then_some("libx264");
    for encoder in ["libopus", " aac "].into_iter().chain(x264) {
        if !list.contains(encoder) {
            return Err(format!(
                "{} has no {} encoder",
                ffmpeg.display(),
                encoder.trim()
            ));
        }
    }
    Ok(())
}

/// Which way a companion goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    AacToOpus,
    OpusToAac,
}

/// The companion tracks of `tracks` (ids after the largest), each with the source it follows;
/// none when transcoding is off.
pub fn companions(tracks: &[TrackInfo]) -> Vec<Companion> {
    more_companions(tracks, &[])
}

/// The companions `tracks` need beyond those they have (`have`, whose sources are unchanged):
/// after a publisher's tracks changed mid-stream. IDs come after every track's and companion's.
pub fn more_companions(tracks: &[TrackInfo], have: &[Companion]) -> Vec<Companion> {
    if ffmpeg().is_none() || !AUDIO.load(Ordering::Relaxed) {
        return Vec::new();
    }
    let has = |p: &str| tracks.iter().any(|t| t.codec.starts_with(p));
    let ids = tracks
        .iter()
        .map(|t| t.id)
        .chain(have.iter().map(|c| c.info.id));
    let mut next = ids.max().unwrap_or(0) + 1;
    let mut out = Vec::new();
    let audio = tracks.iter().filter(|t| t.kind == TrackKind::Audio);
    for t in audio.filter(|t| have.iter().all(|c| c.source != t.id)) {
        let channels = t.channels.clamp(1, 2) as u8;
        let (direction, info) = if t.codec.starts_with("mp4a") && !has("opus") {
            // libopus's own pre-skip at 48 kHz.
            (Direction::AacToOpus, trak::opus(next, channels, 312))
        } else if t.codec == "opus" && !has("mp4a") {
            let h = AdtsHeader::lc(48_000, channels);
            (Direction::OpusToAac, trak::aac(next, &h))
        } else {
            continue;
        };
        out.push(Companion {
            source: t.id,
            source_rate: t.timescale,
            source_channels: channels,
            source_config: aac_config(t),
            info,
            direction,
            process: None,
            anchor: None,
            last_end_us: None,
            supervisor: Supervisor::new("audio"),
        });
        next += 1;
    }
    out
}

/// The AudioSpecificConfig of an AAC track.
fn aac_config(t: &TrackInfo) -> Option<AdtsHeader> {
    let codec = t.trak.mdia.minf.stbl.stsd.codecs.first()?;
    let mp4_atom::Codec::Mp4a(m) = codec else {
        return None;
    };
    let ds = m.esds.es_desc.dec_config.dec_specific.as_ref()?;
    AdtsHeader::from_config(ds.profile, ds.freq_index, ds.chan_conf)
}

/// One companion track and its transcoder.
pub struct Companion {
    source: u32,
    source_rate: u32,
    source_channels: u8,
    source_config: Option<AdtsHeader>,
    info: TrackInfo,
    direction: Direction,
    process: Option<Process>,
    /// Where the transcoder's output starts: microseconds on the time line, in 48 kHz samples
    /// (Opus) or in the AAC output's rate.
    anchor: Option<u64>,
    last_end_us: Option<u64>,
    supervisor: Supervisor,
}

impl std::fmt::Debug for Companion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Companion")
            .field("source", &self.source)
            .field("track", &self.info.id)
            .field("restarts", &self.supervisor.restarts())
            .finish()
    }
}

struct Process {
    child: Child,
    input: SyncSender<Vec<u8>>,
    output: Receiver<Vec<u8>>,
    /// Ogg writer state (Opus in) and the granule so far.
    ogg: Option<(ogg::Writer, u64)>,
    /// Output frames so far (each 960 Opus samples or 1024 AAC samples).
    frames_out: u64,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Companion {
    /// The companion's track.
    pub fn info(&self) -> &TrackInfo {
        &self.info
    }

    /// The source track it follows.
    pub fn source(&self) -> u32 {
        self.source
    }

    /// Take one source sample (already on the broadcast's time line).
    pub fn push(&mut self, s: &Sample, now: Instant) {
        let start_us = s.dts * 1_000_000 / u64::from(s.timescale.max(1));
        let end_us = (s.dts + u64::from(s.duration)) * 1_000_000 / u64::from(s.timescale.max(1));
        let gap = self
            .last_end_us
            .is_some_and(|e| start_us > e + GAP_US || start_us + GAP_US < e);
        self.last_end_us = Some(end_us);
        if gap {
            self.process = None;
        }
        if let Some(p) = &mut self.process
            && p.child.try_wait().ok().flatten().is_some()
        {
            self.process = None;
            self.supervisor.exited(now, self.info.id, "audio");
        }
        if self.process.is_none() {
            if !self.supervisor.may_start(now) {
                return;
            }
            match self.spawn() {
                Ok(p) => {
                    self.process = Some(p);
                    self.anchor = Some(start_us);
                    self.supervisor.started(now);
                }
                Err(e) => {
                    self.supervisor.failed(now, self.info.id, "audio", &e);
                    return;
                }
            }
        }
        let Some(p) = &mut self.process else {
            return;
        };
        let bytes = match self.direction {
            Direction::AacToOpus => match &self.source_config {
                Some(h) => h.frame(&s.data),
                None => return,
            },
            Direction::OpusToAac => {
                let Some((w, granule)) = &mut p.ogg else {
                    return;
                };
                *granule += u64::from(s.duration) * 48_000 / u64::from(self.source_rate.max(1));
                w.page(&s.data, *granule, false)
            }
        };
        // A transcoder that falls behind loses frames, as a lossy link would.
        let _ = p.input.try_send(bytes);
    }

    /// The companion samples ready now.
    pub fn poll(&mut self) -> Vec<Sample> {
        let Some(p) = &mut self.process else {
            return Vec::new();
        };
        let anchor = self.anchor.unwrap_or(0);
        let (rate, per_frame) = match self.direction {
            Direction::AacToOpus => (48_000u64, 960u64),
            Direction::OpusToAac => (u64::from(self.info.timescale), 1024u64),
        };
        let mut out = Vec::new();
        // Empty for now, or the transcoder's end (seen at the next push): nothing more here.
        while let Ok(frame) = p.output.try_recv() {
            let dts = anchor * rate / 1_000_000 + p.frames_out * per_frame;
            p.frames_out += 1;
            out.push(Sample {
                track: self.info.id,
                dts,
                duration: per_frame as u32,
                cts_offset: 0,
                keyframe: true,
                timescale: rate as u32,
                data: Bytes::from(frame),
            });
        }
        out
    }

    fn spawn(&self) -> Result<Process, String> {
        let ffmpeg = ffmpeg().ok_or("transcoding is off")?;
        let mut cmd = Command::new(ffmpeg);
        cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin"])
            .args([
                "-fflags",
                "nobuffer",
                "-probesize",
                "32",
                "-analyzeduration",
                "0",
            ]);
        match self.direction {
            Direction::AacToOpus => {
                cmd.args(["-f", "aac", "-i", "pipe:0"])
                    .args(["-c:a", "libopus", "-b:a", "96k", "-ar", "48000"])
                    .args(["-ac", &self.source_channels.to_string()])
                    .args(["-frame_duration", "20", "-application", "lowdelay"])
                    .args([
                        "-f",
                        "ogg",
                        "-page_duration",
                        "20000",
                        "-flush_packets",
                        "1",
                    ]);
            }
            Direction::OpusToAac => {
                cmd.args(["-f", "ogg", "-i", "pipe:0"])
                    .args(["-c:a", "aac", "-b:a", "128k", "-ar", "48000"])
                    .args(["-ac", &self.source_channels.to_string()])
                    .args(["-f", "adts", "-flush_packets", "1"]);
            }
        }
        cmd.arg("pipe:1");
        let (child, stdin, mut stdout) = spawn_piped(cmd, ffmpeg)?;
        let (input, input_rx) = sync_channel::<Vec<u8>>(QUEUE);
        let (output_tx, output) = sync_channel::<Vec<u8>>(QUEUE);
        let mut ogg = None;
        if self.direction == Direction::OpusToAac {
            let mut w = ogg::Writer::new(1);
            let head = w.opus_headers(self.source_channels, 0);
            let _ = input.try_send(head);
            ogg = Some((w, 0));
        }
        feed("tern-transcode-in", stdin, input_rx)?;
        let direction = self.direction;
        std::thread::Builder::new()
            .name("tern-transcode-out".into())
            .spawn(move || read_frames(&mut stdout, direction, &output_tx))
            .map_err(|e| e.to_string())?;
        Ok(Process {
            child,
            input,
            output,
            ogg,
            frames_out: 0,
        })
    }
}

/// Start `cmd` (a transcoder, `ffmpeg` for errors) with its stdin and stdout piped and its
/// stderr the relay's: the child and both pipes.
fn spawn_piped(
    mut cmd: Command,
    ffmpeg: &std::path::Path,
) -> Result<(Child, ChildStdin, ChildStdout), String> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", ffmpeg.display()))?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    Ok((child, stdin, stdout))
}

/// Write what comes on `input` to a transcoder's `stdin`, from a thread named `name`, until
/// either ends.
fn feed<B: AsRef<[u8]> + Send + 'static>(
    name: &str,
    mut stdin: impl Write + Send + 'static,
    input: Receiver<B>,
) -> Result<(), String> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            for bytes in input {
                if stdin
                    .write_all(bytes.as_ref())
                    .and_then(|()| stdin.flush())
                    .is_err()
                {
                    return;
                }
            }
        })
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Read the transcoder's output into frames until it ends.
fn read_frames(stdout: &mut impl Read, direction: Direction, out: &SyncSender<Vec<u8>>) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut ogg = ogg::Reader::default();
    let mut adts: Vec<u8> = Vec::new();
    loop {
        let n = match stdout.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let frames: Vec<Vec<u8>> = match direction {
            Direction::AacToOpus => match ogg.push(&buf[..n]) {
                Ok(packets) => packets
                    .into_iter()
                    .filter(|p| !p.starts_with(b"OpusHead") && !p.starts_with(b"OpusTags"))
                    .collect(),
                Err(e) => {
                    tracing::warn!("audio transcoder: {e}");
                    return;
                }
            },
            Direction::OpusToAac => {
                adts.extend_from_slice(&buf[..n]);
                let (frames, used) = whole_adts(&adts);
                adts.drain(..used);
                if adts.len() > 1 << 20 {
                    return;
                }
                frames
            }
        };
        for f in frames {
            // Nobody reads (the feed ended) or it is far behind: the frame is dropped.
            let _ = out.try_send(f);
        }
    }
}

/// The whole ADTS frames at the start of `data` (raw AAC payloads) and the bytes they span.
fn whole_adts(data: &[u8]) -> (Vec<Vec<u8>>, usize) {
    let mut used = 0;
    let mut frames = Vec::new();
    while data.len() >= used + 7 {
        let len = (usize::from(data[used + 3] & 0x03) << 11)
            | (usize::from(data[used + 4]) << 3)
            | usize::from(data[used + 5] >> 5);
        if len < 7 || data.len() < used + len {
            break;
        }
        if let Ok(parsed) = split_adts(&data[used..used + len]) {
            frames.extend(parsed.into_iter().map(|(_, raw)| raw.to_vec()));
        }
        used += len;
    }
    (frames, used)
}

#[cfg(test)]
mod tests;
