//! The three runs, each on a relay of its own: the latency a frame gains on its way through a
//! gateway (RTMP, SRT, WHIP), the relay's CPU per ingested stream, and many RTMP publishers at
//! once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};

use crate::media::{self, Chunk, Files, Tag};
use crate::relay::{self, CpuSample, Options, Relay};
use crate::rtmp::{self, Sent};
use crate::stats::{self, Latencies};
use crate::{srt, viewer, whip};

/// An ingest protocol, as a run publishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// The bench's own RTMP client.
    Rtmp,
    /// `srt-live-transmit`, both sides at `latency_ms` (`None`: both at their default, 120 ms).
    Srt {
        /// The SRT latency asked for by the caller and offered by the relay.
        latency_ms: Option<u64>,
    },
    /// The bench's own WHIP client (str0m), video only.
    Whip,
}

impl Proto {
    /// How the summary names it.
    pub fn label(self) -> String {
        match self {
            Proto::Rtmp => "RTMP".into(),
            Proto::Srt { latency_ms: None } => "SRT (latency 120 ms, default)".into(),
            Proto::Srt {
                latency_ms: Some(ms),
            } => format!("SRT (latency {ms} ms)"),
            Proto::Whip => "WHIP".into(),
        }
    }

    /// A name for files: `rtmp`, `srt-120`, `srt-20`.
    pub fn label_short(self) -> String {
        match self {
            Proto::Rtmp => "rtmp".into(),
            Proto::Srt { latency_ms } => format!("srt-{}", latency_ms.unwrap_or(120)),
            Proto::Whip => "whip".into(),
        }
    }

    /// The protocol's name, as `--protocols` takes it: `rtmp`, `srt`, `whip`.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Rtmp => "rtmp",
            Proto::Srt { .. } => "srt",
            Proto::Whip => "whip",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Proto::Rtmp => "bench/rtmp",
            Proto::Srt { .. } => "bench/srt",
            Proto::Whip => "bench/whip",
        }
    }
}

/// What every run shares.
pub struct Ctx {
    /// The `tern` binary.
    pub tern: PathBuf,
    /// Where the relays' logs go.
    pub logs: PathBuf,
    /// The measurement window (and, for latency, the media sent after the first seconds).
    pub window: Duration,
    /// The 720p input as FLV tags.
    pub tags: Arc<Vec<Tag>>,
    /// The 720p input as SRT payloads.
    pub chunks: Arc<Vec<Chunk>>,
    /// The 720p input's video as Annex-B access units (WHIP).
    pub frames: Arc<Vec<Arc<[u8]>>>,
    /// The runtime of the viewer.
    pub rt: tokio::runtime::Runtime,
}

impl Ctx {
    fn relay(&self, name: &str, options: &Options) -> anyhow::Result<Relay> {
        Relay::start(&self.tern, options, &self.logs.join(format!("{name}.log")))
    }

    /// Publish `limit` of the 720p input over `proto` on a thread of its own.
    fn publish(
        &self,
        relay: &Relay,
        proto: Proto,
        limit: Duration,
    ) -> std::thread::JoinHandle<anyhow::Result<Vec<Sent>>> {
        let (rtmp_addr, srt_addr, http_addr) = (relay.rtmp, relay.srt, relay.http);
        let path = proto.path();
        let (tags, chunks, frames) = (self.tags.clone(), self.chunks.clone(), self.frames.clone());
        std::thread::spawn(move || match proto {
            Proto::Rtmp => rtmp::publish(rtmp_addr, "bench", "rtmp", &media::MAIN, &tags, limit),
            Proto::Srt { latency_ms } => srt::publish(srt_addr, path, latency_ms, &chunks, limit),
            Proto::Whip => whip::publish(http_addr, path, media::MAIN.fps, &frames, limit),
        })
    }
}

fn join<T>(h: std::thread::JoinHandle<anyhow::Result<T>>) -> anyhow::Result<T> {
    h.join()
        .map_err(|_| anyhow!("the publisher thread panicked"))?
}

/// A latency run's result.
#[derive(Debug)]
pub struct LatencyRun {
    /// The frames matched.
    pub latencies: Latencies,
    /// The video track.
    pub track: String,
    /// Objects the viewer received in all.
    pub received: usize,
    /// The SRT latency the relay agreed on, as it logged it.
    pub agreed: Option<String>,
}

/// Publish over `proto` with a viewer subscribed: each frame's send-to-receive time, and its
/// `prft`-to-receive time.
pub fn latency(ctx: &Ctx, proto: Proto) -> anyhow::Result<LatencyRun> {
    let options = Options {
        transcode_audio: true,
        srt_latency_ms: match proto {
            Proto::Srt { latency_ms } => latency_ms,
            Proto::Rtmp | Proto::Whip => None,
        },
        ladder: Vec::new(),
    };
    let name = format!("latency-{}", proto.label_short());
    let relay = ctx.relay(&name, &options)?;
    // The viewer joins within the first second; the frames up to two seconds after it are left
    // out (they came out of the relay's cache), and so are the last ones (a TS stream's last
    // frame goes out only when the call ends).
    let skip = Duration::from_secs(2);
    let limit = ctx.window + Duration::from_secs(6);
    let publisher = ctx.publish(&relay, proto, limit);
    let until = Instant::now() + limit + Duration::from_secs(8);
    let watched = ctx
        .rt
        .block_on(viewer::watch(&relay.moqt_url(), proto.path(), until));
    let sent = join(publisher).context("publisher")?;
    let watched = watched.context("viewer")?;
    let latencies = stats::match_frames(&sent, &watched, skip, ctx.window)?;
    let csv = ctx.logs.join(format!("{name}.csv"));
    std::fs::write(&csv, latencies.csv()).with_context(|| format!("write {}", csv.display()))?;
    let agreed = relay
        .log
        .srt_admissions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .first()
        .and_then(|l| l.split("latency_ms").nth(1))
        .map(|rest| {
            rest.trim_start_matches(|c: char| !c.is_ascii_digit())
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        });
    Ok(LatencyRun {
        latencies,
        track: watched.track,
        received: watched.objects.len(),
        agreed,
    })
}

