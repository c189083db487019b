//! The clock track of Cloudflare's `moq-clock-ietf` 0.6.25, which `tern clock` speaks.
//!
//! Mapping (from its `clock.rs`): namespace `clock`, track `now`; one group per UTC minute,
//! one subgroup (ID 0, publisher priority 0) per group. Group IDs start at the minute of the
//! hour when the publisher starts and increase by one per minute. Object 0 of a group is the
//! minute's base `YYYY-MM-DD HH:MM:`; objects 1.. are the seconds `SS`, one per second. A
//! subscriber prints base + seconds: `2026-11-21 14:13:05`.
//!
//! Sans-IO: callers pass the time in; [`ClockDecoder`] turns received objects into lines.

use std::collections::BTreeMap;

/// Default namespace.
pub const NAMESPACE: &str = "clock";
/// Default track name.
pub const TRACK: &str = "now";

/// A UTC time of day with its date, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    /// Year.
    pub year: i64,
    /// Month, 1–12.
    pub month: u32,
    /// Day, 1–31.
    pub day: u32,
    /// Hour, 0–23.
    pub hour: u32,
    /// Minute, 0–59.
    pub minute: u32,
    /// Second, 0–59.
    pub second: u32,
}

impl UtcTime {
    /// The civil time of `secs` seconds after the Unix epoch (proleptic Gregorian calendar).
    pub fn from_unix(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
        }
    }

    /// Object 0 of a minute's group: `YYYY-MM-DD HH:MM:`.
    pub fn base(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:",
            self.year, self.month, self.day, self.hour, self.minute
        )
    }

    /// Objects 1.. of a minute's group: `SS`.
    pub fn seconds(&self) -> String {
        format!("{:02}", self.second)
    }
}

/// The minute a Unix time falls in (its group boundary).
pub fn minute_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(60)
}

/// Turns clock objects back into `YYYY-MM-DD HH:MM:SS` lines.
#[derive(Debug, Default)]
pub struct ClockDecoder {
    bases: BTreeMap<u64, String>,
}

/// Minute bases remembered (groups can overlap briefly at a minute boundary).
const KEEP_BASES: usize = 4;

impl ClockDecoder {
    /// Feed one object; returns the time it completes, if any. Object 0 sets the group's
    /// base; seconds before their base (a subscription that started mid-group) are skipped.
    pub fn object(&mut self, group: u64, object: u64, payload: &[u8]) -> Option<String> {
        let text = String::from_utf8_lossy(payload);
        if object == 0 {
            self.bases.insert(group, text.into_owned());
            while self.bases.len() > KEEP_BASES {
                self.bases.pop_first();
            }
            return None;
        }
        self.bases.get(&group).map(|base| format!("{base}{text}"))
    }

    /// A datagram-mode object (`--datagrams`): the whole time in one payload.
    pub fn datagram(&mut self, payload: &[u8]) -> String {
        String::from_utf8_lossy(payload).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_time() {
        let t = UtcTime::from_unix(0);
        assert_eq!(
            format!("{}{}", t.base(), t.seconds()),
            "1970-01-01 00:00:00"
        );
        // 2026-11-21 14:13:05 UTC
        let t = UtcTime::from_unix(1_795_270_385);
        assert_eq!(
            format!("{}{}", t.base(), t.seconds()),
            "2026-11-21 14:13:05"
        );
        let t = UtcTime::from_unix(951_782_400); // leap day
        assert_eq!(t.base(), "2000-02-29 00:00:");
    }

    #[test]
    fn decoder_needs_the_base() {
        let mut d = ClockDecoder::default();
        assert_eq!(d.object(13, 5, b"05"), None);
        assert_eq!(d.object(13, 0, b"2026-11-21 14:13:"), None);
        assert_eq!(
            d.object(13, 6, b"06").as_deref(),
            Some("2026-11-21 14:13:06")
        );
    }
}
