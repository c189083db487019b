use std::time::Instant;

use stats::OnlineStats;

use crate::{
    packet::{TimeSpan, TimeStamp},
    protocol::time::TimeBase,
};

#[derive(Debug)]
pub struct SynchronizedRemoteClock {
    drift_deviation_tolerance: TimeSpan,
    time_base: TimeBase,
    last_monotonic_instant: Option<Instant>,
    stats: Option<OnlineStats>,
}

#[derive(Debug, Eq, PartialEq)]
pub struct ClockAdjustment {
    mean: TimeSpan,
    stddev: TimeSpan,
}

impl SynchronizedRemoteClock {
    const MAX_SAMPLES: usize = 1_000;
    const DRIFT_DEVIATION_TOLERANCE: TimeSpan = TimeSpan::from_millis(5);

    pub fn new(now: Instant) -> Self {
        Self {
            // TODO: Drift deviation tolerance should be parameterized.
            //       It wasn't in the reference implementation, but I added it because the reference
            //       implementation is susceptible to invalid clock adjustments during periods of
            //       acute network latency
            drift_deviation_tolerance: Self::DRIFT_DEVIATION_TOLERANCE,
            time_base: TimeBase::new(now),
            last_monotonic_instant: None,
            stats: None,
        }
    }

    pub fn synchronize(&mut self, now: Instant, ts: TimeStamp) -> Option<ClockAdjustment> {
        let drift = self.time_base.timestamp_from(now) - ts;
        match &mut self.stats {
            None => {
                self.time_base.adjust(now, drift);
                self.stats = Some(OnlineStats::new());
                None
            }
            Some(stats) => {
                stats.add(drift.as_micros());
                if stats.len() < Self::MAX_SAMPLES {
                    return None;
                }

                let stddev = TimeSpan::from_micros(stats.stddev() as i32);
                let mean = TimeSpan::from_micros(stats.mean() as i32);

                self.stats = Some(OnlineStats::new());
                if stddev > self.drift_deviation_tolerance {
                    return None;
                }

                self.time_base.adjust(now, mean);
                Some(ClockAdjustment { mean, stddev })
            }
        }
    }

    pub fn monotonic_instant_from(&mut self, ts: TimeStamp) -> Instant {
        let instant = self.time_base.instant_from(ts);
        match self.last_monotonic_instant {
            Some(last) if last >= instant => last,
            _ => {
                self.last_monotonic_instant = Some(instant);
                instant
            }
        }
    }

    pub fn instant_from(&self, ts: TimeStamp) -> Instant {
        self.time_base.instant_from(ts)
    }
}
