//! The figures of a run, as text and JSON, and its plot. Every number is formatted with a fixed
//! precision, so the same run gives the same bytes.

use std::fmt::Write;

use crate::plot::Plot;
use crate::scenario::{Failure, Scenario};
use crate::sim::Outcome;

/// One reported value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A count.
    Int(u64),
    /// A measurement (printed with 3 decimals).
    Num(f64),
    /// A word.
    Str(String),
}

impl Value {
    fn render(&self) -> String {
        match self {
            Value::Int(n) => n.to_string(),
            Value::Num(x) => format!("{x:.3}"),
            Value::Str(s) => format!("\"{s}\""),
        }
    }
}

/// A section of figures, in order.
pub type Section = (&'static str, Vec<(&'static str, Value)>);

/// The figures of one run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Scenario name.
    pub name: &'static str,
    /// Sections of figures.
    pub sections: Vec<Section>,
    /// The plot, PNG-encoded.
    pub png: Vec<u8>,
}

impl Report {
    /// A figure by section and key.
    pub fn get(&self, section: &str, key: &str) -> Option<&Value> {
        self.sections
            .iter()
            .find(|(s, _)| *s == section)?
            .1
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }

    /// A numeric figure (counts included).
    pub fn num(&self, section: &str, key: &str) -> f64 {
        match self.get(section, key) {
            Some(Value::Int(n)) => *n as f64,
            Some(Value::Num(x)) => *x,
            _ => f64::NAN,
        }
    }

    /// Plain text.
    pub fn text(&self) -> String {
        let mut out = format!("== {} ==\n", self.name);
        for (section, rows) in &self.sections {
            let _ = writeln!(out, "[{section}]");
            for (k, v) in rows {
                let v = match v {
                    Value::Str(s) => s.clone(),
                    v => v.render(),
                };
                let _ = writeln!(out, "  {k:<32} {v}");
            }
        }
        out
    }

    /// One JSON object.
    pub fn json(&self) -> String {
        let mut out = format!("{{\"scenario\": \"{}\"", self.name);
        for (section, rows) in &self.sections {
            let _ = write!(out, ",\n  \"{section}\": {{");
            for (i, (k, v)) in rows.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                let _ = write!(out, "{sep}\"{k}\": {}", v.render());
            }
            out.push('}');
        }
        out.push('}');
        out
    }
}

/// Nearest-rank percentile of sorted microseconds, in milliseconds.
fn pct_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn mbit(bytes_per_s: f64) -> f64 {
    bytes_per_s * 8.0 / 1e6
}

fn mean(v: &[u64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<u64>() as f64 / v.len() as f64
    }
}

