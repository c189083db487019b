//! `tern events send|watch`: a viewer's side of a broadcast's events. `send` publishes on the
//! viewer's own track and waits until the origin's sequencer has put each event in order;
//! `watch` prints the ordered `events` track with each event's latency.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::AsyncBufReadExt;

use tern::client::{Error, Subscription, TrackWriter};
use tern_moq::TrackNamespace;
use tern_moq::message::SubscriptionFilter;
use tern_origin::events::{
    self, EVENTS_PRIORITY, EVENTS_TRACK, Record, ViewerEvent, valid_kind, valid_viewer,
};

use super::client::{ConnectArgs, namespace, shutdown_signal};

/// `tern events` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Send events as a viewer (TEXT, or one event per line of stdin) and print where the
    /// origin put each one in the broadcast's order.
    Send(SendArgs),
    /// Print a broadcast's events in order, with their latency.
    Watch(WatchArgs),
}

/// Options of `tern events send`.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Broadcast namespace; `/` separates tuple fields.
    #[arg(long, default_value = "live/demo")]
    pub namespace: String,
    /// Your viewer ID (1 to 32 of A-Z a-z 0-9 _ - .): events go out on
    /// `<namespace>/viewers/<ID>`, track `events`.
    #[arg(long, value_name = "ID")]
    pub viewer: String,
    /// Kind of event: chat, reaction, bid, gift, … (1 to 16 of a-z 0-9 _ -).
    #[arg(long, default_value = events::DEFAULT_KIND)]
    pub kind: String,
    /// Seconds to wait for the origin to listen, and for each event to be put in order.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub wait: u64,
    /// The event's text; without it, each line of stdin is an event.
    pub text: Option<String>,
}

/// Options of `tern events watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Broadcast namespace; `/` separates tuple fields.
    #[arg(long, default_value = "live/demo")]
    pub namespace: String,
    /// Print each event as its JSON record plus `receivedAt`, `latencyMs` (sentAt to here)
    /// and `fromOriginMs` (sequencedAt to here).
    #[arg(long)]
    pub json: bool,
    /// Start with the recent events the relay still holds, not only new ones.
    #[arg(long)]
    pub history: bool,
    /// Exit after this many events.
    #[arg(long, value_name = "N")]
    pub max_events: Option<u64>,
}

/// Run an events subcommand.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Send(args) => send(args).await,
        Command::Watch(args) => watch(args).await,
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Subscribe to the ordered `events` track of a broadcast.
async fn ordered(
    connect: &ConnectArgs,
    session: &tern::client::Session,
    broadcast: &TrackNamespace,
    path: &str,
    filter: Option<SubscriptionFilter>,
) -> anyhow::Result<Subscription> {
    session
        .subscribe(broadcast.clone(), EVENTS_TRACK, filter)
        .await
        .map_err(|e| match e {
            Error::NotFound { .. } => anyhow::anyhow!(
                "no events track at {path} on {} (is `tern origin --namespace {path}` running \
                 with --events?)",
                connect.url
            ),
            e => anyhow::anyhow!(connect.describe_subscribe(path, EVENTS_TRACK, &e)),
        })
}

