//! Media time with its timescale.

/// A point or span of media time: `value` ticks of `1 / timescale` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MediaTime {
    /// Ticks.
    pub value: u64,
    /// Ticks per second (never 0).
    pub timescale: u32,
}

impl MediaTime {
    /// `value` ticks at `timescale` (a timescale of 0 is treated as 1).
    pub fn new(value: u64, timescale: u32) -> Self {
        Self {
            value,
            timescale: timescale.max(1),
        }
    }

    /// The same instant in another timescale, rounded down.
    pub fn rescale(self, timescale: u32) -> u64 {
        let v = u128::from(self.value) * u128::from(timescale.max(1)) / u128::from(self.timescale);
        u64::try_from(v).unwrap_or(u64::MAX)
    }

    /// Whole milliseconds.
    pub fn as_millis(self) -> u64 {
        self.rescale(1000)
    }

    /// Seconds, for display.
    pub fn as_secs_f64(self) -> f64 {
        self.value as f64 / f64::from(self.timescale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescales_without_overflow() {
        assert_eq!(MediaTime::new(90_000, 90_000).as_millis(), 1000);
        assert_eq!(MediaTime::new(48_000 * 3, 48_000).rescale(90_000), 270_000);
        assert_eq!(MediaTime::new(u64::MAX, 1).rescale(1000), u64::MAX);
        assert_eq!(MediaTime::new(5, 0).timescale, 1);
    }
}
