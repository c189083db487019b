//! The ladder: lower renditions of a broadcast's video, made by one supervised ffmpeg per
//! broadcast, for players whose ABR needs them.
//!
//! The source video's samples go to ffmpeg as fragmented MP4 (its init segment, then one
//! fragment per frame) and come back as one fragmented MP4 with a track per rung: scaled to
//! the rung's height, H.264 at the rung's bitrate, no B-frames, a keyframe exactly where the
//! source has one (`-force_key_frames source`, no scene-cut or interval keyframes) and one
//! output frame per input frame. Each output frame is put on the broadcast's time line at the
//! source frame's time (the first output frame is the first frame fed; later ones keep their
//! distance from it), so a rendition's groups open at the source's keyframes and carry the
//! source's group IDs: a player switches between them at any group.
//!
//! A transcoder that dies is started again after a backoff (`supervise::Supervisor`) at the next
//! source keyframe; its renditions resume at that group. A transcoder that falls behind loses
//! frames up to the next source keyframe (it is never fed half a GOP).

use std::io::Read;
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Instant;

use bytes::Bytes;
use tern_cmaf::demux::{self, Demuxer};
use tern_cmaf::{Sample, TrackInfo, TrackKind, mux};

use super::supervise::Supervisor;

/// Frames queued towards the transcoder before it counts as behind.
const QUEUE: usize = 120;
/// Output events queued back.
const OUT_QUEUE: usize = 512;

/// One rung: a rendition `height` pixels high at `bitrate` bits per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rung {
    /// Height in pixels (the width keeps the source's aspect, rounded to even).
    pub height: u16,
    /// Video bitrate, bits per second.
    pub bitrate: u32,
}

static LADDER: OnceLock<Vec<Rung>> = OnceLock::new();

/// Make these renditions of every ingested broadcast's video (none: no ladder), once per
/// process; later calls change nothing. Needs the transcoder's ffmpeg ([`super::set_ffmpeg`]).
pub fn set_ladder(rungs: Vec<Rung>) {
    let _ = LADDER.get_or_init(|| rungs);
}

fn rungs() -> &'static [Rung] {
    LADDER.get().map_or(&[], Vec::as_slice)
}

/// The ladder of `tracks` (its first video track; rungs below the source's height only, no
/// upscaling), its tracks numbered from `next_id`; `None` without a ladder, ffmpeg, video or a
/// rung below the source.
pub fn ladder(tracks: &[TrackInfo], next_id: u32) -> Option<Ladder> {
    super::ffmpeg()?;
    let source = tracks.iter().find(|t| t.kind == TrackKind::Video)?;
    let rungs: Vec<Rung> = rungs()
        .iter()
        .copied()
        .filter(|r| r.height < source.height)
        .collect();
    if rungs.is_empty() {
        return None;
    }
    Some(Ladder::new(source.clone(), rungs, next_id))
}

/// The renditions of one source video track and their transcoder.
pub struct Ladder {
    source: TrackInfo,
    rungs: Vec<Rung>,
    /// The renditions' track IDs, by rung.
    ids: Vec<u32>,
    /// The renditions' tracks, once the transcoder said them.
    tracks: Option<Vec<TrackInfo>>,
    /// Told by [`Ladder::poll`] and not yet taken.
    new_tracks: bool,
    process: Option<Process>,
    /// Frames are fed from the next keyframe on (at start, after the transcoder fell behind).
    await_key: bool,
    sequence: u32,
    supervisor: Supervisor,
}

impl std::fmt::Debug for Ladder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ladder")
            .field("source", &self.source.id)
            .field("rungs", &self.rungs)
            .field("restarts", &self.supervisor.restarts())
            .finish()
    }
}

