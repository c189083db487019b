//! Driving a source into a broadcast: a stream of fragmented MP4 until it ends, or an input
//! looped forever, paced at the speed of its timestamps when it is not live.

use tern_cmaf::demux::Event;
use tern_moq::TrackNamespace;
use tokio::io::AsyncRead;

use crate::Broadcast;
use crate::source::{FileLoop, Fmp4Reader, Input, Pacer};

pub use crate::broadcast::{Options, Target};

/// Publish `reader` under `namespace` until it ends: a live pipe as samples arrive, a file
/// (`pace`) at the speed of its timestamps. `started` sees the broadcast once it is announced.
pub async fn stream<R: AsyncRead + Unpin>(
    target: impl Into<Target<'_>>,
    namespace: TrackNamespace,
    mut reader: Fmp4Reader<R>,
    pace: bool,
    options: Options,
    started: impl FnOnce(&Broadcast),
) -> crate::Result<()> {
    let tracks = reader.tracks().await?;
    let mut b = Broadcast::start(target, namespace, tracks, &options).await?;
    started(&b);
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

/// Publish `input` under `namespace` in a loop, timestamps continuing, at real time. Returns
/// only on an error.
pub async fn looped(
    target: impl Into<Target<'_>>,
    namespace: TrackNamespace,
    input: Input,
    options: Options,
    started: impl FnOnce(&Broadcast),
) -> crate::Result<()> {
    let mut source = FileLoop::from_input(input).await?;
    let mut b = Broadcast::start(target, namespace, source.tracks().to_vec(), &options).await?;
    started(&b);
    let mut pacer = Pacer::new();
    loop {
        let s = source.next().await?;
        pacer.wait(&s).await;
        b.push(&s)?;
    }
}
