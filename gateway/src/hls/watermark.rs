//! The viewers of marked renditions (forensic A/B watermarking over HLS): each viewer's variant
//! of each group, as the node chooses it for a MoQ viewer of the track (the plugin's object
//! phase, through [`LocalApi::variant`](tern_model::local::LocalApi::variant)), remembered so
//! that the plugin is asked once per viewer and group, as a MoQ viewer's marking asks it.
//! Sans-IO: the caller asks the node for what is not remembered.
//!
//! A viewer's media playlist names its variant for every segment and part
//! ([`MarkedUris`](super::path::MarkedUris)); a segment or part is only ever served in the
//! variant of the viewer asking, whichever URI it asks by. A group whose choice failed (the
//! plugin trapped, or named a variant the set lacks) cannot be served to that viewer, as it
//! ends for a MoQ viewer.

use std::collections::{HashMap, VecDeque};

/// Viewers remembered at most (the one unseen longest leaves first).
pub const MAX_VIEWERS: usize = 1024;
/// Groups remembered per viewer (a window of 48 s of 200 ms groups is 240).
pub const MAX_GROUPS: usize = 256;

/// A viewer's variant of a group: `None` when none could be chosen.
pub type Choice = Option<u32>;

/// One viewer of one marked track.
#[derive(Debug, Default)]
struct Viewer {
    groups: VecDeque<(u64, Choice)>,
    /// When it was last asked about (a count of the asks).
    seen: u64,
}

/// The choices remembered, by viewer (its subject) and marked track (its variant A).
#[derive(Debug, Default)]
pub struct Choices {
    viewers: HashMap<(String, String), Viewer>,
    asks: u64,
}

impl Choices {
    /// Nothing remembered.
    pub fn new() -> Self {
        Self::default()
    }

    /// `viewer`'s variant of `group` of `track`, if remembered.
    pub fn get(&mut self, viewer: &str, track: &str, group: u64) -> Option<Choice> {
        self.asks += 1;
        let v = self
            .viewers
            .get_mut(&(viewer.to_owned(), track.to_owned()))?;
        v.seen = self.asks;
        v.groups.iter().find(|(g, _)| *g == group).map(|(_, c)| *c)
    }

    /// Remember `viewer`'s variant of `group` of `track`.
    pub fn put(&mut self, viewer: &str, track: &str, group: u64, choice: Choice) {
        self.asks += 1;
        let key = (viewer.to_owned(), track.to_owned());
        if !self.viewers.contains_key(&key) && self.viewers.len() >= MAX_VIEWERS {
            let unseen = self
                .viewers
                .iter()
                .min_by_key(|(_, v)| v.seen)
                .map(|(k, _)| k.clone());
            if let Some(k) = unseen {
                self.viewers.remove(&k);
            }
        }
        let v = self.viewers.entry(key).or_default();
        v.seen = self.asks;
        if v.groups.iter().any(|(g, _)| *g == group) {
            return;
        }
        if v.groups.len() >= MAX_GROUPS {
            v.groups.pop_front();
        }
        v.groups.push_back((group, choice));
    }

    /// Viewers remembered.
    #[cfg(test)]
    fn viewers(&self) -> usize {
        self.viewers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_are_remembered_per_viewer_and_bounded() {
        let mut c = Choices::new();
        assert_eq!(c.get("alice", "v.wm-a", 7), None);
        c.put("alice", "v.wm-a", 7, Some(1));
        c.put("alice", "v.wm-a", 8, None);
        assert_eq!(c.get("alice", "v.wm-a", 7), Some(Some(1)));
        assert_eq!(c.get("alice", "v.wm-a", 8), Some(None));
        assert_eq!(c.get("bob", "v.wm-a", 7), None);
        assert_eq!(c.get("alice", "w.wm-a", 7), None);
        // The first choice of a group stands.
        c.put("alice", "v.wm-a", 7, Some(0));
        assert_eq!(c.get("alice", "v.wm-a", 7), Some(Some(1)));
        for g in 0..MAX_GROUPS as u64 + 10 {
            c.put("bob", "v.wm-a", 1000 + g, Some(0));
        }
        assert_eq!(c.get("bob", "v.wm-a", 1000), None);
        assert_eq!(
            c.get("bob", "v.wm-a", 1000 + MAX_GROUPS as u64),
            Some(Some(0))
        );
        // Alice was asked about last: the viewer unseen longest leaves for a new one.
        c.get("alice", "v.wm-a", 7);
        for i in 0..MAX_VIEWERS {
            c.put(&format!("viewer-{i}"), "v.wm-a", 1, Some(0));
        }
        assert_eq!(c.viewers(), MAX_VIEWERS);
        assert_eq!(c.get("bob", "v.wm-a", 1000 + MAX_GROUPS as u64), None);
    }
}
