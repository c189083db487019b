//! `tern origin`: publish a broadcast (media tracks, init track, both catalogs) to a relay from
//! fragmented MP4 on stdin, an MP4 file, the embedded sample clip, or a live ffmpeg ladder; the
//! media tracks answer FETCH from the last `--dvr` of groups; the viewers' events are sequenced
//! into its `events` track.

use std::path::PathBuf;
use std::time::Duration;

use tern_origin::events::{self, Sequencing};
use tern_origin::source::{Fmp4Reader, Input, SAMPLE_CLIP};
use tern_origin::watermark::{Marked, Recording};
use tern_origin::{Broadcast, Dvr, ladder, publish};

use super::client::{ConnectArgs, namespace, shutdown_signal};

/// Options of `tern origin`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Broadcast namespace; `/` separates tuple fields.
    #[arg(long, default_value = "live/demo")]
    pub namespace: String,
    /// Fragmented MP4 to publish: a file, or `-` for stdin (an ffmpeg pipe:
    /// `-f mp4 -movflags cmaf+frag_every_frame+empty_moov+default_base_moof -`).
    #[arg(long, value_name = "FILE|-", conflicts_with_all = ["clip", "ladder"])]
    pub input: Option<String>,
    /// Play the input file again and again, timestamps continuing (a file is paced at real time).
    #[arg(long = "loop")]
    pub looped: bool,
    /// Publish the embedded sample clip (three renditions, AAC and Opus) in a loop (the default
    /// without --input or --ladder).
    #[arg(long, conflicts_with = "ladder")]
    pub clip: bool,
    /// Encode a live test pattern with ffmpeg: 360p, 240p and 144p, AAC and Opus.
    #[arg(long)]
    pub ladder: bool,
    /// Encode a live test pattern as forensic A/B variants of one rendition (one ffmpeg run),
    /// published as `video-<h>p.wm-a` and `.wm-b` and listed as `video-<h>p`; relays with the
    /// watermark plugin serve each viewer one variant per group.
    #[arg(long, conflicts_with_all = ["ladder", "input", "clip"])]
    pub watermark: bool,
    /// Height of the watermarked rendition.
    #[arg(
        long,
        value_name = "PIXELS",
        default_value_t = 360,
        requires = "watermark"
    )]
    pub wm_height: u32,
    /// Frames per second of the watermarked rendition.
    #[arg(long, value_name = "FPS", default_value_t = 25, requires = "watermark")]
    pub wm_fps: u32,
    /// Frames per GOP (one group) of the watermarked rendition: the plugin's `group_ms` is
    /// `1000 * gop / fps`.
    #[arg(
        long,
        value_name = "FRAMES",
        default_value_t = 25,
        requires = "watermark"
    )]
    pub wm_gop: u32,
    /// Luma offset of the mark, in 8-bit levels.
    #[arg(
        long,
        value_name = "LEVELS",
        default_value_t = 3,
        requires = "watermark"
    )]
    pub wm_amplitude: u32,
    /// Keep the variants as encoded in this file: the reference `tern watermark detect` needs.
    #[arg(long, value_name = "FILE", requires = "watermark")]
    pub record: Option<PathBuf>,
    /// Group IDs are this plus media time in milliseconds (default: the Unix time in
    /// milliseconds at start, so a restarted origin's groups are newer).
    #[arg(long, value_name = "ID")]
    pub group_base: Option<u64>,
    /// Sequence the viewers' events (published on `<namespace>/viewers/<id>`) into the
    /// broadcast's ordered `events` track; `--events false` turns it off.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub events: bool,
    /// How long the media tracks keep completed groups in memory for FETCH (DVR): `5m`,
    /// `90s`; `0s` keeps only each current group.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = tern_relay::config::parse_duration)]
    pub dvr: Duration,
    /// Memory the DVR window may use, all media tracks of the broadcast together, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    pub dvr_max_mib: usize,
}

