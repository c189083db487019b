//! [`Sequencing`]: the [`Sequencer`] on a relay session. It lists the viewers' namespaces,
//! subscribes to each viewer's track, feeds every event to the sequencer and writes what comes
//! out on the broadcast's `events` track.

use std::collections::HashMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use tern_client::{NamespaceEvent, Session, TrackWriter};
use tern_moq::TrackNamespace;

use super::sequencer::{Arrival, Config, Sequencer, Stats};
use super::{EVENTS_PRIORITY, EVENTS_TRACK, viewers_prefix};

/// Events from every viewer's subscription, waiting for the sequencer. A full inbox slows the
/// viewers' subscriptions down (QUIC flow control) instead of growing.
const INBOX: usize = 256;
/// Viewer tracks subscribed at once: a relay caps subscriptions per session (1000 by default).
pub const MAX_VIEWER_SUBSCRIPTIONS: usize = 900;

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One viewer's subscription task; aborted when the viewer's namespace is withdrawn.
struct ViewerTask(JoinHandle<()>);

impl Drop for ViewerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The events of one broadcast, sequenced on a relay session.
pub struct Sequencing {
    session: Session,
    broadcast: TrackNamespace,
    writer: TrackWriter,
    sequencer: Sequencer,
}

impl std::fmt::Debug for Sequencing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequencing")
            .field("broadcast", &self.broadcast)
            .field("stats", &self.sequencer.stats())
            .finish()
    }
}

impl Sequencing {
    /// Serve the `events` track of `broadcast` on `session` (priority 0). Call before the
    /// broadcast's namespace is announced, so that the track is there for the first SUBSCRIBE.
    /// Groups are numbered from `group_base` (`None`: the Unix time in milliseconds now).
    pub fn new(
        session: &Session,
        broadcast: TrackNamespace,
        config: Config,
        group_base: Option<u64>,
    ) -> Self {
        let writer = TrackWriter::new(broadcast.clone(), EVENTS_TRACK);
        writer.set_priority(EVENTS_PRIORITY);
        session.serve_track(&writer);
        Self {
            session: session.clone(),
            broadcast,
            writer,
            sequencer: Sequencer::new(config, group_base.unwrap_or_else(unix_ms)),
        }
    }

    /// The ordered track.
    pub fn track(&self) -> &TrackWriter {
        &self.writer
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.sequencer.stats()
    }

    /// List the viewers (SUBSCRIBE_NAMESPACE on `<broadcast>/viewers`) and sequence their
    /// events until the relay ends the listing or the session fails. The track stays served
    /// (empty) when the relay refuses the listing.
    pub async fn run(mut self) -> anyhow::Result<()> {
        let prefix = viewers_prefix(&self.broadcast);
        let mut listing = self
            .session
            .subscribe_namespace(prefix.clone())
            .await
            .map_err(|e| anyhow::anyhow!("cannot list the viewers: {e}"))?;
        let (tx, mut rx) = mpsc::channel::<(String, Bytes)>(INBOX);
        let mut viewers: HashMap<TrackNamespace, ViewerTask> = HashMap::new();
        let depth = prefix.len() + 1;
        loop {
            tokio::select! {
                event = listing.next() => match event? {
                    Some(NamespaceEvent::Published(ns)) if ns.len() == depth => {
                        if viewers.contains_key(&ns) {
                            continue;
                        }
                        if viewers.len() >= MAX_VIEWER_SUBSCRIPTIONS {
                            tracing::warn!(namespace = ?ns, "too many viewers publishing events: not subscribed");
                            continue;
                        }
                        let task = tokio::spawn(viewer(self.session.clone(), ns.clone(), tx.clone()));
                        viewers.insert(ns, ViewerTask(task));
                    }
                    Some(NamespaceEvent::Published(_)) => {}
                    Some(NamespaceEvent::Withdrawn(ns)) => {
                        viewers.remove(&ns);
                    }
                    None => anyhow::bail!("the relay ended the listing of viewers"),
                },
                Some((viewer, payload)) = rx.recv() => self.handle(&viewer, &payload)?,
            }
        }
    }

    fn handle(&mut self, viewer: &str, payload: &[u8]) -> anyhow::Result<()> {
        let arrival = Arrival {
            viewer,
            payload,
            now: Instant::now(),
            wall_ms: unix_ms(),
        };
        match self.sequencer.handle_event(arrival) {
            Ok(seq) => tracing::debug!(viewer, seq, "event sequenced"),
            Err(reason) => tracing::debug!(
                viewer,
                %reason,
                count = self.sequencer.stats().refused(reason),
                "event refused"
            ),
        }
        while let Some(o) = self.sequencer.poll_object() {
            if o.new_group {
                self.writer.new_group(o.group)?;
            }
            self.writer.write_object(o.payload)?;
        }
        Ok(())
    }
}

/// Forward one viewer's events until its track ends.
async fn viewer(session: Session, ns: TrackNamespace, tx: mpsc::Sender<(String, Bytes)>) {
    let id = ns
        .fields()
        .last()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .unwrap_or_default();
    // No filter: from the start of the viewer's current group.
    let mut sub = match session.subscribe(ns, EVENTS_TRACK, None).await {
        Ok(sub) => sub,
        Err(e) => {
            tracing::debug!(viewer = %id, "cannot subscribe to the viewer's events: {e}");
            return;
        }
    };
    tracing::debug!(viewer = %id, "listening to a viewer");
    loop {
        match sub.next().await {
            Ok(Some(o)) => {
                if tx.send((id.clone(), o.payload)).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(viewer = %id, "viewer's events ended: {e}");
                return;
            }
        }
    }
}
