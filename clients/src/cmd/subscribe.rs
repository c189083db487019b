//! `tern subscribe`: objects of one track to stdout.

use tokio::io::AsyncWriteExt;

use tern::framing::{Encoder, Framing};
use tern_moq::message::SubscriptionFilter;

use super::client::{ConnectArgs, namespace, shutdown_signal};
use super::publish::FRAMING_HELP;

/// Options of `tern subscribe`.
#[derive(Debug, clap::Args)]
#[command(after_help = FRAMING_HELP)]
pub struct Args {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Track namespace; `/` separates tuple fields.
    #[arg(long)]
    pub namespace: String,
    /// Track name.
    #[arg(long)]
    pub track: String,
    /// How objects are written to stdout.
    #[arg(long, value_enum, default_value_t = Framing::Lines)]
    pub framing: Framing,
    /// Exit after writing this many objects (`--latest --max-objects 1` prints a broadcast's
    /// current catalog).
    #[arg(long, value_name = "N")]
    pub max_objects: Option<u64>,
    /// Start at the newest object (the current catalog, a track's live edge) instead of the
    /// oldest group the relay holds.
    #[arg(long)]
    pub latest: bool,
}

/// Run until the publisher ends the track (or Ctrl-C).
pub async fn run(args: Args) -> anyhow::Result<()> {
    let session = args.connect.connect().await?;
    let mut sub = session
        .subscribe(
            namespace(&args.namespace),
            args.track.clone().into_bytes(),
            args.latest.then_some(SubscriptionFilter::LargestObject),
        )
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                args.connect
                    .describe_subscribe(&args.namespace, &args.track, &e)
            )
        })?;
    eprintln!("tern: subscribed to {}/{}", args.namespace, args.track);
    let mut out = tokio::io::stdout();
    let mut encoder = Encoder::new(args.framing);
    let mut buf = Vec::new();
    let mut written = 0u64;
    let result = loop {
        if args.max_objects.is_some_and(|max| written >= max) {
            break Ok(());
        }
        let next = tokio::select! {
            n = sub.next() => n,
            _ = shutdown_signal() => break Ok(()),
        };
        match next {
            Ok(Some(o)) => {
                buf.clear();
                encoder.encode(o.location.group, &o.payload, &mut buf);
                out.write_all(&buf).await?;
                out.flush().await?;
                written += 1;
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(anyhow::anyhow!(args.connect.describe(&e))),
        }
    };
    drop(sub);
    session.close(0, "done");
    result
}
