//! Killing relays: every `kill_every`, one relay gets SIGKILL, stays down a few seconds and is
//! restarted from the same TOML, in turn a root, a mid, an edge, a root, ... (each tier's
//! relays in rotation).
//!
//! Each kill records which viewers' paths went through the dead relay, so that the reports can
//! set their losses apart: for an edge, its viewers; for a mid or a root, the broadcasts it
//! carried just before the kill (its `tern_broadcast_viewers` series: the downstream relays
//! subscribed to each), plus, for a root, the broadcasts fed into it alone. When `/metrics`
//! does not answer, every broadcast counts as carried.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::publisher::{Broadcast, index_of};
use crate::tree::{EDGES, MIDS, ROOTS, Tier, Tree, http_get, watched_namespaces};

/// How long after the relay is back its kill still counts as disturbing the paths through it
/// (upstream idle timeout, linger, a publisher's QUIC idle timeout, re-announcement).
pub const SETTLE: Duration = Duration::from_secs(15);

/// Whose paths a kill cut.
#[derive(Debug, Clone)]
pub enum Affected {
    /// The viewers of this edge (relay index).
    Edge(usize),
    /// The viewers of these broadcasts, at every edge.
    Broadcasts(HashSet<usize>),
    /// Everyone (the relay's metrics were unavailable).
    All,
}

/// One kill.
#[derive(Debug, Clone)]
pub struct Kill {
    /// The relay's name.
    pub name: String,
    /// When it was killed.
    pub at: Instant,
    /// When it answered `/health` again.
    pub back: Option<Instant>,
    /// Whose paths it cut.
    pub affected: Affected,
}

impl Kill {
    /// The span during which paths through the relay count as disturbed (open-ended while it
    /// is down: up to `now` + [`SETTLE`]).
    pub fn window(&self, now: Instant) -> (Instant, Instant) {
        (self.at, self.back.unwrap_or(now).max(self.at) + SETTLE)
    }

    /// Whether the path of a viewer of `broadcast` at edge relay `edge` went through it.
    pub fn affects(&self, edge: usize, broadcast: usize) -> bool {
        match &self.affected {
            Affected::Edge(e) => *e == edge,
            Affected::Broadcasts(set) => set.contains(&broadcast),
            Affected::All => true,
        }
    }
}

/// Every kill of the run.
#[derive(Debug, Default)]
pub struct Kills(Mutex<Vec<Kill>>);

impl Kills {
    fn list(&self) -> MutexGuard<'_, Vec<Kill>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the list.
    pub fn snapshot(&self) -> Vec<Kill> {
        self.list().clone()
    }
}

/// The relay index of kill number `k`: a root, a mid, an edge, in turn, each tier rotating
/// through its relays (roots are indices 0–1, mids 2–3, edges 4–7).
pub fn victim(k: usize) -> usize {
    let round = k / 3;
    match k % 3 {
        0 => round % ROOTS,
        1 => ROOTS + round % MIDS,
        _ => ROOTS + MIDS + round % EDGES,
    }
}

/// Kill relay `relay`, keep it down for `down`, restart it.
pub async fn kill_and_restart(
    tree: Arc<Tree>,
    kills: Arc<Kills>,
    broadcasts: Arc<Vec<Arc<Broadcast>>>,
    relay: usize,
    down: Duration,
) -> anyhow::Result<()> {
    let spec = &tree.specs[relay];
    let affected = match spec.tier {
        Tier::Edge => Affected::Edge(relay),
        tier => match http_get(spec.admin, "/metrics").await {
            Ok((200, page)) => {
                let mut set: HashSet<usize> = watched_namespaces(&page)
                    .iter()
                    .filter_map(|ns| index_of(ns))
                    .collect();
                if tier == Tier::Root {
                    set.extend(
                        broadcasts
                            .iter()
                            .filter(|b| b.fed_only_at(relay))
                            .map(|b| b.index),
                    );
                }
                Affected::Broadcasts(set)
            }
            _ => Affected::All,
        },
    };
    let cut = match &affected {
        Affected::Edge(_) => "its viewers".to_owned(),
        Affected::Broadcasts(set) => {
            let mut list: Vec<usize> = set.iter().copied().collect();
            list.sort_unstable();
            format!("the viewers of {} broadcasts {list:?}", list.len())
        }
        Affected::All => "every viewer (no /metrics)".to_owned(),
    };
    println!(
        "killing {} (SIGKILL), down for {} s; paths cut: {cut}",
        spec.name,
        down.as_secs()
    );
    let index = {
        let mut list = kills.list();
        list.push(Kill {
            name: spec.name.clone(),
            at: Instant::now(),
            back: None,
            affected,
        });
        list.len() - 1
    };
    tree.kill(relay);
    tokio::time::sleep(down).await;
    let restarted = tree.restart(relay).await;
    let back = Instant::now();
    let mut list = kills.list();
    list[index].back = Some(back);
    if restarted.is_ok() {
        let after = back - list[index].at;
        println!("{} back after {:.1} s", spec.name, after.as_secs_f64());
    }
    restarted
}

#[cfg(test)]
mod tests {
    use super::victim;

    #[test]
    fn kills_go_root_mid_edge_rotating_within_each_tier() {
        let order: Vec<usize> = (0..12).map(victim).collect();
        assert_eq!(order, [0, 2, 4, 1, 3, 5, 0, 2, 6, 1, 3, 7]);
    }
}
