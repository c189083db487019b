//! The random windows' texts and decisions against what was pushed: the window and its
//! parts, the delta update, and §6.2.5.2 restated for every request.

use std::time::{Duration, Instant};

use rand::Rng;
use rand::rngs::StdRng;

use super::props::{Case, Pushed, Shadow, TOKEN};
use super::*;

impl Case {
    /// The full text against what was pushed: the window, its parts, its sequence numbers.
    pub(super) fn check_window(&mut self, full: &Read, playlist: &MediaPlaylist, shadow: &Shadow) {
        let config = &self.config;
        let timescale = u128::from(config.timescale);
        let first = full.media_sequence;
        assert_eq!(first, playlist.first_msn());
        let window: Vec<&Pushed> = shadow
            .segments
            .iter()
            .filter(|s| s.complete && s.msn >= first)
            .collect();
        assert_eq!(full.segments.len(), window.len());
        let left = shadow.segments.iter().filter(|s| s.msn < first);
        let discontinuities = left.clone().filter(|s| s.start.discontinuity).count() as u64;
        assert_eq!(full.discontinuity_sequence, discontinuities);
        // Trimmed only while the rest fills the window; never below it (§6.2.2).
        let keep = u128::from(config.window) * timescale;
        let total: u128 = window.iter().map(|s| s.duration()).sum();
        if let Some(oldest) = window.first() {
            assert!(total - oldest.duration() < keep);
        }
        if left.count() > 0 {
            assert!(total >= keep && total >= u128::from(config.target_duration) * 3 * timescale);
        }
        // Parts for the segments starting within three Target Durations of the end, all of theirs,
        // and only for the last three segments (the trailing parts or hint counting as one).
        let open = shadow.open_segment().filter(|s| !s.parts.is_empty());
        let end = shadow.segments.last().map_or(0, |s| s.at + s.duration());
        let from = end.saturating_sub(u128::from(config.target_duration) * 3 * timescale);
        let trailing = usize::from(open.is_some() || playlist.preload_hint().is_some());
        let from_index = window.len().saturating_sub(3 - trailing);
        let written = full.segments.iter().chain(open.map(|_| &full.trailing));
        for (i, (pushed, read)) in window.iter().copied().chain(open).zip(written).enumerate() {
            let listed = if pushed.at >= from && (i >= from_index || i >= window.len()) {
                pushed.parts.as_slice()
            } else {
                &[]
            };
            assert_eq!(read.parts.len(), listed.len());
            for (index, (part, read)) in listed.iter().zip(&read.parts).enumerate() {
                assert_eq!(part_of(&read.uri), (pushed.msn, index as u32));
                assert_eq!(read.independent, part.independent);
                assert_eq!(
                    read.duration,
                    text::hundred_thousandths(part.duration, config.timescale)
                );
            }
            assert_eq!(read.discontinuity, pushed.start.discontinuity);
        }
        assert_eq!(open.is_none(), full.trailing.parts.is_empty());
        // Independent segments, said only while every segment of the window starts with an
        // independent part.
        let independent = window
            .iter()
            .copied()
            .chain(open)
            .map(|s| s.parts.first().is_some_and(|p| p.independent))
            .collect::<Vec<_>>();
        let all = !independent.is_empty() && independent.iter().all(|&i| i);
        assert_eq!(full.independent_segments, all);
        self.saw(if all {
            "independent segments"
        } else {
            "dependent segments"
        });
        if full.discontinuity_sequence > 0 {
            self.saw("discontinuity sequence");
        }
        if window.first().is_some_and(|s| s.msn > shadow.first) {
            self.saw("trimmed");
        }
        if window.first().is_some_and(|s| s.at < from) {
            self.saw("parts dropped");
        }
    }

    /// The delta update against the full text.
    pub(super) fn check_delta(&mut self, full: &Read, delta: &Read, skip: Skip, shadow: &Shadow) {
        let boundary =
            u128::from(self.config.target_duration) * 6 * u128::from(self.config.timescale);
        let window: Vec<&Pushed> = shadow
            .segments
            .iter()
            .filter(|s| s.complete && s.msn >= full.media_sequence)
            .collect();
        let mut after: u128 = window.iter().map(|s| s.duration()).sum();
        let mut skippable = 0;
        for segment in &window {
            after -= segment.duration();
            if after <= boundary || shadow.ended {
                break;
            }
            skippable += 1;
        }
        assert_eq!(delta.skipped, (skippable > 0).then_some(skippable as u64));
        self.saw(if skippable > 0 {
            "skipped"
        } else {
            "not skipped"
        });
        assert_eq!(
            delta.skipped.unwrap_or(0) as usize + delta.segments.len(),
            full.segments.len()
        );
        let kept = &full.segments[skippable..];
        for (delta, full) in delta.segments.iter().zip(kept) {
            assert_eq!(
                (&delta.uri, delta.duration, &delta.parts),
                (&full.uri, full.duration, &full.parts)
            );
        }
        let remaining: u128 = window[skippable..].iter().map(|s| s.duration()).sum();
        assert!(skippable == 0 || remaining > boundary);
        if skippable > 0 {
            assert!(
                delta.segments[0].map.is_some(),
                "the init section in effect is named again"
            );
            assert_eq!(delta.version, if skip == Skip::V2 { 10 } else { 9 });
        } else {
            assert_eq!(delta.version, full.version);
        }
        assert_eq!(delta.independent_segments, full.independent_segments);
        assert_eq!(
            (delta.media_sequence, delta.discontinuity_sequence),
            (full.media_sequence, full.discontinuity_sequence)
        );
    }

