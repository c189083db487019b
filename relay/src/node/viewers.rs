//! Viewers per broadcast for `/metrics`: the gauge `tern_broadcast_viewers{namespace="…"}`
//! counts the sessions with at least one live subscription to a track of that namespace (a
//! player subscribed to video, audio and catalog is one viewer; a downstream relay is one
//! viewer however many it serves).
//!
//! Cardinality is bounded, and no peer can take the labels from the broadcasts people watch:
//! each scrape labels the [`MAX_LABELLED`] most-watched namespaces of that moment and sums the
//! viewers of every other one in `namespace="_other"`. A namespace nobody watches has no
//! series, so garbage namespaces watched once hold nothing, and ones watched by a single
//! session each rank below any broadcast with more viewers. Subscribe and unsubscribe only
//! count (constant time); the ranking is done when `/metrics` is read.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use crate::core::router::SessionId;
use crate::core::types::{Namespace, namespace_path as path};
use crate::metrics as m;

/// Namespaces with a series of their own, at most, per scrape.
pub const MAX_LABELLED: usize = 1000;
/// The label value that sums every namespace past the cap.
pub const OTHER: &str = "_other";

/// The counts, by namespace path and session. Plain data, so the ranking is testable.
#[derive(Debug, Default)]
pub struct Registry {
    /// Live subscriptions per session, per namespace path.
    watching: HashMap<String, HashMap<SessionId, usize>>,
}

impl Registry {
    /// A subscription of `session` to a track of `namespace` began.
    pub fn add(&mut self, namespace: &str, session: SessionId) {
        *self
            .watching
            .entry(namespace.to_owned())
            .or_default()
            .entry(session)
            .or_default() += 1;
    }

    /// That subscription ended.
    pub fn remove(&mut self, namespace: &str, session: SessionId) {
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
    }

    /// The series to show: the `cap` most-watched namespaces (ties by name) with their
    /// viewers, most first, then [`OTHER`] with the sum of the rest when there is any.
    pub fn series(&self, cap: usize) -> Vec<(&str, usize)> {
        let mut all: Vec<(&str, usize)> = self
            .watching
            .iter()
            .map(|(ns, sessions)| (ns.as_str(), sessions.len()))
            .collect();
        let order = |a: &(&str, usize), b: &(&str, usize)| b.1.cmp(&a.1).then(a.0.cmp(b.0));
        if all.len() > cap {
            all.select_nth_unstable_by(cap, order);
        }
        let other: usize = all.iter().skip(cap).map(|(_, n)| n).sum();
        all.truncate(cap);
        all.sort_unstable_by(order);
        if other > 0 {
            all.push((OTHER, other));
        }
        all
    }
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

fn lock() -> std::sync::MutexGuard<'static, Registry> {
    registry().lock().unwrap_or_else(|e| e.into_inner())
}

/// A label value in the Prometheus text format: backslash, quote and newline escaped.
fn escape(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Append `tern_broadcast_viewers` in the Prometheus text format (nothing while nobody
/// watches anything).
pub fn render(out: &mut String) {
    let registry = lock();
    let series = registry.series(MAX_LABELLED);
    if series.is_empty() {
        return;
    }
    let name = m::BROADCAST_VIEWERS;
    let _ = writeln!(out, "# HELP {name} {}", m::BROADCAST_VIEWERS_HELP);
    let _ = writeln!(out, "# TYPE {name} gauge");
    for (namespace, viewers) in series {
        let _ = write!(out, "{name}{{{}=\"", m::NAMESPACE);
        escape(namespace, out);
        let _ = writeln!(out, "\"}} {viewers}");
    }
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
        lock().add(&namespace, session);
        Self { namespace, session }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        lock().remove(&self.namespace, self.session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sessions_not_subscriptions() {
        let mut r = Registry::default();
        r.add("live/a", 1);
        // Video and audio of one player: still one viewer.
        r.add("live/a", 1);
        r.add("live/a", 2);
        assert_eq!(r.series(10), [("live/a", 2)]);
        r.remove("live/a", 1);
        assert_eq!(r.series(10), [("live/a", 2)]);
        r.remove("live/a", 1);
        assert_eq!(r.series(10), [("live/a", 1)]);
        r.remove("live/a", 2);
        assert!(r.series(10).is_empty(), "nobody watches: no series");
    }

    #[test]
    fn the_most_watched_namespaces_are_labelled_and_the_rest_summed() {
        let mut r = Registry::default();
        r.add("a", 1);
        r.add("b", 1);
        r.add("c", 1);
        // Ties by name.
        assert_eq!(r.series(2), [("a", 1), ("b", 1), (OTHER, 1)]);
        r.add("c", 2);
        r.add("c", 3);
        assert_eq!(r.series(2), [("c", 3), ("a", 1), (OTHER, 1)]);
        // A namespace nobody watches any more gives its place up at once.
        r.remove("a", 1);
        assert_eq!(r.series(2), [("c", 3), ("b", 1)]);
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        escape("a\"b\\c\nd", &mut out);
        assert_eq!(out, "a\\\"b\\\\c\\nd");
    }
}
