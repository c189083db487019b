//! Properties over hundreds of random windows (a fixed seed: the same windows every run):
//! random Target and Part Target Durations and timescales, part counts and durations up to the
//! targets, keyframes, discontinuities, init changes, whole and incremental pushes, delta
//! updates, reports and ends. After random pushes, both texts are read back and checked
//! against what was pushed, and random requests are decided and checked against the spec's
//! rules restated here.

use std::collections::BTreeMap;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

const CASES: usize = 300;
pub(super) const TOKEN: &str = "tok=s3cr3t";

/// Every segment pushed, complete or not.
#[derive(Default)]
pub(super) struct Shadow {
    pub first: u64,
    pub segments: Vec<Pushed>,
    pub ended: bool,
}

pub(super) struct Pushed {
    pub msn: u64,
    /// Its first tick, counted from the first segment's.
    pub at: u128,
    pub start: SegmentStart,
    pub parts: Vec<Part>,
    pub complete: bool,
}

impl Pushed {
    pub fn duration(&self) -> u128 {
        self.parts.iter().map(|p| u128::from(p.duration)).sum()
    }
}

impl Shadow {
    fn open(&mut self, start: SegmentStart) {
        self.close();
        let (msn, at) = self.segments.last().map_or((self.first, 0), |last| {
            (last.msn + 1, last.at + last.duration())
        });
        self.segments.push(Pushed {
            msn,
            at,
            start,
            parts: Vec::new(),
            complete: false,
        });
    }

    fn close(&mut self) {
        if let Some(last) = self.segments.last_mut() {
            last.complete = true;
        }
    }

    pub fn open_segment(&self) -> Option<&Pushed> {
        self.segments.last().filter(|s| !s.complete)
    }

    pub fn last_complete(&self) -> Option<u64> {
        self.segments
            .iter()
            .rev()
            .find(|s| s.complete)
            .map(|s| s.msn)
    }

    pub fn get(&self, msn: u64) -> Option<&Pushed> {
        self.segments
            .get(usize::try_from(msn.checked_sub(self.first)?).ok()?)
    }

    pub fn next(&self) -> u64 {
        self.last_complete().map_or(self.first, |last| last + 1)
    }
}

#[test]
fn random_windows_keep_the_spec_rules() {
    let mut rng = StdRng::seed_from_u64(0x11_4c5);
    let t0 = Instant::now();
    let mut tally = Tally::new();
    for _ in 0..CASES {
        for (outcome, count) in run(&mut rng, t0) {
            *tally.entry(outcome).or_default() += count;
        }
    }
    for outcome in OUTCOMES {
        assert!(
            tally.get(outcome).is_some_and(|&n| n >= 3),
            "{outcome}: {tally:?}"
        );
    }
}

fn run(rng: &mut StdRng, t0: Instant) -> Tally {
    let target_duration = rng.random_range(1..=6);
    let config = PlaylistConfig {
        target_duration,
        part_target_ms: rng.random_range(200..=(target_duration * 1000).min(1500)),
        timescale: [1000, 90_000, 48_000, 44_100, 30][rng.random_range(0..5)],
        window: rng.random_range(target_duration * 3..=target_duration * 15),
        first_msn: if rng.random_bool(0.1) {
            playlist::MAX_FIRST_MSN - 100
        } else {
            rng.random_range(0..1_000_000)
        },
    };
    let mut playlist = MediaPlaylist::new(config.clone()).unwrap();
    let mut shadow = Shadow {
        first: config.first_msn,
        ..Default::default()
    };
    let mut case = Case {
        config,
        names: Names {
            own_query: rng.random_bool(0.5),
        },
        seen: None,
        t0,
        tally: Tally::new(),
    };
    let (mut init, mut clock) = (0, 1_704_067_200_000);
    for _ in 0..rng.random_range(3..50) {
        init += u64::from(rng.random_bool(0.1));
        let start = SegmentStart {
            discontinuity: rng.random_bool(0.1),
            program_date_time: rng.random_bool(0.5).then_some(clock),
            init,
        };
        let parts = random_parts(rng, &case.config);
        clock += 2000;
        if rng.random_bool(0.2) {
            if playlist.in_progress().is_some() {
                playlist.close().unwrap();
            }
            playlist.push(start, &parts).unwrap();
            shadow.open(start);
            shadow.segments.last_mut().unwrap().parts = parts;
            shadow.close();
            case.check(rng, &playlist, &shadow);
            continue;
        }
        playlist.open(start).unwrap();
        shadow.open(start);
        for part in parts {
            playlist.push_part(part).unwrap();
            shadow.segments.last_mut().unwrap().parts.push(part);
            if rng.random_bool(0.15) {
                case.check(rng, &playlist, &shadow);
            }
        }
        if rng.random_bool(0.5) {
            playlist.close().unwrap();
            shadow.close();
        }
    }
    if rng.random_bool(0.15) {
        playlist.end();
        shadow.close();
        shadow.ended = true;
    }
    case.check(rng, &playlist, &shadow);
    case.tally
}

/// Parts for a segment of at most the Target Duration, each at most the Part Target; those
/// under 85% of it are independent or last.
fn random_parts(rng: &mut StdRng, config: &PlaylistConfig) -> Vec<Part> {
    let (timescale, part_target) = (
        u64::from(config.timescale),
        u64::from(config.part_target_ms),
    );
    let max = part_target * timescale / 1000;
    let min = (85 * part_target * timescale).div_ceil(100_000);
    let mut left = rng.random_range(1..=u64::from(config.target_duration) * timescale);
    let mut parts = Vec::new();
    while left > 0 {
        let independent =
            (parts.is_empty() && rng.random_bool(0.9)) || rng.random_bool(0.15) || min > max;
        let duration = if independent {
            rng.random_range(1..=max)
        } else {
            rng.random_range(min..=max)
        };
        let duration = duration.min(left);
        parts.push(Part {
            duration,
            independent,
        });
        left -= duration;
    }
    parts
}

