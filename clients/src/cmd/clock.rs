//! `tern clock publish|subscribe`: the clock of Cloudflare's `moq-clock-ietf`, on the wire
//! exactly as it publishes and reads it (see [`tern::clock`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tern::client::{Announcement, Session, TrackWriter};
use tern::clock::{ClockDecoder, NAMESPACE, TRACK, UtcTime, minute_of};

use super::client::{ConnectArgs, namespace, shutdown_signal};

/// `tern clock` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Publish the time once a second (one group per minute), like `moq-clock-ietf --publish`.
    Publish(Args),
    /// Print the time from a clock track, like `moq-clock-ietf` without `--publish`.
    Subscribe(Args),
}

/// Options of `tern clock publish` and `tern clock subscribe`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Track namespace (`/` separates tuple fields).
    #[arg(long, default_value = NAMESPACE)]
    pub namespace: String,
    /// Track name.
    #[arg(long, default_value = TRACK)]
    pub track: String,
}

/// Run a clock subcommand until Ctrl-C (or the track ends).
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Publish(args) => publish(args).await,
        Command::Subscribe(args) => subscribe(args).await,
    }
}

async fn publish(args: Args) -> anyhow::Result<()> {
    let session = args.connect.connect().await?;
    let (track, _announcement) = start_publisher(&session, &args.namespace, &args.track)
        .await
        .map_err(|e| anyhow::anyhow!(args.connect.describe(&e)))?;
    tokio::select! {
        r = tick(&track, true) => r?,
        _ = shutdown_signal() => {}
        e = session.closed() => anyhow::bail!("{}", args.connect.describe(&e)),
    }
    track.finish();
    session.flush(Duration::from_secs(2)).await;
    session.close(0, "done");
    Ok(())
}

/// Serve a clock track on `session` and announce its namespace (for as long as the returned
/// announcement lives); then tick with [`tick`].
pub async fn start_publisher(
    session: &Session,
    ns: &str,
    track: &str,
) -> Result<(TrackWriter, Announcement), tern::client::Error> {
    let writer = TrackWriter::new(namespace(ns), track.as_bytes().to_vec());
    session.serve_track(&writer);
    let announcement = session.publish_namespace(namespace(ns)).await?;
    Ok((writer, announcement))
}

fn unix_now() -> (i64, Duration) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as i64, d)
}

/// Write the clock forever: a group per minute, its base first, then one object per second.
/// Group IDs start at the minute of the hour, as `moq-clock-ietf` does. With `print`, each
/// tick is also printed to stdout.
pub async fn tick(track: &TrackWriter, print: bool) -> anyhow::Result<()> {
    let (start, _) = unix_now();
    let mut group = u64::from(UtcTime::from_unix(start).minute);
    let mut minute = None;
    loop {
        let (secs, exact) = unix_now();
        let t = UtcTime::from_unix(secs);
        if minute.is_some_and(|m| m != minute_of(secs)) {
            group += 1;
        }
        if minute != Some(minute_of(secs)) {
            minute = Some(minute_of(secs));
            track.new_group(group)?;
            track.write_object(t.base().into())?;
        }
        track.write_object(t.seconds().into())?;
        if print {
            println!("{}{}", t.base(), t.seconds());
        }
        let next = Duration::from_secs(exact.as_secs() + 1);
        tokio::time::sleep(next.saturating_sub(exact)).await;
    }
}

async fn subscribe(args: Args) -> anyhow::Result<()> {
    let session = args.connect.connect().await?;
    // No filter, as moq-clock-ietf: the publisher starts at the current minute's base.
    let mut sub = session
        .subscribe(
            namespace(&args.namespace),
            args.track.clone().into_bytes(),
            None,
        )
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                args.connect
                    .describe_subscribe(&args.namespace, &args.track, &e)
            )
        })?;
    let mut decoder = ClockDecoder::default();
    let result = loop {
        let next = tokio::select! {
            n = sub.next() => n,
            _ = shutdown_signal() => break Ok(()),
        };
        match next {
            Ok(Some(o)) => {
                if let Some(line) = decoder.object(o.location.group, o.location.object, &o.payload)
                {
                    println!("{line}");
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(anyhow::anyhow!(args.connect.describe(&e))),
        }
    };
    drop(sub);
    session.close(0, "done");
    result
}
