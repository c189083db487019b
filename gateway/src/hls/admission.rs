//! Every HLS request is judged as a MoQ subscriber's request is (the node's edge plugin, its
//! session-open and subscribe phases), by the credentials the request itself carries: the
//! token in its query. A player asks for a part every few hundred milliseconds, so the verdict
//! on a viewer's credentials for a broadcast or a rendition is kept a little while
//! ([`VERDICT_TTL`], never past the token's expiry), in a map of at most [`MAX_VERDICTS`]
//! entries. Sans-IO: the caller passes the time.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long a verdict is reused.
pub const VERDICT_TTL: Duration = Duration::from_secs(5);
/// Verdicts kept at most (the oldest leave first).
pub const MAX_VERDICTS: usize = 4096;

/// What a verdict is about: the credentials (token and address, both of which the plugin
/// sees) and what they ask for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    /// The viewer's token, by its SHA-256 (a token's size is the viewer's choice; its hash
    /// is not, and no other token has it).
    pub token: Option<[u8; 32]>,
    /// The viewer's address.
    pub ip: IpAddr,
    /// The broadcast.
    pub namespace: String,
    /// The rendition; `None` for the broadcast (its multivariant playlist).
    pub track: Option<String>,
}

impl Key {
    /// The key of `token` from `ip` asking for `track` (`None`: the broadcast) of `namespace`.
    pub fn new(token: Option<&str>, ip: IpAddr, namespace: &str, track: Option<&str>) -> Self {
        use sha2::Digest;
        Self {
            token: token.map(|t| sha2::Sha256::digest(t.as_bytes()).into()),
            ip,
            namespace: namespace.to_owned(),
            track: track.map(str::to_owned),
        }
    }
}

/// Verdicts of type `V` by [`Key`], each until a time.
#[derive(Debug)]
pub struct Verdicts<V> {
    /// Each key's verdict: the number of its put, until when it holds.
    map: HashMap<Key, (u64, Instant, V)>,
    /// Keys in the order they were put, with the number of the put (an entry whose key was put
    /// again since is stale, and skipped).
    order: VecDeque<(Key, u64)>,
    puts: u64,
    max: usize,
}

impl<V: Clone> Verdicts<V> {
    /// An empty map of at most `max` verdicts.
    pub fn new(max: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            puts: 0,
            max: max.max(1),
        }
    }

    /// The verdict on `key`, unless there is none or it ran out at `now`.
    pub fn get(&self, key: &Key, now: Instant) -> Option<V> {
        self.map
            .get(key)
            .filter(|(_, until, _)| now < *until)
            .map(|(_, _, v)| v.clone())
    }

    /// Keeps `verdict` on `key` from `now` until `until`. The oldest verdicts leave while the
    /// map is full, and those that ran out as they reach the front.
    pub fn put(&mut self, key: Key, verdict: V, now: Instant, until: Instant) {
        self.puts += 1;
        self.map.insert(key.clone(), (self.puts, until, verdict));
        self.order.push_back((key, self.puts));
        while let Some((front, at)) = self.order.front() {
            let entry = self.map.get(front);
            let stale = entry.is_none_or(|(put, _, _)| put != at);
            let over = self.map.len() > self.max;
            let ran_out = entry.is_some_and(|(_, until, _)| *until <= now);
            if !(stale || over || ran_out) {
                break;
            }
            if !stale {
                self.map.remove(front);
            }
            self.order.pop_front();
        }
        if self.order.len() > 2 * self.max {
            let map = &self.map;
            self.order
                .retain(|(k, at)| map.get(k).is_some_and(|(put, _, _)| put == at));
        }
    }

    /// Verdicts kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(token: &str) -> Key {
        Key::new(Some(token), IpAddr::from([127, 0, 0, 1]), "live/a", None)
    }

    #[test]
    fn a_verdict_holds_until_its_time_and_the_map_stays_bounded() {
        let t0 = Instant::now();
        let mut v = Verdicts::new(3);
        v.put(key("a"), 1, t0, t0 + VERDICT_TTL);
        assert_eq!(v.get(&key("a"), t0 + Duration::from_secs(4)), Some(1));
        assert_eq!(v.get(&key("a"), t0 + VERDICT_TTL), None);
        // Another address or rendition is another verdict.
        let mut other = key("a");
        other.track = Some("video".into());
        assert_eq!(v.get(&other, t0), None);
        for (i, t) in ["b", "c", "d", "e"].into_iter().enumerate() {
            v.put(key(t), i, t0, t0 + VERDICT_TTL);
        }
        assert_eq!(v.len(), 3);
        assert_eq!(v.get(&key("a"), t0), None);
        assert_eq!(v.get(&key("e"), t0), Some(3));
        // Put again, a key is kept as the newest.
        v.put(key("c"), 9, t0, t0 + VERDICT_TTL);
        v.put(key("f"), 5, t0, t0 + VERDICT_TTL);
        assert_eq!(v.get(&key("c"), t0), Some(9));
        assert_eq!(v.get(&key("d"), t0), None);
        // Verdicts that ran out leave as others are put.
        let later = t0 + VERDICT_TTL * 2;
        v.put(key("g"), 6, later, later + VERDICT_TTL);
        assert_eq!(v.len(), 1);
        for i in 0..100 {
            v.put(key("g"), i, later, later + VERDICT_TTL);
        }
        assert!(v.order.len() <= 6 && v.len() == 1);
    }
}
