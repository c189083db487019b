//! Matching what the viewer received with what the publisher sent, and percentiles.
//!
//! The relay maps a publisher's decode times onto the broadcast's time line by one constant
//! offset, so two frames' `tfdt`s differ by what their source decode times differ by. The
//! viewer subscribes with no filter within a second of the broadcast's start and gets the
//! relay's objects from the first: its first object is the first frame sent, which fixes the
//! offset. Frames sent before the subscription (and for `skip` after it) came out of the
//! relay's cache in a burst and are left out.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{bail, ensure};

use crate::rtmp::Sent;
use crate::viewer::{Received, Watched};

/// One frame both sides saw.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// Decode time, 90 kHz, from the first frame.
    pub dts: u64,
    /// Its object ID (0: the keyframe that opens a group).
    pub object: u64,
    /// Send to receive, milliseconds.
    pub end_to_end: f64,
    /// The gateway's `prft` stamp to receive, milliseconds.
    pub relay_side: Option<f64>,
}

impl Row {
    /// The first two objects of a group: `tern_peer`'s subscription holds a group whose ID is
    /// not the previous one's plus one for its gap wait (50 ms), and the object after the first
    /// queues behind it. The gateways number groups by milliseconds, so every group is held.
    pub fn group_head(&self) -> bool {
        self.object <= 1
    }
}

/// The frames both sides saw.
#[derive(Debug, Default)]
pub struct Latencies {
    /// Frames sent in the measured part.
    pub sent: usize,
    /// Each frame matched.
    pub rows: Vec<Row>,
}

impl Latencies {
    /// Send to receive, milliseconds; `heads`: with the first two objects of each group.
    pub fn end_to_end(&self, heads: bool) -> Vec<f64> {
        self.rows
            .iter()
            .filter(|r| heads || !r.group_head())
            .map(|r| r.end_to_end)
            .collect()
    }

    /// `prft` to receive, milliseconds; `heads` as in [`Latencies::end_to_end`].
    pub fn relay_side(&self, heads: bool) -> Vec<f64> {
        self.rows
            .iter()
            .filter(|r| heads || !r.group_head())
            .filter_map(|r| r.relay_side)
            .collect()
    }

    /// The rows as CSV.
    pub fn csv(&self) -> String {
        let mut out = String::from("dts_90khz,object,send_to_receive_ms,prft_to_receive_ms\n");
        for r in &self.rows {
            let relay = r.relay_side.map(|v| format!("{v:.3}")).unwrap_or_default();
            out.push_str(&format!(
                "{},{},{:.3},{relay}\n",
                r.dts, r.object, r.end_to_end
            ));
        }
        out
    }
}

/// Match `watched` against `sent`: the frames sent in `window` from the subscription plus
/// `skip`.
pub fn match_frames(
    sent: &[Sent],
    watched: &Watched,
    skip: Duration,
    window: Duration,
) -> anyhow::Result<Latencies> {
    let Some(first) = watched.objects.first() else {
        bail!("the viewer received nothing");
    };
    // A new broadcast's time line starts at zero: its first frame is within half a second of
    // it (audio may come first), the next keyframe two seconds later.
    ensure!(
        first.location.1 == 0 && first.tfdt < 45_000,
        "the first object received ({:?}, tfdt {}) is not the broadcast's first frame",
        first.location,
        first.tfdt
    );
    let base = first.tfdt;
    let by_dts: HashMap<u64, &Received> = watched
        .objects
        .iter()
        .map(|o| (o.tfdt.wrapping_sub(base), o))
        .collect();
    let from = watched.subscribed_at + skip;
    let to = from + window;
    let mut out = Latencies::default();
    for &(dts, at) in sent.iter().filter(|(_, at)| *at >= from && *at < to) {
        out.sent += 1;
        let Some(o) = by_dts.get(&dts) else {
            continue;
        };
        out.rows.push(Row {
            dts,
            object: o.location.1,
            end_to_end: o.at.saturating_duration_since(at).as_secs_f64() * 1e3,
            relay_side: o
                .prft_us
                .map(|prft| o.unix_us.saturating_sub(prft) as f64 / 1e3),
        });
    }
    ensure!(
        !out.rows.is_empty(),
        "no frame matched: {} sent after the subscription, {} objects received",
        out.sent,
        watched.objects.len()
    );
    Ok(out)
}

/// Nearest-rank percentile `p` (0–100) of `v`.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

/// `p50 / p99 / max (n)` of `v`, milliseconds.
pub fn summary(v: &[f64]) -> String {
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (n={})",
        percentile(v, 50.0),
        percentile(v, 99.0),
        percentile(v, 100.0),
        v.len()
    )
}
