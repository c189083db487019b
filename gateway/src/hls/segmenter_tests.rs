//! The segmenter fed chunks made by `tern_cmaf`'s muxer, as a broadcast's objects are.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tern_cmaf::Sample;
use tern_cmaf::mux;

use super::chunk::read_chunk;
use super::playlist::PlaylistConfig;
use super::segmenter::Segmenter;

/// 90 kHz video at 30 fps: 3000 ticks a frame.
const FRAME: u32 = 3000;
const TIMESCALE: u32 = 90_000;
/// The publish stamp of the first frame, Unix microseconds.
const T0: u64 = 1_764_000_000_000_000;

/// Frame `n` of a 30 fps track, a keyframe when `keyframe`, as the packager writes it.
fn chunk(n: u64, keyframe: bool) -> Bytes {
    let sample = Sample {
        track: 1,
        dts: n * u64::from(FRAME),
        duration: FRAME,
        cts_offset: 0,
        keyframe,
        timescale: TIMESCALE,
        data: Bytes::from(vec![n as u8; 100 + n as usize % 7]),
    };
    mux::chunk(&sample, n as u32 + 1, T0 + n * 33_333)
}

fn segmenter(target_duration: u32) -> Segmenter {
    let config = PlaylistConfig::new(target_duration, TIMESCALE);
    let mut s = Segmenter::new(config, 64 << 20).expect("config");
    s.handle_init(Bytes::from_static(b"init-a"), TIMESCALE);
    s
}

/// Feeds group `group` of `frames` frames, starting at frame `first`; finished when `finish`.
fn group(s: &mut Segmenter, group: u64, first: u64, frames: u64, finish: bool, now: Instant) {
    for object in 0..frames {
        let n = first + object;
        s.handle_object(group, object, chunk(n, object == 0), now);
    }
    if finish {
        s.handle_finish(group);
    }
}

#[test]
fn chunks_read_back() {
    let c = chunk(10, true);
    let t = read_chunk(&c).expect("a chunk");
    assert_eq!(t.decode_time, 30_000);
    assert_eq!(t.duration, u64::from(FRAME));
    assert!(t.sync);
    let published = t.published.expect("prft");
    assert!(published.abs_diff(T0 + 333_330) <= 1, "{published}");
    assert!(!read_chunk(&chunk(11, false)).expect("a chunk").sync);
    // Every truncation is refused or read, never a panic.
    for cut in 0..c.len() {
        let _ = read_chunk(&c[..cut]);
    }
    let mut bad = c.to_vec();
    bad[40] = 0xff;
    let _ = read_chunk(&bad);
}

#[test]
fn a_group_is_a_segment_of_parts_under_the_part_target() {
    let now = Instant::now();
    let mut s = segmenter(4);
    group(&mut s, 1000, 0, 30, true, now);
    let playlist = s.playlist();
    // The first Media Sequence Number is the first group's ID ÷ 100.
    assert_eq!(playlist.first_msn(), 10);
    let segment = playlist.segment(10).expect("segment 10");
    assert_eq!(playlist.last_msn(), Some(10));
    // 333 ms parts of 33.3 ms frames: 9 frames (300 ms) each, the rest in the last.
    let frames: Vec<u64> = segment
        .parts
        .iter()
        .map(|p| p.duration / u64::from(FRAME))
        .collect();
    assert_eq!(frames, [9, 9, 9, 3]);
    assert!(segment.parts[0].independent);
    assert!(segment.parts[1..].iter().all(|p| !p.independent));
    assert_eq!(segment.duration, 30 * u64::from(FRAME));
    assert!(playlist.independent_segments(), "a group fits a segment");
    let pdt = segment.start.program_date_time.expect("program date-time");
    assert!(pdt.abs_diff((T0 / 1000) as i64) <= 1, "{pdt}");
    // A part is its chunks; a segment its parts.
    let expected: Vec<u8> = (0..9).flat_map(|n| chunk(n, n == 0).to_vec()).collect();
    assert_eq!(s.part(10, 0).expect("part 10.0"), expected);
    let whole: Vec<u8> = (0..4)
        .flat_map(|i| s.part(10, i).expect("part").to_vec())
        .collect();
    assert_eq!(s.segment(10).expect("segment bytes"), whole);
    assert_eq!(s.playlist().preload_hint(), Some((11, 0)));
}

