//! 33-bit PTS/DTS into one continuous 90 kHz timeline.

/// Where 33-bit timestamps wrap (about 26.5 hours at 90 kHz).
pub const WRAP: u64 = 1 << 33;

/// Extends 33-bit timestamps past their wraparound. Each value is placed at the point of the
/// extended timeline nearest the previous one (within ±2^32 ticks, about 13 hours), so that
/// audio and video interleaved around a wrap stay on one timeline.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unwrapper {
    last: Option<u64>,
}

impl Unwrapper {
    /// A timeline that starts with the first value it sees.
    pub fn new() -> Self {
        Self::default()
    }

    /// Extend `raw` (its low 33 bits are used). A value that lands before the start of the
    /// timeline (a timestamp from before the first one, across a wrap) is 0.
    pub fn extend(&mut self, raw: u64) -> u64 {
        let raw = raw & (WRAP - 1);
        let Some(last) = self.last else {
            self.last = Some(raw);
            return raw;
        };
        let delta = raw.wrapping_sub(last) & (WRAP - 1);
        let next = if delta < WRAP / 2 {
            last + delta
        } else {
            last.saturating_sub(WRAP - delta)
        };
        self.last = Some(next);
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continues_across_the_wrap_both_ways() {
        let mut u = Unwrapper::new();
        assert_eq!(u.extend(WRAP - 3000), WRAP - 3000);
        assert_eq!(u.extend(0), WRAP);
        assert_eq!(u.extend(3000), WRAP + 3000);
        // A slightly older value (audio behind video) just after the wrap stays before it.
        assert_eq!(u.extend(WRAP - 1500), WRAP - 1500);
        assert_eq!(u.extend(6000), WRAP + 6000);
        // A second wrap, a quarter of the range at a time.
        for q in 1..4 {
            assert_eq!(u.extend(q * WRAP / 4), WRAP + q * WRAP / 4);
        }
        assert_eq!(u.extend(5), 2 * WRAP + 5);
    }

    #[test]
    fn never_goes_below_zero() {
        let mut u = Unwrapper::new();
        assert_eq!(u.extend(10), 10);
        assert_eq!(u.extend(WRAP - 10), 0);
    }
}
