//! Two relays on two hosts over a bad link: a root relay in one network namespace, an edge
//! relay in another, linked through a userspace UDP delay line on the host (25 ms each way: a
//! 50 ms round trip) with 10 % of the packets dropped at random by nftables in both directions
//! of the root↔edge link (the relays send datagrams in segmentation-offload batches, which the
//! output hook sees, and drops, whole: the run prints the share of bytes lost). A publisher on the host sends a 2 Mbit/s track of 30
//! objects/s to the root (one group per second); 10 subscribers on the host read it from the
//! edge. Each object carries its publish time, so every delivery is timed: at least 99 % of the
//! 10,000-odd deliveries must arrive within a 500 ms budget (a loose bound; the run prints p50,
//! p99, the on-time share and the count of objects lost). The relays run their default
//! congestion control (BBR); `TERN_E2E_CONGESTION=cubic` runs them with CUBIC for comparison.
//!
//! Needs root (`ip netns`, veth, nftables). Every child is killed on drop, the namespaces and
//! veth pairs are deleted on drop, every wait is bounded.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use common::delay_proxy::DelayProxy;
use common::{NetNs, Relay, tern};
use tern::client::{ConnectOptions, Session, TrackWriter};
use tern_moq::TrackNamespace;

const SUBSCRIBERS: usize = 10;
const OBJECTS: u64 = 1000;
const PER_SECOND: u64 = 30;
const OBJECT_BYTES: usize = 2_000_000 / 8 / PER_SECOND as usize;
const LOSS_PERCENT: u32 = 10;
const ONE_WAY: Duration = Duration::from_millis(25);
const BUDGET_MS: f64 = 500.0;

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn relay_in(ns: &NetNs, congestion: &str, envs: &[(&str, String)]) -> Relay {
    let mut cmd = ns.command(&tern());
    cmd.args(["relay", "--bind", &format!("{}:0", ns.ns_ip)])
        .env("TERN_QUIC_CONGESTION", congestion)
        .env("TERN_LOG_LEVEL", "warn")
        // The publisher is on the host, another host to the relay's namespace.
        .env("TERN_RELAY_OPEN_PUBLISHING", "true");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    Relay::start_cmd(cmd, &[])
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p / 100.0).round() as usize]
}

#[test]
fn e2e_lossy_tree_ten_percent_loss_fifty_ms_rtt() {
    let congestion = std::env::var("TERN_E2E_CONGESTION").unwrap_or_else(|_| "bbr".into());
    let root_host =
        NetNs::create().unwrap_or_else(|e| panic!("network namespace (needs root): {e}"));
    let edge_host =
        NetNs::create().unwrap_or_else(|e| panic!("network namespace (needs root): {e}"));
    let root = relay_in(&root_host, &congestion, &[]);
    let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
    let proxy = DelayProxy::start(
        SocketAddr::new(ip(&edge_host.host_ip), 0),
        SocketAddr::new(ip(&root_host.host_ip), 0),
        root.addr,
        ONE_WAY,
    )
    .expect("delay proxy");
    let edge = relay_in(
        &edge_host,
        &congestion,
        &[
            ("TERN_UPSTREAMS", format!("moqt://{}", proxy.addr)),
            ("TERN_UPSTREAM_DISABLE_VERIFY", "true".into()),
        ],
    );
    // Both directions of the root↔edge link: root → proxy and edge → proxy.
    root_host
        .lose_udp(LOSS_PERCENT, &root_host.host_ip, proxy.upstream_side.port())
        .expect("loss on the root's side");
    edge_host
        .lose_udp(LOSS_PERCENT, &edge_host.host_ip, proxy.addr.port())
        .expect("loss on the edge's side");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (latencies, lost) = runtime.block_on(run(&root, &edge));
    let dropped = (root_host.udp_dropped(), edge_host.udp_dropped());
    let deliveries = latencies.len() as u64 + lost;
    let mut sorted = latencies.clone();
    sorted.sort_by(f64::total_cmp);
    let on_time = sorted.iter().filter(|l| **l <= BUDGET_MS).count();
    let share = on_time as f64 / deliveries.max(1) as f64;
    eprintln!(
        "lossy tree ({congestion}, {LOSS_PERCENT} % loss each way, {} ms RTT): {} deliveries, \
         {lost} never arrived; latency p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, max {:.1} ms; \
         within {BUDGET_MS} ms: {:.3} %",
        2 * ONE_WAY.as_millis(),
        deliveries,
        percentile(&sorted, 50.0),
        percentile(&sorted, 99.0),
        percentile(&sorted, 99.9),
        sorted.last().copied().unwrap_or(f64::NAN),
        share * 100.0
    );
    // The link was lossy in both directions: what nftables dropped against what got through
    // to the proxy, by bytes (the relays batch datagrams, and a batch is dropped whole).
    let share_lost = |(_, dropped): (u64, u64), passed: u64| {
        dropped as f64 / (dropped + passed).max(1) as f64 * 100.0
    };
    let down_loss = share_lost(dropped.0, proxy.from_up.load(Ordering::Relaxed));
    let up_loss = share_lost(dropped.1, proxy.from_down.load(Ordering::Relaxed));
    eprintln!(
        "dropped by nftables: root → edge {} batches, {down_loss:.1} % of the bytes; \
         edge → root {} batches, {up_loss:.1} % of the bytes",
        dropped.0.0, dropped.1.0
    );
    assert!(
        (5.0..20.0).contains(&down_loss),
        "root → edge loss {down_loss:.1} %"
    );
    assert!(dropped.1.0 > 10, "edge → root: {:?}", dropped.1);
    assert!(
        deliveries >= SUBSCRIBERS as u64 * OBJECTS,
        "{deliveries} deliveries"
    );
    assert!(
        share >= 0.99,
        "only {:.2} % of the deliveries within {BUDGET_MS} ms",
        share * 100.0
    );
    drop(edge);
    drop(proxy);
}

