//! `tern origin`: publish a broadcast (media tracks, init track, both catalogs) to a relay from
//! fragmented MP4 on stdin, an MP4 file, the embedded sample clip, or a live ffmpeg ladder.

use std::path::PathBuf;
use std::time::Duration;

use tern_cmaf::demux::Event;
use tern_origin::source::{FileLoop, Fmp4Reader, Input, Pacer, SAMPLE_CLIP};
use tern_origin::{Broadcast, Priorities, ladder};

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
    /// Publish the embedded sample clip (three renditions, AAC and Opus) in a loop.
    #[arg(long, conflicts_with = "ladder")]
    pub clip: bool,
    /// Encode a live test pattern with ffmpeg: 360p, 240p and 144p, AAC and Opus.
    #[arg(long)]
    pub ladder: bool,
    /// Group IDs are this plus media time in milliseconds (default: the Unix time in
    /// milliseconds at start, so a restarted origin's groups are newer).
    #[arg(long, value_name = "ID")]
    pub group_base: Option<u64>,
}

/// Run until the input ends (or Ctrl-C).
pub async fn run(args: Args) -> anyhow::Result<()> {
    let session = args.connect.connect().await?;
    let ns = namespace(&args.namespace);
    let publish = async {
        if args.clip || args.ladder || args.input.is_none() {
            if args.ladder {
                let (_ffmpeg, stdout) = ladder::spawn(&ladder::LADDER)?;
                return stream(&session, &args, ns.clone(), Fmp4Reader::new(stdout), false).await;
            }
            return looped(&session, &args, ns.clone(), Input::Embedded(SAMPLE_CLIP)).await;
        }
        match args.input.as_deref() {
            Some("-") => {
                let stdin = Fmp4Reader::new(tokio::io::stdin());
                stream(&session, &args, ns.clone(), stdin, false).await
            }
            Some(path) if args.looped => {
                looped(
                    &session,
                    &args,
                    ns.clone(),
                    Input::File(PathBuf::from(path)),
                )
                .await
            }
            Some(path) => {
                let file = tokio::fs::File::open(path)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot open {path}: {e}"))?;
                stream(&session, &args, ns.clone(), Fmp4Reader::new(file), true).await
            }
            None => Ok(()),
        }
    };
    tokio::select! {
        r = publish => r?,
        _ = shutdown_signal() => {}
        e = session.closed() => anyhow::bail!("{}", args.connect.describe(&e)),
    }
    session.flush(Duration::from_secs(5)).await;
    session.close(0, "done");
    Ok(())
}

async fn start(
    session: &tern_client::Session,
    args: &Args,
    ns: tern_moq::TrackNamespace,
    tracks: Vec<tern_cmaf::TrackInfo>,
) -> anyhow::Result<Broadcast> {
    let b = Broadcast::start(session, ns, tracks, Priorities::default(), args.group_base).await?;
    eprintln!(
        "tern: publishing {} ({}) at {}",
        b.path(),
        b.track_names().join(", "),
        args.connect.url
    );
    Ok(b)
}

/// Publish a stream of fragmented MP4 until it ends: a live pipe as samples arrive, a file
/// (`pace`) at the speed of its timestamps.
async fn stream<R: tokio::io::AsyncRead + Unpin>(
    session: &tern_client::Session,
    args: &Args,
    ns: tern_moq::TrackNamespace,
    mut reader: Fmp4Reader<R>,
    pace: bool,
) -> anyhow::Result<()> {
    let tracks = reader.tracks().await?;
    let mut b = start(session, args, ns, tracks).await?;
    let mut pacer = Pacer::new();
    while let Some(event) = reader.next().await? {
        if let Event::Sample(s) = event {
            if pace {
                pacer.wait(&s).await;
            }
            b.push(&s)?;
        }
    }
    b.finish();
    Ok(())
}

/// A file (or the clip) looped forever at real time.
async fn looped(
    session: &tern_client::Session,
    args: &Args,
    ns: tern_moq::TrackNamespace,
    input: Input,
) -> anyhow::Result<()> {
    let mut source = FileLoop::from_input(input).await?;
    let mut b = start(session, args, ns, source.tracks().to_vec()).await?;
    let mut pacer = Pacer::new();
    loop {
        let s = source.next().await?;
        pacer.wait(&s).await;
        b.push(&s)?;
    }
}