async fn send(args: SendArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        valid_viewer(&args.viewer),
        "--viewer {:?}: use 1 to 32 of A-Z a-z 0-9 _ - .",
        args.viewer
    );
    anyhow::ensure!(
        valid_kind(&args.kind),
        "--kind {:?}: use 1 to 16 of a-z 0-9 _ -",
        args.kind
    );
    let wait = Duration::from_secs(args.wait.max(1));
    let session = args.connect.connect().await?;
    let broadcast = namespace(&args.namespace);
    let own = events::viewer_namespace(&broadcast, &args.viewer);
    let own_path = format!("{}/{}/{}", args.namespace, events::VIEWERS, args.viewer);
    let track = TrackWriter::new(own.clone(), EVENTS_TRACK);
    track.set_priority(EVENTS_PRIORITY);
    session.serve_track(&track);
    // Our own events showing up on the ordered track are the acknowledgement.
    let mut acks = ordered(
        &args.connect,
        &session,
        &broadcast,
        &args.namespace,
        Some(SubscriptionFilter::LargestObject),
    )
    .await?;
    let announcement = session
        .publish_namespace(own)
        .await
        .map_err(|e| anyhow::anyhow!("cannot publish {own_path}: {}", args.connect.describe(&e)))?;
    // The sequencer subscribes once it hears of the namespace.
    let listening = async {
        while track.subscribers() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    if tokio::time::timeout(wait, listening).await.is_err() {
        anyhow::bail!(
            "the origin did not subscribe to {own_path} within {}s (is `tern origin` running \
             with --events?)",
            wait.as_secs()
        );
    }
    let max = events::Config::default().max_event_bytes;
    // Group IDs from the Unix time: a viewer that comes back starts above its last run.
    let base = unix_ms();
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut single = args.text.clone();
    let mut sent = 0u64;
    let result = loop {
        let text = match single.take() {
            Some(t) => t,
            None if args.text.is_some() => break Ok(()),
            None => {
                let line = tokio::select! {
                    l = stdin.next_line() => l?,
                    _ = shutdown_signal() => break Ok(()),
                };
                match line {
                    Some(l) if l.trim().is_empty() => continue,
                    Some(l) => l,
                    None => break Ok(()),
                }
            }
        };
        let sent_at = unix_ms();
        let payload = ViewerEvent {
            kind: Some(args.kind.clone()),
            body: text.clone(),
            sent_at: Some(sent_at),
        }
        .encode();
        if payload.len() > max {
            break Err(anyhow::anyhow!(
                "the event is {} bytes; an origin takes at most {max}",
                payload.len()
            ));
        }
        track.new_group(base + sent)?;
        track.write_object(payload)?;
        sent += 1;
        let acked = tokio::time::timeout(wait, ack(&mut acks, &args.viewer, sent_at, &text)).await;
        match acked {
            Ok(Ok(r)) => println!(
                "#{} {} {} {:?} sequenced in {} ms",
                r.seq,
                r.viewer,
                r.kind,
                r.body,
                r.sequenced_at.saturating_sub(sent_at)
            ),
            Ok(Err(e)) => break Err(anyhow::anyhow!(args.connect.describe(&e))),
            Err(_) => {
                break Err(anyhow::anyhow!(
                    "the event was not put in order within {}s: the origin refused it (more \
                     than {}/s, or malformed) or stopped",
                    wait.as_secs(),
                    events::Config::default().rate_per_second
                ));
            }
        }
    };
    track.finish();
    announcement.done();
    drop(acks);
    session.flush(Duration::from_secs(2)).await;
    session.close(0, "done");
    result
}

/// Read the ordered track until our event appears there.
async fn ack(
    acks: &mut Subscription,
    viewer: &str,
    sent_at: u64,
    body: &str,
) -> Result<Record, Error> {
    loop {
        let Some(o) = acks.next().await? else {
            return Err(Error::Protocol("the origin ended the events track".into()));
        };
        if let Ok(r) = Record::parse(&o.payload)
            && r.viewer == viewer
            && r.sent_at == Some(sent_at)
            && r.body == body
        {
            return Ok(r);
        }
    }
}

async fn watch(args: WatchArgs) -> anyhow::Result<()> {
    let session = args.connect.connect().await?;
    let broadcast = namespace(&args.namespace);
    let filter = (!args.history).then_some(SubscriptionFilter::LargestObject);
    let mut sub = ordered(&args.connect, &session, &broadcast, &args.namespace, filter).await?;
    eprintln!("tern: watching the events of {}", args.namespace);
    let mut seen = 0u64;
    let result = loop {
        if args.max_events.is_some_and(|max| seen >= max) {
            break Ok(());
        }
        let next = tokio::select! {
            n = sub.next() => n,
            _ = shutdown_signal() => break Ok(()),
        };
        let o = match next {
            Ok(Some(o)) => o,
            Ok(None) => break Ok(()),
            Err(e) => break Err(anyhow::anyhow!(args.connect.describe(&e))),
        };
        let received = unix_ms();
        let r = match Record::parse(&o.payload) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(
                    group = o.location.group,
                    object = o.location.object,
                    "not an event record: {e}"
                );
                continue;
            }
        };
        seen += 1;
        // Across machines this includes the difference of their clocks.
        let latency = r.sent_at.map(|s| received as i64 - s as i64);
        let from_origin = received as i64 - r.sequenced_at as i64;
        if args.json {
            let mut v = serde_json::to_value(&r)?;
            v["receivedAt"] = received.into();
            v["latencyMs"] = latency.into();
            v["fromOriginMs"] = from_origin.into();
            println!("{v}");
        } else {
            let latency = latency.map_or_else(|| "?".to_owned(), |l| l.to_string());
            println!(
                "#{} {} [{}] {}  (latency {latency} ms, {from_origin} ms from the origin)",
                r.seq, r.viewer, r.kind, r.body
            );
        }
    };
    drop(sub);
    session.close(0, "done");
    result
}
