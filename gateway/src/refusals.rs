//! Refusals in the log without a flood: encoders retry a refused publish at once and forever
//! (srt-live-transmit and OBS reconnect every fraction of a second), so each address's refusals
//! are logged at most once per [`RefusalLog::EVERY`], with the count of those left out.
//! Sans-IO: `now` comes in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses remembered at most; past that the oldest half is forgotten.
const MAX_ADDRESSES: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Entry {
    logged: Instant,
    left_out: u64,
}

/// Which refusals to log, per remote address.
#[derive(Debug, Default)]
pub struct RefusalLog(Mutex<HashMap<IpAddr, Entry>>);

impl RefusalLog {
    /// A refused address is logged again at most this often.
    pub const EVERY: Duration = Duration::from_secs(10);

    /// Whether to log a refusal of `ip` now: `Some(n)` with the refusals of `ip` left out since
    /// the last one logged, `None` to leave this one out.
    pub fn log(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        let Ok(mut map) = self.0.lock() else {
            return Some(0);
        };
        if let Some(e) = map.get_mut(&ip) {
            if now.saturating_duration_since(e.logged) < Self::EVERY {
                e.left_out += 1;
                return None;
            }
            let left_out = e.left_out;
            *e = Entry {
                logged: now,
                left_out: 0,
            };
            return Some(left_out);
        }
        if map.len() >= MAX_ADDRESSES {
            let mut by_age: Vec<(IpAddr, Instant)> =
                map.iter().map(|(ip, e)| (*ip, e.logged)).collect();
            by_age.sort_by_key(|(_, at)| *at);
            for (ip, _) in by_age.into_iter().take(MAX_ADDRESSES / 2) {
                map.remove(&ip);
            }
        }
        map.insert(
            ip,
            Entry {
                logged: now,
                left_out: 0,
            },
        );
        Some(0)
    }
}

/// One publisher's place among a listener's `max_publishers`: taken when it is admitted, given
/// back when it is dropped, however its task ends (a panic included).
#[derive(Debug)]
pub struct Slot(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Slot {
    /// Take a place of `active`.
    pub fn take(active: &std::sync::Arc<std::sync::atomic::AtomicUsize>) -> Self {
        active.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(active.clone())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The tail of a refusal's log line: how many of the same address's were left out before it.
pub fn left_out(n: u64) -> String {
    match n {
        0 => String::new(),
        n => format!(" ({n} more refusals of this address since the last logged)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retrying_address_is_logged_once_per_period_with_the_count_left_out() {
        let log = RefusalLog::default();
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        let t = Instant::now();
        assert_eq!(log.log(a, t), Some(0));
        for i in 1..=50 {
            assert_eq!(log.log(a, t + Duration::from_millis(100 * i)), None);
        }
        // Another address is not held back by the first.
        assert_eq!(log.log(b, t + Duration::from_secs(1)), Some(0));
        assert_eq!(log.log(a, t + RefusalLog::EVERY), Some(50));
        assert_eq!(log.log(a, t + RefusalLog::EVERY * 3), Some(0));
    }

    #[test]
    fn a_slot_is_given_back_however_its_holder_ends() {
        let active = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let a = active.clone();
        let panicked = std::thread::spawn(move || {
            let _slot = Slot::take(&a);
            panic!("a publisher's task panics");
        })
        .join();
        assert!(panicked.is_err());
        assert_eq!(active.load(std::sync::atomic::Ordering::Relaxed), 0);
    }

    #[test]
    fn many_addresses_stay_bounded() {
        let log = RefusalLog::default();
        let t = Instant::now();
        for i in 0..(MAX_ADDRESSES as u32 * 3) {
            assert_eq!(log.log(IpAddr::from(i.to_be_bytes()), t), Some(0));
        }
        assert!(log.0.lock().unwrap().len() <= MAX_ADDRESSES);
    }
}