impl Args {
    /// How the broadcast is published.
    fn options(&self) -> publish::Options {
        publish::Options {
            group_base: self.group_base,
            dvr: (!self.dvr.is_zero()).then_some(Dvr {
                window: self.dvr,
                max_bytes: self.dvr_max_mib.saturating_mul(1024 * 1024),
            }),
            watermark: self.watermark,
            ..publish::Options::default()
        }
    }
}

/// Run until the input ends (or Ctrl-C).
pub async fn run(args: Args) -> anyhow::Result<()> {
    let session = args.connect.connect().await?;
    let ns = namespace(&args.namespace);
    let opts = args.connect.options()?;
    // Served before the broadcast is announced, so the first SUBSCRIBE finds the track. The
    // media does not depend on it: a relay that refuses the listing only turns events off.
    let _events = args.events.then(|| {
        let seq = Sequencing::new(
            &session,
            ns.clone(),
            events::Config::default(),
            args.group_base,
        )
        .with_extra_sessions(args.connect.url.clone(), opts);
        eprintln!(
            "tern: sequencing the events of {} (viewers publish on {}/{}/<id>)",
            args.namespace,
            args.namespace,
            events::VIEWERS
        );
        AbortOnDrop(tokio::spawn(async move {
            if let Err(e) = seq.run().await {
                tracing::warn!("events are off: {e:#}");
            }
        }))
    });
    let options = args.options();
    let url = args.connect.url.clone();
    let started = move |b: &Broadcast| {
        eprintln!(
            "tern: publishing {} ({}) at {url}",
            b.path(),
            b.track_names().join(", ")
        );
    };
    let work = async {
        if args.watermark {
            let marked = Marked {
                height: args.wm_height,
                fps: args.wm_fps,
                gop: args.wm_gop,
                amplitude: args.wm_amplitude,
            };
            let (_ffmpeg, stdout) = marked.spawn()?;
            eprintln!(
                "tern: watermark variants, groups of {} ms (the plugin's group_ms)",
                marked.group_ms().unwrap_or(0)
            );
            return match &args.record {
                Some(path) => {
                    let reader = Fmp4Reader::new(Recording::create(stdout, path)?);
                    publish::stream(&session, ns, reader, false, options, started).await
                }
                None => {
                    let reader = Fmp4Reader::new(stdout);
                    publish::stream(&session, ns, reader, false, options, started).await
                }
            };
        }
        if args.ladder {
            let (_ffmpeg, stdout) = ladder::spawn(&ladder::LADDER)?;
            let reader = Fmp4Reader::new(stdout);
            return publish::stream(&session, ns, reader, false, options, started).await;
        }
        match args.input.as_deref() {
            None => {
                publish::looped(&session, ns, Input::Embedded(SAMPLE_CLIP), options, started).await
            }
            Some("-") => {
                let stdin = Fmp4Reader::new(tokio::io::stdin());
                publish::stream(&session, ns, stdin, false, options, started)
                    .await
                    .map_err(|e| e.of_input("stdin".to_owned()))
            }
            Some(path) if args.looped => {
                let input = Input::File(PathBuf::from(path));
                publish::looped(&session, ns, input, options, started).await
            }
            Some(path) => {
                let file = tokio::fs::File::open(path).await.map_err(|source| {
                    tern_origin::Error::Read {
                        input: path.to_owned(),
                        source,
                    }
                })?;
                let reader = Fmp4Reader::new(file);
                publish::stream(&session, ns, reader, true, options, started)
                    .await
                    .map_err(|e| e.of_input(path.to_owned()))
            }
        }
    };
    tokio::select! {
        r = work => r?,
        _ = shutdown_signal() => {}
        e = session.closed() => anyhow::bail!("{}", args.connect.describe(&e)),
    }
    session.flush(Duration::from_secs(5)).await;
    session.close(0, "done");
    Ok(())
}

/// A task that ends with the command.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
