//! The end of a run: two plots with the simulator's PNG writer (`sims/src/plot.rs`) and the
//! summary.

use std::fmt::Write as _;
use std::path::Path;

use tern_sims::plot::Plot;

use crate::report::{Events, Loss, Minute, mib};
use crate::tree::{Tier, Tree};

/// Two plots, x in minutes: `rss.png` (each relay's RSS over the largest seen: roots blue,
/// mids red, edges green) and `viewers.png` (blue: the share of the viewers attached in the
/// minute that received in it; red: viewers watching at the minute's end over the viewer
/// count); kills are orange markers. Returns the legend.
pub fn plot(
    dir: &Path,
    tree: &Tree,
    minutes: &[Minute],
    kills: &[(String, f64)],
    viewers: usize,
) -> anyhow::Result<String> {
    let x_max = minutes.last().map_or(1, |m| m.minute).max(1) as f64;
    let max_rss = minutes
        .iter()
        .flat_map(|m| m.rss.iter().flatten())
        .copied()
        .max()
        .unwrap_or(1)
        .max(1);
    let mut rss = Plot::new(x_max);
    let mut watch = Plot::new(x_max);
    for (i, spec) in tree.specs.iter().enumerate() {
        let series: Vec<f64> = minutes
            .iter()
            .map(|m| m.rss[i].unwrap_or(0) as f64 / max_rss as f64)
            .collect();
        let colour = match spec.tier {
            Tier::Root => 0,
            Tier::Mid => 1,
            Tier::Edge => 2,
        };
        rss.line(colour, &series);
    }
    let receiving: Vec<f64> = minutes
        .iter()
        .map(|m| m.receiving as f64 / m.attached.max(1) as f64)
        .collect();
    let watching: Vec<f64> = minutes
        .iter()
        .map(|m| m.watching as f64 / viewers.max(1) as f64)
        .collect();
    watch.line(0, &receiving);
    watch.line(1, &watching);
    for (_, at) in kills {
        rss.marker(*at);
        watch.marker(*at);
    }
    std::fs::write(dir.join("rss.png"), rss.png())?;
    std::fs::write(dir.join("viewers.png"), watch.png())?;
    let kills: Vec<String> = kills
        .iter()
        .map(|(name, at)| format!("{name} at {at:.1}"))
        .collect();
    Ok(format!(
        "rss.png: x minutes; y RSS / {:.0} MiB (the largest seen); blue roots, red mids, green \
         edges. viewers.png: x minutes; blue: viewers receiving / attached in the minute; red: \
         viewers watching at its end / {viewers}. Orange: kills ({}).",
        mib(max_rss),
        kills.join(", ")
    ))
}

/// The summary: RSS at the end of the warm-up and at the end per relay, totals.
pub fn summary(tree: &Tree, minutes: &[Minute], warmup: u32) -> String {
    let mut out = String::new();
    let at = |m: u32| minutes.iter().find(|x| x.minute == m);
    let last = minutes.last();
    let _ = writeln!(
        out,
        "{:<8} {:>18} {:>12} {:>12} {:>9}",
        "relay",
        format!("RSS min {warmup} (MiB)"),
        "RSS end",
        "RSS max",
        "restarts"
    );
    let show = |r: Option<u64>| r.map_or("down".to_owned(), |b| format!("{:.1}", mib(b)));
    for (i, spec) in tree.specs.iter().enumerate() {
        let max = minutes.iter().filter_map(|m| m.rss[i]).max();
        let _ = writeln!(
            out,
            "{:<8} {:>18} {:>12} {:>12} {:>9}",
            spec.name,
            show(at(warmup).and_then(|m| m.rss[i])),
            show(last.and_then(|m| m.rss[i])),
            show(max),
            tree.restarts(i)
        );
    }
    let mut events = Events::default();
    let (mut surviving, mut killed) = (Loss::default(), Loss::default());
    let mut near = 0;
    for m in minutes {
        events.add(&m.events);
        surviving.add(&m.surviving);
        killed.add(&m.killed_paths);
        near += m.near_reconnect;
    }
    let receiving: Vec<String> = minutes
        .iter()
        .filter(|m| m.minute > 0)
        .map(|m| format!("{}/{}", m.receiving, m.attached))
        .collect();
    let _ = writeln!(
        out,
        "stuck SUBSCRIBEs (no answer within 10 s): {}",
        events.stuck
    );
    let _ = writeln!(
        out,
        "objects lost on surviving paths: {} of {} ({} near a publisher reconnect)",
        surviving.lost, surviving.expected, near
    );
    let _ = writeln!(
        out,
        "objects lost on paths through a killed relay: {} of {}",
        killed.lost, killed.expected
    );
    let _ = writeln!(
        out,
        "viewers receiving/attached by minute: {}",
        receiving.join(" ")
    );
    let _ = writeln!(
        out,
        "viewers: {} joined, {} ended early; errors: {} connect, {} subscribe; corrupt payloads: {}",
        events.joins,
        events.ended_early,
        events.connect_errors,
        events.subscribe_errors,
        events.corrupt
    );
    let _ = writeln!(
        out,
        "publisher feeds: {} reconnects ({} after the session died), {} connection failures",
        events.publisher_reconnects, events.publisher_failures, events.publisher_connect_errors
    );
    out
}
