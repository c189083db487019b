//! Failover in a relay tree: two roots fed the same track, an edge with both as upstreams and
//! viewers at the edge. When the root in use dies (silently: its packets stop) or sends GOAWAY,
//! the edge moves its one upstream subscription to the other root; the viewers keep their
//! subscriptions and get every object once, in order (the gap is backfilled with FETCH).

mod support;

#[path = "failover/tree.rs"]
mod tree;

use std::time::{Duration, Instant};

use tree::{Tree, name};

/// The edge's downstream subscriptions to the track: (session, request) each.
async fn subscriptions(tree: &Tree) -> Vec<(u64, u64)> {
    tree.edge
        .hub
        .read(move |r| {
            let track = r.track_id(&name()).expect("the edge has the track");
            r.subscribers(track).to_vec()
        })
        .await
}

/// Let the track run past a player's stall limit (2 s: a group left open would show), stop it,
/// and check that every viewer got every object once, in order, on its first subscription.
async fn finish(tree: &Tree, before: &[(u64, u64)]) {
    tokio::time::sleep(Duration::from_secs(3)).await;
    tree.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    tree.assert_contiguous();
    assert_eq!(subscriptions(tree).await, before, "nobody re-subscribed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_upstream_is_replaced_without_gap_duplicate_or_resubscribe() {
    let tree = Tree::start(3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = subscriptions(&tree).await;
    assert_eq!(before.len(), 3);
    let used = tree.in_use().await;
    tracing::info!(root = used, "cutting the root in use");
    tree.roots[used].cut.kill();
    let waited = tree.wait_flowing(Duration::from_secs(15)).await;
    eprintln!("kill → next object at each subscriber: {waited:?}");
    assert_ne!(
        tree.in_use().await,
        used,
        "the edge moved to the other root"
    );
    assert!(tree.edge.hub.read(move |r| r.failovers()).await >= 1);
    // Longer than a player waits on a stalled group (2 s): a group left open would show.
    tokio::time::sleep(Duration::from_secs(3)).await;
    tree.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    tree.assert_contiguous();
    assert_eq!(
        subscriptions(&tree).await,
        before,
        "the same downstream subscriptions: nobody re-subscribed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goaway_from_an_upstream_moves_the_track_without_a_gap() {
    let mut tree = Tree::start(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = subscriptions(&tree).await;
    let used = tree.in_use().await;
    let node = tree.roots[used].node.take().expect("root running");
    let draining = tokio::spawn(node.shutdown("", Duration::from_secs(3)));
    let waited = tree.wait_flowing(Duration::from_secs(10)).await;
    eprintln!("GOAWAY → next object at each subscriber: {waited:?}");
    tree::wait_for(
        Duration::from_secs(5),
        "the edge moves to the other root",
        async || tree.in_use().await != used,
    )
    .await;
    finish(&tree, &before).await;
    let _ = draining.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goaway_naming_a_successor_moves_the_edge_to_it() {
    // The edge knows only root 0; root 0 drains and names root 1 in its GOAWAY.
    let mut tree = Tree::start_with(2, &[0]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = subscriptions(&tree).await;
    assert_eq!(tree.in_use().await, 0);
    let successor = tree.roots[1].cut.url();
    let node = tree.roots[0].node.take().expect("root running");
    let draining =
        tokio::spawn(async move { node.shutdown(&successor, Duration::from_secs(3)).await });
    tree::wait_for(
        Duration::from_secs(5),
        "the edge links to the successor and moves the track there",
        async || tree.in_use().await == 1,
    )
    .await;
    tree.wait_flowing(Duration::from_secs(5)).await;
    finish(&tree, &before).await;
    let _ = draining.await;
}

/// Interruption (kill → next object at a subscriber) over repeated silent kills of the root
/// in use, alternating roots. Prints p50/p99 for `benches/README.md`:
/// `cargo nextest run -p tern-relay --test failover --run-ignored only`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement (a few minutes), not a check"]
async fn interruption_over_repeated_kills() {
    interruption_with(Duration::from_secs(3)).await;
}

/// [`interruption_over_repeated_kills`] with `upstream.idle_timeout = "1s"`: detection is what
/// the figure measures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement (a few minutes), not a check"]
async fn interruption_over_repeated_kills_one_second_idle_timeout() {
    interruption_with(Duration::from_secs(1)).await;
}

async fn interruption_with(idle: Duration) {
    const KILLS: usize = 15;
    let tree = Tree::start_idle(3, &[0, 1], idle).await;
    let mut samples = Vec::new();
    for kill in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let used = tree.in_use().await;
        let moved = tree.edge.hub.read(move |r| r.failovers()).await;
        let last = tree.seen[0]
            .lock()
            .expect("lock")
            .objects
            .last()
            .map(|o| o.0);
        let index = tree.written.lock().expect("lock").len();
        let at = Instant::now();
        tree.roots[used].cut.kill();
        // The first object written after the cut, not one already on its way.
        let waited = tree.wait_written(at, index, Duration::from_secs(15)).await;
        let next = tree.seen[0]
            .lock()
            .expect("lock")
            .objects
            .iter()
            .find(|o| o.1 > at)
            .map(|o| o.0);
        let moves = tree.edge.hub.read(move |r| r.failovers()).await - moved;
        eprintln!(
            "kill {kill} of root {used}: {waited:?} (last {last:?}, next {next:?}, {moves} moves, now at root {})",
            tree.in_use().await
        );
        samples.extend(waited);
        tree.roots[used].cut.revive();
        tree::wait_for(
            Duration::from_secs(30),
            "the edge relinks to the revived root",
            async || tree.edge.hub.read(move |r| r.routes(&name())).await == 2,
        )
        .await;
    }
    tree.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    tree.assert_contiguous();
    samples.sort();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    println!(
        "upstream.idle_timeout {idle:?}: interruption over {KILLS} kills x 3 subscribers: \
         p50 {:?}, p99 {:?}, max {:?}",
        pct(0.5),
        pct(0.99),
        samples.last().expect("samples")
    );
}

/// A broadcast fed into one root only (no backup feed): when that root dies silently, its
/// publisher notices (its session idles out), moves to the other root and publishes there; the
/// edge, which lost its route with the root, holds its viewers' track for the linger window
/// and picks the broadcast up at the other root. The viewers' subscriptions never end. With
/// every relay setting at its default: the publisher's detection time must fit in the linger
/// window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_whose_root_dies_moves_to_the_other_root_before_viewers_give_up() {
    use std::sync::{Arc, Mutex};
    use tern_peer::{History, TrackWriter};

    tree::logs();
    let (router, settings) = support::default_settings();
    let roots = [
        support::start_relay(router.clone(), settings.clone()),
        support::start_relay(router.clone(), settings.clone()),
    ];
    let cuts = [
        tree::Cut::start(roots[0].addr).await,
        tree::Cut::start(roots[1].addr).await,
    ];
    let (router, mut settings) = support::default_settings();
    settings.upstreams = cuts.iter().map(tree::Cut::url).collect();
    settings.upstream_tls.disable_verify = true;
    let edge = support::start_relay(router, settings);

    // One publisher, one history across its sessions (group IDs keep increasing), fed into
    // root 0 and, whenever its session dies, into the other root.
    let writer = TrackWriter::new(tree::ns(), tree::TRACK)
        .with_history(History::new(Duration::from_secs(30), 16 << 20));
    let (producer, _written) = tree::produce(Arc::new(Mutex::new(vec![writer.clone()])));
    let urls: Vec<String> = cuts.iter().map(tree::Cut::url).collect();
    let moves = Arc::new(Mutex::new(Vec::new()));
    let publisher = {
        let (writer, moves) = (writer.clone(), moves.clone());
        tokio::spawn(async move {
            for i in 0..4 {
                let root = i % 2;
                let session = tree::connect(&urls[root]).await;
                session.serve_track(&writer);
                let _announced = session
                    .publish_namespace(tree::ns())
                    .await
                    .expect("PUBLISH_NAMESPACE");
                moves.lock().expect("lock").push((root, Instant::now()));
                let why = session.closed().await;
                tracing::info!(root, %why, "publisher session ended");
            }
        })
    };
    tree::wait_for(
        Duration::from_secs(10),
        "the edge learns the broadcast from root 0",
        async || edge.hub.read(move |r| r.routes(&name())).await == 1,
    )
    .await;
    let (_viewer, seen) = tree::watch(&support::url(&edge)).await;
    let seen = [seen];
    tree::wait_flowing(&seen, Duration::from_secs(10)).await;

    let killed = Instant::now();
    cuts[0].kill();
    let waited = tree::wait_flowing(&seen, Duration::from_secs(20)).await;
    let moved = moves.lock().expect("lock").get(1).map(|m| m.1 - killed);
    eprintln!(
        "root killed → publisher at the other root after {moved:?}, next object after {waited:?}"
    );
    // Past the linger window, the track still runs.
    tokio::time::sleep(settings_linger() + Duration::from_secs(1)).await;
    tree::wait_flowing(&seen, Duration::from_secs(5)).await;
    producer.abort();
    publisher.abort();
    let s = seen[0].lock().expect("lock");
    assert!(
        s.objects.windows(2).all(|w| w[0].0 < w[1].0),
        "locations only increase"
    );
}

fn settings_linger() -> Duration {
    support::default_settings().0.linger
}