/// CPU seconds per second of ingest.
#[derive(Debug, Clone, Copy)]
pub struct CpuRun {
    /// The relay process.
    pub relay: f64,
    /// Its descendants (the audio transcoders).
    pub children: f64,
}

/// The relay's CPU (and its children's) over the window while one 720p stream comes in over
/// `proto`, nobody watching.
pub fn cpu(ctx: &Ctx, proto: Proto, transcode_audio: bool) -> anyhow::Result<CpuRun> {
    let options = Options {
        transcode_audio,
        srt_latency_ms: None,
        ladder: Vec::new(),
    };
    let name = format!(
        "cpu-{}-transcode-{}",
        proto.label_short(),
        if transcode_audio { "on" } else { "off" }
    );
    cpu_of(ctx, proto, &options, &name)
}

/// The relay's CPU (and its ladder's) over the window while one 720p RTMP stream comes in
/// with `rungs` as `ingest.ladder` (audio transcoding off), nobody watching.
pub fn ladder(ctx: &Ctx, rungs: &[&str]) -> anyhow::Result<CpuRun> {
    let options = Options {
        transcode_audio: false,
        srt_latency_ms: None,
        ladder: rungs.iter().map(|r| r.to_string()).collect(),
    };
    let name = format!("ladder-{}", rungs.len());
    cpu_of(ctx, Proto::Rtmp, &options, &name)
}

fn cpu_of(ctx: &Ctx, proto: Proto, options: &Options, name: &str) -> anyhow::Result<CpuRun> {
    let relay = ctx.relay(name, options)?;
    let warmup = Duration::from_secs(5);
    let limit = warmup + ctx.window + Duration::from_secs(3);
    let publisher = ctx.publish(&relay, proto, limit);
    let measured = (|| {
        relay.wait_publishes(1, Duration::from_secs(10))?;
        std::thread::sleep(warmup);
        let (s0, t0) = (CpuSample::read(relay.pid)?, Instant::now());
        std::thread::sleep(ctx.window);
        let (s1, t1) = (CpuSample::read(relay.pid)?, Instant::now());
        let (own, children) = s1.since(&s0);
        let secs = (t1 - t0).as_secs_f64();
        anyhow::Ok(CpuRun {
            relay: own / secs,
            children: children / secs,
        })
    })();
    join(publisher).context("publisher")?;
    measured
}

/// One step of the many-publishers run.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// Publishers at once.
    pub publishers: usize,
    /// Relay CPU seconds per second.
    pub cpu: f64,
    /// Relay RSS at the window's end, bytes.
    pub rss: u64,
}

/// An ffmpeg publisher, killed on drop.
struct Ffmpeg(Child);

impl Drop for Ffmpeg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ffmpeg_publisher(input: &Path, url: &str) -> anyhow::Result<Ffmpeg> {
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-stream_loop", "-1", "-i"])
        .arg(input)
        .args(["-c", "copy", "-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("run ffmpeg")?;
    Ok(Ffmpeg(child))
}

/// `steps` RTMP publishers at once (ffmpeg `-re -stream_loop -1 -c copy` of the 360p input),
/// transcoding off: the relay's CPU over the window and its RSS at each step.
pub fn publishers(ctx: &Ctx, small: &Files, steps: &[usize]) -> anyhow::Result<Vec<Step>> {
    let options = Options {
        transcode_audio: false,
        srt_latency_ms: None,
        ladder: Vec::new(),
    };
    let relay = ctx.relay("publishers", &options)?;
    let mut running: Vec<Ffmpeg> = Vec::new();
    let mut out = Vec::new();
    for &n in steps {
        while running.len() < n {
            let url = format!("rtmp://{}/bench/p{}", relay.rtmp, running.len());
            running.push(ffmpeg_publisher(&small.flv, &url)?);
            // Staggered, as encoders come one by one.
            std::thread::sleep(Duration::from_millis(100));
        }
        relay.wait_publishes(n, Duration::from_secs(30))?;
        std::thread::sleep(Duration::from_secs(5));
        let (s0, t0) = (CpuSample::read(relay.pid)?, Instant::now());
        std::thread::sleep(ctx.window);
        let (s1, t1) = (CpuSample::read(relay.pid)?, Instant::now());
        let rss = relay::rss_bytes(relay.pid)?;
        let ended = running
            .iter_mut()
            .map(|f| f.0.try_wait())
            .filter(|w| matches!(w, Ok(Some(_))))
            .count();
        anyhow::ensure!(
            ended == 0,
            "{ended} of {n} ffmpeg publishers ended; relay problems: {:?}",
            relay.problems()
        );
        let step = Step {
            publishers: n,
            cpu: s1.since(&s0).0 / (t1 - t0).as_secs_f64(),
            rss,
        };
        println!(
            "  {n:>3} publishers: relay CPU {:.3} s/s, RSS {:.1} MiB",
            step.cpu,
            rss as f64 / 1048576.0
        );
        out.push(step);
    }
    Ok(out)
}