/// Publish at the root, read at the edge; every delivery's latency (ms) and the count of
/// (subscriber, object) pairs never delivered.
async fn run(root: &Relay, edge: &Relay) -> (Vec<f64>, u64) {
    let opts = ConnectOptions {
        disable_verify: true,
        ..ConnectOptions::default()
    };
    let ns = TrackNamespace::from_path("lossy/live");
    let publisher = Session::connect(&root.moqt_url(), &opts)
        .await
        .expect("publisher connects");
    let track = TrackWriter::new(ns.clone(), "video");
    publisher.serve_track(&track);
    let _announced = publisher
        .publish_namespace(ns.clone())
        .await
        .expect("PUBLISH_NAMESPACE");

    // Subscribers at the edge, once it learned the namespace over the lossy link (bounded).
    let mut readers = Vec::new();
    for i in 0..SUBSCRIBERS {
        let session = Session::connect(&edge.moqt_url(), &opts)
            .await
            .expect("subscriber connects");
        let deadline = Instant::now() + Duration::from_secs(30);
        let sub = loop {
            match session.subscribe(ns.clone(), "video", None).await {
                Ok(s) => break s,
                Err(e) if Instant::now() < deadline => {
                    if i == 0 {
                        eprintln!("subscriber 0: {e}; again");
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => panic!("subscriber {i}: {e}"),
            }
        };
        readers.push(tokio::spawn(async move {
            let _session = session;
            let mut sub = sub;
            let mut got = Vec::new();
            let end = tokio::time::Instant::now() + Duration::from_secs(OBJECTS / PER_SECOND + 20);
            loop {
                match tokio::time::timeout_at(end, sub.next()).await {
                    Ok(Ok(Some(o))) if o.payload.len() >= 16 => {
                        let now = unix_micros();
                        let sent = u64::from_be_bytes(o.payload[..8].try_into().expect("8"));
                        let seq = u64::from_be_bytes(o.payload[8..16].try_into().expect("8"));
                        got.push((seq, now.saturating_sub(sent) as f64 / 1000.0));
                        if seq + 1 == OBJECTS {
                            break;
                        }
                    }
                    Ok(Ok(Some(_))) => {}
                    _ => break,
                }
            }
            got
        }));
    }

    let start = tokio::time::Instant::now();
    let filler = vec![0x5a; OBJECT_BYTES - 16];
    for seq in 0..OBJECTS {
        tokio::time::sleep_until(start + Duration::from_micros(seq * 1_000_000 / PER_SECOND)).await;
        if seq % PER_SECOND == 0 {
            track.new_group(seq / PER_SECOND).expect("new group");
        }
        let mut b = BytesMut::with_capacity(OBJECT_BYTES);
        b.put_u64(unix_micros());
        b.put_u64(seq);
        b.put_slice(&filler);
        let payload: Bytes = b.freeze();
        track.write_object(payload).expect("write");
    }
    let mut latencies = Vec::new();
    let mut lost = 0;
    for (i, r) in readers.into_iter().enumerate() {
        let got = r.await.expect("reader");
        let mut seqs: Vec<u64> = got.iter().map(|(s, _)| *s).collect();
        seqs.sort_unstable();
        seqs.dedup();
        assert_eq!(seqs.len(), got.len(), "subscriber {i} got duplicates");
        lost += OBJECTS - seqs.len() as u64;
        latencies.extend(got.into_iter().map(|(_, l)| l));
    }
    (latencies, lost)
}