#[test]
fn parts_are_listed_as_they_complete_and_the_hint_follows() {
    let now = Instant::now();
    let mut s = segmenter(4);
    group(&mut s, 0, 0, 12, false, now);
    // 9 frames made a part; 3 wait for more.
    assert_eq!(s.playlist().last_part(), Some((0, 0)));
    assert_eq!(s.playlist().preload_hint(), Some((0, 1)));
    assert!(s.part(0, 0).is_some() && s.part(0, 1).is_none());
    assert!(
        s.segment(0).is_none(),
        "a segment in progress is not served whole"
    );
    // The track stalls: a short part that is not independent is not cut (another would follow
    // it), so the hint stays.
    s.handle_timeout(now + Duration::from_secs(1));
    assert_eq!(s.playlist().last_part(), Some((0, 0)));
    let version = s.version();
    group(&mut s, 100, 12, 3, false, now);
    assert!(s.version() > version);
    // The new group closed segment 0 with its 12 frames and opened segment 1.
    assert_eq!(s.playlist().segment(0).expect("segment 0").parts.len(), 2);
    assert_eq!(s.playlist().last_msn(), Some(0));
    assert!(
        s.playlist().segment(1).is_none(),
        "opened by its first part"
    );
    // A stall is a Part Target Duration without an object, counted from the last.
    let later = now + Duration::from_millis(200);
    s.handle_object(100, 3, chunk(15, false), later);
    assert_eq!(s.poll_timeout(), Some(later + Duration::from_millis(333)));
    // A short part is not cut when the track stalls, independent or not: strict validators
    // refuse a short part followed by another.
    s.handle_timeout(now + Duration::from_secs(1));
    assert_eq!(s.playlist().last_part(), Some((0, 1)));
    // The objects that come late make the part whole.
    for object in 4..9 {
        s.handle_object(
            100,
            object,
            chunk(12 + object, false),
            now + Duration::from_secs(2),
        );
    }
    assert_eq!(s.playlist().last_part(), Some((1, 0)));
    let part = s.playlist().part(1, 0).expect("part 1.0");
    assert!(part.independent);
    assert_eq!(part.duration, 9 * u64::from(FRAME));
}

#[test]
fn a_group_longer_than_the_target_is_split_at_object_boundaries() {
    let now = Instant::now();
    let mut s = segmenter(1);
    group(&mut s, 0, 0, 60, true, now);
    let playlist = s.playlist();
    let segments: Vec<_> = playlist.segments().collect();
    assert_eq!(segments.len(), 2, "{segments:?}");
    // At most 1.49 s each (rounded, the target of 1 s).
    assert_eq!(segments[0].duration, 44 * u64::from(FRAME));
    assert_eq!(segments[1].duration, 16 * u64::from(FRAME));
    assert!(segments[0].parts[0].independent);
    assert!(!segments[1].parts[0].independent, "no keyframe there");
    assert!(
        !playlist.independent_segments(),
        "segment 1 needs segment 0's keyframe"
    );
    for segment in &segments {
        for part in &segment.parts {
            assert!(part.duration * 1000 <= 333 * u64::from(TIMESCALE));
        }
    }
}

#[test]
fn a_publisher_clock_that_goes_back_dates_no_segment() {
    let now = Instant::now();
    let mut s = segmenter(4);
    group(&mut s, 0, 0, 30, true, now);
    // The next group's stamps are 10 s earlier than the first's.
    for object in 0..30u64 {
        let n = 30 + object;
        let sample = Sample {
            track: 1,
            dts: n * u64::from(FRAME),
            duration: FRAME,
            cts_offset: 0,
            keyframe: object == 0,
            timescale: TIMESCALE,
            data: Bytes::from(vec![1; 100]),
        };
        let early = mux::chunk(&sample, n as u32 + 1, T0 - 10_000_000 + n * 33_333);
        s.handle_object(100, object, early, now);
    }
    s.handle_finish(100);
    group(&mut s, 200, 60, 30, true, now);
    let dates: Vec<Option<i64>> = s
        .playlist()
        .segments()
        .map(|segment| segment.start.program_date_time)
        .collect();
    let first = (T0 / 1000) as i64;
    assert_eq!(dates.len(), 3);
    assert!(
        dates[0].is_some_and(|d| d.abs_diff(first) <= 1),
        "{dates:?}"
    );
    assert_eq!(dates[1], None, "the clock went back");
    assert!(dates[2].is_some_and(|d| d > first), "{dates:?}");
}