    /// A random request, decided, against the spec's rules restated.
    pub(super) fn check_decision(
        &mut self,
        rng: &mut StdRng,
        playlist: &MediaPlaylist,
        shadow: &Shadow,
    ) {
        let next = shadow.next();
        let msn = match rng.random_range(0..100) {
            0..10 => None,
            10..13 => Some(u64::MAX),
            _ => Some(rng.random_range(next.saturating_sub(6)..=next + 3)),
        };
        let part = match rng.random_range(0..100) {
            0..35 => None,
            35..38 => Some(u64::MAX),
            _ => Some(rng.random_range(0..=25)),
        };
        let mut query = format!("{TOKEN}&_HLS_skip=YES");
        if let Some(msn) = msn {
            query += &format!("&_HLS_msn={msn}");
        }
        if let Some(part) = part {
            query += &format!("&_HLS_part={part}");
        }
        let request = ReloadRequest::parse(&query).unwrap();
        assert_eq!(
            (request.msn, request.part, request.skip),
            (msn, part, Some(Skip::Yes))
        );
        let hold = Duration::from_secs(u64::from(self.config.target_duration) * 3);
        let now =
            self.t0 + Duration::from_millis(rng.random_range(0..=hold.as_millis() as u64 * 4 / 3));
        let answer = decide(&request, playlist, self.t0, now);
        assert_eq!(answer, self.oracle(shadow, msn, part, now), "{query}");
        self.saw(match answer {
            Answer::Now => "now",
            Answer::Wait { .. } => "wait",
            Answer::Unavailable => "503",
            Answer::BadRequest(Refusal::MsnTooFar { .. }) => "400 _HLS_msn",
            Answer::BadRequest(Refusal::PartTooFar { .. }) => "400 _HLS_part",
            Answer::BadRequest(Refusal::PartWithoutMsn) => "400 no _HLS_msn",
        });

        // A part request: in the window, hinted, or not found.
        let index = rng.random_range(0..12);
        let msn = msn.unwrap_or(next);
        let in_window = shadow
            .get(msn)
            .is_some_and(|s| index < s.parts.len() && (!s.complete || msn >= playlist.first_msn()));
        let hint = shadow
            .open_segment()
            .map_or((next, 0), |open| (open.msn, open.parts.len()));
        let expected = if in_window {
            PartAnswer::Ready
        } else if !shadow.ended && (msn, index) == hint {
            PartAnswer::Hold
        } else {
            PartAnswer::NotFound
        };
        assert_eq!(decide_part(playlist, msn, index as u32), expected);
        self.saw(match expected {
            PartAnswer::Ready => "ready",
            PartAnswer::Hold => "hold",
            PartAnswer::NotFound => "404",
        });
    }

    /// §6.2.5.2, restated.
    fn oracle(&self, shadow: &Shadow, msn: Option<u64>, part: Option<u64>, now: Instant) -> Answer {
        if shadow.ended {
            return Answer::Now;
        }
        let deadline = self.t0 + Duration::from_secs(u64::from(self.config.target_duration) * 3);
        let last = shadow.last_complete();
        let Some(msn) = msn else {
            return if part.is_some() {
                Answer::BadRequest(Refusal::PartWithoutMsn)
            } else if last.is_none() && now < deadline {
                // Nothing a segment-only client can play yet: held for the first segment.
                Answer::Wait { deadline }
            } else {
                Answer::Now
            };
        };
        let next = shadow.next();
        if msn > next + 1 {
            return Answer::BadRequest(Refusal::MsnTooFar {
                msn,
                limit: next + 1,
            });
        }
        let listed = shadow.open_segment().map_or(0, |s| s.parts.len() as u128);
        if let Some(part) = part {
            let ahead = match msn.cmp(&next) {
                std::cmp::Ordering::Less => 0,
                std::cmp::Ordering::Equal => (u128::from(part) + 1).saturating_sub(listed),
                std::cmp::Ordering::Greater => u128::from(part) + 1,
            };
            let pt = u128::from(self.config.part_target_ms);
            if (pt < 1000 && ahead * pt > 3000) || (pt >= 1000 && ahead > 3) {
                return Answer::BadRequest(Refusal::PartTooFar {
                    ahead: u64::try_from(ahead).unwrap_or(u64::MAX),
                });
            }
        }
        let reached = match part {
            None => last.is_some_and(|last| msn <= last),
            Some(_) if msn < shadow.first => last.is_some(),
            Some(mut part) => {
                let mut msn = msn;
                loop {
                    match shadow.get(msn) {
                        Some(s) if part < s.parts.len() as u64 => break true,
                        Some(s) if s.complete => (msn, part) = (msn + 1, 0),
                        _ => break false,
                    }
                }
            }
        };
        if reached {
            Answer::Now
        } else if now < deadline {
            Answer::Wait { deadline }
        } else {
            Answer::Unavailable
        }
    }
}
