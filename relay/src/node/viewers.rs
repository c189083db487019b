//! Viewers per broadcast for `/metrics`: the gauge `tern_broadcast_viewers{namespace="…"}`
//! counts the sessions with at least one live subscription to a track of that namespace (a
//! player subscribed to video, audio and catalog is one viewer; a downstream relay is one
//! viewer however many it serves).
//!
//! Cardinality is bounded: the first [`MAX_LABELLED`] namespaces that get a viewer keep their
//! own series for the life of the process (at 0 while nobody watches); viewers of every other
//! namespace are summed in the series `namespace="_other"`. Updated on subscribe and
//! unsubscribe only, never per object.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};

use crate::core::router::SessionId;
use crate::core::types::Namespace;
use crate::metrics as m;

/// Namespaces with a series of their own, at most.
pub const MAX_LABELLED: usize = 1000;
/// The label value that sums every namespace past the cap.
pub const OTHER: &str = "_other";

/// The counts, by namespace path and session. Plain data, so the cap is testable.
#[derive(Debug, Default)]
pub struct Registry {
    cap: usize,
    /// Live subscriptions per session, per namespace path.
    watching: HashMap<String, HashMap<SessionId, usize>>,
    /// Namespaces that have a series of their own.
    labelled: HashSet<String>,
}

impl Registry {
    /// A registry labelling at most `cap` namespaces.
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            ..Self::default()
        }
    }

    /// A subscription of `session` to a track of `namespace` began. Returns the series to
    /// set: (label, viewers).
    pub fn add(&mut self, namespace: &str, session: SessionId) -> (String, usize) {
        *self
            .watching
            .entry(namespace.to_owned())
            .or_default()
            .entry(session)
            .or_default() += 1;
        if !self.labelled.contains(namespace) && self.labelled.len() < self.cap {
            self.labelled.insert(namespace.to_owned());
        }
        self.series(namespace)
    }

    /// That subscription ended.
    pub fn remove(&mut self, namespace: &str, session: SessionId) -> (String, usize) {
        if let Some(sessions) = self.watching.get_mut(namespace) {
            if let Some(n) = sessions.get_mut(&session) {
                *n -= 1;
                if *n == 0 {
                    sessions.remove(&session);
                }
            }
            if sessions.is_empty() {
                self.watching.remove(namespace);
            }
        }
        self.series(namespace)
    }

    /// The label `namespace` is counted under and that series' value.
    fn series(&self, namespace: &str) -> (String, usize) {
        if self.labelled.contains(namespace) {
            let n = self.watching.get(namespace).map_or(0, HashMap::len);
            return (namespace.to_owned(), n);
        }
        let other = self
            .watching
            .iter()
            .filter(|(ns, _)| !self.labelled.contains(*ns))
            .map(|(_, sessions)| sessions.len())
            .sum();
        (OTHER.to_owned(), other)
    }
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(Registry::new(MAX_LABELLED)))
}

fn path(namespace: &Namespace) -> String {
    namespace
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

fn publish((label, viewers): (String, usize)) {
    metrics::gauge!(m::BROADCAST_VIEWERS, m::NAMESPACE => label).set(viewers as f64);
}

/// One subscription counted while it lives: dropping it (the serving task ended or was
/// aborted) takes it out.
#[derive(Debug)]
pub struct Watching {
    namespace: String,
    session: SessionId,
}

impl Watching {
    /// Count a subscription of `session` to a track of `namespace`.
    pub fn new(namespace: &Namespace, session: SessionId) -> Self {
        let namespace = path(namespace);
        let series = registry()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(&namespace, session);
        publish(series);
        Self { namespace, session }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let series = registry()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.namespace, self.session);
        publish(series);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sessions_not_subscriptions() {
        let mut r = Registry::new(10);
        assert_eq!(r.add("live/a", 1), ("live/a".into(), 1));
        // Video and audio of one player: still one viewer.
        assert_eq!(r.add("live/a", 1), ("live/a".into(), 1));
        assert_eq!(r.add("live/a", 2), ("live/a".into(), 2));
        assert_eq!(r.remove("live/a", 1), ("live/a".into(), 2));
        assert_eq!(r.remove("live/a", 1), ("live/a".into(), 1));
        assert_eq!(r.remove("live/a", 2), ("live/a".into(), 0));
    }

    #[test]
    fn namespaces_past_the_cap_are_summed_in_other() {
        let mut r = Registry::new(2);
        assert_eq!(r.add("a", 1).0, "a");
        assert_eq!(r.add("b", 1).0, "b");
        assert_eq!(r.add("c", 1), (OTHER.into(), 1));
        assert_eq!(r.add("d", 2), (OTHER.into(), 2));
        assert_eq!(r.add("d", 3), (OTHER.into(), 3));
        // A labelled namespace keeps its series at 0; its slot is not handed on, so the
        // number of series never grows past the cap + 1.
        assert_eq!(r.remove("a", 1), ("a".into(), 0));
        assert_eq!(r.add("e", 4), (OTHER.into(), 4));
        assert_eq!(r.remove("c", 1), (OTHER.into(), 3));
        assert_eq!(r.add("a", 5), ("a".into(), 1));
    }
}