#[test]
fn a_reset_group_ends_its_segment_with_what_it_has() {
    let now = Instant::now();
    let mut s = segmenter(4);
    group(&mut s, 0, 0, 20, false, now);
    s.handle_reset(0);
    let segment = s.playlist().segment(0).expect("segment 0");
    assert_eq!(segment.duration, 20 * u64::from(FRAME));
    assert_eq!(s.playlist().last_msn(), Some(0));
    // A group joined after its start is skipped until the next one begins.
    s.handle_object(100, 5, chunk(35, false), now);
    assert_eq!(s.dropped(), 1);
    assert_eq!(s.playlist().last_part(), Some((0, 2)));
    // A gap in a group's objects ends its segment.
    group(&mut s, 200, 40, 12, false, now);
    s.handle_object(200, 13, chunk(53, false), now);
    assert_eq!(s.playlist().last_msn(), Some(1));
    assert_eq!(
        s.playlist().segment(1).expect("segment 1").duration,
        12 * u64::from(FRAME)
    );
}

#[test]
fn a_new_init_is_a_discontinuity_and_a_new_map() {
    let now = Instant::now();
    let mut s = segmenter(4);
    group(&mut s, 0, 0, 30, true, now);
    let (first, _) = s.current_init().expect("init");
    s.handle_init(Bytes::from_static(b"init-a"), TIMESCALE);
    group(&mut s, 1000, 30, 30, true, now);
    assert!(
        !s.playlist()
            .segment(1)
            .expect("segment 1")
            .start
            .discontinuity
    );
    s.handle_init(Bytes::from_static(b"init-b"), TIMESCALE);
    let (second, bytes) = s.current_init().expect("init");
    assert_ne!(first, second);
    assert_eq!(bytes, Bytes::from_static(b"init-b"));
    group(&mut s, 2000, 60, 30, true, now);
    let segment = s.playlist().segment(2).expect("segment 2");
    assert!(segment.start.discontinuity);
    assert_eq!(segment.start.init, second);
    assert_eq!(
        s.playlist().segment(0).expect("segment 0").start.init,
        first
    );
    // Both init sections are kept while the window names them.
    assert_eq!(s.init(first), Some(Bytes::from_static(b"init-a")));
    assert_eq!(s.init(second), Some(Bytes::from_static(b"init-b")));
}

#[test]
fn bytes_leave_with_the_window() {
    let now = Instant::now();
    let mut s = segmenter(1);
    // 1 s groups; a window of 12 s.
    for g in 0..40u64 {
        group(&mut s, g * 1000, g * 30, 30, true, now);
    }
    let first = s.playlist().first_msn();
    assert!(first > 0);
    assert!(s.segment(first).is_some());
    assert!(s.segment(first - 10).is_none());
    assert!(s.part(first - 10, 0).is_none());
    // And at most max_bytes of them.
    let config = PlaylistConfig::new(1, TIMESCALE);
    let mut small = Segmenter::new(config, 20_000).expect("config");
    small.handle_init(Bytes::from_static(b"init"), TIMESCALE);
    for g in 0..40u64 {
        group(&mut small, g * 1000, g * 30, 30, true, now);
    }
    let kept = (small.playlist().first_msn()..small.playlist().next_msn())
        .filter_map(|msn| small.segment(msn))
        .map(|b| b.len())
        .sum::<usize>();
    assert!(kept <= 20_000 + 5_000, "{kept}");
    assert!(
        small
            .segment(small.playlist().last_msn().expect("last"))
            .is_some()
    );
}

#[test]
fn malformed_objects_and_the_end() {
    let now = Instant::now();
    let mut s = segmenter(4);
    s.handle_object(0, 0, Bytes::from_static(b"not a chunk"), now);
    assert_eq!(s.dropped(), 1);
    group(&mut s, 100, 0, 10, false, now);
    s.handle_end();
    assert!(s.playlist().is_ended());
    assert_eq!(s.playlist().preload_hint(), None);
    assert_eq!(s.playlist().last_msn(), Some(1));
}

#[test]
fn mutated_chunks_never_panic() {
    let now = Instant::now();
    let mut s = segmenter(1);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for n in 0..2000u64 {
        let mut bytes = chunk(n, n % 30 == 0).to_vec();
        for _ in 0..(random() % 4) {
            let at = (random() as usize) % bytes.len();
            bytes[at] = random() as u8;
        }
        if random() % 8 == 0 {
            bytes.truncate((random() as usize) % bytes.len());
        }
        let _ = read_chunk(&bytes);
        s.handle_object(n / 30, n % 30, Bytes::from(bytes), now);
        if random() % 50 == 0 {
            s.handle_reset(n / 30);
        }
        s.handle_timeout(now + Duration::from_millis(n));
    }
    // Whatever came, the window's parts stay within the spec's bounds.
    for segment in s.playlist().segments() {
        for part in &segment.parts {
            assert!(part.duration * 1000 <= 333 * u64::from(TIMESCALE));
        }
    }
}