pub(super) struct Case {
    pub config: PlaylistConfig,
    pub names: Names,
    /// The header of the first text, and the sequence numbers of the last.
    pub seen: Option<(Read, u64, u64)>,
    pub t0: Instant,
    /// How often each outcome came up.
    pub tally: Tally,
}

/// How often each outcome came up, by name.
pub(super) type Tally = BTreeMap<&'static str, usize>;

/// The outcomes the random windows must reach, or they test less than they claim.
const OUTCOMES: [&str; 18] = [
    "independent segments",
    "dependent segments",
    "skipped",
    "not skipped",
    "parts dropped",
    "trimmed",
    "discontinuity sequence",
    "init changed",
    "ended",
    "now",
    "wait",
    "503",
    "400 _HLS_msn",
    "400 _HLS_part",
    "400 no _HLS_msn",
    "ready",
    "hold",
    "404",
];

impl Case {
    pub fn saw(&mut self, outcome: &'static str) {
        *self.tally.entry(outcome).or_default() += 1;
    }

    fn check(&mut self, rng: &mut StdRng, playlist: &MediaPlaylist, shadow: &Shadow) {
        let query = QuerySuffix::new(TOKEN).unwrap();
        let reports: Vec<RenditionReport> = (0..rng.random_range(0..3))
            .map(|k| RenditionReport {
                uri: format!("../r{k}/index.m3u8"),
                last_msn: k,
                last_part: (k > 0).then_some(2),
            })
            .collect();
        let skip = if rng.random_bool(0.5) {
            Skip::Yes
        } else {
            Skip::V2
        };
        let options = RenderOptions {
            skip: None,
            reports: &reports,
            query: &query,
        };
        let full = read(&playlist.render(&self.names, &options));
        let delta = read(&playlist.render(
            &self.names,
            &RenderOptions {
                skip: Some(skip),
                ..options
            },
        ));
        for text in [&full, &delta] {
            self.check_text(text, playlist);
        }
        self.check_window(&full, playlist, shadow);
        self.check_delta(&full, &delta, skip, shadow);
        assert_eq!(full.reports.len(), reports.len());
        for _ in 0..8 {
            self.check_decision(rng, playlist, shadow);
        }
    }

    /// What every text keeps, whatever the window.
    fn check_text(&mut self, text: &Read, playlist: &MediaPlaylist) {
        let config = &self.config;
        let target = u128::from(config.target_duration) * 100_000;
        assert_eq!(text.target, u64::from(config.target_duration));
        assert_eq!(text.part_target, u128::from(config.part_target_ms) * 100);
        assert!(text.part_hold_back >= 3 * text.part_target);
        assert!(text.can_skip_until >= 6 * target);
        if let Some((first, media_sequence, discontinuity_sequence)) = &self.seen {
            // Constant across reloads; sequence numbers never go back.
            assert_eq!(
                (text.target, text.part_target),
                (first.target, first.part_target)
            );
            assert_eq!(
                (text.part_hold_back, text.can_skip_until),
                (first.part_hold_back, first.can_skip_until)
            );
            assert!(text.media_sequence >= *media_sequence);
            assert!(text.discontinuity_sequence >= *discontinuity_sequence);
        }
        let header = Read {
            target: text.target,
            part_target: text.part_target,
            part_hold_back: text.part_hold_back,
            can_skip_until: text.can_skip_until,
            ..Read::default()
        };
        self.seen = Some((header, text.media_sequence, text.discontinuity_sequence));
        if text.ended {
            self.saw("ended");
        }
        if text.segments.iter().skip(1).any(|s| s.map.is_some()) {
            self.saw("init changed");
        }

        let skipped = text.skipped.unwrap_or(0);
        for (at, segment) in text.segments.iter().enumerate() {
            assert!(
                (segment.duration + 50_000) / 100_000 <= target / 100_000,
                "EXTINF {}",
                segment.duration
            );
            assert_eq!(
                segment_of(&segment.uri),
                text.media_sequence + skipped + at as u64
            );
        }
        let parts = text
            .segments
            .iter()
            .chain([&text.trailing])
            .flat_map(|s| &s.parts);
        for part in parts.clone() {
            assert!(part.duration <= text.part_target);
        }
        // The hint names the part after the last listed.
        let expected = match (text.trailing.parts.last(), text.segments.last()) {
            (Some(part), _) => Some((part_of(&part.uri).0, part_of(&part.uri).1 + 1)),
            (None, Some(segment)) => Some((segment_of(&segment.uri) + 1, 0)),
            (None, None) => Some((playlist.next_msn(), 0)),
        };
        assert_eq!(
            text.hint.as_deref().map(part_of),
            expected.filter(|_| !text.ended)
        );
        assert_eq!(text.ended, playlist.is_ended());
        let last = parts.last().map(|part| part_of(&part.uri));
        assert_eq!(
            RenditionReport::of(playlist, "r").map(|r| (r.last_msn, r.last_part.unwrap())),
            last
        );
        for uri in &text.uris {
            assert_eq!(uri.matches(TOKEN).count(), 1, "{uri}");
            let bare = uri.strip_suffix(TOKEN).unwrap();
            let separator = if bare[..bare.len() - 1].contains('?') {
                '&'
            } else {
                '?'
            };
            assert!(bare.ends_with(separator), "{uri}");
        }
    }
}