fn latency_rows(rows: &mut Vec<(&'static str, Value)>, v: &mut [u64]) {
    v.sort_unstable();
    rows.push(("p50_ms", Value::Num(pct_ms(v, 50.0))));
    rows.push(("p95_ms", Value::Num(pct_ms(v, 95.0))));
    rows.push(("p99_ms", Value::Num(pct_ms(v, 99.0))));
    rows.push(("max_ms", Value::Num(pct_ms(v, 100.0))));
}

/// The figures and the plot of a finished run.
pub fn build(sc: &Scenario, seed: u64, scale: f64, mut o: Outcome) -> Report {
    let secs = sc.duration.as_secs() as usize;
    let fail_at = sc.failure.map(|f| match f {
        Failure::Edges { at, .. } | Failure::Mid { at } => at,
    });
    // Steady window: after the joins (plus a second) until the failure or the end.
    let from = ((sc.join_start + sc.join_span).as_secs() as usize + 1).min(secs - 1);
    let to = fail_at
        .map_or(secs, |f| f.as_secs() as usize)
        .max(from + 1)
        .min(secs);
    let steady = |v: &[u64]| mean(&v[from..to]);

    let run = vec![
        ("seed", Value::Int(seed)),
        ("scale", Value::Num(scale)),
        ("mids", Value::Int(sc.mids as u64)),
        ("edges", Value::Int(sc.edges as u64)),
        ("viewers", Value::Int(sc.viewers as u64)),
        ("virtual_seconds", Value::Int(secs as u64)),
        ("steady_window_s", Value::Str(format!("{from}-{to}"))),
        ("media_mbit_s", Value::Num(sc.bitrate as f64 / 1e6)),
        ("objects_published", Value::Int(o.objects_published)),
        ("events", Value::Int(o.events)),
        ("relay_retransmits", Value::Int(o.retransmitted)),
    ];
    let origin_steady = steady(&o.origin_egress);
    let origin = vec![
        ("subscribes_received", Value::Int(o.origin_subscribes_in)),
        ("mids_carrying_track", Value::Int(o.mids_used)),
        ("egress_mbit_s_steady", Value::Num(mbit(origin_steady))),
        (
            "egress_mbit_s_peak",
            Value::Num(mbit(
                o.origin_egress.iter().copied().max().unwrap_or(0) as f64
            )),
        ),
        (
            "egress_per_mid_mbit_s",
            Value::Num(mbit(origin_steady / o.mids_used.max(1) as f64)),
        ),
    ];
    let mids_up = o.mid_subs.len().max(1) as f64;
    let mid = vec![
        ("nodes_up", Value::Int(o.mid_subs.len() as u64)),
        ("subscribes_received", Value::Int(o.mid_subscribes_in)),
        ("upstream_subscribes", Value::Int(o.mid_upstream_subscribes)),
        (
            "edge_subscriptions_mean",
            Value::Num(o.mid_subs.iter().sum::<usize>() as f64 / mids_up),
        ),
        (
            "edge_subscriptions_max",
            Value::Int(o.mid_subs.iter().copied().max().unwrap_or(0) as u64),
        ),
        (
            "egress_mbit_s_per_node_steady",
            Value::Num(mbit(steady(&o.mid_egress) / mids_up)),
        ),
        (
            "egress_mbit_s_node_peak",
            Value::Num(mbit(o.mid_peak.iter().copied().max().unwrap_or(0) as f64)),
        ),
    ];
    let edges_up = o.edge_subs.len().max(1) as f64;
    let edge = vec![
        ("nodes_up", Value::Int(o.edge_subs.len() as u64)),
        ("subscribes_received", Value::Int(o.edge_subscribes_in)),
        (
            "upstream_subscribes",
            Value::Int(o.edge_upstream_subscribes),
        ),
        (
            "viewers_mean",
            Value::Num(o.edge_subs.iter().sum::<usize>() as f64 / edges_up),
        ),
        (
            "viewers_max",
            Value::Int(o.edge_subs.iter().copied().max().unwrap_or(0) as u64),
        ),
        (
            "egress_gbit_s_tier_steady",
            Value::Num(mbit(steady(&o.edge_egress)) / 1000.0),
        ),
        (
            "egress_mbit_s_node_peak",
            Value::Num(mbit(o.edge_peak.iter().copied().max().unwrap_or(0) as f64)),
        ),
        ("gaps", Value::Int(o.edge_gaps)),
        ("duplicates_dropped", Value::Int(o.edge_duplicates)),
    ];
    let mut joins = vec![
        ("joined", Value::Int(o.join_us.len() as u64)),
        ("refused", Value::Int(o.refused)),
        ("watching_at_end", Value::Int(o.watching_end)),
    ];
    latency_rows(&mut joins, &mut o.join_us);
    let mut recovery: Vec<(&'static str, Value)> = Vec::new();
    match sc.failure {
        Some(failure) => {
            let (kind, affected, mut r) = match failure {
                Failure::Edges { .. } => (
                    "edge tier: viewers rejoin another edge (failure to media again)",
                    o.lost,
                    std::mem::take(&mut o.rejoin_us),
                ),
                Failure::Mid { .. } => (
                    "mid tier: edges fail over to another mid (failure to next new object)",
                    o.failover_edges,
                    std::mem::take(&mut o.failover_us),
                ),
            };
            recovery.push(("kind", Value::Str(kind.into())));
            recovery.push(("affected", Value::Int(affected)));
            recovery.push(("recovered", Value::Int(r.len() as u64)));
            latency_rows(&mut recovery, &mut r);
            recovery.push(("recovery_s", Value::Num(pct_ms(&r, 100.0) / 1000.0)));
        }
        None => {
            let mut w = std::mem::take(&mut o.watching_from_us);
            w.sort_unstable();
            let at = pct_ms(&w, 99.0) / 1000.0;
            recovery.push((
                "kind",
                Value::Str("none: time from the first join until 99 % of viewers watch".into()),
            ));
            recovery.push((
                "s_to_99pct_watching",
                Value::Num((at - sc.join_start.as_secs_f64()).max(0.0)),
            ));
        }
    }

    let mut plot = Plot::new(secs as f64);
    let norm =
        |v: &[u64], max: f64| -> Vec<f64> { v.iter().map(|&x| x as f64 / max.max(1.0)).collect() };
    plot.line(0, &norm(&o.watching, sc.viewers as f64));
    let omax = o.origin_egress.iter().copied().max().unwrap_or(1) as f64;
    plot.line(1, &norm(&o.origin_egress, omax));
    let emax = o.edge_egress.iter().copied().max().unwrap_or(1) as f64;
    plot.line(2, &norm(&o.edge_egress, emax));
    if let Some(f) = fail_at {
        plot.marker(f.as_secs_f64());
    }
    let legend = format!(
        "blue: viewers watching / {}; red: origin egress / {:.1} Mbit/s; green: edge egress / {:.2} Gbit/s; orange: failure",
        sc.viewers,
        mbit(omax),
        mbit(emax) / 1000.0
    );
    Report {
        name: sc.name,
        sections: vec![
            ("run", run),
            ("origin", origin),
            ("mid", mid),
            ("edge", edge),
            ("joins", joins),
            ("recovery", recovery),
            ("plot", vec![("legend", Value::Str(legend))]),
        ],
        png: plot.png(),
    }
}

/// Run every scenario in `scenarios` with `seed`.
pub fn run_all(scenarios: Vec<Scenario>, seed: u64, scale: f64) -> Vec<Report> {
    scenarios
        .into_iter()
        .map(|sc| {
            let (sc, outcome) = crate::sim::Sim::new(sc, seed).run();
            build(&sc, seed, scale, outcome)
        })
        .collect()
}

/// The text report of several runs.
pub fn text(reports: &[Report]) -> String {
    reports
        .iter()
        .map(Report::text)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The JSON report of several runs.
pub fn json(reports: &[Report]) -> String {
    let body: Vec<String> = reports.iter().map(Report::json).collect();
    format!("{{\"scenarios\": [\n{}\n]}}\n", body.join(",\n"))
}

/// Write `report.txt`, `report.json` and one `<scenario>.png` each into `dir`.
pub fn write(dir: &std::path::Path, reports: &[Report]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("report.txt"), text(reports))?;
    std::fs::write(dir.join("report.json"), json(reports))?;
    for r in reports {
        std::fs::write(dir.join(format!("{}.png", r.name)), &r.png)?;
    }
    Ok(())
}
