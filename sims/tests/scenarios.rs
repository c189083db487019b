//! Every scenario at 1/100 scale (2 mids, 5 edges, 10,000 viewers), with the properties a user of
//! the tree cares about, and the same seed giving the same bytes.

use tern_sims::report::{self, Report};
use tern_sims::scenario::Scenario;

const SCALE: f64 = 0.01;

fn run(name: &str, seed: u64) -> Report {
    let sc = Scenario::by_name(name, SCALE).expect("scenario");
    report::run_all(sc, seed, SCALE).remove(0)
}

/// What every scenario must show: one upstream subscription per track per relay whatever the
/// audience (plus one per edge whose track `moved` to another mid), every viewer watching at the
/// end, join latency within what the links allow.
fn common(r: &Report, mids: f64, edges: f64, moved: f64, viewers: f64) {
    let text = r.text();
    // One SUBSCRIBE per mid at the origin, one per edge at the mids: not one per viewer.
    assert!(r.num("origin", "subscribes_received") <= mids, "{text}");
    assert_eq!(r.num("origin", "mids_carrying_track"), mids, "{text}");
    assert_eq!(r.num("mid", "upstream_subscribes"), mids, "{text}");
    // Each edge subscribes once, and once more each time its track moved to another mid.
    assert_eq!(
        r.num("edge", "upstream_subscribes"),
        edges + moved,
        "{text}"
    );
    // Origin egress is one copy of the track per mid (2 Mbit/s + framing), not per viewer.
    let per_mid = r.num("origin", "egress_per_mid_mbit_s");
    assert!(
        (1.9..2.2).contains(&per_mid),
        "origin egress per mid {per_mid}\n{text}"
    );
    assert_eq!(r.num("joins", "refused"), 0.0, "{text}");
    assert_eq!(r.num("joins", "watching_at_end"), viewers, "{text}");
    assert_eq!(r.num("edge", "gaps"), 0.0, "{text}");
    // Last mile RTT ≤ 80 ms: handshake, SETUP, SUBSCRIBE and the first object are ~3 RTTs, plus
    // the next frame, a cold path through the tree, and 1 % loss (a PTO for a few percent).
    assert!(r.num("joins", "p50_ms") < 300.0, "{text}");
    assert!(r.num("joins", "p99_ms") < 800.0, "{text}");
}

#[test]
fn baseline_one_subscription_per_track_per_relay() {
    let r = run("baseline", 1);
    common(&r, 2.0, 5.0, 0.0, 10_000.0);
    assert_eq!(r.num("joins", "joined"), 10_000.0, "{}", r.text());
    // Edge egress is the audience: 10,000 viewers × 2 Mbit/s ≈ 20 Gbit/s.
    let tier = r.num("edge", "egress_gbit_s_tier_steady");
    assert!((19.0..22.0).contains(&tier), "{}", r.text());
}

#[test]
fn edge_failure_viewers_rejoin_elsewhere() {
    let r = run("edge-failure", 1);
    common(&r, 2.0, 5.0, 0.0, 10_000.0);
    let lost = r.num("recovery", "affected");
    assert!(lost > 1000.0, "{}", r.text()); // one edge of five held ~2,000 viewers
    assert_eq!(r.num("recovery", "recovered"), lost, "{}", r.text());
    assert_eq!(r.num("edge", "nodes_up"), 4.0);
    // Player detection (≤ 1.5 s) plus a fresh join on a warm edge.
    assert!(r.num("recovery", "recovery_s") < 3.0, "{}", r.text());
}

#[test]
fn mid_failure_edges_fail_over_without_gaps() {
    let r = run("mid-failure", 1);
    let moved = r.num("recovery", "affected");
    common(&r, 2.0, 5.0, moved, 10_000.0);
    assert!(moved >= 1.0, "{}", r.text());
    assert_eq!(r.num("recovery", "recovered"), moved, "{}", r.text());
    // Detection (1 s), two round trips to the new mid and one for its namespaces, then the
    // backfill from its cache.
    assert!(r.num("recovery", "recovery_s") < 1.5, "{}", r.text());
    assert_eq!(r.num("mid", "nodes_up"), 1.0);
}

#[test]
fn flash_crowd_joins_through_a_cold_tree() {
    let r = run("flash-crowd", 1);
    common(&r, 2.0, 5.0, 0.0, 10_000.0);
    assert_eq!(r.num("joins", "joined"), 10_000.0, "{}", r.text());
    assert!(
        r.num("recovery", "s_to_99pct_watching") <= 2.5,
        "{}",
        r.text()
    );
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = report::run_all(Scenario::all(SCALE), 7, SCALE);
    let b = report::run_all(Scenario::all(SCALE), 7, SCALE);
    assert_eq!(report::text(&a), report::text(&b));
    assert_eq!(report::json(&a), report::json(&b));
    for (x, y) in a.iter().zip(&b) {
        assert!(x.png == y.png, "plot of {} differs", x.name);
    }
    let c = report::run_all(Scenario::by_name("mid-failure", SCALE).unwrap(), 8, SCALE);
    assert_ne!(report::json(&a[2..3]), report::json(&c));
}

#[test]
fn edge_failure_during_the_ramp_loses_no_viewer() {
    // Viewers are still arriving and connecting when the edge dies: every one ends up watching.
    let mut sc = Scenario::edge_failure(SCALE);
    sc.failure = Some(tern_sims::scenario::Failure::Edges {
        at: std::time::Duration::from_secs(15),
        fraction: 0.05,
    });
    let r = report::run_all(vec![sc], 1, SCALE).remove(0);
    assert_eq!(r.num("joins", "refused"), 0.0, "{}", r.text());
    assert_eq!(r.num("joins", "watching_at_end"), 10_000.0, "{}", r.text());
    assert_eq!(
        r.num("recovery", "recovered"),
        r.num("recovery", "affected")
    );
}
