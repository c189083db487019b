//! [`Sequencing`]: the [`Sequencer`] on a relay session. It lists the viewers' namespaces,
//! subscribes to each viewer's track, feeds every event to the sequencer and writes what comes
//! out on the broadcast's `events` track.

use std::collections::HashMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use tern_moq::TrackNamespace;
use tern_peer::{ConnectOptions, NamespaceEvent, Session, TrackWriter};

use super::sequencer::{Arrival, Config, Sequencer, Stats};
use super::{EVENTS_PRIORITY, EVENTS_TRACK, viewers_prefix};

/// Events from every viewer's subscription, waiting for the sequencer. A full inbox slows the
/// viewers' subscriptions down (QUIC flow control) instead of growing.
const INBOX: usize = 256;
/// Viewer tracks one session subscribes to. A relay caps subscriptions per session (1000 by
/// default), so the sequencer spreads its viewers over as many sessions as it needs (see
/// [`Sequencing::with_extra_sessions`]); the broadcast's own session keeps room for its media.
pub const VIEWERS_PER_SESSION: usize = 500;

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One viewer's subscription task, on the session at `shard`; aborted when the viewer's
/// namespace is withdrawn. `id` tells its end from that of an earlier task of the same viewer.
struct ViewerTask {
    task: JoinHandle<()>,
    shard: usize,
    id: u64,
}

impl Drop for ViewerTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A session the sequencer subscribes to viewers on, and how many it holds.
struct Shard {
    session: Session,
    viewers: usize,
}

/// The events of one broadcast, sequenced on a relay session.
pub struct Sequencing {
    session: Session,
    extra: Option<(String, ConnectOptions)>,
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
            extra: None,
            broadcast,
            writer,
            sequencer: Sequencer::new(config, group_base.unwrap_or_else(unix_ms)),
        }
    }

    /// Subscribe to viewers beyond the first [`VIEWERS_PER_SESSION`] on more sessions to the
    /// same relay (`url`, `opts`), opened as they are needed. Without it, viewers beyond that
    /// are not listened to, with a warning.
    pub fn with_extra_sessions(mut self, url: String, opts: ConnectOptions) -> Self {
        self.extra = Some((url, opts));
        self
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
    /// events until the relay ends the listing or the broadcast's session fails. The track
    /// stays served (empty) when the relay refuses the listing.
    pub async fn run(mut self) -> crate::Result<()> {
        let prefix = viewers_prefix(&self.broadcast);
        let mut listing = self
            .session
            .subscribe_namespace(prefix.clone())
            .await
            .map_err(|e| crate::Error::Relay(format!("cannot list the viewers: {e}")))?;
        let (tx, mut rx) = mpsc::channel::<(String, Bytes)>(INBOX);
        // A viewer's task ends (its track ended, or its session broke): told here.
        let (ended_tx, mut ended_rx) = mpsc::unbounded_channel::<(TrackNamespace, u64)>();
        let mut next_id = 0u64;
        let mut shards = vec![Shard {
            session: self.session.clone(),
            viewers: 0,
        }];
        let mut viewers: HashMap<TrackNamespace, ViewerTask> = HashMap::new();
        let depth = prefix.len() + 1;
        let mut warned = false;
        loop {
            tokio::select! {
                event = listing.next() => match event.map_err(|e| crate::Error::Relay(format!("the listing of viewers failed: {e}")))? {
                    Some(NamespaceEvent::Published(ns)) if ns.len() == depth => {
                        if viewers.contains_key(&ns) {
                            continue;
                        }
                        let Some(shard) = self.place(&mut shards, &mut warned).await else {
                            continue;
                        };
                        shards[shard].viewers += 1;
                        let session = shards[shard].session.clone();
                        let (tx, ended) = (tx.clone(), ended_tx.clone());
                        let (id, ns2) = (next_id, ns.clone());
                        next_id += 1;
                        let task = tokio::spawn(async move {
                            viewer(session, ns2.clone(), tx).await;
                            let _ = ended.send((ns2, id));
                        });
                        viewers.insert(ns, ViewerTask { task, shard, id });
                    }
                    Some(NamespaceEvent::Withdrawn(ns)) => {
                        if let Some(v) = viewers.remove(&ns) {
                            shards[v.shard].viewers -= 1;
                        }
                    }
                    None => return Err(crate::Error::Relay("the relay ended the listing of viewers".into())),
                    // Deeper namespaces, and changes this origin does not act on.
                    Some(_) => {}
                },
                Some((viewer, payload)) = rx.recv() => self.handle(&viewer, &payload)?,
                Some((ns, id)) = ended_rx.recv() => {
                    // The viewer's track ended: its place is free (a viewer that publishes
                    // again is announced again). The end of a task already replaced is old.
                    if viewers.get(&ns).is_some_and(|v| v.id == id)
                        && let Some(v) = viewers.remove(&ns)
                    {
                        shards[v.shard].viewers -= 1;
                    }
                }
            }
        }
    }

    /// The shard a new viewer goes to: the first live session with room, else a new session
    /// when extra sessions are allowed (in the place of an ended one whose viewers are gone);
    /// `None`, with one warning per episode, when there is no room.
    async fn place(&self, shards: &mut Vec<Shard>, warned: &mut bool) -> Option<usize> {
        let live = |s: &Shard| !s.session.is_closed();
        if let Some(i) = shards
            .iter()
            .position(|s| live(s) && s.viewers < VIEWERS_PER_SESSION)
        {
            *warned = false;
            return Some(i);
        }
        let vacant = shards.iter().position(|s| !live(s) && s.viewers == 0);
        let held = shards.len() - usize::from(vacant.is_some());
        let max_sessions = self
            .sequencer
            .config()
            .max_viewers
            .div_ceil(VIEWERS_PER_SESSION);
        let why = match &self.extra {
            Some(_) if held >= max_sessions => format!(
                "{} viewers publish events, the most this origin listens to (max_viewers)",
                held * VIEWERS_PER_SESSION
            ),
            Some((url, opts)) => match Session::connect(url, opts).await {
                Ok(session) => {
                    tracing::info!(
                        sessions = held + 1,
                        "more viewers publish events: another session to the relay"
                    );
                    let shard = Shard {
                        session,
                        viewers: 0,
                    };
                    *warned = false;
                    return Some(match vacant {
                        Some(i) => {
                            shards[i] = shard;
                            i
                        }
                        None => {
                            shards.push(shard);
                            shards.len() - 1
                        }
                    });
                }
                Err(e) => format!("cannot open another session for more viewers' events: {e}"),
            },
            None => format!(
                "{VIEWERS_PER_SESSION} viewers publish events, the most one session listens to"
            ),
        };
        if !*warned {
            tracing::warn!("{why}: newer viewers' events are not sequenced");
            *warned = true;
        }
        None
    }

    fn handle(&mut self, viewer: &str, payload: &[u8]) -> crate::Result<()> {
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
                self.writer.new_group(o.group).map_err(events_track)?;
            }
            self.writer.write_object(o.payload).map_err(events_track)?;
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

/// A write to the events track that failed.
fn events_track(source: tern_peer::Error) -> crate::Error {
    crate::Error::Track {
        track: "events".into(),
        source,
    }
}