struct Process {
    child: Child,
    input: SyncSender<Bytes>,
    output: Receiver<demux::Event>,
    /// The time line's decode time of the first frame fed, in the source's timescale.
    anchor: u64,
    /// The transcoder's decode time of its first output frame, per output track.
    first_out: Vec<Option<u64>>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Ladder {
    fn new(source: TrackInfo, rungs: Vec<Rung>, next_id: u32) -> Self {
        let ids = (next_id..).take(rungs.len()).collect();
        Self {
            source,
            rungs,
            ids,
            tracks: None,
            new_tracks: false,
            process: None,
            await_key: true,
            sequence: 0,
            supervisor: Supervisor::new("ladder"),
        }
    }

    /// The source track it follows.
    pub fn source(&self) -> u32 {
        self.source.id
    }

    /// The renditions' track IDs.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// The renditions' tracks, once the transcoder said them.
    pub fn tracks(&self) -> Option<&[TrackInfo]> {
        self.tracks.as_deref()
    }

    /// Times its transcoder exited and was started again.
    pub fn restarts(&self) -> u64 {
        self.supervisor.restarts()
    }

    /// Take one source sample (already on the broadcast's time line).
    pub fn push(&mut self, s: &Sample, now: Instant) {
        if s.track != self.source.id {
            return;
        }
        if let Some(p) = &mut self.process
            && p.child.try_wait().ok().flatten().is_some()
        {
            self.process = None;
            self.supervisor.exited(now, self.source.id, "ladder");
        }
        if self.process.is_none() {
            if !s.keyframe || !self.supervisor.may_start(now) {
                return;
            }
            match self.spawn(s.dts) {
                Ok(p) => {
                    self.process = Some(p);
                    self.await_key = false;
                    self.supervisor.started(now);
                }
                Err(e) => {
                    self.supervisor.failed(now, self.source.id, "ladder", &e);
                    return;
                }
            }
        }
        if self.await_key && !s.keyframe {
            return;
        }
        let Some(p) = &mut self.process else {
            return;
        };
        self.sequence = self.sequence.wrapping_add(1);
        let chunk = mux::chunk(s, self.sequence, 0);
        match p.input.try_send(chunk) {
            Ok(()) => self.await_key = false,
            // Behind: nothing more until the next keyframe, so it never decodes half a GOP.
            Err(TrySendError::Full(_)) => self.await_key = true,
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// The renditions' samples ready now; [`Ladder::take_tracks`] says when their tracks are
    /// new (the transcoder's first output, or a restarted one's that differs).
    pub fn poll(&mut self) -> Vec<Sample> {
        let Some(p) = &mut self.process else {
            return Vec::new();
        };
        let mut out = Vec::new();
        while let Ok(event) = p.output.try_recv() {
            match event {
                demux::Event::Init(tracks) => {
                    let renamed = rendition_tracks(tracks, &self.ids);
                    if self.tracks.as_ref() != Some(&renamed) {
                        self.tracks = Some(renamed);
                        self.new_tracks = true;
                    }
                    p.first_out = vec![None; self.ids.len()];
                }
                demux::Event::Sample(mut s) => {
                    // ffmpeg numbers its output tracks from 1, in rung order.
                    let Some(i) = (s.track as usize).checked_sub(1) else {
                        continue;
                    };
                    let (Some(id), Some(first)) = (self.ids.get(i), p.first_out.get_mut(i)) else {
                        continue;
                    };
                    let first = *first.get_or_insert(s.dts);
                    let Some(since) = s.dts.checked_sub(first) else {
                        continue;
                    };
                    s.track = *id;
                    s.dts = p.anchor + rescale(since, s.timescale, self.source.timescale);
                    s.duration = rescale(u64::from(s.duration), s.timescale, self.source.timescale)
                        .try_into()
                        .unwrap_or(u32::MAX);
                    s.cts_offset = 0;
                    s.timescale = self.source.timescale;
                    out.push(s);
                }
            }
        }
        out
    }

    /// The renditions' tracks, when they are new since the last call.
    pub fn take_tracks(&mut self) -> Option<Vec<TrackInfo>> {
        if !std::mem::take(&mut self.new_tracks) {
            return None;
        }
        self.tracks.clone()
    }

    /// The ffmpeg command of this ladder (input and output on pipes).
    pub fn command(&self, ffmpeg: &std::path::Path) -> Command {
        let n = self.rungs.len();
        let mut graph = format!("[0:v]split={n}");
        for i in 0..n {
            graph.push_str(&format!("[s{i}]"));
        }
        for (i, r) in self.rungs.iter().enumerate() {
            graph.push_str(&format!(";[s{i}]scale=-2:{}[o{i}]", r.height));
        }
        let mut cmd = Command::new(ffmpeg);
        cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin"])
            // One decoding thread: frame threads would hold a frame each.
            .args(["-threads", "1", "-f", "mp4", "-i", "pipe:0"])
            .args(["-filter_complex", &graph]);
        for i in 0..n {
            cmd.args(["-map", &format!("[o{i}]")]);
        }
        cmd.args([
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
        ])
        .args(["-pix_fmt", "yuv420p", "-bf", "0", "-sc_threshold", "0"])
        .args(["-g", "100000", "-force_key_frames", "source"])
        .args(["-fps_mode", "passthrough"]);
        for (i, r) in self.rungs.iter().enumerate() {
            let rate = r.bitrate.to_string();
            let buf = (u64::from(r.bitrate) * 2).to_string();
            cmd.args([format!("-b:v:{i}"), rate.clone()])
                .args([format!("-maxrate:v:{i}"), rate])
                .args([format!("-bufsize:v:{i}"), buf]);
        }
        cmd.args(["-video_track_timescale", &self.source.timescale.to_string()])
            .args([
                "-movflags",
                "cmaf+frag_every_frame+empty_moov+default_base_moof",
            ])
            .args(["-flush_packets", "1", "-f", "mp4", "pipe:1"]);
        cmd
    }

    fn spawn(&self, anchor: u64) -> Result<Process, String> {
        let ffmpeg = super::ffmpeg().ok_or("transcoding is off")?;
        let (child, stdin, mut stdout) = super::spawn_piped(self.command(ffmpeg), ffmpeg)?;
        let (input, input_rx) = sync_channel::<Bytes>(QUEUE);
        let (output_tx, output) = sync_channel::<demux::Event>(OUT_QUEUE);
        let init = mux::init_segment(&[&self.source]);
        // The init segment first (the queue is empty), then the frames.
        let _ = input.try_send(init);
        super::feed("tern-ladder-in", stdin, input_rx)?;
        std::thread::Builder::new()
            .name("tern-ladder-out".into())
            .spawn(move || read_output(&mut stdout, &output_tx))
            .map_err(|e| e.to_string())?;
        Ok(Process {
            child,
            input,
            output,
            anchor,
            first_out: vec![None; self.ids.len()],
        })
    }
}

/// The transcoder's tracks as the broadcast's renditions: numbered `ids`, in rung order.
fn rendition_tracks(tracks: Vec<TrackInfo>, ids: &[u32]) -> Vec<TrackInfo> {
    tracks
        .into_iter()
        .zip(ids)
        .map(|(mut t, id)| {
            t.id = *id;
            t.trak.tkhd.track_id = *id;
            t.trex.track_id = *id;
            t
        })
        .collect()
}

/// `ticks` from timescale `from` to `to`.
fn rescale(ticks: u64, from: u32, to: u32) -> u64 {
    (u128::from(ticks) * u128::from(to) / u128::from(from.max(1))) as u64
}

/// Read the transcoder's fragmented MP4 into events until it ends (or is not MP4).
fn read_output(stdout: &mut impl Read, out: &SyncSender<demux::Event>) {
    let mut demuxer = Demuxer::new(demux::Limits::default());
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stdout.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if let Err(e) = demuxer.push(&buf[..n]) {
            tracing::warn!("ladder transcoder: {e}");
            return;
        }
        while let Some(event) = demuxer.poll() {
            // Nobody reads (the feed ended): the transcoder is stopped with it.
            if out.send(event).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;
