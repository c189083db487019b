//! `tern publish`: objects from stdin, published under a namespace for subscribers to find.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::AsyncReadExt;

use tern::client::TrackWriter;
use tern::framing::{Decoder, Framing, Record};

use super::client::{ConnectArgs, namespace, shutdown_signal};

/// Options of `tern publish`.
#[derive(Debug, clap::Args)]
#[command(after_help = FRAMING_HELP)]
pub struct Args {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Track namespace; `/` separates tuple fields (`live/cam1` is ("live", "cam1")).
    #[arg(long)]
    pub namespace: String,
    /// Track name.
    #[arg(long)]
    pub track: String,
    /// How stdin is cut into objects.
    #[arg(long, value_enum, default_value_t = Framing::Lines)]
    pub framing: Framing,
    /// Lines framing: objects per group.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub group_size: usize,
    /// First group ID (default: the Unix time in milliseconds, so a restarted publisher's
    /// groups are newer than the last run's).
    #[arg(long, value_name = "ID")]
    pub first_group: Option<u64>,
    /// Largest object accepted from stdin, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_object: usize,
    /// Keep serving after stdin ends (until Ctrl-C) instead of ending the track.
    #[arg(long)]
    pub linger: bool,
}

/// Shown after `tern publish --help` and `tern subscribe --help`.
pub const FRAMING_HELP: &str = "\
Framing (stdin for publish, stdout for subscribe):
  lines   each \\n-terminated line is one object (the \\n is not part of it); publish starts a
          new group every --group-size objects; subscribe prints each object and a \\n.
  length  each record is a u32 big-endian length then that many bytes; a zero-length record
          starts a new group (objects are never empty); subscribe writes one between groups.
When stdin ends the track ends: subscribers get PUBLISH_DONE after the last object.";

/// Run until stdin ends (or Ctrl-C).
pub async fn run(args: Args) -> anyhow::Result<()> {
    let session = args.connect.connect().await?;
    let ns = namespace(&args.namespace);
    let track = TrackWriter::new(ns.clone(), args.track.clone().into_bytes());
    session.serve_track(&track);
    let announcement = session
        .publish_namespace(ns)
        .await
        .map_err(|e| anyhow::anyhow!("cannot publish namespace {}: {e}", args.namespace))?;
    eprintln!(
        "tern: publishing {}/{} at {}",
        args.namespace, args.track, args.connect.url
    );
    let first = args.first_group.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    });
    let mut decoder = Decoder::new(args.framing, args.group_size, args.max_object);
    let pump = pump(&track, &mut decoder, first);
    tokio::select! {
        r = pump => r?,
        _ = shutdown_signal() => {}
        e = session.closed() => anyhow::bail!("{}", args.connect.describe(&e)),
    }
    if args.linger {
        shutdown_signal().await;
    }
    track.finish();
    session.flush(Duration::from_secs(5)).await;
    announcement.done();
    session.close(0, "done");
    Ok(())
}

async fn pump(track: &TrackWriter, decoder: &mut Decoder, first: u64) -> anyhow::Result<()> {
    let mut stdin = tokio::io::stdin();
    let mut buf = vec![0u8; 64 * 1024];
    let mut group = first;
    let mut started = false;
    let mut objects_in_group = 0usize;
    let mut apply = |record: Record| -> anyhow::Result<()> {
        match record {
            Record::NewGroup => {
                if objects_in_group > 0 {
                    group += 1;
                    started = false;
                }
            }
            Record::Object(payload) => {
                if !started {
                    track.new_group(group)?;
                    started = true;
                    objects_in_group = 0;
                }
                track.write_object(payload)?;
                objects_in_group += 1;
            }
        }
        Ok(())
    };
    loop {
        let n = stdin.read(&mut buf).await?;
        if n == 0 {
            if let Some(r) = decoder.finish()? {
                apply(r)?;
            }
            return Ok(());
        }
        decoder.push(&buf[..n]);
        while let Some(r) = decoder.poll()? {
            apply(r)?;
        }
    }
}
